/* An epoll item whose fd number no longer holds the watched file cannot be
 * restored (items are added back through their fd numbers): the dump is
 * refused and the process runs on. argv[1]:
 *   closed    fd 42 (an eventfd) is watched, then moved to fd 43 (dup, close)
 *   replaced  the same, and another eventfd takes fd 42 (same anonymous
 *             inode: only kcmp tells the two apart)
 * The epoll is fd 41. After go, the item still reports the watched eventfd. */
#include "scenario.h"
#include <sys/epoll.h>
#include <sys/eventfd.h>

int main(int argc, char **argv)
{
	SETUP(argc == 2);
	int ep = epoll_create1(0), efd = eventfd(1, 0);
	SETUP(ep >= 0 && efd >= 0);
	SETUP(dup2(ep, 41) == 41 && dup2(efd, 42) == 42);
	close(ep);
	close(efd);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 42 };
	SETUP(epoll_ctl(41, EPOLL_CTL_ADD, 42, &ev) == 0);
	SETUP(dup2(42, 43) == 43);
	close(42);
	if (strcmp(argv[1], "replaced") == 0) {
		int other = eventfd(0, 0);
		SETUP(other >= 0 && dup2(other, 42) == 42);
		close(other);
	} else
		SETUP(strcmp(argv[1], "closed") == 0);
	ready();
	wait_for_go();
	memset(&ev, 0, sizeof(ev));
	if (epoll_wait(41, &ev, 1, 0) != 1 || ev.data.u64 != 42)
		fail("the epoll no longer reports the eventfd it watches");
	return finish();
}
