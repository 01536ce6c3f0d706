/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <check.h>
#include <string.h>

#include "check-util.h"
#include "reorder.h"

/* Records delivered packets: each test packet carries its sequence number in its first 4 bytes. */
typedef struct Sink {
        uint32_t seqs[8192];
        size_t n;
} Sink;

static void sink_deliver(const uint8_t *pkt, size_t len, void *userdata) {
        Sink *s = userdata;
        uint32_t v;

        ck_assert_uint_ge(len, 4);
        memcpy(&v, pkt, 4);
        ck_assert_uint_lt(s->n, ELEMENTSOF(s->seqs));
        s->seqs[s->n++] = v;
}

static FluxReorderResult put(FluxReorder *r, usec_t now, uint32_t seq) {
        uint8_t pkt[64];

        memset(pkt, 0xab, sizeof(pkt));
        memcpy(pkt, &seq, 4);
        return flux_reorder_insert(r, now, seq, pkt, sizeof(pkt));
}

START_TEST(test_in_order) {
        static Sink s;
        FluxReorder r;

        s.n = 0;
        ck_assert_int_eq(flux_reorder_init(&r, 64, 10 * USEC_PER_MSEC, sink_deliver, &s), 0);
        for (uint32_t i = 1; i <= 100; i++)
                ck_assert_int_eq(put(&r, i, i), FLUX_REORDER_DELIVERED);
        ck_assert_uint_eq(s.n, 100);
        for (uint32_t i = 0; i < 100; i++)
                ck_assert_uint_eq(s.seqs[i], i + 1);
        ck_assert_uint_eq(r.stats.held, 0);
        ck_assert_uint_eq(flux_reorder_next_deadline(&r), USEC_INFINITY);
        flux_reorder_done(&r);
}
END_TEST

START_TEST(test_swap_and_drain) {
        static Sink s;
        FluxReorder r;

        s.n = 0;
        ck_assert_int_eq(flux_reorder_init(&r, 64, 10 * USEC_PER_MSEC, sink_deliver, &s), 0);
        ck_assert_int_eq(put(&r, 0, 10), FLUX_REORDER_DELIVERED);
        ck_assert_int_eq(put(&r, 1, 12), FLUX_REORDER_HELD);
        ck_assert_int_eq(put(&r, 2, 13), FLUX_REORDER_HELD);
        ck_assert_int_eq(put(&r, 3, 13), FLUX_REORDER_DUPLICATE);
        ck_assert_uint_eq(s.n, 1);
        ck_assert_uint_eq(flux_reorder_next_deadline(&r), 1 + 10 * USEC_PER_MSEC);
        /* The gap fills: 11 and both successors come out in order at once. */
        ck_assert_int_eq(put(&r, 4, 11), FLUX_REORDER_DELIVERED);
        ck_assert_uint_eq(s.n, 4);
        for (uint32_t i = 0; i < 4; i++)
                ck_assert_uint_eq(s.seqs[i], 10 + i);
        ck_assert_uint_eq(r.depth, 0);
        /* Redundant copies of delivered packets are duplicates. */
        ck_assert_int_eq(put(&r, 5, 12), FLUX_REORDER_DUPLICATE);
        ck_assert_int_eq(put(&r, 5, 10), FLUX_REORDER_DUPLICATE);
        ck_assert_uint_eq(r.stats.duplicates, 3);
        ck_assert_uint_eq(r.stats.max_depth, 2);
        flux_reorder_done(&r);
}
END_TEST

START_TEST(test_timeout_bound) {
        static Sink s;
        FluxReorder r;
        usec_t hold = 20 * USEC_PER_MSEC;

        s.n = 0;
        ck_assert_int_eq(flux_reorder_init(&r, 64, hold, sink_deliver, &s), 0);
        ck_assert_int_eq(put(&r, 1000, 1), FLUX_REORDER_DELIVERED);
        /* 2 is lost; 3 and 4 wait, 6 waits behind another gap. */
        ck_assert_int_eq(put(&r, 2000, 3), FLUX_REORDER_HELD);
        ck_assert_int_eq(put(&r, 3000, 4), FLUX_REORDER_HELD);
        ck_assert_int_eq(put(&r, 9000, 6), FLUX_REORDER_HELD);
        ck_assert_uint_eq(flux_reorder_next_deadline(&r), 2000 + hold);
        ck_assert_uint_eq(flux_reorder_flush(&r, 2000 + hold - 1), 0);
        ck_assert_uint_eq(s.n, 1);
        ck_assert_uint_eq(flux_reorder_flush(&r, 2000 + hold), 1);
        ck_assert_uint_eq(s.n, 3);
        ck_assert_uint_eq(s.seqs[1], 3);
        ck_assert_uint_eq(s.seqs[2], 4);
        /* 6 keeps its own clock: it arrived at 9000. */
        ck_assert_uint_eq(flux_reorder_next_deadline(&r), 9000 + hold);
        ck_assert_uint_eq(flux_reorder_flush(&r, 9000 + hold), 1);
        ck_assert_uint_eq(s.n, 4);
        ck_assert_uint_eq(s.seqs[3], 6);
        ck_assert_uint_eq(r.stats.timeouts, 2);
        ck_assert_uint_eq(r.stats.skipped, 2);
        /* The "lost" packets show up after all: late, delivered out of order rather than lost,
         * once; and the hold grows since it proved too short. */
        ck_assert_int_eq(put(&r, 50000, 2), FLUX_REORDER_LATE);
        ck_assert_int_eq(put(&r, 50000, 5), FLUX_REORDER_LATE);
        ck_assert_uint_eq(s.n, 6);
        ck_assert_uint_eq(s.seqs[4], 2);
        ck_assert_uint_eq(s.seqs[5], 5);
        ck_assert_int_eq(put(&r, 50000, 2), FLUX_REORDER_DUPLICATE);
        ck_assert_int_eq(put(&r, 50000, 7), FLUX_REORDER_DELIVERED);
        ck_assert_uint_eq(r.stats.late, 2);
        ck_assert_uint_eq(r.hold, hold); /* it would grow, but never above the ceiling */
        flux_reorder_done(&r);
}
END_TEST

START_TEST(test_wraparound) {
        static Sink s;
        FluxReorder r;
        uint32_t start = UINT32_MAX - 5;

        s.n = 0;
        ck_assert_int_eq(flux_reorder_init(&r, 16, 10 * USEC_PER_MSEC, sink_deliver, &s), 0);
        ck_assert_int_eq(put(&r, 0, start), FLUX_REORDER_DELIVERED);
        /* Pairs swapped across the wrap. */
        for (uint32_t i = 1; i < 12; i += 2) {
                ck_assert_int_eq(put(&r, i, start + i + 1), FLUX_REORDER_HELD);
                ck_assert_int_eq(put(&r, i, start + i), FLUX_REORDER_DELIVERED);
        }
        ck_assert_uint_eq(s.n, 13);
        for (uint32_t i = 0; i < 13; i++)
                ck_assert_uint_eq(s.seqs[i], start + i);
        ck_assert_uint_eq(r.next, start + 13);
        ck_assert_int_eq(put(&r, 20, start + 2), FLUX_REORDER_DUPLICATE);
        ck_assert_uint_eq(r.stats.late, 0);
        flux_reorder_done(&r);
}
END_TEST

START_TEST(test_overflow_drains_successors) {
        static Sink s;
        FluxReorder r;

        s.n = 0;
        ck_assert_int_eq(flux_reorder_init(&r, 16, USEC_PER_SEC, sink_deliver, &s), 0);
        ck_assert_int_eq(put(&r, 0, 100), FLUX_REORDER_DELIVERED);
        /* 101 lost; 102..116 fill the window (15 held), 117 does not fit. */
        for (uint32_t q = 102; q <= 116; q++)
                ck_assert_int_eq(put(&r, 1, q), FLUX_REORDER_HELD);
        ck_assert_uint_eq(s.n, 1);
        ck_assert_int_eq(put(&r, 2, 117), FLUX_REORDER_DELIVERED);
        /* Overflow gave up on 101 and drained every successor, 117 included (B12 fixed). */
        ck_assert_uint_eq(s.n, 17);
        for (uint32_t i = 1; i < 17; i++)
                ck_assert_uint_eq(s.seqs[i], 101 + i);
        ck_assert_uint_eq(r.depth, 0);
        ck_assert_uint_eq(r.stats.overflows, 1);
        ck_assert_uint_eq(r.stats.max_depth, 15);
        /* A far jump delivers what is held and slides the window so the newcomer is its last
         * slot: it waits for its predecessors like any early packet. */
        ck_assert_int_eq(put(&r, 3, 120), FLUX_REORDER_HELD);
        ck_assert_int_eq(put(&r, 3, 1000000), FLUX_REORDER_HELD);
        ck_assert_uint_eq(s.seqs[s.n - 1], 120);
        ck_assert_uint_eq(r.next, 1000000 - 15);
        ck_assert_uint_eq(flux_reorder_flush(&r, 3 + USEC_PER_SEC), 1);
        ck_assert_uint_eq(s.seqs[s.n - 1], 1000000);
        ck_assert_int_eq(put(&r, 4, 1000001), FLUX_REORDER_DELIVERED);
        flux_reorder_done(&r);
}
END_TEST

START_TEST(test_reset_new_session) {
        static Sink s;
        FluxReorder r;

        s.n = 0;
        ck_assert_int_eq(flux_reorder_init(&r, 64, 10 * USEC_PER_MSEC, sink_deliver, &s), 0);
        for (uint32_t i = 5000; i < 5010; i++)
                put(&r, 0, i);
        ck_assert_int_eq(put(&r, 0, 5020), FLUX_REORDER_HELD);
        /* A new session numbers from 1 again: after reset nothing is dropped (B8 fixed). */
        flux_reorder_reset(&r);
        ck_assert_uint_eq(r.n_free, r.capacity);
        ck_assert_int_eq(put(&r, 1, 1), FLUX_REORDER_DELIVERED);
        ck_assert_int_eq(put(&r, 1, 2), FLUX_REORDER_DELIVERED);
        ck_assert_uint_eq(s.seqs[s.n - 1], 2);
        flux_reorder_done(&r);
}
END_TEST

START_TEST(test_random_permutation) {
        static Sink s;
        FluxReorder r;
        uint32_t order[2000];
        uint64_t x = 0x9e3779b97f4a7c15ULL;

        s.n = 0;
        ck_assert_int_eq(flux_reorder_init(&r, 256, USEC_PER_SEC, sink_deliver, &s), 0);
        for (uint32_t i = 0; i < ELEMENTSOF(order); i++)
                order[i] = i + 1;
        /* Local displacement of at most 8 positions: always within the window, never a timeout. */
        for (uint32_t i = 0; i + 8 < ELEMENTSOF(order); i += 8)
                for (uint32_t j = 7; j > 0; j--) {
                        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                        uint32_t k = (uint32_t) (x % (j + 1)), t = order[i + j];
                        order[i + j] = order[i + k];
                        order[i + k] = t;
                }
        /* Sequence 1 first, so the buffer starts at 1. */
        for (uint32_t i = 0; i < ELEMENTSOF(order); i++)
                if (order[i] == 1) {
                        order[i] = order[0];
                        order[0] = 1;
                }
        for (uint32_t i = 0; i < ELEMENTSOF(order); i++)
                put(&r, i, order[i]);
        ck_assert_uint_eq(s.n, ELEMENTSOF(order));
        for (uint32_t i = 0; i < ELEMENTSOF(order); i++)
                ck_assert_uint_eq(s.seqs[i], i + 1);
        ck_assert_uint_eq(r.stats.timeouts + r.stats.overflows + r.stats.skipped, 0);
        flux_reorder_done(&r);
}
END_TEST

START_TEST(test_adaptive_hold) {
        static Sink s;
        FluxReorder r;
        usec_t ms = USEC_PER_MSEC;

        s.n = 0;
        ck_assert_int_eq(flux_reorder_init(&r, 64, 50 * ms, sink_deliver, &s), 0);
        ck_assert_uint_eq(r.hold, 50 * ms); /* nothing known yet: the ceiling */
        flux_reorder_set_hold(&r, 2 * ms); /* the paths say: little spread */
        ck_assert_uint_eq(r.hold, 2 * ms);
        put(&r, 0, 1);
        /* A gap that takes 8 ms to fill teaches the buffer to wait about that long. */
        ck_assert_int_eq(put(&r, 10 * ms, 3), FLUX_REORDER_HELD);
        ck_assert_int_eq(put(&r, 18 * ms, 2), FLUX_REORDER_DELIVERED);
        ck_assert_uint_ge(r.hold, 10 * ms);
        ck_assert_uint_le(r.hold, 12 * ms);
        /* A packet late beyond that raises it further (bounded by the ceiling)... */
        ck_assert_int_eq(put(&r, 20 * ms, 5), FLUX_REORDER_HELD);
        ck_assert_uint_eq(flux_reorder_flush(&r, 20 * ms + r.hold), 1);
        ck_assert_int_eq(put(&r, 40 * ms, 4), FLUX_REORDER_LATE);
        ck_assert_uint_ge(r.hold, 20 * ms);
        ck_assert_uint_le(r.hold, 50 * ms);
        /* ...and quick fills let it relax again, down to the floor plus margin. */
        for (uint32_t q = 6; q < 600; q += 2) {
                put(&r, q * ms, q + 1);
                put(&r, q * ms, q);
        }
        ck_assert_uint_le(r.hold, 3 * ms);
        ck_assert_uint_eq(s.n, 599);
        flux_reorder_done(&r);
}
END_TEST

START_TEST(test_skip) {
        static Sink s;
        FluxReorder r;

        s.n = 0;
        ck_assert_int_eq(flux_reorder_init(&r, 64, 10 * USEC_PER_MSEC, sink_deliver, &s), 0);
        put(&r, 0, 1);
        /* 2 is consumed without data (dropped by policy) before 3 and after 4 arrive. */
        ck_assert_int_eq(put(&r, 1, 4), FLUX_REORDER_HELD);
        ck_assert_int_eq(flux_reorder_skip(&r, 2, 2), FLUX_REORDER_DELIVERED);
        ck_assert_int_eq(put(&r, 3, 3), FLUX_REORDER_DELIVERED);
        ck_assert_uint_eq(s.n, 3);
        ck_assert_uint_eq(s.seqs[2], 4);
        ck_assert_int_eq(flux_reorder_skip(&r, 4, 5), FLUX_REORDER_DELIVERED);
        ck_assert_int_eq(put(&r, 5, 6), FLUX_REORDER_DELIVERED);
        /* A skip ahead of a gap leaves nothing to wait on once the gap fills. */
        ck_assert_int_eq(flux_reorder_skip(&r, 6, 8), FLUX_REORDER_DELIVERED);
        ck_assert_int_eq(put(&r, 7, 7), FLUX_REORDER_DELIVERED);
        ck_assert_int_eq(put(&r, 8, 9), FLUX_REORDER_DELIVERED);
        ck_assert_uint_eq(s.n, 6);
        ck_assert_uint_eq(r.stats.consumed, 3);
        ck_assert_uint_eq(r.stats.timeouts, 0);
        /* A skipped number arriving again is a duplicate. */
        ck_assert_int_eq(put(&r, 9, 2), FLUX_REORDER_DUPLICATE);
        flux_reorder_done(&r);
}
END_TEST

static FluxReorderResult put_at(FluxReorder *r, usec_t now, uint32_t seq, usec_t not_before) {
        uint8_t pkt[64];

        memset(pkt, 0xcd, sizeof(pkt));
        memcpy(pkt, &seq, 4);
        return flux_reorder_insert_at(r, now, seq, pkt, sizeof(pkt), not_before);
}

START_TEST(test_delayed_release) {
        static Sink s;
        FluxReorder r;
        usec_t ms = USEC_PER_MSEC;

        s.n = 0;
        ck_assert_int_eq(flux_reorder_init(&r, 64, 20 * ms, sink_deliver, &s), 0);
        /* In order but from a fast path: held until its release time, and so is what follows. */
        ck_assert_int_eq(put_at(&r, 0, 1, 15 * ms), FLUX_REORDER_HELD);
        ck_assert_int_eq(put_at(&r, 1 * ms, 2, 0), FLUX_REORDER_HELD);
        ck_assert_uint_eq(s.n, 0);
        ck_assert_uint_eq(flux_reorder_next_deadline(&r), 15 * ms);
        /* Nothing is given up on while the head merely waits, however long after the hold. */
        ck_assert_uint_eq(flux_reorder_flush(&r, 14 * ms), 0);
        ck_assert_uint_eq(s.n, 0);
        ck_assert_uint_eq(flux_reorder_flush(&r, 15 * ms), 0);
        ck_assert_uint_eq(s.n, 2);
        ck_assert_uint_eq(s.seqs[0], 1);
        ck_assert_uint_eq(s.seqs[1], 2);
        /* A release time in the past is no delay. */
        ck_assert_int_eq(put_at(&r, 20 * ms, 3, 19 * ms), FLUX_REORDER_DELIVERED);
        /* A delayed packet behind a gap: the gap's hold runs from its arrival; then the packet
         * still waits for its own time. */
        ck_assert_int_eq(put_at(&r, 30 * ms, 5, 60 * ms), FLUX_REORDER_HELD);
        ck_assert_uint_eq(flux_reorder_next_deadline(&r), 50 * ms);
        ck_assert_uint_eq(flux_reorder_flush(&r, 50 * ms), 1);
        ck_assert_uint_eq(s.n, 3);
        ck_assert_uint_eq(flux_reorder_next_deadline(&r), 60 * ms);
        flux_reorder_flush(&r, 60 * ms);
        ck_assert_uint_eq(s.n, 4);
        ck_assert_uint_eq(s.seqs[3], 5);
        ck_assert_uint_eq(r.stats.delayed, 2);
        /* drain_all ignores release times. */
        ck_assert_int_eq(put_at(&r, 70 * ms, 6, 99 * ms), FLUX_REORDER_HELD);
        flux_reorder_drain_all(&r);
        ck_assert_uint_eq(s.n, 5);
        flux_reorder_done(&r);
}
END_TEST

static Suite *reorder_suite(void) {
        Suite *s = suite_create("reorder");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_in_order);
        tcase_add_test(tc, test_swap_and_drain);
        tcase_add_test(tc, test_timeout_bound);
        tcase_add_test(tc, test_wraparound);
        tcase_add_test(tc, test_overflow_drains_successors);
        tcase_add_test(tc, test_reset_new_session);
        tcase_add_test(tc, test_random_permutation);
        tcase_add_test(tc, test_adaptive_hold);
        tcase_add_test(tc, test_skip);
        tcase_add_test(tc, test_delayed_release);
        suite_add_tcase(s, tc);
        return s;
}

FLUX_CHECK_MAIN(reorder_suite);
