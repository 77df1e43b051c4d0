/* A daemon made the classic way: the program X (a session leader, as the
 * harness starts it) forks D1, which leads a new process group and forks the
 * daemon D2, then exits; X exits too. D2's session (X) and group (D1) now
 * have no leader. D2 prints "DAEMON <pid> <sid> <pgid> <ppid>" and READY; the
 * harness dumps D2 alone, restores it, and D2 checks after go that its pid,
 * session, group and parent are what they were. */
#include "scenario.h"
#include <sys/wait.h>

int main(void)
{
	int sync[2];
	SETUP(pipe(sync) == 0);
	pid_t d1 = fork();
	SETUP(d1 >= 0);
	if (d1 == 0) {
		SETUP(setpgid(0, 0) == 0);
		pid_t d2 = fork();
		SETUP(d2 >= 0);
		if (d2 > 0)
			_exit(0);
		/* The daemon. Wait until both ancestors are gone. */
		close(sync[0]);
		while (getppid() == getpgid(0))
			usleep(1000);
		pid_t me = getpid(), sid = getsid(0), pgid = getpgid(0);
		usleep(100000);
		pid_t ppid = getppid();
		SETUP(write(sync[1], "d", 1) == 1);
		close(sync[1]);
		say("DAEMON %d %d %d %d\n", me, sid, pgid, ppid);
		ready();
		wait_for_go();
		if (getpid() != me)
			fail("pid %d, expected %d", getpid(), me);
		if (getsid(0) != sid)
			fail("session %d, expected %d", getsid(0), sid);
		if (getpgid(0) != pgid)
			fail("process group %d, expected %d", getpgid(0), pgid);
		if (getppid() != ppid)
			fail("parent %d, expected %d", getppid(), ppid);
		return finish();
	}
	close(sync[1]);
	int status;
	SETUP(waitpid(d1, &status, 0) == d1);
	char c;
	SETUP(read(sync[0], &c, 1) == 1);
	return 0;
}
