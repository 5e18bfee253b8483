/*
 * Disk faults for tests, as an LD_PRELOAD library (built by test_storage.py
 * with cc -shared); nothing changes without these environment variables:
 *  - ADD_FAULT_EIO=NAME:OFF:LEN: a latent sector error. pread of the file
 *    whose name (last path component) is NAME fails with EIO when it
 *    overlaps [OFF, OFF + LEN), until a pwrite covers the range (a disk
 *    remaps a bad sector when it is written);
 *  - ADD_FAULT_FSYNC=PREFIX:TRIGGER: while the file TRIGGER exists,
 *    fdatasync and fsync of files whose name starts with PREFIX fail with
 *    EIO (a write-back error). Safe on the flush threads;
 *  - ADD_FAULT_EIO_LOG=FILE: each fault hit (and each range cleared) is
 *    noted there, one line each, so a test knows the fault was reached.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fault_name[256];
static unsigned long long fault_off, fault_len;
static int fault_state; /* 1 armed, 2 off (none, or cleared) */

static void fault_init(void)
{
	const char *s = getenv("ADD_FAULT_EIO");

	fault_state = 2;
	if (s && sscanf(s, "%255[^:]:%llu:%llu", fault_name, &fault_off, &fault_len) == 3 &&
	    fault_len > 0)
		fault_state = 1;
}

/* The name (last path component) of the file open on fd, or "". */
static void fd_name(int fd, char *out, size_t len)
{
	char link[64], path[4096];
	ssize_t n;
	const char *base;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	path[n > 0 ? n : 0] = '\0';
	base = strrchr(path, '/');
	snprintf(out, len, "%s", base ? base + 1 : path);
}

/* True if fd is the faulty file and [off, off + len) overlaps the range. */
static int hits(int fd, size_t len, off_t off)
{
	char name[256];

	if (fault_state != 1 || len == 0)
		return 0;
	if ((unsigned long long)off >= fault_off + fault_len ||
	    (unsigned long long)off + len <= fault_off)
		return 0;
	fd_name(fd, name, sizeof(name));
	return strcmp(name, fault_name) == 0;
}

/* True while the fsync fault is armed for the file on fd. */
static int fsync_fails(int fd)
{
	const char *s = getenv("ADD_FAULT_FSYNC");
	const char *colon = s ? strchr(s, ':') : NULL;
	char name[256];
	struct stat st;

	if (!colon || stat(colon + 1, &st) != 0)
		return 0;
	fd_name(fd, name, sizeof(name));
	return strncmp(name, s, (size_t)(colon - s)) == 0;
}

static ssize_t (*real_pread)(int, void *, size_t, off_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static int (*real_fdatasync)(int);
static int (*real_fsync)(int);

/* Before main (and before any flush thread): the real functions. */
__attribute__((constructor)) static void find_real(void)
{
	real_pread = (ssize_t (*)(int, void *, size_t, off_t))dlsym(RTLD_NEXT, "pread");
	real_pwrite = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
	real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	fault_init();
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
	if (hits(fd, len, off)) {
		note("eio", off);
		errno = EIO;
		return -1;
	}
	return real_pread(fd, buf, len, off);
}

int fdatasync(int fd)
{
	if (fsync_fails(fd)) {
		note("fsync-eio", 0);
		errno = EIO;
		return -1;
	}
	return real_fdatasync(fd);
}

int fsync(int fd)
{
	if (fsync_fails(fd)) {
		note("fsync-eio", 0);
		errno = EIO;
		return -1;
	}
	return real_fsync(fd);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	ssize_t n = real_pwrite(fd, buf, len, off);
	if (n > 0 && hits(fd, (size_t)n, off) && (unsigned long long)off <= fault_off &&
	    (unsigned long long)off + (unsigned long long)n >= fault_off + fault_len) {
		fault_state = 2; /* rewritten: remapped */
		note("cleared", off);
	}
	return n;
}
