/* SysV shared memory: a keyed segment (mode 0640, 3 pages and a bit) and a
 * private one already removed with IPC_RMID, both attached in the parent and,
 * through fork, in a child. After restore: the key still finds the same id,
 * the contents are intact, a write by the child is seen by the parent, the
 * mode and attach count are right, and the removed one is still marked
 * removed. */
#include "scenario.h"
#include <sys/shm.h>
#include <sys/wait.h>

#define KEYED_SIZE (3 * 4096 + 100)

int main(void)
{
	key_t key = (key_t)(0x5e000000 | (getpid() & 0xffffff));
	int keyed = shmget(key, KEYED_SIZE, IPC_CREAT | IPC_EXCL | 0640);
	int private_id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	SETUP(keyed >= 0 && private_id >= 0);
	uint8_t *k = shmat(keyed, NULL, 0);
	uint8_t *p = shmat(private_id, NULL, 0);
	SETUP(k != (void *)-1 && p != (void *)-1);
	fill_pattern(k, KEYED_SIZE, 21);
	fill_pattern(p, 4096, 22);
	SETUP(shmctl(private_id, IPC_RMID, NULL) == 0);
	volatile uint32_t *flag = (volatile uint32_t *)(k + KEYED_SIZE - 8);
	*flag = 0;
	int sync[2];
	SETUP(pipe(sync) == 0);
	pid_t child = fork();
	SETUP(child >= 0);
	if (child == 0) {
		SETUP(write(sync[1], "c", 1) == 1);
		wait_for_go();
		if (check_pattern(p, 4096, 22) >= 0)
			fail("child: the removed segment's content changed");
		*flag = 0xfeedbeef;
		return scenario_failures ? 1 : 0;
	}
	char c;
	SETUP(read(sync[0], &c, 1) == 1);
	ready();
	wait_for_go();

	if (shmget(key, 0, 0) != keyed)
		fail("key %#x finds id %d, expected %d", key, shmget(key, 0, 0), keyed);
	if (check_pattern(k, KEYED_SIZE - 8, 21) >= 0)
		fail("the keyed segment's byte %ld changed", check_pattern(k, KEYED_SIZE - 8, 21));
	if (check_pattern(p, 4096, 22) >= 0)
		fail("the removed segment's content changed");
	int st;
	if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail("child ended with status %#x", st);
	if (*flag != 0xfeedbeef)
		fail("the child's write is not seen by the parent: the segment is not shared");
	struct shmid_ds ds;
	if (shmctl(keyed, IPC_STAT, &ds) != 0)
		fail("IPC_STAT: %s", strerror(errno));
	else {
		if ((ds.shm_perm.mode & 0777) != 0640)
			fail("mode %o, expected 640", ds.shm_perm.mode & 0777);
		if (ds.shm_segsz != KEYED_SIZE)
			fail("size %zu, expected %d", (size_t)ds.shm_segsz, KEYED_SIZE);
		if (ds.shm_nattch != 1)
			fail("%lu attachments after the child exited, expected 1",
			     (unsigned long)ds.shm_nattch);
	}
	if (shmctl(private_id, IPC_STAT, &ds) != 0)
		fail("IPC_STAT of the removed segment: %s", strerror(errno));
	else if (!(ds.shm_perm.mode & SHM_DEST))
		fail("the removed segment is no longer marked removed");
	shmdt(k);
	shmctl(keyed, IPC_RMID, NULL);
	return finish();
}
