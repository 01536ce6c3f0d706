/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One path of a tunnel: its sequence numbers, counters, RTT/jitter/loss estimators, delivery-rate
 * (capacity) estimator and state machine. Pure: every function takes `now`. The tunnel engine
 * (tunnel.c) does the framing; the schedulers read the estimates. Parameters: docs/multipath.md. */

#include <stdbool.h>
#include <stdint.h>

#include "in-addr-util.h"
#include "time-util.h"
#include "tunnel.h"

/* Probe cadence: fast while the tunnel carries traffic (dead path detection within 300 ms, and
 * fresh delivery-rate samples for the weighted scheduler), slow when idle (NAT keepalive). */
#define FLUX_PROBE_INTERVAL_ACTIVE (50 * USEC_PER_MSEC)
#define FLUX_PROBE_INTERVAL_IDLE (2 * USEC_PER_SEC)
#define FLUX_PROBE_INTERVAL_DOWN (250 * USEC_PER_MSEC)
/* Traffic within this long makes the tunnel "active". */
#define FLUX_ACTIVE_WINDOW (1 * USEC_PER_SEC)
/* A probe unanswered for max(2·srtt + 4·rttvar, MIN) (capped at MAX) marks the path down. */
#define FLUX_DEAD_TIMEOUT_MIN (150 * USEC_PER_MSEC)
#define FLUX_DEAD_TIMEOUT_MAX (1 * USEC_PER_SEC)
/* Consecutive answered probes a recovering path needs before it carries traffic again. */
#define FLUX_RECOVERY_PROBES 3U
/* Loss thresholds (ppm) with hysteresis for UP <-> DEGRADED, and the minimum decayed sample. */
#define FLUX_DEGRADED_LOSS_PPM 100000U
#define FLUX_RECOVERED_LOSS_PPM 50000U
#define FLUX_LOSS_MIN_SAMPLES 50.0
/* Effective capacity = capacity × weight × (1 − min(0.9, FLUX_LOSS_PENALTY × loss)). */
#define FLUX_LOSS_PENALTY 5.0
/* Windowed minimum RTT lifetime. */
#define FLUX_RTT_MIN_WINDOW (10 * USEC_PER_SEC)
/* Capacity estimator: start value, floor, growth over the delivery rate of an uncongested busy
 * path, and the queueing delay (above the path's minimum RTT) that counts as a queue:
 * max(FLUX_QUEUE_DELAY_MIN, rtt_min / 2). */
#define FLUX_CAPACITY_INITIAL 125000.0         /* 1 Mbit/s: low, so new paths share early */
#define FLUX_CAPACITY_FLOOR 12500.0            /* 100 kbit/s */
#define FLUX_CAPACITY_GROWTH 1.25
#define FLUX_QUEUE_DELAY_MIN (4 * USEC_PER_MSEC)
/* Sending at least this fraction of the estimate makes a sample "utilized" (may grow it). */
#define FLUX_CAPACITY_UTILIZED 0.6
/* Shortest interval a delivery-rate sample is taken over; how many samples the "best recent
 * delivery rate" looks back; how old an RTT sample may be to judge queueing. */
#define FLUX_CAPACITY_SAMPLE (40 * USEC_PER_MSEC)
#define FLUX_CAPACITY_HISTORY 8U
#define FLUX_CAPACITY_RTT_FRESH (100 * USEC_PER_MSEC)
/* Server: a path down for this long is forgotten. */
#define FLUX_PATH_EXPIRE (60 * USEC_PER_SEC)

#define FLUX_PROBE_RING 16U
/* Probe echoes older than this are ignored. */
#define FLUX_ECHO_MAX_AGE (5 * USEC_PER_SEC)

/* What a peer says about one path in a probe reply (or registration ack): the probe timestamp it
 * echoes, and what it has received on that path so far (all packet types, authentic only). */
typedef struct FluxPathReport {
        uint64_t echo_usec;     /* the prober's own `now` at sending, echoed */
        uint64_t rx_bytes;      /* datagram bytes */
        uint32_t rx_packets;
        uint32_t rx_max_seq;    /* highest path sequence received (wrap-safe) */
} FluxPathReport;

struct FluxPath {
        FluxTunnel *tunnel;
        void *userdata;
        uint16_t id;
        union sockaddr_union remote;    /* server: registered source address; client: AF_UNSPEC */

        FluxPathState state;
        FluxPathPriority priority;
        double weight;                  /* hand-set multiplier, > 0 */
        bool registered;                /* client: REGISTER_ACK seen; server: always */
        usec_t created;
        usec_t state_since;

        /* Send side. tx_seq is the last path sequence number used (first packet carries 1). */
        uint32_t tx_seq;
        uint64_t tx_bytes, tx_packets;

        /* Receive side (authentic datagrams on this path). */
        bool rx_seq_valid;
        uint32_t rx_max_seq;
        uint64_t rx_bytes, rx_packets;
        usec_t last_rx;
        /* Newest data sequence received on this path and when (gap loss detection). */
        bool rx_data_valid;
        uint32_t rx_data_seq_max;
        usec_t rx_data_last;

        /* RTT (RFC 6298 §2), from probe replies only. 0 = no sample yet. */
        usec_t srtt, rttvar, rtt_last;
        usec_t rtt_min, rtt_min_stamp;

        /* Probes: send times of the last few (ring), the oldest unanswered one, the next due. */
        usec_t probe_sent[FLUX_PROBE_RING];
        unsigned probe_head;            /* next ring slot to write */
        usec_t last_probe;              /* 0 = never */
        usec_t unanswered_since;        /* 0 = every probe answered */
        unsigned good_streak;           /* consecutive answered probes while recovering */
        bool peer_probe_valid;
        uint32_t peer_probe_rx_packets; /* rx_packets in the peer's last probe */

        /* Loss: exponentially decayed counts of sent vs lost (peer reports), per path. */
        bool report_valid;
        FluxPathReport last_report;
        usec_t last_report_time;
        /* Capacity sampling baseline: the report, time and our tx bytes at the last sample, and the
         * largest RTT sample since. */
        FluxPathReport cap_base;
        usec_t cap_base_time;
        uint64_t cap_base_tx_bytes;
        usec_t rtt_last_time;           /* when rtt_last was measured */
        double delivered_hist[FLUX_CAPACITY_HISTORY]; /* recent delivery-rate samples */
        unsigned delivered_head;
        double loss_sent, loss_lost;
        uint32_t loss_ppm;

        /* Capacity (deliverable bytes/s) and the weighted scheduler's backlog model: when (µs, the
         * caller's clock) what was charged to this path will have left at its effective capacity. */
        double capacity;
        double vtime;

        /* Smoothed rates (bytes/s) from counter deltas sampled at most every 100 ms. */
        usec_t rate_stamp;
        uint64_t rate_rx_bytes, rate_tx_bytes;
        double rx_rate, tx_rate;
};

void flux_path_init(FluxPath *p, FluxTunnel *t, uint16_t id, usec_t now);

/* Counts a datagram sent on the path and returns its path sequence number. */
uint32_t flux_path_on_tx(FluxPath *p, usec_t now, size_t bytes);
/* Counts an authentic datagram received on the path. */
void flux_path_on_rx(FluxPath *p, usec_t now, uint32_t path_seq, size_t bytes);
/* Our report about what we received on this path, to send in a probe reply. */
void flux_path_fill_report(const FluxPath *p, uint64_t echo_usec, FluxPathReport *ret);

/* Records a probe (or registration) sent at `now` for RTT and liveness. */
void flux_path_on_probe_sent(FluxPath *p, usec_t now);
/* Handles the echo of one of our probe timestamps: RTT, liveness, recovery streak. Returns 0, or
 * -ESTALE if the timestamp is not one we could have sent (ignored). */
int flux_path_on_echo(FluxPath *p, usec_t now, usec_t echo);
/* Handles the report in one of the peer's own probes: if it received more of our packets since its
 * previous probe, our direction is alive (liveness evidence when our probes drown in a full queue). */
void flux_path_on_peer_probe(FluxPath *p, usec_t now, const FluxPathReport *r);
/* Handles the peer's reply to one of our probes: the echo, then loss and capacity. Returns 0, or
 * -ESTALE if the echoed timestamp is not one we could have sent (ignored). */
int flux_path_on_reply(FluxPath *p, usec_t now, const FluxPathReport *r);

/* When the next probe is due, given whether the tunnel is active. */
usec_t flux_path_next_probe(const FluxPath *p, bool active);
/* The current dead timeout for this path. */
usec_t flux_path_dead_timeout(const FluxPath *p);
/* When the state machine may change state on its own (a pending dead timeout), or USEC_INFINITY. */
usec_t flux_path_next_deadline(const FluxPath *p);
/* Runs the state machine (timeouts and loss hysteresis). Returns the (possibly new) state and
 * writes the previous one to *ret_old. */
FluxPathState flux_path_evaluate(FluxPath *p, usec_t now, FluxPathState *ret_old);
/* Forces a state (registration, ack), resetting the recovery streak. */
void flux_path_set_state(FluxPath *p, usec_t now, FluxPathState state);

/* Updates the smoothed rx/tx rates; call now and then (cheap, rate-limited internally). */
void flux_path_update_rates(FluxPath *p, usec_t now);

/* Scheduling tier: lower is better, -1 = unusable. primary up 0, primary degraded 1, backup up 2,
 * backup degraded 3, probing 4, down 5 (unregistered client paths are unusable). */
int flux_path_tier(const FluxPath *p);
/* Capacity as the schedulers use it: estimate × weight × loss penalty, in bytes/s (> 0). */
double flux_path_effective_capacity(const FluxPath *p);
