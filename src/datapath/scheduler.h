/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Path schedulers (docs/multipath.md). Pure: a pick looks at the paths' estimates and `now`. */

#include <stddef.h>
#include <stdint.h>

#include "path.h"
#include "time-util.h"
#include "tunnel.h"

#define FLUX_FLOW_TABLE_SIZE 4096U /* 4-way sets */
#define FLUX_FLOW_PIN_EXPIRE (30 * USEC_PER_SEC)
#define FLUX_REDUNDANCY_DEFAULT 2U
/* lowest-rtt keeps its path until another one is this much faster (ratio and absolute). */
#define FLUX_LOWEST_RTT_SWITCH_RATIO 0.8
#define FLUX_LOWEST_RTT_SWITCH_MIN (2 * USEC_PER_MSEC)
/* weighted: the backlog model's bound beyond now when every path is backlogged (µs), which is also
 * how far a returning path may lag the others. */
#define FLUX_SCHEDULER_MAX_LAG 5000.0
/* weighted: an RTT sample younger than this counts as the path's current delay. */
#define FLUX_SCHEDULER_RTT_FRESH (100 * USEC_PER_MSEC)

typedef struct FluxFlowPin {
        uint64_t hash;
        usec_t last_used;       /* 0 = free */
        uint16_t path_id;
} FluxFlowPin;

typedef struct FluxScheduler {
        FluxSchedulerKind kind;
        unsigned redundancy;            /* redundant: copies per packet (>= 1) */
        usec_t max_skew;                /* weighted: skip paths whose one-way delay exceeds the
                                         * fastest one's by more (the peer's reorder ceiling); 0 = off */
        bool have_current;              /* lowest-rtt: the path in use */
        uint16_t current_id;
        FluxFlowPin *flows;             /* flow: FLUX_FLOW_TABLE_SIZE pins, allocated on demand */
        uint64_t flow_repins;           /* flow: pins moved because their path became unusable */
} FluxScheduler;

int flux_scheduler_init(FluxScheduler *s, FluxSchedulerKind kind, unsigned redundancy);
void flux_scheduler_done(FluxScheduler *s);
int flux_scheduler_set_kind(FluxScheduler *s, FluxSchedulerKind kind);

/* Picks the path(s) for one packet of `len` bytes (ip is used by the flow scheduler; may be NULL).
 * Writes at most ret_max paths to ret and returns how many (0 = no usable path). Advances the
 * chosen paths' virtual times. */
size_t flux_scheduler_pick(FluxScheduler *s, FluxPath *const *paths, size_t n_paths, usec_t now,
                           const uint8_t *ip, size_t len, FluxPath **ret, size_t ret_max);
