/* core/disk_prefix: a prefixed-name view of an add_disk (see disk_prefix.h). */
#include "disk_prefix.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The inner name of `name`, or -ENAMETOOLONG / -EINVAL. */
static int full_name(const add_disk_prefix *p, const char *name,
		     char out[ADD_DISK_PREFIX_NAME_MAX + 1])
{
	if (!name || !name[0])
		return -EINVAL;
	int n = snprintf(out, ADD_DISK_PREFIX_NAME_MAX + 1, "%s%s", p->prefix, name);

	if (n < 0 || n > ADD_DISK_PREFIX_NAME_MAX)
		return -ENAMETOOLONG;
	assert(strncmp(out, p->prefix, strlen(p->prefix)) == 0);
	return 0;
}

static int dp_open(void *ctx, const char *name, bool create)
{
	const add_disk_prefix *p = ctx;
	char full[ADD_DISK_PREFIX_NAME_MAX + 1];
	int rc = full_name(p, name, full);

	return rc < 0 ? rc : p->inner->open(p->inner->ctx, full, create);
}

static int dp_close(void *ctx, int h)
{
	const add_disk_prefix *p = ctx;

	return p->inner->close(p->inner->ctx, h);
}

static int64_t dp_pread(void *ctx, int h, void *buf, size_t len, uint64_t off)
{
	const add_disk_prefix *p = ctx;

	return p->inner->pread(p->inner->ctx, h, buf, len, off);
}

static int64_t dp_pwrite(void *ctx, int h, const void *buf, size_t len, uint64_t off)
{
	const add_disk_prefix *p = ctx;

	return p->inner->pwrite(p->inner->ctx, h, buf, len, off);
}

static int dp_truncate(void *ctx, int h, uint64_t size)
{
	const add_disk_prefix *p = ctx;

	return p->inner->truncate(p->inner->ctx, h, size);
}

static int64_t dp_size(void *ctx, int h)
{
	const add_disk_prefix *p = ctx;

	return p->inner->size(p->inner->ctx, h);
}

static int dp_sync(void *ctx, int h)
{
	const add_disk_prefix *p = ctx;

	return p->inner->sync(p->inner->ctx, h);
}

static int dp_sync_async(void *ctx, int h, add_disk_done_fn done, void *arg)
{
	const add_disk_prefix *p = ctx;

	return p->inner->sync_async(p->inner->ctx, h, done, arg);
}

static int dp_rename(void *ctx, const char *from, const char *to)
{
	const add_disk_prefix *p = ctx;
	char a[ADD_DISK_PREFIX_NAME_MAX + 1], b[ADD_DISK_PREFIX_NAME_MAX + 1];
	int rc;

	if ((rc = full_name(p, from, a)) < 0 || (rc = full_name(p, to, b)) < 0)
		return rc;
	return p->inner->rename(p->inner->ctx, a, b);
}

static int dp_unlink(void *ctx, const char *name)
{
	const add_disk_prefix *p = ctx;
	char full[ADD_DISK_PREFIX_NAME_MAX + 1];
	int rc = full_name(p, name, full);

	return rc < 0 ? rc : p->inner->unlink(p->inner->ctx, full);
}

static int dp_sync_dir(void *ctx)
{
	const add_disk_prefix *p = ctx;

	return p->inner->sync_dir(p->inner->ctx);
}

struct list_filter {
	const add_disk_prefix *p;
	void (*fn)(void *arg, const char *name);
	void *arg;
};

static void list_one(void *arg, const char *name)
{
	const struct list_filter *lf = arg;
	size_t n = strlen(lf->p->prefix);

	if (strncmp(name, lf->p->prefix, n) == 0 && name[n])
		lf->fn(lf->arg, name + n);
}

static int dp_list(void *ctx, void (*fn)(void *arg, const char *name), void *arg)
{
	const add_disk_prefix *p = ctx;
	struct list_filter lf = { .p = p, .fn = fn, .arg = arg };

	return p->inner->list(p->inner->ctx, list_one, &lf);
}

bool add_disk_prefix_init(add_disk_prefix *p, const add_disk *inner, const char *prefix)
{
	size_t n = prefix ? strlen(prefix) : 0;

	if (!p || !inner || n == 0 || n > ADD_DISK_PREFIX_MAX || strchr(prefix, '/'))
		return false;
	memset(p, 0, sizeof(*p));
	memcpy(p->prefix, prefix, n + 1);
	p->inner = inner;
	p->ops = (add_disk){
		.ctx = p,
		.open = dp_open,
		.close = dp_close,
		.pread = dp_pread,
		.pwrite = dp_pwrite,
		.truncate = dp_truncate,
		.size = dp_size,
		.sync = dp_sync,
		.sync_async = dp_sync_async,
		.rename = dp_rename,
		.unlink = dp_unlink,
		.sync_dir = dp_sync_dir,
		.list = dp_list,
	};
	assert(p->ops.ctx == p && strcmp(p->prefix, prefix) == 0);
	return true;
}
