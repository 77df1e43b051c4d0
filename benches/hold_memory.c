/*
 * hold_memory: helper for benches/run (compiled by the script, not by cargo).
 *
 *   hold_memory hold MIB
 *       Allocate MIB MiB of private anonymous memory, fill every byte with
 *       pseudo-random data (incompressible, no zero pages), print
 *       "READY <pid> <checksum>" and sleep. On SIGUSR1 it re-reads the whole
 *       area and prints "OK <checksum>" or "BAD <checksum> expected <checksum>",
 *       so a restored copy can prove its memory came back intact.
 *
 *   hold_memory write MIB PATH
 *       Baseline: create PATH and write MIB MiB to it with plain write(2) in
 *       1 MiB chunks from one random buffer; print "WRITE <seconds>" measured
 *       from open() to close() with CLOCK_MONOTONIC.
 *
 * Output goes to stdout, which the harness points at a regular file (stasis
 * refuses pipes and ttys). Inherited fds above 2 are closed at start.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "bench.h"

#define MIB (1024UL * 1024UL)

static volatile sig_atomic_t check_requested;

static void on_usr1(int sig)
{
	(void)sig;
	check_requested = 1;
}


static uint64_t seed64(void)
{
	uint64_t s = 0;
	if (getrandom(&s, sizeof(s), 0) != sizeof(s))
		s = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	return s | 1;
}

/* xorshift64*; every output byte is forced non-zero so no page is all zero. */
static void fill_random(unsigned char *p, size_t len, uint64_t s)
{
	uint64_t *w = (uint64_t *)p;
	for (size_t i = 0; i < len / 8; i++) {
		s ^= s >> 12;
		s ^= s << 25;
		s ^= s >> 27;
		uint64_t v = s * 0x2545F4914F6CDD1DULL;
		v |= 0x0101010101010101ULL & ~(v | (v >> 1) | (v >> 2) | (v >> 3) |
					      (v >> 4) | (v >> 5) | (v >> 6) | (v >> 7));
		w[i] = v;
	}
}

/* FNV-1a over 64-bit words: order-sensitive, so moved pages are noticed. */
static uint64_t checksum(const unsigned char *p, size_t len)
{
	const uint64_t *w = (const uint64_t *)p;
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < len / 8; i++) {
		h ^= w[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int do_hold(size_t mib)
{
	size_t len = mib * MIB;
	unsigned char *area = mmap(NULL, len, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	fill_random(area, len, seed64());
	uint64_t sum = checksum(area, len);

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) != 0) {
		perror("sigaction");
		return 1;
	}
	sigset_t block, waitmask;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGUSR1);

	printf("READY %d %016llx\n", (int)getpid(), (unsigned long long)sum);
	fflush(stdout);

	for (;;) {
		while (!check_requested)
			sigsuspend(&waitmask);
		check_requested = 0;
		uint64_t now_sum = checksum(area, len);
		if (now_sum == sum)
			printf("OK %016llx\n", (unsigned long long)now_sum);
		else
			printf("BAD %016llx expected %016llx\n",
			       (unsigned long long)now_sum,
			       (unsigned long long)sum);
		fflush(stdout);
	}
}

static int do_write(size_t mib, const char *path)
{
	unsigned char *buf = malloc(MIB);
	if (!buf) {
		perror("malloc");
		return 1;
	}
	fill_random(buf, MIB, seed64());

	double t0 = now();
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	for (size_t i = 0; i < mib; i++) {
		size_t done = 0;
		while (done < MIB) {
			ssize_t n = write(fd, buf + done, MIB - done);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				perror("write");
				return 1;
			}
			done += (size_t)n;
		}
	}
	if (close(fd) != 0) {
		perror("close");
		return 1;
	}
	double t1 = now();

	printf("WRITE %.6f\n", t1 - t0);
	fflush(stdout);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	close_inherited_fds();
	if (argc >= 3 && strcmp(argv[1], "hold") == 0) {
		return do_hold(strtoul(argv[2], NULL, 10));
	}
	if (argc >= 4 && strcmp(argv[1], "write") == 0) {
		return do_write(strtoul(argv[2], NULL, 10), argv[3]);
	}
	fprintf(stderr, "usage: %s hold MIB | write MIB PATH\n", argv[0]);
	return 2;
}
