/* An epoll keeps its watch list: every item with its fd number, events and
 * data, of several kinds of file, and a thread blocked in epoll_wait at the
 * dump wakes up after restore when its file becomes ready.
 *
 *   fd 20  epoll watching
 *            fd 10   pipe read end with 5 bytes buffered  EPOLLIN|EPOLLET     data 0x1010
 *            fd 11   that pipe's write end                EPOLLOUT            data 0x1111
 *            fd 12   eventfd counting 3                   EPOLLIN|EPOLLONESHOT data 0x1212
 *            fd 200  the same eventfd (a dup)             EPOLLIN             data 0xC8
 *            fd 13   epoll (nested) watching fd 14, an eventfd counting 1
 *                                                         EPOLLIN             data 0x1313
 *            fd 14   that eventfd                         EPOLLIN|EPOLLEXCLUSIVE data 0xE0
 *   fd 30  epoll watching fd 31, an eventfd at 0, data 0x3131: main sleeps in
 *          epoll_wait on it (retrying on EINTR, which the dump causes)
 *
 * After go (seen by a second thread, which then writes to fd 31), main must
 * wake with data 0x3131. Then epoll_wait on fd 20 must report the six items
 * with their data and events; a second call reports only the level-triggered
 * ones (fd 11, fd 200, fd 13, fd 14): the edge-triggered pipe and the one-shot
 * eventfd stay quiet. New bytes in the pipe report fd 10 again;
 * EPOLL_CTL_MOD re-arms fd 12; EPOLL_CTL_DEL works for the original
 * numbers 10 and 200 (the kernel finds items by file and fd number). */
#include "scenario.h"
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>

static void put(int fd, int at)
{
	SETUP(fd >= 0 && dup2(fd, at) == at);
	if (fd != at)
		close(fd);
}

static void add(int ep, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };
	SETUP(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0);
}

static void *waker(void *arg)
{
	(void)arg;
	wait_for_go();
	uint64_t one = 1;
	if (write(31, &one, 8) != 8)
		fail("waker: write to fd 31: %s", strerror(errno));
	return NULL;
}

/* Ready items of one epoll_wait(timeout 0): events by data, for the data
 * values above; returns how many. */
struct seen {
	uint64_t data;
	uint32_t events;
};

static int poll_items(int ep, struct seen *out, int max)
{
	struct epoll_event evs[16];
	int n = epoll_wait(ep, evs, 16, 0);
	if (n < 0) {
		fail("epoll_wait(fd %d): %s", ep, strerror(errno));
		return 0;
	}
	for (int i = 0; i < n && i < max; i++) {
		out[i].data = evs[i].data.u64;
		out[i].events = evs[i].events;
	}
	return n;
}

static uint32_t events_of(struct seen *s, int n, uint64_t data)
{
	for (int i = 0; i < n; i++)
		if (s[i].data == data)
			return s[i].events;
	return 0;
}

int main(void)
{
	int p[2];
	SETUP(pipe(p) == 0);
	put(p[0], 10);
	put(p[1], 11);
	SETUP(write(11, "hello", 5) == 5);
	put(eventfd(3, 0), 12);
	SETUP(dup2(12, 200) == 200);
	put(eventfd(1, 0), 14);
	put(epoll_create1(0), 13);
	add(13, 14, EPOLLIN, 0xE14);
	put(epoll_create1(EPOLL_CLOEXEC), 20);
	add(20, 10, EPOLLIN | EPOLLET, 0x1010);
	add(20, 11, EPOLLOUT, 0x1111);
	add(20, 12, EPOLLIN | EPOLLONESHOT, 0x1212);
	add(20, 200, EPOLLIN, 0xC8);
	add(20, 13, EPOLLIN, 0x1313);
	add(20, 14, EPOLLIN | EPOLLEXCLUSIVE, 0xE0);
	put(eventfd(0, 0), 31);
	put(epoll_create1(0), 30);
	add(30, 31, EPOLLIN, 0x3131);

	pthread_t thread;
	SETUP(pthread_create(&thread, NULL, waker, NULL) == 0);
	ready();
	struct epoll_event ev;
	int n, interrupted = 0;
	for (;;) {
		memset(&ev, 0, sizeof(ev));
		n = epoll_wait(30, &ev, 1, -1);
		if (n < 0 && errno == EINTR && ++interrupted < 20)
			continue;
		break;
	}
	if (n != 1 || ev.data.u64 != 0x3131 || !(ev.events & EPOLLIN))
		fail("epoll_wait(fd 30) woke with %d item(s), data %#llx, events %#x (errno %d)", n,
		     (unsigned long long)ev.data.u64, ev.events, n < 0 ? errno : 0);
	SETUP(pthread_join(thread, NULL) == 0);

	struct seen s[16];
	n = poll_items(20, s, 16);
	const struct {
		uint64_t data;
		uint32_t events;
	} want[] = { { 0x1010, EPOLLIN }, { 0x1111, EPOLLOUT }, { 0x1212, EPOLLIN },
		     { 0xC8, EPOLLIN },   { 0x1313, EPOLLIN }, { 0xE0, EPOLLIN } };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (events_of(s, n, want[i].data) != want[i].events)
			fail("item with data %#llx reports events %#x, expected %#x",
			     (unsigned long long)want[i].data, events_of(s, n, want[i].data),
			     want[i].events);
	if (n != 6)
		fail("epoll fd 20 reports %d ready items, expected 6", n);

	n = poll_items(20, s, 16);
	if (n != 4 || !events_of(s, n, 0x1111) || !events_of(s, n, 0xC8) ||
	    !events_of(s, n, 0x1313) || !events_of(s, n, 0xE0))
		fail("the second epoll_wait reports %d items (expected the 4 level-triggered ones)",
		     n);
	if (events_of(s, n, 0x1010))
		fail("the EPOLLET pipe item reported again without new data");
	if (events_of(s, n, 0x1212))
		fail("the EPOLLONESHOT eventfd item reported again without being re-armed");

	SETUP(write(11, "!", 1) == 1);
	n = poll_items(20, s, 16);
	if (events_of(s, n, 0x1010) != EPOLLIN)
		fail("new bytes in the pipe did not report the EPOLLET item");
	char buf[8] = { 0 };
	if (!events_of(s, n, 0x1010) || read(10, buf, sizeof(buf)) != 6 || memcmp(buf, "hello!", 6) != 0)
		fail("the pipe holds \"%s\", expected \"hello!\"", buf);

	struct epoll_event mod = { .events = EPOLLIN | EPOLLONESHOT, .data.u64 = 0x1213 };
	if (epoll_ctl(20, EPOLL_CTL_MOD, 12, &mod) != 0)
		fail("EPOLL_CTL_MOD of fd 12: %s", strerror(errno));
	n = poll_items(20, s, 16);
	if (events_of(s, n, 0x1213) != EPOLLIN)
		fail("the re-armed one-shot item did not report");

	if (epoll_ctl(20, EPOLL_CTL_DEL, 10, NULL) != 0)
		fail("EPOLL_CTL_DEL of fd 10: %s", strerror(errno));
	if (epoll_ctl(20, EPOLL_CTL_DEL, 200, NULL) != 0)
		fail("EPOLL_CTL_DEL of fd 200: %s", strerror(errno));
	if (epoll_ctl(20, EPOLL_CTL_DEL, 200, NULL) != -1 || errno != ENOENT)
		fail("fd 200 was watched twice");
	n = poll_items(20, s, 16);
	if (events_of(s, n, 0xC8) || n != 3)
		fail("after the deletes, %d items are ready (expected fd 11, 13 and 14)", n);
	/* EPOLLEXCLUSIVE items refuse EPOLL_CTL_MOD: the flag came back. */
	struct epoll_event excl = { .events = EPOLLIN, .data.u64 = 0xE1 };
	if (epoll_ctl(20, EPOLL_CTL_MOD, 14, &excl) != -1 || errno != EINVAL)
		fail("EPOLL_CTL_MOD of fd 14 did not fail with EINVAL: EPOLLEXCLUSIVE was lost");

	/* The nested epoll still watches its eventfd. */
	n = poll_items(13, s, 16);
	if (n != 1 || s[0].data != 0xE14)
		fail("the nested epoll (fd 13) reports %d items", n);
	uint64_t v = 0;
	if (n != 1 || read(12, &v, 8) != 8 || v != 3)
		fail("eventfd fd 12 counts %llu, expected 3", (unsigned long long)v);
	say("epoll_wait was interrupted %d time(s)\n", interrupted);
	return finish();
}
