/* A tree with a child in a new PID namespace cannot be checkpointed yet: the
 * dump must refuse (exit 3, naming the child) and the tree must carry on
 * unchanged. The child counts in shared memory; after go the parent checks the
 * count advanced and stops it. */
#include "scenario.h"
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

int main(void)
{
	volatile uint64_t *counter =
		mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	SETUP(counter != MAP_FAILED);
	SETUP(unshare(CLONE_NEWPID) == 0);
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
	ready();
	uint64_t at_ready = *counter;
	wait_for_go();
	uint64_t now = *counter;
	if (now <= at_ready)
		fail("the child in the new pid namespace stopped counting");
	kill(child, SIGKILL);
	int status;
	waitpid(child, &status, 0);
	return finish();
}
