/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The server's packet I/O: one UDP socket per listen address (IPv4 sockets get IP_PKTINFO, IPv6
 * sockets IPV6_RECVPKTINFO and IPV6_V6ONLY), read with recvmmsg() and written with sendmmsg() in
 * batches of at most DATAPATH_BATCH per wake-up, and the TUN fd. Datagrams are demultiplexed by
 * the header's session id, TUN packets by destination address; everything that belongs to no
 * session is counted in ManagerDrops, never logged. */

#include <stdbool.h>
#include <stdint.h>

#include "in-addr-util.h"
#include "server-manager.h"

#define DATAPATH_BATCH 64U

/* Binds the UDP socket for one listen address and attaches it (MANAGER_PRIORITY_PACKETS). */
int data_socket_new(Manager *m, const union sockaddr_union *bind_addr, DataSocket **ret);
DataSocket *data_socket_free(DataSocket *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(DataSocket *, data_socket_free);
int data_socket_family(const DataSocket *s);
uint16_t data_socket_port(const DataSocket *s);

/* Queues one datagram for sending from socket s (with local as source address when known);
 * flushed when the batch is full and by manager_flush_tx(). */
int data_socket_queue(DataSocket *s, const union sockaddr_union *to, const union sockaddr_union *local,
                      const uint8_t *buf, size_t len);

/* Sends everything queued on every socket. */
void manager_flush_tx(Manager *m);

/* The data socket for a destination family (the first one), when a path has none. */
DataSocket *manager_pick_socket(Manager *m, int family);

/* Starts reading the TUN (after the kernel state is up). */
int manager_tun_start(Manager *m);
/* Writes one packet to the TUN (counted on failure). */
void manager_tun_write(Manager *m, const uint8_t *ip, size_t len);

/* The inner destination of an IP packet: family and a pointer into the packet; -EBADMSG. Pure. */
int ip_packet_destination(const uint8_t *ip, size_t len, int *ret_family, const uint8_t **ret_addr);
