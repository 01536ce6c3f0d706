/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "check-util.h"
#include "proto-test-util.h"
#include "wire.h"

static const FluxWireHeader v2_sample = {
        .version = FLUX_WIRE_VERSION_2,
        .type = FLUX_PACKET_DATA,
        .session_id = 0x01020304,
        .seq = 0xa0b0c0d0,
        .length = 0,
        .flags = FLUX_WIRE_FLAG_GZIP,
        .epoch = 0x7f,
        .data_seq = 0xfffffffe,
        .path_id = 0x1234,
};

/* A datagram of `payload` bytes around header h, with the length field set correctly. */
static size_t make_datagram(const FluxWireHeader *h, size_t payload, uint8_t *buf) {
        FluxWireHeader t = *h;
        size_t n = FLUX_WIRE_OVERHEAD + payload;

        t.length = (uint16_t) (n - FLUX_WIRE_HEADER_SIZE);
        memset(buf, 0xa5, n);
        flux_wire_header_encode(&t, buf);
        return n;
}

START_TEST(test_v2_layout) {
        uint8_t b[FLUX_WIRE_HEADER_SIZE];
        FluxWireHeader d, h = v2_sample;

        h.length = 0x0102;
        memset(h.reserved, 0xee, sizeof(h.reserved)); /* ignored for version 2 */
        flux_wire_header_encode(&h, b);
        ck_assert_mem_hex_eq(b, sizeof(b), "020101020304a0b0c0d00102017ffffffffe12340000");

        ck_assert_int_eq(flux_wire_header_decode(b, sizeof(b), &d), 0);
        ck_assert_uint_eq(d.version, 2);
        ck_assert_uint_eq(d.type, FLUX_PACKET_DATA);
        ck_assert_uint_eq(d.session_id, 0x01020304);
        ck_assert_uint_eq(d.seq, 0xa0b0c0d0);
        ck_assert_uint_eq(d.length, 0x0102);
        ck_assert_uint_eq(d.flags, FLUX_WIRE_FLAG_GZIP);
        ck_assert_uint_eq(d.epoch, 0x7f);
        ck_assert_uint_eq(d.data_seq, 0xfffffffe);
        ck_assert_uint_eq(d.path_id, 0x1234);
        ck_assert_mem_hex_eq(d.reserved, sizeof(d.reserved), "017ffffffffe12340000");
}
END_TEST

START_TEST(test_v1_raw_reserved) {
        uint8_t b[FLUX_WIRE_HEADER_SIZE];
        FluxWireHeader h = { .version = 1, .type = 1, .session_id = 1, .seq = 2, .length = 3,
                             .reserved = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, .epoch = 99 };

        flux_wire_header_encode(&h, b);
        ck_assert_mem_hex_eq(b, sizeof(b), "0101000000010000000200030102030405060708090a");
}
END_TEST

START_TEST(test_parse_checks) {
        uint8_t buf[256];
        FluxWireHeader h, t;
        size_t n;

        /* Good v2 and v1 datagrams of every payload size 0..100. */
        for (size_t p = 0; p <= 100; p++) {
                n = make_datagram(&v2_sample, p, buf);
                ck_assert_int_eq(flux_wire_datagram_parse(buf, n, 2, &h), 0);
                ck_assert_uint_eq(h.length, n - 22);
                ck_assert_uint_eq(h.data_seq, v2_sample.data_seq);
                /* wrong expected version */
                ck_assert_int_eq(flux_wire_datagram_parse(buf, n, 1, &h), -EPROTONOSUPPORT);
        }

        /* Size and length field. */
        n = make_datagram(&v2_sample, 10, buf);
        for (size_t k = 0; k < FLUX_WIRE_MIN_DATAGRAM; k++)
                ck_assert_int_eq(flux_wire_datagram_parse(buf, k, 2, &h), -EMSGSIZE);
        ck_assert_int_eq(flux_wire_datagram_parse(buf, n - 1, 2, &h), -EBADMSG);
        ck_assert_int_eq(flux_wire_datagram_parse(buf, n + 1, 2, &h), -EBADMSG);
        ck_assert_int_eq(flux_wire_datagram_parse(NULL, 0, 2, &h), -EMSGSIZE);
        ck_assert_int_eq(flux_wire_datagram_parse(buf, n, 2, NULL), -EINVAL);

        /* Unknown flag bits. */
        for (unsigned bit = 1; bit < 8; bit++) {
                t = v2_sample;
                t.flags = (uint8_t) (1U << bit);
                n = make_datagram(&t, 0, buf);
                ck_assert_int_eq(flux_wire_datagram_parse(buf, n, 2, &h), -EPROTO);
        }
        /* reserved[8..9] */
        for (unsigned k = 20; k < 22; k++) {
                n = make_datagram(&v2_sample, 0, buf);
                buf[k] = 1;
                ck_assert_int_eq(flux_wire_datagram_parse(buf, n, 2, &h), -EPROTO);
        }
        /* Types: 1, 2, 3, 5, 6 valid; 0, 4, 7..255 not. */
        for (unsigned ty = 0; ty < 256; ty++) {
                bool ok = ty == 1 || ty == 2 || ty == 3 || ty == 5 || ty == 6;
                t = v2_sample;
                t.type = (uint8_t) ty;
                t.flags = 0;
                t.data_seq = ty == FLUX_PACKET_DATA ? 7 : 0;
                n = make_datagram(&t, 0, buf);
                ck_assert_int_eq(flux_wire_datagram_parse(buf, n, 2, &h), ok ? 0 : -EPROTO);
                ck_assert(flux_packet_type_valid(2, (uint8_t) ty) == ok);
                ck_assert(flux_packet_type_valid(1, (uint8_t) ty) == (ty >= 1 && ty <= 4));
        }
        /* Data sequence and gzip only on DATA. */
        t = v2_sample;
        t.type = FLUX_PACKET_PROBE;
        t.flags = 0;
        n = make_datagram(&t, 0, buf);
        ck_assert_int_eq(flux_wire_datagram_parse(buf, n, 2, &h), -EPROTO);
        t.data_seq = 0;
        n = make_datagram(&t, 0, buf);
        ck_assert_int_eq(flux_wire_datagram_parse(buf, n, 2, &h), 0);
        t.flags = FLUX_WIRE_FLAG_GZIP;
        n = make_datagram(&t, 0, buf);
        ck_assert_int_eq(flux_wire_datagram_parse(buf, n, 2, &h), -EPROTO);

        /* Version 1 does not judge reserved bytes or type. */
        t = (FluxWireHeader) { .version = 1, .type = 200, .reserved = { 0xff, 0xff, 0xff, 0xff, 0xff,
                                                                        0xff, 0xff, 0xff, 0xff, 0xff } };
        n = make_datagram(&t, 3, buf);
        ck_assert_int_eq(flux_wire_datagram_parse(buf, n, 1, &h), 0);
        ck_assert_uint_eq(h.type, 200);
        ck_assert_int_eq(flux_wire_datagram_parse(buf, n, 2, &h), -EPROTONOSUPPORT);
}
END_TEST

START_TEST(test_max_payload) {
        static uint8_t buf[FLUX_WIRE_HEADER_SIZE + UINT16_MAX + 1];
        FluxWireHeader h, t = v2_sample;
        size_t n;

        t.length = UINT16_MAX;
        flux_wire_header_encode(&t, buf);
        n = FLUX_WIRE_HEADER_SIZE + UINT16_MAX;
        ck_assert_int_eq(flux_wire_datagram_parse(buf, n, 2, &h), 0);
        ck_assert_int_eq(flux_wire_datagram_parse(buf, n + 1, 2, &h), -EBADMSG);
        ck_assert_uint_eq(FLUX_WIRE_MAX_PAYLOAD + FLUX_WIRE_OVERHEAD, n);
}
END_TEST

START_TEST(test_peek_version) {
        uint8_t b[1] = { 2 };

        ck_assert_int_eq(flux_wire_peek_version(b, 1), 2);
        ck_assert_int_eq(flux_wire_peek_version(b, 0), -EMSGSIZE);
}
END_TEST

START_TEST(test_seq_compare) {
        ck_assert(flux_seq_before(1, 2));
        ck_assert(flux_seq_after(2, 1));
        ck_assert(!flux_seq_before(5, 5) && !flux_seq_after(5, 5));
        ck_assert_int_eq(flux_seq_diff(5, 5), 0);
        /* across the wrap */
        ck_assert(flux_seq_before(UINT32_MAX, 0));
        ck_assert(flux_seq_after(0, UINT32_MAX));
        ck_assert(flux_seq_after(3, UINT32_MAX - 3));
        ck_assert_int_eq(flux_seq_diff(3, UINT32_MAX - 3), 7);
        ck_assert_int_eq(flux_seq_diff(UINT32_MAX - 3, 3), -7);
        /* half the space away */
        ck_assert(flux_seq_after(0x7fffffffU, 0));
        ck_assert(flux_seq_before(0x80000001U, 0));
        /* antisymmetric for everything but exactly 2^31 */
        for (uint32_t a = 0, i = 0; i < 100000; i++, a += 0x9e3779b9U) {
                uint32_t b = a * 2654435761U + i;
                if (a - b == 0x80000000U)
                        continue;
                ck_assert(flux_seq_before(a, b) == flux_seq_after(b, a));
        }
}
END_TEST

START_TEST(test_type_strings) {
        ck_assert_str_eq(flux_packet_type_to_string(FLUX_PACKET_DATA), "data");
        ck_assert_str_eq(flux_packet_type_to_string(FLUX_PACKET_REGISTER_ACK), "register-ack");
        ck_assert_ptr_null(flux_packet_type_to_string(0));
        ck_assert_ptr_null(flux_packet_type_to_string(_FLUX_PACKET_TYPE_MAX));
        ck_assert_ptr_null(flux_packet_type_to_string(-1));
}
END_TEST

START_TEST(test_be_helpers) {
        uint8_t b[8];

        flux_put_be64(b, UINT64_C(0x0102030405060708));
        ck_assert_mem_hex_eq(b, 8, "0102030405060708");
        ck_assert_uint_eq(flux_get_be64(b), UINT64_C(0x0102030405060708));
        ck_assert_uint_eq(flux_get_be32(b + 4), 0x05060708);
        ck_assert_uint_eq(flux_get_be16(b + 6), 0x0708);
}
END_TEST

static Suite *wire_suite(void) {
        Suite *s = suite_create("wire");
        TCase *tc = tcase_create("codec");

        tcase_add_test(tc, test_v2_layout);
        tcase_add_test(tc, test_v1_raw_reserved);
        tcase_add_test(tc, test_parse_checks);
        tcase_add_test(tc, test_max_payload);
        tcase_add_test(tc, test_peek_version);
        tcase_add_test(tc, test_seq_compare);
        tcase_add_test(tc, test_type_strings);
        tcase_add_test(tc, test_be_helpers);
        suite_add_tcase(s, tc);
        return s;
}

FLUX_CHECK_MAIN(wire_suite);
