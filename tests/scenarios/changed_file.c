/* A process holding a file open read-only (data.txt, fd 3) and another one
 * open for appending (out.txt, fd 4). The test replaces or modifies them
 * between dump and restore. After "go" the process must hold whatever file is
 * at data.txt now (restore opened the path), and append to out.txt. */
#include "scenario.h"
#include <fcntl.h>
#include <sys/stat.h>

int main(void)
{
	int fd = open("data.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
	SETUP(fd >= 0);
	SETUP(write(fd, "original\n", 9) == 9);
	close(fd);
	int data = open("data.txt", O_RDONLY);
	SETUP(data == 3);
	char buf[16];
	SETUP(read(data, buf, 4) == 4);
	int out = open("out.txt", O_WRONLY | O_APPEND | O_CREAT, 0644);
	SETUP(out == 4);
	SETUP(write(out, "before\n", 7) == 7);

	ready();
	wait_for_go();

	struct stat held, now;
	if (fstat(data, &held) != 0 || stat("data.txt", &now) != 0)
		fail("stat data.txt: %s", strerror(errno));
	else if (held.st_ino != now.st_ino || held.st_dev != now.st_dev)
		fail("fd 3 is not the file at data.txt");
	if (lseek(data, 0, SEEK_CUR) != 4)
		fail("fd 3: offset %lld, expected 4", (long long)lseek(data, 0, SEEK_CUR));
	if (write(out, "after\n", 6) != 6)
		fail("append to out.txt: %s", strerror(errno));
	return finish();
}
