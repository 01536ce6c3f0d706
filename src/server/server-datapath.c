/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fd-util.h"
#include "log.h"
#include "server-datapath.h"
#include "server-session.h"
#include "tunnel.h"

/* Room for IP_PKTINFO or IPV6_PKTINFO (the IPv6 one is the larger). */
#define PKTINFO_SPACE CMSG_SPACE(sizeof(struct in6_pktinfo))
_Static_assert(sizeof(struct in6_pktinfo) >= sizeof(struct in_pktinfo), "pktinfo sizes");

struct DataSocket {
        Manager *manager;
        int fd;
        int family;
        union sockaddr_union bound;
        sd_event_source *io;
        size_t buf_size;

        /* Receive batch. Buffers are allocated once, on first use. With UDP_GRO, one slot may hold
         * a run of datagrams from one peer (rx_size = 64 KiB, split by the UDP_GRO cmsg); pages are
         * only touched as far as datagrams reach. */
        uint8_t *rx_bufs;
        size_t rx_size;
        struct mmsghdr rx_msgs[DATAPATH_BATCH];
        struct iovec rx_iov[DATAPATH_BATCH];
        union sockaddr_union rx_from[DATAPATH_BATCH];
        union {
                struct cmsghdr align;
                uint8_t buf[PKTINFO_SPACE + CMSG_SPACE(sizeof(int))];
        } rx_cmsg[DATAPATH_BATCH];

        /* Send batch: entries [tx_head, n_tx) are still to go. tx_blocked while the socket
         * buffer is full: EPOLLOUT is watched and the TUN is not read until the batch is out. */
        uint8_t *tx_bufs;
        size_t tx_head, n_tx;
        bool tx_blocked;
        struct mmsghdr tx_msgs[DATAPATH_BATCH];
        struct iovec tx_iov[DATAPATH_BATCH];
        union sockaddr_union tx_to[DATAPATH_BATCH];
        union {
                struct cmsghdr align;
                uint8_t buf[PKTINFO_SPACE];
        } tx_cmsg[DATAPATH_BATCH];

        /* What tx_flush() hands to sendmmsg(): entries from tx_head grouped into messages, a run of
         * equal-size datagrams to one peer from one local address being one UDP_SEGMENT (GSO)
         * message. gso_count[i] is the entries of message i. */
        bool gso_off;                   /* UDP_SEGMENT refused: one datagram per message */
        struct mmsghdr gso_msgs[DATAPATH_BATCH];
        size_t gso_count[DATAPATH_BATCH];
        union {
                struct cmsghdr align;
                uint8_t buf[PKTINFO_SPACE + CMSG_SPACE(sizeof(uint16_t))];
        } gso_cmsg[DATAPATH_BATCH];
};

int data_socket_family(const DataSocket *s) {
        return s->family;
}

uint16_t data_socket_port(const DataSocket *s) {
        return sockaddr_port(&s->bound);
}

int ip_packet_destination(const uint8_t *ip, size_t len, int *ret_family, const uint8_t **ret_addr) {
        if (len < 1)
                return -EBADMSG;
        switch (ip[0] >> 4) {
        case 4:
                if (len < sizeof(struct iphdr))
                        return -EBADMSG;
                *ret_family = AF_INET;
                *ret_addr = ip + offsetof(struct iphdr, daddr);
                return 0;
        case 6:
                if (len < sizeof(struct ip6_hdr))
                        return -EBADMSG;
                *ret_family = AF_INET6;
                *ret_addr = ip + offsetof(struct ip6_hdr, ip6_dst);
                return 0;
        default:
                return -EBADMSG;
        }
}

/* Local (destination) address of a received datagram, from its pktinfo. */
static void rx_local_address(DataSocket *s, struct msghdr *mh, union sockaddr_union *ret) {
        *ret = (union sockaddr_union) {};
        for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
                if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                        struct in_pktinfo pi;
                        memcpy(&pi, CMSG_DATA(c), sizeof(pi));
                        ret->in = (struct sockaddr_in) { .sin_family = AF_INET, .sin_addr = pi.ipi_addr,
                                                         .sin_port = s->bound.in.sin_port };
                } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
                        struct in6_pktinfo pi;
                        memcpy(&pi, CMSG_DATA(c), sizeof(pi));
                        ret->in6 = (struct sockaddr_in6) { .sin6_family = AF_INET6, .sin6_addr = pi.ipi6_addr,
                                                           .sin6_port = s->bound.in6.sin6_port };
                }
        }
}

static void rx_prepare(DataSocket *s) {
        for (size_t i = 0; i < DATAPATH_BATCH; i++) {
                s->rx_iov[i] = (struct iovec) {
                        .iov_base = s->rx_bufs + i * s->rx_size,
                        .iov_len = s->rx_size,
                };
                s->rx_msgs[i].msg_hdr = (struct msghdr) {
                        .msg_name = &s->rx_from[i],
                        .msg_namelen = sizeof(s->rx_from[i]),
                        .msg_iov = &s->rx_iov[i],
                        .msg_iovlen = 1,
                        .msg_control = s->rx_cmsg[i].buf,
                        .msg_controllen = sizeof(s->rx_cmsg[i].buf),
                };
                s->rx_msgs[i].msg_len = 0;
        }
}

static void rx_datagram(DataSocket *s, usec_t now, const union sockaddr_union *from,
                        const union sockaddr_union *local, uint8_t *buf, size_t len) {
        Manager *m = s->manager;
        uint8_t version;
        uint32_t id;
        Session *session;

        if (flux_tunnel_peek_session(buf, len, &version, &id) < 0) {
                m->drops.malformed++;
                return;
        }
        session = manager_find_session(m, id);
        if (!session) {
                m->drops.unknown_session++;
                return;
        }

        m->current_socket = s;
        m->current_local = local;
        session_receive(session, now, from, buf, len);
        m->current_socket = NULL;
        m->current_local = NULL;
}

/* Segment size of a UDP_GRO run, or 0 for a single datagram. */
static size_t rx_gro_size(struct msghdr *mh) {
        for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c))
                if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
                        int v;
                        memcpy(&v, CMSG_DATA(c), sizeof(v));
                        return v > 0 ? (size_t) v : 0;
                }
        return 0;
}

static void rx_one(DataSocket *s, usec_t now, size_t i) {
        struct msghdr *mh = &s->rx_msgs[i].msg_hdr;
        uint8_t *buf = s->rx_iov[i].iov_base;
        size_t len = s->rx_msgs[i].msg_len, seg;
        union sockaddr_union local;

        if (mh->msg_flags & MSG_TRUNC) {
                s->manager->drops.malformed++;
                return;
        }
        rx_local_address(s, mh, &local);
        seg = rx_gro_size(mh);
        if (seg == 0 || seg >= len) {
                rx_datagram(s, now, &s->rx_from[i], &local, buf, len);
                return;
        }
        /* A GRO run: equal-size datagrams, the last possibly shorter. */
        for (size_t off = 0; off < len; off += seg)
                rx_datagram(s, now, &s->rx_from[i], &local, buf + off, MIN(seg, len - off));
}

static void tx_flush(DataSocket *s);

static int on_udp(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        DataSocket *s = userdata;
        Manager *m = s->manager;
        usec_t now_usec;
        int n;

        if (revents & EPOLLOUT)
                tx_flush(s);
        if (!(revents & EPOLLIN))
                return 0;
        if (!s->rx_bufs) {
                s->rx_bufs = calloc(DATAPATH_BATCH, s->rx_size);
                if (!s->rx_bufs)
                        return log_oom();
        }
        rx_prepare(s);
        n = recvmmsg(fd, s->rx_msgs, DATAPATH_BATCH, MSG_DONTWAIT, NULL);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                /* ICMP errors (ECONNREFUSED, …) surface here on unconnected sockets: not fatal. */
                log_debug_errno(errno, "recvmmsg() failed, ignoring: %m");
                return 0;
        }
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now_usec);
        for (int i = 0; i < n; i++)
                rx_one(s, now_usec, (size_t) i);
        manager_flush_tx(m);
        return 0;
}

static int socket_set_int(int fd, int level, int opt, int value) {
        return setsockopt(fd, level, opt, &value, sizeof(value)) < 0 ? -errno : 0;
}

int data_socket_new(Manager *m, const union sockaddr_union *bind_addr, DataSocket **ret) {
        _cleanup_(data_socket_freep) DataSocket *s = NULL;
        socklen_t len;
        int r;

        s = new0(DataSocket, 1);
        if (!s)
                return -ENOMEM;
        s->manager = m;
        s->family = bind_addr->sa.sa_family;
        /* Room for the largest MTU= a reload may set (9000), not just today's: slots are only
         * touched as far as datagrams reach, so the idle footprint does not grow. */
        s->buf_size = 9000 + FLUX_TUNNEL_OVERHEAD + 64;

        s->fd = socket(s->family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_UDP);
        if (s->fd < 0)
                return -errno;
        if (s->family == AF_INET6) {
                r = socket_set_int(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
                if (r >= 0)
                        r = socket_set_int(s->fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
        } else
                r = socket_set_int(s->fd, IPPROTO_IP, IP_PKTINFO, 1);
        if (r < 0)
                return r;
        /* Bursts of a whole batch per path: larger buffers, beyond rmem_max/wmem_max if allowed
         * (CAP_NET_ADMIN), else capped by them. */
        if (socket_set_int(s->fd, SOL_SOCKET, SO_RCVBUFFORCE, 4 << 20) < 0)
                (void) socket_set_int(s->fd, SOL_SOCKET, SO_RCVBUF, 4 << 20);
        if (socket_set_int(s->fd, SOL_SOCKET, SO_SNDBUFFORCE, 4 << 20) < 0)
                (void) socket_set_int(s->fd, SOL_SOCKET, SO_SNDBUF, 4 << 20);
        /* Runs of datagrams from one peer (its UDP GSO sends) arrive as one; without UDP_GRO
         * (old kernels) one datagram per slot. */
        s->rx_size = socket_set_int(s->fd, SOL_UDP, UDP_GRO, 1) >= 0 ? 65536 : s->buf_size;

        if (bind(s->fd, &bind_addr->sa, sockaddr_len(bind_addr)) < 0)
                return -errno;
        len = sizeof(s->bound);
        if (getsockname(s->fd, &s->bound.sa, &len) < 0)
                return -errno;

        r = sd_event_add_io(m->event, &s->io, s->fd, EPOLLIN, on_udp, s);
        if (r < 0)
                return r;
        r = sd_event_source_set_priority(s->io, MANAGER_PRIORITY_PACKETS);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(s->io, "data-socket");

        *ret = TAKE_PTR(s);
        return 0;
}

DataSocket *data_socket_free(DataSocket *s) {
        if (!s)
                return NULL;
        sd_event_source_disable_unref(s->io);
        safe_close(s->fd);
        free(s->rx_bufs);
        free(s->tx_bufs);
        return mfree(s);
}

static void manager_tun_update(Manager *m) {
        bool blocked = false;

        for (size_t i = 0; i < m->n_sockets; i++)
                blocked = blocked || m->sockets[i]->tx_blocked;
        m->tun_paused = blocked;
        if (m->tun_source)
                (void) sd_event_source_set_enabled(m->tun_source, blocked ? SD_EVENT_OFF : SD_EVENT_ON);
}

static void tx_set_blocked(DataSocket *s, bool blocked) {
        if (s->tx_blocked == blocked)
                return;
        s->tx_blocked = blocked;
        if (blocked)
                s->manager->drops.send_queue_full++;
        (void) sd_event_source_set_io_events(s->io, blocked ? EPOLLIN | EPOLLOUT : EPOLLIN);
        manager_tun_update(s->manager);
}

/* UDP GSO limits: at most 64 segments (UDP_MAX_SEGMENTS on older kernels) and one IP datagram's
 * worth of payload per message. */
#define GSO_MAX_SEGMENTS 64U
#define GSO_MAX_BYTES 65000U

static bool tx_same_route(const DataSocket *s, size_t a, size_t b) {
        const struct msghdr *x = &s->tx_msgs[a].msg_hdr, *y = &s->tx_msgs[b].msg_hdr;

        return x->msg_namelen == y->msg_namelen && memcmp(&s->tx_to[a], &s->tx_to[b], x->msg_namelen) == 0 &&
               x->msg_controllen == y->msg_controllen &&
               (x->msg_controllen == 0 || memcmp(x->msg_control, y->msg_control, x->msg_controllen) == 0);
}

/* Groups the entries [tx_head, n_tx) into gso_msgs. Returns the number of messages. */
static size_t tx_build(DataSocket *s) {
        size_t n_msgs = 0;

        for (size_t i = s->tx_head; i < s->n_tx;) {
                const struct msghdr *first = &s->tx_msgs[i].msg_hdr;
                size_t j = i + 1, len = s->tx_iov[i].iov_len, bytes = len;
                struct msghdr *mh = &s->gso_msgs[n_msgs].msg_hdr;

                while (!s->gso_off && j < s->n_tx && j - i < GSO_MAX_SEGMENTS && s->tx_iov[j].iov_len <= len &&
                       bytes + s->tx_iov[j].iov_len <= GSO_MAX_BYTES && tx_same_route(s, i, j)) {
                        bytes += s->tx_iov[j].iov_len;
                        if (s->tx_iov[j++].iov_len < len)
                                break; /* a shorter datagram ends the run */
                }
                *mh = *first;
                mh->msg_iov = &s->tx_iov[i];
                mh->msg_iovlen = j - i;
                if (j - i > 1) {
                        uint16_t gso = (uint16_t) len;
                        struct cmsghdr *c;

                        /* The entry's pktinfo (if any), then UDP_SEGMENT. */
                        memcpy(s->gso_cmsg[n_msgs].buf, first->msg_control ?: s->gso_cmsg[n_msgs].buf,
                               first->msg_controllen);
                        mh->msg_control = s->gso_cmsg[n_msgs].buf;
                        mh->msg_controllen = first->msg_controllen + CMSG_SPACE(sizeof(gso));
                        c = (struct cmsghdr *) (s->gso_cmsg[n_msgs].buf + first->msg_controllen);
                        *c = (struct cmsghdr) { .cmsg_len = CMSG_LEN(sizeof(gso)), .cmsg_level = SOL_UDP,
                                                .cmsg_type = UDP_SEGMENT };
                        memcpy(CMSG_DATA(c), &gso, sizeof(gso));
                }
                s->gso_count[n_msgs++] = j - i;
                i = j;
        }
        return n_msgs;
}

/* Backpressure (STYLE.md P5): when the socket buffer is full, keep the rest of the batch, wait
 * for EPOLLOUT and stop reading the TUN meanwhile, so the kernel queues the senders' packets
 * instead of this daemon dropping them. */
static void tx_flush(DataSocket *s) {
        size_t n_msgs = tx_build(s), m = 0;

        while (m < n_msgs) {
                int n = sendmmsg(s->fd, s->gso_msgs + m, (unsigned) (n_msgs - m), MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == ENOBUFS) {
                                tx_set_blocked(s, true);
                                return;
                        }
                        if (s->gso_count[m] > 1 &&
                            (errno == EIO || errno == EINVAL || errno == ENOPROTOOPT || errno == EOPNOTSUPP)) {
                                /* No GSO on this route (no checksum offload, xfrm, small MTU): one
                                 * datagram per message from now on. */
                                s->gso_off = true;
                                n_msgs = tx_build(s);
                                m = 0;
                                continue;
                        }
                        /* A per-destination error (unreachable, …): skip that message only. */
                        s->manager->drops.send_errors += s->gso_count[m];
                        s->tx_head += s->gso_count[m++];
                        continue;
                }
                for (int i = 0; i < n; i++)
                        s->tx_head += s->gso_count[m++];
        }
        s->tx_head = s->n_tx = 0;
        tx_set_blocked(s, false);
}

int data_socket_queue(DataSocket *s, const union sockaddr_union *to, const union sockaddr_union *local,
                      const uint8_t *buf, size_t len) {
        struct msghdr *mh;
        size_t i;

        if (len > s->buf_size)
                return -EMSGSIZE;
        if (to->sa.sa_family != s->family)
                return -EAFNOSUPPORT;
        if (!s->tx_bufs) {
                s->tx_bufs = calloc(DATAPATH_BATCH, s->buf_size);
                if (!s->tx_bufs)
                        return -ENOMEM;
        }
        if (s->n_tx >= DATAPATH_BATCH && !s->tx_blocked)
                tx_flush(s);
        if (s->n_tx >= DATAPATH_BATCH) {
                /* Still blocked: only timers and probe replies get here (the TUN is paused). */
                s->manager->drops.send_errors++;
                return -ENOBUFS;
        }

        i = s->n_tx++;
        memcpy(s->tx_bufs + i * s->buf_size, buf, len);
        s->tx_to[i] = *to;
        s->tx_iov[i] = (struct iovec) { .iov_base = s->tx_bufs + i * s->buf_size, .iov_len = len };
        mh = &s->tx_msgs[i].msg_hdr;
        *mh = (struct msghdr) {
                .msg_name = &s->tx_to[i],
                .msg_namelen = sockaddr_len(to),
                .msg_iov = &s->tx_iov[i],
                .msg_iovlen = 1,
        };

        /* Reply from the address the path's datagrams arrived on (multi-homed servers). */
        if (local && local->sa.sa_family == s->family) {
                struct cmsghdr *c;

                mh->msg_control = s->tx_cmsg[i].buf;
                if (s->family == AF_INET) {
                        struct in_pktinfo pi = { .ipi_spec_dst = local->in.sin_addr };
                        mh->msg_controllen = CMSG_SPACE(sizeof(pi));
                        c = CMSG_FIRSTHDR(mh);
                        *c = (struct cmsghdr) { .cmsg_len = CMSG_LEN(sizeof(pi)), .cmsg_level = IPPROTO_IP,
                                                .cmsg_type = IP_PKTINFO };
                        memcpy(CMSG_DATA(c), &pi, sizeof(pi));
                } else {
                        struct in6_pktinfo pi = { .ipi6_addr = local->in6.sin6_addr };
                        mh->msg_controllen = CMSG_SPACE(sizeof(pi));
                        c = CMSG_FIRSTHDR(mh);
                        *c = (struct cmsghdr) { .cmsg_len = CMSG_LEN(sizeof(pi)), .cmsg_level = IPPROTO_IPV6,
                                                .cmsg_type = IPV6_PKTINFO };
                        memcpy(CMSG_DATA(c), &pi, sizeof(pi));
                }
        }
        if (s->n_tx >= DATAPATH_BATCH && !s->tx_blocked)
                tx_flush(s);
        return 0;
}

void manager_flush_tx(Manager *m) {
        for (size_t i = 0; i < m->n_sockets; i++)
                if (m->sockets[i]->n_tx > 0 && !m->sockets[i]->tx_blocked)
                        tx_flush(m->sockets[i]);
}

DataSocket *manager_pick_socket(Manager *m, int family) {
        for (size_t i = 0; i < m->n_sockets; i++)
                if (m->sockets[i]->family == family)
                        return m->sockets[i];
        return NULL;
}

void manager_tun_write(Manager *m, const uint8_t *ip, size_t len) {
        ssize_t n;

        n = write(m->kernel.tun_fd, ip, len);
        if (n < 0 || (size_t) n != len)
                m->drops.tun_write_errors++;
}

static int on_tun(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        usec_t now_usec;

        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now_usec);
        for (unsigned i = 0; i < DATAPATH_BATCH && !m->tun_paused; i++) {
                const uint8_t *dst;
                Session *s;
                ssize_t n;
                int family;

                n = read(fd, m->tun_buf, m->tun_buf_size);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        log_debug_errno(errno, "Failed to read from TUN, ignoring: %m");
                        break;
                }
                if (ip_packet_destination(m->tun_buf, (size_t) n, &family, &dst) < 0) {
                        m->drops.tun_malformed++;
                        continue;
                }
                s = manager_find_session_by_address(m, family, dst);
                if (!s) {
                        m->drops.tun_no_session++;
                        continue;
                }
                session_send_ip(s, now_usec, m->tun_buf, (size_t) n);
        }
        manager_flush_tx(m);
        return 0;
}

int manager_tun_start(Manager *m) {
        int r;

        m->tun_buf_size = 65536; /* a TUN read never exceeds 64 KiB */
        m->tun_buf = malloc(m->tun_buf_size);
        if (!m->tun_buf)
                return -ENOMEM;
        r = sd_event_add_io(m->event, &m->tun_source, m->kernel.tun_fd, EPOLLIN, on_tun, m);
        if (r < 0)
                return r;
        r = sd_event_source_set_priority(m->tun_source, MANAGER_PRIORITY_PACKETS);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(m->tun_source, "tun");
        return 0;
}
