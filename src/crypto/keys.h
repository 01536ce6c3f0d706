/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Version 2 key schedule and per-direction key state (docs/protocol.md, "Keys").
 *
 *   PRK              = HKDF-Extract(salt = "fluxify v2 data", IKM = exporter secret)
 *   secret_0 (c->s)  = HKDF-Expand(PRK, "fluxify v2 client to server", 32)
 *   secret_0 (s->c)  = HKDF-Expand(PRK, "fluxify v2 server to client", 32)
 *   key_n            = HKDF-Expand(secret_n, "fluxify v2 key", 32)
 *   salt_n           = HKDF-Expand(secret_n, "fluxify v2 salt", 4)
 *   secret_{n+1}     = HKDF-Expand(secret_n, "fluxify v2 ratchet", 32), secret_n wiped
 *   nonce            = salt_n || counter (u64 big-endian), counter per direction, never reused
 *
 * HKDF is RFC 5869 with SHA-256. The pure layer never reads the clock: ages are computed from the
 * `now` (µs, CLOCK_MONOTONIC) passed in. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aead.h"
#include "replay.h"
#include "time-util.h"
#include "wire.h"

#define FLUX_KEY_EXPORTER_LABEL "EXPORTER-fluxify-v2-data"
#define FLUX_KEY_EXPORTER_SIZE 32U
#define FLUX_KEY_SECRET_SIZE 32U
#define FLUX_KEY_SALT_SIZE 4U

/* A sender moves to the next epoch when this many packets were sealed in the current one, or when
 * the epoch is FLUX_KEY_EPOCH_MAX_AGE old. */
#define FLUX_KEY_EPOCH_MAX_PACKETS (UINT64_C(1) << 28)
#define FLUX_KEY_EPOCH_MAX_AGE USEC_PER_HOUR
/* How long a receiver still accepts the previous epoch after moving to the next. */
#define FLUX_KEY_EPOCH_OVERLAP (10 * USEC_PER_SEC)
/* How many epochs ahead of its current one a receiver catches up to (when every packet of the
 * epochs in between was lost, e.g. a long outage while the sender kept probing). Epoch + 1 is
 * precomputed; epochs + 2 .. + FLUX_KEY_EPOCH_MAX_SKIP are derived on demand. */
#define FLUX_KEY_EPOCH_MAX_SKIP 4U

typedef enum FluxDirection {
        FLUX_DIRECTION_CLIENT_TO_SERVER,
        FLUX_DIRECTION_SERVER_TO_CLIENT,
        _FLUX_DIRECTION_MAX,
        _FLUX_DIRECTION_INVALID = -EINVAL,
} FluxDirection;

/* One epoch's material. */
typedef struct FluxEpochKey {
        uint8_t key[FLUX_AEAD_KEY_SIZE];
        uint8_t salt[FLUX_KEY_SALT_SIZE];
} FluxEpochKey;

/* Derives one direction's initial secret from the exporter secret. */
int flux_keys_direction_secret(const uint8_t *exporter, size_t exporter_size, FluxDirection d,
                               uint8_t ret_secret[static FLUX_KEY_SECRET_SIZE]);
/* Key and salt of the epoch whose secret is given. */
void flux_keys_epoch(const uint8_t secret[static FLUX_KEY_SECRET_SIZE], FluxEpochKey *ret);
/* secret := next secret, in place (the old value is overwritten). */
void flux_keys_ratchet(uint8_t secret[static FLUX_KEY_SECRET_SIZE]);
void flux_epoch_key_wipe(FluxEpochKey *k);

/* Version 2 nonce: salt || counter (big-endian). */
void flux_nonce_v2(const uint8_t salt[static FLUX_KEY_SALT_SIZE], uint64_t counter,
                   uint8_t ret[static FLUX_WIRE_NONCE_SIZE]);

/* The sending half of one direction. flux_sender_init() and flux_receiver_init() return 0, or
 * -ENOMEM/-EIO if the cipher cannot be set up; the object is then wiped and unusable (seal/open
 * return -ENOKEY) and flux_*_done() is still safe. */
typedef struct FluxSender {
        uint8_t next_secret[FLUX_KEY_SECRET_SIZE]; /* secret of epoch + 1 (current one is wiped) */
        FluxAead aead;                  /* key of the current epoch */
        uint8_t salt[FLUX_KEY_SALT_SIZE];
        uint32_t epoch;                 /* full epoch number; the wire carries epoch & 0xff */
        uint64_t counter;               /* next counter to use, shared by all paths and types */
        uint64_t epoch_first_counter;   /* counter of the first packet of this epoch */
        usec_t epoch_start;             /* when this epoch began */
} FluxSender;

int flux_sender_init(FluxSender *s, const uint8_t secret[static FLUX_KEY_SECRET_SIZE], usec_t now);
void flux_sender_done(FluxSender *s);
bool flux_sender_rekey_due(const FluxSender *s, usec_t now);
/* Moves to the next epoch now. 0, or -ENOMEM/-EIO (then nothing changed). */
int flux_sender_rekey(FluxSender *s, usec_t now);

/* Seals one version 2 datagram in place (layout in aead.h). Sets h->version, h->epoch and
 * h->length; takes the next counter; moves to the next epoch first if one is due. Returns the
 * datagram size, -ENOBUFS/-EMSGSIZE as flux_aead_seal(), -EOVERFLOW once the 64-bit counter is
 * exhausted (the session must be re-established), -EPROTO for a header the receiver would reject. */
int flux_sender_seal(FluxSender *s, FluxWireHeader *h, uint8_t *buf, size_t buf_size,
                     size_t payload_len, usec_t now);

typedef enum FluxOpenResult {
        FLUX_OPEN_OK = 0,
        FLUX_OPEN_REPLAYED = FLUX_REPLAY_REPLAYED,
        FLUX_OPEN_TOO_OLD = FLUX_REPLAY_TOO_OLD,
} FluxOpenResult;

/* The receiving half of one direction: current epoch, the previous one during the overlap, the
 * next one precomputed (a peer moves on by itself), and the replay window over the counter. */
typedef struct FluxReceiver {
        uint8_t next_secret[FLUX_KEY_SECRET_SIZE]; /* secret of epoch + 2 */
        FluxAead aead[3];               /* indexed by epoch % 3: previous, current, next */
        uint8_t salt[3][FLUX_KEY_SALT_SIZE];
        uint32_t epoch;                 /* current epoch */
        bool have_previous;
        usec_t previous_until;          /* previous epoch accepted while now < this */
        FluxReplayWindow replay;
} FluxReceiver;

int flux_receiver_init(FluxReceiver *r, const uint8_t secret[static FLUX_KEY_SECRET_SIZE], usec_t now);
void flux_receiver_done(FluxReceiver *r);

/* Parses (strict version 2 checks), checks the replay window, authenticates and decrypts one
 * datagram in place, then commits the counter and, for an authenticated packet of a later epoch
 * (up to FLUX_KEY_EPOCH_MAX_SKIP ahead), moves to that epoch.
 *
 * Returns FLUX_OPEN_OK with *ret_header and *ret_payload_len set (plaintext at
 * buf + FLUX_WIRE_PAYLOAD_OFFSET); a positive FLUX_OPEN_REPLAYED/FLUX_OPEN_TOO_OLD for a replay
 * (nothing delivered; count it); or a negative errno: those of flux_wire_datagram_parse(), -ENOKEY
 * for an epoch we hold no key for, -EKEYREJECTED if authentication fails (payload wiped). */
int flux_receiver_open(FluxReceiver *r, uint8_t *buf, size_t size, usec_t now,
                       FluxWireHeader *ret_header, size_t *ret_payload_len);
