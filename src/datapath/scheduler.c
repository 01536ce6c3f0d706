/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "alloc-util.h"
#include "flow-hash.h"
#include "macro.h"
#include "scheduler.h"

static const char *const flux_scheduler_kind_table[_FLUX_SCHEDULER_KIND_MAX] = {
        [FLUX_SCHEDULER_WEIGHTED] = "weighted",
        [FLUX_SCHEDULER_FLOW] = "flow",
        [FLUX_SCHEDULER_LOWEST_RTT] = "lowest-rtt",
        [FLUX_SCHEDULER_REDUNDANT] = "redundant",
};
DEFINE_STRING_TABLE(flux_scheduler_kind, FluxSchedulerKind, _FLUX_SCHEDULER_KIND_MAX);

int flux_scheduler_set_kind(FluxScheduler *s, FluxSchedulerKind kind) {
        assert_return(kind >= 0 && kind < _FLUX_SCHEDULER_KIND_MAX, -EINVAL);

        if (kind == FLUX_SCHEDULER_FLOW && !s->flows) {
                s->flows = new0(FluxFlowPin, FLUX_FLOW_TABLE_SIZE);
                if (!s->flows)
                        return -ENOMEM;
        }
        s->kind = kind;
        s->have_current = false;
        return 0;
}

int flux_scheduler_init(FluxScheduler *s, FluxSchedulerKind kind, unsigned redundancy) {
        *s = (FluxScheduler) {
                .redundancy = redundancy ?: FLUX_REDUNDANCY_DEFAULT,
        };
        return flux_scheduler_set_kind(s, kind);
}

void flux_scheduler_done(FluxScheduler *s) {
        s->flows = mfree(s->flows);
}

/* The tier a path is in for this scheduler. The striping schedulers put degraded paths with the
 * up ones of the same priority: their loss penalty already shrinks their share, and congestion
 * loss (a slow-start overflow) would otherwise take a good path out of the aggregate. */
static int sched_tier(const FluxScheduler *s, const FluxPath *p) {
        int t = flux_path_tier(p);

        if ((s->kind == FLUX_SCHEDULER_WEIGHTED || s->kind == FLUX_SCHEDULER_FLOW) && (t == 1 || t == 3))
                t--;
        return t;
}

/* The best tier present (lower is better; -1 if no path is usable). Backup paths are in worse
 * tiers than every primary that is up or degraded, which is the whole backup rule. */
static int best_tier(const FluxScheduler *s, FluxPath *const *paths, size_t n) {
        int best = -1;

        for (size_t i = 0; i < n; i++) {
                int t = sched_tier(s, paths[i]);

                if (t >= 0 && (best < 0 || t < best))
                        best = t;
        }
        return best;
}

static void path_charge(FluxPath *p, usec_t now, size_t len) {
        p->vtime = MAX(p->vtime, (double) now) + len * 1e6 / flux_path_effective_capacity(p);
}

static double path_owd(const FluxPath *p) {
        return p->rtt_min / 2.0;
}

/* The smallest base one-way delay in the tier (-1 if none is known yet). */
static double tier_min_owd(const FluxScheduler *s, FluxPath *const *paths, size_t n, int tier) {
        double best = -1;

        for (size_t i = 0; i < n; i++)
                if (sched_tier(s, paths[i]) == tier && paths[i]->rtt_min != 0 &&
                    (best < 0 || path_owd(paths[i]) < best))
                        best = path_owd(paths[i]);
        return best;
}

/* Would this path's packets arrive so much later than the fastest path's that the peer's reorder
 * buffer cannot wait for them? Then striping over it only produces late packets. */
static bool path_too_slow(const FluxScheduler *s, const FluxPath *p, double min_owd) {
        return s->max_skew != 0 && p->rtt_min != 0 && min_owd >= 0 &&
               path_owd(p) - min_owd > (double) s->max_skew;
}

/* Weighted striping by earliest expected arrival. Each path has a model of the backlog we have
 * handed it: vtime is when (µs, our clock) the bytes charged to it so far will have left at its
 * effective capacity (measured delivery rate × weight × loss penalty). A packet goes to the path
 * where it would arrive first, max(vtime, now) + len / capacity + current one-way delay (base delay
 * plus standing queue, below), and charges it.
 *
 * - On a lightly loaded tunnel no path has a backlog and everything takes the fastest path, so an
 *   interactive packet sees that path's delay, not the slowest one's.
 * - Once the fastest path's backlog reaches the difference in one-way delay, the next path starts
 *   to carry the overflow, and so on: under a saturating load every path is busy and each carries a
 *   share proportional to its capacity (for equal delays this is start-time fair queueing), with
 *   the faster paths' queues offsetting their lower delay so that packets arrive nearly in order.
 *   The idea of MPTCP's ECF/BLEST and of mud's rate-based choice.
 * - Only the model's relative offsets matter under overload: when every candidate is backlogged
 *   beyond FLUX_SCHEDULER_MAX_LAG, all are moved back by the excess (shares unchanged), so the
 *   model cannot run away from real time, and a path that was away (down, backup, too slow) returns
 *   at most that far behind the others instead of taking a burst. */
static double path_start(const FluxPath *p, usec_t now) {
        return MAX(p->vtime, (double) now);
}

/* The current one-way delay: half the RTT, which includes the standing queue that a window sender
 * keeps at a path's bottleneck (invisible to the backlog model, which only sees what we send faster
 * than the capacity estimate). The smaller of the smoothed RTT and the last sample if that is fresh:
 * the smoothed value alone lags a draining queue and leaves the path idle (10 vs 40 ms paths: 0.90
 * of the sum against 0.95), the last sample alone follows noise (2 % loss: 0.71 against 0.83).
 * Never below the base delay. */
static double path_owd_now(const FluxPath *p, usec_t now) {
        usec_t rtt = p->srtt;

        if (p->rtt_last_time != 0 && now - p->rtt_last_time < FLUX_SCHEDULER_RTT_FRESH)
                rtt = MIN(rtt, p->rtt_last);
        rtt = MAX(rtt, p->rtt_min);
        return rtt / 2.0;
}

static FluxPath *pick_weighted(const FluxScheduler *s, FluxPath *const *paths, size_t n, int tier, usec_t now,
                               size_t len) {
        FluxPath *best = NULL;
        double best_f = 0, min_start = 0, min_owd = tier_min_owd(s, paths, n, tier);
        bool any = false;

        for (size_t i = 0; i < n; i++) {
                if (sched_tier(s, paths[i]) != tier || path_too_slow(s, paths[i], min_owd))
                        continue;
                if (!any || path_start(paths[i], now) < min_start)
                        min_start = path_start(paths[i], now);
                any = true;
        }
        if (!any)
                return NULL;
        if (min_start > (double) now + FLUX_SCHEDULER_MAX_LAG) {
                double excess = min_start - (double) now - FLUX_SCHEDULER_MAX_LAG;

                for (size_t i = 0; i < n; i++)
                        if (sched_tier(s, paths[i]) == tier && !path_too_slow(s, paths[i], min_owd))
                                paths[i]->vtime -= excess;
        }

        for (size_t i = 0; i < n; i++) {
                FluxPath *p = paths[i];
                double f;

                if (sched_tier(s, p) != tier || path_too_slow(s, p, min_owd))
                        continue;
                f = path_start(p, now) + len * 1e6 / flux_path_effective_capacity(p) + path_owd_now(p, now);
                /* A tie (paths nobody could tell apart yet, or without RTT samples: a version 1
                 * server) goes to the one used least recently, so such paths take turns. */
                if (!best || f < best_f || (f == best_f && p->vtime < best->vtime)) {
                        best = p;
                        best_f = f;
                }
        }
        return best;
}

/* A deterministic capacity-weighted choice for a flow: its hash picks a point in [0, Σcapacity). */
static FluxPath *pick_by_hash(const FluxScheduler *s, FluxPath *const *paths, size_t n, int tier, uint64_t hash) {
        double total = 0, x;
        FluxPath *last = NULL;

        for (size_t i = 0; i < n; i++)
                if (sched_tier(s, paths[i]) == tier)
                        total += flux_path_effective_capacity(paths[i]);
        x = (double) (hash >> 11) * 0x1.0p-53 * total;
        for (size_t i = 0; i < n; i++) {
                if (sched_tier(s, paths[i]) != tier)
                        continue;
                last = paths[i];
                x -= flux_path_effective_capacity(paths[i]);
                if (x < 0)
                        return paths[i];
        }
        return last;
}

static FluxPath *find_in_tier(const FluxScheduler *s, FluxPath *const *paths, size_t n, int tier, uint16_t id) {
        for (size_t i = 0; i < n; i++)
                if (paths[i]->id == id && sched_tier(s, paths[i]) == tier)
                        return paths[i];
        return NULL;
}

/* The pin table is 4-way set associative: a flow lives in one of the 4 slots of its set; a new
 * flow takes a free or expired slot, else the least recently used one (that flow is placed afresh
 * if it ever sends again). */
static FluxFlowPin *flow_lookup(FluxScheduler *s, uint64_t h, usec_t now, bool *ret_found) {
        FluxFlowPin *set = &s->flows[((h ^ (h >> 29)) % (FLUX_FLOW_TABLE_SIZE / 4)) * 4], *victim = set;

        for (unsigned i = 0; i < 4; i++) {
                FluxFlowPin *pin = &set[i];
                bool live = pin->last_used != 0 && now - pin->last_used < FLUX_FLOW_PIN_EXPIRE;

                if (live && pin->hash == h) {
                        *ret_found = true;
                        return pin;
                }
                if (!live)
                        victim = pin, i = 4; /* a free slot: take it */
                else if (pin->last_used < victim->last_used)
                        victim = pin;
        }
        /* Keep looking for a live match beyond a free slot. */
        for (unsigned i = 0; i < 4; i++)
                if (set[i].last_used != 0 && set[i].hash == h && now - set[i].last_used < FLUX_FLOW_PIN_EXPIRE) {
                        *ret_found = true;
                        return &set[i];
                }
        *ret_found = false;
        return victim;
}

static FluxPath *pick_flow(FluxScheduler *s, FluxPath *const *paths, size_t n, int tier, usec_t now,
                           const uint8_t *ip, size_t len) {
        FluxFlowPin *pin;
        FluxPath *p;
        bool found;
        uint64_t h;

        if (!ip || flux_flow_hash(ip, len, &h) < 0)
                return pick_weighted(s, paths, n, tier, now, len);

        pin = flow_lookup(s, h, now, &found);
        if (found) {
                p = find_in_tier(s, paths, n, tier, pin->path_id);
                if (p) {
                        pin->last_used = now ?: 1;
                        return p;
                }
                s->flow_repins++;
        }

        p = pick_by_hash(s, paths, n, tier, h);
        if (p)
                *pin = (FluxFlowPin) { .hash = h, .last_used = now ?: 1, .path_id = p->id };
        return p;
}

/* The RTT the active/backup choices rank by: the path's base RTT (windowed minimum), so that the
 * queue our own traffic builds on the active path does not make us flap to an idle one; a lasting
 * change still shows within the 10 s window. */
static usec_t base_rtt(const FluxPath *p) {
        return p->rtt_min ?: p->srtt;
}

static FluxPath *pick_lowest_rtt(FluxScheduler *s, FluxPath *const *paths, size_t n, int tier) {
        FluxPath *best = NULL, *cur = NULL;

        for (size_t i = 0; i < n; i++) {
                FluxPath *p = paths[i];

                if (flux_path_tier(p) != tier)
                        continue;
                if (s->have_current && p->id == s->current_id)
                        cur = p;
                /* Unknown RTT sorts last. */
                if (!best || (base_rtt(p) != 0 && (base_rtt(best) == 0 || base_rtt(p) < base_rtt(best))))
                        best = p;
        }
        /* Hysteresis: stay unless the best is clearly faster. */
        if (cur && best && cur != best && base_rtt(cur) != 0 &&
            !(base_rtt(best) < base_rtt(cur) * FLUX_LOWEST_RTT_SWITCH_RATIO &&
              base_rtt(cur) - base_rtt(best) >= FLUX_LOWEST_RTT_SWITCH_MIN))
                best = cur;
        if (best) {
                s->have_current = true;
                s->current_id = best->id;
        }
        return best;
}

/* Redundant: the best N paths, ordered by tier then RTT, never mixing backups in while a primary
 * is usable. */
static size_t pick_redundant(FluxScheduler *s, FluxPath *const *paths, size_t n, int tier,
                             FluxPath **ret, size_t ret_max) {
        int max_tier = tier <= 1 ? 1 : tier <= 3 ? 3 : tier;
        size_t want = MIN((size_t) s->redundancy, ret_max), k = 0;

        while (k < want) {
                FluxPath *best = NULL;
                int best_t = 0;

                for (size_t i = 0; i < n; i++) {
                        FluxPath *p = paths[i];
                        int t = flux_path_tier(p);
                        bool taken = false;

                        if (t < tier || t > max_tier)
                                continue;
                        for (size_t j = 0; j < k; j++)
                                taken = taken || ret[j] == p;
                        if (taken)
                                continue;
                        if (!best || t < best_t ||
                            (t == best_t && base_rtt(p) != 0 && (base_rtt(best) == 0 || base_rtt(p) < base_rtt(best)))) {
                                best = p;
                                best_t = t;
                        }
                }
                if (!best)
                        break;
                ret[k++] = best;
        }
        return k;
}

/* Every path is down: try the one we heard from last (the verdict may be wrong, and sending costs
 * nothing); the probes will tell. */
static FluxPath *pick_last_heard(FluxPath *const *paths, size_t n, int tier) {
        FluxPath *best = NULL;

        for (size_t i = 0; i < n; i++)
                if (flux_path_tier(paths[i]) == tier && (!best || paths[i]->last_rx > best->last_rx))
                        best = paths[i];
        return best;
}

size_t flux_scheduler_pick(FluxScheduler *s, FluxPath *const *paths, size_t n_paths, usec_t now,
                           const uint8_t *ip, size_t len, FluxPath **ret, size_t ret_max) {
        int tier = best_tier(s, paths, n_paths);
        FluxPath *p = NULL;
        size_t k;

        if (tier < 0 || ret_max == 0)
                return 0;

        if (tier == 5)
                p = pick_last_heard(paths, n_paths, tier);
        else
                switch (s->kind) {
                case FLUX_SCHEDULER_FLOW:
                        p = pick_flow(s, paths, n_paths, tier, now, ip, len);
                        break;
                case FLUX_SCHEDULER_LOWEST_RTT:
                        p = pick_lowest_rtt(s, paths, n_paths, tier);
                        break;
                case FLUX_SCHEDULER_REDUNDANT:
                        k = pick_redundant(s, paths, n_paths, tier, ret, ret_max);
                        for (size_t i = 0; i < k; i++)
                                path_charge(ret[i], now, len);
                        return k;
                case FLUX_SCHEDULER_WEIGHTED:
                default:
                        p = pick_weighted(s, paths, n_paths, tier, now, len);
                        break;
                }
        if (!p)
                return 0;
        path_charge(p, now, len);
        ret[0] = p;
        return 1;
}
