/* A FIFO that the process holds only for writing (fd 20, O_WRONLY), with bytes
 * written that no reader has taken yet: the dump has no readable fd of the
 * tree to copy them from. After restore a new reader must get exactly those
 * bytes, and the writer must still write into the same FIFO. */
#include "scenario.h"
#include <fcntl.h>
#include <sys/stat.h>

static const char in_flight[] = "nobody has read this yet";

int main(void)
{
	SETUP(mkfifo("fifo", 0600) == 0);
	int keeper = open("fifo", O_RDWR);
	SETUP(keeper >= 0);
	int wr = open("fifo", O_WRONLY);
	SETUP(wr >= 0 && dup2(wr, 20) == 20 && close(wr) == 0);
	SETUP(write(20, in_flight, strlen(in_flight)) == (ssize_t)strlen(in_flight));
	/* Only the writer is left; the bytes stay in the FIFO. */
	SETUP(close(keeper) == 0);
	ready();
	wait_for_go();

	int fl = fcntl(20, F_GETFL);
	if ((fl & O_ACCMODE) != O_WRONLY || (fl & O_NONBLOCK))
		fail("fd 20 has flags %#o, expected O_WRONLY, blocking", fl);
	int rd = open("fifo", O_RDONLY | O_NONBLOCK);
	if (rd < 0) {
		fail("cannot open ./fifo for reading: %s", strerror(errno));
		return finish();
	}
	char buf[128] = { 0 };
	ssize_t n = read(rd, buf, sizeof(buf) - 1);
	if (n != (ssize_t)strlen(in_flight) || memcmp(buf, in_flight, strlen(in_flight)) != 0)
		fail("the new reader got %zd bytes \"%s\", expected \"%s\"", n, buf, in_flight);
	if (write(20, "more", 4) != 4)
		fail("write to fd 20 failed: %s", strerror(errno));
	memset(buf, 0, sizeof(buf));
	if (read(rd, buf, sizeof(buf) - 1) != 4 || memcmp(buf, "more", 4) != 0)
		fail("fd 20 no longer writes into ./fifo (read \"%s\")", buf);
	return finish();
}
