/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "macro.h"
#include "replay.h"

#define RING_MASK ((uint64_t) FLUX_REPLAY_RING_BITS - 1)

static const char *const flux_replay_result_table[_FLUX_REPLAY_RESULT_MAX] = {
        [FLUX_REPLAY_OK] = "ok",
        [FLUX_REPLAY_REPLAYED] = "replayed",
        [FLUX_REPLAY_TOO_OLD] = "too-old",
};

const char *flux_replay_result_to_string(FluxReplayResult r) {
        if ((int) r < 0 || (size_t) r >= ELEMENTSOF(flux_replay_result_table))
                return NULL;
        return flux_replay_result_table[r];
}

void flux_replay_init(FluxReplayWindow *w) {
        assert(w);

        *w = (FluxReplayWindow) { .empty = true };
}

static bool replay_bit(const FluxReplayWindow *w, uint64_t c) {
        uint64_t i = c & RING_MASK;

        return w->blocks[i / 64] & (UINT64_C(1) << (i % 64));
}

FluxReplayResult flux_replay_check(const FluxReplayWindow *w, uint64_t counter) {
        assert(w);

        if (w->empty || counter > w->top)
                return FLUX_REPLAY_OK;
        if (w->top - counter >= FLUX_REPLAY_WINDOW)
                return FLUX_REPLAY_TOO_OLD;
        return replay_bit(w, counter) ? FLUX_REPLAY_REPLAYED : FLUX_REPLAY_OK;
}

FluxReplayResult flux_replay_commit(FluxReplayWindow *w, uint64_t counter) {
        FluxReplayResult r;
        uint64_t i;

        assert(w);

        r = flux_replay_check(w, counter);
        if (r != FLUX_REPLAY_OK)
                return r;

        if (w->empty) {
                memset(w->blocks, 0, sizeof(w->blocks));
                w->top = counter;
                w->empty = false;
        } else if (counter > w->top) {
                /* Clear the blocks the window slides over, RFC 6479 §2: whole blocks between the
                 * old top's block (exclusive) and the new top's block (inclusive), at most the
                 * whole ring. Bits of the old top's block above it are still clear, because
                 * nothing above top was ever recorded. */
                uint64_t old_block = w->top / 64, new_block = counter / 64;
                uint64_t n = MIN(new_block - old_block, (uint64_t) FLUX_REPLAY_BLOCKS);

                for (uint64_t b = 1; b <= n; b++)
                        w->blocks[(old_block + b) % FLUX_REPLAY_BLOCKS] = 0;
                w->top = counter;
        }

        i = counter & RING_MASK;
        w->blocks[i / 64] |= UINT64_C(1) << (i % 64);
        return FLUX_REPLAY_OK;
}
