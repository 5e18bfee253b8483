/* core/sector_map: the node's sector -> register map. */
#include <stdint.h>
#include <stdlib.h>

#include <criterion/criterion.h>

#include "sector_map.h"


Test(sector_map, empty_map_finds_nothing)
{
	add_sector_map m;

	add_sector_map_init(&m);
	cr_assert_null(add_sector_map_get(&m, 0));
	cr_assert_null(add_sector_map_get(&m, 12345));
	add_sector_map_free(&m);
}

Test(sector_map, put_get_delete_match_a_reference_under_random_churn)
{
	enum { KEYS = 1 << 14 };
	static void *ref[KEYS];
	static int vals[KEYS];
	add_sector_map m;
	uint64_t x = 88172645463325252ull;
	size_t live = 0;

	add_sector_map_init(&m);
	for (int i = 0; i < 400000; i++) {
		uint64_t k;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* sector numbers spread over 2^21, as a device's would be */
		k = (x % KEYS) * 127 % KEYS;
		if (ref[k] == NULL && (x >> 40) % 3 != 0) {
			ref[k] = &vals[k];
			cr_assert_eq(add_sector_map_put(&m, k << 7, ref[k]), 0);
			live++;
		} else if (ref[k] != NULL) {
			cr_assert_eq(add_sector_map_get(&m, k << 7), ref[k]);
			add_sector_map_del(&m, k << 7);
			ref[k] = NULL;
			live--;
		}
		cr_assert_eq(m.len, live);
		if (i % 4096 == 0)
			for (uint64_t j = 0; j < KEYS; j++)
				cr_assert_eq(add_sector_map_get(&m, j << 7), ref[j]);
	}
	add_sector_map_free(&m);
}

Test(sector_map, memory_follows_live_entries_not_the_key_range)
{
	add_sector_map m;
	int v;

	add_sector_map_init(&m);
	for (uint64_t k = 0; k < 10000; k++)
		cr_assert_eq(add_sector_map_put(&m, k * 209, &v), 0);
	cr_assert_leq(m.cap, 32768);
	for (uint64_t k = 0; k < 10000; k++)
		add_sector_map_del(&m, k * 209);
	cr_assert_eq(m.len, 0);
	cr_assert_leq(m.cap, 128, "shrinks back when emptied (cap %zu)", m.cap);
	cr_assert_eq(add_sector_map_put(&m, (1ull << 21) - 1, &v), 0);
	cr_assert_eq(add_sector_map_get(&m, (1ull << 21) - 1), &v);
	add_sector_map_free(&m);
}
