/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* An Uplink is one interface the profile bonds: its kernel state (index, carrier, addresses,
 * gateway), its routing table and socket mark, and — while a bonding session runs — its UDP
 * socket, control attempt and tunnel path. Exported as org.fluxify.client1.Connection at
 * /org/fluxify/client1/connection/<ifname>. */

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <systemd/sd-event.h>

#include "client-manager.h"
#include "in-addr-util.h"

typedef struct FluxPath FluxPath;
typedef struct Balance Balance;
typedef struct ControlClient ControlClient;

typedef enum UplinkProperty {
        UPLINK_PROP_STATE = 1 << 0,
        UPLINK_PROP_LOCAL_ADDRESS = 1 << 1,
        UPLINK_PROP_REMOTE_ADDRESS = 1 << 2,
        UPLINK_PROP_PRIORITY = 1 << 3,
        UPLINK_PROP_WEIGHT = 1 << 4,
} UplinkProperty;

extern const char *const uplink_property_names[];

#define UPLINK_BATCH_MAX 64U
/* Receive slots with UDP_GRO: one slot takes a run of datagrams from the server (up to 64 KiB). */
#define UPLINK_GRO_SLOTS 16U
#define UPLINK_GRO_SLOT_SIZE 65536U

struct Uplink {
        Manager *manager;               /* NULL until linked */
        char *name;
        char *bus_path;                 /* /org/fluxify/client1/connection/<encoded name> */
        int ifindex;                    /* 0 while the interface does not exist */
        bool carrier;                   /* IFF_UP and IFF_RUNNING */
        bool has_address;               /* at least one usable address of the server's family */
        int priority;                   /* ClientPriority */
        double weight;
        uint32_t table;                 /* routing table and SO_MARK, 0 until routing is set up */
        bool routed;                    /* table route + fwmark rule installed */
        union in_addr_union gateway;    /* the table route's gateway (all-zero: on-link), valid if routed */

        /* Bonding data plane (client-session.c). */
        int fd;                         /* UDP socket: SO_BINDTODEVICE + SO_MARK, connected to the server */
        sd_event_source *io;
        FluxPath *path;
        ControlClient *control;         /* control attempt over this uplink while racing */
        bool raced;                     /* tried in the current race */
        union sockaddr_union local;     /* socket's local address once connected */
        uint8_t *batch_buf;             /* UPLINK_BATCH_MAX datagrams for sendmmsg */
        size_t batch_len[UPLINK_BATCH_MAX];
        size_t n_batch;
        size_t batch_slot;              /* bytes per slot */
        bool gso_off;                   /* UDP_SEGMENT refused on this socket: send one by one */
        bool gro;                       /* UDP_GRO on the socket: receive into gro_buf */
        uint8_t *gro_buf;               /* UPLINK_GRO_SLOTS × UPLINK_GRO_SLOT_SIZE, kept across sockets */
        uint64_t tx_errors;

        /* Load-balance mode (client-balance.c). */
        int probe_fd;                   /* raw ICMP socket: SO_BINDTODEVICE + SO_MARK */
        sd_event_source *probe_io;
        uint16_t probe_id, probe_seq;
        usec_t probe_sent[32];          /* send time by seq % 32, 0 = answered or never sent */
        unsigned ok_streak, fail_streak;
        bool probed;                    /* at least one probe answered or lost */
        bool healthy;
        usec_t rtt, jitter;             /* smoothed (RFC 6298 style) */
        uint32_t history;               /* last 32 probe outcomes, bit set = lost */
        unsigned history_n;
        uint64_t rx_bytes, tx_bytes, rx_rate, tx_rate;
        usec_t bytes_at;
        union in_addr_union probe_target;
        union in_addr_union address4;   /* first IPv4 address, for the source rule */
        bool has_address4;
        usec_t last_rx;                 /* CLOCK_MONOTONIC of the last answer */

        const char *last_state;         /* last State value signalled */
};

int uplink_new(Manager *m, const char *name, Uplink **ret);
Uplink *uplink_free(Uplink *u);
DEFINE_TRIVIAL_CLEANUP_FUNC(Uplink *, uplink_free);

/* Re-reads index, flags and addresses from the kernel. Returns > 0 if usability changed. */
int uplink_refresh(Uplink *u);
/* Can it carry a path now (exists, carrier, an address)? */
bool uplink_is_usable(const Uplink *u);
/* "probing", "up", "degraded", "down" for the Connection.State property. */
const char *uplink_state_string(const Uplink *u);
void uplink_mark_changed(Uplink *u, uint64_t bits);
/* Emits PropertiesChanged(State) if the state string changed since the last call. */
void uplink_check_state(Uplink *u);

/* Sends the queued datagrams (batch_buf/batch_len) with sendmmsg(), runs of equal size as one
 * UDP_SEGMENT (GSO) message each. What the socket does not take is dropped and counted in
 * tx_errors, as a full queue would. Returns 0 or the negative errno of the failed send. */
int uplink_flush_batch(Uplink *u);

/* The segment size of a UDP_GRO run received with msghdr mh (its control message), or 0 for a
 * single datagram. */
size_t uplink_gro_segment(const struct msghdr *mh);
/* Turns UDP_GRO on for the uplink's new socket fd if the kernel has it (sets gro, allocates
 * gro_buf once). Without it, one datagram per receive slot as before. */
void uplink_enable_gro(Uplink *u, int fd);

/* client-connection-bus.c */
int uplink_bus_emit_added(Uplink *u);
int uplink_bus_emit_removed(Uplink *u);
