/* A process blocked in FUTEX_WAIT with a relative 3 s timeout carries on
 * after restore. Nobody wakes the futex (single-threaded), so the only correct
 * outcomes are ETIMEDOUT once the time is up, or EINTR (then it waits for the
 * rest of the time). A return of 0 ("woken") or an early ETIMEDOUT is
 * misreporting. Go: nothing. */
#include "scenario.h"
#include <linux/futex.h>
#include <sys/syscall.h>

static uint32_t word;

int main(void)
{
	int64_t deadline = now_ns(CLOCK_MONOTONIC) + 3000000000ll;
	unsigned calls = 0, interrupted = 0;
	word = 0;
	ready();
	for (;;) {
		int64_t left = deadline - now_ns(CLOCK_MONOTONIC);
		if (left <= 0)
			break; /* EINTR exactly at the deadline */
		struct timespec ts = { left / 1000000000, left % 1000000000 };
		long r = syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0);
		int err = errno;
		calls++;
		if (r == 0) {
			fail("FUTEX_WAIT returned 0 (woken) but nothing woke it");
			break;
		}
		if (err == ETIMEDOUT) {
			int64_t early = deadline - now_ns(CLOCK_MONOTONIC);
			if (early > 0)
				fail("FUTEX_WAIT reported ETIMEDOUT %lld ms before its timeout",
				     (long long)early / 1000000);
			break;
		}
		if (err == EINTR) {
			interrupted++;
			if (calls > 50) {
				fail("FUTEX_WAIT was interrupted more than 50 times");
				break;
			}
			continue;
		}
		fail("FUTEX_WAIT failed: errno %d (%s)", err, strerror(err));
		break;
	}
	if (word != 0)
		fail("the futex word is %u, expected 0", word);
	say("futex wait done in %u call(s), %u interrupted\n", calls, interrupted);
	return finish();
}
