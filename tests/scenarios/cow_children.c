/* Memory shared copy-on-write after fork is not multiplied by a checkpoint:
 * a parent fills 128 MiB, forks 4 idle children, and after restore (or a dump
 * that leaves the tree running) they must still share those pages (each one's
 * Pss stays small). The contents
 * must be exact: each child's own writes, the parent's writes made after the
 * fork (which the children must not see), and a region the parent touched
 * only after the fork (zeros for the children). */
#include "scenario.h"
#include <fcntl.h>

/* A process whose 128 MiB were copied has a Pss of 128 MiB or more; shared by
 * all five it is about 26 MiB. The bound sits between the two, well above the
 * ideal: the same program run without any checkpoint, on this kernel, shows a
 * child's Pss anywhere from 26 to 67 MiB right after the fork (why is not
 * known; it is not stasis), so a tighter bound would fail at random. */
#define PSS_LIMIT_KB (96 * 1024)
#include <sys/mman.h>
#include <sys/wait.h>

#define BIG (128UL << 20)
#define CHILDREN 4
#define OWN (1UL << 20)

/* Proportional set size: pages shared by n processes count 1/n. A copy of
 * the shared memory in this process shows up here (Private_Dirty may not see a
 * clean copy made by the kernel). */
static long pss_kb(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	if (!f)
		return -1;
	char line[256];
	long kb = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Pss: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

int main(void)
{
	uint8_t *big = mmap(NULL, BIG + OWN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	SETUP(big != MAP_FAILED);
	fill_pattern(big, BIG, 11);
	uint8_t *late = big + BIG; /* touched by the parent only after the fork */
	int ready_pipe[2];
	SETUP(pipe(ready_pipe) == 0);
	pid_t kids[CHILDREN];
	for (int i = 0; i < CHILDREN; i++) {
		kids[i] = fork();
		SETUP(kids[i] >= 0);
		if (kids[i] == 0) {
			uint8_t *mine = big + (uint64_t)i * 8 * OWN;
			fill_pattern(mine, OWN, 100 + (uint64_t)i);
			(void)!write(ready_pipe[1], "k", 1);
			wait_for_go();
			int bad = 0;
			if (check_pattern(mine, OWN, 100 + (uint64_t)i) >= 0)
				bad |= fail("child %d: its own writes changed", i);
			for (uint64_t off = 0; off < BIG; off += 4096) {
				if (off >= (uint64_t)i * 8 * OWN && off < (uint64_t)i * 8 * OWN + OWN)
					continue;
				if (big[off] != pattern_byte(11, off) || big[off + 4095] != pattern_byte(11, off + 4095)) {
					bad |= fail("child %d: inherited page at +%lu differs", i, (unsigned long)off);
					break;
				}
			}
			for (uint64_t off = 0; off < OWN; off += 4096)
				if (late[off] != 0) {
					bad |= fail("child %d: sees the parent's post-fork page at late+%lu", i,
						    (unsigned long)off);
					break;
				}
			long kb = pss_kb();
			if (kb < 0 || kb > PSS_LIMIT_KB)
				bad |= fail("child %d: Pss is %ld kB: the 128 MiB it shares with its parent were copied",
					    i, kb);
			/* Stay until the parent has measured too: the fewer the
			 * sharers, the higher everyone's Pss. */
			wait_for_file("done");
			_exit(bad ? 1 : 0);
		}
	}
	char c;
	for (int i = 0; i < CHILDREN; i++)
		SETUP(read(ready_pipe[0], &c, 1) == 1);
	/* After the fork: the parent rewrites a region and touches a new one. */
	fill_pattern(big + 40 * OWN, OWN, 77);
	memset(late, 0xab, OWN);
	ready();
	wait_for_go();
	if (check_pattern(big + 40 * OWN, OWN, 77) >= 0)
		fail("parent: its post-fork writes changed");
	if (late[0] != 0xab || late[OWN - 1] != 0xab)
		fail("parent: its post-fork region changed");
	long kb = pss_kb();
	if (kb < 0 || kb > PSS_LIMIT_KB)
		fail("parent: Pss is %ld kB: the memory it shares with its children was copied", kb);
	int done = open("done", O_CREAT | O_WRONLY, 0600);
	SETUP(done >= 0);
	close(done);
	for (int i = 0; i < CHILDREN; i++) {
		int status;
		if (waitpid(kids[i], &status, 0) != kids[i] || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail("child %d ended with status %#x", i, status);
	}
	return finish();
}
