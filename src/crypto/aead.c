/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "aead.h"
#include "macro.h"
#include "random-util.h"

#ifdef FLUX_AEAD_NETTLE
#include <nettle/memops.h>
#else
#include <gnutls/gnutls.h>
#endif

/* The engines: key setup, and sealing/opening n payload bytes at buf + FLUX_WIRE_PAYLOAD_OFFSET in
 * place, with the header (AAD) and nonce already in buf. The checks and the framing around them are
 * shared below. engine_open() returns 0, -EKEYREJECTED or -EIO and leaves the payload as it was
 * decrypted; the caller wipes it on failure. */

#ifdef FLUX_AEAD_NETTLE

int flux_aead_init(FluxAead *a, const uint8_t key[static FLUX_AEAD_KEY_SIZE]) {
        assert_return(a, -EINVAL);
        assert_return(key, -EINVAL);

        gcm_aes256_set_key(&a->gcm, key);
        a->ready = true;
        return 0;
}

void flux_aead_done(FluxAead *a) {
        if (a)
                explicit_bzero(a, sizeof(*a));
}

static bool engine_ready(const FluxAead *a) {
        return a->ready;
}

static int engine_seal(FluxAead *a, uint8_t *buf, size_t n) {
        uint8_t *payload = buf + FLUX_WIRE_PAYLOAD_OFFSET;

        gcm_aes256_set_iv(&a->gcm, FLUX_WIRE_NONCE_SIZE, buf + FLUX_WIRE_HEADER_SIZE);
        gcm_aes256_update(&a->gcm, FLUX_WIRE_HEADER_SIZE, buf);
        gcm_aes256_encrypt(&a->gcm, n, payload, payload);
        gcm_aes256_digest(&a->gcm, FLUX_WIRE_TAG_SIZE, payload + n);
        return 0;
}

static int engine_open(FluxAead *a, uint8_t *buf, size_t n) {
        uint8_t *payload = buf + FLUX_WIRE_PAYLOAD_OFFSET, tag[FLUX_WIRE_TAG_SIZE];

        /* One pass: GHASH over the ciphertext and CTR decryption together (nettle's gcm_decrypt),
         * then a constant-time tag comparison. */
        gcm_aes256_set_iv(&a->gcm, FLUX_WIRE_NONCE_SIZE, buf + FLUX_WIRE_HEADER_SIZE);
        gcm_aes256_update(&a->gcm, FLUX_WIRE_HEADER_SIZE, buf);
        gcm_aes256_decrypt(&a->gcm, n, payload, payload);
        gcm_aes256_digest(&a->gcm, sizeof(tag), tag);
        return memeql_sec(tag, payload + n, sizeof(tag)) ? 0 : -EKEYREJECTED;
}

#else /* GnuTLS */

int flux_aead_init(FluxAead *a, const uint8_t key[static FLUX_AEAD_KEY_SIZE]) {
        gnutls_datum_t k = { .data = (unsigned char *) key, .size = FLUX_AEAD_KEY_SIZE };
        int r;

        assert_return(a, -EINVAL);
        assert_return(key, -EINVAL);

        a->handle = NULL;
        r = gnutls_aead_cipher_init(&a->handle, GNUTLS_CIPHER_AES_256_GCM, &k);
        if (r < 0) {
                a->handle = NULL;
                return r == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : -EIO;
        }
        return 0;
}

void flux_aead_done(FluxAead *a) {
        if (a && a->handle) {
                gnutls_aead_cipher_deinit(a->handle);
                a->handle = NULL;
        }
}

static bool engine_ready(const FluxAead *a) {
        return a->handle;
}

static int engine_seal(FluxAead *a, uint8_t *buf, size_t n) {
        uint8_t *payload = buf + FLUX_WIRE_PAYLOAD_OFFSET;
        giovec_t aad = { .iov_base = buf, .iov_len = FLUX_WIRE_HEADER_SIZE };
        giovec_t data = { .iov_base = payload, .iov_len = n };
        size_t tag_size = FLUX_WIRE_TAG_SIZE;

        if (gnutls_aead_cipher_encryptv2(a->handle, buf + FLUX_WIRE_HEADER_SIZE, FLUX_WIRE_NONCE_SIZE, &aad, 1,
                                         &data, 1, payload + n, &tag_size) < 0 ||
            tag_size != FLUX_WIRE_TAG_SIZE)
                return -EIO;
        return 0;
}

static int engine_open(FluxAead *a, uint8_t *buf, size_t n) {
        uint8_t *payload = buf + FLUX_WIRE_PAYLOAD_OFFSET;
        giovec_t aad = { .iov_base = buf, .iov_len = FLUX_WIRE_HEADER_SIZE };
        giovec_t data = { .iov_base = payload, .iov_len = n };
        int r;

        /* GnuTLS compares the tag in constant time. */
        r = gnutls_aead_cipher_decryptv2(a->handle, buf + FLUX_WIRE_HEADER_SIZE, FLUX_WIRE_NONCE_SIZE, &aad, 1,
                                         &data, 1, payload + n, FLUX_WIRE_TAG_SIZE);
        if (r < 0)
                return r == GNUTLS_E_DECRYPTION_FAILED ? -EKEYREJECTED : -EIO;
        return 0;
}

#endif

int flux_aead_seal(FluxAead *a, const FluxWireHeader *h, const uint8_t nonce[static FLUX_WIRE_NONCE_SIZE],
                   uint8_t *buf, size_t buf_size, size_t payload_len) {
        int r;

        assert_return(a, -EINVAL);
        assert_return(h, -EINVAL);
        assert_return(nonce, -EINVAL);
        assert_return(buf, -EINVAL);

        if (!engine_ready(a))
                return -ENOKEY;
        if (payload_len > FLUX_WIRE_MAX_PAYLOAD)
                return -EMSGSIZE;
        if (buf_size < FLUX_WIRE_OVERHEAD || buf_size - FLUX_WIRE_OVERHEAD < payload_len)
                return -ENOBUFS;

        /* The length field is ours to set, whatever the caller put there (as the reference). */
        flux_wire_header_encode(h, buf);
        flux_put_be16(buf + 10, (uint16_t) (FLUX_WIRE_NONCE_SIZE + payload_len + FLUX_WIRE_TAG_SIZE));
        memcpy(buf + FLUX_WIRE_HEADER_SIZE, nonce, FLUX_WIRE_NONCE_SIZE);

        r = engine_seal(a, buf, payload_len);
        if (r < 0)
                return r;
        return (int) (FLUX_WIRE_OVERHEAD + payload_len);
}

int flux_aead_open(FluxAead *a, uint8_t *buf, size_t size) {
        size_t n;
        int r;

        assert_return(a, -EINVAL);
        assert_return(buf, -EINVAL);

        if (!engine_ready(a))
                return -ENOKEY;
        if (size < FLUX_WIRE_OVERHEAD || size - FLUX_WIRE_OVERHEAD > FLUX_WIRE_MAX_PAYLOAD)
                return -EMSGSIZE;

        n = size - FLUX_WIRE_OVERHEAD;
        r = engine_open(a, buf, n);
        if (r < 0) {
                /* Never leave unauthenticated plaintext behind. */
                explicit_bzero(buf + FLUX_WIRE_PAYLOAD_OFFSET, n);
                return r;
        }
        return (int) n;
}

int flux_v1_open(FluxAead *a, uint8_t *buf, size_t size, FluxWireHeader *ret_header) {
        FluxWireHeader h;
        int r;

        assert_return(a, -EINVAL);
        assert_return(ret_header, -EINVAL);

        r = flux_wire_datagram_parse(buf, size, FLUX_WIRE_VERSION_1, &h);
        if (r < 0)
                return r;

        r = flux_aead_open(a, buf, size);
        if (r < 0)
                return r;

        *ret_header = h;
        return r;
}

void flux_nonce_pool_init(FluxNoncePool *p) {
        assert(p);

        p->used = sizeof(p->bytes);
}

int flux_nonce_pool_take(FluxNoncePool *p, uint8_t ret[static FLUX_WIRE_NONCE_SIZE]) {
        assert_return(p, -EINVAL);
        assert_return(ret, -EINVAL);

        if (p->used + FLUX_WIRE_NONCE_SIZE > sizeof(p->bytes)) {
                int r = random_bytes(p->bytes, sizeof(p->bytes));
                if (r < 0)
                        return r;
                p->used = 0;
        }

        memcpy(ret, p->bytes + p->used, FLUX_WIRE_NONCE_SIZE);
        /* Wipe what was handed out so the pool never holds a used nonce. */
        explicit_bzero(p->bytes + p->used, FLUX_WIRE_NONCE_SIZE);
        p->used += FLUX_WIRE_NONCE_SIZE;
        return 0;
}

void flux_nonce_pool_done(FluxNoncePool *p) {
        if (p) {
                explicit_bzero(p->bytes, sizeof(p->bytes));
                p->used = sizeof(p->bytes);
        }
}
