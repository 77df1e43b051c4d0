/* Signal state survives a checkpoint: every disposition (handler, flags,
 * mask, restorer), the blocked mask, and pending signals, both thread-directed
 * (raise, pthread_sigqueue) and process-wide (kill, sigqueue), including
 * queued real-time signals with their payloads. After the checks the program
 * unblocks everything and verifies each handler runs with the right siginfo. */
#include "scenario.h"
#include <pthread.h>
#include <signal.h>

#define MAXSIG 65

struct delivery {
	int signo, code;
	pid_t pid;
	union sigval value;
};
static struct delivery deliveries[64];
static volatile int ndeliveries;
static int marker; /* its address travels as a sival_ptr */

static void on_info(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	int i = ndeliveries;
	if (i < 64) {
		deliveries[i].signo = sig;
		deliveries[i].code = si->si_code;
		deliveries[i].pid = si->si_pid;
		deliveries[i].value = si->si_value;
	}
	ndeliveries = i + 1;
}

static void on_plain(int sig)
{
	int i = ndeliveries;
	if (i < 64) {
		deliveries[i].signo = sig;
		deliveries[i].code = -1000;
	}
	ndeliveries = i + 1;
}

static void set_action(int sig, int info, int flags, const int *mask_sigs)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	if (info)
		sa.sa_sigaction = on_info;
	else
		sa.sa_handler = on_plain;
	sa.sa_flags = flags | (info ? SA_SIGINFO : 0);
	sigemptyset(&sa.sa_mask);
	for (const int *s = mask_sigs; s && *s; s++)
		sigaddset(&sa.sa_mask, *s);
	SETUP(sigaction(sig, &sa, NULL) == 0);
}

struct disposition {
	int rc;
	struct sigaction sa;
};

static void read_dispositions(struct disposition *d)
{
	for (int s = 1; s < MAXSIG; s++) {
		memset(&d[s].sa, 0, sizeof(d[s].sa));
		d[s].rc = sigaction(s, NULL, &d[s].sa);
	}
}

static void set_to_text(const sigset_t *set, char *buf, size_t cap)
{
	size_t n = 0;
	buf[0] = 0;
	for (int s = 1; s < MAXSIG && n + 8 < cap; s++)
		if (sigismember(set, s) == 1)
			n += (size_t)snprintf(buf + n, cap - n, "%d ", s);
}

static int sets_equal(const sigset_t *a, const sigset_t *b)
{
	for (int s = 1; s < MAXSIG; s++)
		if (sigismember(a, s) != sigismember(b, s))
			return 0;
	return 1;
}

static void expect_set(const char *what, const sigset_t *got, const sigset_t *want)
{
	if (!sets_equal(got, want)) {
		char g[300], w[300];
		set_to_text(got, g, sizeof(g));
		set_to_text(want, w, sizeof(w));
		fail("%s is { %s}, expected { %s}", what, g, w);
	}
}

static int count_of(int signo)
{
	int c = 0;
	for (int i = 0; i < ndeliveries && i < 64; i++)
		c += deliveries[i].signo == signo;
	return c;
}

static const struct delivery *nth_of(int signo, int nth)
{
	for (int i = 0; i < ndeliveries && i < 64; i++)
		if (deliveries[i].signo == signo && nth-- == 0)
			return &deliveries[i];
	return NULL;
}

static void expect_delivery(int signo, int nth, int code, int check_value, union sigval value)
{
	const struct delivery *d = nth_of(signo, nth);
	if (!d) {
		fail("signal %d (instance %d) was not delivered", signo, nth + 1);
		return;
	}
	if (d->code != code)
		fail("signal %d: si_code %d, expected %d", signo, d->code, code);
	if (code != -1000 && d->pid != getpid())
		fail("signal %d: si_pid %d, expected %d", signo, d->pid, getpid());
	if (check_value && d->value.sival_ptr != value.sival_ptr)
		fail("signal %d (instance %d): si_value %p, expected %p", signo, nth + 1,
		     d->value.sival_ptr, value.sival_ptr);
}

int main(void)
{
	const int RT1 = SIGRTMIN + 1, RT2 = SIGRTMIN + 2, RT3 = SIGRTMIN + 3;

	set_action(SIGUSR1, 1, SA_RESTART, (int[]){ SIGTERM, SIGUSR2, 0 });
	set_action(SIGUSR2, 1, 0, (int[]){ SIGHUP, 0 });
	set_action(SIGTERM, 0, SA_RESTART | SA_NODEFER | SA_RESETHAND, NULL);
	set_action(SIGALRM, 0, 0, (int[]){ SIGINT, SIGQUIT, SIGRTMIN + 5, 0 });
	set_action(SIGWINCH, 1, SA_RESTART, NULL);
	set_action(RT1, 1, 0, NULL);
	set_action(RT2, 1, 0, (int[]){ SIGUSR1, 0 });
	set_action(RT3, 1, SA_RESTART, NULL);
	SETUP(signal(SIGHUP, SIG_IGN) != SIG_ERR);

	sigset_t blocked;
	sigemptyset(&blocked);
	for (const int *s = (int[]){ SIGUSR2, SIGINT, SIGWINCH, RT1, RT2, RT3, SIGRTMAX, 0 }; *s; s++)
		sigaddset(&blocked, *s);
	SETUP(sigprocmask(SIG_SETMASK, &blocked, NULL) == 0);

	/* Pending, thread-directed. */
	SETUP(raise(SIGUSR2) == 0);
	SETUP(pthread_sigqueue(pthread_self(), RT3, (union sigval){ .sival_ptr = &marker }) == 0);
	/* Pending, process-wide. */
	SETUP(kill(getpid(), SIGWINCH) == 0);
	SETUP(sigqueue(getpid(), RT1, (union sigval){ .sival_int = 0x5eed01 }) == 0);
	SETUP(sigqueue(getpid(), RT2, (union sigval){ .sival_int = 11 }) == 0);
	SETUP(sigqueue(getpid(), RT2, (union sigval){ .sival_int = 22 }) == 0);

	sigset_t want_pending;
	sigemptyset(&want_pending);
	for (const int *s = (int[]){ SIGUSR2, SIGWINCH, RT1, RT2, RT3, 0 }; *s; s++)
		sigaddset(&want_pending, *s);
	sigset_t pending;
	SETUP(sigpending(&pending) == 0);
	SETUP(sets_equal(&pending, &want_pending));

	static struct disposition before[MAXSIG], after[MAXSIG];
	read_dispositions(before);

	ready();
	wait_for_go();

	read_dispositions(after);
	for (int s = 1; s < MAXSIG; s++) {
		struct sigaction *b = &before[s].sa, *a = &after[s].sa;
		if (before[s].rc != after[s].rc) {
			fail("sigaction(%d) returned %d, before %d", s, after[s].rc, before[s].rc);
			continue;
		}
		if (before[s].rc != 0)
			continue;
		if ((void *)a->sa_sigaction != (void *)b->sa_sigaction)
			fail("signal %d: handler %p, expected %p", s, (void *)a->sa_sigaction,
			     (void *)b->sa_sigaction);
		if (a->sa_flags != b->sa_flags)
			fail("signal %d: sa_flags %#x, expected %#x", s, a->sa_flags, b->sa_flags);
		if ((void *)a->sa_restorer != (void *)b->sa_restorer)
			fail("signal %d: sa_restorer %p, expected %p", s, (void *)a->sa_restorer,
			     (void *)b->sa_restorer);
		char what[48];
		snprintf(what, sizeof(what), "signal %d: sa_mask", s);
		expect_set(what, &a->sa_mask, &b->sa_mask);
	}

	sigset_t now_blocked;
	sigprocmask(SIG_BLOCK, NULL, &now_blocked);
	expect_set("the blocked mask", &now_blocked, &blocked);
	sigpending(&pending);
	expect_set("the pending set", &pending, &want_pending);
	if (ndeliveries != 0)
		fail("%d signal(s) were delivered while blocked", ndeliveries);

	/* Deliver everything that is pending. */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	union sigval nov = { 0 };
	expect_delivery(SIGUSR2, 0, SI_TKILL, 0, nov);
	expect_delivery(SIGWINCH, 0, SI_USER, 0, nov);
	expect_delivery(RT1, 0, SI_QUEUE, 1, (union sigval){ .sival_int = 0x5eed01 });
	expect_delivery(RT2, 0, SI_QUEUE, 1, (union sigval){ .sival_int = 11 });
	expect_delivery(RT2, 1, SI_QUEUE, 1, (union sigval){ .sival_int = 22 });
	expect_delivery(RT3, 0, SI_QUEUE, 1, (union sigval){ .sival_ptr = &marker });
	const int counts[][2] = { { SIGUSR2, 1 }, { SIGWINCH, 1 }, { RT1, 1 }, { RT2, 2 }, { RT3, 1 } };
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		if (count_of(counts[i][0]) != counts[i][1])
			fail("signal %d was delivered %d times, expected %d", counts[i][0],
			     count_of(counts[i][0]), counts[i][1]);

	/* Handlers installed before the checkpoint still run. */
	raise(SIGUSR1);
	expect_delivery(SIGUSR1, 0, SI_TKILL, 0, nov);
	raise(SIGTERM); /* SA_RESETHAND: runs once, then the default comes back */
	expect_delivery(SIGTERM, 0, -1000, 0, nov);
	struct sigaction term;
	sigaction(SIGTERM, NULL, &term);
	if (term.sa_handler != SIG_DFL)
		fail("SIGTERM handler was not reset after delivery (SA_RESETHAND lost)");

	sigpending(&pending);
	sigemptyset(&none);
	expect_set("the pending set after delivery", &pending, &none);
	return finish();
}
