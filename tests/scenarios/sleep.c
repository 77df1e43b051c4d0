/* A process blocked in glibc sleep(3) at the checkpoint carries on after
 * restore, and sleep() never reports more time slept than really passed.
 * Like real programs, it sleeps again for whatever sleep() says is left.
 * Go: nothing; the program wakes by itself. */
#include "scenario.h"

#define SLACK_NS 5000000 /* sleep() sleeps on CLOCK_REALTIME; we measure CLOCK_MONOTONIC */

int main(void)
{
	unsigned left = 3, calls = 0;
	int64_t start = now_ns(CLOCK_MONOTONIC);
	ready();
	for (;;) {
		int64_t t0 = now_ns(CLOCK_MONOTONIC);
		unsigned r = sleep(left);
		int64_t dt = now_ns(CLOCK_MONOTONIC) - t0;
		calls++;
		if (r > left) {
			fail("sleep(%u) returned %u, more than was asked", left, r);
			break;
		}
		/* sleep() returns the remainder rounded down (0 if less than a
		 * second was left when it was interrupted), so at most one second
		 * may go missing per call; more means time was misreported. */
		if (dt + (int64_t)(r + 1) * 1000000000 < (int64_t)left * 1000000000 - SLACK_NS) {
			fail("sleep(%u) returned %u after only %lld ms", left, r, (long long)dt / 1000000);
			break;
		}
		if (r == 0)
			break;
		left = r;
		if (calls > 50) {
			fail("sleep was interrupted more than 50 times");
			break;
		}
	}
	say("slept %lld ms in %u call(s)\n", (long long)(now_ns(CLOCK_MONOTONIC) - start) / 1000000, calls);
	return finish();
}
