/* A process blocked in nanosleep(2) (3 s) at the checkpoint carries on after
 * restore. The call either completes after the full time, or fails with
 * EINTR and reports in `rem` how much was left; the program then sleeps the
 * rest, like real programs do. A return of 0 before the time is up, an EINTR
 * without `rem`, or any other error is a FAIL. Go: nothing. */
#include "scenario.h"
#include <sys/syscall.h>

int main(void)
{
	struct timespec req = { 3, 0 }, rem;
	int64_t start = now_ns(CLOCK_MONOTONIC);
	unsigned calls = 0, interrupted = 0;
	ready();
	for (;;) {
		rem.tv_sec = -1, rem.tv_nsec = -1; /* poison: did the kernel write it? */
		int64_t t0 = now_ns(CLOCK_MONOTONIC);
		long r = syscall(SYS_nanosleep, &req, &rem);
		int err = errno;
		int64_t dt = now_ns(CLOCK_MONOTONIC) - t0;
		calls++;
		if (r == 0) {
			if (dt < ts_ns(&req))
				fail("nanosleep(%lld ms) returned 0 (completed) after only %lld ms",
				     (long long)ts_ns(&req) / 1000000, (long long)dt / 1000000);
			break;
		}
		if (r != -1 || err != EINTR) {
			fail("nanosleep returned %ld, errno %d (%s)", r, err, strerror(err));
			break;
		}
		interrupted++;
		if (rem.tv_sec == -1 && rem.tv_nsec == -1) {
			fail("nanosleep failed with EINTR but did not write the remaining time");
			break;
		}
		if (rem.tv_sec < 0 || rem.tv_nsec < 0 || rem.tv_nsec >= 1000000000 ||
		    ts_ns(&rem) > ts_ns(&req)) {
			fail("nanosleep failed with EINTR and an impossible remaining time %lld.%09ld s",
			     (long long)rem.tv_sec, rem.tv_nsec);
			break;
		}
		/* elapsed + remaining must cover the request: time must not vanish */
		if (dt + ts_ns(&rem) < ts_ns(&req) - 1000000)
			fail("nanosleep(%lld ms) failed with EINTR after %lld ms reporting %lld ms left",
			     (long long)ts_ns(&req) / 1000000, (long long)dt / 1000000,
			     (long long)ts_ns(&rem) / 1000000);
		req = rem;
		if (calls > 50) {
			fail("nanosleep was interrupted more than 50 times");
			break;
		}
	}
	int64_t total = now_ns(CLOCK_MONOTONIC) - start;
	if (total < 3000000000ll)
		fail("the whole sleep took %lld ms, less than 3000 ms", (long long)total / 1000000);
	say("slept %lld ms in %u call(s), %u interrupted\n", (long long)total / 1000000, calls, interrupted);
	return finish();
}
