/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Version 1 interoperability: every case of tests/data/fluxify-go-v1.json that belongs to the wire
 * codec, the AEAD framing and gzip (flow hashes and control JSON are tested by their modules). */
#include <jansson.h>
#include <stdio.h>

#include "aead.h"
#include "alloc-util.h"
#include "check-util.h"
#include "compress.h"
#include "proto-test-util.h"
#include "wire.h"

static json_t *vectors;
static uint8_t key[FLUX_AEAD_KEY_SIZE];

static void load_vectors(void) {
        json_error_t err;

        vectors = json_load_file(TEST_DATA("fluxify-go-v1.json"), 0, &err);
        ck_assert_msg(vectors, "cannot load vectors: %s:%d: %s", err.source, err.line, err.text);
        unhex_exact(json_string_value(json_object_get(vectors, "key_hex")), key, sizeof(key));
}

static void unload_vectors(void) {
        json_decref(vectors);
        vectors = NULL;
}

static json_t *section(const char *name) {
        json_t *a = json_object_get(vectors, name);

        ck_assert_msg(json_is_array(a) && json_array_size(a) > 0, "section %s missing", name);
        return a;
}

static const char *str(json_t *o, const char *k) {
        json_t *v = json_object_get(o, k);

        ck_assert_msg(json_is_string(v), "key %s missing", k);
        return json_string_value(v);
}

static json_int_t num(json_t *o, const char *k) {
        json_t *v = json_object_get(o, k);

        ck_assert_msg(json_is_integer(v), "key %s missing", k);
        return json_integer_value(v);
}

static bool boolean(json_t *o, const char *k) {
        json_t *v = json_object_get(o, k);

        ck_assert_msg(json_is_boolean(v), "key %s missing", k);
        return json_is_true(v);
}

START_TEST(test_constants) {
        json_t *c = json_object_get(vectors, "constants");

        ck_assert_int_eq(num(c, "header_size"), FLUX_WIRE_HEADER_SIZE);
        ck_assert_int_eq(num(c, "nonce_size"), FLUX_WIRE_NONCE_SIZE);
        ck_assert_int_eq(num(c, "tag_size"), FLUX_WIRE_TAG_SIZE);
        ck_assert_int_eq(num(c, "min_datagram_size"), FLUX_WIRE_MIN_DATAGRAM);
        ck_assert_int_eq(num(c, "max_decompressed_size"), FLUX_WIRE_V1_MAX_PACKET);
        ck_assert_int_eq(num(c, "proto_version"), FLUX_WIRE_VERSION_1);
        ck_assert_int_eq(num(json_object_get(c, "packet_types"), "ip"), FLUX_PACKET_DATA);
        ck_assert_int_eq(num(json_object_get(c, "packet_types"), "heartbeat"), FLUX_PACKET_PROBE);
        ck_assert_int_eq(num(json_object_get(c, "packet_types"), "handshake"), FLUX_PACKET_REGISTER);
        ck_assert_int_eq(num(json_object_get(c, "packet_types"), "control"), FLUX_PACKET_CONTROL_V1);
        ck_assert_int_eq(num(json_object_get(c, "compression_flags"), "gzip"), FLUX_WIRE_FLAG_GZIP);
}
END_TEST

START_TEST(test_header_cases) {
        json_t *a = section("header_cases"), *c;
        size_t i;

        json_array_foreach(a, i, c) {
                json_t *f = json_object_get(c, "fields");
                uint8_t enc[FLUX_WIRE_HEADER_SIZE], want[FLUX_WIRE_HEADER_SIZE];
                FluxWireHeader h = {}, d;

                fprintf(stderr, "header case %s\n", str(c, "name"));
                h.version = (uint8_t) num(f, "version");
                h.type = (uint8_t) num(f, "type");
                h.session_id = (uint32_t) num(f, "session_id");
                h.seq = (uint32_t) num(f, "seq");
                h.length = (uint16_t) num(f, "length");
                unhex_exact(str(f, "reserved_hex"), h.reserved, sizeof(h.reserved));
                /* No case has version 2, so reserved[] is encoded raw. */
                ck_assert_uint_ne(h.version, FLUX_WIRE_VERSION_2);

                flux_wire_header_encode(&h, enc);
                unhex_exact(str(c, "encoded_hex"), want, sizeof(want));
                ck_assert_mem_eq(enc, want, sizeof(want));

                ck_assert_int_eq(flux_wire_header_decode(want, sizeof(want), &d), 0);
                ck_assert_uint_eq(d.version, h.version);
                ck_assert_uint_eq(d.type, h.type);
                ck_assert_uint_eq(d.session_id, h.session_id);
                ck_assert_uint_eq(d.seq, h.seq);
                ck_assert_uint_eq(d.length, h.length);
                ck_assert_mem_eq(d.reserved, h.reserved, sizeof(h.reserved));
                ck_assert_uint_eq(d.flags, h.reserved[0]);

                ck_assert_int_eq(flux_wire_header_decode(want, sizeof(want) - 1, &d), -EMSGSIZE);
        }
}
END_TEST

/* Opens datagram_hex of a packet case and checks fields and plaintext. */
static void check_open_packet(json_t *c, FluxAead *a) {
        _cleanup_(freep) uint8_t *dg = NULL, *pt = NULL;
        uint8_t reserved[FLUX_WIRE_RESERVED_SIZE];
        size_t dg_len, pt_len;
        FluxWireHeader h;
        int n;

        dg = unhex(str(c, "datagram_hex"), &dg_len);
        pt = unhex(str(c, "plaintext_hex"), &pt_len);
        ck_assert_uint_eq(dg_len, (size_t) num(c, "datagram_len"));

        n = flux_v1_open(a, dg, dg_len, &h);
        ck_assert_int_eq(n, (int) pt_len);
        ck_assert_uint_eq(h.version, (uint8_t) num(c, "version"));
        ck_assert_uint_eq(h.type, (uint8_t) num(c, "type"));
        ck_assert_uint_eq(h.session_id, (uint32_t) num(c, "session_id"));
        ck_assert_uint_eq(h.seq, (uint32_t) num(c, "seq"));
        ck_assert_uint_eq(h.length, (uint16_t) num(c, "length_field"));
        ck_assert_uint_eq(h.flags, (uint8_t) num(c, "flag"));
        unhex_exact(str(c, "reserved_hex"), reserved, sizeof(reserved));
        ck_assert_mem_eq(h.reserved, reserved, sizeof(reserved));
        if (pt_len > 0)
                ck_assert_mem_eq(dg + FLUX_WIRE_PAYLOAD_OFFSET, pt, pt_len);
}

START_TEST(test_aead_packets) {
        json_t *a = section("aead_packets"), *c;
        _cleanup_(flux_gzip_freep) FluxGzip *gz = NULL;
        FluxAead aead;
        size_t i;

        ck_assert_int_eq(flux_aead_init(&aead, key), 0);
        ck_assert_int_eq(flux_gzip_new(&gz), 0);

        json_array_foreach(a, i, c) {
                _cleanup_(freep) uint8_t *want = NULL, *pt = NULL, *buf = NULL;
                uint8_t nonce[FLUX_WIRE_NONCE_SIZE];
                size_t want_len, pt_len;
                FluxWireHeader h = {};
                int n;

                fprintf(stderr, "aead packet %s\n", str(c, "name"));

                /* 1. decoder */
                check_open_packet(c, &aead);

                /* 2. compressed payload */
                pt = unhex(str(c, "plaintext_hex"), &pt_len);
                if (num(c, "flag") == FLUX_WIRE_FLAG_GZIP && num(c, "type") == FLUX_PACKET_DATA) {
                        _cleanup_(freep) uint8_t *orig = NULL;
                        uint8_t out[FLUX_WIRE_V1_MAX_PACKET];
                        size_t orig_len, out_len;

                        orig = unhex(str(c, "original_hex"), &orig_len);
                        ck_assert_int_eq(flux_gzip_decompress(gz, pt, pt_len, out, sizeof(out), &out_len), 0);
                        ck_assert_uint_eq(out_len, orig_len);
                        ck_assert_mem_eq(out, orig, orig_len);
                }

                /* 3. encoder with the recorded nonce: byte-identical datagram */
                want = unhex(str(c, "datagram_hex"), &want_len);
                unhex_exact(str(c, "nonce_hex"), nonce, sizeof(nonce));
                h.version = (uint8_t) num(c, "version");
                h.type = (uint8_t) num(c, "type");
                h.session_id = (uint32_t) num(c, "session_id");
                h.seq = (uint32_t) num(c, "seq");
                h.length = 0xdead; /* overwritten by the sealer, as in the reference */
                unhex_exact(str(c, "reserved_hex"), h.reserved, sizeof(h.reserved));

                buf = malloc(pt_len + FLUX_WIRE_OVERHEAD);
                ck_assert_ptr_nonnull(buf);
                memcpy(buf + FLUX_WIRE_PAYLOAD_OFFSET, pt, pt_len);
                n = flux_aead_seal(&aead, &h, nonce, buf, pt_len + FLUX_WIRE_OVERHEAD, pt_len);
                ck_assert_int_eq(n, (int) want_len);
                ck_assert_mem_eq(buf, want, want_len);

                /* The buffer must be big enough for the tag. */
                memcpy(buf + FLUX_WIRE_PAYLOAD_OFFSET, pt, pt_len);
                ck_assert_int_eq(flux_aead_seal(&aead, &h, nonce, buf, pt_len + FLUX_WIRE_OVERHEAD - 1, pt_len),
                                 -ENOBUFS);
        }
        flux_aead_done(&aead);
}
END_TEST

/* The reference accepts these (it checks neither version, reserved bytes nor type). Our version 1
 * receiver is stricter only where it must demultiplex: version 9 is not version 1 (the daemon
 * routes datagrams by the version byte), so it is rejected before decryption; non-zero
 * reserved[1..9] and type 4 authenticate and are handed to the caller, which ignores type 4. */
START_TEST(test_aead_lenient) {
        json_t *a = section("aead_lenient"), *c;
        FluxAead aead;
        size_t i;

        ck_assert_int_eq(flux_aead_init(&aead, key), 0);
        json_array_foreach(a, i, c) {
                fprintf(stderr, "aead lenient %s\n", str(c, "name"));
                if (num(c, "version") != FLUX_WIRE_VERSION_1) {
                        _cleanup_(freep) uint8_t *dg = NULL;
                        size_t dg_len;
                        FluxWireHeader h;

                        dg = unhex(str(c, "datagram_hex"), &dg_len);
                        ck_assert_int_eq(flux_v1_open(&aead, dg, dg_len, &h), -EPROTONOSUPPORT);
                        /* ... though it does authenticate with the key. */
                        ck_assert_int_eq(flux_aead_open(&aead, dg, dg_len), (int) num(c, "plaintext_len"));
                } else
                        check_open_packet(c, &aead);
        }
        flux_aead_done(&aead);
}
END_TEST

START_TEST(test_aead_negative) {
        json_t *a = section("aead_negative"), *c;
        FluxAead aead;
        size_t i;

        ck_assert_int_eq(flux_aead_init(&aead, key), 0);
        json_array_foreach(a, i, c) {
                _cleanup_(freep) uint8_t *dg = NULL;
                const char *stage = str(c, "rejected_by");
                size_t dg_len;
                FluxWireHeader h;
                int r, want;

                dg = unhex(str(c, "datagram_hex"), &dg_len);
                ck_assert_uint_eq(dg_len, (size_t) num(c, "datagram_len"));

                if (streq(stage, "min_size"))
                        want = -EMSGSIZE;
                else if (streq(stage, "length_field"))
                        want = -EBADMSG;
                else if (streq(stage, "gcm_auth"))
                        want = -EKEYREJECTED;
                else
                        ck_abort_msg("unknown stage %s", stage);

                /* A version byte other than 1 is caught by our (stricter) version check, which
                 * sits between length_field and gcm_auth. */
                if (want == -EKEYREJECTED && dg[0] != FLUX_WIRE_VERSION_1)
                        want = -EPROTONOSUPPORT;

                r = flux_v1_open(&aead, dg, dg_len, &h);
                fprintf(stderr, "aead negative %s: %s, got %d want %d\n", str(c, "name"), stage, r, want);
                ck_assert_int_eq(r, want);

                /* Nothing is delivered: a failed open leaves no plaintext behind. */
                if (r == -EKEYREJECTED)
                        for (size_t k = FLUX_WIRE_PAYLOAD_OFFSET; k < dg_len - FLUX_WIRE_TAG_SIZE; k++)
                                ck_assert_uint_eq(dg[k], 0);
        }
        flux_aead_done(&aead);
}
END_TEST

START_TEST(test_compress_cases) {
        json_t *a = section("compress_cases"), *c;
        _cleanup_(flux_gzip_freep) FluxGzip *gz = NULL;
        size_t i;

        ck_assert_int_eq(flux_gzip_new(&gz), 0);
        json_array_foreach(a, i, c) {
                _cleanup_(freep) uint8_t *in = NULL, *gzd = NULL, *out = NULL, *comp = NULL;
                size_t in_len, gz_len, out_len, comp_len, out_size;
                int r;

                fprintf(stderr, "compress case %s\n", str(c, "name"));
                in = unhex(str(c, "input_hex"), &in_len);
                gzd = unhex(str(c, "gzip_hex"), &gz_len);
                ck_assert_uint_eq(in_len, (size_t) num(c, "input_len"));
                ck_assert_uint_eq(gz_len, (size_t) num(c, "gzip_len"));

                /* 1. our decompressor inflates the reference's output (limit: input size, which
                 * may exceed 1500 for the 1501-byte case). */
                out_size = MAX(in_len, (size_t) FLUX_WIRE_V1_MAX_PACKET);
                out = malloc(out_size + 1);
                ck_assert_ptr_nonnull(out);
                ck_assert_int_eq(flux_gzip_decompress(gz, gzd, gz_len, out, out_size, &out_len), 0);
                ck_assert_uint_eq(out_len, in_len);
                if (in_len > 0)
                        ck_assert_mem_eq(out, in, in_len);
                if (in_len > FLUX_WIRE_V1_MAX_PACKET)
                        ck_assert_int_eq(flux_gzip_decompress(gz, gzd, gz_len, out, FLUX_WIRE_V1_MAX_PACKET,
                                                              &out_len), -EMSGSIZE);

                /* 2. our compressor: one gzip member, used only when smaller, as the reference. */
                comp = malloc(in_len + 64);
                ck_assert_ptr_nonnull(comp);
                r = flux_gzip_compress(gz, in, in_len, comp, in_len + 64, &comp_len);
                ck_assert_int_ge(r, 0);
                if (boolean(c, "sender_uses_it"))
                        /* zlib's deflate differs from Go's, but anything the reference found
                         * compressible (all far below half size) is compressible for zlib too. */
                        ck_assert_int_eq(r, 1);
                if (r == 1) {
                        ck_assert_uint_lt(comp_len, in_len);
                        ck_assert_mem_eq(comp, "\x1f\x8b\x08", 3);
                        ck_assert_int_eq(flux_gzip_decompress(gz, comp, comp_len, out, out_size, &out_len), 0);
                        ck_assert_uint_eq(out_len, in_len);
                        ck_assert_mem_eq(out, in, in_len);
                } else {
                        /* Not smaller: a full gzip member is never shorter than its input here. */
                        ck_assert_uint_le(in_len, gz_len + 8);
                }
        }
}
END_TEST

START_TEST(test_decompress_cases) {
        json_t *a = section("decompress_cases"), *c;
        _cleanup_(flux_gzip_freep) FluxGzip *gz = NULL;
        size_t i;

        ck_assert_int_eq(flux_gzip_new(&gz), 0);
        json_array_foreach(a, i, c) {
                _cleanup_(freep) uint8_t *in = NULL, *want = NULL;
                uint8_t out[FLUX_WIRE_V1_MAX_PACKET];
                size_t in_len, want_len, out_len = SIZE_MAX;
                int r;

                in = unhex(str(c, "input_hex"), &in_len);
                ck_assert_uint_eq(in_len, (size_t) num(c, "input_len"));
                ck_assert_int_eq(num(c, "max_out"), FLUX_WIRE_V1_MAX_PACKET);

                r = flux_gzip_decompress(gz, in, in_len, out, sizeof(out), &out_len);
                fprintf(stderr, "decompress case %s: %d\n", str(c, "name"), r);
                if (boolean(c, "accept")) {
                        ck_assert_int_eq(r, 0);
                        /* An empty output has no output_hex. */
                        want_len = (size_t) num(c, "output_len");
                        if (want_len > 0) {
                                want = unhex(str(c, "output_hex"), &want_len);
                                ck_assert_uint_eq(want_len, (size_t) num(c, "output_len"));
                        }
                        ck_assert_uint_eq(out_len, want_len);
                        if (want_len > 0)
                                ck_assert_mem_eq(out, want, want_len);
                } else {
                        ck_assert_int_lt(r, 0);
                        ck_assert(r == -EBADMSG || r == -EMSGSIZE);
                        ck_assert_uint_eq(out_len, SIZE_MAX); /* ret_size untouched */
                }
        }
}
END_TEST

static Suite *vectors_suite(void) {
        Suite *s = suite_create("vectors");
        TCase *tc = tcase_create("fluxify-go-v1");

        tcase_add_checked_fixture(tc, load_vectors, unload_vectors);
        tcase_add_test(tc, test_constants);
        tcase_add_test(tc, test_header_cases);
        tcase_add_test(tc, test_aead_packets);
        tcase_add_test(tc, test_aead_lenient);
        tcase_add_test(tc, test_aead_negative);
        tcase_add_test(tc, test_compress_cases);
        tcase_add_test(tc, test_decompress_cases);
        suite_add_tcase(s, tc);
        return s;
}

FLUX_CHECK_MAIN(vectors_suite);
