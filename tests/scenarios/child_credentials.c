/* Credentials are per process: the parent stays root while its child drops to
 * other uids and gids (real, effective, saved differ) and supplementary
 * groups. After restore each checks its own, and the child still cannot get
 * root back. */
#define _GNU_SOURCE
#include "scenario.h"
#include <grp.h>
#include <sys/wait.h>

static void check_ids(const char *who, uid_t r, uid_t e, uid_t s, gid_t rg, gid_t eg, gid_t sg)
{
	uid_t ur, ue, us;
	gid_t gr, ge, gs;
	getresuid(&ur, &ue, &us);
	getresgid(&gr, &ge, &gs);
	if (ur != r || ue != e || us != s)
		fail("%s: uids %d/%d/%d, expected %d/%d/%d", who, ur, ue, us, r, e, s);
	if (gr != rg || ge != eg || gs != sg)
		fail("%s: gids %d/%d/%d, expected %d/%d/%d", who, gr, ge, gs, rg, eg, sg);
}

int main(void)
{
	int sync[2];
	SETUP(pipe(sync) == 0);
	pid_t child = fork();
	SETUP(child >= 0);
	if (child == 0) {
		gid_t groups[] = { 2001, 2002 };
		SETUP(setgroups(2, groups) == 0);
		SETUP(setresgid(1100, 1101, 1102) == 0);
		SETUP(setresuid(1000, 1001, 1002) == 0);
		SETUP(write(sync[1], "c", 1) == 1);
		wait_for_go();
		check_ids("child", 1000, 1001, 1002, 1100, 1101, 1102);
		gid_t got[8];
		int n = getgroups(8, got);
		if (n != 2 || got[0] != 2001 || got[1] != 2002)
			fail("child: %d supplementary groups, expected 2001 2002", n);
		if (setuid(0) == 0)
			fail("child: got root back with setuid(0)");
		/* The parent reports PASS for both, from our exit code. */
		return scenario_failures ? 1 : 0;
	}
	char c;
	SETUP(read(sync[0], &c, 1) == 1);
	ready();
	wait_for_go();
	check_ids("parent", 0, 0, 0, 0, 0, 0);
	int status;
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail("child ended with status %#x", status);
	return finish();
}
