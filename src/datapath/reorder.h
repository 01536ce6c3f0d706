/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Receive-side reorder buffer over the per-direction data sequence (u32, wrap-safe).
 *
 * Packets in order are delivered at once without copying; a packet that arrives ahead of a gap is
 * copied into a slot and held until the gap fills, until it has waited `hold` (the gap is then
 * given up on), or until the buffer is full (the oldest gap is given up on). Giving up on a gap
 * always drains every consecutive successor. Packets behind the window (their gap was given up on,
 * or a redundant copy of something already delivered) are told apart by a bitmap of delivered
 * sequence numbers: duplicates are dropped, late packets are delivered (out of order beats lost:
 * the inner TCP would retransmit it). Both are counted.
 *
 * Bounded by `capacity` packets and by time; slots come from one slab allocated at creation and
 * are reused LIFO, so only the slots a connection really needs are ever touched. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "time-util.h"

#define FLUX_REORDER_CAPACITY_DEFAULT 512U
#define FLUX_REORDER_CAPACITY_MAX 4096U
#define FLUX_REORDER_SLOT_SIZE 2048U
#define FLUX_REORDER_HOLD_DEFAULT (50 * USEC_PER_MSEC)
#define FLUX_REORDER_HOLD_MIN (2 * USEC_PER_MSEC)
/* Delivered-sequence memory behind the window, to tell duplicates from late packets. */
#define FLUX_REORDER_HISTORY 1024U

typedef void (*FluxReorderDeliver)(const uint8_t *pkt, size_t len, void *userdata);

typedef enum FluxReorderResult {
        FLUX_REORDER_DELIVERED,         /* in order: delivered now (maybe with successors) */
        FLUX_REORDER_HELD,              /* early: copied and waiting */
        FLUX_REORDER_DUPLICATE,         /* already delivered or already held: dropped */
        FLUX_REORDER_LATE,              /* its gap was given up on: delivered late, out of order */
        FLUX_REORDER_TOO_OLD,           /* too far behind to tell from a duplicate: dropped */
        _FLUX_REORDER_RESULT_MAX,
} FluxReorderResult;

typedef struct FluxReorderStats {
        uint64_t delivered;
        uint64_t consumed;              /* sequence numbers skipped on purpose (flux_reorder_skip()) */
        uint64_t held;
        uint64_t timeouts;              /* gaps given up on after the hold time */
        uint64_t overflows;             /* gaps given up on because the buffer was full */
        uint64_t loss_skips;            /* gaps given up on because the caller knew them lost */
        uint64_t skipped;               /* sequence numbers never delivered */
        uint64_t duplicates;
        uint64_t late;                  /* delivered after their gap was given up on */
        uint64_t too_old;               /* dropped: behind the delivered-sequence memory */
        uint64_t oversize;              /* early packets too big for a slot: delivered at once */
        uint64_t delayed;               /* in-order packets held for delay equalisation */
        uint64_t max_depth;
} FluxReorderStats;

typedef struct FluxReorderEntry {
        usec_t arrival;
        usec_t not_before;              /* delay equalisation: not delivered before (0 = at once) */
        uint16_t slot;                  /* index into the slab */
        uint16_t len;
        bool used;
} FluxReorderEntry;

typedef struct FluxReorder {
        bool started;
        uint32_t next;                  /* next sequence to deliver; everything before is done */
        unsigned capacity;              /* power of two */
        unsigned depth;                 /* held packets */
        usec_t hold;                    /* effective: max(floor, observed fill delay), <= ceiling */
        usec_t hold_floor;              /* from the paths' RTT spread (flux_reorder_set_hold()) */
        usec_t ceiling;
        usec_t observed;                /* decaying maximum of how long gaps took to fill */
        usec_t first_held;              /* arrival of the first packet held behind the current gap */
        usec_t released_at;             /* when a delayed packet was last released */
        usec_t now;                     /* time of the last insert/flush */
        FluxReorderEntry *ring;         /* entry of seq s at s % capacity, for s in [next, next+cap) */
        uint16_t *free_slots;           /* LIFO stack of free slab slots */
        unsigned n_free;
        uint8_t *slab;
        uint64_t history[FLUX_REORDER_HISTORY / 64]; /* bit s % HISTORY: s was delivered */
        FluxReorderDeliver deliver;
        void *userdata;
        FluxReorderStats stats;
} FluxReorder;

/* capacity is rounded up to a power of two and bounded by FLUX_REORDER_CAPACITY_MAX; hold is the
 * ceiling (and the initial hold while nothing is known). */
int flux_reorder_init(FluxReorder *r, unsigned capacity, usec_t hold, FluxReorderDeliver deliver,
                      void *userdata);
void flux_reorder_done(FluxReorder *r);
/* Forgets all state (held packets are dropped): the next packet starts the sequence. */
void flux_reorder_reset(FluxReorder *r);
/* The hold time floor derived from the paths (RTT spread). The effective hold is the larger of it
 * and what the buffer observed gaps to need (plus a margin), never above the ceiling given at init. */
void flux_reorder_set_hold(FluxReorder *r, usec_t hold);

FluxReorderResult flux_reorder_insert(FluxReorder *r, usec_t now, uint32_t seq, const uint8_t *pkt, size_t len);
/* The same, but the packet is not delivered before `not_before` even if it is next in order: the
 * receiver equalises the paths' one-way delays so that a flow's packets see one RTT, not the
 * fastest path's for some and the slowest's for others (which locks BBR's min-RTT filter onto the
 * fast path and caps its window). 0, or a time not in the future, means no delay. */
FluxReorderResult flux_reorder_insert_at(FluxReorder *r, usec_t now, uint32_t seq, const uint8_t *pkt, size_t len,
                                         usec_t not_before);
/* Consumes a sequence number that has nothing to deliver (an authentic packet dropped by policy,
 * e.g. a spoofed inner source), so that its successors do not wait for it. */
FluxReorderResult flux_reorder_skip(FluxReorder *r, usec_t now, uint32_t seq);
/* Gives up on gaps whose held packets waited `hold`. Returns the number of gaps given up on. */
unsigned flux_reorder_flush(FluxReorder *r, usec_t now);
/* Gives up on the gap at the head now (the caller knows it is lost) and drains the run behind it.
 * Returns 1, or 0 if there is no gap at the head. */
unsigned flux_reorder_skip_gap(FluxReorder *r);
/* Delivers everything held, in order, skipping gaps. */
void flux_reorder_drain_all(FluxReorder *r);
/* When flux_reorder_flush() has work, or USEC_INFINITY. */
usec_t flux_reorder_next_deadline(const FluxReorder *r);
