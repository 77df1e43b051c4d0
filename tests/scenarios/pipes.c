/* Pipes held by one process survive with their buffered bytes, capacity and
 * flags: a full 1 MiB pipe, a non-blocking pipe whose write end is dup'ed, a pipe
 * whose write end was closed (the reader must still get the bytes, then EOF),
 * and an empty pipe the process is blocked reading from when it is dumped. The
 * SIGUSR1 handler writes to that pipe: that is the harness's "go". */
#include "scenario.h"
#include <fcntl.h>
#include <signal.h>

#define BIG (1 << 20)

static int wake_w;

static void on_usr1(int sig)
{
	(void)sig;
	(void)!write(wake_w, "go", 2);
}

static uint8_t buf[BIG];

int main(void)
{
	int big[2], nb[2], closed[2], wake[2];
	SETUP(pipe(big) == 0 && pipe(nb) == 0 && pipe(closed) == 0 && pipe(wake) == 0);
	wake_w = wake[1];

	/* A full 1 MiB pipe. */
	SETUP(fcntl(big[1], F_SETPIPE_SZ, BIG) == BIG);
	SETUP(fcntl(big[1], F_SETFL, O_NONBLOCK) == 0);
	fill_pattern(buf, BIG, 7);
	size_t put = 0;
	while (put < BIG) {
		ssize_t n = write(big[1], buf + put, BIG - put);
		if (n <= 0)
			break;
		put += (size_t)n;
	}
	SETUP(put == BIG);

	/* Non-blocking reader; the write end also at fd 50 (same description). */
	SETUP(fcntl(nb[0], F_SETFL, O_NONBLOCK) == 0);
	SETUP(dup2(nb[1], 50) == 50);
	SETUP(write(nb[1], "hello", 5) == 5);

	/* Bytes left behind by a writer that has gone. */
	SETUP(write(closed[1], "tail", 4) == 4);
	close(closed[1]);

	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	SETUP(sigaction(SIGUSR1, &sa, NULL) == 0);
	ready();
	char got[8] = { 0 };
	ssize_t n = read(wake[0], got, sizeof(got));
	if (n != 2 || memcmp(got, "go", 2) != 0)
		fail("the blocked read returned %zd \"%s\", expected \"go\"", n, got);

	int size = fcntl(big[0], F_GETPIPE_SZ);
	if (size != BIG)
		fail("full pipe capacity is %d, expected %d", size, BIG);
	memset(buf, 0, BIG);
	size_t have = 0;
	SETUP(fcntl(big[0], F_SETFL, O_NONBLOCK) == 0);
	while (have < BIG + 1) {
		ssize_t r = read(big[0], buf + have, BIG - have);
		if (r <= 0)
			break;
		have += (size_t)r;
	}
	if (have != BIG)
		fail("full pipe gave back %zu bytes, expected %d", have, BIG);
	else if (check_pattern(buf, BIG, 7) >= 0)
		fail("full pipe byte %ld differs", check_pattern(buf, BIG, 7));

	if (!(fcntl(nb[0], F_GETFL) & O_NONBLOCK))
		fail("O_NONBLOCK of the non-blocking reader was lost");
	memset(got, 0, sizeof(got));
	if (read(nb[0], got, sizeof(got)) != 5 || memcmp(got, "hello", 5) != 0)
		fail("non-blocking pipe gave \"%s\", expected \"hello\"", got);
	if (read(nb[0], got, sizeof(got)) != -1 || errno != EAGAIN)
		fail("empty non-blocking pipe did not answer EAGAIN");
	SETUP(fcntl(50, F_SETFL, O_NONBLOCK) == 0);
	if (!(fcntl(nb[1], F_GETFL) & O_NONBLOCK))
		fail("fd 50 and the write end no longer share their open file description");
	if (write(50, "x", 1) != 1 || read(nb[0], got, 1) != 1 || got[0] != 'x')
		fail("fd 50 does not write into the non-blocking pipe");

	memset(got, 0, sizeof(got));
	if (read(closed[0], got, sizeof(got)) != 4 || memcmp(got, "tail", 4) != 0)
		fail("pipe without writer gave \"%s\", expected \"tail\"", got);
	if (read(closed[0], got, sizeof(got)) != 0)
		fail("pipe without writer did not report end of file");
	return finish();
}
