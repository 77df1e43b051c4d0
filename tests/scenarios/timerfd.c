/* timerfds keep their clock, their settings and their unread expirations.
 * The harness waits 2 s between the dump and the restore.
 *
 *   fd 40  one-shot, 1 ms, expired before READY and never read, O_NONBLOCK:
 *          after restore a read gives 1 at once
 *   fd 41  periodic every 10 ms, running 1.5 s before READY, never read:
 *          the first read gives at least the expirations counted before READY
 *   fd 42  periodic every 300 ms (relative): after one read to catch up, the
 *          next expiry comes 300 ms later (+-100 ms)
 *   fd 43  one-shot in 4 s (relative): time on disk does not count, so at go
 *          more than 2.5 s are left (about 4 s minus the time the process
 *          really ran)
 *   fd 44  CLOCK_REALTIME, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, at
 *          READY + 6 s: after restore it still ends at that wall-clock time
 *          (+-50 ms) and fdinfo shows both flags
 *   fd 45  never armed: still disarmed */
#include "scenario.h"
#include <fcntl.h>
#include <poll.h>
#include <sys/timerfd.h>

#define MS 1000000ll

static void arm(int fd, int flags, int64_t value, int64_t interval)
{
	struct itimerspec it = {
		.it_value = { value / 1000000000, value % 1000000000 },
		.it_interval = { interval / 1000000000, interval % 1000000000 },
	};
	SETUP(timerfd_settime(fd, flags, &it, NULL) == 0);
}

static int64_t left_ns(int fd, int64_t *interval)
{
	struct itimerspec it;
	if (timerfd_gettime(fd, &it) != 0)
		return -1;
	if (interval)
		*interval = ts_ns(&it.it_interval);
	return ts_ns(&it.it_value);
}

static void make(int fd, clockid_t clock, int flags)
{
	int t = timerfd_create(clock, flags);
	SETUP(t >= 0 && dup2(t, fd) == fd);
	close(t);
}

int main(void)
{
	make(40, CLOCK_MONOTONIC, TFD_NONBLOCK);
	make(41, CLOCK_MONOTONIC, 0);
	make(42, CLOCK_MONOTONIC, 0);
	make(43, CLOCK_BOOTTIME, 0);
	make(44, CLOCK_REALTIME, 0);
	make(45, CLOCK_MONOTONIC, 0);

	arm(40, 0, 1 * MS, 0);
	int64_t started = now_ns(CLOCK_MONOTONIC);
	arm(41, 0, 10 * MS, 10 * MS);
	arm(42, 0, 300 * MS, 300 * MS);
	usleep(1500000);
	uint64_t ticks;
	SETUP(read(42, &ticks, 8) == 8);
	int64_t counted = (now_ns(CLOCK_MONOTONIC) - started) / (10 * MS) - 1;
	arm(43, 0, 4000 * MS, 0);
	int64_t deadline = now_ns(CLOCK_REALTIME) + 6000 * MS;
	arm(44, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, deadline, 0);
	ready();
	wait_for_go();

	ticks = 0;
	if (read(40, &ticks, 8) != 8 || ticks != 1)
		fail("fd 40 (expired one-shot, unread) gives %llu expirations (errno %d), expected 1",
		     (unsigned long long)ticks, errno);
	if (!(fcntl(40, F_GETFL) & O_NONBLOCK))
		fail("fd 40 lost O_NONBLOCK");
	if (read(40, &ticks, 8) != -1 || errno != EAGAIN)
		fail("fd 40 expired again");

	ticks = 0;
	if (read(41, &ticks, 8) != 8 || (int64_t)ticks < counted)
		fail("fd 41 gives %llu expirations, but %lld had passed before READY",
		     (unsigned long long)ticks, (long long)counted);
	int64_t interval = 0;
	if (left_ns(41, &interval) <= 0 || interval != 10 * MS)
		fail("fd 41 is no longer periodic every 10 ms (interval %lld ns)", (long long)interval);

	SETUP(read(42, &ticks, 8) == 8); /* catch up: one or more expirations */
	int64_t caught = now_ns(CLOCK_MONOTONIC);
	ticks = 0;
	if (read(42, &ticks, 8) != 8 || ticks != 1)
		fail("fd 42: %llu expirations in one period", (unsigned long long)ticks);
	int64_t took = now_ns(CLOCK_MONOTONIC) - caught;
	if (took < 200 * MS || took > 400 * MS)
		fail("fd 42 (every 300 ms) expired %lld ms after the previous expiry",
		     (long long)(took / MS));

	int64_t left = left_ns(43, &interval);
	if (left < 2500 * MS || left > 4000 * MS || interval != 0)
		fail("fd 43 (4 s, relative) has %lld ms left (interval %lld): time on disk counted?",
		     (long long)(left / MS), (long long)interval);

	left = left_ns(44, NULL);
	int64_t ends = now_ns(CLOCK_REALTIME) + left;
	if (left <= 0 || ends < deadline - 50 * MS || ends > deadline + 50 * MS)
		fail("fd 44 (absolute) now ends %lld ms away from its deadline (%lld ms left)",
		     (long long)((ends - deadline) / MS), (long long)(left / MS));
	char info[512] = { 0 };
	int f = open("/proc/self/fdinfo/44", O_RDONLY);
	SETUP(f >= 0 && read(f, info, sizeof(info) - 1) > 0);
	close(f);
	if (!strstr(info, "settime flags: 03"))
		fail("fd 44 lost TFD_TIMER_ABSTIME or TFD_TIMER_CANCEL_ON_SET:\n%s", info);
	if (!strstr(info, "clockid: 0"))
		fail("fd 44 is not on CLOCK_REALTIME:\n%s", info);
	f = open("/proc/self/fdinfo/43", O_RDONLY);
	memset(info, 0, sizeof(info));
	SETUP(f >= 0 && read(f, info, sizeof(info) - 1) > 0);
	close(f);
	if (!strstr(info, "clockid: 7"))
		fail("fd 43 is not on CLOCK_BOOTTIME:\n%s", info);

	if (left_ns(45, &interval) != 0 || interval != 0)
		fail("fd 45 (never armed) is armed");
	return finish();
}
