/* eventfds keep their counter, their mode and their status flags, and stay
 * one description shared by parent and child:
 *
 *   fd 40  counter 5 + 2^32 (more than eventfd()'s 32-bit start value),
 *          O_NONBLOCK
 *   fd 41  EFD_SEMAPHORE, counter 3, blocking
 *
 * Both are created before a fork, so the child shares them. After go the
 * child takes one unit of fd 41 (a semaphore read gives 1) and adds 100 to
 * fd 40, then exits 0. The parent waits for it, then finds the child's
 * changes in the same counters: fd 41 gives 1 twice more and then nothing,
 * fd 40 gives 5 + 2^32 + 100 at once, then EAGAIN (non-blocking). */
#include "scenario.h"
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>

#define BIG (5 + (1ull << 32))

static int readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

int main(void)
{
	int counter = eventfd(0, EFD_NONBLOCK);
	int sem = eventfd(3, EFD_SEMAPHORE);
	SETUP(counter >= 0 && sem >= 0);
	SETUP(dup2(counter, 40) == 40 && dup2(sem, 41) == 41);
	close(counter);
	close(sem);
	uint64_t v = BIG;
	SETUP(write(40, &v, 8) == 8);

	pid_t child = fork();
	SETUP(child >= 0);
	if (child == 0) {
		wait_for_go();
		if (!readable(41) || read(41, &v, 8) != 8 || v != 1)
			fail("child: semaphore read of fd 41 gave %llu", (unsigned long long)v);
		v = 100;
		if (write(40, &v, 8) != 8)
			fail("child: write to fd 40: %s", strerror(errno));
		_exit(scenario_failures ? 1 : 0);
	}
	ready();
	wait_for_go();

	int status;
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail("the child failed (status %#x)", status);
	if (!(fcntl(40, F_GETFL) & O_NONBLOCK))
		fail("fd 40 lost O_NONBLOCK");
	if (fcntl(41, F_GETFL) & O_NONBLOCK)
		fail("fd 41 became non-blocking");
	for (int i = 0; i < 2; i++) {
		v = 0;
		if (!readable(41) || read(41, &v, 8) != 8 || v != 1)
			fail("semaphore read %d of fd 41 gave %llu (expected 1)", i + 1,
			     (unsigned long long)v);
	}
	if (readable(41))
		fail("fd 41 still counts after 3 semaphore reads (restored counter too high)");
	v = 0;
	if (!readable(40) || read(40, &v, 8) != 8 || v != BIG + 100)
		fail("fd 40 counts %llu, expected %llu (the child's 100 added to the saved count)",
		     (unsigned long long)v, (unsigned long long)(BIG + 100));
	if (read(40, &v, 8) != -1 || errno != EAGAIN)
		fail("reading the empty fd 40 did not fail with EAGAIN");
	return finish();
}
