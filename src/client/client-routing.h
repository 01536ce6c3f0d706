/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Every route and policy rule the client installs goes through a Routing: it is tagged
 * RTPROT_FLUXIFY, applied through rtnetlink and journaled to a file in the runtime directory
 * (rewritten atomically after each change). Disconnect and stop undo the journal in reverse order;
 * the next start after a crash undoes what the journal still lists (routing_recover()), so no
 * other profile's or the server's state is touched (no blanket flush by protocol). */

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"
#include "rtnl.h"

typedef struct Routing Routing;

/* Per-uplink routing table and socket mark: 0x46 ('F') in the top byte, a byte from the profile
 * name, then the interface index, so concurrent profiles do not collide. */
uint32_t routing_uplink_table(const char *profile, int ifindex);
/* Priority of the "fwmark T lookup T" rules (Fluxify's band, before main at 32766). */
#define ROUTING_RULE_PRIORITY_MARK (FLUXIFY_RULE_PRIORITY_MIN + 100U)

int routing_new(Rtnl *rtnl, const char *journal_path, Routing **ret);
/* Frees the bookkeeping only; the kernel state stays (call routing_remove_all() first). */
Routing *routing_free(Routing *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(Routing *, routing_free);

/* Installs (replacing a route of ours with the same key) and journals. */
int routing_add_route(Routing *r, const RtnlRoute *route);
int routing_add_rule(Routing *r, const RtnlRule *rule);
/* Removes the journaled route with route's key (family, table, destination, metric). */
int routing_remove_route(Routing *r, const RtnlRoute *route);
/* Removes every journaled route in table (and every rule pointing to it). */
int routing_remove_table(Routing *r, uint32_t table);
/* Removes every journaled route whose output interface is oif. */
int routing_remove_oif(Routing *r, int oif);
/* Removes everything, newest first, and deletes the journal file. Errors other than "already
 * gone" are counted and the first is returned; the rest is still removed. */
int routing_remove_all(Routing *r);
size_t routing_count(const Routing *r);

/* Start-up after a crash: undo what journal_path lists, then delete it. Returns the number of
 * objects removed (0 if there was no journal). */
int routing_recover(Rtnl *rtnl, const char *journal_path);
