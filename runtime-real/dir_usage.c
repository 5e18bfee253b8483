/* runtime-real/dir_usage: see dir_usage.h. */
#include "dir_usage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wire_constants.h"

int64_t add_dir_disk_bytes(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int64_t total = 0;

	if (d == NULL)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue; /* removed meanwhile (a checkpoint's temporary file) */
		if (S_ISREG(st.st_mode))
			total += (int64_t)st.st_blocks * 512;
	}
	closedir(d);
	return total;
}

uint64_t add_disk_bound_bytes(uint64_t sectors_written, uint64_t journal_max_bytes)
{
	uint64_t journal = journal_max_bytes ? journal_max_bytes : 64ull << 20;

	return sectors_written * ADD_SECTOR_SIZE / 10 * 11 + 2 * journal + (1ull << 20);
}
