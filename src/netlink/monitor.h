/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-event.h>

#include "rtnl.h"

/* An rtnetlink multicast listener attached to an sd-event loop: link, IPv4/IPv6 address and
 * (optionally) route changes, parsed and handed to a callback. Non-blocking; at most a bounded
 * number of datagrams is read per wake-up so other sources stay responsive. When the kernel drops
 * events (ENOBUFS: the socket buffer overflowed) a RTNL_EVENT_RESYNC is delivered: the consumer
 * must re-dump the state it cares about (rtnl_link_list() etc.). */

typedef struct RtnlMonitor RtnlMonitor;

typedef enum RtnlMonitorGroups {
        RTNL_MONITOR_LINK = 1 << 0,
        RTNL_MONITOR_ADDRESS = 1 << 1, /* IPv4 and IPv6 */
        RTNL_MONITOR_ROUTE = 1 << 2,   /* IPv4 and IPv6 */
} RtnlMonitorGroups;

typedef enum RtnlEventType {
        RTNL_EVENT_LINK_NEW,        /* link appeared or changed (flags, operstate, mtu, name) */
        RTNL_EVENT_LINK_REMOVED,
        RTNL_EVENT_ADDRESS_ADDED,
        RTNL_EVENT_ADDRESS_REMOVED,
        RTNL_EVENT_ROUTE_ADDED,
        RTNL_EVENT_ROUTE_REMOVED,
        RTNL_EVENT_RESYNC,          /* events were lost; no payload */
        _RTNL_EVENT_TYPE_MAX,
        _RTNL_EVENT_TYPE_INVALID = -EINVAL,
} RtnlEventType;

typedef struct RtnlEvent {
        RtnlEventType type;
        union {
                RtnlLink link;       /* LINK_NEW, LINK_REMOVED */
                RtnlAddress address; /* ADDRESS_* */
                RtnlRoute route;     /* ROUTE_* */
        };
} RtnlEvent;

/* A negative return is ignored (the monitor keeps running); a consumer logs itself. The handler may
 * free the monitor (rtnl_monitor_free()); no further events are delivered then. */
typedef int (*RtnlMonitorHandler)(RtnlMonitor *m, const RtnlEvent *event, void *userdata);

/* Subscribe to the given groups and attach to the event loop (priority SD_EVENT_PRIORITY_NORMAL
 * unless changed with rtnl_monitor_set_priority()). */
int rtnl_monitor_new(sd_event *event, RtnlMonitorGroups groups, RtnlMonitorHandler handler, void *userdata,
                     RtnlMonitor **ret);
int rtnl_monitor_set_priority(RtnlMonitor *m, int64_t priority);
RtnlMonitor *rtnl_monitor_free(RtnlMonitor *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(RtnlMonitor *, rtnl_monitor_free);

const char *rtnl_event_type_to_string(RtnlEventType t) _const_;
