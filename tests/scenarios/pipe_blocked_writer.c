/* A writer blocked on a full pipe: the child writes 3 MiB into a pipe whose
 * reader (the parent) reads nothing until go, so the child is blocked in
 * write(2) with a full 64 KiB pipe when dumped. After restore the parent reads
 * everything: every byte arrives once and in order, and the child's write
 * completes. */
#include "scenario.h"
#include <sys/wait.h>

#define TOTAL (3 << 20)

static uint8_t buf[TOTAL];

int main(void)
{
	int p[2];
	SETUP(pipe(p) == 0);
	pid_t child = fork();
	SETUP(child >= 0);
	if (child == 0) {
		close(p[0]);
		fill_pattern(buf, TOTAL, 5);
		size_t put = 0;
		while (put < TOTAL) {
			ssize_t n = write(p[1], buf + put, TOTAL - put);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				_exit(3);
			put += (size_t)n;
		}
		_exit(0);
	}
	close(p[1]);
	/* Wait until the child is blocked in write with the pipe full. */
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/syscall", child);
	for (int tries = 0;; tries++) {
		FILE *f = fopen(path, "r");
		SETUP(f != NULL);
		int got = fgets(line, sizeof(line), f) != NULL;
		fclose(f);
		if (got && atoi(line) == 1 /* SYS_write */)
			break;
		SETUP(tries < 5000);
		usleep(1000);
	}
	ready();
	wait_for_go();
	size_t have = 0;
	while (have < TOTAL) {
		ssize_t n = read(p[0], buf + have, TOTAL - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	if (have != TOTAL)
		fail("read %zu bytes, expected %d", have, TOTAL);
	else if (check_pattern(buf, TOTAL, 5) >= 0)
		fail("byte %ld differs", check_pattern(buf, TOTAL, 5));
	char extra;
	if (read(p[0], &extra, 1) != 0)
		fail("more bytes than were written");
	int status;
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail("writer ended with status %#x", status);
	return finish();
}
