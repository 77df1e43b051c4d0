/* A process blocked in FUTEX_WAIT_BITSET with an absolute CLOCK_MONOTONIC
 * deadline 3 s ahead (what glibc uses for timed condition waits) carries on
 * after restore and reports ETIMEDOUT only once the deadline has passed.
 * Go: nothing. */
#include "scenario.h"
#include <linux/futex.h>
#include <sys/syscall.h>

static uint32_t word;

int main(void)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += 3;
	unsigned calls = 0;
	word = 0;
	ready();
	for (;;) {
		long r = syscall(SYS_futex, &word, FUTEX_WAIT_BITSET_PRIVATE, 0, &deadline, NULL,
				 FUTEX_BITSET_MATCH_ANY);
		int err = errno;
		calls++;
		if (r == 0) {
			fail("FUTEX_WAIT_BITSET returned 0 (woken) but nothing woke it");
			break;
		}
		if (err == ETIMEDOUT) {
			int64_t early = ts_ns(&deadline) - now_ns(CLOCK_MONOTONIC);
			if (early > 0)
				fail("FUTEX_WAIT_BITSET reported ETIMEDOUT %lld ms before its deadline",
				     (long long)early / 1000000);
			break;
		}
		if (err != EINTR) {
			fail("FUTEX_WAIT_BITSET failed: errno %d (%s)", err, strerror(err));
			break;
		}
		if (calls > 50) {
			fail("FUTEX_WAIT_BITSET was interrupted more than 50 times");
			break;
		}
	}
	if (word != 0)
		fail("the futex word is %u, expected 0", word);
	say("futex wait done in %u call(s)\n", calls);
	return finish();
}
