/* A stopped job stays stopped: the parent stops its child with SIGSTOP before
 * the dump. After restore the child must still be stopped (state T, its counter
 * frozen), and must run on when the parent sends SIGCONT. */
#include "scenario.h"
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

int main(void)
{
	volatile uint64_t *counter =
		mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	SETUP(counter != MAP_FAILED);
	pid_t child = fork();
	SETUP(child >= 0);
	if (child == 0) {
		for (;;) {
			(*counter)++;
			usleep(1000);
		}
	}
	while (*counter < 10)
		usleep(1000);
	SETUP(kill(child, SIGSTOP) == 0);
	int status;
	SETUP(waitpid(child, &status, WUNTRACED) == child && WIFSTOPPED(status));
	ready();
	wait_for_go();
	if (proc_state(child) != 'T')
		fail("the child is in state %c after restore, expected T (stopped)", proc_state(child));
	uint64_t frozen = *counter;
	usleep(300000);
	if (*counter != frozen)
		fail("the stopped child kept counting (%llu -> %llu)", (unsigned long long)frozen,
		     (unsigned long long)*counter);
	SETUP(kill(child, SIGCONT) == 0);
	int64_t deadline = now_ns(CLOCK_MONOTONIC) + 5LL * 1000000000;
	while (*counter < frozen + 10 && now_ns(CLOCK_MONOTONIC) < deadline)
		usleep(1000);
	if (*counter < frozen + 10)
		fail("the child did not run on after SIGCONT");
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	return finish();
}
