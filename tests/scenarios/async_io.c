/* Signal-driven I/O survives a checkpoint: pipes' read ends with O_ASYNC, a
 * real-time signal (F_SETSIG) and a thread as owner (F_SETOWN_EX F_OWNER_TID:
 * the main thread for one pipe, a second thread for another) must still
 * deliver that signal, with si_fd, to that thread when the pipe is written to
 * after restore; a regular file opened with O_ASYNC keeps it, with a
 * process-group owner and SIGUSR2; a pipe's write end keeps a process owner
 * set with plain F_SETOWN and no O_ASYNC. */
#include "scenario.h"
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>

static volatile sig_atomic_t got, got_fd = -1, got_code, got_tid;
static volatile pid_t worker_tid;

static void on_io(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	got++;
	got_fd = si->si_fd;
	got_code = si->si_code;
	got_tid = (pid_t)syscall(SYS_gettid);
}

/* A second thread, owner of another pipe's signals (F_OWNER_TID): it only
 * exists again after restore once threads are recreated, after the files. */
static void *worker(void *arg)
{
	(void)arg;
	worker_tid = (pid_t)syscall(SYS_gettid);
	for (;;)
		usleep(10000);
	return NULL;
}

/* Writes to `w` and waits for one signal; returns 0 if it came for fd `r` to thread `tid`. */
static int signal_arrives(const char *what, int w, int r, pid_t tid)
{
	got = 0;
	got_fd = -1;
	got_tid = 0;
	if (write(w, "y", 1) != 1)
		return fail("%s: write: %s", what, strerror(errno));
	for (int i = 0; i < 3000 && !got; i++)
		usleep(1000);
	if (got != 1)
		return fail("%s: writing to the pipe delivered %d signals, expected 1", what, (int)got);
	if (got_fd != r)
		return fail("%s: the signal names fd %d, expected %d", what, (int)got_fd, r);
	if (got_code != POLL_IN)
		return fail("%s: the signal's si_code is %d, expected POLL_IN", what, (int)got_code);
	if (got_tid != tid)
		return fail("%s: thread %d got the signal, expected %d", what, (int)got_tid, tid);
	char c;
	if (read(r, &c, 1) != 1)
		return fail("%s: read: %s", what, strerror(errno));
	return 0;
}

static void expect_owner(const char *what, int fd, int type, pid_t id, int sig, int async)
{
	struct f_owner_ex owner;
	if (fcntl(fd, F_GETOWN_EX, &owner) != 0) {
		fail("%s: F_GETOWN_EX: %s", what, strerror(errno));
		return;
	}
	if (owner.type != type || owner.pid != id)
		fail("%s: owner type %d id %d, expected type %d id %d", what, owner.type, owner.pid, type, id);
	int s = fcntl(fd, F_GETSIG);
	if (s != sig)
		fail("%s: F_GETSIG %d, expected %d", what, s, sig);
	int fl = fcntl(fd, F_GETFL);
	if (!!(fl & O_ASYNC) != async)
		fail("%s: O_ASYNC is %s", what, fl & O_ASYNC ? "set" : "not set");
}

int main(void)
{
	int sig = SIGRTMIN + 1;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_io;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	SETUP(sigaction(sig, &sa, NULL) == 0);

	int p[2];
	SETUP(pipe2(p, O_NONBLOCK) == 0);
	pid_t tid = (pid_t)syscall(SYS_gettid);
	struct f_owner_ex owner = { .type = F_OWNER_TID, .pid = tid };
	SETUP(fcntl(p[0], F_SETOWN_EX, &owner) == 0);
	SETUP(fcntl(p[0], F_SETSIG, sig) == 0);
	SETUP(fcntl(p[0], F_SETFL, O_NONBLOCK | O_ASYNC) == 0);
	/* The setup works before the checkpoint. */
	SETUP(write(p[1], "x", 1) == 1);
	for (int i = 0; i < 2000 && !got; i++)
		usleep(1000);
	SETUP(got == 1 && got_fd == p[0]);
	char c;
	SETUP(read(p[0], &c, 1) == 1);
	SETUP(fcntl(p[1], F_SETOWN, getpid()) == 0);

	/* open(2) keeps O_ASYNC in the flags (F_SETFL could not set it on a
	 * regular file, which has no fasync operation). */
	pthread_t thread;
	SETUP(pthread_create(&thread, NULL, worker, NULL) == 0);
	while (!worker_tid)
		usleep(1000);
	int q[2];
	SETUP(pipe2(q, O_NONBLOCK) == 0);
	struct f_owner_ex thread_owner = { .type = F_OWNER_TID, .pid = worker_tid };
	SETUP(fcntl(q[0], F_SETOWN_EX, &thread_owner) == 0);
	SETUP(fcntl(q[0], F_SETSIG, sig) == 0);
	SETUP(fcntl(q[0], F_SETFL, O_NONBLOCK | O_ASYNC) == 0);
	SETUP(signal_arrives("before: pipe owned by a thread", q[1], q[0], worker_tid) == 0);

	int f = open("async.txt", O_RDWR | O_CREAT | O_TRUNC | O_ASYNC, 0644);
	SETUP(f >= 0);
	SETUP(fcntl(f, F_GETFL) & O_ASYNC);
	struct f_owner_ex group = { .type = F_OWNER_PGRP, .pid = getpgrp() };
	SETUP(fcntl(f, F_SETOWN_EX, &group) == 0);
	SETUP(fcntl(f, F_SETSIG, SIGUSR2) == 0);
	got = 0;

	ready();
	wait_for_go();

	expect_owner("pipe read end", p[0], F_OWNER_TID, tid, sig, 1);
	expect_owner("pipe write end", p[1], F_OWNER_PID, getpid(), 0, 0);
	expect_owner("async.txt", f, F_OWNER_PGRP, getpgrp(), SIGUSR2, 1);
	if (fcntl(p[0], F_GETFL) & O_NONBLOCK ? 0 : 1)
		fail("pipe read end lost O_NONBLOCK");
	if (got)
		fail("%d signals arrived before the pipe was written to", (int)got);
	expect_owner("pipe owned by a thread", q[0], F_OWNER_TID, worker_tid, sig, 1);
	signal_arrives("pipe owned by the main thread", p[1], p[0], tid);
	signal_arrives("pipe owned by a thread", q[1], q[0], worker_tid);
	return finish();
}
