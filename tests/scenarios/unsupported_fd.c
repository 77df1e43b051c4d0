/* A process holding something stasis cannot checkpoint (argv[1]: "pipe" or
 * "socket") is refused by `stasis dump` and carries on unchanged: the harness
 * expects exit 3 and a message naming the pid, fd 42 or 43 and the kind. The
 * program keeps computing meanwhile; after go, its counter must have advanced
 * past the value at READY, its memory must be intact and its pipe or socket
 * must still carry data. */
#include "scenario.h"
#include <sys/socket.h>

static volatile uint64_t counter;
static uint8_t memory[1 << 20];

int main(int argc, char **argv)
{
	SETUP(argc == 2);
	int fds[2];
	if (strcmp(argv[1], "pipe") == 0)
		SETUP(pipe(fds) == 0);
	else if (strcmp(argv[1], "socket") == 0)
		SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
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
	if (write(43, "ping", 4) != 4)
		fail("write to the %s (fd 43) failed: %s", argv[1], strerror(errno));
	char buf[8] = { 0 };
	if (read(42, buf, 4) != 4 || memcmp(buf, "ping", 4) != 0)
		fail("the %s (fd 42 -> 43) no longer carries data: read \"%s\"", argv[1], buf);
	return finish();
}
