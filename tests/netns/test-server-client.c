/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A minimal Fluxify client for the server's data-plane test, built from the project's own
 * libraries: the control client sets up the session (TLS 1.3, mutual auth, exporter secret), a
 * client FluxTunnel carries IP packets over N UDP sockets (one path each). No TUN: the inner
 * packets (ICMP echo requests to the server's tunnel addresses) are built here, and the replies
 * come back through deliver_ip().
 *
 * Steps, each reported as one JSON line on stdout:
 *   established   session id and addresses from the control response
 *   paths_up      every path registered and acknowledged, with its probe RTT
 *   echo          IPv4 and IPv6 echo through the server's TUN: requests sent, replies received,
 *                 duplicate copies received (the server's scheduler is redundant: --scheduler)
 *   attacks       replayed data datagrams, a datagram for an unknown session, a forged one, a
 *                 runt, and an echo with a spoofed inner source (none may produce a reply)
 *   detached      --resume: the control connection was dropped without a bye; echo still works
 *   resumed       --resume: a new control connection resumed the same session (token)
 *                 (--drop-control: never resume, hold the data plane until the server gives up)
 *   ready         then hold the session until --hold seconds pass or the server ends it
 *   closed        how the control connection ended
 * Exit status 0 when every step completed; the harness checks the server's counters over D-Bus. */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/icmp6.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/ip_icmp.h>
#include <stdio.h>
#include <sys/random.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "alloc-util.h"
#include "control.h"
#include "fd-util.h"
#include "log.h"
#include "pki.h"
#include "tunnel.h"
#include "wire.h"

#define MAX_PATHS 4
#define ECHO_COUNT 3
#define ECHO_ID 0x4655
#define REPLAY_COUNT 5

typedef enum Step {
        STEP_CONNECTING,
        STEP_PATHS,
        STEP_ECHO,
        STEP_ATTACKS,
        STEP_DETACHED,  /* --resume: control connection dropped, data plane still in use */
        STEP_RESUMING,
        STEP_HOLD,
        STEP_DONE,
} Step;

typedef struct Client {
        sd_event *event;
        ControlClient *control;
        ControlSession session;
        FluxTunnel *tunnel;
        sd_event_source *tick;
        sd_event_source *step_timer;
        Step step;
        usec_t step_deadline;

        unsigned n_paths;
        int fds[MAX_PATHS];
        sd_event_source *io[MAX_PATHS];
        FluxPath *paths[MAX_PATHS];

        union sockaddr_union server;
        union in_addr_union target4, target6;
        unsigned echo_replies4, echo_replies6, unexpected_replies;
        uint8_t captured[2048];
        size_t captured_len;
        int captured_fd;
        usec_t hold;
        int result;
        unsigned protocol;
        bool resume_test;
        bool drop_only;         /* --drop-control: lose the control connection and never resume */
        usec_t resume_at;
        const PkiBundle *bundle;
        const char *server_name;
        const char *scheduler;  /* --scheduler: asked of the server in the request; NULL = its default */
} Client;

static int client_connect(Client *c, bool resume);

static void client_finish(Client *c, int result) {
        if (c->result == 0)
                c->result = result;
        c->step = STEP_DONE;
        (void) sd_event_exit(c->event, 0);
}

/* ---- inner packets ---- */

static uint16_t checksum(const void *data, size_t len, uint32_t sum) {
        const uint8_t *p = data;

        for (size_t i = 0; i + 1 < len; i += 2)
                sum += (uint32_t) (p[i] << 8 | p[i + 1]);
        if (len & 1)
                sum += (uint32_t) p[len - 1] << 8;
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        return htons((uint16_t) ~sum);
}

static size_t build_echo4(uint8_t *buf, const struct in_addr *src, const struct in_addr *dst, uint16_t seq) {
        struct iphdr *ip = (struct iphdr *) buf;
        struct icmphdr *icmp = (struct icmphdr *) (buf + sizeof(*ip));
        size_t payload = 32, len = sizeof(*ip) + sizeof(*icmp) + payload;

        memset(buf, 0, len);
        *ip = (struct iphdr) { .version = 4, .ihl = 5, .tot_len = htons((uint16_t) len), .ttl = 64,
                               .protocol = IPPROTO_ICMP, .saddr = src->s_addr, .daddr = dst->s_addr };
        ip->check = checksum(ip, sizeof(*ip), 0);
        icmp->type = ICMP_ECHO;
        icmp->un.echo.id = htons(ECHO_ID);
        icmp->un.echo.sequence = htons(seq);
        memset(buf + sizeof(*ip) + sizeof(*icmp), 0xa5, payload);
        icmp->checksum = checksum(icmp, sizeof(*icmp) + payload, 0);
        return len;
}

static size_t build_echo6(uint8_t *buf, const struct in6_addr *src, const struct in6_addr *dst, uint16_t seq) {
        struct ip6_hdr *ip6 = (struct ip6_hdr *) buf;
        struct icmp6_hdr *icmp = (struct icmp6_hdr *) (buf + sizeof(*ip6));
        size_t payload = 32, plen = sizeof(*icmp) + payload;
        uint32_t sum = 0;

        memset(buf, 0, sizeof(*ip6) + plen);
        ip6->ip6_flow = htonl(6U << 28);
        ip6->ip6_plen = htons((uint16_t) plen);
        ip6->ip6_nxt = IPPROTO_ICMPV6;
        ip6->ip6_hlim = 64;
        ip6->ip6_src = *src;
        ip6->ip6_dst = *dst;
        icmp->icmp6_type = ICMP6_ECHO_REQUEST;
        icmp->icmp6_id = htons(ECHO_ID);
        icmp->icmp6_seq = htons(seq);
        memset(buf + sizeof(*ip6) + sizeof(*icmp), 0x5a, payload);
        /* RFC 8200 §8.1 pseudo-header: addresses, length, next header. */
        for (size_t i = 0; i < 16; i += 2)
                sum += (uint32_t) (src->s6_addr[i] << 8 | src->s6_addr[i + 1]) +
                       (uint32_t) (dst->s6_addr[i] << 8 | dst->s6_addr[i + 1]);
        sum += (uint32_t) plen + IPPROTO_ICMPV6;
        icmp->icmp6_cksum = checksum(icmp, plen, sum);
        return sizeof(*ip6) + plen;
}

/* ---- tunnel callbacks ---- */

static int on_send_datagram(FluxTunnel *t, FluxPath *path, const uint8_t *buf, size_t len, void *userdata) {
        Client *c = userdata;
        int fd = (int) (intptr_t) flux_path_get_userdata(path);

        /* Keep the first data datagram of the echo step for the replay attack. */
        if (c->step == STEP_ECHO && c->captured_len == 0 && len >= 2 && buf[1] == FLUX_PACKET_DATA &&
            len <= sizeof(c->captured)) {
                memcpy(c->captured, buf, len);
                c->captured_len = len;
                c->captured_fd = fd;
        }
        if (send(fd, buf, len, MSG_DONTWAIT) < 0)
                return -errno;
        return 0;
}

static void on_deliver_ip(FluxTunnel *t, const uint8_t *ip, size_t len, void *userdata) {
        Client *c = userdata;

        /* Copies: the engine's buffer carries no alignment guarantee. */
        if (len >= sizeof(struct iphdr) + sizeof(struct icmphdr) && ip[0] >> 4 == 4 && ip[9] == IPPROTO_ICMP) {
                struct icmphdr icmp;
                memcpy(&icmp, ip + (ip[0] & 0xf) * 4, sizeof(icmp));
                if (icmp.type == ICMP_ECHOREPLY && ntohs(icmp.un.echo.id) == ECHO_ID) {
                        if (c->step == STEP_ECHO || c->step == STEP_DETACHED)
                                c->echo_replies4++;
                        else
                                c->unexpected_replies++;
                }
        } else if (len >= sizeof(struct ip6_hdr) + sizeof(struct icmp6_hdr) && ip[0] >> 4 == 6 &&
                   ip[6] == IPPROTO_ICMPV6) {
                struct icmp6_hdr icmp;
                memcpy(&icmp, ip + sizeof(struct ip6_hdr), sizeof(icmp));
                if (icmp.icmp6_type == ICMP6_ECHO_REPLY && ntohs(icmp.icmp6_id) == ECHO_ID) {
                        if (c->step == STEP_ECHO || c->step == STEP_DETACHED)
                                c->echo_replies6++;
                        else
                                c->unexpected_replies++;
                }
        }
}

static int on_random(uint8_t *buf, size_t len, void *userdata) {
        return getrandom(buf, len, 0) == (ssize_t) len ? 0 : -EIO;
}

static const FluxTunnelCallbacks tunnel_callbacks = {
        .send_datagram = on_send_datagram,
        .deliver_ip = on_deliver_ip,
        .random_bytes = on_random,
};

static void client_schedule(Client *c) {
        usec_t next = flux_tunnel_next_wakeup(c->tunnel);

        if (next == USEC_INFINITY)
                return;
        (void) sd_event_source_set_time(c->tick, next);
        (void) sd_event_source_set_enabled(c->tick, SD_EVENT_ONESHOT);
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        Client *c = userdata;
        usec_t n;

        (void) sd_event_now(c->event, CLOCK_MONOTONIC, &n);
        (void) flux_tunnel_tick(c->tunnel, n);
        client_schedule(c);
        return 0;
}

static int on_udp(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Client *c = userdata;
        uint8_t buf[65536];
        usec_t n;

        (void) sd_event_now(c->event, CLOCK_MONOTONIC, &n);
        for (int i = 0; i < 64; i++) {
                ssize_t len = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
                FluxPath *path = NULL;

                if (len < 0)
                        break;
                for (unsigned k = 0; k < c->n_paths; k++)
                        if (c->fds[k] == fd)
                                path = c->paths[k];
                (void) flux_tunnel_receive(c->tunnel, n, NULL, path, buf, (size_t) len);
        }
        client_schedule(c);
        return 0;
}

/* ---- steps ---- */

static bool all_paths_up(Client *c) {
        for (unsigned i = 0; i < c->n_paths; i++)
                if (flux_path_get_state(c->paths[i]) != FLUX_PATH_UP ||
                    (c->protocol == 2 && flux_path_get_rtt(c->paths[i]) == 0)) /* v1 has no probes */
                        return false;
        return true;
}

static void send_echoes(Client *c) {
        uint8_t buf[256];
        usec_t n;

        (void) sd_event_now(c->event, CLOCK_MONOTONIC, &n);
        for (uint16_t seq = 1; seq <= ECHO_COUNT; seq++) {
                if (c->session.addresses.has4)
                        (void) flux_tunnel_send_ip(c->tunnel, n, buf,
                                                   build_echo4(buf, &c->session.addresses.address4.in, &c->target4.in, seq));
                if (c->session.addresses.has6)
                        (void) flux_tunnel_send_ip(c->tunnel, n, buf,
                                                   build_echo6(buf, &c->session.addresses.address6.in6, &c->target6.in6, seq));
        }
        client_schedule(c);
}

static void send_attacks(Client *c) {
        uint8_t buf[2048], echo[256];
        struct in_addr spoofed;
        uint32_t bogus;
        usec_t n;

        /* Replays of an authentic data datagram: the server's window must reject each. */
        for (int i = 0; i < REPLAY_COUNT; i++)
                (void) send(c->captured_fd, c->captured, c->captured_len, 0);

        /* Unknown session: the same bytes under another session id. */
        memcpy(buf, c->captured, c->captured_len);
        do
                (void) getrandom(&bogus, sizeof(bogus), 0);
        while (bogus == 0 || bogus == htonl(c->session.session_id));
        memcpy(buf + 2, &bogus, 4);
        (void) send(c->captured_fd, buf, c->captured_len, 0);

        /* Forged: right session, a fresh packet counter (so the replay window lets it through to
         * authentication: nonce = salt(4) || counter(8) after the header), flipped tag byte. */
        memcpy(buf, c->captured, c->captured_len);
        buf[FLUX_WIRE_HEADER_SIZE + 4 + 5] ^= 0x40;
        buf[c->captured_len - 1] ^= 0x01;
        (void) send(c->captured_fd, buf, c->captured_len, 0);

        /* Runt. */
        (void) send(c->captured_fd, "\x02\x01\x00", 3, 0);

        /* Authentic, but the inner source is not ours. */
        (void) sd_event_now(c->event, CLOCK_MONOTONIC, &n);
        (void) inet_pton(AF_INET, "10.8.0.250", &spoofed);
        (void) flux_tunnel_send_ip(c->tunnel, n, echo, build_echo4(echo, &spoofed, &c->target4.in, 99));
        client_schedule(c);
}

static void print_paths(Client *c) {
        printf("{\"event\":\"paths_up\",\"paths\":%u,\"rtt_usec\":[", c->n_paths);
        for (unsigned i = 0; i < c->n_paths; i++)
                printf("%s%" PRIu64, i ? "," : "", (uint64_t) flux_path_get_rtt(c->paths[i]));
        printf("]}\n");
        fflush(stdout);
}

static int on_step(sd_event_source *s, uint64_t usec, void *userdata) {
        Client *c = userdata;
        usec_t n;

        (void) sd_event_now(c->event, CLOCK_MONOTONIC, &n);
        switch (c->step) {
        case STEP_PATHS:
                if (all_paths_up(c)) {
                        print_paths(c);
                        c->step = STEP_ECHO;
                        c->step_deadline = n + 3 * USEC_PER_SEC;
                        send_echoes(c);
                } else if (n > c->step_deadline) {
                        printf("{\"event\":\"error\",\"step\":\"paths_up\"}\n");
                        client_finish(c, -ETIMEDOUT);
                        return 0;
                }
                break;
        case STEP_ECHO: {
                unsigned want4 = c->session.addresses.has4 ? ECHO_COUNT : 0;
                unsigned want6 = c->session.addresses.has6 ? ECHO_COUNT : 0;
                if ((c->echo_replies4 >= want4 && c->echo_replies6 >= want6) || n > c->step_deadline) {
                        printf("{\"event\":\"echo\",\"sent4\":%u,\"received4\":%u,\"sent6\":%u,\"received6\":%u,"
                               "\"duplicates\":%" PRIu64 "}\n",
                               want4, c->echo_replies4, want6, c->echo_replies6,
                               flux_tunnel_get_stats(c->tunnel)->duplicates);
                        fflush(stdout);
                        if (c->captured_len == 0) {
                                client_finish(c, -ENODATA);
                                return 0;
                        }
                        c->step = STEP_ATTACKS;
                        c->step_deadline = n + 500 * USEC_PER_MSEC;
                        send_attacks(c);
                }
                break;
        }
        case STEP_ATTACKS:
                if (n > c->step_deadline) {
                        printf("{\"event\":\"attacks\",\"replayed\":%d,\"unexpected_replies\":%u}\n", REPLAY_COUNT,
                               c->unexpected_replies);
                        fflush(stdout);
                        if (c->resume_test) {
                                /* Lose the control connection (no bye): the server keeps the data plane. */
                                c->control = control_client_free(c->control);
                                c->echo_replies4 = c->echo_replies6 = 0;
                                c->step = STEP_DETACHED;
                                c->step_deadline = n + 2 * USEC_PER_SEC;
                                send_echoes(c);
                                break;
                        }
                        printf("{\"event\":\"ready\",\"session_id\":%" PRIu32 "}\n", c->session.session_id);
                        fflush(stdout);
                        c->step = STEP_HOLD;
                        c->step_deadline = n + c->hold;
                }
                break;
        case STEP_DETACHED:
                if ((c->echo_replies4 >= ECHO_COUNT && c->echo_replies6 >= ECHO_COUNT) || n > c->step_deadline) {
                        printf("{\"event\":\"detached\",\"received4\":%u,\"received6\":%u}\n", c->echo_replies4,
                               c->echo_replies6);
                        fflush(stdout);
                        if (c->drop_only) {
                                printf("{\"event\":\"ready\",\"session_id\":%" PRIu32 "}\n", c->session.session_id);
                                fflush(stdout);
                                c->step = STEP_HOLD;
                                c->step_deadline = n + c->hold;
                                break;
                        }
                        /* Stay detached a moment so the server's state can be observed. */
                        c->step = STEP_RESUMING;
                        c->resume_at = n + 1500 * USEC_PER_MSEC;
                        c->step_deadline = c->resume_at + 10 * USEC_PER_SEC;
                }
                break;
        case STEP_RESUMING:
                if (!c->control && n >= c->resume_at && client_connect(c, true) < 0) {
                        client_finish(c, -ECONNREFUSED);
                        return 0;
                }
                if (n > c->step_deadline) {
                        printf("{\"event\":\"error\",\"step\":\"resume\"}\n");
                        client_finish(c, -ETIMEDOUT);
                        return 0;
                }
                break;
        case STEP_HOLD:
                if (n > c->step_deadline) {
                        /* The bye is flushed by the loop: leave it a moment before exiting. A
                         * version 1 session has no control connection left to say it on. */
                        if (c->protocol == 2 && c->control)
                                control_client_bye(c->control, "test done"); /* freed in main() */
                        else
                                c->control = control_client_free(c->control);
                        printf("{\"event\":\"closed\",\"error\":0,\"message\":\"bye sent\"}\n");
                        fflush(stdout);
                        c->step = STEP_DONE;
                        (void) sd_event_add_time_relative(c->event, NULL, CLOCK_MONOTONIC, 300 * USEC_PER_MSEC, 0,
                                                          NULL, NULL);
                        return 0;
                }
                break;
        default:
                break;
        }
        (void) sd_event_source_set_time(c->step_timer, n + 20 * USEC_PER_MSEC);
        (void) sd_event_source_set_enabled(c->step_timer, SD_EVENT_ONESHOT);
        return 0;
}

static int open_path_socket(Client *c, unsigned i) {
        union sockaddr_union to = c->server;
        int fd, r;

        if (to.sa.sa_family == AF_INET)
                to.in.sin_port = htons(c->session.udp_port);
        else
                to.in6.sin6_port = htons(c->session.udp_port);
        fd = socket(to.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, &to.sa, sockaddr_len(&to)) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        c->fds[i] = fd;
        return sd_event_add_io(c->event, &c->io[i], fd, EPOLLIN, on_udp, c);
}

static void on_established(ControlClient *cc, const ControlSession *session, void *userdata) {
        Client *c = userdata;
        char a4[INET6_ADDRSTRLEN] = "", a6[INET6_ADDRSTRLEN] = "";
        FluxTunnelConfig tc;
        usec_t n;
        int r;

        if (c->step == STEP_RESUMING) {
                printf("{\"event\":\"resumed\",\"session_id\":%" PRIu32 ",\"resumed\":%s}\n", session->session_id,
                       session->resumed ? "true" : "false");
                printf("{\"event\":\"ready\",\"session_id\":%" PRIu32 "}\n", session->session_id);
                fflush(stdout);
                if (!session->resumed || session->session_id != c->session.session_id) {
                        client_finish(c, -ESTALE);
                        return;
                }
                memcpy(c->session.resume_token, session->resume_token, CONTROL_TOKEN_SIZE);
                c->step = STEP_HOLD;
                (void) sd_event_now(c->event, CLOCK_MONOTONIC, &c->step_deadline);
                c->step_deadline += c->hold;
                return;
        }
        c->session = *session;
        if (session->addresses.has4)
                (void) in_addr_to_string(AF_INET, &session->addresses.address4, a4, sizeof(a4));
        if (session->addresses.has6)
                (void) in_addr_to_string(AF_INET6, &session->addresses.address6, a6, sizeof(a6));
        printf("{\"event\":\"established\",\"session_id\":%" PRIu32 ",\"protocol\":%u,\"address4\":\"%s\","
               "\"address6\":\"%s\",\"udp_port\":%u,\"mtu\":%u}\n",
               session->session_id, session->protocol, a4, a6, session->udp_port, session->mtu);
        fflush(stdout);

        (void) sd_event_now(c->event, CLOCK_MONOTONIC, &n);
        tc = (FluxTunnelConfig) {
                .role = FLUX_TUNNEL_CLIENT,
                .version = (uint8_t) session->protocol,
                .session_id = session->session_id,
                .secret = session->data_secret,
                .secret_size = CONTROL_KEY_SIZE,
        };
        r = flux_tunnel_new(&tc, &tunnel_callbacks, c, n, &c->tunnel);
        if (r < 0) {
                printf("{\"event\":\"error\",\"step\":\"tunnel\",\"error\":%d}\n", r);
                client_finish(c, r);
                return;
        }
        for (unsigned i = 0; i < c->n_paths; i++) {
                r = open_path_socket(c, i);
                if (r >= 0)
                        r = flux_tunnel_add_path(c->tunnel, n, (uint16_t) (i + 1), FLUX_PATH_PRIMARY, 1.0,
                                                 (void *) (intptr_t) c->fds[i], &c->paths[i]);
                if (r < 0) {
                        printf("{\"event\":\"error\",\"step\":\"path\",\"error\":%d}\n", r);
                        client_finish(c, r);
                        return;
                }
        }
        (void) sd_event_add_time(c->event, &c->tick, CLOCK_MONOTONIC, 0, USEC_PER_MSEC, on_tick, c);
        client_schedule(c);
        c->step = STEP_PATHS;
        c->step_deadline = n + 5 * USEC_PER_SEC;
        (void) sd_event_add_time(c->event, &c->step_timer, CLOCK_MONOTONIC, n + 20 * USEC_PER_MSEC, 0, on_step, c);
}

static void on_closed(ControlClient *cc, int error, const char *message, void *userdata) {
        Client *c = userdata;

        printf("{\"event\":\"closed\",\"error\":%d,\"message\":\"%s\"}\n", error, strempty(message));
        fflush(stdout);
        c->control = control_client_free(cc);
        /* A bye from the server while holding is the expected end (Terminate, revocation). */
        client_finish(c, c->step == STEP_HOLD && error == 0 ? 0 : (error ?: -ECONNRESET));
}

static const ControlClientCallbacks control_callbacks = {
        .established = on_established,
        .closed = on_closed,
};

static int client_connect(Client *c, bool resume) {
        ControlClientConfig cfg = {
                .bundle = c->bundle,
                .server_name = c->server_name,
                .remote = c->server,
                .protocol = c->protocol,
                .resume = resume,
                .resume_session_id = resume ? c->session.session_id : 0,
                .scheduler = c->scheduler,
        };

        if (resume)
                memcpy(cfg.resume_token, c->session.resume_token, CONTROL_TOKEN_SIZE);
        return control_client_new(c->event, &cfg, &control_callbacks, c, &c->control);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "bundle", required_argument, NULL, 'b' },
                { "server", required_argument, NULL, 's' },
                { "server-name", required_argument, NULL, 'n' },
                { "control-port", required_argument, NULL, 'p' },
                { "paths", required_argument, NULL, 'P' },
                { "hold", required_argument, NULL, 'H' },
                { "target4", required_argument, NULL, '4' },
                { "target6", required_argument, NULL, '6' },
                { "protocol", required_argument, NULL, 'V' },
                { "resume", no_argument, NULL, 'R' },
                { "drop-control", no_argument, NULL, 'D' },
                { "scheduler", required_argument, NULL, 'S' },
                {},
        };
        _cleanup_(pki_bundle_freep) PkiBundle *bundle = NULL;
        const char *bundle_path = NULL, *server = NULL, *server_name = NULL;
        unsigned port = CONTROL_PORT_DEFAULT;
        Client c = { .n_paths = 1, .hold = 30 * USEC_PER_SEC, .captured_fd = -EBADF, .protocol = 2 };
        int opt, r;

        log_open();
        (void) inet_pton(AF_INET, "10.8.0.1", &c.target4.in);
        (void) inet_pton(AF_INET6, "fd00:8::1", &c.target6.in6);
        while ((opt = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (opt) {
                case 'b': bundle_path = optarg; break;
                case 's': server = optarg; break;
                case 'n': server_name = optarg; break;
                case 'p': port = (unsigned) atoi(optarg); break;
                case 'P': c.n_paths = (unsigned) atoi(optarg); break;
                case 'H': c.hold = (usec_t) atoi(optarg) * USEC_PER_SEC; break;
                case '4': (void) inet_pton(AF_INET, optarg, &c.target4.in); break;
                case '6': (void) inet_pton(AF_INET6, optarg, &c.target6.in6); break;
                case 'V': c.protocol = (unsigned) atoi(optarg) == 1 ? 1 : 2; break;
                case 'R': c.resume_test = true; break;
                case 'D': c.resume_test = c.drop_only = true; break;
                case 'S': c.scheduler = optarg; break;
                default: return 2;
                }
        if (c.n_paths < 1 || c.n_paths > MAX_PATHS)
                c.n_paths = 1;
        if (!bundle_path || !server) {
                fprintf(stderr, "usage: %s --bundle FILE --server ADDRESS [--server-name NAME] [--control-port N] "
                        "[--paths N] [--hold SEC] [--protocol 1|2] [--resume|--drop-control] [--scheduler NAME]\n", program_invocation_short_name);
                return 2;
        }
        r = pki_bundle_load(bundle_path, &bundle);
        if (r < 0)
                return log_error_errno(r, "Failed to load %s: %m", bundle_path), 1;
        r = sockaddr_from_string(server, (uint16_t) port, &c.server, NULL);
        if (r < 0)
                return log_error_errno(r, "Bad server address %s: %m", server), 1;
        for (unsigned i = 0; i < MAX_PATHS; i++)
                c.fds[i] = -EBADF;

        r = sd_event_default(&c.event);
        if (r < 0)
                return 1;
        c.bundle = bundle;
        c.server_name = server_name ?: server;
        r = client_connect(&c, false);
        if (r < 0)
                return log_error_errno(r, "Failed to start the control connection: %m"), 1;
        (void) sd_event_add_time_relative(c.event, NULL, CLOCK_MONOTONIC, 60 * USEC_PER_SEC + c.hold, 0, NULL,
                                          (void *) (intptr_t) ETIMEDOUT);
        r = sd_event_loop(c.event);

        for (unsigned i = 0; i < MAX_PATHS; i++) {
                sd_event_source_disable_unref(c.io[i]);
                safe_close(c.fds[i]);
        }
        sd_event_source_disable_unref(c.tick);
        sd_event_source_disable_unref(c.step_timer);
        flux_tunnel_free(c.tunnel);
        control_client_free(c.control);
        sd_event_unref(c.event);
        if (r != 0 || c.result < 0)
                fprintf(stderr, "test client failed: %s\n", strerror(-(c.result ?: r)));
        return r == 0 && c.result == 0 ? 0 : 1;
}
