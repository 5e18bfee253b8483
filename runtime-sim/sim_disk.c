/* runtime-sim/sim_disk: the simulated disk (see sim_disk.h for the model). */
#include "sim_disk.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 4096u
#define NAME_MAX_LEN 127
#define FILES_MAX 4096	 /* names in one directory */
#define HANDLES_MAX 1024 /* open handles */
#define EPOCHS ((uint32_t)(INT32_MAX / HANDLES_MAX))
#define NO_CRASH_POINT UINT64_MAX
#define READ_ERRORS_MAX 1024 /* injected ranges (a rewrite may split one) */

/* ---- sparse page map: page number -> 4 KiB page, linear probing ---- */

typedef struct page_map {
	uint64_t *keys; /* page number + 1; 0 = empty */
	uint8_t **pages;
	size_t cap; /* power of two */
	size_t count;
} page_map;

static size_t pm_slot(uint64_t key, size_t cap)
{
	return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 17) & (cap - 1);
}

static uint8_t *pm_get(const page_map *pm, uint64_t pno)
{
	if (pm->cap == 0)
		return NULL;
	for (size_t i = pm_slot(pno + 1, pm->cap);; i = (i + 1) & (pm->cap - 1)) {
		if (pm->keys[i] == 0)
			return NULL;
		if (pm->keys[i] == pno + 1)
			return pm->pages[i];
	}
}

static void pm_put_raw(page_map *pm, uint64_t key, uint8_t *page)
{
	size_t i = pm_slot(key, pm->cap);

	while (pm->keys[i] != 0)
		i = (i + 1) & (pm->cap - 1);
	pm->keys[i] = key;
	pm->pages[i] = page;
	pm->count++;
}

static void pm_reserve_one(page_map *pm)
{
	if ((pm->count + 1) * 2 > pm->cap) {
		page_map n = { 0 };

		n.cap = pm->cap ? pm->cap * 2 : 16;
		n.keys = calloc(n.cap, sizeof(*n.keys));
		n.pages = calloc(n.cap, sizeof(*n.pages));
		assert(n.keys && n.pages);
		for (size_t i = 0; i < pm->cap; i++)
			if (pm->keys[i])
				pm_put_raw(&n, pm->keys[i], pm->pages[i]);
		free(pm->keys);
		free(pm->pages);
		*pm = n;
	}
}

static uint8_t *pm_get_or_alloc(page_map *pm, uint64_t pno)
{
	uint8_t *p = pm_get(pm, pno);

	if (p)
		return p;
	pm_reserve_one(pm);
	p = calloc(1, PAGE);
	assert(p);
	pm_put_raw(pm, pno + 1, p);
	return p;
}

/* Removes a page and returns it (NULL if absent). Backward-shift deletion
 * keeps probe chains intact without tombstones. */
static uint8_t *pm_take(page_map *pm, uint64_t pno)
{
	size_t i;
	uint8_t *page;

	if (pm->cap == 0)
		return NULL;
	for (i = pm_slot(pno + 1, pm->cap);; i = (i + 1) & (pm->cap - 1)) {
		if (pm->keys[i] == 0)
			return NULL;
		if (pm->keys[i] == pno + 1)
			break;
	}
	page = pm->pages[i];
	pm->count--;
	for (size_t j = (i + 1) & (pm->cap - 1); pm->keys[j]; j = (j + 1) & (pm->cap - 1)) {
		size_t home = pm_slot(pm->keys[j], pm->cap);

		/* Move j back to i if its home is not in (i, j] cyclically. */
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			pm->keys[i] = pm->keys[j];
			pm->pages[i] = pm->pages[j];
			i = j;
		}
	}
	pm->keys[i] = 0;
	pm->pages[i] = NULL;
	return page;
}

/* Puts a page in (replacing and freeing any page already there). */
static void pm_insert(page_map *pm, uint64_t pno, uint8_t *page)
{
	free(pm_take(pm, pno));
	pm_reserve_one(pm);
	pm_put_raw(pm, pno + 1, page);
}

static void pm_free(page_map *pm)
{
	for (size_t i = 0; i < pm->cap; i++)
		free(pm->pages[i]);
	free(pm->keys);
	free(pm->pages);
	memset(pm, 0, sizeof(*pm));
}

/* ---- inodes ---- */

/* One unflushed write or truncate, with what it replaced (to undo it). */
typedef struct undo_rec {
	uint64_t seq; /* operation index */
	bool is_truncate;
	uint64_t off, len; /* the range written (write), or [new, old) size (truncate) */
	uint64_t old_size;
	uint8_t *old; /* write: old bytes of [off, min(off+len, old_size)); NULL if none */
	page_map cut;  /* truncate: the pages it dropped, whole (sparse) */
	uint8_t *tail; /* truncate: copy of the page holding the new end, or NULL */
} undo_rec;

typedef struct inode {
	page_map pm;
	uint64_t size;
	undo_rec *undo;
	size_t n_undo, cap_undo;
	bool mark;
	struct inode *next; /* all inodes */
} inode;

static void ino_read(const inode *f, uint8_t *buf, uint64_t len, uint64_t off)
{
	while (len > 0) {
		uint64_t pno = off / PAGE, in = off % PAGE;
		uint64_t n = PAGE - in < len ? PAGE - in : len;
		const uint8_t *p = pm_get(&f->pm, pno);

		if (p)
			memcpy(buf, p + in, n);
		else
			memset(buf, 0, n);
		buf += n;
		off += n;
		len -= n;
	}
}

static void ino_write(inode *f, const uint8_t *buf, uint64_t len, uint64_t off)
{
	while (len > 0) {
		uint64_t pno = off / PAGE, in = off % PAGE;
		uint64_t n = PAGE - in < len ? PAGE - in : len;

		memcpy(pm_get_or_alloc(&f->pm, pno) + in, buf, n);
		buf += n;
		off += n;
		len -= n;
	}
	/* size is the caller's business */
}

/* Sets the size, dropping pages wholly beyond it (into `cut` if not NULL,
 * else freed) and zeroing a partial tail. */
static void ino_set_size_cut(inode *f, uint64_t size, page_map *cut)
{
	if (size < f->size) {
		uint64_t first_dead = (size + PAGE - 1) / PAGE;
		uint64_t last = (f->size + PAGE - 1) / PAGE;

		if (last - first_dead > f->pm.count * 2) {
			/* Sparse: walk the map instead of the range. */
			for (size_t i = 0; i < f->pm.cap;) {
				uint64_t pno = f->pm.keys[i] - 1;

				if (f->pm.keys[i] && pno >= first_dead) {
					uint8_t *page = pm_take(&f->pm, pno); /* may shift into i */

					if (cut)
						pm_insert(cut, pno, page);
					else
						free(page);
				} else {
					i++;
				}
			}
		} else {
			for (uint64_t p = first_dead; p < last; p++) {
				uint8_t *page = pm_take(&f->pm, p);

				if (page && cut)
					pm_insert(cut, p, page);
				else
					free(page);
			}
		}
		if (size % PAGE) {
			uint8_t *p = pm_get(&f->pm, size / PAGE);

			if (p)
				memset(p + size % PAGE, 0, PAGE - size % PAGE);
		}
	}
	f->size = size;
}

static void ino_set_size(inode *f, uint64_t size)
{
	ino_set_size_cut(f, size, NULL);
}

static void undo_free(undo_rec *u)
{
	free(u->old);
	u->old = NULL;
	free(u->tail);
	u->tail = NULL;
	pm_free(&u->cut);
}

static undo_rec *undo_push(inode *f)
{
	if (f->n_undo == f->cap_undo) {
		f->cap_undo = f->cap_undo ? f->cap_undo * 2 : 8;
		f->undo = realloc(f->undo, f->cap_undo * sizeof(*f->undo));
		assert(f->undo);
	}
	memset(&f->undo[f->n_undo], 0, sizeof(undo_rec));
	return &f->undo[f->n_undo++];
}

/* Forgets the undo records with seq <= upto: they are durable now. */
static void undo_commit(inode *f, uint64_t upto)
{
	size_t k = 0;

	while (k < f->n_undo && f->undo[k].seq <= upto)
		undo_free(&f->undo[k++]);
	if (k == 0)
		return;
	memmove(f->undo, f->undo + k, (f->n_undo - k) * sizeof(*f->undo));
	f->n_undo -= k;
}

/* Undoes the bytes [off + keep, off + len) of a write (keep = 0: all of it). */
static void undo_apply(inode *f, undo_rec *u, uint64_t keep)
{
	if (u->is_truncate) {
		if (u->old_size < f->size)
			ino_set_size(f, u->old_size);
		f->size = u->old_size;
		/* Give the dropped pages back (moved, not copied). */
		for (size_t i = 0; i < u->cut.cap; i++) {
			if (u->cut.keys[i]) {
				pm_insert(&f->pm, u->cut.keys[i] - 1, u->cut.pages[i]);
				u->cut.pages[i] = NULL;
			}
		}
		pm_free(&u->cut);
		if (u->tail)
			memcpy(pm_get_or_alloc(&f->pm, u->off / PAGE), u->tail, PAGE);
		return;
	}
	uint64_t from = u->off + keep, end = u->off + u->len;
	uint64_t old_end = u->old_size < end ? (u->old_size > from ? u->old_size : from) : end;
	uint8_t zeros[512] = { 0 };

	if (old_end > from)
		ino_write(f, u->old + (from - u->off), old_end - from, from);
	/* Bytes the write added beyond the old end of file. */
	for (uint64_t o = old_end; o < end;) {
		uint64_t n = end - o < sizeof(zeros) ? end - o : sizeof(zeros);

		ino_write(f, zeros, n, o);
		o += n;
	}
	uint64_t new_size = u->old_size > from ? u->old_size : from;

	if (keep == 0)
		new_size = u->old_size;
	if (new_size < f->size)
		ino_set_size(f, new_size);
	f->size = new_size;
}

static void ino_free(inode *f)
{
	for (size_t i = 0; i < f->n_undo; i++)
		undo_free(&f->undo[i]);
	free(f->undo);
	pm_free(&f->pm);
	free(f);
}

/* ---- directory ---- */

typedef struct dentry {
	char name[NAME_MAX_LEN + 1];
	inode *ino;
} dentry;

typedef struct dir {
	dentry *e;
	size_t n, cap;
} dir;

enum dirop_kind { DIROP_CREATE, DIROP_RENAME, DIROP_UNLINK };

typedef struct dirop {
	uint64_t seq;
	enum dirop_kind kind;
	char a[NAME_MAX_LEN + 1], b[NAME_MAX_LEN + 1];
	inode *ino; /* CREATE */
} dirop;

static dentry *dir_find(dir *d, const char *name)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->e[i].name, name) == 0)
			return &d->e[i];
	return NULL;
}

static void dir_set(dir *d, const char *name, inode *ino)
{
	dentry *e = dir_find(d, name);

	if (e) {
		e->ino = ino;
		return;
	}
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 16;
		d->e = realloc(d->e, d->cap * sizeof(*d->e));
		assert(d->e);
	}
	e = &d->e[d->n++];
	memset(e, 0, sizeof(*e));
	strcpy(e->name, name);
	e->ino = ino;
}

static void dir_remove(dir *d, const char *name)
{
	dentry *e = dir_find(d, name);

	if (e)
		*e = d->e[--d->n];
}

static void dir_copy(dir *to, const dir *from)
{
	to->n = 0;
	for (size_t i = 0; i < from->n; i++)
		dir_set(to, from->e[i].name, from->e[i].ino);
}

static void dirop_apply(dir *d, const dirop *op)
{
	dentry *e;

	switch (op->kind) {
	case DIROP_CREATE:
		dir_set(d, op->a, op->ino);
		break;
	case DIROP_RENAME:
		e = dir_find(d, op->a);
		if (e) {
			inode *ino = e->ino;

			dir_remove(d, op->a);
			dir_set(d, op->b, ino);
		}
		break;
	case DIROP_UNLINK:
		dir_remove(d, op->a);
		break;
	}
}

/* ---- the disk ---- */

/* A latent read error: preads overlapping [off, end) of `ino` fail. */
typedef struct bad_range {
	inode *ino;
	uint64_t off, end;
} bad_range;

typedef struct pending_flush {
	inode *ino;
	uint64_t seq;
	bool fail;
	add_disk_done_fn done;
	void *arg;
} pending_flush;

struct add_sim_disk {
	add_disk ops;
	uint64_t rng;
	inode *inodes;
	dir written, durable;
	dirop *dirlog;
	size_t n_dirlog, cap_dirlog;
	inode *handles[HANDLES_MAX];
	uint32_t epoch; /* crashes so far, modulo EPOCHS */
	pending_flush *flushes;
	size_t n_flushes, cap_flushes;
	bool fail_next;
	add_sim_crash_mode mode;
	uint64_t op_count, crash_after, flush_count;
	add_sim_disk_trace_fn trace;
	void *trace_arg;
	uint64_t capacity; /* bytes of pages the written files may hold; 0 = no limit */
	bad_range *bad;	   /* injected read errors, by inode */
	size_t n_bad, cap_bad;
};

static uint64_t rng_next(add_sim_disk *d)
{
	/* splitmix64 */
	uint64_t z = (d->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rng_below(add_sim_disk *d, uint64_t n)
{
	return n ? rng_next(d) % n : 0;
}

/* Overwrites [from, end) of `f` with PRNG bytes (a torn write's garbage). */
static void garble(add_sim_disk *d, inode *f, uint64_t from, uint64_t end)
{
	uint8_t buf[512];

	assert(from <= end);
	while (from < end) {
		size_t n = end - from < sizeof(buf) ? (size_t)(end - from) : sizeof(buf);

		for (size_t i = 0; i < n; i += 8) {
			uint64_t r = rng_next(d);

			for (size_t j = 0; j < 8 && i + j < n; j++)
				buf[i + j] = (uint8_t)(r >> (8 * j));
		}
		ino_write(f, buf, n, from);
		from += n;
	}
	assert(from == end);
}

/* ---- injected read errors (per inode, so a rename keeps them) ---- */

static bool bad_overlaps(const add_sim_disk *d, const inode *f, uint64_t off, uint64_t end)
{
	for (size_t i = 0; i < d->n_bad; i++)
		if (d->bad[i].ino == f && d->bad[i].off < end && off < d->bad[i].end)
			return true;
	return false;
}

static void bad_push(add_sim_disk *d, inode *f, uint64_t off, uint64_t end)
{
	assert(off < end);
	if (d->n_bad == d->cap_bad) {
		d->cap_bad = d->cap_bad ? d->cap_bad * 2 : 16;
		d->bad = realloc(d->bad, d->cap_bad * sizeof(*d->bad));
		assert(d->bad);
	}
	d->bad[d->n_bad++] = (bad_range){ .ino = f, .off = off, .end = end };
}

/* Takes [off, end) of `f` out of the read errors (rewritten: the disk remapped
 * it; or gone with a truncate or the file). A range reaching past both ends
 * splits in two, so splits are bounded by the writes, not by READ_ERRORS_MAX. */
static void bad_clear(add_sim_disk *d, const inode *f, uint64_t off, uint64_t end)
{
	for (size_t i = 0; i < d->n_bad;) {
		bad_range b = d->bad[i];

		if (b.ino != f || b.end <= off || end <= b.off) {
			i++;
			continue;
		}
		d->bad[i] = d->bad[--d->n_bad]; /* revisit slot i */
		if (b.off < off)
			bad_push(d, b.ino, b.off, off);
		if (end < b.end)
			bad_push(d, b.ino, end, b.end);
	}
	assert(!bad_overlaps(d, f, off, end));
}

/* Bytes of pages held by the files of the written directory. */
static uint64_t used_bytes(const add_sim_disk *d)
{
	uint64_t b = 0;

	for (size_t i = 0; i < d->written.n; i++) {
		const inode *f = d->written.e[i].ino;
		bool seen = false;

		for (size_t j = 0; j < i; j++)
			seen |= d->written.e[j].ino == f;
		if (!seen)
			b += (uint64_t)f->pm.count * PAGE;
	}
	return b;
}

/* True if `pages` more pages fit within the capacity (always if none set). */
static bool room_for(const add_sim_disk *d, uint64_t pages)
{
	if (d->capacity == 0 || pages == 0)
		return true;
	uint64_t used = used_bytes(d);

	return used <= d->capacity && pages <= (d->capacity - used) / PAGE;
}

/* Pages a write of [off, off + len) would allocate (len > 0). */
static uint64_t pages_missing(const inode *f, uint64_t off, uint64_t len)
{
	uint64_t n = 0;

	assert(len > 0);
	for (uint64_t p = off / PAGE; p <= (off + len - 1) / PAGE; p++)
		n += pm_get(&f->pm, p) == NULL;
	return n;
}

/* Counts one mutating operation; returns its index. */
static uint64_t op_begin2(add_sim_disk *d, const char *op, const char *name, const char *to)
{
	uint64_t seq = ++d->op_count;

	if (d->trace)
		d->trace(d->trace_arg, seq, op, name ? name : ".", to);
	return seq;
}

/* Reads are traced too (files touched), but get no operation index. */
static void op_read(add_sim_disk *d, const char *op, const char *name)
{
	if (d->trace)
		d->trace(d->trace_arg, d->op_count, op, name ? name : ".", NULL);
}

static uint64_t op_begin(add_sim_disk *d, const char *op, const char *name)
{
	return op_begin2(d, op, name, NULL);
}

static bool op_lost(const add_sim_disk *d, uint64_t seq)
{
	return seq > d->crash_after;
}

static bool name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	return n > 0 && n <= NAME_MAX_LEN && !strchr(name, '/');
}

/* A handle is slot + HANDLES_MAX * epoch; a crash starts a new epoch, so a
 * handle from before it is never mistaken for a later one (an owner closing
 * its store after a crash must not touch files opened since). */
static inode *handle_get(add_sim_disk *d, int h)
{
	if (h < 0 || (uint32_t)h / HANDLES_MAX != d->epoch)
		return NULL;
	return d->handles[h % HANDLES_MAX];
}

static const char *handle_name(add_sim_disk *d, int h)
{
	inode *f = handle_get(d, h);

	for (size_t i = 0; f && i < d->written.n; i++)
		if (d->written.e[i].ino == f)
			return d->written.e[i].name;
	return "?";
}

static void dirlog_push(add_sim_disk *d, uint64_t seq, enum dirop_kind kind, const char *a,
			const char *b, inode *ino)
{
	if (d->n_dirlog == d->cap_dirlog) {
		d->cap_dirlog = d->cap_dirlog ? d->cap_dirlog * 2 : 16;
		d->dirlog = realloc(d->dirlog, d->cap_dirlog * sizeof(*d->dirlog));
		assert(d->dirlog);
	}
	dirop *op = &d->dirlog[d->n_dirlog++];

	memset(op, 0, sizeof(*op));
	op->seq = seq;
	op->kind = kind;
	strcpy(op->a, a);
	if (b)
		strcpy(op->b, b);
	op->ino = ino;
}

/* Frees the inodes nothing refers to any more. */
static void gc_inodes(add_sim_disk *d)
{
	for (inode *f = d->inodes; f; f = f->next)
		f->mark = false;
	for (size_t i = 0; i < d->written.n; i++)
		d->written.e[i].ino->mark = true;
	for (size_t i = 0; i < d->durable.n; i++)
		d->durable.e[i].ino->mark = true;
	for (size_t i = 0; i < d->n_dirlog; i++)
		if (d->dirlog[i].ino)
			d->dirlog[i].ino->mark = true;
	for (size_t i = 0; i < HANDLES_MAX; i++)
		if (d->handles[i])
			d->handles[i]->mark = true;
	for (size_t i = 0; i < d->n_flushes; i++)
		d->flushes[i].ino->mark = true;
	for (inode **pp = &d->inodes; *pp;) {
		inode *f = *pp;

		if (!f->mark) {
			*pp = f->next;
			bad_clear(d, f, 0, UINT64_MAX);
			ino_free(f);
		} else {
			pp = &f->next;
		}
	}
}

static int sd_open(void *ctx, const char *name, bool create)
{
	add_sim_disk *d = ctx;
	dentry *e;
	inode *f;
	int h;

	if (!name_ok(name))
		return -EINVAL;
	for (h = 0; h < HANDLES_MAX && d->handles[h]; h++)
		;
	if (h == HANDLES_MAX)
		return -EMFILE;
	e = dir_find(&d->written, name);
	if (e) {
		op_read(d, "open", name);
		f = e->ino;
	} else {
		if (!create) {
			op_read(d, "open", name);
			return -ENOENT;
		}
		if (d->written.n >= FILES_MAX)
			return -ENOSPC;
		uint64_t seq = op_begin(d, "create", name);

		f = calloc(1, sizeof(*f));
		assert(f);
		f->next = d->inodes;
		d->inodes = f;
		dir_set(&d->written, name, f);
		dirlog_push(d, seq, DIROP_CREATE, name, NULL, f);
	}
	d->handles[h] = f;
	return h + (int)(d->epoch * HANDLES_MAX);
}

static int sd_close(void *ctx, int h)
{
	add_sim_disk *d = ctx;

	if (!handle_get(d, h))
		return -EBADF;
	d->handles[h % HANDLES_MAX] = NULL;
	return 0;
}

static int64_t sd_pread(void *ctx, int h, void *buf, size_t len, uint64_t off)
{
	add_sim_disk *d = ctx;
	inode *f = handle_get(d, h);

	if (!f)
		return -EBADF;
	op_read(d, "pread", d->trace ? handle_name(d, h) : NULL);
	if (off >= f->size)
		return 0;
	if (len > f->size - off)
		len = (size_t)(f->size - off);
	if (len > 0 && bad_overlaps(d, f, off, off + len))
		return -EIO; /* a latent sector error (add_sim_disk_inject_read_error) */
	ino_read(f, buf, len, off);
	return (int64_t)len;
}

static int64_t sd_pwrite(void *ctx, int h, const void *buf, size_t len, uint64_t off)
{
	add_sim_disk *d = ctx;
	inode *f = handle_get(d, h);

	if (!f)
		return -EBADF;
	if (len == 0)
		return 0;
	if (len > UINT64_MAX - off)
		return -EINVAL;
	/* A full disk writes nothing (and the failed call is no operation). */
	if (d->capacity && !room_for(d, pages_missing(f, off, len)))
		return -ENOSPC;
	uint64_t seq = op_begin(d, "pwrite", d->trace ? handle_name(d, h) : NULL);
	undo_rec *u = undo_push(f);

	u->seq = seq;
	u->off = off;
	u->len = len;
	u->old_size = f->size;
	if (off < f->size) {
		uint64_t n = f->size - off < len ? f->size - off : len;

		u->old = malloc(n);
		assert(u->old);
		ino_read(f, u->old, n, off);
	}
	ino_write(f, buf, len, off);
	if (off + len > f->size)
		f->size = off + len;
	bad_clear(d, f, off, off + len);
	return (int64_t)len;
}

static int sd_truncate(void *ctx, int h, uint64_t size)
{
	add_sim_disk *d = ctx;
	inode *f = handle_get(d, h);

	if (!f)
		return -EBADF;
	/* Growing: the file must fit if it were written whole (the model of a
	 * file system that does not overcommit), else -ENOSPC, nothing done. */
	if (d->capacity && size > f->size) {
		uint64_t pages = size / PAGE + (size % PAGE != 0);

		if (!room_for(d, pages > f->pm.count ? pages - f->pm.count : 0))
			return -ENOSPC;
	}
	uint64_t seq = op_begin(d, "truncate", d->trace ? handle_name(d, h) : NULL);
	undo_rec *u = undo_push(f);

	u->seq = seq;
	u->is_truncate = true;
	u->old_size = f->size;
	u->off = size;
	if (size < f->size) {
		const uint8_t *p = size % PAGE ? pm_get(&f->pm, size / PAGE) : NULL;

		u->len = f->size - size;
		if (p) {
			u->tail = malloc(PAGE);
			assert(u->tail);
			memcpy(u->tail, p, PAGE);
		}
		ino_set_size_cut(f, size, &u->cut);
		bad_clear(d, f, size, UINT64_MAX);
	} else {
		ino_set_size(f, size);
	}
	assert(f->size == size);
	return 0;
}

static int64_t sd_size(void *ctx, int h)
{
	add_sim_disk *d = ctx;
	inode *f = handle_get(d, h);

	return f ? (int64_t)f->size : -EBADF;
}

static int sd_sync(void *ctx, int h)
{
	add_sim_disk *d = ctx;
	inode *f = handle_get(d, h);

	if (!f)
		return -EBADF;
	uint64_t seq = op_begin(d, "sync", d->trace ? handle_name(d, h) : NULL);

	d->flush_count++;
	if (d->fail_next) {
		d->fail_next = false;
		return -EIO;
	}
	if (!op_lost(d, seq))
		undo_commit(f, seq);
	return 0;
}

static int sd_sync_async(void *ctx, int h, add_disk_done_fn done, void *arg)
{
	add_sim_disk *d = ctx;
	inode *f = handle_get(d, h);

	if (!f)
		return -EBADF;
	uint64_t seq = op_begin(d, "sync_async", d->trace ? handle_name(d, h) : NULL);

	d->flush_count++;
	if (op_lost(d, seq))
		return 0; /* the machine is already down: never completes */
	if (d->n_flushes == d->cap_flushes) {
		d->cap_flushes = d->cap_flushes ? d->cap_flushes * 2 : 16;
		d->flushes = realloc(d->flushes, d->cap_flushes * sizeof(*d->flushes));
		assert(d->flushes);
	}
	d->flushes[d->n_flushes++] = (pending_flush){
		.ino = f, .seq = seq, .fail = d->fail_next, .done = done, .arg = arg
	};
	d->fail_next = false;
	return 0;
}

static int sd_rename(void *ctx, const char *from, const char *to)
{
	add_sim_disk *d = ctx;
	dentry *e;

	if (!name_ok(from) || !name_ok(to))
		return -EINVAL;
	e = dir_find(&d->written, from);
	if (!e)
		return -ENOENT;
	uint64_t seq = op_begin2(d, "rename", from, to);
	inode *ino = e->ino;

	dir_remove(&d->written, from);
	dir_set(&d->written, to, ino);
	dirlog_push(d, seq, DIROP_RENAME, from, to, NULL);
	return 0;
}

static int sd_unlink(void *ctx, const char *name)
{
	add_sim_disk *d = ctx;

	if (!name_ok(name))
		return -EINVAL;
	if (!dir_find(&d->written, name))
		return -ENOENT;
	uint64_t seq = op_begin(d, "unlink", name);

	dir_remove(&d->written, name);
	dirlog_push(d, seq, DIROP_UNLINK, name, NULL, NULL);
	return 0;
}

static int sd_sync_dir(void *ctx)
{
	add_sim_disk *d = ctx;
	uint64_t seq = op_begin(d, "sync_dir", NULL);

	if (d->fail_next) {
		d->fail_next = false;
		return -EIO;
	}
	if (op_lost(d, seq))
		return 0;
	dir_copy(&d->durable, &d->written);
	d->n_dirlog = 0;
	gc_inodes(d);
	return 0;
}

static int sd_list(void *ctx, void (*fn)(void *arg, const char *name), void *arg)
{
	add_sim_disk *d = ctx;
	/* Copy the names first: fn may create, rename or unlink. */
	size_t n = d->written.n;
	char (*names)[NAME_MAX_LEN + 1] = malloc((n ? n : 1) * sizeof(*names));

	assert(names);
	op_read(d, "list", NULL);
	for (size_t i = 0; i < n; i++)
		strcpy(names[i], d->written.e[i].name);
	for (size_t i = 0; i < n; i++)
		fn(arg, names[i]);
	free(names);
	return 0;
}

add_sim_disk *add_sim_disk_create(uint64_t seed)
{
	add_sim_disk *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->rng = seed;
	d->crash_after = NO_CRASH_POINT;
	d->ops = (add_disk){
		.ctx = d,
		.open = sd_open,
		.close = sd_close,
		.pread = sd_pread,
		.pwrite = sd_pwrite,
		.truncate = sd_truncate,
		.size = sd_size,
		.sync = sd_sync,
		.sync_async = sd_sync_async,
		.rename = sd_rename,
		.unlink = sd_unlink,
		.sync_dir = sd_sync_dir,
		.list = sd_list,
	};
	return d;
}

void add_sim_disk_destroy(add_sim_disk *d)
{
	if (!d)
		return;
	while (d->inodes) {
		inode *f = d->inodes;

		d->inodes = f->next;
		ino_free(f);
	}
	free(d->written.e);
	free(d->durable.e);
	free(d->dirlog);
	free(d->flushes);
	free(d->bad);
	free(d);
}

const add_disk *add_sim_disk_ops(add_sim_disk *d)
{
	return &d->ops;
}

size_t add_sim_disk_pending_flushes(const add_sim_disk *d)
{
	return d->n_flushes;
}

bool add_sim_disk_complete_one(add_sim_disk *d)
{
	if (d->n_flushes == 0)
		return false;
	pending_flush pf = d->flushes[0];

	memmove(d->flushes, d->flushes + 1, (d->n_flushes - 1) * sizeof(*d->flushes));
	d->n_flushes--;
	if (pf.fail) {
		pf.done(pf.arg, -EIO);
		return true;
	}
	undo_commit(pf.ino, pf.seq);
	pf.done(pf.arg, 0);
	return true;
}

bool add_sim_disk_complete_newest(add_sim_disk *d)
{
	if (d->n_flushes == 0)
		return false;
	pending_flush pf = d->flushes[--d->n_flushes];

	if (pf.fail) {
		pf.done(pf.arg, -EIO);
		return true;
	}
	/* Its writes, and every earlier one of its file, are durable now; the
	 * earlier flushes of that file, delivered later, find nothing to do. */
	undo_commit(pf.ino, pf.seq);
	pf.done(pf.arg, 0);
	return true;
}

size_t add_sim_disk_complete_flushes(add_sim_disk *d)
{
	size_t n = d->n_flushes;

	for (size_t i = 0; i < n; i++)
		add_sim_disk_complete_one(d);
	return n;
}

void add_sim_disk_fail_next_flush(add_sim_disk *d)
{
	d->fail_next = true;
}

/* Resolves one file's unflushed writes for a crash. */
static void crash_inode(add_sim_disk *d, inode *f)
{
	size_t m = f->n_undo, live = 0;

	/* Writes after the crash point never happened on the durable side. */
	while (live < m && f->undo[live].seq <= d->crash_after)
		live++;
	for (size_t i = m; i > live; i--)
		undo_apply(f, &f->undo[i - 1], 0);
	if (live > 0) {
		add_sim_crash_mode mode = d->mode;
		size_t keep = live; /* writes kept whole; undo[keep] torn if tear */
		bool tear = false;

		if (mode == ADD_SIM_CRASH_RANDOM) {
			static const add_sim_crash_mode pick[4] = {
				ADD_SIM_CRASH_LOSE, ADD_SIM_CRASH_KEEP, ADD_SIM_CRASH_TEAR,
				ADD_SIM_CRASH_GARBAGE
			};

			mode = pick[rng_below(d, 4)];
			if (mode == ADD_SIM_CRASH_TEAR || mode == ADD_SIM_CRASH_GARBAGE) {
				keep = (size_t)rng_below(d, live);
				tear = true;
			}
		} else if (mode == ADD_SIM_CRASH_TEAR || mode == ADD_SIM_CRASH_GARBAGE) {
			keep = live - 1;
			tear = true;
		}
		if (mode == ADD_SIM_CRASH_LOSE)
			keep = 0;
		for (size_t i = live; i > keep + (tear ? 1 : 0); i--)
			undo_apply(f, &f->undo[i - 1], 0);
		if (tear) {
			undo_rec *u = &f->undo[keep];
			uint64_t gran = rng_below(d, 2) ? 4096 : 512;
			uint64_t first = (u->off / gran + 1) * gran;

			if (!u->is_truncate && first >= u->off + u->len) {
				gran = 512;
				first = (u->off / gran + 1) * gran;
			}
			if (u->is_truncate) {
				/* A size change: all or nothing. */
				if (rng_below(d, 2))
					undo_apply(f, u, 0);
			} else if (first >= u->off + u->len) {
				/* No boundary inside: all or nothing, or all garbage. */
				if (mode == ADD_SIM_CRASH_GARBAGE)
					garble(d, f, u->off, u->off + u->len);
				else if (rng_below(d, 2))
					undo_apply(f, u, 0);
			} else {
				uint64_t n_bounds = (u->off + u->len - 1 - first) / gran + 1;
				uint64_t cut = first + rng_below(d, n_bounds) * gran;

				/* The part past the cut: its old bytes, or garbage (the
				 * file keeps the size the whole write gave it). */
				if (mode == ADD_SIM_CRASH_GARBAGE)
					garble(d, f, cut, u->off + u->len);
				else
					undo_apply(f, u, cut - u->off);
			}
		}
	}
	for (size_t i = 0; i < f->n_undo; i++)
		undo_free(&f->undo[i]);
	f->n_undo = 0;
}

void add_sim_disk_crash(add_sim_disk *d)
{
	size_t live = 0, keep;

	d->n_flushes = 0;
	memset(d->handles, 0, sizeof(d->handles));
	d->epoch = (d->epoch + 1) % EPOCHS;
	for (inode *f = d->inodes; f; f = f->next)
		crash_inode(d, f);
	while (live < d->n_dirlog && d->dirlog[live].seq <= d->crash_after)
		live++;
	if (d->mode == ADD_SIM_CRASH_RANDOM)
		keep = (size_t)rng_below(d, live + 1);
	else if (d->mode == ADD_SIM_CRASH_LOSE)
		keep = 0;
	else
		keep = live;
	for (size_t i = 0; i < keep; i++)
		dirop_apply(&d->durable, &d->dirlog[i]);
	d->n_dirlog = 0;
	dir_copy(&d->written, &d->durable);
	d->crash_after = NO_CRASH_POINT;
	d->fail_next = false;
	gc_inodes(d);
}

void add_sim_disk_set_crash_mode(add_sim_disk *d, add_sim_crash_mode mode)
{
	d->mode = mode;
}

void add_sim_disk_crash_mode(add_sim_disk *d, add_sim_crash_mode mode)
{
	d->mode = mode;
	add_sim_disk_crash(d);
}

uint64_t add_sim_disk_op_count(const add_sim_disk *d)
{
	return d->op_count;
}

void add_sim_disk_set_crash_after(add_sim_disk *d, uint64_t k)
{
	d->crash_after = k;
}

bool add_sim_disk_past_crash_point(const add_sim_disk *d)
{
	return d->op_count > d->crash_after;
}

void add_sim_disk_set_trace(add_sim_disk *d, add_sim_disk_trace_fn fn, void *arg)
{
	d->trace = fn;
	d->trace_arg = arg;
}

uint64_t add_sim_disk_flush_count(const add_sim_disk *d)
{
	return d->flush_count;
}

uint64_t add_sim_disk_bytes_used(const add_sim_disk *d)
{
	return used_bytes(d);
}

size_t add_sim_disk_file_count(const add_sim_disk *d)
{
	return d->written.n;
}

/* ---- storage faults ---- */

static inode *lookup(const add_sim_disk *d, const char *name)
{
	if (!name_ok(name))
		return NULL;
	for (size_t i = 0; i < d->written.n; i++)
		if (strcmp(d->written.e[i].name, name) == 0)
			return d->written.e[i].ino;
	return NULL;
}

int add_sim_disk_inject_read_error(add_sim_disk *d, const char *name, uint64_t off,
				   uint64_t len)
{
	inode *f = lookup(d, name);

	if (!f)
		return -ENOENT;
	if (len == 0 || off >= f->size || len > f->size - off)
		return -EINVAL;
	if (d->n_bad >= READ_ERRORS_MAX)
		return -ENOSPC;
	bad_push(d, f, off, off + len);
	assert(bad_overlaps(d, f, off, off + len));
	return 0;
}

/* Flips a byte in every copy a crash could bring back: the written page and
 * the bytes each unflushed write or truncate would restore, so the rot is in
 * whatever image survives (durable included). */
static void flip_everywhere(inode *f, uint64_t off, uint8_t mask)
{
	uint8_t *p = pm_get_or_alloc(&f->pm, off / PAGE);

	assert(off < f->size);
	p[off % PAGE] ^= mask;
	for (size_t i = 0; i < f->n_undo; i++) {
		undo_rec *u = &f->undo[i];

		if (!u->is_truncate) {
			uint64_t n = u->off < u->old_size ? u->old_size - u->off : 0;

			n = n < u->len ? n : u->len;
			if (u->old && off >= u->off && off - u->off < n)
				u->old[off - u->off] ^= mask;
			continue;
		}
		uint8_t *c = pm_get(&u->cut, off / PAGE);

		if (c)
			c[off % PAGE] ^= mask;
		if (u->tail && off / PAGE == u->off / PAGE)
			u->tail[off % PAGE] ^= mask;
	}
}

int add_sim_disk_flip_bit(add_sim_disk *d, const char *name, uint64_t off, unsigned bit)
{
	inode *f = lookup(d, name);

	if (!f)
		return -ENOENT;
	if (bit > 7 || off >= f->size)
		return -EINVAL;
	/* A hole (never written) reads as zeros whatever the medium holds:
	 * flipping there would allocate a page the store never wrote. */
	if (pm_get(&f->pm, off / PAGE) == NULL)
		return -ENODATA;
	uint8_t before = 0, after = 0;

	ino_read(f, &before, 1, off);
	flip_everywhere(f, off, (uint8_t)(1u << bit));
	ino_read(f, &after, 1, off);
	assert((uint8_t)(before ^ after) == (uint8_t)(1u << bit));
	return 0;
}

int add_sim_disk_rot_random(add_sim_disk *d, bool read_errors, char *desc, size_t desc_len)
{
	size_t n = 0, pick;
	const dentry *e = NULL;

	if (desc && desc_len)
		desc[0] = '\0';
	for (size_t i = 0; i < d->written.n; i++)
		n += d->written.e[i].ino->pm.count > 0;
	if (n == 0)
		return -ENOENT;
	pick = (size_t)rng_below(d, n);
	for (size_t i = 0; i < d->written.n; i++)
		if (d->written.e[i].ino->pm.count > 0 && pick-- == 0) {
			e = &d->written.e[i];
			break;
		}
	assert(e);
	inode *f = e->ino;
	/* The k-th allocated page, in the map's (deterministic) slot order. */
	uint64_t k = rng_below(d, f->pm.count), pno = 0;

	for (size_t i = 0; i < f->pm.cap; i++)
		if (f->pm.keys[i] && k-- == 0) {
			pno = f->pm.keys[i] - 1;
			break;
		}
	uint64_t base = pno * PAGE;

	assert(base < f->size); /* no page lies wholly past the end */
	uint64_t span = f->size - base < PAGE ? f->size - base : PAGE;
	uint64_t off = base + rng_below(d, span);

	if (read_errors && rng_below(d, 2)) {
		if (d->n_bad >= READ_ERRORS_MAX)
			return -ENOSPC;
		bad_push(d, f, base, base + span);
		if (desc && desc_len)
			snprintf(desc, desc_len, "read-error %s@%" PRIu64 "+%" PRIu64, e->name, base,
				 span);
		return 0;
	}
	unsigned bit = (unsigned)rng_below(d, 8);

	flip_everywhere(f, off, (uint8_t)(1u << bit));
	if (desc && desc_len)
		snprintf(desc, desc_len, "flip %s@%" PRIu64 " bit %u", e->name, off, bit);
	return 0;
}

size_t add_sim_disk_read_errors_active(const add_sim_disk *d)
{
	return d->n_bad;
}

void add_sim_disk_set_capacity(add_sim_disk *d, uint64_t bytes)
{
	d->capacity = bytes;
}

int64_t add_sim_disk_file_size(const add_sim_disk *d, const char *name)
{
	const inode *f = lookup(d, name);

	return f ? (int64_t)f->size : -ENOENT;
}

int64_t add_sim_disk_peek(const add_sim_disk *d, const char *name, void *buf, size_t len,
			  uint64_t off)
{
	const inode *f = lookup(d, name);

	if (!f)
		return -ENOENT;
	if (!buf && len)
		return -EINVAL;
	if (off >= f->size)
		return 0;
	if (len > f->size - off)
		len = (size_t)(f->size - off);
	ino_read(f, buf, len, off);
	return (int64_t)len;
}
