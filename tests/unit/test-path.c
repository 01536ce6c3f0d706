/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Path state machine, liveness and estimators, on simulated paths (datapath-sim.h). */

#include <check.h>

#include "check-util.h"
#include "datapath-sim.h"
#include "path.h"
#include "wire.h"
#include "tunnel.h"

static const usec_t MS = USEC_PER_MSEC;

static FluxPath *server_path_of(Sim *s, uint16_t id) {
        FluxPath *p = flux_tunnel_find_path(s->server, id);

        ck_assert_ptr_nonnull(p);
        return p;
}

static void sim_start(Sim *s, int n_paths) {
        sim_init(s, n_paths, FLUX_WIRE_VERSION_2, FLUX_SCHEDULER_WEIGHTED);
        for (int i = 0; i < n_paths; i++)
                sim_set_link(s, i, 1000000, 10 * MS, 0);
        sim_run(s, s->now + 200 * MS, NULL);
        for (int i = 0; i < n_paths; i++)
                ck_assert_int_eq(flux_path_get_state(s->cpath[i]), FLUX_PATH_UP);
}

START_TEST(test_down_within_300ms_under_traffic) {
        Sim s;
        SimTraffic up = { .rate = 800000, .size = 1000 };
        SimTraffic down = { .rate = 800000, .size = 1000, .downlink = true };
        usec_t cut;

        sim_start(&s, 2);
        up.next = s.now;
        sim_run(&s, s.now + 2 * USEC_PER_SEC, &up);
        cut = s.now;
        sim_cut(&s, 1, true);
        s.at_server.gap_from = cut;
        sim_run(&s, cut + USEC_PER_SEC, &up);

        /* The client sees the path die within 300 ms, the server too (its own probes). */
        ck_assert_int_eq(flux_path_get_state(s.cpath[1]), FLUX_PATH_DOWN);
        ck_assert_uint_gt(s.client_state_at[1][FLUX_PATH_DOWN], cut);
        ck_assert_uint_le(s.client_state_at[1][FLUX_PATH_DOWN], cut + 300 * MS);
        ck_assert_int_eq(flux_path_get_state(s.cpath[0]), FLUX_PATH_UP);
        /* Delivery never paused for more than 300 ms (weighted failover bar). */
        ck_assert_uint_le(s.at_server.max_gap, 300 * MS);

        /* Downlink: the server detects it as well. */
        down.next = s.now;
        sim_cut(&s, 1, false);
        sim_run(&s, s.now + USEC_PER_SEC, &down);
        cut = s.now;
        sim_cut(&s, 0, true);
        s.at_client.gap_from = cut;
        sim_run(&s, cut + USEC_PER_SEC, &down);
        ck_assert_uint_gt(s.server_state_at[0][FLUX_PATH_DOWN], cut);
        ck_assert_uint_le(s.server_state_at[0][FLUX_PATH_DOWN], cut + 300 * MS);
        ck_assert_uint_le(s.at_client.max_gap, 300 * MS);
        sim_done(&s);
}
END_TEST

START_TEST(test_recovery_hysteresis) {
        Sim s;
        SimTraffic up = { .rate = 400000, .size = 1000 };
        usec_t restore, probing, upt;

        sim_start(&s, 2);
        up.next = s.now;
        sim_run(&s, s.now + USEC_PER_SEC, &up);
        sim_cut(&s, 1, true);
        sim_run(&s, s.now + 2 * USEC_PER_SEC, &up);
        ck_assert_int_eq(flux_path_get_state(s.cpath[1]), FLUX_PATH_DOWN);
        /* Down paths carry no data while another path is up. */
        uint64_t before = s.up[1].sent;
        sim_run(&s, s.now + USEC_PER_SEC, &up);
        ck_assert_uint_le(s.up[1].sent - before, 6); /* re-registration attempts only */

        restore = s.now;
        sim_cut(&s, 1, false);
        sim_run(&s, s.now + 2 * USEC_PER_SEC, &up);
        probing = s.client_state_at[1][FLUX_PATH_PROBING];
        upt = s.client_state_at[1][FLUX_PATH_UP];
        ck_assert_uint_gt(probing, restore);
        /* Several consecutive answered probes, not the first one, bring it back. */
        ck_assert_uint_ge(upt, probing + 2 * FLUX_PROBE_INTERVAL_ACTIVE);
        ck_assert_uint_le(upt, restore + USEC_PER_SEC);
        ck_assert_int_eq(flux_path_get_state(s.cpath[1]), FLUX_PATH_UP);
        sim_done(&s);
}
END_TEST

START_TEST(test_short_outage_no_flap) {
        Sim s;
        SimTraffic up = { .rate = 400000, .size = 1000 };
        uint64_t changes;

        sim_start(&s, 2);
        up.next = s.now;
        sim_run(&s, s.now + USEC_PER_SEC, &up);
        changes = s.path_state_changes;
        /* 60 ms without anything: a probe or two lost, not a dead path. */
        sim_cut(&s, 1, true);
        sim_run(&s, s.now + 60 * MS, &up);
        sim_cut(&s, 1, false);
        sim_run(&s, s.now + USEC_PER_SEC, &up);
        ck_assert_uint_eq(s.path_state_changes, changes);
        ck_assert_int_eq(flux_path_get_state(s.cpath[1]), FLUX_PATH_UP);
        sim_done(&s);
}
END_TEST

START_TEST(test_idle_keepalive_and_detection) {
        Sim s;
        uint64_t before;
        usec_t cut;

        sim_start(&s, 1);
        before = flux_path_get_tx_packets(s.cpath[0]);
        sim_run(&s, s.now + 10 * USEC_PER_SEC, NULL);
        /* Idle: one probe every 2 s each way (ours, and our reply to the server's) keeps NAT state,
         * not 20 a second. */
        ck_assert_uint_ge(flux_path_get_tx_packets(s.cpath[0]) - before, 8);
        ck_assert_uint_le(flux_path_get_tx_packets(s.cpath[0]) - before, 12);
        cut = s.now;
        sim_cut(&s, 0, true);
        sim_run(&s, s.now + 3 * USEC_PER_SEC, NULL);
        ck_assert_int_eq(flux_path_get_state(s.cpath[0]), FLUX_PATH_DOWN);
        ck_assert_uint_le(s.client_state_at[0][FLUX_PATH_DOWN], cut + FLUX_PROBE_INTERVAL_IDLE + 400 * MS);
        sim_done(&s);
}
END_TEST

START_TEST(test_loss_and_degraded) {
        Sim s;
        SimTraffic up = { .rate = 300000, .size = 500 };
        uint32_t loss;

        sim_start(&s, 2);
        s.up[1].loss = 0.2;
        up.next = s.now;
        sim_run(&s, s.now + 3 * USEC_PER_SEC, &up);
        loss = flux_path_get_loss_ppm(s.cpath[1]);
        ck_assert_uint_ge(loss, 140000);
        ck_assert_uint_le(loss, 260000);
        ck_assert_uint_le(flux_path_get_loss_ppm(s.cpath[0]), 5000);
        ck_assert_int_eq(flux_path_get_state(s.cpath[1]), FLUX_PATH_DEGRADED);
        ck_assert_int_eq(flux_path_get_state(s.cpath[0]), FLUX_PATH_UP);
        /* Loss gone: back up (below the lower threshold, not at once). */
        s.up[1].loss = 0;
        sim_run(&s, s.now + 10 * USEC_PER_SEC, &up);
        ck_assert_int_eq(flux_path_get_state(s.cpath[1]), FLUX_PATH_UP);
        ck_assert_uint_lt(flux_path_get_loss_ppm(s.cpath[1]), FLUX_RECOVERED_LOSS_PPM);
        sim_done(&s);
}
END_TEST

START_TEST(test_rates_and_capacity) {
        Sim s;
        SimTraffic up = { .rate = 2000000, .size = 1000 };
        double cap0, cap1;

        sim_start(&s, 2);
        sim_set_link(&s, 0, 1200000, 10 * MS, 0);
        sim_set_link(&s, 1, 300000, 10 * MS, 0);
        up.next = s.now;
        sim_run(&s, s.now + 5 * USEC_PER_SEC, &up);
        /* The capacity estimate follows the delivery rate of each path (bytes on the link include
         * 28 bytes of UDP/IP per datagram in the simulator, the estimate does not). */
        cap0 = (double) flux_path_get_capacity(s.cpath[0]);
        cap1 = (double) flux_path_get_capacity(s.cpath[1]);
        ck_assert_double_ge(cap0, 1200000 * 0.8);
        ck_assert_double_le(cap0, 1200000 * 1.3);
        ck_assert_double_ge(cap1, 300000 * 0.8);
        ck_assert_double_le(cap1, 300000 * 1.3);
        ck_assert_uint_ge(flux_path_get_tx_rate(s.cpath[0]), 900000);
        ck_assert_uint_ge(flux_path_get_rx_rate(server_path_of(&s, 100)), 900000);
        sim_done(&s);
}
END_TEST

START_TEST(test_nat_rebinding) {
        Sim s;
        SimTraffic up = { .rate = 200000, .size = 500 };
        SimTraffic down = { .rate = 200000, .size = 500, .downlink = true };
        usec_t t;

        sim_start(&s, 1);
        down.next = s.now;
        sim_run(&s, s.now + USEC_PER_SEC, &down);
        /* The client's NAT gives the path a new public port: the server's datagrams to the old
         * one are lost; the client's reach it from an unknown address. */
        t = s.now;
        s.nat_gen[0] = 1;
        s.at_client.gap_from = t;
        sim_run(&s, t + 2 * USEC_PER_SEC, &down);
        ck_assert_uint_gt(s.nat_dropped, 0);
        /* The client saw its path die and re-registered; the server moved the path. */
        ck_assert_uint_gt(s.client_state_at[0][FLUX_PATH_DOWN], t);
        ck_assert_int_eq(flux_path_get_state(s.cpath[0]), FLUX_PATH_UP);
        ck_assert_int_eq(sim_gen_of_addr(flux_path_get_remote_address(server_path_of(&s, 100))), 1);
        ck_assert_uint_eq(flux_tunnel_get_n_paths(s.server), 1);
        /* Downlink resumed within about a second (detection + registration + recovery streak). */
        ck_assert_uint_le(s.at_client.max_gap, USEC_PER_SEC);
        uint64_t before = s.at_client.packets;
        sim_run(&s, s.now + 500 * MS, &down);
        ck_assert_uint_ge(s.at_client.packets - before, 190);
        /* And uplink data from the new address is accepted. */
        before = s.at_server.packets;
        up.next = s.now;
        sim_run(&s, s.now + 500 * MS, &up);
        ck_assert_uint_ge(s.at_server.packets - before, 190);
        sim_done(&s);
}
END_TEST

START_TEST(test_nat_rebinding_v1) {
        Sim s;
        SimTraffic down = { .rate = 100000, .size = 500, .downlink = true };
        usec_t t;

        /* Version 1 (our hardened server): only a handshake makes a path, so the client sends one
         * again when its path dies, and the new address becomes a second path on the server. */
        sim_init(&s, 1, FLUX_WIRE_VERSION_1, FLUX_SCHEDULER_WEIGHTED);
        sim_run(&s, s.now + 200 * MS, NULL);
        ck_assert_int_eq(flux_path_get_state(s.cpath[0]), FLUX_PATH_UP);
        down.next = s.now;
        sim_run(&s, s.now + USEC_PER_SEC, &down);
        t = s.now;
        s.nat_gen[0] = 1;
        s.at_client.gap_from = t;
        sim_run(&s, t + 3500 * MS, &down);
        ck_assert_int_eq(flux_path_get_state(s.cpath[0]), FLUX_PATH_UP);
        ck_assert_uint_eq(flux_tunnel_get_n_paths(s.server), 2);
        ck_assert_uint_le(s.at_client.max_gap, 1500 * MS);
        /* The old address went quiet while the new one talks: down after 3 s, all downlink on
         * the new path. */
        ck_assert_int_eq(flux_path_get_state(flux_tunnel_get_path(s.server, 0)), FLUX_PATH_DOWN);
        uint64_t before = s.at_client.packets;
        sim_run(&s, s.now + USEC_PER_SEC, &down);
        ck_assert_uint_ge(s.at_client.packets - before, 195);
        /* Then it is forgotten. */
        sim_run(&s, s.now + 70 * USEC_PER_SEC, NULL);
        ck_assert_uint_eq(flux_tunnel_get_n_paths(s.server), 1);
        sim_done(&s);
}
END_TEST

START_TEST(test_long_rtt_path) {
        Sim s;
        SimTraffic up = { .rate = 100000, .size = 500 };

        /* A geostationary satellite hop next to a terrestrial one: 600 ms RTT, longer than the
         * probe ring, is measured, and the path stays up under traffic. */
        sim_init(&s, 2, FLUX_WIRE_VERSION_2, FLUX_SCHEDULER_WEIGHTED);
        sim_set_link(&s, 1, 1000000, 300 * MS, 0);
        sim_run(&s, s.now + USEC_PER_SEC, NULL);
        ck_assert_int_eq(flux_path_get_state(s.cpath[1]), FLUX_PATH_UP);
        up.next = s.now;
        sim_run(&s, s.now + 5 * USEC_PER_SEC, &up);
        ck_assert_int_eq(flux_path_get_state(s.cpath[1]), FLUX_PATH_UP);
        ck_assert_uint_ge(flux_path_get_rtt(s.cpath[1]), 590 * MS);
        ck_assert_uint_le(flux_path_get_rtt(s.cpath[1]), 640 * MS);
        ck_assert_uint_eq(s.client_state_at[1][FLUX_PATH_DOWN], 0);
        /* Striping leaves it out (its packets would wait beyond the reorder ceiling)... */
        ck_assert_uint_eq(s.up[1].data_bytes, 0);
        /* ...until it is the only path left. */
        sim_cut(&s, 0, true);
        sim_run(&s, s.now + 3 * USEC_PER_SEC, &up);
        ck_assert_uint_gt(s.up[1].data_bytes, 100000);
        sim_done(&s);
}
END_TEST

static Suite *path_suite(void) {
        Suite *s = suite_create("path");
        TCase *tc = tcase_create("state");

        tcase_add_test(tc, test_down_within_300ms_under_traffic);
        tcase_add_test(tc, test_recovery_hysteresis);
        tcase_add_test(tc, test_short_outage_no_flap);
        tcase_add_test(tc, test_idle_keepalive_and_detection);
        tcase_add_test(tc, test_loss_and_degraded);
        tcase_add_test(tc, test_rates_and_capacity);
        tcase_add_test(tc, test_nat_rebinding);
        tcase_add_test(tc, test_nat_rebinding_v1);
        tcase_add_test(tc, test_long_rtt_path);
        suite_add_tcase(s, tc);
        return s;
}

FLUX_CHECK_MAIN(path_suite);
