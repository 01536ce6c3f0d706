/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Version 2 crypto: key schedule known answers, datagram vectors (also in docs/protocol.md; they
 * were cross-checked with Python's hmac and the `cryptography` package's AESGCM), sender/receiver
 * round trips, nonces, epochs, replays and tampering. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aead.h"
#include "alloc-util.h"
#include "check-util.h"
#include "keys.h"
#include "proto-test-util.h"
#include "wire.h"

#define T0 (1000 * USEC_PER_SEC)

static uint8_t exporter[FLUX_KEY_EXPORTER_SIZE];

static void setup(void) {
        for (unsigned i = 0; i < sizeof(exporter); i++)
                exporter[i] = (uint8_t) i;
}

static void direction_secret(FluxDirection d, uint8_t ret[static FLUX_KEY_SECRET_SIZE]) {
        ck_assert_int_eq(flux_keys_direction_secret(exporter, sizeof(exporter), d, ret), 0);
}

/* ---- known answers ---- */

static const struct {
        const char *secret0;
        const char *key[3], *salt[3];
} kat[_FLUX_DIRECTION_MAX] = {
        [FLUX_DIRECTION_CLIENT_TO_SERVER] = {
                "a55d3358381743d8bff9af9b32cd1f059240b89e5d68b00010cacf440d56f24f",
                { "3db40281c56ba5640b969667d9b29df85a72843c4ad65fbcefcad8f376cc58db",
                  "48db1dafb43355b61adb00551da023b16d84f313b77ca28cc0d1c997d4a81e48",
                  "59f84641c07fad25d48ddda76b56510c23a9c6a57f7da4afc05b6720ad8ebf38" },
                { "f06513c7", "28c31fdb", "8afa5fac" },
        },
        [FLUX_DIRECTION_SERVER_TO_CLIENT] = {
                "c0ca558044f3d6daf33181eb3f02b3835837d96e02bbd5082fb693a22f077d5c",
                { "0b039e4c08430587ededc8a4f4a66a60b42df15812314b2c1b4303a5ff935e7a",
                  "2bd99dc6468caf3319898cfe1c32e6d376998a83c1466150a8cdf7918df0e495",
                  "a0039b4a1fe8fa02a18d514b3fbbe692b32bbbe8db530b9e9c74036dc32e959b" },
                { "c0807b8e", "e505563e", "fe6cd999" },
        },
};

START_TEST(test_key_schedule_kat) {
        for (FluxDirection d = 0; d < _FLUX_DIRECTION_MAX; d++) {
                uint8_t s[FLUX_KEY_SECRET_SIZE];

                direction_secret(d, s);
                ck_assert_mem_hex_eq(s, sizeof(s), kat[d].secret0);
                for (unsigned e = 0; e < 3; e++) {
                        FluxEpochKey k;

                        flux_keys_epoch(s, &k);
                        ck_assert_mem_hex_eq(k.key, sizeof(k.key), kat[d].key[e]);
                        ck_assert_mem_hex_eq(k.salt, sizeof(k.salt), kat[d].salt[e]);
                        flux_epoch_key_wipe(&k);
                        for (unsigned i = 0; i < sizeof(k); i++)
                                ck_assert_uint_eq(((uint8_t *) &k)[i], 0);
                        flux_keys_ratchet(s);
                }
        }
}
END_TEST

START_TEST(test_key_schedule_args) {
        uint8_t s[FLUX_KEY_SECRET_SIZE];

        ck_assert_int_eq(flux_keys_direction_secret(exporter, 31, FLUX_DIRECTION_CLIENT_TO_SERVER, s), -EINVAL);
        ck_assert_int_eq(flux_keys_direction_secret(NULL, 32, FLUX_DIRECTION_CLIENT_TO_SERVER, s), -EINVAL);
        ck_assert_int_eq(flux_keys_direction_secret(exporter, 32, _FLUX_DIRECTION_MAX, s), -EINVAL);
        ck_assert_int_eq(flux_keys_direction_secret(exporter, 32, (FluxDirection) -1, s), -EINVAL);
}
END_TEST

START_TEST(test_datagram_vectors) {
        uint8_t sec[FLUX_KEY_SECRET_SIZE], buf[256];
        FluxWireHeader h;
        FluxSender s;
        int n;

        /* client -> server, epoch 0: REGISTER (counter 0, empty payload), then DATA "fluxify". */
        direction_secret(FLUX_DIRECTION_CLIENT_TO_SERVER, sec);
        ck_assert_int_eq(flux_sender_init(&s, sec, T0), 0);
        h = (FluxWireHeader) { .type = FLUX_PACKET_REGISTER, .session_id = 0x01020304, .seq = 0, .path_id = 1 };
        n = flux_sender_seal(&s, &h, buf, sizeof(buf), 0, T0);
        ck_assert_int_eq(n, 50);
        ck_assert_mem_hex_eq(buf, (size_t) n,
                             "02030102030400000000001c00000000000000010000f06513c70000000000000000"
                             "953ddc45eeb82a5f009c3ea8ed8b8947");
        h = (FluxWireHeader) { .type = FLUX_PACKET_DATA, .session_id = 0x01020304, .seq = 1, .data_seq = 1,
                               .path_id = 1 };
        memcpy(buf + FLUX_WIRE_PAYLOAD_OFFSET, "fluxify", 7);
        n = flux_sender_seal(&s, &h, buf, sizeof(buf), 7, T0);
        ck_assert_int_eq(n, 57);
        ck_assert_mem_hex_eq(buf, (size_t) n,
                             "02010102030400000001002300000000000100010000f06513c70000000000000001"
                             "bcb47b07d7374892e3e01baec0f7a613ccbeddc4cee637");
        flux_sender_done(&s);

        /* server -> client, epoch 1, counter 5: PROBE_REPLY with payload 00..07 on path 2. */
        direction_secret(FLUX_DIRECTION_SERVER_TO_CLIENT, sec);
        ck_assert_int_eq(flux_sender_init(&s, sec, T0), 0);
        s.counter = 5;
        ck_assert_int_eq(flux_sender_rekey(&s, T0), 0);
        h = (FluxWireHeader) { .type = FLUX_PACKET_PROBE_REPLY, .session_id = 0xdeadbeef, .seq = 7, .path_id = 2 };
        for (unsigned i = 0; i < 8; i++)
                buf[FLUX_WIRE_PAYLOAD_OFFSET + i] = (uint8_t) i;
        n = flux_sender_seal(&s, &h, buf, sizeof(buf), 8, T0);
        ck_assert_int_eq(n, 58);
        ck_assert_mem_hex_eq(buf, (size_t) n,
                             "0205deadbeef00000007002400010000000000020000e505563e0000000000000005"
                             "efb135d2a8ef473fc183d96b04a954079657b623a32dc694");
        flux_sender_done(&s);
}
END_TEST

/* The vectors printed in docs/protocol.md are the ones checked here. */
START_TEST(test_docs_match) {
        static const char *const fragments[] = {
                "02030102030400000000001c00000000000000010000 f06513c70000000000000000",
                "953ddc45eeb82a5f009c3ea8ed8b8947",
                "02010102030400000001002300000000000100010000 f06513c70000000000000001",
                "bcb47b07d73748 92e3e01baec0f7a613ccbeddc4cee637",
                "0205deadbeef00000007002400010000000000020000 e505563e0000000000000005",
                "efb135d2a8ef473f c183d96b04a954079657b623a32dc694",
        };
        _cleanup_(freep) char *doc = NULL;
        FILE *f;
        long n;

        f = fopen(FLUXIFY_SOURCE_ROOT "/docs/protocol.md", "re");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
        n = ftell(f);
        ck_assert_int_gt(n, 0);
        rewind(f);
        doc = malloc((size_t) n + 1);
        ck_assert_ptr_nonnull(doc);
        ck_assert_uint_eq(fread(doc, 1, (size_t) n, f), (size_t) n);
        doc[n] = '\0';
        fclose(f);

        for (FluxDirection d = 0; d < _FLUX_DIRECTION_MAX; d++) {
                ck_assert_msg(strstr(doc, kat[d].secret0), "secret %s not in docs", kat[d].secret0);
                for (unsigned e = 0; e < 3; e++) {
                        ck_assert_msg(strstr(doc, kat[d].key[e]), "key %s not in docs", kat[d].key[e]);
                        ck_assert_msg(strstr(doc, kat[d].salt[e]), "salt %s not in docs", kat[d].salt[e]);
                }
        }
        for (size_t i = 0; i < ELEMENTSOF(fragments); i++)
                ck_assert_msg(strstr(doc, fragments[i]), "vector %s not in docs", fragments[i]);
        ck_assert_msg(strstr(doc, "\n## Control protocol"), "Control protocol heading missing");
}
END_TEST

/* ---- sender / receiver ---- */

typedef struct Pair {
        FluxSender tx;
        FluxReceiver rx;
} Pair;

static void pair_init(Pair *p, FluxDirection d, usec_t now) {
        uint8_t sec[FLUX_KEY_SECRET_SIZE];

        direction_secret(d, sec);
        ck_assert_int_eq(flux_sender_init(&p->tx, sec, now), 0);
        ck_assert_int_eq(flux_receiver_init(&p->rx, sec, now), 0);
        explicit_bzero(sec, sizeof(sec));
}

static void pair_done(Pair *p) {
        flux_sender_done(&p->tx);
        flux_receiver_done(&p->rx);
}

static int seal_data(FluxSender *s, uint32_t dseq, const void *payload, size_t len, uint8_t *buf,
                     size_t size, usec_t now) {
        FluxWireHeader h = { .type = FLUX_PACKET_DATA, .session_id = 42, .seq = dseq, .data_seq = dseq,
                             .path_id = 3 };

        memcpy(buf + FLUX_WIRE_PAYLOAD_OFFSET, payload, len);
        return flux_sender_seal(s, &h, buf, size, len, now);
}

START_TEST(test_roundtrip) {
        uint8_t buf[1600], payload[1400];
        Pair p;

        pair_init(&p, FLUX_DIRECTION_CLIENT_TO_SERVER, T0);
        for (unsigned i = 0; i < sizeof(payload); i++)
                payload[i] = (uint8_t) (i * 7);

        for (size_t len = 0; len <= sizeof(payload); len += 23) {
                static const uint8_t types[] = { FLUX_PACKET_DATA, FLUX_PACKET_PROBE, FLUX_PACKET_REGISTER,
                                                 FLUX_PACKET_PROBE_REPLY, FLUX_PACKET_REGISTER_ACK };
                uint8_t ty = types[len % ELEMENTSOF(types)];
                FluxWireHeader h = { .type = ty, .session_id = 0xcafe, .seq = (uint32_t) len,
                                     .data_seq = ty == FLUX_PACKET_DATA ? (uint32_t) len + 1 : 0,
                                     .path_id = (uint16_t) len }, got;
                size_t plen = SIZE_MAX;
                int n;

                memcpy(buf + FLUX_WIRE_PAYLOAD_OFFSET, payload, len);
                n = flux_sender_seal(&p.tx, &h, buf, sizeof(buf), len, T0);
                ck_assert_int_eq(n, (int) (len + FLUX_WIRE_OVERHEAD));
                ck_assert_uint_eq(h.length, len + 28);
                ck_assert_int_eq(flux_receiver_open(&p.rx, buf, (size_t) n, T0, &got, &plen), FLUX_OPEN_OK);
                ck_assert_uint_eq(plen, len);
                if (len > 0)
                        ck_assert_mem_eq(buf + FLUX_WIRE_PAYLOAD_OFFSET, payload, len);
                ck_assert_uint_eq(got.type, ty);
                ck_assert_uint_eq(got.session_id, 0xcafe);
                ck_assert_uint_eq(got.seq, len);
                ck_assert_uint_eq(got.data_seq, h.data_seq);
                ck_assert_uint_eq(got.path_id, (uint16_t) len);
                ck_assert_uint_eq(got.epoch, 0);
        }
        pair_done(&p);
}
END_TEST

static int nonce_cmp(const void *a, const void *b) {
        return memcmp(a, b, FLUX_WIRE_NONCE_SIZE);
}

START_TEST(test_nonce_unique) {
        enum { N = 4096 };
        static uint8_t nonces[N][FLUX_WIRE_NONCE_SIZE];
        uint8_t buf[128];
        Pair p;

        pair_init(&p, FLUX_DIRECTION_SERVER_TO_CLIENT, T0);
        for (unsigned i = 0; i < N; i++) {
                /* rekey a few times on the way: the counter keeps counting */
                if (i % 1000 == 999)
                        ck_assert_int_eq(flux_sender_rekey(&p.tx, T0), 0);
                ck_assert_int_gt(seal_data(&p.tx, i, "x", 1, buf, sizeof(buf), T0), 0);
                memcpy(nonces[i], buf + FLUX_WIRE_HEADER_SIZE, FLUX_WIRE_NONCE_SIZE);
                ck_assert_uint_eq(flux_get_be64(nonces[i] + 4), i);
        }
        ck_assert_uint_eq(p.tx.counter, N);
        ck_assert_uint_eq(p.tx.epoch, 4);
        qsort(nonces, N, sizeof(nonces[0]), nonce_cmp);
        for (unsigned i = 1; i < N; i++)
                ck_assert(memcmp(nonces[i - 1], nonces[i], FLUX_WIRE_NONCE_SIZE) != 0);
        pair_done(&p);
}
END_TEST

START_TEST(test_replay) {
        uint8_t buf[128], copy[128];
        FluxWireHeader h;
        size_t plen;
        Pair p;
        int n;

        pair_init(&p, FLUX_DIRECTION_CLIENT_TO_SERVER, T0);
        n = seal_data(&p.tx, 1, "hello", 5, buf, sizeof(buf), T0);
        memcpy(copy, buf, (size_t) n);
        ck_assert_int_eq(flux_receiver_open(&p.rx, buf, (size_t) n, T0, &h, &plen), FLUX_OPEN_OK);
        memcpy(buf, copy, (size_t) n);
        ck_assert_int_eq(flux_receiver_open(&p.rx, buf, (size_t) n, T0, &h, &plen), FLUX_OPEN_REPLAYED);

        /* Push it out of the window. */
        for (unsigned i = 0; i < FLUX_REPLAY_WINDOW; i++) {
                uint8_t b[128];
                int k = seal_data(&p.tx, i + 2, "x", 1, b, sizeof(b), T0);
                ck_assert_int_eq(flux_receiver_open(&p.rx, b, (size_t) k, T0, &h, &plen), FLUX_OPEN_OK);
        }
        memcpy(buf, copy, (size_t) n);
        ck_assert_int_eq(flux_receiver_open(&p.rx, buf, (size_t) n, T0, &h, &plen), FLUX_OPEN_TOO_OLD);

        /* A forged packet with a fresh counter does not advance the window. */
        n = seal_data(&p.tx, 9, "y", 1, buf, sizeof(buf), T0);
        buf[n - 1] ^= 1;
        ck_assert_int_eq(flux_receiver_open(&p.rx, buf, (size_t) n, T0, &h, &plen), -EKEYREJECTED);
        ck_assert_uint_eq(p.rx.replay.top, FLUX_REPLAY_WINDOW);
        pair_done(&p);
}
END_TEST

START_TEST(test_wrong_direction) {
        uint8_t buf[128];
        FluxWireHeader h;
        size_t plen;
        Pair c2s, s2c;
        int n;

        pair_init(&c2s, FLUX_DIRECTION_CLIENT_TO_SERVER, T0);
        pair_init(&s2c, FLUX_DIRECTION_SERVER_TO_CLIENT, T0);
        /* A client's packet reflected back to the client: wrong key (and salt). */
        n = seal_data(&c2s.tx, 1, "reflect", 7, buf, sizeof(buf), T0);
        ck_assert_int_eq(flux_receiver_open(&s2c.rx, buf, (size_t) n, T0, &h, &plen), -EKEYREJECTED);
        /* Even with the salt patched to match, the key differs. */
        n = seal_data(&c2s.tx, 2, "reflect", 7, buf, sizeof(buf), T0);
        memcpy(buf + FLUX_WIRE_HEADER_SIZE, s2c.rx.salt[0], FLUX_KEY_SALT_SIZE);
        ck_assert_int_eq(flux_receiver_open(&s2c.rx, buf, (size_t) n, T0, &h, &plen), -EKEYREJECTED);
        ck_assert(s2c.rx.replay.empty);
        pair_done(&c2s);
        pair_done(&s2c);
}
END_TEST

START_TEST(test_tamper) {
        uint8_t buf[128], orig[128];
        FluxWireHeader h;
        size_t plen;
        Pair p;
        int n;

        pair_init(&p, FLUX_DIRECTION_CLIENT_TO_SERVER, T0);
        n = seal_data(&p.tx, 77, "tamper me", 9, orig, sizeof(orig), T0);

        /* Every single bit flip anywhere in the datagram is rejected, and nothing is delivered. */
        for (int i = 0; i < n * 8; i++) {
                int r;

                memcpy(buf, orig, (size_t) n);
                buf[i / 8] ^= (uint8_t) (1U << (i % 8));
                r = flux_receiver_open(&p.rx, buf, (size_t) n, T0, &h, &plen);
                ck_assert_msg(r < 0, "bit %d accepted: %d", i, r);
                ck_assert(r == -EKEYREJECTED || r == -EPROTO || r == -EPROTONOSUPPORT || r == -EBADMSG ||
                          r == -ENOKEY);
                if (i / 8 >= (int) FLUX_WIRE_HEADER_SIZE + 4 && i / 8 < (int) FLUX_WIRE_PAYLOAD_OFFSET + 9)
                        /* nonce counter or ciphertext: authentication fails */
                        ck_assert_int_eq(r, -EKEYREJECTED);
        }
        ck_assert(p.rx.replay.empty);

        /* Truncated or extended datagrams. */
        memcpy(buf, orig, (size_t) n);
        ck_assert_int_eq(flux_receiver_open(&p.rx, buf, (size_t) n - 1, T0, &h, &plen), -EBADMSG);
        ck_assert_int_eq(flux_receiver_open(&p.rx, buf, 49, T0, &h, &plen), -EMSGSIZE);
        memcpy(buf, orig, (size_t) n);
        ck_assert_int_eq(flux_receiver_open(&p.rx, buf, (size_t) n, T0, &h, &plen), FLUX_OPEN_OK);
        ck_assert_mem_eq(buf + FLUX_WIRE_PAYLOAD_OFFSET, "tamper me", 9);
        pair_done(&p);
}
END_TEST

START_TEST(test_epochs) {
        uint8_t old[128], buf[128];
        FluxWireHeader h;
        size_t plen;
        Pair p;
        int n, nold;

        pair_init(&p, FLUX_DIRECTION_CLIENT_TO_SERVER, T0);
        ck_assert(!flux_sender_rekey_due(&p.tx, T0));
        ck_assert(!flux_sender_rekey_due(&p.tx, T0 + FLUX_KEY_EPOCH_MAX_AGE - 1));
        ck_assert(flux_sender_rekey_due(&p.tx, T0 + FLUX_KEY_EPOCH_MAX_AGE));

        /* A packet of epoch 0 delayed in flight. */
        nold = seal_data(&p.tx, 1, "late", 4, old, sizeof(old), T0);

        /* An hour later the next seal moves to epoch 1 by itself. */
        n = seal_data(&p.tx, 2, "new", 3, buf, sizeof(buf), T0 + FLUX_KEY_EPOCH_MAX_AGE);
        ck_assert_uint_eq(p.tx.epoch, 1);
        ck_assert_uint_eq(buf[13], 1);
        ck_assert(!flux_sender_rekey_due(&p.tx, T0 + FLUX_KEY_EPOCH_MAX_AGE));
        ck_assert_int_eq(flux_receiver_open(&p.rx, buf, (size_t) n, T0 + FLUX_KEY_EPOCH_MAX_AGE, &h, &plen),
                         FLUX_OPEN_OK);
        ck_assert_uint_eq(p.rx.epoch, 1);
        ck_assert_uint_eq(h.epoch, 1);

        /* The late epoch 0 packet is still accepted during the overlap... */
        {
                uint8_t c[128];
                memcpy(c, old, (size_t) nold);
                ck_assert_int_eq(flux_receiver_open(&p.rx, c, (size_t) nold, T0 + FLUX_KEY_EPOCH_MAX_AGE + 1,
                                                    &h, &plen), FLUX_OPEN_OK);
                ck_assert_mem_eq(c + FLUX_WIRE_PAYLOAD_OFFSET, "late", 4);
                /* ...once. */
                memcpy(c, old, (size_t) nold);
                ck_assert_int_eq(flux_receiver_open(&p.rx, c, (size_t) nold, T0 + FLUX_KEY_EPOCH_MAX_AGE + 2,
                                                    &h, &plen), FLUX_OPEN_REPLAYED);
        }

        /* After the overlap epoch 0 is gone. */
        n = seal_data(&p.tx, 3, "z", 1, buf, sizeof(buf), T0 + FLUX_KEY_EPOCH_MAX_AGE);
        buf[13] = 0;    /* claim epoch 0: no key */
        ck_assert_int_eq(flux_receiver_open(&p.rx, buf, (size_t) n,
                                            T0 + FLUX_KEY_EPOCH_MAX_AGE + FLUX_KEY_EPOCH_OVERLAP, &h, &plen),
                         -ENOKEY);

        /* More than FLUX_KEY_EPOCH_MAX_SKIP ahead: no key. */
        buf[13] = 1 + FLUX_KEY_EPOCH_MAX_SKIP + 1;
        ck_assert_int_eq(flux_receiver_open(&p.rx, buf, (size_t) n, T0 + FLUX_KEY_EPOCH_MAX_AGE, &h, &plen),
                         -ENOKEY);
        /* Within reach but forged (this is an epoch 1 packet): derived key, rejected, no move. */
        for (unsigned d = 2; d <= FLUX_KEY_EPOCH_MAX_SKIP; d++) {
                buf[13] = (uint8_t) (1 + d);
                ck_assert_int_eq(flux_receiver_open(&p.rx, buf, (size_t) n, T0 + FLUX_KEY_EPOCH_MAX_AGE, &h,
                                                    &plen), -EKEYREJECTED);
                ck_assert_uint_eq(p.rx.epoch, 1);
        }

        /* A forged "epoch + 1" packet does not move the receiver. */
        buf[13] = 2;
        ck_assert_int_eq(flux_receiver_open(&p.rx, buf, (size_t) n, T0 + FLUX_KEY_EPOCH_MAX_AGE, &h, &plen),
                         -EKEYREJECTED);
        ck_assert_uint_eq(p.rx.epoch, 1);

        /* Many epochs in a row, including the 8-bit wrap of the wire epoch. */
        for (unsigned e = 2; e < 600; e++) {
                ck_assert_int_eq(flux_sender_rekey(&p.tx, T0 + e), 0);
                n = seal_data(&p.tx, e, "e", 1, buf, sizeof(buf), T0 + e);
                ck_assert_uint_eq(buf[13], (uint8_t) e);
                ck_assert_int_eq(flux_receiver_open(&p.rx, buf, (size_t) n, T0 + e, &h, &plen), FLUX_OPEN_OK);
                ck_assert_uint_eq(p.rx.epoch, e);
        }
        pair_done(&p);
}
END_TEST

/* Every packet of some epochs was lost: the receiver catches up by up to FLUX_KEY_EPOCH_MAX_SKIP. */
START_TEST(test_epoch_skip) {
        uint8_t buf[128];
        FluxWireHeader h;
        size_t plen;
        Pair p;
        int n;

        pair_init(&p, FLUX_DIRECTION_SERVER_TO_CLIENT, T0);
        for (unsigned skip = 1; skip <= FLUX_KEY_EPOCH_MAX_SKIP; skip++) {
                uint32_t start = p.rx.epoch;

                for (unsigned i = 0; i < skip; i++) {
                        ck_assert_int_eq(flux_sender_rekey(&p.tx, T0), 0);
                        /* lost on the way */
                        ck_assert_int_gt(seal_data(&p.tx, 1, "lost", 4, buf, sizeof(buf), T0), 0);
                }
                n = seal_data(&p.tx, 2, "arrives", 7, buf, sizeof(buf), T0);
                ck_assert_int_eq(flux_receiver_open(&p.rx, buf, (size_t) n, T0, &h, &plen), FLUX_OPEN_OK);
                ck_assert_mem_eq(buf + FLUX_WIRE_PAYLOAD_OFFSET, "arrives", 7);
                ck_assert_uint_eq(p.rx.epoch, start + skip);
                ck_assert_uint_eq(p.rx.epoch, p.tx.epoch);
                /* and the precomputed next epoch is right after the jump */
                ck_assert_int_eq(flux_sender_rekey(&p.tx, T0), 0);
                n = seal_data(&p.tx, 3, "next", 4, buf, sizeof(buf), T0);
                ck_assert_int_eq(flux_receiver_open(&p.rx, buf, (size_t) n, T0, &h, &plen), FLUX_OPEN_OK);
                ck_assert_uint_eq(p.rx.epoch, p.tx.epoch);
        }

        /* One too far. */
        for (unsigned i = 0; i <= FLUX_KEY_EPOCH_MAX_SKIP; i++)
                ck_assert_int_eq(flux_sender_rekey(&p.tx, T0), 0);
        n = seal_data(&p.tx, 4, "gone", 4, buf, sizeof(buf), T0);
        ck_assert_int_eq(flux_receiver_open(&p.rx, buf, (size_t) n, T0, &h, &plen), -ENOKEY);
        pair_done(&p);
}
END_TEST

START_TEST(test_rekey_by_count_and_overflow) {
        uint8_t buf[128];
        FluxWireHeader h;
        size_t plen;
        Pair p;
        int n;

        pair_init(&p, FLUX_DIRECTION_SERVER_TO_CLIENT, T0);
        p.tx.counter = FLUX_KEY_EPOCH_MAX_PACKETS - 1;
        ck_assert(!flux_sender_rekey_due(&p.tx, T0));
        n = seal_data(&p.tx, 1, "a", 1, buf, sizeof(buf), T0);
        ck_assert_uint_eq(p.tx.epoch, 0);
        ck_assert(flux_sender_rekey_due(&p.tx, T0));
        ck_assert_int_eq(flux_receiver_open(&p.rx, buf, (size_t) n, T0, &h, &plen), FLUX_OPEN_OK);
        n = seal_data(&p.tx, 2, "b", 1, buf, sizeof(buf), T0);
        ck_assert_uint_eq(p.tx.epoch, 1);
        ck_assert_uint_eq(p.tx.epoch_first_counter, FLUX_KEY_EPOCH_MAX_PACKETS);
        ck_assert_int_eq(flux_receiver_open(&p.rx, buf, (size_t) n, T0, &h, &plen), FLUX_OPEN_OK);

        /* The end of the counter space: UINT64_MAX - 1 is the last counter used. */
        p.tx.counter = UINT64_MAX - 1;
        p.tx.epoch_first_counter = UINT64_MAX - 1;
        n = seal_data(&p.tx, 3, "c", 1, buf, sizeof(buf), T0);
        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(flux_receiver_open(&p.rx, buf, (size_t) n, T0, &h, &plen), FLUX_OPEN_OK);
        ck_assert_int_eq(seal_data(&p.tx, 4, "d", 1, buf, sizeof(buf), T0), -EOVERFLOW);
        pair_done(&p);
}
END_TEST

START_TEST(test_seal_errors) {
        uint8_t buf[128];
        FluxWireHeader h;
        Pair p;

        pair_init(&p, FLUX_DIRECTION_CLIENT_TO_SERVER, T0);
        h = (FluxWireHeader) { .type = FLUX_PACKET_CONTROL_V1 };
        ck_assert_int_eq(flux_sender_seal(&p.tx, &h, buf, sizeof(buf), 0, T0), -EPROTO);
        h = (FluxWireHeader) { .type = FLUX_PACKET_PROBE, .data_seq = 1 };
        ck_assert_int_eq(flux_sender_seal(&p.tx, &h, buf, sizeof(buf), 0, T0), -EPROTO);
        h = (FluxWireHeader) { .type = FLUX_PACKET_PROBE, .flags = FLUX_WIRE_FLAG_GZIP };
        ck_assert_int_eq(flux_sender_seal(&p.tx, &h, buf, sizeof(buf), 0, T0), -EPROTO);
        h = (FluxWireHeader) { .type = FLUX_PACKET_DATA, .flags = 0x80 };
        ck_assert_int_eq(flux_sender_seal(&p.tx, &h, buf, sizeof(buf), 0, T0), -EPROTO);
        h = (FluxWireHeader) { .type = FLUX_PACKET_DATA };
        ck_assert_int_eq(flux_sender_seal(&p.tx, &h, buf, sizeof(buf), sizeof(buf) - 49, T0), -ENOBUFS);
        ck_assert_int_eq(flux_sender_seal(&p.tx, &h, buf, 49, 0, T0), -ENOBUFS);
        ck_assert_int_eq(flux_sender_seal(&p.tx, &h, buf, SIZE_MAX, FLUX_WIRE_MAX_PAYLOAD + 1, T0), -EMSGSIZE);
        /* failures consume no counter */
        ck_assert_uint_eq(p.tx.counter, 0);
        ck_assert_int_eq(flux_sender_seal(&p.tx, &h, buf, sizeof(buf), sizeof(buf) - 50, T0), 128);
        ck_assert_uint_eq(p.tx.counter, 1);
        pair_done(&p);
}
END_TEST

START_TEST(test_uninitialised) {
        FluxAead a = {};
        FluxWireHeader h = { .version = 1, .type = 1 };
        uint8_t buf[64] = {}, nonce[FLUX_WIRE_NONCE_SIZE] = {};

        ck_assert_int_eq(flux_aead_seal(&a, &h, nonce, buf, sizeof(buf), 0), -ENOKEY);
        ck_assert_int_eq(flux_aead_open(&a, buf, 50), -ENOKEY);
        flux_aead_done(&a);
        flux_aead_done(NULL);
}
END_TEST

START_TEST(test_wipe) {
        Pair p;

        pair_init(&p, FLUX_DIRECTION_CLIENT_TO_SERVER, T0);
        pair_done(&p);
        for (size_t i = 0; i < sizeof(p); i++)
                ck_assert_uint_eq(((uint8_t *) &p)[i], 0);
}
END_TEST

/* ---- version 1 framing with random nonces ---- */

START_TEST(test_v1_random_nonces) {
        uint8_t key[FLUX_AEAD_KEY_SIZE] = { 9 }, buf[256], prev[FLUX_WIRE_NONCE_SIZE] = {};
        FluxNoncePool pool;
        FluxAead a;

        ck_assert_int_eq(flux_aead_init(&a, key), 0);
        flux_nonce_pool_init(&pool);
        for (unsigned i = 0; i < 2000; i++) {  /* crosses several pool refills */
                uint8_t nonce[FLUX_WIRE_NONCE_SIZE];
                FluxWireHeader h = { .version = 1, .type = 1, .session_id = 5, .seq = i }, got;
                int n;

                ck_assert_int_eq(flux_nonce_pool_take(&pool, nonce), 0);
                ck_assert(memcmp(nonce, prev, sizeof(nonce)) != 0);
                memcpy(prev, nonce, sizeof(nonce));
                memcpy(buf + FLUX_WIRE_PAYLOAD_OFFSET, "ping", 4);
                n = flux_aead_seal(&a, &h, nonce, buf, sizeof(buf), 4);
                ck_assert_int_eq(n, 54);
                ck_assert_int_eq(flux_v1_open(&a, buf, (size_t) n, &got), 4);
                ck_assert_uint_eq(got.seq, i);
                ck_assert_mem_eq(buf + FLUX_WIRE_PAYLOAD_OFFSET, "ping", 4);
        }
        flux_nonce_pool_done(&pool);
        flux_aead_done(&a);
}
END_TEST

static Suite *aead_suite(void) {
        Suite *s = suite_create("aead");
        TCase *tc = tcase_create("v2");

        tcase_add_checked_fixture(tc, setup, NULL);
        tcase_add_test(tc, test_key_schedule_kat);
        tcase_add_test(tc, test_key_schedule_args);
        tcase_add_test(tc, test_datagram_vectors);
        tcase_add_test(tc, test_docs_match);
        tcase_add_test(tc, test_roundtrip);
        tcase_add_test(tc, test_nonce_unique);
        tcase_add_test(tc, test_replay);
        tcase_add_test(tc, test_wrong_direction);
        tcase_add_test(tc, test_tamper);
        tcase_add_test(tc, test_epochs);
        tcase_add_test(tc, test_epoch_skip);
        tcase_add_test(tc, test_rekey_by_count_and_overflow);
        tcase_add_test(tc, test_seal_errors);
        tcase_add_test(tc, test_uninitialised);
        tcase_add_test(tc, test_wipe);
        tcase_add_test(tc, test_v1_random_nonces);
        suite_add_tcase(s, tc);
        return s;
}

FLUX_CHECK_MAIN(aead_suite);
