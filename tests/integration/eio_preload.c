/*
 * A latent sector error for tests, as an LD_PRELOAD library (built by
 * test_storage.py with cc -shared): with ADD_FAULT_EIO=NAME:OFF:LEN in the
 * environment, pread of the file whose name (last path component) is NAME
 * fails with EIO when it overlaps [OFF, OFF + LEN), until a pwrite covers
 * the range (a disk remaps a bad sector when it is written). Every failed
 * pread is counted in the file ADD_FAULT_EIO_LOG, if set (one line each), so
 * a test knows the fault was hit. Nothing else is changed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fault_name[256];
static unsigned long long fault_off, fault_len;
static int fault_state; /* 0 unread, 1 armed, 2 off (none, or cleared) */

static void fault_init(void)
{
	const char *s = getenv("ADD_FAULT_EIO");

	fault_state = 2;
	if (s && sscanf(s, "%255[^:]:%llu:%llu", fault_name, &fault_off, &fault_len) == 3 &&
	    fault_len > 0)
		fault_state = 1;
}

/* True if fd is the faulty file and [off, off + len) overlaps the range. */
static int hits(int fd, size_t len, off_t off)
{
	char link[64], path[4096];
	ssize_t n;
	const char *base;

	if (fault_state == 0)
		fault_init();
	if (fault_state != 1 || len == 0)
		return 0;
	if ((unsigned long long)off >= fault_off + fault_len ||
	    (unsigned long long)off + len <= fault_off)
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return 0;
	path[n] = '\0';
	base = strrchr(path, '/');
	return strcmp(base ? base + 1 : path, fault_name) == 0;
}

static void note(const char *what, off_t off)
{
	const char *log = getenv("ADD_FAULT_EIO_LOG");
	char line[128];
	int fd, n;

	if (!log)
		return;
	fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%s %s at %lld\n", what, fault_name, (long long)off);
	if (write(fd, line, (size_t)n) < 0) {
		/* nothing to do: the count is best effort */
	}
	close(fd);
}

ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
	static ssize_t (*real)(int, void *, size_t, off_t);

	if (!real)
		real = (ssize_t (*)(int, void *, size_t, off_t))dlsym(RTLD_NEXT, "pread");
	if (hits(fd, len, off)) {
		note("eio", off);
		errno = EIO;
		return -1;
	}
	return real(fd, buf, len, off);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	static ssize_t (*real)(int, const void *, size_t, off_t);

	if (!real)
		real = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
	ssize_t n = real(fd, buf, len, off);
	if (n > 0 && hits(fd, (size_t)n, off) && (unsigned long long)off <= fault_off &&
	    (unsigned long long)off + (unsigned long long)n >= fault_off + fault_len) {
		fault_state = 2; /* rewritten: remapped */
		note("cleared", off);
	}
	return n;
}
