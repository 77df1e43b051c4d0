/* A program that logs like syslog(): a datagram socket connected one way to a
 * socket with an abstract name held outside the tree (argv[1], bound by the
 * test). It sends
 * "before" at start and "after" once restored; the test reads both from its
 * socket, which proves the restored socket is connected to the same name. */
#include "scenario.h"
#include <sys/socket.h>
#include <stddef.h>
#include <sys/un.h>

int main(int argc, char **argv)
{
	SETUP(argc == 2);
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	size_t len = strlen(argv[1]);
	SETUP(s >= 0 && len + 1 < sizeof(a.sun_path));
	/* An abstract name: a NUL byte, then the name (no trailing NUL). */
	memcpy(a.sun_path + 1, argv[1], len);
	socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
	SETUP(connect(s, (struct sockaddr *)&a, alen) == 0);
	SETUP(send(s, "before", 6, 0) == 6);
	ready();
	wait_for_go();
	if (send(s, "after", 5, 0) != 5)
		fail("send to the logger after restore: %s", strerror(errno));
	return finish();
}
