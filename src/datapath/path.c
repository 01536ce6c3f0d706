/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <math.h>
#include <string.h>

#include "macro.h"
#include "path.h"

static const char *const flux_path_state_table[_FLUX_PATH_STATE_MAX] = {
        [FLUX_PATH_PROBING] = "probing",
        [FLUX_PATH_UP] = "up",
        [FLUX_PATH_DEGRADED] = "degraded",
        [FLUX_PATH_DOWN] = "down",
};
DEFINE_STRING_TABLE(flux_path_state, FluxPathState, _FLUX_PATH_STATE_MAX);

static const char *const flux_path_priority_table[_FLUX_PATH_PRIORITY_MAX] = {
        [FLUX_PATH_PRIMARY] = "primary",
        [FLUX_PATH_BACKUP] = "backup",
};
DEFINE_STRING_TABLE(flux_path_priority, FluxPathPriority, _FLUX_PATH_PRIORITY_MAX);

void flux_path_init(FluxPath *p, FluxTunnel *t, uint16_t id, usec_t now) {
        *p = (FluxPath) {
                .tunnel = t,
                .id = id,
                .remote.sa.sa_family = AF_UNSPEC,
                .state = FLUX_PATH_PROBING,
                .priority = FLUX_PATH_PRIMARY,
                .weight = 1.0,
                .created = now,
                .state_since = now,
                .capacity = FLUX_CAPACITY_INITIAL,
                .rate_stamp = now,
        };
}

uint32_t flux_path_on_tx(FluxPath *p, usec_t now, size_t bytes) {
        p->tx_bytes += bytes;
        p->tx_packets++;
        /* Path sequence 0 is never sent, so a receiver can start from "nothing seen". */
        if (++p->tx_seq == 0)
                p->tx_seq = 1;
        return p->tx_seq;
}

void flux_path_on_rx(FluxPath *p, usec_t now, uint32_t path_seq, size_t bytes) {
        p->rx_bytes += bytes;
        p->rx_packets++;
        p->last_rx = now;
        if (!p->rx_seq_valid || (int32_t) (path_seq - p->rx_max_seq) > 0) {
                p->rx_max_seq = path_seq;
                p->rx_seq_valid = true;
        }
}

void flux_path_fill_report(const FluxPath *p, uint64_t echo_usec, FluxPathReport *ret) {
        *ret = (FluxPathReport) {
                .echo_usec = echo_usec,
                .rx_bytes = p->rx_bytes,
                .rx_packets = (uint32_t) p->rx_packets,
                .rx_max_seq = p->rx_max_seq,
        };
}

void flux_path_on_probe_sent(FluxPath *p, usec_t now) {
        p->probe_sent[p->probe_head] = now;
        p->probe_head = (p->probe_head + 1) % FLUX_PROBE_RING;
        p->last_probe = now;
        if (p->unanswered_since == 0)
                p->unanswered_since = now;
}

usec_t flux_path_dead_timeout(const FluxPath *p) {
        usec_t t;

        if (p->srtt == 0)
                return FLUX_DEAD_TIMEOUT_MAX; /* no estimate yet: allow for a long first round trip */
        t = 2 * p->srtt + 4 * p->rttvar;
        t = MAX(t, FLUX_DEAD_TIMEOUT_MIN);
        return MIN(t, FLUX_DEAD_TIMEOUT_MAX);
}

/* RFC 6298 §2.2/2.3 with α = 1/8, β = 1/4; plus a windowed minimum for the capacity estimator. */
static void path_rtt_sample(FluxPath *p, usec_t now, usec_t r) {
        if (r == 0)
                r = 1;
        if (p->srtt == 0) {
                p->srtt = r;
                p->rttvar = r / 2;
        } else {
                usec_t d = p->srtt > r ? p->srtt - r : r - p->srtt;

                p->rttvar = (3 * p->rttvar + d) / 4;
                p->srtt = (7 * p->srtt + r) / 8;
        }
        p->rtt_last = r;
        if (p->rtt_min == 0 || r <= p->rtt_min || now - p->rtt_min_stamp > FLUX_RTT_MIN_WINDOW) {
                p->rtt_min = r;
                p->rtt_min_stamp = now;
        }
}

/* Which probes does a reply answer? All sent up to and including the echoed one. The oldest still
 * unanswered is then the first one sent after it, if any. */
static void path_mark_answered(FluxPath *p, usec_t echo) {
        usec_t oldest = 0;

        for (unsigned i = 0; i < FLUX_PROBE_RING; i++) {
                usec_t s = p->probe_sent[i];

                if (s > echo && (oldest == 0 || s < oldest))
                        oldest = s;
        }
        p->unanswered_since = oldest;
}

/* Loss from the peer's counts: of the path sequence numbers it has seen advance, how many never
 * arrived. Exponentially decayed counts, weighted by packets: the memory is about 500 packets on a
 * busy path and about 100 reports (5 s under traffic) on a quiet one, so one lost probe on an idle
 * path does not swing it and a busy path's estimate follows changes quickly. */
static void path_update_loss(FluxPath *p, const FluxPathReport *r, double *ret_interval_loss) {
        uint32_t dseq = r->rx_max_seq - p->last_report.rx_max_seq;
        uint32_t dpkt = r->rx_packets - p->last_report.rx_packets;
        double lost, decay;

        *ret_interval_loss = 0;
        if ((int32_t) dseq <= 0)
                return;
        lost = dpkt >= dseq ? 0.0 : (double) (dseq - dpkt);
        decay = MIN(0.99, pow(0.998, (double) dseq));
        p->loss_sent = p->loss_sent * decay + dseq;
        p->loss_lost = p->loss_lost * decay + lost;
        *ret_interval_loss = lost / dseq;
        p->loss_ppm = p->loss_sent >= 1.0 ? (uint32_t) (p->loss_lost / p->loss_sent * 1e6) : 0;
}

/* Delivery-rate based capacity estimate (docs/multipath.md, "weighted"), sampled over at least
 * FLUX_CAPACITY_SAMPLE. The delivery rate of a path can never exceed its capacity, and equals it
 * while the path is saturated; so:
 *   - a queue (the last RTT sample rose above the minimum by max(4 ms, rtt_min/2)) or heavy loss
 *     (> 10 % of the interval: a queue overflowed) means saturated: the estimate drops to the best
 *     recent delivery rate (never grows);
 *   - no queue, a fresh RTT sample, and we kept it busy (sent >= 60 % of the estimate): it may carry
 *     more, the estimate may grow to 1.25 × the delivery rate;
 *   - otherwise the estimate only follows the delivery rate up. */
static void path_update_capacity(FluxPath *p, usec_t now, const FluxPathReport *r) {
        usec_t dt = now - p->cap_base_time, qdelay;
        uint32_t dseq = r->rx_max_seq - p->cap_base.rx_max_seq;
        uint32_t dpkt = r->rx_packets - p->cap_base.rx_packets;
        double delivered, sent, loss = 0, best = 0;
        bool fresh, queued, overflow;

        if (dt < FLUX_CAPACITY_SAMPLE)
                return;
        delivered = (double) (r->rx_bytes - p->cap_base.rx_bytes) * USEC_PER_SEC / dt;
        sent = (double) (p->tx_bytes - p->cap_base_tx_bytes) * USEC_PER_SEC / dt;
        if ((int32_t) dseq > 0 && dpkt < dseq)
                loss = (double) (dseq - dpkt) / dseq;

        p->delivered_hist[p->delivered_head] = delivered;
        p->delivered_head = (p->delivered_head + 1) % FLUX_CAPACITY_HISTORY;
        for (unsigned i = 0; i < FLUX_CAPACITY_HISTORY; i++)
                best = MAX(best, p->delivered_hist[i]);

        qdelay = MAX(FLUX_QUEUE_DELAY_MIN, p->rtt_min / 2);
        fresh = p->rtt_last_time != 0 && now - p->rtt_last_time <= FLUX_CAPACITY_RTT_FRESH;
        queued = fresh && p->rtt_last > p->rtt_min + qdelay;
        overflow = loss > 0.1;

        best = MAX(best, delivered);
        if (queued || overflow)
                p->capacity = MIN(p->capacity, best);
        else if (fresh && sent >= p->capacity * FLUX_CAPACITY_UTILIZED)
                p->capacity = MAX(p->capacity, delivered * FLUX_CAPACITY_GROWTH);
        else
                p->capacity = MAX(p->capacity, delivered);
        /* Never above what we could have learnt: 1 Tbit/s. */
        p->capacity = MAX(p->capacity, FLUX_CAPACITY_FLOOR);
        p->capacity = MIN(p->capacity, 1.25e11);

        p->cap_base = *r;
        p->cap_base_time = now;
        p->cap_base_tx_bytes = p->tx_bytes;
}

int flux_path_on_echo(FluxPath *p, usec_t now, usec_t echo) {
        /* Only timestamps we could have sent count: not before the path existed, not after our
         * last probe, not older than FLUX_ECHO_MAX_AGE (the peer is authenticated already; this
         * guards against a confused one, and keeps a very old reply from reviving the path). The
         * ring of recent send times is not required to hold it, so RTTs longer than the ring
         * (satellite links) still measure. */
        if (echo == 0 || echo < p->created || echo > p->last_probe || echo > now || now - echo > FLUX_ECHO_MAX_AGE)
                return -ESTALE;

        path_rtt_sample(p, now, now - echo);
        p->rtt_last_time = now;
        path_mark_answered(p, echo);

        /* Recovery: the first answer moves a dead path to probing, then it needs a streak. */
        if (p->registered) {
                if (p->state == FLUX_PATH_DOWN) {
                        flux_path_set_state(p, now, FLUX_PATH_PROBING);
                        p->good_streak = 1;
                } else if (p->state == FLUX_PATH_PROBING)
                        p->good_streak++;
        }
        return 0;
}

/* A report of the peer's receive counters for this path, from its probe or its reply to ours.
 * Reports older than one already seen (reordered) are ignored. */
static void path_on_report(FluxPath *p, usec_t now, const FluxPathReport *r) {
        double interval_loss;

        if (p->report_valid) {
                if ((int32_t) (r->rx_packets - p->last_report.rx_packets) < 0 ||
                    (int32_t) (r->rx_max_seq - p->last_report.rx_max_seq) < 0)
                        return;
                path_update_loss(p, r, &interval_loss);
                path_update_capacity(p, now, r);
        } else {
                p->cap_base = *r;
                p->cap_base_time = now;
                p->cap_base_tx_bytes = p->tx_bytes;
        }
        p->last_report = *r;
        p->last_report_time = now;
        p->report_valid = true;
}

void flux_path_on_peer_probe(FluxPath *p, usec_t now, const FluxPathReport *r) {
        bool progress = p->peer_probe_valid && (int32_t) (r->rx_packets - p->peer_probe_rx_packets) > 0;

        p->peer_probe_rx_packets = r->rx_packets;
        p->peer_probe_valid = true;
        /* The peer received more of ours since its last probe: our direction works, whatever
         * happened to our probes in a full queue. Probes older than a round trip count as
         * answered (no RTT sample: we do not know which packet got through). */
        if (progress && p->srtt != 0 && now > p->srtt)
                path_mark_answered(p, now - p->srtt);
        if (p->registered && p->state != FLUX_PATH_DOWN)
                path_on_report(p, now, r);
}

int flux_path_on_reply(FluxPath *p, usec_t now, const FluxPathReport *r) {
        int k;

        k = flux_path_on_echo(p, now, r->echo_usec);
        if (k < 0)
                return k;
        path_on_report(p, now, r);
        return 0;
}

usec_t flux_path_next_probe(const FluxPath *p, bool active) {
        usec_t interval;

        if (p->state == FLUX_PATH_DOWN)
                /* Dead, unless it still brings us packets: then find out fast. */
                interval = p->last_rx > p->last_probe ? FLUX_PROBE_INTERVAL_ACTIVE : FLUX_PROBE_INTERVAL_DOWN;
        else if (active || p->state == FLUX_PATH_PROBING || !p->registered)
                interval = FLUX_PROBE_INTERVAL_ACTIVE;
        else
                interval = FLUX_PROBE_INTERVAL_IDLE;
        if (!p->registered && p->state != FLUX_PATH_DOWN)
                interval = 4 * FLUX_PROBE_INTERVAL_ACTIVE; /* registration retries: 200 ms */
        return p->last_probe == 0 ? 0 : p->last_probe + interval;
}

usec_t flux_path_next_deadline(const FluxPath *p) {
        if (p->unanswered_since == 0 || p->state == FLUX_PATH_DOWN)
                return USEC_INFINITY;
        return p->unanswered_since + flux_path_dead_timeout(p);
}

void flux_path_set_state(FluxPath *p, usec_t now, FluxPathState state) {
        if (p->state != state)
                p->state_since = now;
        p->state = state;
        p->good_streak = 0;
}

FluxPathState flux_path_evaluate(FluxPath *p, usec_t now, FluxPathState *ret_old) {
        FluxPathState old = p->state;

        if (p->state != FLUX_PATH_DOWN && p->unanswered_since != 0 &&
            now >= p->unanswered_since + flux_path_dead_timeout(p)) {
                flux_path_set_state(p, now, FLUX_PATH_DOWN);
                /* What was lost in the outage says nothing about the path once it is back: start
                 * the loss and delivery estimates afresh with the first report after recovery. */
                p->unanswered_since = 0;
                p->report_valid = false;
                memset(p->delivered_hist, 0, sizeof(p->delivered_hist));
                p->loss_sent = p->loss_lost = 0;
                p->loss_ppm = 0;
        } else
                switch (p->state) {
                case FLUX_PATH_PROBING:
                        if (p->registered && p->good_streak >= FLUX_RECOVERY_PROBES)
                                flux_path_set_state(p, now, FLUX_PATH_UP);
                        break;
                case FLUX_PATH_UP:
                        if (p->loss_sent >= FLUX_LOSS_MIN_SAMPLES && p->loss_ppm >= FLUX_DEGRADED_LOSS_PPM)
                                flux_path_set_state(p, now, FLUX_PATH_DEGRADED);
                        break;
                case FLUX_PATH_DEGRADED:
                        if (p->loss_ppm < FLUX_RECOVERED_LOSS_PPM)
                                flux_path_set_state(p, now, FLUX_PATH_UP);
                        break;
                default:
                        break;
                }

        if (ret_old)
                *ret_old = old;
        return p->state;
}

void flux_path_update_rates(FluxPath *p, usec_t now) {
        usec_t dt = now - p->rate_stamp;
        double rx, tx;

        if (dt < 100 * USEC_PER_MSEC)
                return;
        rx = (double) (p->rx_bytes - p->rate_rx_bytes) * USEC_PER_SEC / dt;
        tx = (double) (p->tx_bytes - p->rate_tx_bytes) * USEC_PER_SEC / dt;
        /* EMA with a weight growing with the interval (about 0.5 s time constant). */
        double a = MIN(1.0, (double) dt / (500.0 * USEC_PER_MSEC));
        p->rx_rate += a * (rx - p->rx_rate);
        p->tx_rate += a * (tx - p->tx_rate);
        p->rate_stamp = now;
        p->rate_rx_bytes = p->rx_bytes;
        p->rate_tx_bytes = p->tx_bytes;
}

int flux_path_tier(const FluxPath *p) {
        bool backup = p->priority == FLUX_PATH_BACKUP;

        if (!p->registered)
                return -1;
        switch (p->state) {
        case FLUX_PATH_UP:
                return backup ? 2 : 0;
        case FLUX_PATH_DEGRADED:
                return backup ? 3 : 1;
        case FLUX_PATH_PROBING:
                return 4;
        case FLUX_PATH_DOWN:
                return 5;
        default:
                return -1;
        }
}

double flux_path_effective_capacity(const FluxPath *p) {
        /* A lossy path gets less than its delivery rate (which already excludes what it lost):
         * each loss costs the inner TCP a window reduction, so 2 % loss costs 10 % of the share,
         * 20 % loss or more 90 %. (Stronger penalties starve a usable path: in the simulator a
         * single Reno flow over a clean and a 2 %-lossy path does best between 0 and 5.) */
        double loss = p->loss_sent >= FLUX_LOSS_MIN_SAMPLES ? p->loss_ppm / 1e6 : 0.0;
        double penalty = 1.0 - MIN(0.9, FLUX_LOSS_PENALTY * loss);

        return MAX(p->capacity * p->weight * penalty, 1.0);
}

/* Getters (tunnel.h). */
FluxTunnel *flux_path_get_tunnel(const FluxPath *p) {
        return p->tunnel;
}
uint16_t flux_path_get_id(const FluxPath *p) {
        return p->id;
}
void flux_path_set_userdata(FluxPath *p, void *userdata) {
        p->userdata = userdata;
}
void *flux_path_get_userdata(const FluxPath *p) {
        return p->userdata;
}
const union sockaddr_union *flux_path_get_remote_address(const FluxPath *p) {
        return &p->remote;
}
FluxPathState flux_path_get_state(const FluxPath *p) {
        return p->state;
}
FluxPathPriority flux_path_get_priority(const FluxPath *p) {
        return p->priority;
}
int flux_path_set_priority(FluxPath *p, FluxPathPriority priority) {
        assert_return(priority >= 0 && priority < _FLUX_PATH_PRIORITY_MAX, -EINVAL);
        p->priority = priority;
        return 0;
}
double flux_path_get_weight(const FluxPath *p) {
        return p->weight;
}
int flux_path_set_weight(FluxPath *p, double weight) {
        assert_return(isfinite(weight) && weight > 0 && weight <= 1000, -EINVAL);
        p->weight = weight;
        return 0;
}
usec_t flux_path_get_rtt(const FluxPath *p) {
        return p->srtt;
}
usec_t flux_path_get_rtt_min(const FluxPath *p) {
        return p->rtt_min;
}
usec_t flux_path_get_jitter(const FluxPath *p) {
        return p->rttvar;
}
uint32_t flux_path_get_loss_ppm(const FluxPath *p) {
        return p->loss_ppm;
}
uint64_t flux_path_get_rx_bytes(const FluxPath *p) {
        return p->rx_bytes;
}
uint64_t flux_path_get_tx_bytes(const FluxPath *p) {
        return p->tx_bytes;
}
uint64_t flux_path_get_rx_packets(const FluxPath *p) {
        return p->rx_packets;
}
uint64_t flux_path_get_tx_packets(const FluxPath *p) {
        return p->tx_packets;
}
uint64_t flux_path_get_rx_rate(const FluxPath *p) {
        return (uint64_t) MAX(p->rx_rate, 0.0);
}
uint64_t flux_path_get_tx_rate(const FluxPath *p) {
        return (uint64_t) MAX(p->tx_rate, 0.0);
}
uint64_t flux_path_get_capacity(const FluxPath *p) {
        return p->report_valid ? (uint64_t) p->capacity : 0;
}
usec_t flux_path_get_last_rx(const FluxPath *p) {
        return p->last_rx;
}
