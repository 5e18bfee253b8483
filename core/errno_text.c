/* core/errno_text: see errno_text.h. */
#include "errno_text.h"

#include <errno.h>
#include <stdio.h>

static const struct {
	int e;
	const char *text;
} TABLE[] = {
	{ EPERM, "Operation not permitted" },
	{ ENOENT, "No such file or directory" },
	{ EIO, "Input/output error" },
	{ EBADF, "Bad file descriptor" },
	{ EAGAIN, "Resource temporarily unavailable" },
	{ ENOMEM, "Cannot allocate memory" },
	{ EACCES, "Permission denied" },
	{ EBUSY, "Device or resource busy" },
	{ EEXIST, "File exists" },
	{ ENOTDIR, "Not a directory" },
	{ EISDIR, "Is a directory" },
	{ EINVAL, "Invalid argument" },
	{ ENFILE, "Too many open files in system" },
	{ EMFILE, "Too many open files" },
	{ EFBIG, "File too large" },
	{ ENOSPC, "No space left on device" },
	{ EROFS, "Read-only file system" },
	{ ENAMETOOLONG, "File name too long" },
	{ EBADMSG, "Bad message" },
	{ EOVERFLOW, "Value too large for defined data type" },
	{ EDQUOT, "Disk quota exceeded" },
	{ ESTALE, "Stale file handle" },
};

const char *add_errno_text(int e, char *buf, unsigned buf_len)
{
	if (e < 0)
		e = -e;
	for (unsigned i = 0; i < sizeof(TABLE) / sizeof(TABLE[0]); i++)
		if (TABLE[i].e == e)
			return TABLE[i].text;
	if (buf && buf_len > 0) {
		snprintf(buf, buf_len, "errno %d", e);
		return buf;
	}
	return "unknown error";
}
