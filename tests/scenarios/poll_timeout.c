/* A process blocked in poll(NULL, 0, 3000) carries on after restore. poll
 * returns 0 only once the timeout has passed; on EINTR the program polls for
 * the rest of the time, like real event loops. Go: nothing. */
#include "scenario.h"
#include <poll.h>

int main(void)
{
	int64_t deadline = now_ns(CLOCK_MONOTONIC) + 3000000000ll;
	unsigned calls = 0, interrupted = 0;
	ready();
	for (;;) {
		int64_t left = deadline - now_ns(CLOCK_MONOTONIC);
		if (left <= 0)
			break;
		int ms = (int)((left + 999999) / 1000000); /* round up: never wait less */
		int r = poll(NULL, 0, ms);
		int err = errno;
		calls++;
		if (r == 0) {
			int64_t early = deadline - now_ns(CLOCK_MONOTONIC);
			if (early > 0)
				fail("poll(%d ms) returned 0 (timed out) %lld ms before its timeout", ms,
				     (long long)early / 1000000);
			break;
		}
		if (r > 0) {
			fail("poll with no fds returned %d", r);
			break;
		}
		if (err != EINTR) {
			fail("poll failed: errno %d (%s)", err, strerror(err));
			break;
		}
		interrupted++;
		if (calls > 50) {
			fail("poll was interrupted more than 50 times");
			break;
		}
	}
	say("poll done in %u call(s), %u interrupted\n", calls, interrupted);
	return finish();
}
