/* signalfds keep their mask and flags, and read the signals that were
 * pending when the process was dumped:
 *
 *   fd 40  SIGUSR1 and SIGRTMIN+1, non-blocking; both signals are blocked
 *          and sent (SIGRTMIN+1 with sigqueue value 4242) before READY
 *   fd 41  SIGUSR2 only, blocking; nothing pending
 *
 * After go: fd 40 gives SIGUSR1, then SIGRTMIN+1 with its value, then
 * EAGAIN; fd 41 has nothing to read until SIGUSR2 is sent, and then reads it
 * (so its mask is SIGUSR2 and not empty or everything). */
#include "scenario.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>

static int readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

int main(void)
{
	sigset_t all, one, two;
	sigemptyset(&all);
	sigaddset(&all, SIGUSR1);
	sigaddset(&all, SIGUSR2);
	sigaddset(&all, SIGRTMIN + 1);
	SETUP(sigprocmask(SIG_BLOCK, &all, NULL) == 0);
	sigemptyset(&one);
	sigaddset(&one, SIGUSR1);
	sigaddset(&one, SIGRTMIN + 1);
	sigemptyset(&two);
	sigaddset(&two, SIGUSR2);
	int a = signalfd(-1, &one, SFD_NONBLOCK);
	int b = signalfd(-1, &two, 0);
	SETUP(a >= 0 && b >= 0);
	SETUP(dup2(a, 40) == 40 && dup2(b, 41) == 41);
	close(a);
	close(b);
	SETUP(kill(getpid(), SIGUSR1) == 0);
	SETUP(sigqueue(getpid(), SIGRTMIN + 1, (union sigval){ .sival_int = 4242 }) == 0);
	ready();
	wait_for_go();

	if (!(fcntl(40, F_GETFL) & O_NONBLOCK))
		fail("fd 40 lost O_NONBLOCK");
	if (fcntl(41, F_GETFL) & O_NONBLOCK)
		fail("fd 41 became non-blocking");
	if (readable(41))
		fail("fd 41 (SIGUSR2 only) is readable before SIGUSR2 was sent");
	struct signalfd_siginfo si;
	memset(&si, 0, sizeof(si));
	if (read(40, &si, sizeof(si)) != sizeof(si) || si.ssi_signo != SIGUSR1)
		fail("fd 40 did not give the pending SIGUSR1 (got signal %u, errno %d)", si.ssi_signo,
		     errno);
	memset(&si, 0, sizeof(si));
	if (read(40, &si, sizeof(si)) != sizeof(si) || si.ssi_signo != (unsigned)SIGRTMIN + 1 ||
	    si.ssi_int != 4242)
		fail("fd 40 did not give SIGRTMIN+1 with value 4242 (got signal %u value %d)",
		     si.ssi_signo, si.ssi_int);
	if (read(40, &si, sizeof(si)) != -1 || errno != EAGAIN)
		fail("fd 40 still had something to read, or did not fail with EAGAIN");
	SETUP(kill(getpid(), SIGUSR2) == 0);
	memset(&si, 0, sizeof(si));
	if (!readable(41) || read(41, &si, sizeof(si)) != sizeof(si) || si.ssi_signo != SIGUSR2)
		fail("fd 41 did not read SIGUSR2 (got %u)", si.ssi_signo);
	return finish();
}
