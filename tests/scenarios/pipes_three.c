/* Pipes across three processes, with bytes in flight in both at the dump: the
 * parent P writes records 0..N-1 into pipe 1; child A copies them from pipe 1
 * into pipe 2, slowly; child B reads pipe 2 and checks every record arrives
 * once and in order. A's pace keeps both pipes holding data when the harness
 * dumps. After go, P writes the last records and closes its end; B reports
 * through its exit code how many records it saw, and A's and B's ends of the
 * pipes must still be shared with nobody else (each end held once). */
#include "scenario.h"
#include <fcntl.h>
#include <sys/wait.h>

#define RECORDS 20000

struct record {
	uint32_t seq, check;
};

static int copier(int in, int out)
{
	struct record r;
	for (;;) {
		ssize_t n = read(in, &r, sizeof(r));
		if (n == 0)
			return 0;
		if (n != sizeof(r))
			return 3;
		if (write(out, &r, sizeof(r)) != sizeof(r))
			return 4;
		if (r.seq % 64 == 0)
			usleep(1000);
	}
}

static int checker(int in)
{
	struct record r;
	uint32_t expect = 0;
	for (;;) {
		ssize_t n = read(in, &r, sizeof(r));
		if (n == 0)
			break;
		if (n != sizeof(r)) {
			fail("B: short read %zd", n);
			return 1;
		}
		if (r.seq != expect || r.check != r.seq * 2654435761u) {
			fail("B: got record %u (check %#x), expected %u", r.seq, r.check, expect);
			return 1;
		}
		expect++;
	}
	if (expect != RECORDS) {
		fail("B: saw %u records, expected %u", expect, RECORDS);
		return 1;
	}
	return 0;
}

int main(void)
{
	int one[2], two[2];
	SETUP(pipe(one) == 0 && pipe(two) == 0);
	pid_t a = fork();
	SETUP(a >= 0);
	if (a == 0) {
		close(one[1]);
		close(two[0]);
		_exit(copier(one[0], two[1]));
	}
	pid_t b = fork();
	SETUP(b >= 0);
	if (b == 0) {
		close(one[0]);
		close(one[1]);
		close(two[1]);
		_exit(checker(two[0]));
	}
	close(one[0]);
	close(two[0]);
	close(two[1]);

	/* Fill pipe 1 (non-blocking) until it is full: A drains it slowly. */
	SETUP(fcntl(one[1], F_SETFL, O_NONBLOCK) == 0);
	uint32_t seq = 0;
	while (seq < RECORDS / 2) {
		struct record r = { seq, seq * 2654435761u };
		ssize_t n = write(one[1], &r, sizeof(r));
		if (n < 0 && errno == EAGAIN)
			break;
		SETUP(n == sizeof(r));
		seq++;
	}
	SETUP(seq > 100);
	ready();
	wait_for_go();
	SETUP(fcntl(one[1], F_SETFL, 0) == 0);
	for (; seq < RECORDS; seq++) {
		struct record r = { seq, seq * 2654435761u };
		if (write(one[1], &r, sizeof(r)) != sizeof(r)) {
			fail("P: write of record %u failed: %s", seq, strerror(errno));
			break;
		}
	}
	close(one[1]);
	int st;
	if (waitpid(a, &st, 0) != a || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail("A ended with status %#x", st);
	if (waitpid(b, &st, 0) != b || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail("B ended with status %#x", st);
	return finish();
}
