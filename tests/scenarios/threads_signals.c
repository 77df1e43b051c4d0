/* Pending signals of a multi-threaded process survive a checkpoint, each in
 * the right queue:
 *
 *   - thread-directed, to thread A (which blocks them): SIGUSR1 by
 *     pthread_kill and SIGRTMIN+1 by pthread_sigqueue with value 42;
 *   - process-wide: SIGUSR2 by sigqueue(getpid(), value 7), blocked in every
 *     thread (main blocks it before creating A and B).
 *
 * Before READY and again after go, every thread checks its own sigpending()
 * (its own queue plus the process's): A sees SIGUSR1, SIGRTMIN+1 and SIGUSR2;
 * B and main see only SIGUSR2. Each checks its mask too, and that no handler
 * ran. Then A unblocks its two signals (both handlers must run in A, once,
 * SIGRTMIN+1 with si_value 42), and B unblocks SIGUSR2 (its handler runs in B,
 * once, with si_value 7). At the end nothing is pending anywhere.
 *
 * A and B wait in a usleep loop for main, which steps them through phases. */
#include "scenario.h"
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>

struct delivery {
	int signo, code, value;
	pid_t pid, tid;
};
static struct delivery deliveries[32];
static atomic_int ndeliveries;

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	int i = atomic_fetch_add(&ndeliveries, 1);
	if (i < 32)
		deliveries[i] = (struct delivery){ sig, si->si_code, si->si_value.sival_int,
						   si->si_pid, gettid() };
}

enum { MAIN, A, B, NT };
static const char *const names[NT] = { "main", "A", "B" };
static pid_t tids[NT];
static atomic_int phase;
static atomic_int done[NT]; /* the last phase each thread finished */
static int RT1;

static void set_to_text(const sigset_t *set, char *buf, size_t cap)
{
	size_t n = 0;
	buf[0] = 0;
	for (int s = 1; s <= SIGRTMAX && n + 8 < cap; s++)
		if (sigismember(set, s) == 1)
			n += (size_t)snprintf(buf + n, cap - n, "%d ", s);
}

static void make_set(sigset_t *set, const int *sigs)
{
	sigemptyset(set);
	for (; *sigs; sigs++)
		sigaddset(set, *sigs);
}

/* Compares a set with what it should be; before READY a difference is a
 * setup error, after go a failure. */
static void expect_set(int who, const char *what, const sigset_t *got, const int *want_sigs,
		       int setup)
{
	sigset_t want;
	make_set(&want, want_sigs);
	for (int s = 1; s <= SIGRTMAX; s++)
		if (sigismember(got, s) != sigismember(&want, s)) {
			char g[300], w[300];
			set_to_text(got, g, sizeof(g));
			set_to_text(&want, w, sizeof(w));
			if (setup) {
				say("SETUP FAILED: thread %s: %s is { %s}, expected { %s}\n",
				    names[who], what, g, w);
				exit(2);
			}
			fail("thread %s: %s is { %s}, expected { %s}", names[who], what, g, w);
			return;
		}
}

/* Checks the calling thread's pending set and mask. */
static void check_signal_state(int who, int setup)
{
	int usr2_only[] = { SIGUSR2, 0 };
	int of_a[] = { SIGUSR1, SIGUSR2, RT1, 0 };
	sigset_t pending, mask;
	sigpending(&pending);
	expect_set(who, "the pending set", &pending, who == A ? of_a : usr2_only, setup);
	pthread_sigmask(SIG_BLOCK, NULL, &mask);
	expect_set(who, "the signal mask", &mask, who == A ? of_a : usr2_only, setup);
}

static void wait_phase(int p)
{
	while (atomic_load(&phase) < p)
		usleep(1000);
}

static void finish_phase(int who, int p)
{
	atomic_store(&done[who], p);
}

/* Main waits (up to 10 s) for thread `who` to finish phase p. */
static void await(int who, int p)
{
	int64_t deadline = now_ns(CLOCK_MONOTONIC) + 10 * 1000000000ll;
	while (atomic_load(&done[who]) < p) {
		if (now_ns(CLOCK_MONOTONIC) >= deadline) {
			fail("thread %s did not finish phase %d within 10 s", names[who], p);
			return;
		}
		usleep(1000);
	}
}

static void unblock(const int *sigs)
{
	sigset_t set;
	make_set(&set, sigs);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

static void *thread_main(void *arg)
{
	int who = (int)(intptr_t)arg;
	tids[who] = gettid();
	if (who == A) {
		sigset_t set;
		make_set(&set, (int[]){ SIGUSR1, RT1, 0 });
		SETUP(pthread_sigmask(SIG_BLOCK, &set, NULL) == 0);
	}
	finish_phase(who, 1);
	wait_phase(2); /* main has queued the signals */
	check_signal_state(who, 1);
	finish_phase(who, 2);

	wait_phase(3); /* after go */
	if (gettid() != tids[who])
		fail("thread %s: gettid() is %d, expected %d", names[who], gettid(), tids[who]);
	check_signal_state(who, 0);
	finish_phase(who, 3);

	wait_phase(4);
	if (who == A)
		unblock((int[]){ SIGUSR1, RT1, 0 });
	finish_phase(who, 4);

	wait_phase(5);
	if (who == B)
		unblock((int[]){ SIGUSR2, 0 });
	finish_phase(who, 5);

	wait_phase(6);
	sigset_t pending;
	sigpending(&pending);
	expect_set(who, "the pending set at the end", &pending, (int[]){ 0 }, 0);
	return NULL;
}

static int count_of(int signo)
{
	int c = 0;
	for (int i = 0; i < atomic_load(&ndeliveries) && i < 32; i++)
		c += deliveries[i].signo == signo;
	return c;
}

static void expect_delivery(int signo, int code, int value, int who)
{
	int count = count_of(signo);
	if (count != 1) {
		fail("signal %d was delivered %d times, expected once", signo, count);
		return;
	}
	for (int i = 0; i < atomic_load(&ndeliveries) && i < 32; i++) {
		struct delivery *d = &deliveries[i];
		if (d->signo != signo)
			continue;
		if (d->code != code)
			fail("signal %d: si_code %d, expected %d", signo, d->code, code);
		if (d->pid != getpid())
			fail("signal %d: si_pid %d, expected %d", signo, d->pid, getpid());
		if (code == SI_QUEUE && d->value != value)
			fail("signal %d: si_value %d, expected %d", signo, d->value, value);
		if (d->tid != tids[who])
			fail("signal %d ran its handler in tid %d, expected thread %s (tid %d)",
			     signo, d->tid, names[who], tids[who]);
	}
}

int main(void)
{
	RT1 = SIGRTMIN + 1;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	SETUP(sigaction(SIGUSR1, &sa, NULL) == 0);
	SETUP(sigaction(SIGUSR2, &sa, NULL) == 0);
	SETUP(sigaction(RT1, &sa, NULL) == 0);

	/* Blocked in every thread: they inherit main's mask. */
	sigset_t usr2;
	make_set(&usr2, (int[]){ SIGUSR2, 0 });
	SETUP(sigprocmask(SIG_BLOCK, &usr2, NULL) == 0);
	tids[MAIN] = gettid();

	pthread_t threads[NT];
	for (int who = A; who < NT; who++)
		SETUP(pthread_create(&threads[who], NULL, thread_main, (void *)(intptr_t)who) == 0);
	for (int who = A; who < NT; who++)
		while (atomic_load(&done[who]) < 1)
			usleep(1000);

	SETUP(pthread_kill(threads[A], SIGUSR1) == 0);
	SETUP(pthread_sigqueue(threads[A], RT1, (union sigval){ .sival_int = 42 }) == 0);
	SETUP(sigqueue(getpid(), SIGUSR2, (union sigval){ .sival_int = 7 }) == 0);
	atomic_store(&phase, 2);
	check_signal_state(MAIN, 1);
	for (int who = A; who < NT; who++)
		while (atomic_load(&done[who]) < 2)
			usleep(1000);
	SETUP(atomic_load(&ndeliveries) == 0);

	ready();
	wait_for_go();

	if (gettid() != tids[MAIN])
		fail("main: gettid() is %d, expected %d", gettid(), tids[MAIN]);
	atomic_store(&phase, 3);
	check_signal_state(MAIN, 0);
	for (int who = A; who < NT; who++)
		await(who, 3);
	if (atomic_load(&ndeliveries) != 0)
		fail("%d signal(s) were delivered while blocked", atomic_load(&ndeliveries));

	/* A takes its own two. */
	atomic_store(&phase, 4);
	for (int who = A; who < NT; who++)
		await(who, 4);
	expect_delivery(SIGUSR1, SI_TKILL, 0, A);
	expect_delivery(RT1, SI_QUEUE, 42, A);
	if (count_of(SIGUSR2) != 0)
		fail("SIGUSR2 was delivered while blocked in every thread");

	/* B takes the process-wide one. */
	atomic_store(&phase, 5);
	for (int who = A; who < NT; who++)
		await(who, 5);
	expect_delivery(SIGUSR2, SI_QUEUE, 7, B);

	atomic_store(&phase, 6);
	for (int who = A; who < NT; who++) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 10;
		int r = pthread_timedjoin_np(threads[who], NULL, &until);
		if (r != 0)
			fail("joining thread %s: %s", names[who], strerror(r));
	}
	sigset_t pending;
	sigpending(&pending);
	expect_set(MAIN, "the pending set at the end", &pending, (int[]){ 0 }, 0);
	if (atomic_load(&ndeliveries) != 3)
		fail("%d signals were delivered, expected 3", atomic_load(&ndeliveries));
	return finish();
}
