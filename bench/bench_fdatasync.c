/*
 * bench_fdatasync: the machine's flush limit, beside the cluster figures.
 * Each writer thread overwrites 4 KiB blocks of its own file and
 * fdatasyncs after every write; prints flushes per second for 1 writer and
 * for ADD_FSYNC_WRITERS (default 3: one per process of a local cluster).
 *   build/bench_fdatasync [DIR] [SECONDS]
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct writer {
	char path[4200];
	double seconds;
	long flushes;
	int err;
} writer;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run(void *arg)
{
	writer *w = arg;
	char buf[4096];
	int fd = open(w->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0) {
		w->err = errno;
		return NULL;
	}
	memset(buf, 0x5a, sizeof(buf));
	/* Allocate the blocks first: the loop measures overwrites + flush. */
	for (int i = 0; i < 256; i++)
		if (pwrite(fd, buf, sizeof(buf), (off_t)i * 4096) != (ssize_t)sizeof(buf))
			w->err = errno;
	if (fsync(fd) != 0)
		w->err = errno;
	double end = now_s() + w->seconds;
	while (w->err == 0 && now_s() < end) {
		if (pwrite(fd, buf, sizeof(buf), (off_t)(w->flushes % 256) * 4096) !=
			    (ssize_t)sizeof(buf) || fdatasync(fd) != 0)
			w->err = errno;
		w->flushes++;
	}
	close(fd);
	unlink(w->path);
	return NULL;
}

static double measure(const char *dir, int n, double seconds)
{
	pthread_t th[16];
	writer ws[16];
	long total = 0;

	for (int i = 0; i < n; i++) {
		memset(&ws[i], 0, sizeof(ws[i]));
		snprintf(ws[i].path, sizeof(ws[i].path), "%s/bench_fdatasync.%d.%d", dir,
			 (int)getpid(), i);
		ws[i].seconds = seconds;
		pthread_create(&th[i], NULL, run, &ws[i]);
	}
	for (int i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		if (ws[i].err) {
			fprintf(stderr, "bench_fdatasync: %s: %s\n", ws[i].path,
				strerror(ws[i].err));
			return -1;
		}
		total += ws[i].flushes;
	}
	return (double)total / seconds;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : ".";
	double seconds = argc > 2 ? atof(argv[2]) : 2.0;
	const char *env = getenv("ADD_FSYNC_WRITERS");
	int n = env ? atoi(env) : 3;

	if (n < 1 || n > 16 || seconds <= 0) {
		fprintf(stderr, "usage: bench_fdatasync [DIR] [SECONDS]\n");
		return 2;
	}
	double one = measure(dir, 1, seconds);
	double many = measure(dir, n, seconds);
	if (one < 0 || many < 0)
		return 1;
	printf("fdatasync/s (4 KiB overwrite + fdatasync, %s): 1 writer %.0f; %d writers %.0f "
	       "in total\n", dir, one, n, many);
	return 0;
}
