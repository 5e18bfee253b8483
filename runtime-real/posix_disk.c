/* runtime-real/posix_disk: real files, and fdatasync on a flush thread. */
#include "posix_disk.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define QMAX ADD_POSIX_DISK_FLUSHES_MAX
#define FLUSH_THREADS 2

typedef struct flush_req {
	int fd;
	int result;
	add_disk_done_fn done;
	void *arg;
} flush_req;

/* A ring of QMAX requests: [head, tail) in flight order. */
typedef struct ring {
	flush_req r[QMAX];
	size_t head, n;
} ring;

struct add_posix_disk {
	add_disk ops;
	int dir_fd;
	int event_fd;
	pthread_t threads[FLUSH_THREADS];
	size_t n_threads;
	pthread_mutex_t mu;
	pthread_cond_t cv_work;
	ring todo, done;   /* guarded by mu */
	bool stop;	   /* guarded by mu */
	size_t pending;	   /* loop thread only: started, not dispatched */
	add_hist sync_hist; /* every fdatasync (atomics: the flush threads write) */
	/* loop thread only: */
	char *dir_path;
	char **names; /* names[fd]: the file a handle is (for error lines) */
	size_t n_names;
	char last_error[ADD_POSIX_DISK_ERROR_MAX];
	char fd_label[24];
};

static void ring_push(ring *q, flush_req r)
{
	assert(q->n < QMAX);
	q->r[(q->head + q->n++) % QMAX] = r;
}

static flush_req ring_pop(ring *q)
{
	assert(q->n > 0);
	flush_req r = q->r[q->head];

	q->head = (q->head + 1) % QMAX;
	q->n--;
	return r;
}

static bool name_ok(const char *name)
{
	return name && name[0] && !strchr(name, '/') && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0;
}

/* The file of a handle, for error lines ("fd N" for one this disk did not
 * open; valid until the next call). */
static const char *fd_name(add_posix_disk *d, int fd)
{
	if (fd >= 0 && (size_t)fd < d->n_names && d->names[fd])
		return d->names[fd];
	snprintf(d->fd_label, sizeof(d->fd_label), "(fd %d)", fd);
	return d->fd_label;
}

/* Remembers what a handle is; without memory the error lines say "?". */
static void fd_name_set(add_posix_disk *d, int fd, const char *name)
{
	assert(fd >= 0);
	if ((size_t)fd >= d->n_names) {
		size_t n = (size_t)fd + 1 > 2 * d->n_names ? (size_t)fd + 1 : 2 * d->n_names;
		char **nn = realloc(d->names, n * sizeof(*nn));

		if (!nn)
			return;
		memset(nn + d->n_names, 0, (n - d->n_names) * sizeof(*nn));
		d->names = nn;
		d->n_names = n;
	}
	free(d->names[fd]);
	d->names[fd] = name ? strdup(name) : NULL;
	assert(!name || !d->names[fd] || strcmp(d->names[fd], name) == 0);
}

/* An error of operation `op` on file `name` (NULL: the directory) with errno
 * `e`: the one line "op dir/name: strerror", logged and kept as the last
 * error; returns -e. */
static int report(add_posix_disk *d, add_log_level level, const char *op, const char *name,
		  int e)
{
	assert(e > 0);
	snprintf(d->last_error, sizeof(d->last_error), "%s %s%s%s: %s", op, d->dir_path,
		 name ? "/" : "", name ? name : "", strerror(e));
	add_log(level, "disk: %s", d->last_error);
	return -e;
}

static int pd_open(void *ctx, const char *name, bool create)
{
	add_posix_disk *d = ctx;
	int fd;

	if (!name_ok(name))
		return -EINVAL;
	do
		fd = openat(d->dir_fd, name, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		if (errno == ENOENT && !create)
			return -ENOENT; /* a question, not a failure */
		return report(d, ADD_LOG_WARN, create ? "open (create)" : "open", name, errno);
	}
	fd_name_set(d, fd, name);
	return fd;
}

static int pd_close(void *ctx, int h)
{
	add_posix_disk *d = ctx;
	int rc = 0;

	/* Linux closes the fd even when close() fails with EINTR: no retry. */
	if (close(h) < 0 && errno != EINTR)
		rc = report(d, ADD_LOG_WARN, "close", fd_name(d, h), errno);
	if (h >= 0 && (size_t)h < d->n_names) {
		free(d->names[h]);
		d->names[h] = NULL;
	}
	return rc;
}

static int64_t pd_pread(void *ctx, int h, void *buf, size_t len, uint64_t off)
{
	add_posix_disk *d = ctx;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(h, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return report(d, ADD_LOG_WARN, "pread", fd_name(d, h), errno);
		}
		if (n == 0)
			break; /* end of file */
		done += (size_t)n;
	}
	return (int64_t)done;
}

/* A full disk is -ENOSPC (or -EDQUOT), as errno says: never folded into
 * -EIO. A write that fails part way may have written a prefix. */
static int64_t pd_pwrite(void *ctx, int h, const void *buf, size_t len, uint64_t off)
{
	add_posix_disk *d = ctx;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(h, (const char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return report(d, ADD_LOG_WARN, "pwrite", fd_name(d, h), errno);
		}
		if (n == 0) /* not for a regular file; do not spin */
			return report(d, ADD_LOG_WARN, "pwrite", fd_name(d, h), EIO);
		done += (size_t)n;
	}
	assert(done == len);
	return (int64_t)len;
}

static int pd_truncate(void *ctx, int h, uint64_t size)
{
	add_posix_disk *d = ctx;

	while (ftruncate(h, (off_t)size) < 0)
		if (errno != EINTR)
			return report(d, ADD_LOG_WARN, "ftruncate", fd_name(d, h), errno);
	return 0;
}

static int64_t pd_size(void *ctx, int h)
{
	add_posix_disk *d = ctx;
	struct stat st;

	if (fstat(h, &st) < 0)
		return report(d, ADD_LOG_WARN, "fstat", fd_name(d, h), errno);
	return (int64_t)st.st_size;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* fdatasync: 0 or -errno (any thread), timed into d->sync_hist. */
static int datasync(add_posix_disk *d, int fd)
{
	uint64_t t0 = mono_ns();
	int rc = 0;

	/* EINTR cannot lose the error state of the file: retrying is sound. */
	while (fdatasync(fd) < 0)
		if (errno != EINTR) {
			rc = -errno;
			break;
		}
	add_hist_observe(&d->sync_hist, mono_ns() - t0);
	return rc;
}

static int pd_sync(void *ctx, int h)
{
	add_posix_disk *d = ctx;
	int rc = datasync(d, h);

	return rc < 0 ? report(d, ADD_LOG_ERROR, "fdatasync", fd_name(d, h), -rc) : 0;
}

static int pd_sync_async(void *ctx, int h, add_disk_done_fn done, void *arg)
{
	add_posix_disk *d = ctx;

	if (h < 0 || !done)
		return -EINVAL;
	if (d->pending >= QMAX)
		return -EBUSY;
	pthread_mutex_lock(&d->mu);
	ring_push(&d->todo, (flush_req){ .fd = h, .done = done, .arg = arg });
	pthread_cond_signal(&d->cv_work);
	pthread_mutex_unlock(&d->mu);
	d->pending++;
	return 0;
}

static int pd_rename(void *ctx, const char *from, const char *to)
{
	add_posix_disk *d = ctx;

	if (!name_ok(from) || !name_ok(to))
		return -EINVAL;
	if (renameat(d->dir_fd, from, d->dir_fd, to) < 0) {
		char op[ADD_POSIX_DISK_ERROR_MAX / 2];

		snprintf(op, sizeof(op), "rename %s/%s to", d->dir_path, from);
		return report(d, ADD_LOG_WARN, op, to, errno);
	}
	return 0;
}

static int pd_unlink(void *ctx, const char *name)
{
	add_posix_disk *d = ctx;

	if (!name_ok(name))
		return -EINVAL;
	if (unlinkat(d->dir_fd, name, 0) < 0)
		return errno == ENOENT ? -ENOENT : report(d, ADD_LOG_WARN, "unlink", name, errno);
	return 0;
}

static int pd_sync_dir(void *ctx)
{
	add_posix_disk *d = ctx;

	while (fsync(d->dir_fd) < 0)
		if (errno != EINTR)
			return report(d, ADD_LOG_ERROR, "fsync (directory)", NULL, errno);
	return 0;
}

static int pd_list(void *ctx, void (*fn)(void *arg, const char *name), void *arg)
{
	add_posix_disk *d = ctx;
	int fd = openat(d->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir;
	struct dirent *e;

	if (fd < 0)
		return report(d, ADD_LOG_WARN, "open (directory)", NULL, errno);
	dir = fdopendir(fd);
	if (!dir) {
		int err = errno;

		close(fd);
		return report(d, ADD_LOG_WARN, "fdopendir", NULL, err);
	}
	/* Names are collected first: fn may create, rename or unlink. */
	size_t n = 0, cap = 64;
	char **names = malloc(cap * sizeof(*names));
	int rc = 0;

	while (names && (errno = 0, e = readdir(dir)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap *= 2) * sizeof(*names));

			if (!nn) {
				rc = -ENOMEM;
				break;
			}
			names = nn;
		}
		names[n] = strdup(e->d_name);
		if (!names[n]) {
			rc = -ENOMEM;
			break;
		}
		n++;
	}
	if (!names)
		rc = -ENOMEM;
	else if (rc == 0 && errno != 0)
		rc = -errno;
	closedir(dir);
	if (rc < 0)
		report(d, ADD_LOG_WARN, "readdir", NULL, -rc);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0)
			fn(arg, names[i]);
		free(names[i]);
	}
	free(names);
	return rc;
}

/* A flush thread: takes the oldest request and every other queued one for
 * the same file (one fdatasync covers them all: they were all queued before
 * it starts), and posts the results. FLUSH_THREADS of them, so the flush of
 * a big file (a checkpoint's data) does not hold up a small one (a journal). */
static void *flush_thread(void *argp)
{
	add_posix_disk *d = argp;
	flush_req work[QMAX];

	pthread_mutex_lock(&d->mu);
	for (;;) {
		while (d->todo.n == 0 && !d->stop)
			pthread_cond_wait(&d->cv_work, &d->mu);
		if (d->todo.n == 0 && d->stop)
			break;
		int fd = d->todo.r[d->todo.head].fd;
		size_t n = 0, m = d->todo.n;

		for (size_t i = 0; i < m; i++) {
			flush_req r = ring_pop(&d->todo);

			if (r.fd == fd)
				work[n++] = r;
			else
				ring_push(&d->todo, r); /* order of the others kept */
		}
		pthread_mutex_unlock(&d->mu);
		int result = datasync(d, fd);

		pthread_mutex_lock(&d->mu);
		for (size_t i = 0; i < n; i++) {
			work[i].result = result;
			ring_push(&d->done, work[i]);
		}
		uint64_t one = 1;

		/* Cannot fail short of a bug: the counter does not overflow. */
		if (write(d->event_fd, &one, sizeof(one)) != sizeof(one))
			abort();
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

size_t add_posix_disk_dispatch(add_posix_disk *d)
{
	uint64_t count;
	flush_req batch[QMAX];
	size_t n = 0;

	/* Drain the eventfd first: a completion posted after this read is
	 * either taken below or makes the fd readable again. */
	if (read(d->event_fd, &count, sizeof(count)) < 0 && errno != EAGAIN && errno != EINTR)
		abort();
	pthread_mutex_lock(&d->mu);
	while (d->done.n > 0)
		batch[n++] = ring_pop(&d->done);
	pthread_mutex_unlock(&d->mu);
	assert(d->pending >= n);
	d->pending -= n;
	/* A failed flush is said here, on the loop thread, with its file (the
	 * handle is still open: it may not be closed while its flush is queued). */
	for (size_t i = 0; i < n; i++)
		if (batch[i].result < 0)
			report(d, ADD_LOG_ERROR, "fdatasync", fd_name(d, batch[i].fd),
			       -batch[i].result);
	for (size_t i = 0; i < n; i++)
		batch[i].done(batch[i].arg, batch[i].result);
	return n;
}

const char *add_posix_disk_last_error(const add_posix_disk *d)
{
	return d->last_error;
}

int add_posix_disk_event_fd(const add_posix_disk *d)
{
	return d->event_fd;
}

size_t add_posix_disk_pending(const add_posix_disk *d)
{
	return d->pending;
}

void add_posix_disk_sync_latency(const add_posix_disk *d, add_hist_snap *out)
{
	add_hist_snapshot(&d->sync_hist, out);
}

const add_disk *add_posix_disk_ops(add_posix_disk *d)
{
	return &d->ops;
}

static void set_err(char *err, size_t err_len, const char *what, const char *dir, int e)
{
	if (err && err_len)
		snprintf(err, err_len, "%s %s: %s", what, dir, strerror(e));
}

add_posix_disk *add_posix_disk_open(const char *dir, char *err, size_t err_len)
{
	add_posix_disk *d = calloc(1, sizeof(*d));
	int e;

	if (!d) {
		set_err(err, err_len, "out of memory for", dir, ENOMEM);
		return NULL;
	}
	d->dir_path = strdup(dir);
	if (!d->dir_path) {
		set_err(err, err_len, "out of memory for", dir, ENOMEM);
		free(d);
		return NULL;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		set_err(err, err_len, "cannot create", dir, errno);
		free(d->dir_path);
		free(d);
		return NULL;
	}
	d->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->dir_fd < 0) {
		set_err(err, err_len, "cannot open", dir, errno);
		free(d->dir_path);
		free(d);
		return NULL;
	}
	d->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->event_fd < 0) {
		set_err(err, err_len, "eventfd for", dir, errno);
		close(d->dir_fd);
		free(d->dir_path);
		free(d);
		return NULL;
	}
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv_work, NULL);
	for (size_t i = 0; i < FLUSH_THREADS; i++) {
		e = pthread_create(&d->threads[i], NULL, flush_thread, d);
		if (e != 0) {
			set_err(err, err_len, "flush thread for", dir, e);
			add_posix_disk_close(d);
			return NULL;
		}
		d->n_threads++;
	}
	d->ops = (add_disk){
		.ctx = d,
		.open = pd_open,
		.close = pd_close,
		.pread = pd_pread,
		.pwrite = pd_pwrite,
		.truncate = pd_truncate,
		.size = pd_size,
		.sync = pd_sync,
		.sync_async = pd_sync_async,
		.rename = pd_rename,
		.unlink = pd_unlink,
		.sync_dir = pd_sync_dir,
		.list = pd_list,
	};
	return d;
}

void add_posix_disk_close(add_posix_disk *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->mu);
	d->stop = true;
	pthread_cond_broadcast(&d->cv_work);
	pthread_mutex_unlock(&d->mu);
	for (size_t i = 0; i < d->n_threads; i++)
		pthread_join(d->threads[i], NULL);
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->cv_work);
	close(d->event_fd);
	close(d->dir_fd);
	for (size_t i = 0; i < d->n_names; i++)
		free(d->names[i]);
	free(d->names);
	free(d->dir_path);
	free(d);
}
