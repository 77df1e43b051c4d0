/* A process blocked in FUTEX_WAIT without a timeout carries on after restore
 * and stays blocked until a signal handler changes the word. Go: SIGUSR1,
 * whose handler (SA_RESTART) sets the word to 1. Before that, every return of
 * the call is checked: 0 means "woken", which nobody did. */
#include "scenario.h"
#include <linux/futex.h>
#include <signal.h>
#include <sys/syscall.h>

static volatile uint32_t word;
static volatile sig_atomic_t handled;

static void on_usr1(int sig)
{
	(void)sig;
	word = 1;
	handled++;
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	SETUP(sigaction(SIGUSR1, &sa, NULL) == 0);
	unsigned calls = 0;
	ready();
	while (word == 0) {
		long r = syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
		int err = errno;
		calls++;
		if (r == 0) {
			fail("FUTEX_WAIT returned 0 (woken) but nothing woke it");
			break;
		}
		if (err == EAGAIN && word == 0) {
			fail("FUTEX_WAIT failed with EAGAIN but the word is still 0");
			break;
		}
		if (err != EINTR && err != EAGAIN) {
			fail("FUTEX_WAIT failed: errno %d (%s)", err, strerror(err));
			break;
		}
		if (calls > 50) {
			fail("FUTEX_WAIT returned more than 50 times");
			break;
		}
	}
	if (handled != 1)
		fail("the SIGUSR1 handler ran %d times, expected once", (int)handled);
	say("futex wait done in %u call(s)\n", calls);
	return finish();
}
