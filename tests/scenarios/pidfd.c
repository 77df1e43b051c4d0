/* pidfds of processes of the tree: the parent holds a pidfd of its child and
 * one of itself (non-blocking). After restore the child's pidfd still names
 * the child: pidfd_send_signal reaches it, poll reports its exit, and
 * waitid(P_PIDFD) collects its status. */
#include "scenario.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static volatile sig_atomic_t got_usr1;

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	SETUP(sigaction(SIGUSR1, &sa, NULL) == 0);
	pid_t child = fork();
	SETUP(child >= 0);
	if (child == 0) {
		while (!got_usr1)
			usleep(1000);
		_exit(42);
	}
	int child_fd = (int)syscall(SYS_pidfd_open, child, 0);
	int self_fd = (int)syscall(SYS_pidfd_open, getpid(), O_NONBLOCK);
	SETUP(child_fd >= 0 && self_fd >= 0);
	ready();
	wait_for_go();

	if (fcntl(self_fd, F_GETFL) < 0 || !(fcntl(self_fd, F_GETFL) & O_NONBLOCK))
		fail("our own pidfd lost O_NONBLOCK");
	struct pollfd p = { .fd = child_fd, .events = POLLIN };
	if (poll(&p, 1, 0) != 0)
		fail("the child's pidfd is readable before the child exited");
	if (syscall(SYS_pidfd_send_signal, child_fd, SIGUSR1, NULL, 0) != 0)
		fail("pidfd_send_signal: %s", strerror(errno));
	if (poll(&p, 1, 5000) != 1)
		fail("the child's pidfd did not report its exit");
	siginfo_t info = { 0 };
	if (waitid(P_PIDFD, (id_t)child_fd, &info, WEXITED) != 0)
		fail("waitid(P_PIDFD): %s", strerror(errno));
	else if (info.si_pid != child || info.si_status != 42)
		fail("waitid: pid %d status %d, expected %d and 42", info.si_pid, info.si_status,
		     child);
	return finish();
}
