/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Seal+open throughput of the data-plane framing (src/crypto, on GnuTLS's in-place AEAD API)
 * against the raw engines on the same buffers: nettle's gcm_aes256, GnuTLS's copying AEAD API and
 * GnuTLS's in-place scatter/gather API, for 64, 512 and 1400-byte payloads. The last column is the
 * framing overhead proper: ours against the engine it runs on.
 *
 * Each measurement runs one implementation for a fixed number of seal+open pairs and reads
 * CLOCK_THREAD_CPUTIME_ID around it; implementations are interleaved round by round and the median
 * round is reported, so frequency drift and noisy neighbours hit all of them alike.
 *
 *   bench-crypto [ROUNDS [MIN_MS]]   (defaults 9 rounds, 40 ms per measurement) */
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <nettle/gcm.h>
#include <nettle/memops.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aead.h"
#include "keys.h"
#include "wire.h"

#define MAX_ROUNDS 64
#define BUF_SIZE 2048

typedef enum Impl {
        IMPL_FLUX,
        IMPL_NETTLE,
        IMPL_GNUTLS,
        IMPL_GNUTLS_V2,
        _IMPL_MAX,
} Impl;

static const char *const impl_name[_IMPL_MAX] = {
        [IMPL_FLUX] = "fluxify v2 framing",
        [IMPL_NETTLE] = "raw nettle gcm_aes256",
        [IMPL_GNUTLS] = "gnutls_aead_cipher",
        [IMPL_GNUTLS_V2] = "gnutls in place (v2 API)",
};

typedef struct Ctx {
        FluxSender tx;
        FluxReceiver rx;
        struct gcm_aes256_ctx gcm_seal, gcm_open;
        gnutls_aead_cipher_hd_t gt;
        uint8_t buf[BUF_SIZE], out[BUF_SIZE];
        uint64_t counter;
} Ctx;

static double thread_cpu_seconds(void) {
        struct timespec ts;

        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void die(const char *what) {
        fprintf(stderr, "bench-crypto: %s failed\n", what);
        exit(EXIT_FAILURE);
}

/* The full version 2 path: header encode, counter nonce, seal; parse, epoch pick, replay check,
 * open, replay commit. */
static void run_flux(Ctx *c, size_t len, unsigned n) {
        for (unsigned i = 0; i < n; i++) {
                FluxWireHeader h = { .type = FLUX_PACKET_DATA, .session_id = 1, .seq = i, .data_seq = i | 1,
                                     .path_id = 1 };
                size_t plen;
                int r;

                r = flux_sender_seal(&c->tx, &h, c->buf, sizeof(c->buf), len, 0);
                if (r < 0)
                        die("flux_sender_seal");
                if (flux_receiver_open(&c->rx, c->buf, (size_t) r, 0, &h, &plen) != FLUX_OPEN_OK || plen != len)
                        die("flux_receiver_open");
        }
}

/* The same AEAD work with nettle directly: 22 bytes AAD, 12-byte nonce, in place. Like a tunnel
 * (and like the framing above) it seals and opens with two separate contexts: one per direction. */
static void run_nettle(Ctx *c, size_t len, unsigned n) {
        uint8_t *p = c->buf + FLUX_WIRE_PAYLOAD_OFFSET, tag[16];

        for (unsigned i = 0; i < n; i++) {
                uint8_t *nonce = c->buf + FLUX_WIRE_HEADER_SIZE;

                flux_put_be64(nonce + 4, c->counter++);
                gcm_aes256_set_iv(&c->gcm_seal, 12, nonce);
                gcm_aes256_update(&c->gcm_seal, 22, c->buf);
                gcm_aes256_encrypt(&c->gcm_seal, len, p, p);
                gcm_aes256_digest(&c->gcm_seal, 16, p + len);

                gcm_aes256_set_iv(&c->gcm_open, 12, nonce);
                gcm_aes256_update(&c->gcm_open, 22, c->buf);
                gcm_aes256_decrypt(&c->gcm_open, len, p, p);
                gcm_aes256_digest(&c->gcm_open, 16, tag);
                if (!memeql_sec(tag, p + len, 16))
                        die("nettle open");
        }
}

/* GnuTLS's API is not in place: it writes ciphertext+tag to a second buffer. */
static void run_gnutls(Ctx *c, size_t len, unsigned n) {
        uint8_t *p = c->buf + FLUX_WIRE_PAYLOAD_OFFSET;

        for (unsigned i = 0; i < n; i++) {
                uint8_t *nonce = c->buf + FLUX_WIRE_HEADER_SIZE;
                size_t ol = sizeof(c->out), pl = BUF_SIZE - FLUX_WIRE_PAYLOAD_OFFSET;

                flux_put_be64(nonce + 4, c->counter++);
                if (gnutls_aead_cipher_encrypt(c->gt, nonce, 12, c->buf, 22, 16, p, len, c->out, &ol) < 0)
                        die("gnutls_aead_cipher_encrypt");
                if (gnutls_aead_cipher_decrypt(c->gt, nonce, 12, c->buf, 22, 16, c->out, ol, p, &pl) < 0 ||
                    pl != len)
                        die("gnutls_aead_cipher_decrypt");
        }
}

/* GnuTLS's scatter/gather API works in place with a detached tag, like our framing. */
static void run_gnutls_v2(Ctx *c, size_t len, unsigned n) {
        uint8_t *p = c->buf + FLUX_WIRE_PAYLOAD_OFFSET;

        for (unsigned i = 0; i < n; i++) {
                uint8_t *nonce = c->buf + FLUX_WIRE_HEADER_SIZE;
                giovec_t aad = { .iov_base = c->buf, .iov_len = FLUX_WIRE_HEADER_SIZE };
                giovec_t data = { .iov_base = p, .iov_len = len };
                size_t tl = FLUX_WIRE_TAG_SIZE;

                flux_put_be64(nonce + 4, c->counter++);
                if (gnutls_aead_cipher_encryptv2(c->gt, nonce, 12, &aad, 1, &data, 1, p + len, &tl) < 0)
                        die("gnutls_aead_cipher_encryptv2");
                if (gnutls_aead_cipher_decryptv2(c->gt, nonce, 12, &aad, 1, &data, 1, p + len, tl) < 0)
                        die("gnutls_aead_cipher_decryptv2");
        }
}

static void run(Impl impl, Ctx *c, size_t len, unsigned n) {
        switch (impl) {
        case IMPL_FLUX:
                run_flux(c, len, n);
                break;
        case IMPL_NETTLE:
                run_nettle(c, len, n);
                break;
        case IMPL_GNUTLS:
                run_gnutls(c, len, n);
                break;
        case IMPL_GNUTLS_V2:
                run_gnutls_v2(c, len, n);
                break;
        default:
                abort();
        }
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

int main(int argc, char *argv[]) {
        static const size_t sizes[] = { 64, 512, 1400 };
        unsigned rounds = argc > 1 ? (unsigned) atoi(argv[1]) : 9;
        double min_s = (argc > 2 ? atof(argv[2]) : 40.0) / 1000.0;
        uint8_t key[32], secret[FLUX_KEY_SECRET_SIZE];
        gnutls_datum_t kd = { .data = key, .size = sizeof(key) };
        static Ctx ctx;
        Ctx *c = &ctx;

        if (rounds < 1 || rounds > MAX_ROUNDS || min_s <= 0) {
                fprintf(stderr, "usage: bench-crypto [ROUNDS(1-%d) [MIN_MS]]\n", MAX_ROUNDS);
                return 2;
        }

        for (unsigned i = 0; i < sizeof(key); i++)
                key[i] = (uint8_t) (i * 13 + 1);
        if (flux_keys_direction_secret(key, sizeof(key), FLUX_DIRECTION_CLIENT_TO_SERVER, secret) < 0)
                die("flux_keys_direction_secret");
        if (flux_sender_init(&c->tx, secret, 0) < 0)
                abort();
        if (flux_receiver_init(&c->rx, secret, 0) < 0)
                abort();
        gcm_aes256_set_key(&c->gcm_seal, key);
        gcm_aes256_set_key(&c->gcm_open, key);
        if (gnutls_aead_cipher_init(&c->gt, GNUTLS_CIPHER_AES_256_GCM, &kd) < 0)
                die("gnutls_aead_cipher_init");
        memset(c->buf, 0x5a, sizeof(c->buf));

        printf("seal+open per packet, thread CPU time, median of %u interleaved rounds\n", rounds);
        printf("%-6s %-26s %8s %9s %9s %9s\n", "BYTES", "IMPLEMENTATION", "GBIT/S", "NS/PKT", "VS NETTLE",
               "VS GNUTLS");

        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
                size_t len = sizes[s];
                double gbps[_IMPL_MAX][MAX_ROUNDS], med[_IMPL_MAX];
                unsigned n;

                /* Calibrate the iteration count on raw nettle (also warms caches and clocks). */
                for (n = 1000;; n *= 2) {
                        double t0 = thread_cpu_seconds();
                        run_nettle(c, len, n);
                        if (thread_cpu_seconds() - t0 >= min_s)
                                break;
                }

                for (unsigned r = 0; r < rounds; r++)
                        for (Impl i = 0; i < _IMPL_MAX; i++) {
                                /* rotate the order each round */
                                Impl impl = (Impl) ((i + r) % _IMPL_MAX);
                                double t0 = thread_cpu_seconds(), dt;

                                run(impl, c, len, n);
                                dt = thread_cpu_seconds() - t0;
                                gbps[impl][r] = (double) len * 8.0 * n / dt / 1e9;
                        }

                for (Impl i = 0; i < _IMPL_MAX; i++) {
                        qsort(gbps[i], rounds, sizeof(double), cmp_double);
                        med[i] = gbps[i][rounds / 2];
                }
                for (Impl i = 0; i < _IMPL_MAX; i++)
                        printf("%-6zu %-26s %8.3f %9.1f %9.3f %9.3f\n", len, impl_name[i], med[i],
                               (double) len * 8.0 / med[i], med[i] / med[IMPL_NETTLE],
                               med[i] / med[IMPL_GNUTLS_V2]);
        }

        gnutls_aead_cipher_deinit(c->gt);
        flux_sender_done(&c->tx);
        flux_receiver_done(&c->rx);
        return 0;
}
