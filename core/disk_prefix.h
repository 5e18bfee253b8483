/*
 * core/disk_prefix: an add_disk (core/disk.h) that is a view of another one
 * in which every file name carries a fixed prefix, so a module that names its
 * own files ("tmp", "txn", ...) can share a directory with others and its
 * files can be told apart: the view's "tmp" is the directory's "<prefix>tmp".
 * list() shows only the files with the prefix, without it. Handles, data and
 * flushes pass through unchanged. No allocation; the view lives as long as
 * the caller keeps the struct (and the inner disk).
 */
#ifndef ADD_DISK_PREFIX_H
#define ADD_DISK_PREFIX_H

#include <stdbool.h>

#include "disk.h"

#define ADD_DISK_PREFIX_MAX 15
#define ADD_DISK_PREFIX_NAME_MAX 255 /* prefix + name, as a POSIX name */

typedef struct add_disk_prefix {
	add_disk ops; /* the view: pass &p->ops */
	const add_disk *inner;
	char prefix[ADD_DISK_PREFIX_MAX + 1];
} add_disk_prefix;

/* Sets up the view; false if prefix is empty, too long or holds a '/'. */
bool add_disk_prefix_init(add_disk_prefix *p, const add_disk *inner, const char *prefix);

#endif /* ADD_DISK_PREFIX_H */
