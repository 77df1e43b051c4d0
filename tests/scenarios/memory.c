/* Memory of every common kind survives a checkpoint: heap (brk and a large,
 * mmap'ed malloc), stack, .data/.bss, anonymous mappings, read-only and
 * PROT_NONE regions, a MAP_PRIVATE file mapping with copied-on-write pages,
 * and a 4 GiB sparse MAP_NORESERVE mapping with a few touched pages. The
 * layout in /proc/self/maps must be the same after restore. The harness also
 * checks that the dump stays small (untouched pages cost nothing). */
#include "scenario.h"
#include <fcntl.h>
#include <sys/mman.h>

#define PAGE 4096ul
#define GiB (1024ul * 1024 * 1024)

static char maps_before[256 * 1024];
static char maps_after[256 * 1024];

static uint64_t data_var = 0x1111222233334444ull; /* .data */
static uint64_t bss_var;                          /* .bss */

static size_t read_maps(char *buf, size_t cap)
{
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	SETUP(fd >= 0);
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		SETUP(n >= 0);
		if (n == 0)
			break;
		len += (size_t)n;
		SETUP(len < cap - 1);
	}
	buf[len] = 0;
	close(fd);
	return len;
}

/* Compares two /proc/self/maps texts line by line (whitespace-normalised). */
static void compare_maps(const char *before, const char *after)
{
	int line = 1;
	const char *a = before, *b = after;
	while (*a || *b) {
		const char *ae = strchrnul(a, '\n'), *be = strchrnul(b, '\n');
		char la[512], lb[512];
		size_t na = 0, nb = 0;
		/* collapse runs of spaces */
		for (const char *p = a; p < ae && na < sizeof(la) - 1; p++)
			if (!(*p == ' ' && na && la[na - 1] == ' '))
				la[na++] = *p;
		for (const char *p = b; p < be && nb < sizeof(lb) - 1; p++)
			if (!(*p == ' ' && nb && lb[nb - 1] == ' '))
				lb[nb++] = *p;
		la[na] = lb[nb] = 0;
		if (strcmp(la, lb) != 0) {
			fail("/proc/self/maps line %d differs: before \"%s\", after \"%s\"", line,
			     *a ? la : "<end>", *b ? lb : "<end>");
			return;
		}
		a = *ae ? ae + 1 : ae;
		b = *be ? be + 1 : be;
		line++;
	}
}

static void check_region(const char *what, const void *p, size_t len, uint64_t seed)
{
	long off = check_pattern(p, len, seed);
	if (off >= 0)
		fail("%s: byte at offset %ld (address %p) differs", what, off, (const uint8_t *)p + off);
}

int main(void)
{
	/* Heap: many small chunks (brk heap), some freed, and one large chunk
	 * that malloc serves with its own mmap. */
	enum { NCHUNKS = 300 };
	static uint8_t *chunks[NCHUNKS];
	static size_t chunk_len[NCHUNKS];
	for (int i = 0; i < NCHUNKS; i++) {
		chunk_len[i] = (size_t)(i * 37 % 3000) + 1;
		chunks[i] = malloc(chunk_len[i]);
		SETUP(chunks[i]);
		fill_pattern(chunks[i], chunk_len[i], 1000 + i);
	}
	for (int i = 0; i < NCHUNKS; i += 3) {
		free(chunks[i]);
		chunks[i] = NULL;
	}
	size_t big_len = 3 * 1024 * 1024 + 123;
	uint8_t *big = malloc(big_len);
	SETUP(big);
	fill_pattern(big, big_len, 2);

	/* Stack. */
	uint8_t stack_buf[64 * 1024];
	fill_pattern(stack_buf, sizeof(stack_buf), 3);

	data_var ^= 0xdeadbeefull;
	bss_var = 0x5555666677778888ull;

	/* Anonymous private mapping. */
	size_t anon_len = 16 * PAGE;
	uint8_t *anon = mmap(NULL, anon_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	SETUP(anon != MAP_FAILED);
	fill_pattern(anon, anon_len, 4);

	/* Read-only after being filled. */
	size_t ro_len = 4 * PAGE;
	uint8_t *ro = mmap(NULL, ro_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	SETUP(ro != MAP_FAILED);
	fill_pattern(ro, ro_len, 5);
	SETUP(mprotect(ro, ro_len, PROT_READ) == 0);

	/* PROT_NONE after being filled: the content must survive although
	 * nobody can read it without changing the protection. */
	size_t none_len = 4 * PAGE;
	uint8_t *none = mmap(NULL, none_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	SETUP(none != MAP_FAILED);
	fill_pattern(none, none_len, 6);
	SETUP(mprotect(none, none_len, PROT_NONE) == 0);

	/* MAP_PRIVATE file mapping, pages 2 and 5 written (copied on write). */
	size_t file_len = 8 * PAGE;
	{
		static uint8_t content[8 * 4096];
		fill_pattern(content, file_len, 7);
		int fd = open("mapped.dat", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		SETUP(fd >= 0);
		SETUP(write(fd, content, file_len) == (ssize_t)file_len);
		close(fd);
	}
	int mfd = open("mapped.dat", O_RDONLY | O_CLOEXEC);
	SETUP(mfd >= 0);
	uint8_t *fmap = mmap(NULL, file_len, PROT_READ | PROT_WRITE, MAP_PRIVATE, mfd, 0);
	SETUP(fmap != MAP_FAILED);
	close(mfd); /* the mapping, not an fd, keeps the file */
	fill_pattern(fmap + 2 * PAGE, PAGE, 8);
	fill_pattern(fmap + 5 * PAGE, PAGE, 9);

	/* 4 GiB sparse mapping with five touched pages. */
	size_t sparse_len = 4 * GiB;
	uint8_t *sparse = mmap(NULL, sparse_len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	SETUP(sparse != MAP_FAILED);
	const size_t touched[] = { 0, GiB + 5 * PAGE, 2 * GiB, 3 * GiB + 12345 * PAGE, sparse_len - PAGE };
	const size_t ntouched = sizeof(touched) / sizeof(touched[0]);
	for (size_t k = 0; k < ntouched; k++)
		fill_pattern(sparse + touched[k], PAGE, 10 + k);

	read_maps(maps_before, sizeof(maps_before));
	ready();
	wait_for_go();

	/* First, before anything can change the layout. */
	read_maps(maps_after, sizeof(maps_after));
	compare_maps(maps_before, maps_after);

	for (int i = 0; i < NCHUNKS; i++) {
		if (!chunks[i])
			continue;
		char what[64];
		snprintf(what, sizeof(what), "heap chunk %d", i);
		check_region(what, chunks[i], chunk_len[i], 1000 + i);
	}
	check_region("large malloc (mmap'ed)", big, big_len, 2);
	check_region("stack array", stack_buf, sizeof(stack_buf), 3);
	if (data_var != (0x1111222233334444ull ^ 0xdeadbeefull))
		fail(".data variable is %#llx", (unsigned long long)data_var);
	if (bss_var != 0x5555666677778888ull)
		fail(".bss variable is %#llx", (unsigned long long)bss_var);
	check_region("anonymous mapping", anon, anon_len, 4);
	check_region("read-only mapping", ro, ro_len, 5);

	if (mprotect(none, none_len, PROT_READ) != 0)
		fail("mprotect of the PROT_NONE region: %s", strerror(errno));
	else
		check_region("PROT_NONE mapping", none, none_len, 6);

	for (size_t page = 0; page < 8; page++) {
		char what[64];
		snprintf(what, sizeof(what), "private file mapping page %zu", page);
		uint64_t seed = page == 2 ? 8 : page == 5 ? 9 : 7;
		if (page == 2 || page == 5)
			check_region(what, fmap + page * PAGE, PAGE, seed);
		else {
			/* untouched pages show the file: pattern 7 at the file offset */
			for (size_t i = 0; i < PAGE; i++)
				if (fmap[page * PAGE + i] != pattern_byte(7, page * PAGE + i)) {
					fail("%s: byte %zu differs from the file", what, i);
					break;
				}
		}
	}
	{
		/* The copied-on-write pages must not have reached the file. */
		static uint8_t disk[8 * 4096];
		int fd = open("mapped.dat", O_RDONLY | O_CLOEXEC);
		if (fd < 0 || pread(fd, disk, file_len, 0) != (ssize_t)file_len)
			fail("cannot read back mapped.dat");
		else
			check_region("mapped.dat on disk", disk, file_len, 7);
		if (fd >= 0)
			close(fd);
	}

	for (size_t k = 0; k < ntouched; k++) {
		char what[64];
		snprintf(what, sizeof(what), "sparse mapping page at +%#zx", touched[k]);
		check_region(what, sparse + touched[k], PAGE, 10 + k);
	}
	const size_t untouched[] = { PAGE, GiB / 2, 3 * GiB + GiB / 2 };
	for (size_t k = 0; k < sizeof(untouched) / sizeof(untouched[0]); k++)
		for (size_t i = 0; i < PAGE; i += 8)
			if (*(uint64_t *)(sparse + untouched[k] + i) != 0) {
				fail("untouched sparse page at +%#zx is not zero", untouched[k]);
				break;
			}

	return finish();
}
