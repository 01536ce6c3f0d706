/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Load-balance mode (serverless): a multipath default route (0.0.0.0/1 + 128.0.0.0/1, the original
 * default untouched) with one weighted nexthop per healthy uplink, each uplink's own routing table
 * selected by its sockets' mark and by its source address, masquerade per uplink for forwarded
 * traffic, and per-uplink ICMP health probes (RTT, jitter, loss) with hysteresis. IPv4. */

#include <stdbool.h>
#include <stdint.h>

#include "client-manager.h"
#include "client-session.h"

typedef struct Balance Balance;

/* Probe every second; a path is up after this many answers in a row and down after this many
 * losses in a row; a probe unanswered after BALANCE_PROBE_TIMEOUT is lost. */
#define BALANCE_PROBE_INTERVAL_USEC (1 * USEC_PER_SEC)
#define BALANCE_PROBE_TIMEOUT_USEC (2 * USEC_PER_SEC)
#define BALANCE_UP_AFTER 2U
#define BALANCE_DOWN_AFTER 3U

int balance_start(Manager *m);
Balance *balance_free(Balance *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(Balance *, balance_free);

int balance_add_uplink(Balance *b, Uplink *u);
void balance_remove_uplink(Balance *b, Uplink *u);
/* Carrier, addresses or default route of u changed. */
void balance_uplink_changed(Balance *b, Uplink *u);

const char *balance_uplink_state(const Uplink *u);
void balance_uplink_stats(const Uplink *u, UplinkStats *ret);
const char *balance_uplink_remote(const Uplink *u, char *buf, size_t size);
