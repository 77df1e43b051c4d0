/* A tree that never stands still: N workers (argv[1], default 20, at most
 * MAX_WORKERS), each forking a short-lived child over and over (close to 2N
 * processes at any time, children exiting and being reaped all the time). The dump must catch it consistently; after restore
 * every worker must carry on forking, and the tree must wind down cleanly. */
#include "scenario.h"
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define MAX_WORKERS 100

static int WORKERS = 20;

struct shared {
	volatile uint64_t rounds[MAX_WORKERS];
	volatile int stop;
};

int main(int argc, char **argv)
{
	if (argc > 1)
		WORKERS = atoi(argv[1]);
	SETUP(WORKERS > 0 && WORKERS <= MAX_WORKERS);
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	SETUP(sh != MAP_FAILED);
	pid_t workers[MAX_WORKERS];
	for (int i = 0; i < WORKERS; i++) {
		workers[i] = fork();
		SETUP(workers[i] >= 0);
		if (workers[i] == 0) {
			while (!sh->stop) {
				pid_t c = fork();
				if (c == 0) {
					/* Alive for a while, so most workers have a child
					 * at any moment. */
					usleep(2000);
					volatile uint64_t x = 0;
					for (int k = 0; k < 20000; k++)
						x += (uint64_t)k;
					_exit((int)(x & 1));
				}
				if (c > 0) {
					int status;
					if (waitpid(c, &status, 0) != c || !WIFEXITED(status)) {
						say("FAIL: worker %d: child %d ended badly (%#x)\n", i, c, status);
						_exit(1);
					}
				}
				sh->rounds[i]++;
			}
			_exit(0);
		}
	}
	for (int i = 0; i < WORKERS; i++)
		while (sh->rounds[i] < 3)
			usleep(1000);
	ready();
	wait_for_go();
	uint64_t seen[MAX_WORKERS];
	for (int i = 0; i < WORKERS; i++)
		seen[i] = sh->rounds[i];
	int64_t deadline = now_ns(CLOCK_MONOTONIC) + 20LL * 1000000000;
	for (int i = 0; i < WORKERS; i++) {
		while (sh->rounds[i] < seen[i] + 3 && now_ns(CLOCK_MONOTONIC) < deadline)
			usleep(1000);
		if (sh->rounds[i] < seen[i] + 3)
			fail("worker %d stopped forking after restore", i);
	}
	sh->stop = 1;
	for (int i = 0; i < WORKERS; i++) {
		int status;
		if (waitpid(workers[i], &status, 0) != workers[i] || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			fail("worker %d ended with status %#x", i, status);
	}
	return finish();
}
