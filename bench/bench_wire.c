/*
 * bench_wire: core/wire throughput next to the machine's own HMAC-SHA256
 * limit, measured in the same run.
 *
 *   limit    OpenSSL one-shot HMAC() over 4 KiB (a key schedule per call)
 *   limit    a prepared key: add_hmac_sign (ipad/opad states copied), and
 *            EVP_MAC "HMAC" re-initialised with a NULL key (the alternative),
 *            also on 24-byte messages where the per-message overhead shows
 *   codec    encode+sign and decode+verify of a WRITE command (4152 bytes)
 *            and of a VALUE message (4176 bytes), decoded in place
 *
 * ratio = codec messages/s / best prepared-key HMAC messages/s over 4 KiB
 * (the target is >= 0.80). Each figure runs for BENCH_SECONDS (default 1) s in
 * total, all interleaved in 20 ms slices.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "wire.h"

static double bench_seconds = 1.0;
static volatile uint8_t sink;

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef void (*op_fn)(void *ctx);

typedef struct figure {
	const char *name;
	op_fn op;
	void *ctx;
	size_t bytes;
	uint64_t n; /* operations done */
	double t;   /* seconds spent doing them */
} figure;

static double msgs_per_s(const figure *f)
{
	return (double)f->n / f->t;
}

/*
 * Measures every figure round-robin in 20 ms slices, bench_seconds each in
 * total: the machine is shared, and interleaving makes every figure (and so
 * every ratio) see the same load instead of whatever load its turn met.
 */
static void run_all(figure *figs, size_t count)
{
	const double slice_s = 0.02;
	for (size_t i = 0; i < count; i++)
		for (int k = 0; k < 64; k++) /* warm up */
			figs[i].op(figs[i].ctx);
	for (double spent = 0; spent < bench_seconds;) {
		for (size_t i = 0; i < count; i++) {
			figure *f = &figs[i];
			double t0 = now_s(), t;
			do {
				for (int k = 0; k < 16; k++)
					f->op(f->ctx);
				f->n += 16;
				t = now_s();
			} while (t - t0 < slice_s);
			f->t += t - t0;
		}
		spent += slice_s;
	}
}

static void print_figure(const figure *f)
{
	printf("  %-44s %10.0f msg/s %9.1f MB/s\n", f->name, msgs_per_s(f),
	       msgs_per_s(f) * (double)f->bytes / 1e6);
}

/* ---- the limits ---------------------------------------------------------- */

static uint8_t key32[ADD_CLIENT_KEY_SIZE], key64[ADD_SYSTEM_KEY_SIZE];
static uint8_t buf4k[ADD_SECTOR_SIZE];
static add_hmac_key client_key, system_key;

static void op_oneshot(void *ctx)
{
	(void)ctx;
	uint8_t tag[32];
	unsigned int n;
	HMAC(EVP_sha256(), key32, sizeof(key32), buf4k, sizeof(buf4k), tag, &n);
	sink ^= tag[0];
}

/* ctx: the message length (4 KiB, or a READ command's 24 signed bytes) */
static void op_prepared(void *ctx)
{
	uint8_t tag[32];
	add_hmac_sign(&client_key, buf4k, *(const size_t *)ctx, tag);
	sink ^= tag[0];
}

static EVP_MAC_CTX *mac_ctx;

static void op_evp_mac(void *ctx)
{
	EVP_MAC_CTX *mc = mac_ctx;
	uint8_t tag[32];
	size_t n;
	if (EVP_MAC_init(mc, NULL, 0, NULL) != 1 ||
	    EVP_MAC_update(mc, buf4k, *(const size_t *)ctx) != 1 ||
	    EVP_MAC_final(mc, tag, &n, sizeof(tag)) != 1)
		abort();
	sink ^= tag[0];
}

static EVP_MAC_CTX *evp_mac_prepared(void)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *mc = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)(uintptr_t)"SHA256",
						 0),
		OSSL_PARAM_construct_end(),
	};
	if (mc == NULL || EVP_MAC_init(mc, key32, sizeof(key32), params) != 1)
		abort();
	EVP_MAC_free(mac);
	return mc;
}

/* ---- the codec ----------------------------------------------------------- */

static uint8_t wire_write[ADD_CMD_WRITE_SIZE], wire_value[ADD_PEER_VALUE_SIZE];
static add_wire_decoder dec;

static void op_encode_write(void *ctx)
{
	(void)ctx;
	add_client_cmd c = { .type = ADD_TYPE_WRITE, .request = 1, .sector = 2, .data = buf4k };
	if (add_wire_encode_cmd(&c, &client_key, wire_write) != ADD_CMD_WRITE_SIZE)
		abort();
	sink ^= wire_write[ADD_CMD_WRITE_SIZE - 1];
}

static void op_encode_value(void *ctx)
{
	(void)ctx;
	add_peer_msg p = { .type = ADD_TYPE_VALUE, .rank = 1, .sector = 2, .ts = 3, .wr = 1,
			   .data = buf4k };
	if (add_wire_encode_peer(&p, &system_key, wire_value) != ADD_PEER_VALUE_SIZE)
		abort();
	sink ^= wire_value[ADD_PEER_VALUE_SIZE - 1];
}

static void op_decode(void *ctx)
{
	const uint8_t *msg = ctx;
	size_t size = msg == wire_write ? sizeof(wire_write) : sizeof(wire_value);
	add_wire_msg m;
	if (add_wire_decoder_feed(&dec, msg, size, &m) != size || m.kind == ADD_WIRE_NONE ||
	    !m.hmac_ok)
		abort();
	sink ^= (uint8_t)m.kind;
}

int main(void)
{
	const char *s = getenv("BENCH_SECONDS");
	if (s != NULL && atof(s) > 0)
		bench_seconds = atof(s);
	for (size_t i = 0; i < sizeof(key64); i++)
		key64[i] = (uint8_t)(i * 3 + 1);
	memcpy(key32, key64, sizeof(key32));
	for (size_t i = 0; i < sizeof(buf4k); i++)
		buf4k[i] = (uint8_t)(i * 7);
	if (add_hmac_key_init(&client_key, key32, sizeof(key32)) != 0 ||
	    add_hmac_key_init(&system_key, key64, sizeof(key64)) != 0)
		return 1;
	add_wire_decoder_init(&dec, ADD_WIRE_MODE_PROCESS, &client_key, &system_key);

	static size_t len_4k = ADD_SECTOR_SIZE, len_small = ADD_CMD_HEADER_SIZE;
	mac_ctx = evp_mac_prepared();
	enum { ONESHOT, EVP, PREP, EVP_SMALL, PREP_SMALL, ENC_W, DEC_W, ENC_V, DEC_V, NFIG };
	figure figs[NFIG] = {
		[ONESHOT] = { "OpenSSL one-shot HMAC() (key per call)", op_oneshot, NULL, 4096 },
		[EVP] = { "EVP_MAC prepared, re-init per message", op_evp_mac, &len_4k, 4096 },
		[PREP] = { "add_hmac_sign (prepared ipad/opad states)", op_prepared, &len_4k,
			   4096 },
		[EVP_SMALL] = { "EVP_MAC prepared, re-init per message", op_evp_mac, &len_small,
				ADD_CMD_HEADER_SIZE },
		[PREP_SMALL] = { "add_hmac_sign (prepared ipad/opad states)", op_prepared,
				 &len_small, ADD_CMD_HEADER_SIZE },
		[ENC_W] = { "encode+sign WRITE command (4152 B)", op_encode_write, NULL,
			    ADD_CMD_WRITE_SIZE },
		[DEC_W] = { "decode+verify WRITE command (4152 B)", op_decode, wire_write,
			    ADD_CMD_WRITE_SIZE },
		[ENC_V] = { "encode+sign VALUE (4176 B)", op_encode_value, NULL,
			    ADD_PEER_VALUE_SIZE },
		[DEC_V] = { "decode+verify VALUE (4176 B)", op_decode, wire_value,
			    ADD_PEER_VALUE_SIZE },
	};
	op_encode_write(NULL); /* the decode figures need signed messages */
	op_encode_value(NULL);
	run_all(figs, NFIG);
	EVP_MAC_CTX_free(mac_ctx);

	printf("HMAC-SHA256 limit over 4 KiB buffers (%s), %.1f s per figure, interleaved:\n",
	       OpenSSL_version(OPENSSL_VERSION), bench_seconds);
	for (int i = ONESHOT; i <= PREP; i++)
		print_figure(&figs[i]);
	printf("per-message overhead, 24-byte messages (a READ command):\n");
	print_figure(&figs[EVP_SMALL]);
	print_figure(&figs[PREP_SMALL]);
	printf("core/wire codec:\n");
	for (int i = ENC_W; i <= DEC_V; i++)
		print_figure(&figs[i]);

	double limit = msgs_per_s(&figs[ONESHOT]);
	for (int i = EVP; i <= PREP; i++)
		if (msgs_per_s(&figs[i]) > limit)
			limit = msgs_per_s(&figs[i]);
	printf("ratio to the best 4 KiB HMAC rate (%.0f msg/s; target >= 0.80):\n", limit);
	printf("  encode WRITE %.2f  decode WRITE %.2f  encode VALUE %.2f  decode VALUE %.2f\n",
	       msgs_per_s(&figs[ENC_W]) / limit, msgs_per_s(&figs[DEC_W]) / limit,
	       msgs_per_s(&figs[ENC_V]) / limit, msgs_per_s(&figs[DEC_V]) / limit);
	printf("  prepared key vs one-shot HMAC(): %.2fx; ipad/opad copy vs EVP_MAC re-init: "
	       "%.2fx (4 KiB), %.2fx (24 B)\n",
	       msgs_per_s(&figs[PREP]) / msgs_per_s(&figs[ONESHOT]),
	       msgs_per_s(&figs[PREP]) / msgs_per_s(&figs[EVP]),
	       msgs_per_s(&figs[PREP_SMALL]) / msgs_per_s(&figs[EVP_SMALL]));
	add_hmac_key_free(&client_key);
	add_hmac_key_free(&system_key);
	return 0;
}
