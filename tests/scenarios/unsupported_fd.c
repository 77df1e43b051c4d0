/* A process holding something stasis cannot checkpoint (argv[1]: "fanotify", "pidfd" of pid 1,
 * a "tcp" connection, "socket" (a unix socket whose peer is held by a process outside the dump),
 * "pipe" whose read end is held by a process outside the dump, or
 * "proc": /proc/1/status, a file of a process outside the dump) is refused by `stasis dump` and carries on unchanged: the harness
 * expects exit 3 and a message naming the pid, fd 42 or 43 and the kind. The
 * program keeps computing meanwhile (the harness checks it is neither stopped
 * nor traced after the refusal); after go, its memory must be intact and its
 * pipe, socket or file must still work. */
#include "scenario.h"
#include <fcntl.h>
#include <sys/fanotify.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static volatile uint64_t counter;
static uint8_t memory[1 << 20];

int main(int argc, char **argv)
{
	SETUP(argc == 2);
	int fds[2];
	pid_t outsider = 0;
	if (strcmp(argv[1], "fanotify") == 0) {
		/* fd 42 = 43: a fanotify group watching our directory. */
		fds[0] = fanotify_init(FAN_CLASS_NOTIF | FAN_NONBLOCK, O_RDONLY);
		SETUP(fds[0] >= 0);
		SETUP(fanotify_mark(fds[0], FAN_MARK_ADD, FAN_OPEN | FAN_EVENT_ON_CHILD, AT_FDCWD,
				    ".") == 0);
		fds[1] = dup(fds[0]);
	} else if (strcmp(argv[1], "pipe") == 0) {
		/* The other end goes to a grandchild that is orphaned at once: it
		 * is not part of our tree, but it keeps reading our pipe. */
		int peer[2];
		SETUP(pipe(fds) == 0 && pipe(peer) == 0);
		pid_t child = fork();
		SETUP(child >= 0);
		if (child == 0) {
			if (fork() != 0)
				_exit(0);
			close(fds[1]);
			char c;
			while (read(fds[0], &c, 1) == 1)
				(void)!write(peer[1], &c, 1);
			_exit(0);
		}
		SETUP(waitpid(child, NULL, 0) == child);
		outsider = 1;
		/* Our fd 42 reads what the outsider echoes back. */
		close(fds[0]);
		fds[0] = peer[0];
		close(peer[1]);
	} else if (strcmp(argv[1], "socket") == 0) {
		/* A unix socket whose peer belongs to an orphaned grandchild,
		 * outside our tree, which echoes what we write. */
		int pair[2];
		SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
		pid_t child = fork();
		SETUP(child >= 0);
		if (child == 0) {
			if (fork() != 0)
				_exit(0);
			close(pair[0]);
			char c;
			while (read(pair[1], &c, 1) == 1)
				(void)!write(pair[1], &c, 1);
			_exit(0);
		}
		SETUP(waitpid(child, NULL, 0) == child);
		outsider = 1;
		close(pair[1]);
		fds[0] = pair[0];
		fds[1] = dup(pair[0]);
	} else if (strcmp(argv[1], "tcp") == 0) {
		/* An established TCP connection over loopback: 43 writes, 42 reads. */
		int l = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t len = sizeof(a);
		SETUP(l >= 0 && bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, 1) == 0);
		SETUP(getsockname(l, (struct sockaddr *)&a, &len) == 0);
		fds[1] = socket(AF_INET, SOCK_STREAM, 0);
		SETUP(fds[1] >= 0 && connect(fds[1], (struct sockaddr *)&a, sizeof(a)) == 0);
		fds[0] = accept(l, NULL, NULL);
		SETUP(fds[0] >= 0);
		close(l);
	} else if (strcmp(argv[1], "pidfd") == 0) {
		/* A pidfd of pid 1, which is not part of the dump. */
		fds[0] = (int)syscall(SYS_pidfd_open, 1, 0);
		SETUP(fds[0] >= 0);
		fds[1] = dup(fds[0]);
	} else if (strcmp(argv[1], "proc") == 0) {
		fds[0] = open("/proc/1/status", O_RDONLY);
		SETUP(fds[0] >= 0);
		fds[1] = dup(fds[0]);
	}
	else
		SETUP(!"argv[1] is fanotify, pipe, socket, tcp, pidfd or proc");
	/* Known fd numbers for the harness: 42 reads, 43 writes. */
	SETUP(dup2(fds[0], 42) == 42 && dup2(fds[1], 43) == 43);
	close(fds[0]);
	close(fds[1]);

	fill_pattern(memory, sizeof(memory), 31);
		ready();
	for (;;) {
		counter++;
		if ((counter & 0xfffff) == 0 && access("go", F_OK) == 0)
			break;
	}

	long off = check_pattern(memory, sizeof(memory), 31);
	if (off >= 0)
		fail("memory byte %ld changed", off);
	if (strcmp(argv[1], "fanotify") == 0) {
		/* The harness opened "go" in our directory: the group saw it. */
		char buf[4096] __attribute__((aligned(8)));
		ssize_t n = read(42, buf, sizeof(buf));
		struct fanotify_event_metadata *ev = (struct fanotify_event_metadata *)buf;
		if (n < (ssize_t)sizeof(*ev) || !(ev->mask & FAN_OPEN))
			fail("the fanotify group (fd 42) reported no open: read %zd", n);
		for (; n >= (ssize_t)sizeof(*ev) && FAN_EVENT_OK(ev, n); ev = FAN_EVENT_NEXT(ev, n))
			if (ev->fd >= 0)
				close(ev->fd);
	} else if (strcmp(argv[1], "pidfd") == 0) {
		if (syscall(SYS_pidfd_send_signal, 43, 0, NULL, 0) != 0)
			fail("the pidfd of pid 1 (fd 43) no longer works: %s", strerror(errno));
	} else if (strcmp(argv[1], "proc") == 0) {
		char buf[16] = { 0 };
		if (pread(43, buf, 5, 0) != 5 || strcmp(buf, "Name:") != 0)
			fail("/proc/1/status (fd 43) reads \"%s\"", buf);
	} else {
		if (write(43, "ping", 4) != 4)
			fail("write to the %s (fd 43) failed: %s", argv[1], strerror(errno));
		char buf[8] = { 0 };
		size_t got = 0;
		while (got < 4) {
			ssize_t r = read(42, buf + got, 4 - got);
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		if (got != 4 || memcmp(buf, "ping", 4) != 0)
			fail("the %s (fd 43 -> 42) no longer carries data: read \"%s\"", argv[1], buf);
	}
	(void)outsider; /* the outsider exits when fd 43 closes with us */
	return finish();
}
