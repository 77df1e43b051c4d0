/* Shared anonymous memory inherited across fork stays shared after restore:
 * after go the parent writes a word that the child must see, and the child
 * answers through the same memory. Contents written by both before the dump
 * must be intact. */
#include "scenario.h"
#include <sys/mman.h>
#include <sys/wait.h>

#define LEN (1 << 20)

int main(void)
{
	uint8_t *shared = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	SETUP(shared != MAP_FAILED);
	fill_pattern(shared, LEN / 2, 3);
	volatile uint64_t *ping = (volatile uint64_t *)(shared + LEN - 64);
	volatile uint64_t *pong = (volatile uint64_t *)(shared + LEN - 128);
	volatile uint64_t *child_ready = (volatile uint64_t *)(shared + LEN - 192);
	pid_t child = fork();
	SETUP(child >= 0);
	if (child == 0) {
		fill_pattern(shared + LEN / 2, LEN / 4, 4);
		*child_ready = 1;
		int64_t deadline = now_ns(CLOCK_MONOTONIC) + 60LL * 1000000000;
		while (*ping != 0x5151 && now_ns(CLOCK_MONOTONIC) < deadline)
			usleep(1000);
		if (*ping != 0x5151) {
			say("FAIL: child never saw the parent's write to shared memory\n");
			_exit(1);
		}
		*pong = 0x7272;
		_exit(0);
	}
	while (!*child_ready)
		usleep(1000);
	ready();
	wait_for_go();
	if (check_pattern(shared, LEN / 2, 3) >= 0)
		fail("parent's half of shared memory changed at %ld", check_pattern(shared, LEN / 2, 3));
	if (check_pattern(shared + LEN / 2, LEN / 4, 4) >= 0)
		fail("child's quarter of shared memory changed");
	*ping = 0x5151;
	int64_t deadline = now_ns(CLOCK_MONOTONIC) + 10LL * 1000000000;
	while (*pong != 0x7272 && now_ns(CLOCK_MONOTONIC) < deadline)
		usleep(1000);
	if (*pong != 0x7272)
		fail("the child's answer never appeared in shared memory: it is no longer shared");
	int status;
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail("child did not exit 0 (status %#x)", status);
	return finish();
}
