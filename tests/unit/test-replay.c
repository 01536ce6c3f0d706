/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "check-util.h"
#include "replay.h"

#define W FLUX_REPLAY_WINDOW

/* Small deterministic PRNG (xorshift64*), so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void) {
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * 2685821657736338717ULL;
}

START_TEST(test_basic) {
        FluxReplayWindow w;

        flux_replay_init(&w);
        ck_assert_int_eq(flux_replay_check(&w, 0), FLUX_REPLAY_OK);
        ck_assert_int_eq(flux_replay_commit(&w, 0), FLUX_REPLAY_OK);
        ck_assert_int_eq(flux_replay_check(&w, 0), FLUX_REPLAY_REPLAYED);
        ck_assert_int_eq(flux_replay_commit(&w, 0), FLUX_REPLAY_REPLAYED);
        ck_assert_int_eq(flux_replay_commit(&w, 2), FLUX_REPLAY_OK);
        ck_assert_int_eq(flux_replay_commit(&w, 1), FLUX_REPLAY_OK);
        ck_assert_int_eq(flux_replay_commit(&w, 1), FLUX_REPLAY_REPLAYED);

        /* check does not change state */
        ck_assert_int_eq(flux_replay_check(&w, 100), FLUX_REPLAY_OK);
        ck_assert_int_eq(flux_replay_check(&w, 100), FLUX_REPLAY_OK);
        ck_assert_uint_eq(w.top, 2);

        ck_assert_str_eq(flux_replay_result_to_string(FLUX_REPLAY_TOO_OLD), "too-old");
        ck_assert_ptr_null(flux_replay_result_to_string(_FLUX_REPLAY_RESULT_MAX));
}
END_TEST

START_TEST(test_window_edge) {
        FluxReplayWindow w;
        uint64_t top = 100000;

        flux_replay_init(&w);
        ck_assert_int_eq(flux_replay_commit(&w, top), FLUX_REPLAY_OK);
        /* the oldest counter still inside is top - (W - 1) */
        ck_assert_int_eq(flux_replay_check(&w, top - (W - 1)), FLUX_REPLAY_OK);
        ck_assert_int_eq(flux_replay_check(&w, top - W), FLUX_REPLAY_TOO_OLD);
        ck_assert_int_eq(flux_replay_commit(&w, top - W), FLUX_REPLAY_TOO_OLD);
        ck_assert_int_eq(flux_replay_commit(&w, top - (W - 1)), FLUX_REPLAY_OK);
        ck_assert_int_eq(flux_replay_commit(&w, top - (W - 1)), FLUX_REPLAY_REPLAYED);
        ck_assert_int_eq(flux_replay_check(&w, 0), FLUX_REPLAY_TOO_OLD);
        /* advancing by one pushes it out */
        ck_assert_int_eq(flux_replay_commit(&w, top + 1), FLUX_REPLAY_OK);
        ck_assert_int_eq(flux_replay_check(&w, top - (W - 1)), FLUX_REPLAY_TOO_OLD);
}
END_TEST

/* Every permutation of a block of W counters above the current top is accepted exactly once, and
 * a second pass over the same counters is rejected entirely. */
START_TEST(test_permutations) {
        static uint64_t perm[W];
        FluxReplayWindow w;
        uint64_t base = 0;

        flux_replay_init(&w);
        ck_assert_int_eq(flux_replay_commit(&w, 0), FLUX_REPLAY_OK);
        for (unsigned round = 0; round < 20; round++) {
                base = w.top + 1;
                for (unsigned i = 0; i < W; i++)
                        perm[i] = base + i;
                /* Fisher-Yates */
                for (unsigned i = W - 1; i > 0; i--) {
                        unsigned j = (unsigned) (rnd() % (i + 1));
                        uint64_t t = perm[i];
                        perm[i] = perm[j];
                        perm[j] = t;
                }
                /* First a permutation where the top arrives first, so everything else stays in the
                 * window; the general case is the random model test below. */
                for (unsigned i = 0; i < W; i++)
                        if (perm[i] == base + W - 1) {
                                perm[i] = perm[0];
                                perm[0] = base + W - 1;
                        }
                for (unsigned i = 0; i < W; i++) {
                        ck_assert_int_eq(flux_replay_check(&w, perm[i]), FLUX_REPLAY_OK);
                        ck_assert_int_eq(flux_replay_commit(&w, perm[i]), FLUX_REPLAY_OK);
                        /* an immediate duplicate */
                        ck_assert_int_eq(flux_replay_commit(&w, perm[i]), FLUX_REPLAY_REPLAYED);
                }
                for (unsigned i = 0; i < W; i++)
                        ck_assert_int_eq(flux_replay_check(&w, perm[i]), FLUX_REPLAY_REPLAYED);
                ck_assert_int_eq(flux_replay_check(&w, base - 1), FLUX_REPLAY_TOO_OLD);
        }
}
END_TEST

/* Compare against an obviously correct model over a bounded counter range, near 0 and near 2^64. */
#define MODEL_N (1U << 20)
static void run_model(uint64_t base, unsigned steps) {
        static uint8_t seen[MODEL_N];
        FluxReplayWindow w;
        uint64_t top = 0;
        bool empty = true;

        memset(seen, 0, sizeof(seen));
        flux_replay_init(&w);

        for (unsigned s = 0; s < steps; s++) {
                uint64_t x, k = rnd() % 100;
                FluxReplayResult want, got;

                if (empty)
                        x = rnd() % 1000;
                else if (k < 2)
                        x = top + 1 + rnd() % (3 * W);          /* jump ahead, maybe beyond the ring */
                else if (k < 5)
                        x = top - MIN(top, (uint64_t) (rnd() % (3 * W)));  /* far back */
                else if (k < 10)
                        x = top - MIN(top, (uint64_t) (rnd() % 64));        /* recent duplicates */
                else
                        x = top + 40 - MIN(top + 40, (uint64_t) (rnd() % (W + 200))); /* reorder */
                if (x >= MODEL_N)
                        break;

                if (empty || x > top)
                        want = FLUX_REPLAY_OK;
                else if (top - x >= W)
                        want = FLUX_REPLAY_TOO_OLD;
                else
                        want = seen[x] ? FLUX_REPLAY_REPLAYED : FLUX_REPLAY_OK;

                ck_assert_int_eq(flux_replay_check(&w, base + x), want);
                got = flux_replay_commit(&w, base + x);
                ck_assert_msg(got == want, "step %u counter %" PRIu64 ": got %d want %d", s, x, got, want);
                if (want == FLUX_REPLAY_OK) {
                        seen[x] = 1;
                        if (empty || x > top)
                                top = x;
                        empty = false;
                }
        }
        ck_assert_uint_gt(top, 10 * W);
}

START_TEST(test_model_low) {
        run_model(0, 2000000);
}
END_TEST

START_TEST(test_model_near_max) {
        /* The last MODEL_N counters of the 64-bit space, up to and including UINT64_MAX. */
        run_model(UINT64_MAX - (MODEL_N - 1), 2000000);
}
END_TEST

START_TEST(test_huge_jumps) {
        FluxReplayWindow w;

        flux_replay_init(&w);
        for (uint64_t c = 0; c < 3 * W; c++)
                ck_assert_int_eq(flux_replay_commit(&w, c), FLUX_REPLAY_OK);

        /* A jump of exactly one ring, and of many rings: bits of old counters that alias to the new
         * window's positions must not look like replays. */
        for (uint64_t jump = FLUX_REPLAY_RING_BITS; jump < UINT64_C(1) << 62; jump = jump * 7 + 3) {
                uint64_t t = w.top + jump;

                ck_assert_int_eq(flux_replay_commit(&w, t), FLUX_REPLAY_OK);
                for (uint64_t d = 1; d < W; d++)
                        ck_assert_int_eq(flux_replay_check(&w, t - d), FLUX_REPLAY_OK);
                ck_assert_int_eq(flux_replay_check(&w, t - W), FLUX_REPLAY_TOO_OLD);
                ck_assert_int_eq(flux_replay_check(&w, t), FLUX_REPLAY_REPLAYED);
                /* fill part of the window again */
                for (uint64_t d = 1; d < W; d += 3)
                        ck_assert_int_eq(flux_replay_commit(&w, t - d), FLUX_REPLAY_OK);
        }

        /* To the very end of the counter space. */
        ck_assert_int_eq(flux_replay_commit(&w, UINT64_MAX), FLUX_REPLAY_OK);
        ck_assert_int_eq(flux_replay_commit(&w, UINT64_MAX), FLUX_REPLAY_REPLAYED);
        ck_assert_int_eq(flux_replay_commit(&w, UINT64_MAX - 1), FLUX_REPLAY_OK);
        ck_assert_int_eq(flux_replay_check(&w, UINT64_MAX - (W - 1)), FLUX_REPLAY_OK);
        ck_assert_int_eq(flux_replay_check(&w, UINT64_MAX - W), FLUX_REPLAY_TOO_OLD);
        ck_assert_int_eq(flux_replay_check(&w, 0), FLUX_REPLAY_TOO_OLD);
}
END_TEST

/* Small advances by less than a block and by block boundaries, and a first counter far from 0. */
START_TEST(test_first_counter_high) {
        FluxReplayWindow w;
        uint64_t s = UINT64_C(1) << 40;

        flux_replay_init(&w);
        ck_assert_int_eq(flux_replay_commit(&w, s), FLUX_REPLAY_OK);
        ck_assert_int_eq(flux_replay_commit(&w, s - 1), FLUX_REPLAY_OK);
        ck_assert_int_eq(flux_replay_commit(&w, s - 1), FLUX_REPLAY_REPLAYED);
        for (uint64_t c = s + 1; c < s + 5 * W; c += 63)
                ck_assert_int_eq(flux_replay_commit(&w, c), FLUX_REPLAY_OK);
        for (uint64_t c = s + 1; c < s + 5 * W; c += 63)
                ck_assert_int_ne(flux_replay_check(&w, c), FLUX_REPLAY_OK);
}
END_TEST

static Suite *replay_suite(void) {
        Suite *s = suite_create("replay");
        TCase *tc = tcase_create("window");

        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_basic);
        tcase_add_test(tc, test_window_edge);
        tcase_add_test(tc, test_permutations);
        tcase_add_test(tc, test_model_low);
        tcase_add_test(tc, test_model_near_max);
        tcase_add_test(tc, test_huge_jumps);
        tcase_add_test(tc, test_first_counter_high);
        suite_add_tcase(s, tc);
        return s;
}

FLUX_CHECK_MAIN(replay_suite);
