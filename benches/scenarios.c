/*
 * scenarios: helper for benches/run --scenario tree|threads|cow (compiled by the
 * script, not by cargo). Output goes to stdout (a regular file, set by the harness).
 *
 *   scenarios tree N      fork N-1 children (N processes in all), each idle in
 *                         pause(); print "READY <pid>" once all exist.
 *   scenarios threads N   one process with N threads in all (main + N-1 pthreads),
 *                         every thread idle in pause(); "READY <pid>" once all run.
 *   scenarios cow MIB N   fill MIB MiB of private anonymous memory with
 *                         pseudo-random bytes, then fork N idle children that
 *                         share it copy-on-write; "READY <pid>" once all exist.
 *   scenarios fds N DIR   one process holding N open fds: half of them regular
 *                         files (100 files in DIR, each opened many times, every
 *                         open its own description), half pipe ends.
 *   scenarios sockets N   one process with N unix socketpairs (stream), 100
 *                         bytes queued in each direction of each.
 *   scenarios epoll N     one process with an epoll instance watching N
 *                         eventfds (N+1 fds and N epoll items).
 *   scenarios shared_fds T N DIR
 *                         T processes sharing the same N descriptions (opened
 *                         as for fds, then inherited by T-1 forked children).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "bench.h"

#define MIB (1024UL * 1024UL)

static pthread_barrier_t started;


static void idle_forever(void)
{
	for (;;)
		pause();
}

static void fork_idle_children(long n)
{
	for (long i = 0; i < n; i++) {
		pid_t p = fork();
		if (p < 0) {
			perror("fork");
			exit(1);
		}
		if (p == 0)
			idle_forever();
	}
}

/* Room for many fds: the soft limit up to the hard one. */
static void raise_nofile(void)
{
	struct rlimit limit;
	if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
		limit.rlim_cur = limit.rlim_max;
		setrlimit(RLIMIT_NOFILE, &limit);
	}
}

/* Opens n fds: pairs of regular-file opens, then a pipe (two fds), in turn. */
static void open_mixed(long n, const char *dir)
{
	char path[4096];
	for (long i = 0; i < n;) {
		if (i % 4 < 2) {
			snprintf(path, sizeof(path), "%s/file-%ld", dir, i % 100);
			if (open(path, O_RDWR | O_CREAT, 0600) < 0) {
				perror(path);
				exit(1);
			}
			i++;
		} else {
			int ends[2];
			if (pipe(ends) != 0) {
				perror("pipe");
				exit(1);
			}
			i += 2;
		}
	}
}

static void *thread_main(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&started);
	idle_forever();
	return NULL;
}

static void ready(void)
{
	printf("READY %d\n", (int)getpid());
	fflush(stdout);
	idle_forever();
}

static int usage(void)
{
	fprintf(stderr, "usage: scenarios tree N | threads N | cow MIB N | fds N DIR | "
			"shared_fds T N DIR\n");
	return 2;
}

int main(int argc, char **argv)
{
	close_inherited_fds();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3)
		return usage();
	long n = strtol(argv[2], NULL, 10);
	if (n < 1)
		return usage();

	if (strcmp(argv[1], "tree") == 0) {
		fork_idle_children(n - 1);
		ready();
	} else if (strcmp(argv[1], "threads") == 0) {
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 64 * 1024);
		pthread_barrier_init(&started, NULL, (unsigned)n);
		for (long i = 0; i < n - 1; i++) {
			pthread_t t;
			int err = pthread_create(&t, &attr, thread_main, NULL);
			if (err) {
				fprintf(stderr, "pthread_create: %s\n", strerror(err));
				return 1;
			}
		}
		pthread_barrier_wait(&started);
		ready();
	} else if (strcmp(argv[1], "cow") == 0) {
		if (argc < 4)
			return usage();
		size_t len = (size_t)n * MIB;
		long kids = strtol(argv[3], NULL, 10);
		uint64_t *mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mem == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		uint64_t x = 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
		for (size_t i = 0; i < len / 8; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			mem[i] = x | 0x0101010101010101ULL; /* no zero bytes */
		}
		fork_idle_children(kids);
		ready();
	} else if (strcmp(argv[1], "fds") == 0) {
		if (argc < 4)
			return usage();
		raise_nofile();
		open_mixed(n, argv[3]);
		ready();
	} else if (strcmp(argv[1], "sockets") == 0) {
		raise_nofile();
		char data[100];
		memset(data, 'x', sizeof(data));
		for (long i = 0; i < n; i++) {
			int pair[2];
			if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0 ||
			    write(pair[0], data, sizeof(data)) != (ssize_t)sizeof(data) ||
			    write(pair[1], data, sizeof(data)) != (ssize_t)sizeof(data)) {
				perror("socketpair");
				return 1;
			}
		}
		ready();
	} else if (strcmp(argv[1], "epoll") == 0) {
		raise_nofile();
		int ep = epoll_create1(0);
		for (long i = 0; i < n; i++) {
			int e = eventfd(0, 0);
			struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)i };
			if (e < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, e, &ev) != 0) {
				perror("epoll");
				return 1;
			}
		}
		ready();
	} else if (strcmp(argv[1], "shared_fds") == 0) {
		if (argc < 5)
			return usage();
		raise_nofile();
		open_mixed(strtol(argv[3], NULL, 10), argv[4]);
		fork_idle_children(n - 1);
		ready();
	}
	return usage();
}
