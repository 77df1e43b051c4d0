/* The main thread is blocked in epoll_wait with no timeout when the process is
 * dumped. The freeze makes the kernel end that call with EINTR; restore enters
 * it again, so after restore the call returns the event it waited for (a
 * helper thread writes to the eventfd once "go" exists) and never EINTR. */
#include "scenario.h"
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

static int efd;

static void *waker(void *arg)
{
	(void)arg;
	wait_for_go();
	uint64_t one = 1;
	(void)!write(efd, &one, sizeof(one));
	return NULL;
}

int main(void)
{
	efd = eventfd(0, 0);
	int ep = epoll_create1(0);
	SETUP(efd >= 0 && ep >= 0);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0xfeed };
	SETUP(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) == 0);
	pthread_t t;
	SETUP(pthread_create(&t, NULL, waker, NULL) == 0);
	ready();
	struct epoll_event got;
	int n = epoll_wait(ep, &got, 1, -1);
	if (n != 1)
		fail("epoll_wait returned %d (%s), expected the eventfd's event", n,
		     n < 0 ? strerror(errno) : "no error");
	else if (got.data.u64 != 0xfeed)
		fail("epoll_wait returned data %#llx", (unsigned long long)got.data.u64);
	pthread_join(t, NULL);
	return finish();
}
