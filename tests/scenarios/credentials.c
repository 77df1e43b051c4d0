/* Credentials survive a checkpoint: the program starts as root, sets
 * supplementary groups, then real/effective/saved gids and uids that all
 * differ (1000/1001/1002), which also drops its capabilities. After restore
 * every id, the fs ids, the groups, the capability sets and the securebits
 * must be the same. The harness made the working directory searchable. */
#include "scenario.h"
#include <fcntl.h>
#include <grp.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>

/* The Cap* lines of /proc/self/status, concatenated. */
static void read_caps(char *out, size_t cap)
{
	char buf[8192];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	SETUP(fd >= 0);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	SETUP(n > 0);
	buf[n] = 0;
	size_t len = 0;
	out[0] = 0;
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
		if (strncmp(line, "Cap", 3) == 0 && len + strlen(line) + 3 < cap)
			len += (size_t)snprintf(out + len, cap - len, "%s; ", line);
}

int main(void)
{
	const gid_t groups[] = { 1000, 1003, 1004 };
	SETUP(setgroups(3, groups) == 0);
	SETUP(setresgid(1000, 1001, 1002) == 0);
	SETUP(setresuid(1000, 1001, 1002) == 0);

	char caps_before[1024];
	read_caps(caps_before, sizeof(caps_before));
	int securebits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);

	ready();
	wait_for_go();

	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	getresuid(&ru, &eu, &su);
	getresgid(&rg, &eg, &sg);
	if (ru != 1000 || eu != 1001 || su != 1002)
		fail("uids (real, effective, saved) are %u %u %u, expected 1000 1001 1002", ru, eu, su);
	if (rg != 1000 || eg != 1001 || sg != 1002)
		fail("gids (real, effective, saved) are %u %u %u, expected 1000 1001 1002", rg, eg, sg);
	/* setfsuid(-1) changes nothing and returns the current value */
	int fsuid = setfsuid((uid_t)-1), fsgid = setfsgid((gid_t)-1);
	if (fsuid != 1001 || fsgid != 1001)
		fail("fsuid/fsgid are %d/%d, expected 1001/1001", fsuid, fsgid);
	gid_t now[64];
	int n = getgroups(64, now);
	if (n != 3 || now[0] != 1000 || now[1] != 1003 || now[2] != 1004)
		fail("supplementary groups are %d entries (%u %u %u...), expected 1000 1003 1004", n,
		     n > 0 ? now[0] : 0, n > 1 ? now[1] : 0, n > 2 ? now[2] : 0);
	char caps_after[1024];
	read_caps(caps_after, sizeof(caps_after));
	if (strcmp(caps_before, caps_after) != 0)
		fail("capabilities are \"%s\", expected \"%s\"", caps_after, caps_before);
	int sb = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
	if (sb != securebits)
		fail("securebits are %#x, expected %#x", sb, securebits);
	return finish();
}
