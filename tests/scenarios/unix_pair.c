/* Connected unix sockets with unread data survive a checkpoint: argv[1] picks
 * the case.
 *   stream     a socketpair in one process, bytes queued both ways (part of
 *              one direction already read)
 *   dgram      a SOCK_DGRAM pair with several queued messages each way
 *              (sizes differ): boundaries and order are kept
 *   seqpacket  the same with SOCK_SEQPACKET
 *   shared     the pair is split between parent and child, data in flight
 *              both ways
 *   options    shutdown(SHUT_WR) with data before it, O_NONBLOCK, SO_SNDBUF,
 *              SO_RCVBUF, SO_RCVTIMEO, SO_SNDTIMEO, SO_PASSCRED, SO_PEEK_OFF
 *   blocked    the process is blocked in recv() when dumped; its child (the
 *              other end) sends after go
 *   pending    a listener with two connections from this process not accepted
 *              yet: after restore they are accepted in the same order
 *   oneway     a datagram "logger": a socket bound to an abstract name, a
 *              child's unbound socket connect()ed to it one way, messages
 *              queued on the logger
 * After go each side reads exactly what was queued, then the pair still
 * carries new data both ways. */
#include "scenario.h"
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/ioctl.h>
#include <sys/un.h>
#include <stddef.h>

#define STREAM_BYTES 100000

static uint8_t buf[1 << 18];

static void read_exact(int fd, void *p, size_t len, const char *what)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = recv(fd, (char *)p + got, len - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fail("%s: read %zu of %zu bytes, then %zd (%s)", what, got, len, r,
			     r < 0 ? strerror(errno) : "EOF");
			return;
		}
		got += (size_t)r;
	}
}

static void expect_empty(int fd, const char *what)
{
	char c;
	ssize_t r = recv(fd, &c, 1, MSG_DONTWAIT);
	if (r >= 0 || errno != EAGAIN)
		fail("%s: the queue should be empty now, recv gave %zd (%s)", what, r,
		     r < 0 ? strerror(errno) : "data");
}

static void still_carries(int a, int b)
{
	char x[8] = { 0 };
	if (send(a, "after", 5, MSG_NOSIGNAL) != 5 || recv(b, x, sizeof(x), 0) != 5 ||
	    memcmp(x, "after", 5) != 0)
		fail("the pair no longer carries data from a to b");
	memset(x, 0, sizeof(x));
	if (send(b, "back", 4, MSG_NOSIGNAL) != 4 || recv(a, x, sizeof(x), 0) != 4 ||
	    memcmp(x, "back", 4) != 0)
		fail("the pair no longer carries data from b to a");
}

/* No empty message: a peek cannot see one once it has been peeked at (a
 * known limit of the dump). */
static const size_t sizes_ab[] = { 1, 5000, 300, 65000, 7 };
static const size_t sizes_ba[] = { 42, 1, 1000 };
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void send_messages(int fd, const size_t *sizes, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++) {
		fill_pattern(buf, sizes[i], seed + i);
		SETUP(send(fd, buf, sizes[i], 0) == (ssize_t)sizes[i]);
	}
}

static void check_messages(int fd, const size_t *sizes, size_t n, uint64_t seed, const char *what)
{
	for (size_t i = 0; i < n; i++) {
		ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r != (ssize_t)sizes[i]) {
			fail("%s: message %zu has %zd bytes (%s), expected %zu", what, i, r,
			     r < 0 ? strerror(errno) : "ok", sizes[i]);
			return;
		}
		if (check_pattern(buf, sizes[i], seed + i) >= 0)
			fail("%s: message %zu differs", what, i);
	}
	expect_empty(fd, what);
}

static int messages(int type)
{
	int sv[2];
	SETUP(socketpair(AF_UNIX, type, 0, sv) == 0);
	send_messages(sv[0], sizes_ab, COUNT(sizes_ab), 100);
	send_messages(sv[1], sizes_ba, COUNT(sizes_ba), 200);
	ready();
	wait_for_go();
	check_messages(sv[1], sizes_ab, COUNT(sizes_ab), 100, "a -> b");
	check_messages(sv[0], sizes_ba, COUNT(sizes_ba), 200, "b -> a");
	still_carries(sv[0], sv[1]);
	return finish();
}

static int stream(void)
{
	int sv[2];
	SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	fill_pattern(buf, STREAM_BYTES, 7);
	SETUP(send(sv[0], buf, STREAM_BYTES, 0) == STREAM_BYTES);
	SETUP(send(sv[1], "reply from b", 12, 0) == 12);
	/* b has already read the first 1000 bytes. */
	uint8_t first[1000];
	read_exact(sv[1], first, sizeof(first), "setup");
	SETUP(check_pattern(first, sizeof(first), 7) < 0);
	ready();
	wait_for_go();
	memset(buf, 0, sizeof(buf));
	read_exact(sv[1], buf, STREAM_BYTES - 1000, "a -> b");
	uint8_t expect[STREAM_BYTES];
	fill_pattern(expect, STREAM_BYTES, 7);
	if (memcmp(buf, expect + 1000, STREAM_BYTES - 1000) != 0)
		fail("a -> b: the bytes differ");
	expect_empty(sv[1], "a -> b");
	char reply[13] = { 0 };
	read_exact(sv[0], reply, 12, "b -> a");
	if (strcmp(reply, "reply from b") != 0)
		fail("b -> a: read \"%s\"", reply);
	expect_empty(sv[0], "b -> a");
	still_carries(sv[0], sv[1]);
	return finish();
}

static int shared(void)
{
	int sv[2];
	SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	pid_t child = fork();
	SETUP(child >= 0);
	if (child == 0) {
		close(sv[0]);
		SETUP(send(sv[1], "from the child", 14, 0) == 14);
		wait_for_go();
		char got[32] = { 0 };
		read_exact(sv[1], got, 15, "parent -> child");
		if (strcmp(got, "from the parent") != 0)
			fail("parent -> child: read \"%s\"", got);
		expect_empty(sv[1], "parent -> child");
		if (send(sv[1], "bye", 3, 0) != 3)
			fail("child: send after restore: %s", strerror(errno));
		_exit(scenario_failures ? 1 : 0);
	}
	close(sv[1]);
	SETUP(send(sv[0], "from the parent", 15, 0) == 15);
	int queued = 0;
	while (queued < 14) {
		SETUP(ioctl(sv[0], FIONREAD, &queued) == 0);
		usleep(1000);
	}
	ready();
	wait_for_go();
	char got[32] = { 0 };
	read_exact(sv[0], got, 14, "child -> parent");
	if (strcmp(got, "from the child") != 0)
		fail("child -> parent: read \"%s\"", got);
	memset(got, 0, sizeof(got));
	read_exact(sv[0], got, 3, "child -> parent after restore");
	if (strcmp(got, "bye") != 0)
		fail("child -> parent after restore: read \"%s\"", got);
	int status;
	SETUP(waitpid(child, &status, 0) == child);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail("the child failed (status %#x)", status);
	return finish();
}

static int getint(int fd, int opt)
{
	int v = -12345;
	socklen_t len = sizeof(v);
	SETUP(getsockopt(fd, SOL_SOCKET, opt, &v, &len) == 0);
	return v;
}

static long gettimeout(int fd, int opt)
{
	struct timeval tv;
	socklen_t len = sizeof(tv);
	SETUP(getsockopt(fd, SOL_SOCKET, opt, &tv, &len) == 0);
	return tv.tv_sec * 1000000L + tv.tv_usec;
}

static int options(void)
{
	int sv[2];
	SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	int a = sv[0], b = sv[1];
	int v = 40000;
	SETUP(setsockopt(a, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)) == 0);
	v = 50000;
	SETUP(setsockopt(b, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)) == 0);
	v = 1;
	SETUP(setsockopt(b, SOL_SOCKET, SO_PASSCRED, &v, sizeof(v)) == 0);
	v = 3;
	SETUP(setsockopt(b, SOL_SOCKET, SO_PEEK_OFF, &v, sizeof(v)) == 0);
	struct timeval rcv = { 1, 250000 }, snd = { 2, 500000 };
	SETUP(setsockopt(a, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof(rcv)) == 0);
	SETUP(setsockopt(a, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof(snd)) == 0);
	SETUP(fcntl(b, F_SETFL, fcntl(b, F_GETFL) | O_NONBLOCK) == 0);
	SETUP(send(a, "the last words", 14, 0) == 14);
	SETUP(shutdown(a, SHUT_WR) == 0);
	int sndbuf = getint(a, SO_SNDBUF), rcvbuf = getint(b, SO_RCVBUF);
	/* The kernel rounds timeouts to its clock ticks. */
	long rcvtimeo = gettimeout(a, SO_RCVTIMEO), sndtimeo = gettimeout(a, SO_SNDTIMEO);
	ready();
	wait_for_go();
	if (getint(a, SO_SNDBUF) != sndbuf)
		fail("SO_SNDBUF is %d, was %d", getint(a, SO_SNDBUF), sndbuf);
	if (getint(b, SO_RCVBUF) != rcvbuf)
		fail("SO_RCVBUF is %d, was %d", getint(b, SO_RCVBUF), rcvbuf);
	if (getint(b, SO_PASSCRED) != 1 || getint(a, SO_PASSCRED) != 0)
		fail("SO_PASSCRED is %d/%d, expected 0/1", getint(a, SO_PASSCRED),
		     getint(b, SO_PASSCRED));
	if (getint(b, SO_PEEK_OFF) != 3 || getint(a, SO_PEEK_OFF) != -1)
		fail("SO_PEEK_OFF is %d/%d, expected -1/3", getint(a, SO_PEEK_OFF),
		     getint(b, SO_PEEK_OFF));
	if (gettimeout(a, SO_RCVTIMEO) != rcvtimeo || gettimeout(a, SO_SNDTIMEO) != sndtimeo)
		fail("timeouts are %ld/%ld us, were %ld/%ld", gettimeout(a, SO_RCVTIMEO),
		     gettimeout(a, SO_SNDTIMEO), rcvtimeo, sndtimeo);
	if (!(fcntl(b, F_GETFL) & O_NONBLOCK) || (fcntl(a, F_GETFL) & O_NONBLOCK))
		fail("O_NONBLOCK is lost or misplaced");
	/* Peeking at offset 3 sees the rest of the words. */
	char got[32] = { 0 };
	if (recv(b, got, sizeof(got), MSG_PEEK) != 11 || strcmp(got, " last words") != 0)
		fail("peek at offset 3 read \"%s\"", got);
	v = -1;
	setsockopt(b, SOL_SOCKET, SO_PEEK_OFF, &v, sizeof(v));
	memset(got, 0, sizeof(got));
	read_exact(b, got, 14, "a -> b");
	if (strcmp(got, "the last words") != 0)
		fail("a -> b: read \"%s\"", got);
	ssize_t r = recv(b, got, sizeof(got), 0);
	if (r != 0)
		fail("after a's shutdown(SHUT_WR) b should read end of file, got %zd (%s)", r,
		     r < 0 ? strerror(errno) : "data");
	if (send(a, "x", 1, MSG_NOSIGNAL) != -1 || errno != EPIPE)
		fail("a was shut down for writing, but send did not fail with EPIPE");
	/* b can still write to a. */
	if (send(b, "ok", 2, 0) != 2 || recv(a, got, 2, 0) != 2)
		fail("b -> a no longer works");
	/* a's receive timeout still applies: an empty queue times out. */
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	r = recv(a, got, 1, 0);
	int64_t waited = now_ns(CLOCK_MONOTONIC) - t0;
	if (r != -1 || errno != EAGAIN || waited < 1000000000LL)
		fail("recv on a returned %zd after %lld ms, expected EAGAIN after 1250 ms", r,
		     (long long)(waited / 1000000));
	/* b is non-blocking. */
	r = recv(b, got, 1, 0);
	if (r != 0)
		fail("b at end of file read %zd", r);
	return finish();
}

static int blocked(void)
{
	int sv[2];
	SETUP(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
	pid_t child = fork();
	SETUP(child >= 0);
	if (child == 0) {
		close(sv[0]);
		wait_for_go();
		SETUP(send(sv[1], "wake up", 7, 0) == 7);
		_exit(0);
	}
	close(sv[1]);
	ready();
	char got[16] = { 0 };
	ssize_t r = recv(sv[0], got, sizeof(got), 0);
	if (r != 7 || strcmp(got, "wake up") != 0)
		fail("recv returned %zd \"%s\" (%s)", r, got, r < 0 ? strerror(errno) : "");
	int status;
	SETUP(waitpid(child, &status, 0) == child);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail("the child failed (status %#x)", status);
	return finish();
}

static int oneway(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int n = snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1, "stasis-test-logger-%d",
			 (int)getpid());
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	int logger = socket(AF_UNIX, SOCK_DGRAM, 0);
	SETUP(logger >= 0);
	SETUP(bind(logger, (struct sockaddr *)&addr, len) == 0);
	int sv[2];
	SETUP(pipe(sv) == 0);
	pid_t child = fork();
	SETUP(child >= 0);
	if (child == 0) {
		close(logger);
		int out = socket(AF_UNIX, SOCK_DGRAM, 0);
		SETUP(out >= 0);
		SETUP(connect(out, (struct sockaddr *)&addr, len) == 0);
		SETUP(send(out, "first", 5, 0) == 5 && send(out, "second", 6, 0) == 6);
		SETUP(write(sv[1], "s", 1) == 1);
		wait_for_go();
		if (send(out, "after", 5, 0) != 5)
			fail("child: send after restore: %s", strerror(errno));
		_exit(scenario_failures ? 1 : 0);
	}
	char c;
	SETUP(read(sv[0], &c, 1) == 1);
	ready();
	wait_for_go();
	const char *expect[] = { "first", "second", "after" };
	for (int i = 0; i < 3; i++) {
		char got[16] = { 0 };
		struct sockaddr_un from;
		socklen_t from_len = sizeof(from);
		ssize_t r = recvfrom(logger, got, sizeof(got), 0, (struct sockaddr *)&from, &from_len);
		if (r != (ssize_t)strlen(expect[i]) || strcmp(got, expect[i]) != 0)
			fail("logger message %d is \"%s\" (%zd), expected \"%s\"", i, got, r,
			     expect[i]);
		if (from_len > sizeof(sa_family_t))
			fail("logger message %d comes from a named socket", i);
	}
	expect_empty(logger, "logger");
	int status;
	SETUP(waitpid(child, &status, 0) == child);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail("the child failed (status %#x)", status);
	return finish();
}

static int pending(int type)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int n = snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1, "stasis-test-pending-%d",
			 (int)getpid());
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	int listener = socket(AF_UNIX, type, 0);
	SETUP(listener >= 0);
	SETUP(bind(listener, (struct sockaddr *)&addr, len) == 0);
	SETUP(listen(listener, 3) == 0);
	int clients[2];
	for (int i = 0; i < 2; i++) {
		clients[i] = socket(AF_UNIX, type, 0);
		SETUP(clients[i] >= 0);
		SETUP(connect(clients[i], (struct sockaddr *)&addr, len) == 0);
	}
	ready();
	wait_for_go();
	for (int i = 0; i < 2; i++) {
		int server = accept(listener, NULL, NULL);
		if (server < 0) {
			fail("accept %d: %s", i, strerror(errno));
			continue;
		}
		/* The i-th connection accepted is the i-th client's. */
		char word[2] = { (char)('a' + i), 0 }, got[4] = { 0 };
		if (send(clients[i], word, 1, 0) != 1 || recv(server, got, sizeof(got), 0) != 1 ||
		    got[0] != word[0])
			fail("connection %d: the server read \"%s\", expected \"%s\"", i, got, word);
		memset(got, 0, sizeof(got));
		if (send(server, "ok", 2, 0) != 2 || recv(clients[i], got, sizeof(got), 0) != 2 ||
		    strcmp(got, "ok") != 0)
			fail("connection %d: the client read \"%s\"", i, got);
	}
	SETUP(fcntl(listener, F_SETFL, O_NONBLOCK) == 0);
	int extra = accept(listener, NULL, NULL);
	if (extra >= 0 || errno != EAGAIN)
		fail("a third connection waits on the listener");
	return finish();
}

int main(int argc, char **argv)
{
	SETUP(argc == 2);
	if (strcmp(argv[1], "stream") == 0)
		return stream();
	if (strcmp(argv[1], "dgram") == 0)
		return messages(SOCK_DGRAM);
	if (strcmp(argv[1], "seqpacket") == 0)
		return messages(SOCK_SEQPACKET);
	if (strcmp(argv[1], "shared") == 0)
		return shared();
	if (strcmp(argv[1], "options") == 0)
		return options();
	if (strcmp(argv[1], "blocked") == 0)
		return blocked();
	if (strcmp(argv[1], "oneway") == 0)
		return oneway();
	if (strcmp(argv[1], "pending") == 0)
		return pending(SOCK_STREAM);
	SETUP(!"unknown case");
	return 2;
}
