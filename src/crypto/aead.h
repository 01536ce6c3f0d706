/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* AES-256-GCM datagram framing (docs/protocol.md): the 22 header bytes are the AAD, the 12-byte
 * nonce travels explicitly after the header, the 16-byte tag follows the ciphertext. Sealing and
 * opening work in place in the caller's buffer and never allocate.
 *
 * Buffer layout (offsets from wire.h):
 *   [0, 22)               header      (written by seal)
 *   [22, 34)              nonce       (written by seal)
 *   [34, 34 + n)          payload     (plaintext before seal / after open; ciphertext between)
 *   [34 + n, 34 + n + 16) tag         (written by seal)
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define FLUX_AEAD_KEY_SIZE 32U

/* The AES-256-GCM engine (chosen in src/crypto/meson.build, visible to every user of the library):
 *
 * - GnuTLS (default): its in-place scatter/gather AEAD API (encryptv2/decryptv2). With its
 *   stitched AES-NI/PCLMUL code it seals+opens 512 and 1400-byte packets 1.5-1.8x as fast as
 *   nettle 3.8's gcm_aes256 (bench/crypto), allocating nothing per packet; for 64-byte packets it
 *   is ~10% slower (per-call overhead).
 * - nettle (FLUX_AEAD_NETTLE): gcm_aes256_* directly; init cannot fail. */
#ifdef FLUX_AEAD_NETTLE
#include <nettle/gcm.h>
typedef struct FluxAead {
        struct gcm_aes256_ctx gcm;      /* key schedule + GHASH table; IV state is per call */
        bool ready;
} FluxAead;
#else
#include <gnutls/crypto.h>
typedef struct FluxAead {
        gnutls_aead_cipher_hd_t handle; /* NULL until initialised; GnuTLS wipes the key on deinit */
} FluxAead;
#endif

/* 0, or -ENOMEM/-EIO if GnuTLS cannot set up the cipher. On failure *a stays unusable (seal and
 * open return -ENOKEY) but may be passed to flux_aead_done(). */
int flux_aead_init(FluxAead *a, const uint8_t key[static FLUX_AEAD_KEY_SIZE]);
/* Frees and wipes the key schedule. Safe on a zeroed or already freed context. */
void flux_aead_done(FluxAead *a);

/* Seals a datagram in place. `h` gives every header field but `length`, which is set to
 * 12 + payload_len + 16. The payload (payload_len bytes at buf + FLUX_WIRE_PAYLOAD_OFFSET) is
 * encrypted in place and the tag appended. Returns the datagram size (> 0), or -ENOBUFS if
 * buf_size cannot hold it, -EMSGSIZE if payload_len > FLUX_WIRE_MAX_PAYLOAD, -ENOKEY if the context
 * was never initialised. */
int flux_aead_seal(FluxAead *a, const FluxWireHeader *h, const uint8_t nonce[static FLUX_WIRE_NONCE_SIZE],
                   uint8_t *buf, size_t buf_size, size_t payload_len);

/* Opens a datagram in place whose header has already been parsed (flux_wire_datagram_parse()
 * checked size and length). Authenticates header (AAD), nonce and ciphertext; on success the
 * plaintext is at buf + FLUX_WIRE_PAYLOAD_OFFSET and its length is returned (>= 0). On tag
 * mismatch returns -EKEYREJECTED and wipes the payload area, so nothing unauthenticated is left. */
int flux_aead_open(FluxAead *a, uint8_t *buf, size_t size);

/* Version 1 receive path: flux_wire_datagram_parse(version 1) then flux_aead_open(). Errors are
 * those of the two functions, in the reference's order (min_size, length_field, gcm_auth) with
 * the version check in between. On success *ret_header is the decoded header and the plaintext
 * length is returned. */
int flux_v1_open(FluxAead *a, uint8_t *buf, size_t size, FluxWireHeader *ret_header);

/* Version 1 nonces are random (the wire format leaves no choice: the reference uses one key in
 * both directions, so counters could collide with the peer's). A pool amortises getrandom(2) over
 * many packets. */
#define FLUX_NONCE_POOL_SIZE (FLUX_WIRE_NONCE_SIZE * 341U)
typedef struct FluxNoncePool {
        uint8_t bytes[FLUX_NONCE_POOL_SIZE];
        size_t used;                    /* bytes already handed out; == size means empty */
} FluxNoncePool;

void flux_nonce_pool_init(FluxNoncePool *p);
/* Copies 12 fresh random bytes to ret; refills from getrandom() when empty. Negative errno if the
 * kernel cannot supply randomness. */
int flux_nonce_pool_take(FluxNoncePool *p, uint8_t ret[static FLUX_WIRE_NONCE_SIZE]);
void flux_nonce_pool_done(FluxNoncePool *p);
