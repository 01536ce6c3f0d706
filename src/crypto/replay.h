/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Anti-replay sliding window over a 64-bit packet counter, RFC 6479 style: a ring of 64-bit
 * blocks, O(1) per packet (a jump clears at most the whole ring once).
 *
 * Use check-then-commit: flux_replay_check() before decrypting (cheap, no state change) to drop
 * obvious replays, flux_replay_commit() only after the packet authenticated. */

#include <stdbool.h>
#include <stdint.h>

/* Counters more than FLUX_REPLAY_WINDOW - 1 below the highest accepted one are "too old". The
 * ring has twice as many bits as the window so that advancing never clears bits still inside it
 * (RFC 6479 §2: one spare block is enough, a whole power-of-two ring is simpler). */
#define FLUX_REPLAY_WINDOW 8192U
#define FLUX_REPLAY_RING_BITS (2U * FLUX_REPLAY_WINDOW)
#define FLUX_REPLAY_BLOCKS (FLUX_REPLAY_RING_BITS / 64U)

typedef enum FluxReplayResult {
        FLUX_REPLAY_OK = 0,             /* new counter: accept */
        FLUX_REPLAY_REPLAYED = 1,       /* seen before */
        FLUX_REPLAY_TOO_OLD = 2,        /* left of the window: cannot tell, reject */
        _FLUX_REPLAY_RESULT_MAX,
} FluxReplayResult;

typedef struct FluxReplayWindow {
        uint64_t top;                   /* highest committed counter; meaningless while empty */
        bool empty;                     /* nothing committed yet */
        uint64_t blocks[FLUX_REPLAY_BLOCKS]; /* bit (c % RING_BITS) set iff c was committed */
} FluxReplayWindow;

void flux_replay_init(FluxReplayWindow *w);
FluxReplayResult flux_replay_check(const FluxReplayWindow *w, uint64_t counter);
/* Re-checks (the window may have moved since flux_replay_check()) and records counter on OK. */
FluxReplayResult flux_replay_commit(FluxReplayWindow *w, uint64_t counter);

const char *flux_replay_result_to_string(FluxReplayResult r);
