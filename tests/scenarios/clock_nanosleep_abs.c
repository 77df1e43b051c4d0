/* A process blocked in clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) with a
 * deadline 3 s ahead carries on after restore and returns only once the
 * deadline has passed (retrying on EINTR, as real programs such as CPython's
 * time.sleep do). Go: nothing. */
#include "scenario.h"

int main(void)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += 3;
	unsigned calls = 0;
	ready();
	for (;;) {
		int r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL);
		calls++;
		if (r == 0) {
			int64_t early = ts_ns(&deadline) - now_ns(CLOCK_MONOTONIC);
			if (early > 0)
				fail("clock_nanosleep returned 0 (completed) %lld ms before its deadline",
				     (long long)early / 1000000);
			break;
		}
		if (r != EINTR) {
			fail("clock_nanosleep failed: error %d (%s)", r, strerror(r));
			break;
		}
		if (calls > 50) {
			fail("clock_nanosleep was interrupted more than 50 times");
			break;
		}
	}
	say("clock_nanosleep done in %u call(s)\n", calls);
	return finish();
}
