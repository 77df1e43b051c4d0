/* An epoll shared by parent and child after fork, whose items name fds that
 * only the child holds, is saved through the child's fd table:
 *
 *   fd 41  epoll, shared
 *   fd 42  eventfd counting 1, added by the parent before the fork (data
 *          42); the parent then closes its fd 42, the child keeps its own
 *   fd 50  eventfd counting 2, opened and added by the child (data 50)
 *
 * After go the child sees both items ready with their data, deletes them
 * with its fd numbers 42 and 50, and exits 0; the parent, through the same
 * epoll, then sees no item left. */
#include "scenario.h"
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <fcntl.h>
#include <sys/wait.h>

static void put(int fd, int at)
{
	SETUP(fd >= 0 && dup2(fd, at) == at);
	close(fd);
}

int main(void)
{
	put(epoll_create1(0), 41);
	put(eventfd(1, 0), 42);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 42 };
	SETUP(epoll_ctl(41, EPOLL_CTL_ADD, 42, &ev) == 0);
	pid_t child = fork();
	SETUP(child >= 0);
	if (child == 0) {
		put(eventfd(2, 0), 50);
		ev.data.u64 = 50;
		SETUP(epoll_ctl(41, EPOLL_CTL_ADD, 50, &ev) == 0);
		SETUP(close(open("child_ready", O_CREAT | O_WRONLY, 0600)) == 0);
		wait_for_go();
		struct epoll_event got[4];
		int n = epoll_wait(41, got, 4, 0);
		uint64_t seen = 0;
		for (int i = 0; i < n; i++)
			seen += got[i].data.u64;
		if (n != 2 || seen != 92)
			fail("child: %d items ready (data sum %llu), expected 42 and 50", n,
			     (unsigned long long)seen);
		if (epoll_ctl(41, EPOLL_CTL_DEL, 42, NULL) != 0)
			fail("child: EPOLL_CTL_DEL of fd 42: %s", strerror(errno));
		if (epoll_ctl(41, EPOLL_CTL_DEL, 50, NULL) != 0)
			fail("child: EPOLL_CTL_DEL of fd 50: %s", strerror(errno));
		_exit(scenario_failures ? 1 : 0);
	}
	close(42);
	wait_for_file("child_ready");
	ready();
	wait_for_go();
	int status = 0;
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail("the child failed (status %#x)", status);
	struct epoll_event got;
	int n = epoll_wait(41, &got, 1, 0);
	if (n != 0)
		fail("the parent still sees %d item(s) in the shared epoll", n);
	return finish();
}
