/* inotify watches survive with their watch descriptors and masks: a directory
 * (IN_CREATE|IN_DELETE), a file (IN_MODIFY) and a second directory, with the
 * watch of wd 2 removed before the dump (so wd 3 follows a gap). After
 * restore: creating a file in the directory is reported with wd 1 and its name,
 * writing the file with wd 4, no event was made up (no IN_IGNORED for a wd the
 * program never had), removing wd 3 works and a new watch gets wd 5. */
#include "scenario.h"
#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>

static int wait_event(int fd, struct inotify_event *ev, size_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 5000) != 1)
		return -1;
	return (int)read(fd, ev, len);
}

int main(void)
{
	SETUP(mkdir("watched", 0700) == 0 && mkdir("other", 0700) == 0 && mkdir("gone", 0700) == 0);
	int f = open("file", O_CREAT | O_WRONLY, 0600);
	SETUP(f >= 0);
	int in = inotify_init1(IN_NONBLOCK);
	SETUP(in >= 0);
	int wd1 = inotify_add_watch(in, "watched", IN_CREATE | IN_DELETE);
	int wd2 = inotify_add_watch(in, "gone", IN_ALL_EVENTS);
	int wd3 = inotify_add_watch(in, "other", IN_CREATE);
	SETUP(wd1 == 1 && wd2 == 2 && wd3 == 3);
	SETUP(inotify_rm_watch(in, wd2) == 0);
	int wd4 = inotify_add_watch(in, "file", IN_MODIFY);
	SETUP(wd4 == 4);
	/* Drain the IN_IGNORED of wd 2. */
	char drain[4096];
	while (read(in, drain, sizeof(drain)) > 0)
		;
	ready();
	wait_for_go();

	char buf[4096] __attribute__((aligned(8)));
	struct inotify_event *ev = (struct inotify_event *)buf;
	if (read(in, buf, sizeof(buf)) >= 0)
		fail("an event was waiting after restore: wd %d mask %#x", ev->wd, ev->mask);
	int c = open("watched/new", O_CREAT | O_WRONLY, 0600);
	SETUP(c >= 0);
	close(c);
	int n = wait_event(in, ev, sizeof(buf));
	if (n <= 0 || ev->wd != 1 || !(ev->mask & IN_CREATE) || strcmp(ev->name, "new") != 0)
		fail("creating watched/new: read %d, wd %d mask %#x name \"%s\"", n, ev->wd, ev->mask,
		     n > 0 ? ev->name : "");
	SETUP(write(f, "x", 1) == 1);
	n = wait_event(in, ev, sizeof(buf));
	if (n <= 0 || ev->wd != 4 || !(ev->mask & IN_MODIFY))
		fail("writing file: read %d, wd %d mask %#x", n, ev->wd, ev->mask);
	if (inotify_rm_watch(in, 3) != 0)
		fail("removing wd 3: %s", strerror(errno));
	int wd5 = inotify_add_watch(in, "gone", IN_CREATE);
	if (wd5 != 5)
		fail("a new watch got wd %d, expected 5", wd5);
	return finish();
}
