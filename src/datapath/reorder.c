/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <string.h>

#include "alloc-util.h"
#include "macro.h"
#include "reorder.h"

#define SLOT_NONE UINT16_MAX

static void update_hold(FluxReorder *r);

static void history_set(FluxReorder *r, uint32_t seq, bool delivered) {
        uint64_t bit = UINT64_C(1) << (seq % 64);
        uint64_t *w = &r->history[(seq % FLUX_REORDER_HISTORY) / 64];

        if (delivered)
                *w |= bit;
        else
                *w &= ~bit;
}

static bool history_get(const FluxReorder *r, uint32_t seq) {
        return r->history[(seq % FLUX_REORDER_HISTORY) / 64] & (UINT64_C(1) << (seq % 64));
}

int flux_reorder_init(FluxReorder *r, unsigned capacity, usec_t hold, FluxReorderDeliver deliver,
                      void *userdata) {
        unsigned cap = 16;

        assert_return(deliver, -EINVAL);

        if (capacity == 0)
                capacity = FLUX_REORDER_CAPACITY_DEFAULT;
        capacity = MIN(capacity, FLUX_REORDER_CAPACITY_MAX);
        while (cap < capacity)
                cap <<= 1;

        *r = (FluxReorder) {
                .capacity = cap,
                .hold = hold ?: FLUX_REORDER_HOLD_DEFAULT,
                .hold_floor = hold ?: FLUX_REORDER_HOLD_DEFAULT,
                .ceiling = hold ?: FLUX_REORDER_HOLD_DEFAULT,
                .deliver = deliver,
                .userdata = userdata,
        };
        r->ring = new0(FluxReorderEntry, cap);
        r->free_slots = new(uint16_t, cap);
        /* malloc, not calloc: pages of the slab stay untouched until a packet needs them. */
        r->slab = malloc((size_t) cap * FLUX_REORDER_SLOT_SIZE);
        if (!r->ring || !r->free_slots || !r->slab) {
                flux_reorder_done(r);
                return -ENOMEM;
        }
        /* LIFO: slot 0 is on top, so a shallow buffer keeps using the same few slots. */
        for (unsigned i = 0; i < cap; i++)
                r->free_slots[i] = (uint16_t) (cap - 1 - i);
        r->n_free = cap;
        return 0;
}

void flux_reorder_done(FluxReorder *r) {
        r->ring = mfree(r->ring);
        r->free_slots = mfree(r->free_slots);
        r->slab = mfree(r->slab);
        r->n_free = 0;
        r->depth = 0;
}

void flux_reorder_reset(FluxReorder *r) {
        for (unsigned i = 0; i < r->capacity; i++) {
                FluxReorderEntry *e = &r->ring[i];

                if (e->used && e->slot != SLOT_NONE)
                        r->free_slots[r->n_free++] = e->slot;
                *e = (FluxReorderEntry) {};
        }
        r->depth = 0;
        r->started = false;
        r->observed = 0;
        update_hold(r);
        memset(r->history, 0, sizeof(r->history));
}

static void update_hold(FluxReorder *r) {
        usec_t h = r->observed + r->observed / 4 + USEC_PER_MSEC;

        h = MAX(h, r->hold_floor);
        h = MAX(h, FLUX_REORDER_HOLD_MIN);
        r->hold = MIN(h, r->ceiling);
}

void flux_reorder_set_hold(FluxReorder *r, usec_t hold) {
        r->hold_floor = hold;
        update_hold(r);
}

/* A gap took `d` to fill (or more: a late arrival). Keep a maximum that decays by 1/16 per sample,
 * so one slow path raises the hold at once and it relaxes over a few dozen gaps. */
static void observe_fill(FluxReorder *r, usec_t d) {
        r->observed = MAX(d, r->observed - r->observed / 16);
        update_hold(r);
}

static FluxReorderEntry *entry_of(FluxReorder *r, uint32_t seq) {
        return &r->ring[seq & (r->capacity - 1)];
}

/* pkt == NULL: the sequence number is consumed without anything to deliver (flux_reorder_skip()). */
static void deliver(FluxReorder *r, uint32_t seq, const uint8_t *pkt, size_t len) {
        history_set(r, seq, true);
        if (!pkt) {
                r->stats.consumed++;
                return;
        }
        r->stats.delivered++;
        r->deliver(pkt, len, r->userdata);
}

/* Moves `next` one step: delivers the held packet there, or skips the missing one. */
static void advance_one(FluxReorder *r) {
        FluxReorderEntry *e = entry_of(r, r->next);
        uint32_t seq = r->next;

        /* Advance first: the deliver callback may re-enter (e.g. a test inserting). */
        r->next++;
        if (!e->used) {
                history_set(r, seq, false);
                r->stats.skipped++;
                return;
        }
        e->used = false;
        if (e->slot == SLOT_NONE) {
                /* Already delivered out of order (oversize), or consumed without data. */
                history_set(r, seq, true);
                return;
        }
        r->free_slots[r->n_free++] = e->slot;
        r->depth--;
        deliver(r, seq, r->slab + (size_t) e->slot * FLUX_REORDER_SLOT_SIZE, e->len);
}

/* Whether the entry can go now: held data waits for its release time (delay equalisation). */
static bool releasable(const FluxReorder *r, const FluxReorderEntry *e) {
        return e->used && (e->slot == SLOT_NONE || e->not_before <= r->now);
}

static void drain_successors(FluxReorder *r) {
        FluxReorderEntry *e;

        while (releasable(r, e = entry_of(r, r->next))) {
                if (e->not_before != 0)
                        r->released_at = r->now;
                advance_one(r);
        }
}

/* Gives up on the gap at `next`: skips to the next held packet and drains its run. */
static void give_up_gap(FluxReorder *r) {
        for (unsigned i = 0; i < r->capacity && !entry_of(r, r->next)->used; i++)
                advance_one(r);
        drain_successors(r);
}

void flux_reorder_drain_all(FluxReorder *r) {
        usec_t saved = r->now;

        r->now = USEC_INFINITY; /* release times do not hold anything back */
        while (r->depth > 0)
                give_up_gap(r);
        r->now = saved;
}

FluxReorderResult flux_reorder_insert(FluxReorder *r, usec_t now, uint32_t seq, const uint8_t *pkt, size_t len) {
        return flux_reorder_insert_at(r, now, seq, pkt, len, 0);
}

FluxReorderResult flux_reorder_insert_at(FluxReorder *r, usec_t now, uint32_t seq, const uint8_t *pkt, size_t len,
                                         usec_t not_before) {
        FluxReorderEntry *e;
        int32_t d;

        r->now = now;
        if (not_before <= now || !pkt || len > FLUX_REORDER_SLOT_SIZE)
                not_before = 0;

        if (!r->started) {
                r->started = true;
                r->next = seq;
        }

        d = (int32_t) (seq - r->next);
        if (d < 0) {
                if ((uint32_t) -(int64_t) d > FLUX_REORDER_HISTORY) {
                        r->stats.too_old++;
                        return FLUX_REORDER_TOO_OLD;
                }
                if (history_get(r, seq)) {
                        r->stats.duplicates++;
                        return FLUX_REORDER_DUPLICATE;
                }
                /* The hold was too short for this one: deliver it anyway and wait longer next time. */
                r->stats.late++;
                observe_fill(r, MIN(2 * r->hold, r->ceiling));
                deliver(r, seq, pkt, len);
                return FLUX_REORDER_LATE;
        }

        if ((uint32_t) d >= r->capacity) {
                /* Full window: give up on the oldest gaps until seq fits (draining as we go). */
                uint32_t target = seq - r->capacity + 1;

                r->stats.overflows++;
                if ((uint32_t) (target - r->next) > r->capacity) {
                        /* A jump far beyond the window: deliver what we hold, restart there. */
                        flux_reorder_drain_all(r);
                        if ((int32_t) (target - r->next) > 0) {
                                r->stats.skipped += target - r->next;
                                if (target - r->next >= FLUX_REORDER_HISTORY)
                                        memset(r->history, 0, sizeof(r->history));
                                else
                                        for (uint32_t s = r->next; s != target; s++)
                                                history_set(r, s, false);
                                r->next = target;
                        }
                } else
                        while ((int32_t) (target - r->next) > 0)
                                advance_one(r);
                drain_successors(r);
                d = (int32_t) (seq - r->next);
                if (d < 0) /* drained past it: it was already there */
                        return flux_reorder_insert_at(r, now, seq, pkt, len, not_before);
        }

        if (d == 0 && not_before == 0) {
                bool filled = r->depth > 0;

                r->next++;
                deliver(r, seq, pkt, len);
                drain_successors(r);
                if (filled) {
                        observe_fill(r, now - MIN(now, r->first_held));
                        r->first_held = now; /* what is still held waits behind a new gap */
                }
                return FLUX_REORDER_DELIVERED;
        }

        e = entry_of(r, seq);
        if (e->used) {
                r->stats.duplicates++;
                return FLUX_REORDER_DUPLICATE;
        }
        if (!pkt) {
                /* Nothing to hold: only remember that this number needs no waiting for. */
                *e = (FluxReorderEntry) { .used = true, .slot = SLOT_NONE };
                deliver(r, seq, NULL, 0);
                return FLUX_REORDER_DELIVERED;
        }
        if (len > FLUX_REORDER_SLOT_SIZE || r->n_free == 0) {
                /* Cannot hold it: deliver it out of order rather than lose it. */
                *e = (FluxReorderEntry) { .used = true, .slot = SLOT_NONE };
                r->stats.oversize++;
                deliver(r, seq, pkt, len);
                return FLUX_REORDER_DELIVERED;
        }
        *e = (FluxReorderEntry) {
                .used = true,
                .arrival = now,
                .not_before = not_before,
                .slot = r->free_slots[--r->n_free],
                .len = (uint16_t) len,
        };
        if (not_before != 0)
                r->stats.delayed++;
        memcpy(r->slab + (size_t) e->slot * FLUX_REORDER_SLOT_SIZE, pkt, len);
        if (r->depth == 0)
                r->first_held = now;
        r->depth++;
        if (d != 0)
                r->stats.held++;
        r->stats.max_depth = MAX(r->stats.max_depth, (uint64_t) r->depth);
        return FLUX_REORDER_HELD;
}

static usec_t oldest_arrival(const FluxReorder *r) {
        usec_t oldest = USEC_INFINITY;

        if (r->depth == 0)
                return USEC_INFINITY;
        for (unsigned i = 0; i < r->capacity; i++) {
                const FluxReorderEntry *e = &r->ring[i];

                if (e->used && e->slot != SLOT_NONE && e->arrival < oldest)
                        oldest = e->arrival;
        }
        return oldest;
}

usec_t flux_reorder_next_deadline(const FluxReorder *r) {
        const FluxReorderEntry *head;
        usec_t o;

        if (r->depth == 0)
                return USEC_INFINITY;
        head = &r->ring[r->next & (r->capacity - 1)];
        if (head->used)
                return head->not_before; /* no gap at the head: it waits for its release time */
        o = oldest_arrival(r);
        return MAX(o, r->released_at) + r->hold;
}

unsigned flux_reorder_flush(FluxReorder *r, usec_t now) {
        unsigned n = 0;

        r->now = now;
        for (;;) {
                drain_successors(r);
                if (r->depth == 0 || entry_of(r, r->next)->used)
                        break; /* empty, or the head waits for its release time */
                /* A gap: its held successors wait at most `hold` (counted from their arrival, or
                 * from when the packets before the gap were released, if later). */
                if (now < MAX(oldest_arrival(r), r->released_at) + r->hold)
                        break;
                give_up_gap(r);
                r->stats.timeouts++;
                n++;
        }
        return n;
}

FluxReorderResult flux_reorder_skip(FluxReorder *r, usec_t now, uint32_t seq) {
        return flux_reorder_insert(r, now, seq, NULL, 0);
}

unsigned flux_reorder_skip_gap(FluxReorder *r) {
        if (r->depth == 0 || entry_of(r, r->next)->used)
                return 0; /* nothing held, or no gap at the head */
        give_up_gap(r);
        r->stats.loss_skips++;
        return 1;
}
