/* A process holding something stasis cannot checkpoint (argv[1]: "eventfd",
 * "socket" (a unix socket whose peer is held by a process outside the dump),
 * "pipe" whose read end is held by a process outside the dump, or
 * "proc": /proc/1/status, a file of a process outside the dump) is refused by `stasis dump` and carries on unchanged: the harness
 * expects exit 3 and a message naming the pid, fd 42 or 43 and the kind. The
 * program keeps computing meanwhile; after go, its counter must have advanced
 * past the value at READY, its memory must be intact and its pipe or socket
 * must still carry data. */
#include "scenario.h"
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>

static volatile uint64_t counter;
static uint8_t memory[1 << 20];

int main(int argc, char **argv)
{
	SETUP(argc == 2);
	int fds[2];
	pid_t outsider = 0;
	if (strcmp(argv[1], "eventfd") == 0) {
		fds[0] = eventfd(0, 0);
		SETUP(fds[0] >= 0);
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
	} else if (strcmp(argv[1], "proc") == 0) {
		fds[0] = open("/proc/1/status", O_RDONLY);
		SETUP(fds[0] >= 0);
		fds[1] = dup(fds[0]);
	}
	else
		SETUP(!"argv[1] is pipe or socket");
	/* Known fd numbers for the harness: 42 reads, 43 writes. */
	SETUP(dup2(fds[0], 42) == 42 && dup2(fds[1], 43) == 43);
	close(fds[0]);
	close(fds[1]);

	fill_pattern(memory, sizeof(memory), 31);
	uint64_t at_ready = counter;
	ready();
	for (;;) {
		counter++;
		if ((counter & 0xfffff) == 0 && access("go", F_OK) == 0)
			break;
	}

	if (counter <= at_ready + 0x100000)
		fail("counter is %llu, it did not advance past %llu", (unsigned long long)counter,
		     (unsigned long long)at_ready);
	long off = check_pattern(memory, sizeof(memory), 31);
	if (off >= 0)
		fail("memory byte %ld changed", off);
	if (strcmp(argv[1], "eventfd") == 0) {
		uint64_t v = 5;
		if (write(43, &v, 8) != 8 || read(42, &v, 8) != 8 || v != 5)
			fail("the eventfd (fd 42 = 43) no longer counts");
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
