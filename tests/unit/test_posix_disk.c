/* The POSIX disk backend on a temporary directory. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../runtime-real/posix_disk.h"

typedef struct tmp {
	char dir[64];
	add_posix_disk *pd;
	const add_disk *d;
} tmp;

static void unlink_cb(void *arg, const char *name)
{
	tmp *t = arg;

	t->d->unlink(t->d->ctx, name);
}

static void tmp_open(tmp *t)
{
	char err[256] = "";

	snprintf(t->dir, sizeof(t->dir), "/tmp/add-posix-disk-XXXXXX");
	cr_assert_not_null(mkdtemp(t->dir));
	t->pd = add_posix_disk_open(t->dir, err, sizeof(err));
	cr_assert_not_null(t->pd, "%s", err);
	t->d = add_posix_disk_ops(t->pd);
}

static void tmp_close(tmp *t)
{
	t->d->list(t->d->ctx, unlink_cb, t);
	add_posix_disk_close(t->pd);
	cr_assert_eq(rmdir(t->dir), 0);
}

static void names_cb(void *arg, const char *name)
{
	char *acc = arg;

	strcat(acc, name);
	strcat(acc, ";");
}

Test(posix_disk, a_written_file_reads_back_with_its_size)
{
	tmp t;
	uint8_t out[16];

	tmp_open(&t);
	int h = t.d->open(t.d->ctx, "f", true);

	cr_assert_geq(h, 0);
	cr_assert_eq(t.d->pwrite(t.d->ctx, h, "hello world", 11, 100), 11);
	cr_assert_eq(t.d->size(t.d->ctx, h), 111);
	cr_assert_eq(t.d->pread(t.d->ctx, h, out, 16, 100), 11, "short only at end of file");
	cr_assert_arr_eq(out, "hello world", 11);
	cr_assert_eq(t.d->pread(t.d->ctx, h, out, 4, 0), 4);
	cr_assert_arr_eq(out, "\0\0\0\0", 4);
	cr_assert_eq(t.d->truncate(t.d->ctx, h, 3), 0);
	cr_assert_eq(t.d->size(t.d->ctx, h), 3);
	cr_assert_eq(t.d->sync(t.d->ctx, h), 0);
	cr_assert_eq(t.d->close(t.d->ctx, h), 0);
	tmp_close(&t);
}

Test(posix_disk, open_without_create_of_a_missing_file_is_enoent)
{
	tmp t;

	tmp_open(&t);
	cr_assert_eq(t.d->open(t.d->ctx, "missing", false), -ENOENT);
	cr_assert_eq(t.d->open(t.d->ctx, "a/b", true), -EINVAL);
	cr_assert_eq(t.d->unlink(t.d->ctx, "missing"), -ENOENT);
	tmp_close(&t);
}

Test(posix_disk, rename_replaces_and_list_and_unlink_see_the_directory)
{
	tmp t;
	char names[256] = "";

	tmp_open(&t);
	int a = t.d->open(t.d->ctx, "a", true), b = t.d->open(t.d->ctx, "b", true);

	cr_assert_eq(t.d->pwrite(t.d->ctx, a, "A", 1, 0), 1);
	cr_assert_eq(t.d->pwrite(t.d->ctx, b, "B", 1, 0), 1);
	t.d->close(t.d->ctx, a);
	t.d->close(t.d->ctx, b);
	cr_assert_eq(t.d->rename(t.d->ctx, "a", "b"), 0);
	cr_assert_eq(t.d->sync_dir(t.d->ctx), 0);
	cr_assert_eq(t.d->list(t.d->ctx, names_cb, names), 0);
	cr_assert_str_eq(names, "b;");
	int h = t.d->open(t.d->ctx, "b", false);
	char c = 0;

	cr_assert_eq(t.d->pread(t.d->ctx, h, &c, 1, 0), 1);
	cr_assert_eq(c, 'A');
	t.d->close(t.d->ctx, h);
	cr_assert_eq(t.d->unlink(t.d->ctx, "b"), 0);
	names[0] = 0;
	t.d->list(t.d->ctx, names_cb, names);
	cr_assert_str_eq(names, "");
	tmp_close(&t);
}

static void done_cb(void *arg, int result)
{
	int *r = arg;

	*r = result;
}

Test(posix_disk, sync_async_completes_through_the_event_fd_on_dispatch)
{
	tmp t;
	int r1 = 1, r2 = 1;

	tmp_open(&t);
	int h = t.d->open(t.d->ctx, "f", true);

	cr_assert_eq(t.d->pwrite(t.d->ctx, h, "x", 1, 0), 1);
	cr_assert_eq(t.d->sync_async(t.d->ctx, h, done_cb, &r1), 0);
	cr_assert_eq(t.d->sync_async(t.d->ctx, h, done_cb, &r2), 0);
	cr_assert_eq(r1, 1, "never from inside sync_async");
	cr_assert_eq(add_posix_disk_pending(t.pd), 2);
	size_t got = 0;

	for (int i = 0; i < 100 && got < 2; i++) {
		struct pollfd p = { .fd = add_posix_disk_event_fd(t.pd), .events = POLLIN };

		cr_assert_geq(poll(&p, 1, 5000), 0);
		if (p.revents & POLLIN)
			got += add_posix_disk_dispatch(t.pd);
	}
	cr_assert_eq(got, 2);
	cr_assert_eq(r1, 0);
	cr_assert_eq(r2, 0);
	cr_assert_eq(add_posix_disk_pending(t.pd), 0);
	cr_assert_eq(add_posix_disk_dispatch(t.pd), 0, "nothing left");
	t.d->close(t.d->ctx, h);
	tmp_close(&t);
}

Test(posix_disk, a_flush_of_a_bad_handle_reports_an_error)
{
	tmp t;
	int r = 1;

	tmp_open(&t);
	cr_assert_lt(t.d->sync(t.d->ctx, 987), 0);
	cr_assert_eq(t.d->sync_async(t.d->ctx, 987, done_cb, &r), 0);
	for (int i = 0; i < 100 && r == 1; i++) {
		struct pollfd p = { .fd = add_posix_disk_event_fd(t.pd), .events = POLLIN };

		poll(&p, 1, 5000);
		add_posix_disk_dispatch(t.pd);
	}
	cr_assert_eq(r, -EBADF, "failed fdatasync reported, never pretended");
	tmp_close(&t);
}

/* A file of the directory that is /dev/full: writes fail with ENOSPC,
 * fdatasync with EINVAL. */
static int open_full(tmp *t)
{
	char path[128];

	if (access("/dev/full", W_OK) != 0)
		cr_skip_test("no /dev/full");
	snprintf(path, sizeof(path), "%s/full", t->dir);
	cr_assert_eq(symlink("/dev/full", path), 0);
	int h = t->d->open(t->d->ctx, "full", false);

	cr_assert_geq(h, 0);
	return h;
}

static void expect_error_line(tmp *t, const char *op, const char *file, int e)
{
	const char *line = add_posix_disk_last_error(t->pd);
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", t->dir, file);
	cr_assert(strncmp(line, op, strlen(op)) == 0, "operation first: '%s'", line);
	cr_assert(strstr(line, path), "the file's path: '%s'", line);
	cr_assert(strstr(line, strerror(e)), "strerror: '%s'", line);
}

Test(posix_disk, a_full_disk_is_enospc_and_the_error_names_op_file_and_cause)
{
	tmp t;

	tmp_open(&t);
	cr_assert_str_eq(add_posix_disk_last_error(t.pd), "", "no error yet");
	int h = open_full(&t);

	cr_assert_eq(t.d->pwrite(t.d->ctx, h, "x", 1, 0), -ENOSPC, "not folded into -EIO");
	expect_error_line(&t, "pwrite", "full", ENOSPC);
	t.d->close(t.d->ctx, h);
	tmp_close(&t);
}

Test(posix_disk, a_failed_fdatasync_names_its_file_sync_and_async)
{
	tmp t;
	int r = 1;

	tmp_open(&t);
	int h = open_full(&t);

	cr_assert_eq(t.d->sync(t.d->ctx, h), -EINVAL);
	expect_error_line(&t, "fdatasync", "full", EINVAL);
	int g = t.d->open(t.d->ctx, "good", true);

	cr_assert_eq(t.d->sync(t.d->ctx, g), 0);
	cr_assert_eq(t.d->sync_async(t.d->ctx, h, done_cb, &r), 0);
	for (int i = 0; i < 100 && r == 1; i++) {
		struct pollfd p = { .fd = add_posix_disk_event_fd(t.pd), .events = POLLIN };

		poll(&p, 1, 5000);
		add_posix_disk_dispatch(t.pd);
	}
	cr_assert_eq(r, -EINVAL);
	expect_error_line(&t, "fdatasync", "full", EINVAL);
	t.d->close(t.d->ctx, g);
	t.d->close(t.d->ctx, h);
	tmp_close(&t);
}

Test(posix_disk, questions_are_not_errors_and_a_failed_rename_names_both_files)
{
	tmp t;

	tmp_open(&t);
	cr_assert_eq(t.d->open(t.d->ctx, "missing", false), -ENOENT);
	cr_assert_eq(t.d->unlink(t.d->ctx, "missing"), -ENOENT);
	cr_assert_str_eq(add_posix_disk_last_error(t.pd), "", "nothing failed");
	cr_assert_eq(t.d->rename(t.d->ctx, "missing", "other"), -ENOENT);
	expect_error_line(&t, "rename", "missing to", ENOENT);
	expect_error_line(&t, "rename", "other", ENOENT);
	tmp_close(&t);
}
