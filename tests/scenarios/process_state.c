/* Per-process state survives a checkpoint: working directory, umask, every
 * rlimit (RLIMIT_NOFILE and RLIMIT_CORE changed), the command name,
 * personality, parent-death signal, no_new_privs, dumpable, and the session
 * and process group. The program works in a subdirectory, so it waits for
 * ../go. */
#include "scenario.h"
#include <signal.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

int main(void)
{
	char sub[4096];
	SETUP(mkdir("sub", 0755) == 0);
	SETUP(chdir("sub") == 0);
	SETUP(getcwd(sub, sizeof(sub)));

	umask(027);

	struct rlimit nofile, core;
	SETUP(getrlimit(RLIMIT_NOFILE, &nofile) == 0);
	nofile.rlim_cur = 200;
	SETUP(setrlimit(RLIMIT_NOFILE, &nofile) == 0);
	core.rlim_cur = 4096 * 10;
	core.rlim_max = 4096 * 1000; /* lowering a hard limit needs no privilege */
	SETUP(setrlimit(RLIMIT_CORE, &core) == 0);
	struct rlimit limits[RLIM_NLIMITS];
	for (int r = 0; r < RLIM_NLIMITS; r++)
		SETUP(getrlimit(r, &limits[r]) == 0);

	const char *name = "stasis-state";
	SETUP(prctl(PR_SET_NAME, name, 0, 0, 0) == 0);
	/* ADDR_NO_RANDOMIZE takes effect at the next exec only; we compare it. */
	SETUP(personality(PER_LINUX | ADDR_NO_RANDOMIZE) != -1);
	int persona = personality(0xffffffff);
	/* SIGWINCH is ignored by default: a parent-death signal sent when the
	 * process that restored us exits must not kill us. */
	SETUP(prctl(PR_SET_PDEATHSIG, SIGWINCH, 0, 0, 0) == 0);
	SETUP(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
	SETUP(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0);

	pid_t pid = getpid();
	SETUP(getsid(0) == pid && getpgrp() == pid);

	ready();
	wait_for_file("../go");

	char cwd[4096];
	if (!getcwd(cwd, sizeof(cwd)))
		fail("getcwd failed: %s", strerror(errno));
	else if (strcmp(cwd, sub) != 0)
		fail("cwd is \"%s\", expected \"%s\"", cwd, sub);
	mode_t mask = umask(0);
	if (mask != 027)
		fail("umask is %#o, expected 027", mask);
	for (int r = 0; r < RLIM_NLIMITS; r++) {
		struct rlimit now;
		if (getrlimit(r, &now) != 0)
			fail("getrlimit(%d) failed", r);
		else if (now.rlim_cur != limits[r].rlim_cur || now.rlim_max != limits[r].rlim_max)
			fail("rlimit %d is %llu/%llu, expected %llu/%llu", r,
			     (unsigned long long)now.rlim_cur, (unsigned long long)now.rlim_max,
			     (unsigned long long)limits[r].rlim_cur, (unsigned long long)limits[r].rlim_max);
	}
	char comm[17] = { 0 };
	prctl(PR_GET_NAME, comm, 0, 0, 0);
	if (strcmp(comm, name) != 0)
		fail("comm is \"%s\", expected \"%s\"", comm, name);
	int p = personality(0xffffffff);
	if (p != persona)
		fail("personality is %#x, expected %#x", p, persona);
	int sig = -1;
	prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0);
	if (sig != SIGWINCH)
		fail("parent-death signal is %d, expected %d (SIGWINCH)", sig, SIGWINCH);
	int nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
	if (nnp != 1)
		fail("no_new_privs is %d, expected 1", nnp);
	int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	if (dumpable != 0)
		fail("dumpable is %d, expected 0", dumpable);
	if (getpid() != pid)
		fail("pid is %d, expected %d", getpid(), pid);
	if (getsid(0) != pid)
		fail("session id is %d, expected %d", getsid(0), pid);
	if (getpgrp() != pid)
		fail("process group is %d, expected %d", getpgrp(), pid);
	return finish();
}
