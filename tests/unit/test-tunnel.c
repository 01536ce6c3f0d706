/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The tunnel engine end to end: a client and a server FluxTunnel wired by simulated paths
 * (datapath-sim.h), on a simulated clock. */

#include <check.h>
#include <jansson.h>
#include <string.h>

#include "check-util.h"
#include "datapath-sim.h"
#include "in-addr-util.h"
#include "path.h"
#include "proto-test-util.h"
#include "tunnel.h"
#include "wire.h"

static const usec_t MS = USEC_PER_MSEC;

static FluxPath *server_path(Sim *s, uint16_t id) {
        FluxPath *p = flux_tunnel_find_path(s->server, id);

        ck_assert_ptr_nonnull(p);
        return p;
}

START_TEST(test_registration_and_rtt) {
        Sim s;
        usec_t t0;

        sim_init(&s, 2, FLUX_WIRE_VERSION_2, FLUX_SCHEDULER_WEIGHTED);
        s.up[1].delay = s.down[1].delay = 20 * MS;
        t0 = s.now;
        ck_assert_uint_eq(flux_tunnel_next_wakeup(s.client), 0); /* registration due at once */
        ck_assert_int_eq(flux_path_get_state(s.cpath[0]), FLUX_PATH_PROBING);
        sim_run(&s, t0 + 100 * MS, NULL);

        /* REGISTER -> REGISTER_ACK: both paths up on the client after one round trip. */
        ck_assert_int_eq(flux_path_get_state(s.cpath[0]), FLUX_PATH_UP);
        ck_assert_int_eq(flux_path_get_state(s.cpath[1]), FLUX_PATH_UP);
        ck_assert_uint_eq(flux_tunnel_get_n_paths(s.server), 2);
        ck_assert_int_eq(flux_path_get_state(server_path(&s, 100)), FLUX_PATH_UP);
        ck_assert_int_eq(sim_path_of_addr(flux_path_get_remote_address(server_path(&s, 101))), 1);

        /* Idle: probes every couple of seconds keep measuring. True round trip on both sides. */
        sim_run(&s, t0 + 5 * USEC_PER_SEC, NULL);
        ck_assert_uint_ge(flux_path_get_rtt(s.cpath[0]), 9 * MS);
        ck_assert_uint_le(flux_path_get_rtt(s.cpath[0]), 11 * MS);
        ck_assert_uint_ge(flux_path_get_rtt(s.cpath[1]), 39 * MS);
        ck_assert_uint_le(flux_path_get_rtt(s.cpath[1]), 41 * MS);
        ck_assert_uint_ge(flux_path_get_rtt(server_path(&s, 101)), 39 * MS);
        ck_assert_uint_le(flux_path_get_rtt(server_path(&s, 101)), 41 * MS);
        ck_assert_uint_le(flux_path_get_jitter(s.cpath[1]), 21 * MS);
        ck_assert_uint_eq(flux_path_get_loss_ppm(s.cpath[0]), 0);
        ck_assert_uint_gt(flux_path_get_last_rx(s.cpath[0]), t0);
        ck_assert_uint_gt(flux_path_get_rx_bytes(s.cpath[0]), 0);
        ck_assert_uint_gt(flux_path_get_tx_bytes(server_path(&s, 100)), 0);
        /* Idle cadence: a handful of probes in 5 s, not 100. */
        ck_assert_uint_le(flux_path_get_tx_packets(s.cpath[0]), 8);
        ck_assert_uint_eq(flux_tunnel_get_stats(s.server)->auth_failures, 0);
        ck_assert_uint_eq(flux_tunnel_get_stats(s.server)->replay_drops, 0);
        sim_done(&s);
}
END_TEST

START_TEST(test_data_both_ways) {
        Sim s;
        SimTraffic up = { .rate = 200000, .size = 1000, .next = 0 };
        SimTraffic down = { .rate = 200000, .size = 1000, .downlink = true };

        sim_init(&s, 2, FLUX_WIRE_VERSION_2, FLUX_SCHEDULER_WEIGHTED);
        /* Each path alone is too slow for the offered load, so both must carry it. */
        for (int i = 0; i < 2; i++)
                s.up[i].rate = s.down[i].rate = 150000;
        sim_run(&s, s.now + 100 * MS, NULL);
        up.next = s.now;
        sim_run(&s, s.now + USEC_PER_SEC, &up);
        down.next = s.now;
        sim_run(&s, s.now + USEC_PER_SEC, &down);
        sim_run(&s, s.now + 200 * MS, NULL);

        ck_assert_uint_eq(s.at_server.packets, up.counter);
        ck_assert_uint_eq(s.at_client.packets, down.counter);
        /* Striping over paths whose capacity is still being learnt may reorder a packet or two at
         * the start, never lose one. */
        ck_assert_uint_le(s.at_server.out_of_order, 2);
        ck_assert_uint_le(s.at_client.out_of_order, 2);
        ck_assert_uint_eq(flux_tunnel_get_stats(s.server)->rx_packets, up.counter);
        ck_assert_uint_eq(flux_tunnel_get_stats(s.client)->tx_packets, up.counter);
        ck_assert_uint_eq(flux_tunnel_get_stats(s.client)->rx_bytes, down.counter * 1000);
        /* Both paths carried data both ways. */
        for (int i = 0; i < 2; i++) {
                ck_assert_uint_gt(s.up[i].data_bytes, 50000);
                ck_assert_uint_gt(s.down[i].data_bytes, 50000);
        }
        sim_done(&s);
}
END_TEST

START_TEST(test_replay_forgery_session) {
        Sim s;
        SimTraffic up = { .rate = 100000, .size = 500 };
        uint8_t d[2048];
        size_t n;
        union sockaddr_union from;
        const FluxTunnelStats *st;
        uint8_t ver;
        uint32_t sid;

        sim_init(&s, 1, FLUX_WIRE_VERSION_2, FLUX_SCHEDULER_WEIGHTED);
        s.capture_data_only = true;
        sim_run(&s, s.now + 100 * MS, NULL);
        up.next = s.now;
        sim_run(&s, s.now + 100 * MS, &up);
        sim_run(&s, s.now + 100 * MS, NULL);
        st = flux_tunnel_get_stats(s.server);
        ck_assert_uint_eq(s.at_server.packets, up.counter);
        ck_assert_uint_gt(s.last_up_len, 0);
        from = sim_addr(0);

        ck_assert_int_eq(flux_tunnel_peek_session(s.last_up, s.last_up_len, &ver, &sid), 0);
        ck_assert_uint_eq(ver, 2);
        ck_assert_uint_eq(sid, SIM_SESSION_ID);

        /* Replayed: authentic, but its counter was seen. Nothing delivered. */
        memcpy(d, s.last_up, n = s.last_up_len);
        ck_assert_int_eq(flux_tunnel_receive(s.server, s.now, &from, NULL, d, n), FLUX_RX_REPLAY);
        ck_assert_uint_eq(st->replay_drops, 1);

        /* Forged: a fresh counter (else the replay check stops it first), plus one bit flipped in
         * the ciphertext, the tag, or the header (AAD). */
        memcpy(d, s.last_up, n);
        d[FLUX_WIRE_HEADER_SIZE + 4 + 6] ^= 0x10;
        ck_assert_int_eq(flux_tunnel_receive(s.server, s.now, &from, NULL, d, n), FLUX_RX_AUTH_FAILED);
        d[40] ^= 1;
        ck_assert_int_eq(flux_tunnel_receive(s.server, s.now, &from, NULL, d, n), FLUX_RX_AUTH_FAILED);
        memcpy(d, s.last_up, n);
        d[FLUX_WIRE_HEADER_SIZE + 4 + 6] ^= 0x20;
        d[n - 1] ^= 0x80;
        ck_assert_int_eq(flux_tunnel_receive(s.server, s.now, &from, NULL, d, n), FLUX_RX_AUTH_FAILED);
        memcpy(d, s.last_up, n);
        d[FLUX_WIRE_HEADER_SIZE + 4 + 6] ^= 0x40;
        d[6 + 3] ^= 1; /* path sequence */
        ck_assert_int_eq(flux_tunnel_receive(s.server, s.now, &from, NULL, d, n), FLUX_RX_AUTH_FAILED);
        ck_assert_uint_eq(st->auth_failures, 4);
        /* The failed attempts did not burn their counters: the window only moves on authentic
         * packets, and the real traffic goes on. */
        ck_assert_uint_eq(st->replay_drops, 1);

        /* Wrong session: not even decrypted. */
        memcpy(d, s.last_up, n);
        d[5] ^= 1;
        ck_assert_int_eq(flux_tunnel_receive(s.server, s.now, &from, NULL, d, n), FLUX_RX_WRONG_SESSION);
        ck_assert_uint_eq(st->wrong_session, 1);

        /* Garbage and truncation. */
        ck_assert_int_eq(flux_tunnel_receive(s.server, s.now, &from, NULL, d, 10), FLUX_RX_MALFORMED);
        memcpy(d, s.last_up, n);
        ck_assert_int_eq(flux_tunnel_receive(s.server, s.now, &from, NULL, d, n - 1), FLUX_RX_MALFORMED);
        d[0] = 1; /* version 1 datagram to a version 2 tunnel */
        ck_assert_int_eq(flux_tunnel_receive(s.server, s.now, &from, NULL, d, n), FLUX_RX_MALFORMED);

        ck_assert_uint_eq(s.at_server.packets, up.counter);
        sim_done(&s);
}
END_TEST

START_TEST(test_spoofed_source) {
        Sim s;
        uint8_t pkt[200];

        sim_init(&s, 1, FLUX_WIRE_VERSION_2, FLUX_SCHEDULER_WEIGHTED);
        sim_run(&s, s.now + 100 * MS, NULL);
        /* Another client's address, then an outsider's, then ours. */
        sim_make_ip(pkt, sizeof(pkt), 0x0a080003, SIM_SERVER_IP, 1, 1);
        ck_assert_int_eq(flux_tunnel_send_ip(s.client, s.now, pkt, sizeof(pkt)), 1);
        sim_make_ip(pkt, sizeof(pkt), 0x08080808, SIM_SERVER_IP, 2, 1);
        ck_assert_int_eq(flux_tunnel_send_ip(s.client, s.now, pkt, sizeof(pkt)), 1);
        sim_make_ip(pkt, sizeof(pkt), SIM_CLIENT_IP, SIM_SERVER_IP, 3, 1);
        ck_assert_int_eq(flux_tunnel_send_ip(s.client, s.now, pkt, sizeof(pkt)), 1);
        sim_run(&s, s.now + 100 * MS, NULL);
        ck_assert_uint_eq(flux_tunnel_get_stats(s.server)->spoofed_drops, 2);
        ck_assert_uint_eq(s.at_server.packets, 1);
        ck_assert_uint_eq(s.at_server.last_counter, 3);
        /* In the middle of a flow: the spoofed packets consumed data sequence numbers, yet the
         * good ones behind them are not held up. */
        for (uint32_t i = 4; i < 40; i++) {
                sim_make_ip(pkt, sizeof(pkt), i % 3 ? SIM_CLIENT_IP : 0x0a080009, SIM_SERVER_IP, i, 1);
                ck_assert_int_eq(flux_tunnel_send_ip(s.client, s.now, pkt, sizeof(pkt)), 1);
                sim_run(&s, s.now + 1 * MS, NULL);
        }
        sim_run(&s, s.now + 100 * MS, NULL);
        ck_assert_uint_eq(s.at_server.packets, 1 + 24);
        ck_assert_uint_eq(flux_tunnel_get_stats(s.server)->spoofed_drops, 2 + 12);
        ck_assert_uint_eq(flux_tunnel_get_stats(s.server)->reorder_timeouts, 0);
        ck_assert_uint_eq(flux_tunnel_get_stats(s.server)->reorder_held, 0);
        sim_done(&s);
}
END_TEST

START_TEST(test_unregistered_address) {
        Sim s;
        SimTraffic up = { .rate = 100000, .size = 500 };
        union sockaddr_union evil;
        uint8_t d[2048];
        size_t n;

        sim_init(&s, 1, FLUX_WIRE_VERSION_2, FLUX_SCHEDULER_WEIGHTED);
        sim_run(&s, s.now + 1 * MS, NULL);
        ck_assert_uint_eq(s.last_up[1], FLUX_PACKET_REGISTER);
        memcpy(d, s.last_up, n = s.last_up_len);
        s.capture_data_only = true;
        up.next = s.now;
        sim_run(&s, s.now + 100 * MS, &up);
        sim_run(&s, s.now + 50 * MS, NULL);
        /* The captured REGISTER replayed from another address cannot move the path: its counter
         * is burnt. */
        evil = sim_addr(3);
        ck_assert_int_eq(flux_tunnel_receive(s.server, s.now, &evil, NULL, d, n), FLUX_RX_REPLAY);
        /* Nor can any other authentic packet (here the last data packet). */
        memcpy(d, s.last_up, s.last_up_len);
        ck_assert_int_eq(flux_tunnel_receive(s.server, s.now, &evil, NULL, d, s.last_up_len), FLUX_RX_REPLAY);
        ck_assert_int_eq(sim_path_of_addr(flux_path_get_remote_address(server_path(&s, 100))), 0);
        ck_assert_uint_eq(flux_tunnel_get_n_paths(s.server), 1);
        sim_done(&s);
}
END_TEST

START_TEST(test_epoch_change) {
        Sim s;
        SimTraffic up = { .rate = 500000, .size = 500 };
        SimTraffic down = { .rate = 500000, .size = 500, .downlink = true };

        sim_init(&s, 2, FLUX_WIRE_VERSION_2, FLUX_SCHEDULER_WEIGHTED);
        s.at_server.seen_size = 100000;
        s.at_server.seen = calloc(s.at_server.seen_size, 1);
        sim_run(&s, s.now + 100 * MS, NULL);
        up.next = s.now;
        sim_run(&s, s.now + 300 * MS, &up);
        /* Rekey while packets of the old epoch are in flight on both paths. */
        ck_assert_int_eq(flux_tunnel_rekey(s.client, s.now), 0);
        ck_assert_int_eq(flux_tunnel_rekey(s.server, s.now), 0);
        sim_run(&s, s.now + 300 * MS, &up);
        ck_assert_int_eq(flux_tunnel_rekey(s.client, s.now), 0);
        sim_run(&s, s.now + 300 * MS, &up);
        down.next = s.now;
        sim_run(&s, s.now + 300 * MS, &down);
        sim_run(&s, s.now + 100 * MS, NULL);

        ck_assert_uint_eq(s.at_server.packets, up.counter);
        for (uint32_t i = 0; i < up.counter; i++)
                ck_assert_uint_eq(s.at_server.seen[i], 1);
        ck_assert_uint_eq(s.at_client.packets, down.counter);
        ck_assert_uint_eq(flux_tunnel_get_stats(s.server)->auth_failures, 0);
        ck_assert_uint_eq(flux_tunnel_get_stats(s.client)->auth_failures, 0);
        ck_assert_uint_eq(flux_tunnel_get_stats(s.client)->epoch_changes, 2);
        ck_assert_int_eq(flux_path_get_state(s.cpath[0]), FLUX_PATH_UP);
        sim_done(&s);
}
END_TEST

START_TEST(test_probes_do_not_stall_data) {
        /* B7: probes never take data sequence numbers, so a receiver never waits for them. */
        Sim s;
        SimTraffic down = { .rate = 50000, .size = 200, .downlink = true };

        sim_init(&s, 2, FLUX_WIRE_VERSION_2, FLUX_SCHEDULER_WEIGHTED);
        sim_run(&s, s.now + 100 * MS, NULL);
        down.next = s.now;
        sim_run(&s, s.now + 5 * USEC_PER_SEC, &down);
        ck_assert_uint_eq(flux_tunnel_get_stats(s.client)->reorder_timeouts, 0);
        ck_assert_uint_ge(s.at_client.packets, down.counter - 2);
        ck_assert_uint_le(s.at_client.max_gap, 10 * MS);
        sim_done(&s);
}
END_TEST

START_TEST(test_api_edges) {
        static const uint8_t secret[32] = { 9 };
        const FluxTunnelCallbacks cb = { .send_datagram = sim_send, .deliver_ip = sim_deliver };
        FluxTunnelConfig cfg = {
                .role = FLUX_TUNNEL_CLIENT,
                .version = 2,
                .session_id = 1,
                .secret = secret,
                .secret_size = 32,
        };
        union in_addr_union a = {};
        uint8_t pkt[100] = { 0x45 }, ver;
        FluxTunnel *t;
        FluxPath *p;
        uint32_t sid;

        /* Bad configurations. */
        cfg.version = 3;
        ck_assert_int_eq(flux_tunnel_new(&cfg, &cb, NULL, 1, &t), -EINVAL);
        cfg.version = 2;
        cfg.secret_size = 16;
        ck_assert_int_eq(flux_tunnel_new(&cfg, &cb, NULL, 1, &t), -EINVAL);
        cfg.secret_size = 32;
        cfg.scheduler = _FLUX_SCHEDULER_KIND_MAX;
        ck_assert_int_eq(flux_tunnel_new(&cfg, &cb, NULL, 1, &t), -EINVAL);
        cfg.scheduler = FLUX_SCHEDULER_FLOW;
        ck_assert_int_eq(flux_tunnel_new(&cfg, &(FluxTunnelCallbacks) { .deliver_ip = sim_deliver }, NULL, 1, &t), -EINVAL);

        ck_assert_int_eq(flux_tunnel_new(&cfg, &cb, NULL, 1, &t), 0);
        ck_assert_int_eq(flux_tunnel_get_scheduler(t), FLUX_SCHEDULER_FLOW);
        ck_assert_int_eq(flux_tunnel_get_role(t), FLUX_TUNNEL_CLIENT);
        ck_assert_uint_eq(flux_tunnel_get_version(t), 2);
        ck_assert_uint_eq(flux_tunnel_get_session_id(t), 1);
        ck_assert_uint_eq(flux_tunnel_next_wakeup(t), USEC_INFINITY);

        /* Paths. */
        for (unsigned i = 0; i < FLUX_TUNNEL_MAX_PATHS; i++)
                ck_assert_int_eq(flux_tunnel_add_path(t, 1, (uint16_t) i, FLUX_PATH_PRIMARY, 0, NULL, NULL), 0);
        ck_assert_int_eq(flux_tunnel_add_path(t, 1, 3, FLUX_PATH_PRIMARY, 1, NULL, NULL), -EEXIST);
        ck_assert_int_eq(flux_tunnel_add_path(t, 1, 99, FLUX_PATH_PRIMARY, 1, NULL, NULL), -ENOSPC);
        ck_assert_int_eq(flux_tunnel_add_path(t, 1, 100, FLUX_PATH_PRIMARY, -1, NULL, NULL), -EINVAL);
        p = flux_tunnel_find_path(t, 5);
        ck_assert_ptr_nonnull(p);
        ck_assert_ptr_eq(flux_path_get_tunnel(p), t);
        ck_assert_double_eq(flux_path_get_weight(p), 1.0);
        ck_assert_int_eq(flux_path_set_weight(p, 0), -EINVAL);
        ck_assert_int_eq(flux_path_set_weight(p, 2.5), 0);
        ck_assert_int_eq(flux_path_set_priority(p, FLUX_PATH_BACKUP), 0);
        ck_assert_int_eq(flux_path_get_priority(p), FLUX_PATH_BACKUP);
        ck_assert_int_eq(flux_path_get_remote_address(p)->sa.sa_family, AF_UNSPEC);
        ck_assert_uint_eq(flux_path_get_capacity(p), 0); /* unknown until measured */
        flux_tunnel_remove_path(t, p);
        ck_assert_ptr_null(flux_tunnel_find_path(t, 5));
        ck_assert_uint_eq(flux_tunnel_get_n_paths(t), FLUX_TUNNEL_MAX_PATHS - 1);
        ck_assert_ptr_null(flux_tunnel_get_path(t, FLUX_TUNNEL_MAX_PATHS));
        ck_assert_uint_eq(flux_tunnel_next_wakeup(t), 0); /* registrations due */

        /* Sending: nothing usable yet (unregistered), bad sizes. */
        ck_assert_int_eq(flux_tunnel_send_ip(t, 2, pkt, sizeof(pkt)), 0);
        ck_assert_uint_eq(flux_tunnel_get_stats(t)->tx_no_path, 1);
        ck_assert_int_eq(flux_tunnel_send_ip(t, 2, pkt, 0), -EINVAL);
        ck_assert_int_eq(flux_tunnel_send_ip(t, 2, pkt, FLUX_TUNNEL_MAX_IP + 1), -EMSGSIZE);

        /* Allowed sources. */
        for (unsigned i = 0; i < FLUX_TUNNEL_MAX_ALLOWED_SOURCES; i++)
                ck_assert_int_eq(flux_tunnel_add_allowed_source(t, AF_INET, &a, 32), 0);
        ck_assert_int_eq(flux_tunnel_add_allowed_source(t, AF_INET, &a, 32), -ENOSPC);
        ck_assert_int_eq(flux_tunnel_add_allowed_source(t, AF_INET, &a, 33), -EINVAL);
        ck_assert_int_eq(flux_tunnel_add_allowed_source(t, AF_UNIX, &a, 8), -EAFNOSUPPORT);
        flux_tunnel_clear_allowed_sources(t);
        ck_assert_int_eq(flux_tunnel_add_allowed_source(t, AF_INET6, &a, 64), 0);

        /* Peeking. */
        ck_assert_int_eq(flux_tunnel_peek_session(pkt, 10, &ver, &sid), -EMSGSIZE);
        pkt[0] = 7;
        ck_assert_int_eq(flux_tunnel_peek_session(pkt, 60, &ver, &sid), -EPROTONOSUPPORT);
        pkt[0] = 1;
        pkt[5] = 42;
        ck_assert_int_eq(flux_tunnel_peek_session(pkt, 60, &ver, &sid), 0);
        ck_assert_uint_eq(ver, 1);
        ck_assert_uint_eq(sid, 42);
        ck_assert_int_eq(flux_tunnel_rekey(t, 3), 0);
        flux_tunnel_free(t);

        /* A server has no add_path; version 1 has no rekey. */
        cfg.role = FLUX_TUNNEL_SERVER;
        cfg.version = 1;
        ck_assert_int_eq(flux_tunnel_new(&cfg, &cb, NULL, 1, &t), 0);
        ck_assert_int_eq(flux_tunnel_add_path(t, 1, 1, FLUX_PATH_PRIMARY, 1, NULL, NULL), -EOPNOTSUPP);
        ck_assert_int_eq(flux_tunnel_rekey(t, 3), -EOPNOTSUPP);
        ck_assert_ptr_null(flux_tunnel_free(t));
        ck_assert_ptr_null(flux_tunnel_free(NULL));
        ck_assert_str_eq(flux_rx_result_to_string(FLUX_RX_SPOOFED), "spoofed");
        ck_assert_str_eq(flux_tunnel_role_to_string(FLUX_TUNNEL_SERVER), "server");
}
END_TEST

static unsigned removed_paths;

static void count_removed(FluxTunnel *t, FluxPath *p, void *userdata) {
        removed_paths++;
}

START_TEST(test_server_path_expiry) {
        Sim s;
        FluxTunnelCallbacks cb = {
                .send_datagram = sim_send,
                .deliver_ip = sim_deliver,
                .path_state_changed = sim_state_changed,
                .path_removed = count_removed,
        };

        sim_init(&s, 2, FLUX_WIRE_VERSION_2, FLUX_SCHEDULER_WEIGHTED);
        /* Same tunnels, with a path_removed callback on the server. */
        {
                static const uint8_t secret[32] = { [0 ... 31] = SIM_SECRET_BYTE };
                FluxTunnelConfig sc = {
                        .role = FLUX_TUNNEL_SERVER, .version = 2, .session_id = SIM_SESSION_ID,
                        .secret = secret, .secret_size = 32,
                };
                union in_addr_union a = { .in.s_addr = htonl(SIM_CLIENT_IP) };

                flux_tunnel_free(s.server);
                ck_assert_int_eq(flux_tunnel_new(&sc, &cb, &s, s.now, &s.server), 0);
                ck_assert_int_eq(flux_tunnel_add_allowed_source(s.server, AF_INET, &a, 32), 0);
        }
        removed_paths = 0;
        sim_run(&s, s.now + 200 * MS, NULL);
        ck_assert_uint_eq(flux_tunnel_get_n_paths(s.server), 2);
        /* The client loses an uplink for good: the server forgets that path after a minute down. */
        flux_tunnel_remove_path(s.client, s.cpath[1]);
        s.cpath[1] = NULL;
        sim_run(&s, s.now + 30 * USEC_PER_SEC, NULL);
        ck_assert_int_eq(flux_path_get_state(server_path(&s, 101)), FLUX_PATH_DOWN);
        ck_assert_uint_eq(removed_paths, 0);
        sim_run(&s, s.now + 40 * USEC_PER_SEC, NULL);
        ck_assert_uint_eq(removed_paths, 1);
        ck_assert_uint_eq(flux_tunnel_get_n_paths(s.server), 1);
        ck_assert_int_eq(flux_path_get_state(server_path(&s, 100)), FLUX_PATH_UP);
        /* What the server still sent to the removed path was dropped by the client, counted. */
        ck_assert_uint_gt(flux_tunnel_get_stats(s.client)->no_path_drops, 0);
        sim_done(&s);
}
END_TEST

static void latency_run(FluxSchedulerKind kind, double rate, usec_t *ret_min, usec_t *ret_max, double *ret_slow_share) {
        SimTraffic g = { .rate = rate, .size = 500 };
        uint64_t d0, d1, p0;
        uint32_t c0;
        Sim s;

        sim_init(&s, 2, FLUX_WIRE_VERSION_2, kind);
        ck_assert_int_eq(flux_tunnel_set_scheduler(s.server, kind), 0);
        sim_set_link(&s, 0, 1e6, 5 * MS, 0);
        sim_set_link(&s, 1, 1e6, 20 * MS, 0);
        s.sent_at_size = 20000;
        s.sent_at = calloc(s.sent_at_size, sizeof(usec_t));
        sim_run(&s, s.now + 300 * MS, NULL);
        g.next = s.now;
        if (rate > 500000) {
                /* Let the capacities be learnt first; measure the steady state. */
                sim_run(&s, s.now + 2 * USEC_PER_SEC, &g);
                s.at_server.min_latency = s.at_server.max_latency = 0;
        }
        d0 = s.up[0].data_bytes;
        d1 = s.up[1].data_bytes;
        p0 = s.at_server.packets;
        c0 = g.counter;
        sim_run(&s, s.now + 2 * USEC_PER_SEC, &g);
        *ret_min = s.at_server.min_latency;
        *ret_max = s.at_server.max_latency;
        *ret_slow_share = (double) (s.up[1].data_bytes - d1) / (s.up[0].data_bytes - d0 + s.up[1].data_bytes - d1);
        /* Nothing lost once the capacities are known (a packet or two may still be in flight). */
        ck_assert_uint_ge(s.at_server.packets - p0, g.counter - c0 - 50);
        sim_done(&s);
}

START_TEST(test_delay_equalization) {
        usec_t lo, hi;
        double slow;

        /* Weighted over 10 and 40 ms RTT, light load: everything takes the fast path and nothing
         * is held (a ping sees 10 ms, not 40). */
        latency_run(FLUX_SCHEDULER_WEIGHTED, 20000, &lo, &hi, &slow);
        ck_assert_uint_le(lo, 6 * MS);
        ck_assert_uint_le(hi, 7 * MS);
        ck_assert_double_eq(slow, 0);
        /* More than the fast path carries: the slow path takes the overflow, and then every packet
         * is delivered at about the slow path's one-way delay (one RTT for a flow striped over both,
         * so BBR's minimum is the real one); the queues the fixed-rate sender builds and the reorder
         * hold stay within the reorder ceiling (50 ms) beyond that. */
        latency_run(FLUX_SCHEDULER_WEIGHTED, 1.5e6, &lo, &hi, &slow);
        fprintf(stderr, "weighted 10 + 40 ms, 1.5 MB/s: latency %.1f..%.1f ms, slow path share %.2f\n",
                lo / 1e3, hi / 1e3, slow);
        ck_assert_double_ge(slow, 0.2);
        ck_assert_uint_ge(lo, 17 * MS);
        ck_assert_uint_le(hi, 20 * MS + 50 * MS);
        /* lowest-rtt: one path, no added delay. */
        latency_run(FLUX_SCHEDULER_LOWEST_RTT, 20000, &lo, &hi, &slow);
        ck_assert_uint_le(lo, 6 * MS);
        ck_assert_uint_le(hi, 6 * MS);
}
END_TEST

/* ---- version 1 ---- */

START_TEST(test_v1_round_trip) {
        Sim s;
        SimTraffic up = { .rate = 100000, .size = 600 };
        SimTraffic down = { .rate = 100000, .size = 600, .downlink = true };
        union sockaddr_union from = sim_addr(0), evil = sim_addr(3);
        uint8_t d[2048];
        size_t n;

        sim_init(&s, 2, FLUX_WIRE_VERSION_1, FLUX_SCHEDULER_WEIGHTED);
        s.capture_data_only = true;
        sim_run(&s, s.now + 200 * MS, NULL);
        ck_assert_uint_eq(flux_tunnel_get_n_paths(s.server), 2);
        ck_assert_int_eq(flux_path_get_state(s.cpath[0]), FLUX_PATH_UP);
        ck_assert_uint_ge(flux_path_get_rtt(s.cpath[0]), 9 * MS);
        ck_assert_uint_le(flux_path_get_rtt(s.cpath[0]), 11 * MS);
        up.next = s.now;
        sim_run(&s, s.now + 500 * MS, &up);
        down.next = s.now;
        sim_run(&s, s.now + 500 * MS, &down);
        sim_run(&s, s.now + 100 * MS, NULL);
        ck_assert_uint_eq(s.at_server.packets, up.counter);
        ck_assert_uint_eq(s.at_client.packets, down.counter);

        /* Hardening: a replayed IP packet is dropped by the sequence window... */
        memcpy(d, s.last_up, n = s.last_up_len);
        ck_assert_int_eq(flux_tunnel_receive(s.server, s.now, &from, NULL, d, n), FLUX_RX_REPLAY);
        /* ...and authentic packets from an address that never did a handshake make no path. */
        memcpy(d, s.last_up, n);
        ck_assert_int_eq(flux_tunnel_receive(s.server, s.now, &evil, NULL, d, n), FLUX_RX_NO_PATH);
        ck_assert_uint_eq(flux_tunnel_get_n_paths(s.server), 2);
        ck_assert_uint_eq(s.at_server.packets, up.counter);
        sim_done(&s);
}
END_TEST

/* ---- version 1 against the reference's own datagrams (tests/data/fluxify-go-v1.json) ---- */

typedef struct V1Sink {
        uint8_t last[2048];
        size_t last_len, delivered;
        uint8_t sent[2048];
        size_t sent_len, n_sent;
} V1Sink;

static int v1_send(FluxTunnel *t, FluxPath *p, const uint8_t *buf, size_t len, void *userdata) {
        V1Sink *k = userdata;

        ck_assert_uint_le(len, sizeof(k->sent));
        memcpy(k->sent, buf, len);
        k->sent_len = len;
        k->n_sent++;
        return 0;
}

static void v1_deliver(FluxTunnel *t, const uint8_t *ip, size_t len, void *userdata) {
        V1Sink *k = userdata;

        ck_assert_uint_le(len, sizeof(k->last));
        memcpy(k->last, ip, len);
        k->last_len = len;
        k->delivered++;
}

static json_t *vector(json_t *root, const char *section, const char *name) {
        json_t *c;
        size_t i;

        json_array_foreach(json_object_get(root, section), i, c)
                if (streq(json_string_value(json_object_get(c, "name")), name))
                        return c;
        ck_abort_msg("no vector %s", name);
        return NULL;
}

static int feed(FluxTunnel *t, const union sockaddr_union *from, FluxPath *hint, json_t *c) {
        size_t len;
        uint8_t *d = unhex(json_string_value(json_object_get(c, "datagram_hex")), &len);
        int r = flux_tunnel_receive(t, 5 * USEC_PER_SEC, from, hint, d, len);

        free(d);
        return r;
}

static void assert_delivered(V1Sink *k, json_t *c, const char *field) {
        size_t len;
        uint8_t *want = unhex(json_string_value(json_object_get(c, field)), &len);

        ck_assert_uint_eq(k->last_len, len);
        ck_assert(memcmp(k->last, want, len) == 0);
        free(want);
}

static FluxTunnel *v1_tunnel(json_t *root, FluxTunnelRole role, uint32_t session, V1Sink *k) {
        const FluxTunnelCallbacks cb = { .send_datagram = v1_send, .deliver_ip = v1_deliver };
        uint8_t key[32];
        FluxTunnelConfig cfg = {
                .role = role,
                .version = FLUX_WIRE_VERSION_1,
                .session_id = session,
                .secret = key,
                .secret_size = sizeof(key),
        };
        union in_addr_union a4 = {}, a6 = {};
        FluxTunnel *t;

        unhex_exact(json_string_value(json_object_get(root, "key_hex")), key, sizeof(key));
        ck_assert_int_eq(flux_tunnel_new(&cfg, &cb, k, USEC_PER_SEC, &t), 0);
        ck_assert_int_eq(in_addr_from_string(AF_INET, "10.8.0.2", &a4), 0);
        ck_assert_int_eq(in_addr_from_string(AF_INET6, "fd00:8::", &a6), 0);
        ck_assert_int_eq(flux_tunnel_add_allowed_source(t, AF_INET, &a4, 32), 0);
        ck_assert_int_eq(flux_tunnel_add_allowed_source(t, AF_INET6, &a6, 64), 0);
        return t;
}

START_TEST(test_v1_reference_vectors_server) {
        json_error_t err;
        json_t *root = json_load_file(TEST_DATA("fluxify-go-v1.json"), 0, &err), *c;
        union sockaddr_union a = sim_addr(0), b = sim_addr(1);
        V1Sink k = {};
        FluxTunnel *t;
        size_t i;

        ck_assert_msg(root, "%s", err.text);
        t = v1_tunnel(root, FLUX_TUNNEL_SERVER, 3735928559U, &k);

        /* Authentic IP from an address that did no handshake: no path, nothing delivered. */
        ck_assert_int_eq(feed(t, &a, NULL, vector(root, "aead_packets", "ipv4_icmp_echo_84")), FLUX_RX_NO_PATH);
        ck_assert_uint_eq(k.delivered, 0);

        /* The Go client's handshake creates the path; the same bytes again are refused. */
        ck_assert_int_eq(feed(t, &a, NULL, vector(root, "aead_packets", "handshake_empty")), FLUX_RX_CONTROL);
        ck_assert_uint_eq(flux_tunnel_get_n_paths(t), 1);
        ck_assert_int_eq(feed(t, &b, NULL, vector(root, "aead_packets", "handshake_empty")), FLUX_RX_REPLAY);
        ck_assert_uint_eq(flux_tunnel_get_n_paths(t), 1);

        /* Its heartbeat is echoed: type 2, 8-byte payload, 58 bytes. */
        ck_assert_int_eq(feed(t, &a, NULL, vector(root, "aead_packets", "heartbeat")), FLUX_RX_CONTROL);
        ck_assert_uint_eq(k.n_sent, 1);
        ck_assert_uint_eq(k.sent_len, 58);
        ck_assert_uint_eq(k.sent[0], 1);
        ck_assert_uint_eq(k.sent[1], 2);

        /* Its IP packets, IPv4, IPv6, 1400 bytes, gzip. */
        c = vector(root, "aead_packets", "ipv4_icmp_echo_84");
        ck_assert_int_eq(feed(t, &a, NULL, c), FLUX_RX_DATA);
        assert_delivered(&k, c, "plaintext_hex");
        c = vector(root, "aead_packets", "ipv6_icmpv6_echo_104");
        ck_assert_int_eq(feed(t, &a, NULL, c), FLUX_RX_DATA);
        assert_delivered(&k, c, "plaintext_hex");
        c = vector(root, "aead_packets", "ipv4_udp_1400");
        ck_assert_int_eq(feed(t, &a, NULL, c), FLUX_RX_DATA);
        assert_delivered(&k, c, "plaintext_hex");
        ck_assert_uint_eq(k.delivered, 3);
        /* The gzip vector is a downlink packet (from 93.184.216.34): inflated, then refused as
         * not from the client's own address. */
        ck_assert_int_eq(feed(t, &a, NULL, vector(root, "aead_packets", "ipv4_tcp_gzip")), FLUX_RX_SPOOFED);
        ck_assert_uint_eq(k.delivered, 3);

        /* Hardening: a replayed IP packet (the reference accepted it), another session. */
        ck_assert_int_eq(feed(t, &a, NULL, vector(root, "aead_packets", "ipv4_icmp_echo_84")), FLUX_RX_REPLAY);
        ck_assert_int_eq(feed(t, &a, NULL, vector(root, "aead_packets", "ipv4_udp_max_ids")), FLUX_RX_WRONG_SESSION);

        /* Every negative vector is rejected, nothing delivered. */
        json_array_foreach(json_object_get(root, "aead_negative"), i, c) {
                int r = feed(t, &a, NULL, c);

                ck_assert_msg(r == FLUX_RX_MALFORMED || r == FLUX_RX_AUTH_FAILED || r == FLUX_RX_WRONG_SESSION,
                              "%s: %s", json_string_value(json_object_get(c, "name")), flux_rx_result_to_string(r));
        }
        ck_assert_uint_eq(k.delivered, 3);
        ck_assert_uint_eq(flux_tunnel_get_stats(t)->rx_packets, 3);
        ck_assert_uint_eq(flux_tunnel_get_stats(t)->spoofed_drops, 1);
        flux_tunnel_free(t);
        json_decref(root);
}
END_TEST

START_TEST(test_v1_reference_vectors_client) {
        json_error_t err;
        json_t *root = json_load_file(TEST_DATA("fluxify-go-v1.json"), 0, &err), *c;
        V1Sink k = {};
        FluxTunnel *t;
        FluxPath *p;

        ck_assert_msg(root, "%s", err.text);
        t = v1_tunnel(root, FLUX_TUNNEL_CLIENT, 3735928559U, &k);
        ck_assert_int_eq(flux_tunnel_add_path(t, USEC_PER_SEC, 1, FLUX_PATH_PRIMARY, 1.0, NULL, &p), 0);
        /* One key both ways: a Go server's downlink opens like this, gzip included (the reference
         * server compresses every downlink packet); no source check on the client. */
        c = vector(root, "aead_packets", "ipv4_tcp_gzip");
        ck_assert_int_eq(feed(t, NULL, p, c), FLUX_RX_DATA);
        assert_delivered(&k, c, "original_hex");
        ck_assert_int_eq(feed(t, NULL, p, c), FLUX_RX_REPLAY);
        c = vector(root, "aead_packets", "ipv4_udp_1400");
        ck_assert_int_eq(feed(t, NULL, p, c), FLUX_RX_DATA);
        assert_delivered(&k, c, "plaintext_hex");
        ck_assert_int_eq(feed(t, NULL, p, vector(root, "aead_packets", "ipv4_udp_max_ids")), FLUX_RX_WRONG_SESSION);
        /* Our first tick sends the handshake (50 bytes) then a heartbeat (58 bytes). */
        ck_assert_int_eq(flux_tunnel_tick(t, 2 * USEC_PER_SEC), 0);
        ck_assert_uint_eq(k.n_sent, 2);
        ck_assert_uint_eq(k.sent_len, 58);
        flux_tunnel_free(t);
        json_decref(root);
}
END_TEST

static Suite *tunnel_suite(void) {
        Suite *s = suite_create("tunnel");
        TCase *tc = tcase_create("v2");

        tcase_add_test(tc, test_registration_and_rtt);
        tcase_add_test(tc, test_data_both_ways);
        tcase_add_test(tc, test_replay_forgery_session);
        tcase_add_test(tc, test_spoofed_source);
        tcase_add_test(tc, test_unregistered_address);
        tcase_add_test(tc, test_epoch_change);
        tcase_add_test(tc, test_probes_do_not_stall_data);
        tcase_add_test(tc, test_api_edges);
        tcase_add_test(tc, test_server_path_expiry);
        tcase_add_test(tc, test_delay_equalization);
        suite_add_tcase(s, tc);

        tc = tcase_create("v1");
        tcase_add_test(tc, test_v1_round_trip);
        tcase_add_test(tc, test_v1_reference_vectors_server);
        tcase_add_test(tc, test_v1_reference_vectors_client);
        suite_add_tcase(s, tc);
        return s;
}

FLUX_CHECK_MAIN(tunnel_suite);
