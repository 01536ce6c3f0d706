/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <nettle/hkdf.h>
#include <nettle/hmac.h>
#include <limits.h>
#include <string.h>

#include "keys.h"
#include "macro.h"

#define LABEL_EXTRACT_SALT "fluxify v2 data"
#define LABEL_C2S "fluxify v2 client to server"
#define LABEL_S2C "fluxify v2 server to client"
#define LABEL_KEY "fluxify v2 key"
#define LABEL_SALT "fluxify v2 salt"
#define LABEL_RATCHET "fluxify v2 ratchet"

/* HKDF-Expand (RFC 5869 §2.3) with SHA-256; labels are ASCII without a terminating NUL. */
static void hkdf_expand_label(const uint8_t prk[static 32], const char *label, size_t length, uint8_t *dst) {
        struct hmac_sha256_ctx ctx;

        hmac_sha256_set_key(&ctx, 32, prk);
        hkdf_expand(&ctx, (nettle_hash_update_func *) hmac_sha256_update,
                    (nettle_hash_digest_func *) hmac_sha256_digest, SHA256_DIGEST_SIZE,
                    strlen(label), (const uint8_t *) label, length, dst);
        explicit_bzero(&ctx, sizeof(ctx));
}

int flux_keys_direction_secret(const uint8_t *exporter, size_t exporter_size, FluxDirection d,
                               uint8_t ret_secret[static FLUX_KEY_SECRET_SIZE]) {
        struct hmac_sha256_ctx ctx;
        uint8_t prk[SHA256_DIGEST_SIZE];

        assert_return(exporter, -EINVAL);
        assert_return(exporter_size >= FLUX_KEY_EXPORTER_SIZE, -EINVAL);
        assert_return(d >= 0 && d < _FLUX_DIRECTION_MAX, -EINVAL);
        assert_return(ret_secret, -EINVAL);

        /* HKDF-Extract (RFC 5869 §2.2): HMAC keyed with the salt over the input key material. */
        hmac_sha256_set_key(&ctx, strlen(LABEL_EXTRACT_SALT), (const uint8_t *) LABEL_EXTRACT_SALT);
        hkdf_extract(&ctx, (nettle_hash_update_func *) hmac_sha256_update,
                     (nettle_hash_digest_func *) hmac_sha256_digest, SHA256_DIGEST_SIZE,
                     exporter_size, exporter, prk);
        explicit_bzero(&ctx, sizeof(ctx));

        hkdf_expand_label(prk, d == FLUX_DIRECTION_CLIENT_TO_SERVER ? LABEL_C2S : LABEL_S2C,
                          FLUX_KEY_SECRET_SIZE, ret_secret);
        explicit_bzero(prk, sizeof(prk));
        return 0;
}

void flux_keys_epoch(const uint8_t secret[static FLUX_KEY_SECRET_SIZE], FluxEpochKey *ret) {
        assert(secret);
        assert(ret);

        hkdf_expand_label(secret, LABEL_KEY, sizeof(ret->key), ret->key);
        hkdf_expand_label(secret, LABEL_SALT, sizeof(ret->salt), ret->salt);
}

void flux_keys_ratchet(uint8_t secret[static FLUX_KEY_SECRET_SIZE]) {
        uint8_t next[FLUX_KEY_SECRET_SIZE];

        assert(secret);

        hkdf_expand_label(secret, LABEL_RATCHET, sizeof(next), next);
        memcpy(secret, next, sizeof(next));
        explicit_bzero(next, sizeof(next));
}

void flux_epoch_key_wipe(FluxEpochKey *k) {
        if (k)
                explicit_bzero(k, sizeof(*k));
}

void flux_nonce_v2(const uint8_t salt[static FLUX_KEY_SALT_SIZE], uint64_t counter,
                   uint8_t ret[static FLUX_WIRE_NONCE_SIZE]) {
        memcpy(ret, salt, FLUX_KEY_SALT_SIZE);
        flux_put_be64(ret + FLUX_KEY_SALT_SIZE, counter);
}

/* Installs the epoch whose secret is *secret into aead/salt and ratchets *secret to the next one,
 * so the installed epoch's secret no longer exists anywhere. On failure nothing changes. */
static int epoch_install(uint8_t secret[static FLUX_KEY_SECRET_SIZE], FluxAead *aead,
                         uint8_t salt[static FLUX_KEY_SALT_SIZE]) {
        FluxEpochKey k;
        FluxAead n;
        int r;

        flux_keys_epoch(secret, &k);
        r = flux_aead_init(&n, k.key);
        if (r < 0) {
                flux_epoch_key_wipe(&k);
                return r;
        }
        flux_aead_done(aead);
        *aead = n;
        memcpy(salt, k.salt, FLUX_KEY_SALT_SIZE);
        flux_epoch_key_wipe(&k);
        flux_keys_ratchet(secret);
        return 0;
}

/* ---- sender ---- */

int flux_sender_init(FluxSender *s, const uint8_t secret[static FLUX_KEY_SECRET_SIZE], usec_t now) {
        int r;

        assert_return(s, -EINVAL);
        assert_return(secret, -EINVAL);

        *s = (FluxSender) { .epoch_start = now };
        memcpy(s->next_secret, secret, FLUX_KEY_SECRET_SIZE);
        r = epoch_install(s->next_secret, &s->aead, s->salt);
        if (r < 0) {
                flux_sender_done(s);
                return r;
        }
        return 0;
}

void flux_sender_done(FluxSender *s) {
        if (!s)
                return;
        flux_aead_done(&s->aead);
        explicit_bzero(s, sizeof(*s));
}

bool flux_sender_rekey_due(const FluxSender *s, usec_t now) {
        assert(s);

        if (s->counter - s->epoch_first_counter >= FLUX_KEY_EPOCH_MAX_PACKETS)
                return true;
        return now >= s->epoch_start && now - s->epoch_start >= FLUX_KEY_EPOCH_MAX_AGE;
}

int flux_sender_rekey(FluxSender *s, usec_t now) {
        int r;

        assert_return(s, -EINVAL);

        r = epoch_install(s->next_secret, &s->aead, s->salt);
        if (r < 0)
                return r;
        s->epoch++;
        s->epoch_first_counter = s->counter;
        s->epoch_start = now;
        return 0;
}

int flux_sender_seal(FluxSender *s, FluxWireHeader *h, uint8_t *buf, size_t buf_size,
                     size_t payload_len, usec_t now) {
        uint8_t nonce[FLUX_WIRE_NONCE_SIZE];
        int r;

        assert_return(s, -EINVAL);
        assert_return(h, -EINVAL);
        assert_return(buf, -EINVAL);

        /* The last counter value is never used, so "counter" can always name the next one. */
        if (s->counter == UINT64_MAX)
                return -EOVERFLOW;

        h->version = FLUX_WIRE_VERSION_2;
        if (!flux_packet_type_valid(FLUX_WIRE_VERSION_2, h->type) ||
            (h->flags & ~FLUX_WIRE_V2_FLAGS_KNOWN) ||
            ((h->flags & FLUX_WIRE_FLAG_GZIP) && h->type != FLUX_PACKET_DATA) ||
            (h->type != FLUX_PACKET_DATA && h->data_seq != 0))
                return -EPROTO;

        if (flux_sender_rekey_due(s, now)) {
                r = flux_sender_rekey(s, now);
                if (r < 0)
                        return r;
        }

        h->epoch = (uint8_t) s->epoch;
        flux_nonce_v2(s->salt, s->counter, nonce);
        r = flux_aead_seal(&s->aead, h, nonce, buf, buf_size, payload_len);
        if (r < 0)
                return r;

        h->length = (uint16_t) (r - FLUX_WIRE_HEADER_SIZE);
        s->counter++;
        return r;
}

/* ---- receiver ---- */

int flux_receiver_init(FluxReceiver *r, const uint8_t secret[static FLUX_KEY_SECRET_SIZE], usec_t now) {
        int k;

        assert_return(r, -EINVAL);
        assert_return(secret, -EINVAL);

        *r = (FluxReceiver) {};
        memcpy(r->next_secret, secret, FLUX_KEY_SECRET_SIZE);
        flux_replay_init(&r->replay);
        k = epoch_install(r->next_secret, &r->aead[0], r->salt[0]);            /* epoch 0 */
        if (k >= 0)
                k = epoch_install(r->next_secret, &r->aead[1], r->salt[1]);    /* epoch 1, precomputed */
        if (k < 0) {
                flux_receiver_done(r);
                return k;
        }
        return 0;
}

void flux_receiver_done(FluxReceiver *r) {
        if (!r)
                return;
        for (unsigned i = 0; i < ELEMENTSOF(r->aead); i++)
                flux_aead_done(&r->aead[i]);
        explicit_bzero(r, sizeof(*r));
}

/* Moves to epoch + 1: the slot of epoch - 1 gets epoch + 2 precomputed. If that cannot be set up
 * (out of memory) nothing changes and the next authenticated packet of the new epoch retries. */
static int receiver_advance(FluxReceiver *r, usec_t now) {
        uint32_t e = r->epoch + 1;
        unsigned next = (e + 1) % 3;
        int k;

        k = epoch_install(r->next_secret, &r->aead[next], r->salt[next]);
        if (k < 0)
                return k;
        r->epoch = e;
        r->have_previous = true;
        r->previous_until = now + FLUX_KEY_EPOCH_OVERLAP;
        return 0;
}

/* Opens with an epoch 2 .. FLUX_KEY_EPOCH_MAX_SKIP ahead of the current one, deriving its key
 * into temporaries (wiped afterwards). Costs a few HMACs and an AES key schedule per attempt, which
 * bounds what a forger can make us spend; the receiver only moves after authentication. */
static int receiver_open_ahead(FluxReceiver *r, unsigned ahead, uint8_t *buf, size_t size) {
        uint8_t secret[FLUX_KEY_SECRET_SIZE];
        FluxEpochKey k;
        FluxAead a;
        int n;

        assert(ahead >= 2 && ahead <= FLUX_KEY_EPOCH_MAX_SKIP);

        /* next_secret is the secret of epoch + 2. */
        memcpy(secret, r->next_secret, sizeof(secret));
        for (unsigned i = 2; i < ahead; i++)
                flux_keys_ratchet(secret);
        flux_keys_epoch(secret, &k);
        explicit_bzero(secret, sizeof(secret));

        if (memcmp(k.salt, buf + FLUX_WIRE_HEADER_SIZE, FLUX_KEY_SALT_SIZE) != 0) {
                flux_epoch_key_wipe(&k);
                return -EKEYREJECTED;
        }

        n = flux_aead_init(&a, k.key);
        flux_epoch_key_wipe(&k);
        if (n < 0)
                return n;
        n = flux_aead_open(&a, buf, size);
        flux_aead_done(&a);
        return n;
}

int flux_receiver_open(FluxReceiver *r, uint8_t *buf, size_t size, usec_t now,
                       FluxWireHeader *ret_header, size_t *ret_payload_len) {
        FluxWireHeader h;
        FluxReplayResult rr;
        uint64_t counter;
        unsigned ahead = 0;
        int k;

        assert_return(r, -EINVAL);
        assert_return(ret_header, -EINVAL);
        assert_return(ret_payload_len, -EINVAL);

        k = flux_wire_datagram_parse(buf, size, FLUX_WIRE_VERSION_2, &h);
        if (k < 0)
                return k;

        /* Map the 8-bit wire epoch onto previous, current or one of the next few. */
        if (h.epoch == (uint8_t) (r->epoch - 1)) {
                if (!r->have_previous || now >= r->previous_until)
                        return -ENOKEY;
                ahead = UINT_MAX;       /* marks "previous" */
        } else {
                ahead = (uint8_t) (h.epoch - (uint8_t) r->epoch);
                if (ahead > FLUX_KEY_EPOCH_MAX_SKIP)
                        return -ENOKEY;
        }

        counter = flux_get_be64(buf + FLUX_WIRE_HEADER_SIZE + FLUX_KEY_SALT_SIZE);
        rr = flux_replay_check(&r->replay, counter);
        if (rr != FLUX_REPLAY_OK)
                return (int) rr;

        if (ahead <= 1 || ahead == UINT_MAX) {
                unsigned slot = (ahead == UINT_MAX ? r->epoch - 1 : r->epoch + ahead) % 3;

                /* The nonce must carry this epoch's salt; a wrong salt cannot authenticate anyway,
                 * but checking first keeps junk away from GHASH. */
                if (memcmp(r->salt[slot], buf + FLUX_WIRE_HEADER_SIZE, FLUX_KEY_SALT_SIZE) != 0)
                        return -EKEYREJECTED;
                k = flux_aead_open(&r->aead[slot], buf, size);
        } else
                k = receiver_open_ahead(r, ahead, buf, size);
        if (k < 0)
                return k;

        rr = flux_replay_commit(&r->replay, counter);
        if (rr != FLUX_REPLAY_OK) {
                explicit_bzero(buf + FLUX_WIRE_PAYLOAD_OFFSET, (size_t) k);
                return (int) rr;
        }

        /* The packet is authenticated and delivered even if moving on fails for lack of memory;
         * the next one of the new epoch retries. */
        if (ahead != UINT_MAX)
                for (unsigned i = 0; i < ahead; i++)
                        if (receiver_advance(r, now) < 0)
                                break;

        *ret_header = h;
        *ret_payload_len = (size_t) k;
        return FLUX_OPEN_OK;
}
