/* POSIX timers survive with their ids: a periodic CLOCK_MONOTONIC timer
 * signalling SIGRTMIN with a payload keeps firing after restore with the same
 * interval, a timer aimed at one thread (SIGEV_THREAD_ID) is still armed, and a
 * SIGEV_NONE timer keeps its remaining time. */
#include "scenario.h"
#include <signal.h>
#include <sys/syscall.h>

static volatile sig_atomic_t ticks, bad_value;

static void on_tick(int sig, siginfo_t *info, void *ctx)
{
	(void)sig;
	(void)ctx;
	if (info->si_value.sival_int != 77)
		bad_value = 1;
	ticks++;
}

int main(void)
{
	struct sigaction sa = { .sa_sigaction = on_tick, .sa_flags = SA_SIGINFO | SA_RESTART };
	SETUP(sigaction(SIGRTMIN, &sa, NULL) == 0);
	struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN };
	ev.sigev_value.sival_int = 77;
	timer_t periodic, to_thread, silent;
	SETUP(timer_create(CLOCK_MONOTONIC, &ev, &periodic) == 0);
	struct sigevent ev2 = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGUSR2 };
	ev2._sigev_un._tid = (pid_t)syscall(SYS_gettid);
	SETUP(timer_create(CLOCK_REALTIME, &ev2, &to_thread) == 0);
	struct sigevent ev3 = { .sigev_notify = SIGEV_NONE };
	SETUP(timer_create(CLOCK_BOOTTIME, &ev3, &silent) == 0);

	struct itimerspec every = { .it_interval = { 0, 200000000 }, .it_value = { 1, 0 } };
	SETUP(timer_settime(periodic, 0, &every, NULL) == 0);
	struct itimerspec later = { .it_interval = { 0, 0 }, .it_value = { 100, 0 } };
	SETUP(timer_settime(to_thread, 0, &later, NULL) == 0);
	struct itimerspec silent_spec = { .it_interval = { 3, 0 }, .it_value = { 50, 0 } };
	SETUP(timer_settime(silent, 0, &silent_spec, NULL) == 0);
	ready();
	wait_for_go();

	struct itimerspec now;
	if (timer_gettime(periodic, &now) != 0)
		fail("timer %ld is gone: %s", (long)(intptr_t)periodic, strerror(errno));
	else if (now.it_interval.tv_sec != 0 || now.it_interval.tv_nsec != 200000000)
		fail("periodic interval is %ld.%09ld", (long)now.it_interval.tv_sec, now.it_interval.tv_nsec);
	if (timer_gettime(to_thread, &now) != 0)
		fail("thread timer is gone: %s", strerror(errno));
	else if (now.it_value.tv_sec == 0 || now.it_value.tv_sec > 100)
		fail("thread timer has %ld s left, expected armed and <= 100", (long)now.it_value.tv_sec);
	if (timer_gettime(silent, &now) != 0)
		fail("SIGEV_NONE timer is gone: %s", strerror(errno));
	else if (now.it_interval.tv_sec != 3 || now.it_value.tv_sec > 50 || now.it_value.tv_sec < 40)
		fail("SIGEV_NONE timer: interval %ld s, %ld s left", (long)now.it_interval.tv_sec,
		     (long)now.it_value.tv_sec);
	int before = ticks;
	int64_t deadline = now_ns(CLOCK_MONOTONIC) + 10LL * 1000000000;
	while (ticks < before + 5 && now_ns(CLOCK_MONOTONIC) < deadline)
		usleep(10000);
	if (ticks < before + 5)
		fail("only %d ticks of the periodic timer after restore", ticks - before);
	if (bad_value)
		fail("a tick arrived without its payload 77");
	return finish();
}
