/*
 * runtime-sim/prng: the simulator's only source of randomness.
 *
 * xoshiro256** seeded through splitmix64 (Vigna). Pure C, no libc rand(), so
 * a seed gives the same stream on every machine and build. Every consumer
 * that must stay independent of the others (network, nemesis, each client,
 * each disk) gets its own stream split off the world's seed, so that adding a
 * draw in one place does not reshuffle every other decision of the run.
 */
#ifndef ADD_SIM_PRNG_H
#define ADD_SIM_PRNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct add_prng {
	uint64_t s[4];
} add_prng;

uint64_t add_splitmix64(uint64_t *state);
void add_prng_seed(add_prng *p, uint64_t seed);
/* A new independent stream derived from `seed` and a stream label. */
void add_prng_seed2(add_prng *p, uint64_t seed, uint64_t stream);
uint64_t add_prng_next(add_prng *p);
/* Uniform in [0, bound) (bound > 0), without modulo bias. */
uint64_t add_prng_below(add_prng *p, uint64_t bound);
/* Uniform in [lo, hi] (lo <= hi). */
uint64_t add_prng_range(add_prng *p, uint64_t lo, uint64_t hi);
/* Uniform double in [0, 1). */
double add_prng_unit(add_prng *p);
/* True with probability `prob` (<= 0 never draws: a disabled fault costs no
 * draw, so turning it off does not change the rest of the run's stream). */
bool add_prng_chance(add_prng *p, double prob);
void add_prng_bytes(add_prng *p, uint8_t *out, size_t len);

#endif /* ADD_SIM_PRNG_H */
