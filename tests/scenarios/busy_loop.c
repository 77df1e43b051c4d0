/* A compute-only loop: a 64-bit LCG stepped as fast as possible, its state
 * also written into a ring buffer. It prints "progress N" every 2^24 steps
 * (the harness uses that to see it running) and checks for go every 2^20
 * steps. After go it verifies the state against the LCG jumped ahead from the
 * seed by the step count, and the last 4096 ring entries. */
#include "scenario.h"

#define A 6364136223846793005ull
#define C 1442695040888963407ull
#define SEED 0x853c49e6748fea9bull
#define RING 4096

static uint64_t ring[RING];

/* x after n steps of x = A*x + C from x0, in O(log n). */
static uint64_t lcg_jump(uint64_t x0, uint64_t n)
{
	uint64_t acc_mult = 1, acc_plus = 0, cur_mult = A, cur_plus = C;
	while (n) {
		if (n & 1) {
			acc_mult *= cur_mult;
			acc_plus = acc_plus * cur_mult + cur_plus;
		}
		cur_plus = (cur_mult + 1) * cur_plus;
		cur_mult *= cur_mult;
		n >>= 1;
	}
	return acc_mult * x0 + acc_plus;
}

int main(void)
{
	uint64_t x = SEED, steps = 0;
	ready();
	for (;;) {
		x = A * x + C;
		ring[steps % RING] = x;
		steps++;
		if ((steps & 0xfffff) == 0) {
			if ((steps & 0xffffff) == 0)
				say("progress %llu\n", (unsigned long long)(steps >> 24));
			if (access("go", F_OK) == 0)
				break;
		}
	}
	uint64_t want = lcg_jump(SEED, steps);
	if (x != want)
		fail("after %llu steps the state is %#llx, expected %#llx", (unsigned long long)steps,
		     (unsigned long long)x, (unsigned long long)want);
	uint64_t y = lcg_jump(SEED, steps - RING);
	for (uint64_t s = steps - RING; s < steps; s++) {
		y = A * y + C;
		if (ring[s % RING] != y) {
			fail("ring entry for step %llu is %#llx, expected %#llx", (unsigned long long)s,
			     (unsigned long long)ring[s % RING], (unsigned long long)y);
			break;
		}
	}
	say("%llu steps\n", (unsigned long long)steps);
	return finish();
}
