/* Interval timers survive: ITIMER_REAL (SIGALRM) armed with an initial value and
 * an interval keeps firing after restore, with the same interval; an ITIMER_VIRTUAL
 * that was armed but has not fired is still armed with no more than it had left. */
#include "scenario.h"
#include <signal.h>
#include <sys/time.h>

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
	SETUP(sigaction(SIGALRM, &sa, NULL) == 0);
	struct itimerval real = { .it_interval = { 0, 200000 }, .it_value = { 1, 0 } };
	SETUP(setitimer(ITIMER_REAL, &real, NULL) == 0);
	/* A virtual timer that cannot fire while we sleep (it counts CPU time). */
	struct itimerval virt = { .it_interval = { 7, 0 }, .it_value = { 50, 0 } };
	SETUP(setitimer(ITIMER_VIRTUAL, &virt, NULL) == 0);
	ready();
	wait_for_go();

	struct itimerval now;
	SETUP(getitimer(ITIMER_REAL, &now) == 0);
	if (now.it_interval.tv_sec != 0 || now.it_interval.tv_usec != 200000)
		fail("ITIMER_REAL interval is %ld.%06ld s, expected 0.200000 s",
		     (long)now.it_interval.tv_sec, (long)now.it_interval.tv_usec);
	if (now.it_value.tv_sec == 0 && now.it_value.tv_usec == 0)
		fail("ITIMER_REAL is no longer armed");
	SETUP(getitimer(ITIMER_VIRTUAL, &now) == 0);
	if (now.it_interval.tv_sec != 7)
		fail("ITIMER_VIRTUAL interval is %ld s, expected 7 s", (long)now.it_interval.tv_sec);
	if (now.it_value.tv_sec > 50 || (now.it_value.tv_sec == 0 && now.it_value.tv_usec == 0))
		fail("ITIMER_VIRTUAL value is %ld.%06ld s, expected armed and <= 50 s",
		     (long)now.it_value.tv_sec, (long)now.it_value.tv_usec);

	/* The real timer must keep firing: 5 more alarms within 10 s. */
	int before = alarms;
	int64_t deadline = now_ns(CLOCK_MONOTONIC) + 10LL * 1000000000;
	while (alarms < before + 5 && now_ns(CLOCK_MONOTONIC) < deadline)
		usleep(10000);
	if (alarms < before + 5)
		fail("only %d SIGALRM after restore, expected at least 5", alarms - before);
	return finish();
}
