/* Shared by every scenario program: the protocol with the e2e harness
 * (crates/cli/tests/e2e.rs) and small reporting helpers.
 *
 * Protocol: the harness starts the program in a new session, stdin from
 * /dev/null, stdout and stderr appended to a log, in a fresh directory. The
 * program sets up its state, prints READY and waits; the harness checkpoints
 * it, restores it and triggers "go" (by default it creates the file `go`).
 * The program then checks its state and prints PASS (exit 0) or one
 * `FAIL: <what differs>` line per difference (exit 1).
 *
 * Output goes through write(2) on a stack buffer: stdio would malloc a buffer
 * on first use, which changes the heap between "before" and "after". */
#ifndef STASIS_SCENARIO_H
#define STASIS_SCENARIO_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int scenario_failures;

/* printf to stdout with one write(2) call (the log is O_APPEND). */
__attribute__((format(printf, 1, 2), unused)) static void say(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(STDOUT_FILENO, p, (size_t)n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (int)w;
	}
}

/* Records a failure: prints "FAIL: <message>". Returns 1 so that callers can
 * write `if (cond) fail(...)` or count. */
__attribute__((format(printf, 1, 2), unused)) static int fail(const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	say("FAIL: %s\n", msg);
	scenario_failures++;
	return 1;
}

/* A setup step that must work before the checkpoint; not a test failure but a
 * broken environment, so the exit code (2) differs from a FAIL (1). */
#define SETUP(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			say("SETUP FAILED at %s:%d: %s (errno %d: %s)\n", __FILE__,   \
			    __LINE__, #cond, errno, strerror(errno));            \
			exit(2);                                                 \
		}                                                                \
	} while (0)

__attribute__((unused)) static void ready(void)
{
	say("READY\n");
}

/* Waits until the file `path` exists. Polling (rather than blocking in one
 * call) is deliberate: it proves the restored process keeps running. */
__attribute__((unused)) static void wait_for_file(const char *path)
{
	while (access(path, F_OK) != 0)
		usleep(10000);
}

__attribute__((unused)) static void wait_for_go(void)
{
	wait_for_file("go");
}

/* Prints PASS when nothing failed; returns the exit code. */
__attribute__((unused)) static int finish(void)
{
	if (scenario_failures == 0) {
		say("PASS\n");
		return 0;
	}
	return 1;
}

__attribute__((unused)) static int64_t now_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

__attribute__((unused)) static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* A deterministic byte pattern: byte i of a region seeded with `seed`. */
__attribute__((unused)) static uint8_t pattern_byte(uint64_t seed, uint64_t i)
{
	uint64_t x = (seed + i) * 0x9E3779B97F4A7C15ull;
	x ^= x >> 29;
	return (uint8_t)(x ^ (x >> 17));
}

__attribute__((unused)) static void fill_pattern(void *p, size_t len, uint64_t seed)
{
	uint8_t *b = p;
	for (size_t i = 0; i < len; i++)
		b[i] = pattern_byte(seed, i);
}

/* Returns the offset of the first byte that differs from the pattern, or -1. */
__attribute__((unused)) static long check_pattern(const void *p, size_t len, uint64_t seed)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < len; i++)
		if (b[i] != pattern_byte(seed, i))
			return (long)i;
	return -1;
}

/* The state letter of a process from /proc/<pid>/stat ('R', 'S', 'T', 'Z'...), or '?'. */
__attribute__((unused)) static char proc_state(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return '?';
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *close = strrchr(buf, ')');
	return close && close[1] == ' ' ? close[2] : '?';
}

#endif
