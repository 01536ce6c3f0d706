/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tun_vnet_split(): TCP super-packets from a TUN with TSO offload are cut into segments whose IP and
 * TCP headers and checksums are all correct, and partial checksums are completed. */
#include <linux/virtio_net.h>
#include <stdlib.h>

#include "alloc-util.h"
#include "check-util.h"
#include "tun.h"

static uint16_t fold(uint64_t s) {
        while (s >> 16)
                s = (s & 0xffff) + (s >> 16);
        return (uint16_t) s;
}

static uint64_t sum16(const uint8_t *p, size_t n) {
        uint64_t s = 0;

        for (size_t i = 0; i + 1 < n; i += 2)
                s += (uint64_t) (p[i] << 8 | p[i + 1]);
        if (n & 1)
                s += (uint64_t) p[n - 1] << 8;
        return s;
}

typedef struct Expect {
        bool v6;
        unsigned n_segments;
        uint32_t next_seq;
        size_t total_payload;
        bool saw_fin_early;
        bool last_has_fin;
} Expect;

static void check_tcp_segment(const uint8_t *ip, size_t len, void *userdata) {
        Expect *e = userdata;
        size_t l4 = e->v6 ? 40 : (size_t) (ip[0] & 15) * 4, thl, payload;
        uint64_t s;
        uint32_t seq;

        if (e->v6)
                ck_assert_uint_eq((size_t) (ip[4] << 8 | ip[5]), len - 40);
        else {
                ck_assert_uint_eq(fold(sum16(ip, l4)), 0xffff); /* IPv4 header checksum */
                ck_assert_uint_eq((size_t) (ip[2] << 8 | ip[3]), len);
                ck_assert_uint_eq(ip[4] << 8 | ip[5], (uint16_t) (0x1234 + e->n_segments)); /* IP id */
        }

        /* TCP checksum over the pseudo header and the segment. */
        s = e->v6 ? sum16(ip + 8, 32) : sum16(ip + 12, 8);
        s += 6 + (len - l4) + sum16(ip + l4, len - l4);
        ck_assert_uint_eq(fold(s), 0xffff);

        seq = (uint32_t) ip[l4 + 4] << 24 | (uint32_t) ip[l4 + 5] << 16 | (uint32_t) ip[l4 + 6] << 8 | ip[l4 + 7];
        ck_assert_uint_eq(seq, e->next_seq); /* wraps past 2^32 in these tests */
        thl = (size_t) (ip[l4 + 12] >> 4) * 4;
        payload = len - l4 - thl;
        for (size_t i = 0; i < payload; i++)
                ck_assert_uint_eq(ip[l4 + thl + i], (uint8_t) ((e->total_payload + i) * 7));

        /* FIN and PSH only on the last segment: remember whether this one had FIN. */
        if (e->last_has_fin)
                e->saw_fin_early = true;
        e->last_has_fin = ip[l4 + 13] & 0x01;

        e->next_seq += (uint32_t) payload;
        e->total_payload += payload;
        e->n_segments++;
}

/* Build a TSO super-packet: vnet header + IPv4/IPv6 + TCP (with optlen option bytes) + payload. */
static size_t build_tso(uint8_t *b, bool v6, size_t payload, uint16_t mss, size_t optlen) {
        struct virtio_net_hdr h = {
                .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                .gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4,
                .gso_size = mss,
        };
        uint8_t *p = b + TUN_VNET_HDR_SIZE;
        size_t l4 = v6 ? 40 : 20, thl = 20 + optlen;

        memcpy(b, &h, TUN_VNET_HDR_SIZE);
        if (v6) {
                p[0] = 0x60;
                p[6] = 6;
                p[7] = 64;
                for (int i = 0; i < 32; i++)
                        p[8 + i] = (uint8_t) (i * 3 + 1);
        } else {
                p[0] = 0x45;
                p[4] = 0x12, p[5] = 0x34;
                p[8] = 64;
                p[9] = 6;
                p[12] = 10, p[15] = 1;
                p[16] = 10, p[19] = 2;
        }
        p[l4 + 4] = 0xff, p[l4 + 5] = 0xff, p[l4 + 6] = 0xf0, p[l4 + 7] = 0; /* seq near 2^32 */
        p[l4 + 12] = (uint8_t) ((thl / 4) << 4);
        p[l4 + 13] = 0x18 | 0x01; /* PSH ACK FIN */
        for (size_t i = 0; i < payload; i++)
                p[l4 + thl + i] = (uint8_t) (i * 7);
        return TUN_VNET_HDR_SIZE + l4 + thl + payload;
}

static void run_tso(bool v6, size_t payload, uint16_t mss, size_t optlen) {
        _cleanup_(freep) uint8_t *b = calloc(1, 70000);
        Expect e = { .v6 = v6, .next_seq = 0xfffff000 };
        size_t len;
        int r;

        ck_assert_ptr_nonnull(b);
        len = build_tso(b, v6, payload, mss, optlen);
        r = tun_vnet_split(b, len, check_tcp_segment, &e);
        ck_assert_int_eq(r, (int) e.n_segments);
        ck_assert_uint_eq(e.total_payload, payload);
        ck_assert_uint_eq(e.n_segments, (payload + mss - 1) / mss);
        ck_assert(!e.saw_fin_early);
        ck_assert(e.last_has_fin);
}

START_TEST(test_tso_v4) {
        run_tso(false, 64000, 1388, 0);
        run_tso(false, 64000, 1376, 12);
        run_tso(false, 1000, 1388, 0);  /* one segment */
        run_tso(false, 2777, 1388, 12); /* a short last segment */
}
END_TEST

START_TEST(test_tso_v6) {
        run_tso(true, 63000, 1368, 12);
        run_tso(true, 5, 3, 0);
}
END_TEST

static void check_udp(const uint8_t *ip, size_t len, void *userdata) {
        size_t tl = len - 20;
        uint64_t s = sum16(ip + 12, 8) + 17 + tl + sum16(ip + 20, tl);

        ck_assert_uint_eq(fold(s), 0xffff);
        (*(unsigned *) userdata)++;
}

START_TEST(test_partial_checksum) {
        struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 20, .csum_offset = 6 };
        uint8_t b[200] = {}, *p = b + TUN_VNET_HDR_SIZE;
        size_t ul = 8 + 51;
        unsigned n = 0;
        uint16_t f;

        memcpy(b, &h, TUN_VNET_HDR_SIZE);
        p[0] = 0x45, p[9] = 17, p[12] = 10, p[15] = 1, p[16] = 10, p[19] = 2;
        p[24] = 0, p[25] = (uint8_t) ul;
        for (size_t i = 0; i < 51; i++)
                p[28 + i] = (uint8_t) (i * 5);
        /* The kernel leaves the pseudo-header sum in the checksum field. */
        f = fold(sum16(p + 12, 8) + 17 + ul);
        p[26] = (uint8_t) (f >> 8), p[27] = (uint8_t) f;
        ck_assert_int_eq(tun_vnet_split(b, TUN_VNET_HDR_SIZE + 20 + ul, check_udp, &n), 1);
        ck_assert_uint_eq(n, 1);
}
END_TEST

static void count(const uint8_t *ip, size_t len, void *userdata) {
        (*(unsigned *) userdata)++;
}

START_TEST(test_malformed) {
        _cleanup_(freep) uint8_t *b = calloc(1, 70000);
        unsigned n = 0;
        size_t len;

        ck_assert_ptr_nonnull(b);
        /* Shorter than the vnet header, or a header with nothing behind it. */
        ck_assert_int_eq(tun_vnet_split(b, 4, count, &n), -EBADMSG);
        ck_assert_int_eq(tun_vnet_split(b, TUN_VNET_HDR_SIZE, count, &n), -EBADMSG);

        /* A super-packet cut short inside its TCP header. */
        len = build_tso(b, false, 4000, 1388, 0);
        ck_assert_int_eq(tun_vnet_split(b, TUN_VNET_HDR_SIZE + 30, count, &n), -EBADMSG);

        /* gso_size 0 on a GSO packet. */
        len = build_tso(b, false, 4000, 0, 0);
        ck_assert_int_eq(tun_vnet_split(b, len, count, &n), -EBADMSG);
        ck_assert_uint_eq(n, 0); /* nothing passed on for any of them */
}
END_TEST

static Suite *tun_vnet_suite(void) {
        Suite *s = suite_create("tun-vnet");
        TCase *tc = tcase_create("split");

        tcase_add_test(tc, test_tso_v4);
        tcase_add_test(tc, test_tso_v6);
        tcase_add_test(tc, test_partial_checksum);
        tcase_add_test(tc, test_malformed);
        suite_add_tcase(s, tc);
        return s;
}

FLUX_CHECK_MAIN(tun_vnet_suite)
