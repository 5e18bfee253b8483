/* runtime-real/storage_policy: the space bound, disk-full detection, the
 * scrub's pace, and --scrub-interval parsing. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../runtime-real/config.h"
#include "../../runtime-real/storage_policy.h"

#define MIB (1ull << 20)

Test(storage_policy, space_bound_covers_data_meta_and_both_journals)
{
	uint64_t n = 65536, batch = 3 * 1024;
	uint64_t b = add_store_space_bound(n, 0, batch);

	/* data alone is n x 4096; each journal may reach its 64 MiB default and
	 * pass it by a batch of `batch` 4 KiB records */
	cr_assert_geq(b, n * 4096 + 2 * (64 * MIB + batch * 4096), "bound %llu",
		      (unsigned long long)b);
	/* and it is a bound, not a guess off by orders of magnitude */
	cr_assert_lt(b, 2 * n * 4096 + 4 * 128 * MIB);
	/* a bigger journal threshold needs more, and so does a bigger batch */
	cr_assert_gt(add_store_space_bound(n, 256 * MIB, batch), b + 2 * 190 * MIB);
	cr_assert_geq(add_store_space_bound(n, 0, 2 * batch), b + 2 * batch * 4096);
	/* grows with the sectors */
	cr_assert_geq(add_store_space_bound(2 * n, 0, batch), b + n * 4096);
}

Test(storage_policy, free_bytes_of_a_directory_and_the_error_naming_a_missing_one)
{
	uint64_t f = 0;
	char err[256] = "";

	cr_assert_eq(add_dir_free_bytes("/tmp", &f, err, sizeof(err)), 0);
	cr_assert_gt(f, 0);
	cr_assert_eq(add_dir_free_bytes("/nonexistent/add-x", &f, err, sizeof(err)), -ENOENT);
	cr_assert(strstr(err, "statvfs") && strstr(err, "/nonexistent/add-x") &&
		  strstr(err, strerror(ENOENT)), "err %s", err);
}

Test(storage_policy, disk_full_is_told_from_the_store_reason)
{
	cr_assert(add_storage_error_is_disk_full(
		"sector store: pwrite journal-b at 1048576: No space left on device"));
	cr_assert(add_storage_error_is_disk_full("journal-a: ENOSPC"));
	cr_assert(add_storage_error_is_disk_full("meta: Disk quota exceeded"));
	cr_assert_not(add_storage_error_is_disk_full(
		"sector store: pread data at 4096: Input/output error"));
	cr_assert_not(add_storage_error_is_disk_full(NULL));
}

Test(storage_policy, scrub_pace_makes_one_pass_per_interval)
{
	add_scrub_pacer p;
	uint64_t total = 0;

	add_scrub_pacer_init(&p, 10); /* 10 s per pass */
	/* 1000 written sectors, ticks of 100 ms over 10 s: exactly 1000 */
	for (int i = 0; i < 100; i++)
		total += add_scrub_pacer_due(&p, 1000, 100000000ull);
	cr_assert_eq(total, 1000);
	/* 7 sectors over 10 s in 100 ms ticks: fractions carried, 7 in all */
	total = 0;
	add_scrub_pacer_init(&p, 10);
	for (int i = 0; i < 100; i++)
		total += add_scrub_pacer_due(&p, 7, 100000000ull);
	cr_assert_eq(total, 7);
}

Test(storage_policy, scrub_pace_is_bounded_per_tick_and_off_at_zero)
{
	add_scrub_pacer p;

	add_scrub_pacer_init(&p, 1);
	/* 2M sectors in 1 s: far more than one tick may do */
	cr_assert_eq(add_scrub_pacer_due(&p, 2097152, 100000000ull), ADD_SCRUB_STEP_MAX);
	/* a stall of an hour asks for no burst either, and no overflow */
	cr_assert_eq(add_scrub_pacer_due(&p, 2097152, 3600ull * 1000000000ull),
		     ADD_SCRUB_STEP_MAX);
	add_scrub_pacer_init(&p, 0);
	cr_assert_eq(add_scrub_pacer_due(&p, 1000, 1000000000ull), 0);
	add_scrub_pacer_init(&p, 5);
	cr_assert_eq(add_scrub_pacer_due(&p, 0, 1000000000ull), 0);
}

static int parse(int argc, char **argv, add_addd_config *cfg, char *err, size_t len)
{
	return add_addd_parse_args(argc, argv, cfg, err, len);
}

Test(storage_policy, scrub_interval_option_defaults_to_a_day_and_takes_zero)
{
	char dir[] = "/tmp/add-sp-XXXXXX";
	char ck[32], sk[32], err[256];
	add_addd_config cfg;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(ck, sizeof(ck), "%s/ck", dir);
	snprintf(sk, sizeof(sk), "%s/sk", dir);
	FILE *f = fopen(ck, "w");
	cr_assert_not_null(f);
	for (int i = 0; i < 64; i++)
		fputc('a', f);
	fclose(f);
	f = fopen(sk, "w");
	cr_assert_not_null(f);
	for (int i = 0; i < 128; i++)
		fputc('b', f);
	fclose(f);
	/* getopt takes char **: writable copies of every argument */
	cr_assert_eq(chmod(ck, 0600), 0);
	cr_assert_eq(chmod(sk, 0600), 0);
	char a[13][32] = {"addd", "--rank", "1", "--peers", "127.0.0.1:1", "--storage-dir", "",
			  "--sectors", "8", "--client-key-file", "", "--system-key-file", ""};
	char extra[32];
	char *base[15];
	snprintf(a[6], sizeof(a[6]), "%s", dir);
	snprintf(a[10], sizeof(a[10]), "%s", ck);
	snprintf(a[12], sizeof(a[12]), "%s", sk);
	for (int i = 0; i < 13; i++)
		base[i] = a[i];
	base[13] = extra;
	base[14] = NULL;
	cr_assert_eq(parse(13, base, &cfg, err, sizeof(err)), ADD_ARGS_OK, "%s", err);
	cr_assert_eq(cfg.scrub_interval_s, ADD_SCRUB_INTERVAL_DEFAULT);
	add_addd_config_free(&cfg);
	snprintf(extra, sizeof(extra), "--scrub-interval=0");
	cr_assert_eq(parse(14, base, &cfg, err, sizeof(err)), ADD_ARGS_OK, "%s", err);
	cr_assert_eq(cfg.scrub_interval_s, 0);
	add_addd_config_free(&cfg);
	snprintf(extra, sizeof(extra), "--scrub-interval=soon");
	cr_assert_eq(parse(14, base, &cfg, err, sizeof(err)), ADD_ARGS_ERROR);
	cr_assert(strstr(err, "--scrub-interval") != NULL, "err %s", err);
	unlink(ck);
	unlink(sk);
	rmdir(dir);
}

Test(storage_policy, a_directory_with_room_is_not_nearly_full)
{
	cr_assert_not(add_dir_nearly_full("/tmp"));
	cr_assert_not(add_dir_nearly_full("/nonexistent/add-x"));
}
