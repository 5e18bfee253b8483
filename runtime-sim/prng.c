/* runtime-sim/prng: xoshiro256** + splitmix64. See prng.h. */
#include "prng.h"

#include <assert.h>

uint64_t add_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void add_prng_seed(add_prng *p, uint64_t seed)
{
	uint64_t st = seed;
	for (int i = 0; i < 4; i++)
		p->s[i] = add_splitmix64(&st);
	/* xoshiro must not start from the all-zero state. */
	if ((p->s[0] | p->s[1] | p->s[2] | p->s[3]) == 0)
		p->s[0] = 1;
}

void add_prng_seed2(add_prng *p, uint64_t seed, uint64_t stream)
{
	uint64_t st = stream * 0xd1342543de82ef95ull + 0x2545f4914f6cdd1dull;
	add_prng_seed(p, seed ^ add_splitmix64(&st));
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t add_prng_next(add_prng *p)
{
	uint64_t *s = p->s;
	const uint64_t result = rotl(s[1] * 5, 7) * 9;
	const uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t add_prng_below(add_prng *p, uint64_t bound)
{
	assert(bound > 0);
	/* Lemire's rejection: unbiased, rarely loops. */
	uint64_t threshold = (0 - bound) % bound;
	for (;;) {
		uint64_t r = add_prng_next(p);
		if (r >= threshold)
			return r % bound;
	}
}

uint64_t add_prng_range(add_prng *p, uint64_t lo, uint64_t hi)
{
	assert(lo <= hi);
	if (hi - lo == UINT64_MAX)
		return add_prng_next(p);
	return lo + add_prng_below(p, hi - lo + 1);
}

double add_prng_unit(add_prng *p)
{
	return (double)(add_prng_next(p) >> 11) * (1.0 / 9007199254740992.0);
}

bool add_prng_chance(add_prng *p, double prob)
{
	if (prob <= 0.0)
		return false;
	if (prob >= 1.0)
		return true;
	return add_prng_unit(p) < prob;
}

void add_prng_bytes(add_prng *p, uint8_t *out, size_t len)
{
	while (len > 0) {
		uint64_t r = add_prng_next(p);
		/* Byte order fixed (little-endian) so that runs match across hosts. */
		for (int i = 0; i < 8 && len > 0; i++, len--) {
			*out++ = (uint8_t)r;
			r >>= 8;
		}
	}
}
