/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* End-to-end tests of the control protocol: real GnuTLS over loopback, server and clients on one
 * sd-event loop inside the test process. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc-util.h"
#include "check-util.h"
#include "control.h"
#include "fd-util.h"

extern char **environ;

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f) {
        return remove(p);
}

typedef struct Session {
        uint32_t id;
        char name[PKI_NAME_MAX + 1];
        AddressLease lease;
        uint8_t secret[CONTROL_KEY_SIZE];
        ControlConn *conn;
} Session;

typedef struct Fixture {
        char dir[64];
        sd_event *event;
        PkiStore *store;
        AddressPool *pool;
        ControlServer *server;
        ControlServerConfig config;
        char *bundle_pem;
        PkiBundle *bundle;

        /* server side observations */
        Session sessions[8];
        unsigned n_sessions, n_requests, n_closed;
        int closed_error;
        char closed_reason[256];
        bool last_request_resume;
        unsigned last_request_protocol;
        char last_request_scheduler[32];  /* "" = the client did not ask */

        /* client side observations */
        ControlClient *client;
        bool established;
        ControlSession session;
        int client_error;
        bool client_closed;
        char client_message[1200];
        ControlMsg pushed;
        bool got_push;
        bool exit_on_established;
        bool stop;                /* set by callbacks: loop_until_stop() returns */
        bool close_in_closed;     /* the test daemon calls control_conn_close() from closed() */
        bool bad_grant;           /* the test daemon grants a lease the response cannot carry */
        uint32_t client_rekey_epoch, server_rekey_epoch;
} Fixture;

static Fixture F;

/* sd_event_exit() finishes a loop for good; the tests need to run it repeatedly. */
static void loop_until_stop(usec_t max) {
        usec_t end = now(CLOCK_MONOTONIC) + max;

        F.stop = false;
        while (!F.stop) {
                ck_assert_msg(now(CLOCK_MONOTONIC) < end, "test deadline passed");
                ck_assert_int_ge(sd_event_run(F.event, 50 * USEC_PER_MSEC), 0);
        }
}

/* Let the loop spin for a while (to flush closes and let the server notice). */
static void spin(usec_t t) {
        usec_t end = now(CLOCK_MONOTONIC) + t, n;

        while ((n = now(CLOCK_MONOTONIC)) < end)
                ck_assert_int_ge(sd_event_run(F.event, end - n), 0);
}

/* ------------------------------------------------------------------ server callbacks (the "daemon") */

static Session *session_find(uint32_t id) {
        for (unsigned i = 0; i < F.n_sessions; i++)
                if (F.sessions[i].id == id)
                        return &F.sessions[i];
        return NULL;
}

static int srv_request(ControlServer *s, ControlConn *c, const ControlSessionRequest *req, ControlGrant *ret,
                       void *userdata) {
        Session *sess;
        int r;

        F.n_requests++;
        F.last_request_resume = req->resume;
        F.last_request_protocol = req->protocol;
        snprintf(F.last_request_scheduler, sizeof(F.last_request_scheduler), "%s", strempty(req->scheduler));
        ck_assert_str_eq(req->client_name, control_conn_client_name(c));
        ck_assert_ptr_nonnull(req->data_secret);

        if (req->resume) {
                sess = session_find(req->resume_session_id);
                if (!sess || !streq(sess->name, req->client_name))
                        return -ESTALE;
                sess->conn = c;
                *ret = (ControlGrant) { .session_id = sess->id, .addresses = sess->lease, .udp_port = 8000, .mtu = 1400 };
                return 0;
        }
        if (F.n_sessions >= ELEMENTSOF(F.sessions))
                return -EBUSY;
        sess = &F.sessions[F.n_sessions];
        r = address_pool_acquire(F.pool, req->client_name, now(CLOCK_REALTIME), &sess->lease);
        if (r < 0) {
                control_conn_set_error_message(c, "no address for %s", req->client_name);
                return r;
        }
        snprintf(sess->name, sizeof(sess->name), "%s", req->client_name);
        memcpy(sess->secret, req->data_secret, CONTROL_KEY_SIZE);
        sess->conn = c;
        F.n_sessions++;
        /* v2: let control pick a random unique id (read back from the conn); v1 conns do not
         * outlive the request, so pick one here like a daemon may. */
        if (req->protocol == CONTROL_PROTOCOL_V1) {
                sess->id = 0x1000 + F.n_sessions;
                sess->conn = NULL;
        }
        *ret = (ControlGrant) { .session_id = sess->id, .addresses = sess->lease, .udp_port = 8000, .mtu = 1400 };
        if (F.bad_grant)
                ret->addresses.prefixlen4 = 0;
        return 0;
}

static bool srv_id_in_use(ControlServer *s, uint32_t id, void *userdata) {
        return session_find(id) != NULL;
}

static void srv_closed(ControlServer *s, ControlConn *c, int error, const char *reason, void *userdata) {
        F.n_closed++;
        F.closed_error = error;
        snprintf(F.closed_reason, sizeof(F.closed_reason), "%s", strempty(reason));
        /* Allowed and harmless: the connection is already on its way out. */
        if (F.close_in_closed)
                control_conn_close(c, "again");
        for (unsigned i = 0; i < F.n_sessions; i++)
                if (F.sessions[i].conn == c)
                        F.sessions[i].conn = NULL;
        if (!F.client)
                F.stop = true;
}

static void srv_message(ControlServer *s, ControlConn *c, const ControlMsg *m, void *userdata) {
        if (m->type == CONTROL_MSG_REKEY) {
                F.server_rekey_epoch = m->rekey.epoch;
                F.stop = true;
        }
}

static const ControlServerCallbacks server_callbacks = {
        .request = srv_request,
        .session_id_in_use = srv_id_in_use,
        .closed = srv_closed,
        .message = srv_message,
};

/* Session ids are unique per fixture; record the id the server handed out. */
static void record_ids(void) {
        for (unsigned i = 0; i < F.n_sessions; i++)
                if (F.sessions[i].id == 0 && F.sessions[i].conn)
                        F.sessions[i].id = control_conn_session_id(F.sessions[i].conn);
}

/* ------------------------------------------------------------------ client callbacks */

static void cl_established(ControlClient *c, const ControlSession *s, void *userdata) {
        F.established = true;
        F.session = *s;
        record_ids();
        if (F.exit_on_established)
                F.stop = true;
}

static void cl_message(ControlClient *c, const ControlMsg *m, void *userdata) {
        if (m->type == CONTROL_MSG_REKEY) {
                F.client_rekey_epoch = m->rekey.epoch;
                F.stop = true;
        }
        if (m->type == CONTROL_MSG_PUSH) {
                F.got_push = true;
                F.pushed.type = m->type;
                F.stop = true;
        }
}

static void cl_closed(ControlClient *c, int error, const char *message, void *userdata) {
        F.client_closed = true;
        F.client_error = error;
        snprintf(F.client_message, sizeof(F.client_message), "%s", strempty(message));
        F.client = control_client_free(F.client);
        F.stop = true;
}

static const ControlClientCallbacks client_callbacks = {
        .established = cl_established,
        .message = cl_message,
        .closed = cl_closed,
};

/* ------------------------------------------------------------------ fixture */

static void server_start(bool legacy) {
        F.config = (ControlServerConfig) {
                .accept_legacy = legacy,
                .limits = { .handshake_timeout = 1 * USEC_PER_SEC, .message_timeout = 1 * USEC_PER_SEC,
                            .max_handshakes = 4 },
        };
        F.config.listen.in = (struct sockaddr_in) { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        ck_assert_int_eq(control_server_new(F.event, F.store, &F.config, &server_callbacks, NULL, &F.server), 0);
        ck_assert_uint_gt(control_server_port(F.server), 0);
}

static void setup(void) {
        char *const names[] = { (char *) "localhost", (char *) "127.0.0.1", (char *) "::1", NULL };
        AddressPoolConfig pc;

        memset(&F, 0, sizeof(F));
        snprintf(F.dir, sizeof(F.dir), "/tmp/test-control-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(F.dir));
        ck_assert_int_eq(pki_store_open(F.dir, &F.store), 0);
        ck_assert_int_eq(pki_store_initialize(F.store, PKI_KEY_ECDSA_P256, names), 0);
        ck_assert_int_eq(pki_store_issue(F.store, "laptop", 0, &F.bundle_pem), 0);
        ck_assert_int_eq(pki_bundle_parse(F.bundle_pem, strlen(F.bundle_pem), &F.bundle), 0);
        ck_assert_int_eq(address_pool_config_from_strings(ADDRESS_POOL_DEFAULT4, ADDRESS_POOL_DEFAULT6, NULL, &pc), 0);
        ck_assert_int_eq(address_pool_new(&pc, &F.pool), 0);
        ck_assert_int_ge(sd_event_new(&F.event), 0);
        server_start(false);
}

static void teardown(void) {
        F.client = control_client_free(F.client);
        F.server = control_server_free(F.server);
        F.pool = address_pool_free(F.pool);
        F.bundle = pki_bundle_free(F.bundle);
        F.store = pki_store_free(F.store);
        erase_and_free_strp(&F.bundle_pem);
        F.event = sd_event_unref(F.event);
        (void) nftw(F.dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static ControlClientConfig client_config(const PkiBundle *b) {
        ControlClientConfig c = {
                .bundle = b,
                .server_name = "127.0.0.1",
                .limits = { .handshake_timeout = 1 * USEC_PER_SEC, .message_timeout = 1 * USEC_PER_SEC },
        };
        ck_assert_int_eq(sockaddr_from_string("127.0.0.1", control_server_port(F.server), &c.remote, NULL), 0);
        return c;
}

static void ensure_event(void) {
        ck_assert_ptr_nonnull(F.event);
}

/* ------------------------------------------------------------------ tests */

static PkiBundle *issue(const char *name, usec_t nb, usec_t na) {
        _cleanup_(freep) char *pem = NULL;
        PkiBundle *b = NULL;

        if (nb == 0)
                ck_assert_int_eq(pki_store_issue(F.store, name, 0, &pem), 0);
        else
                ck_assert_int_eq(pki_store_issue_full(F.store, name, nb, na, &pem), 0);
        ck_assert_int_eq(pki_bundle_parse(pem, strlen(pem), &b), 0);
        return b;
}

static void run_once(const ControlClientConfig *c, bool exit_on_established) {
        ensure_event();
        F.established = false;
        F.client_closed = false;
        F.client_error = 0;
        F.client_message[0] = 0;
        F.exit_on_established = exit_on_established;
        ck_assert_int_eq(control_client_new(F.event, c, &client_callbacks, NULL, &F.client), 0);
        loop_until_stop(5 * USEC_PER_SEC);
}

START_TEST(test_success_and_bye) {
        ControlClientConfig c = client_config(F.bundle);
        char buf[INET6_ADDRSTRLEN];

        run_once(&c, true);
        ck_assert_msg(F.established, "client error %d: %s", F.client_error, F.client_message);
        ck_assert_uint_eq(F.n_requests, 1);
        ck_assert_uint_eq(F.last_request_protocol, 2);
        ck_assert_uint_eq(F.session.protocol, 2);
        ck_assert_uint_ne(F.session.session_id, 0);
        ck_assert_uint_eq(F.session.session_id, F.sessions[0].id);
        ck_assert(F.session.addresses.has4 && F.session.addresses.has6);
        ck_assert_str_eq(inet_ntop(AF_INET, &F.session.addresses.address4, buf, sizeof(buf)), "10.8.0.2");
        ck_assert_uint_eq(F.session.addresses.prefixlen4, 24);
        ck_assert_str_eq(inet_ntop(AF_INET6, &F.session.addresses.address6, buf, sizeof(buf)), "fd00:8::2");
        ck_assert_uint_eq(F.session.addresses.prefixlen6, 64);
        ck_assert_uint_eq(F.session.udp_port, 8000);
        ck_assert_uint_eq(F.session.mtu, 1400);
        ck_assert(!F.session.resumed);
        /* Both ends derived the same exporter secret; it never went over the wire. */
        ck_assert_mem_eq(F.session.data_secret, F.sessions[0].secret, CONTROL_KEY_SIZE);
        ck_assert(control_client_is_established(F.client));
        ck_assert_uint_eq(control_server_n_connections(F.server), 1);

        /* Server push reaches the client. */
        {
                char *routes[] = { (char *) "192.168.7.0/24", NULL };
                ck_assert_int_eq(control_conn_send_push(F.sessions[0].conn, routes, NULL), 0);
                loop_until_stop(5 * USEC_PER_SEC);
                ck_assert(F.got_push);
        }

        /* Rekey notices both ways. */
        ck_assert_int_eq(control_conn_send_rekey(F.sessions[0].conn, 3), 0);
        loop_until_stop(5 * USEC_PER_SEC);
        ck_assert_uint_eq(F.client_rekey_epoch, 3);
        ck_assert_int_eq(control_client_send_rekey(F.client, 7), 0);
        loop_until_stop(5 * USEC_PER_SEC);
        ck_assert_uint_eq(F.server_rekey_epoch, 7);

        /* The client says bye: the daemon hears about it with error 0 and the reason. */
        F.close_in_closed = true;
        control_client_bye(F.client, "user disconnect");
        F.client = control_client_free(F.client);
        spin(300 * USEC_PER_MSEC);
        ck_assert_uint_eq(F.n_closed, 1);
        ck_assert_int_eq(F.closed_error, 0);
        ck_assert_str_eq(F.closed_reason, "user disconnect");
        ck_assert_uint_eq(control_server_n_connections(F.server), 0);
}
END_TEST

START_TEST(test_wrong_ca) {
        char *const names[] = { (char *) "127.0.0.1", NULL };
        _cleanup_(pki_store_freep) PkiStore *other = NULL;
        _cleanup_(pki_bundle_freep) PkiBundle *b = NULL;
        _cleanup_(freep) char *pem = NULL, *odir = strdup("/tmp/test-control-ca-XXXXXX");
        ControlClientConfig c;

        ck_assert_ptr_nonnull(mkdtemp(odir));
        ck_assert_int_eq(pki_store_open(odir, &other), 0);
        ck_assert_int_eq(pki_store_initialize(other, PKI_KEY_ECDSA_P256, names), 0);
        ck_assert_int_eq(pki_store_issue(other, "laptop", 0, &pem), 0);
        ck_assert_int_eq(pki_bundle_parse(pem, strlen(pem), &b), 0);
        c = client_config(b);
        run_once(&c, true);
        ck_assert(!F.established);
        ck_assert(F.client_closed);
        /* The client does not trust the server (other CA): refused before anything is sent. */
        ck_assert_int_eq(F.client_error, -EPERM);
        ck_assert_msg(strcasestr(F.client_message, "not trusted"), "%s",
                      F.client_message);
        ck_assert_uint_eq(F.n_requests, 0);
        /* A client that trusts our server but holds a certificate from another CA: the server
         * refuses it. */
        {
                _cleanup_(pki_bundle_freep) PkiBundle *mixed = NULL;
                _cleanup_(freep) char *text = NULL;

                ck_assert_int_ge(asprintf(&text, "%s%s%s", pki_bundle_ca_pem(F.bundle), pki_bundle_cert_pem(b),
                                          pki_bundle_key_pem(b)), 0);
                ck_assert_int_eq(pki_bundle_parse(text, strlen(text), &mixed), 0);
                c = client_config(mixed);
                run_once(&c, true);
                ck_assert(!F.established);
                ck_assert_int_eq(F.client_error, -EPERM);
                ck_assert_msg(strstr(F.client_message, "peer rejected our certificate: CA is unknown"), "%s",
                              F.client_message);
                ck_assert_uint_eq(F.n_requests, 0);
        }
        (void) nftw(odir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}
END_TEST

START_TEST(test_wrong_server_name) {
        ControlClientConfig c = client_config(F.bundle);

        c.server_name = "vpn.example.org"; /* not among the SANs */
        run_once(&c, true);
        ck_assert(!F.established);
        ck_assert_int_eq(F.client_error, -EPERM);
        ck_assert_msg(strstr(F.client_message, "name in the certificate does not match"), "%s", F.client_message);
        ck_assert_uint_eq(F.n_requests, 0);
}
END_TEST

START_TEST(test_revoked_client) {
        _cleanup_(pki_bundle_freep) PkiBundle *b = issue("phone", 0, 0);
        ControlClientConfig c = client_config(b);

        ck_assert_int_eq(pki_store_revoke(F.store, "phone"), 0);
        /* No explicit reload: the server notices the new crl.pem before the next handshake. */
        run_once(&c, true);
        ck_assert(!F.established);
        ck_assert_int_eq(F.client_error, -EPERM);
        ck_assert_msg(strstr(F.client_message, "peer rejected our certificate: Certificate was revoked"), "%s",
                      F.client_message);
        ck_assert_uint_eq(F.n_requests, 0);

        /* A valid client still gets in. */
        c = client_config(F.bundle);
        run_once(&c, true);
        ck_assert(F.established);
}
END_TEST

START_TEST(test_revocation_closes_session) {
        ControlClientConfig c = client_config(F.bundle);

        run_once(&c, true);
        ck_assert(F.established);
        ck_assert_int_eq(pki_store_revoke(F.store, "laptop"), 0);
        ck_assert_int_eq(control_server_reload_crl(F.server), 0);
        ck_assert_int_eq(control_server_close_client(F.server, "laptop", "certificate revoked"), 1);
        loop_until_stop(5 * USEC_PER_SEC);
        ck_assert(F.client_closed);
        ck_assert_int_eq(F.client_error, 0);
        ck_assert_str_eq(F.client_message, "certificate revoked");
        /* And it cannot come back. */
        c = client_config(F.bundle);
        run_once(&c, true);
        ck_assert(!F.established);
        ck_assert_int_eq(F.client_error, -EPERM);
}
END_TEST

/* A handshake that was accepted before a revocation and finishes after it must not get in: the
 * server took its credentials (and CRL) at accept time, the client sends its certificate later.
 * Both with the daemon's explicit reload and with only crl.pem changed on disk. */
static void revoke_during_handshake(const char *name, bool daemon_reload) {
        _cleanup_(pki_bundle_freep) PkiBundle *b = issue(name, 0, 0);
        ControlClientConfig c = client_config(b);
        usec_t end = now(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC;
        unsigned requests = F.n_requests;

        F.established = F.client_closed = false;
        F.exit_on_established = true;
        ck_assert_int_eq(control_client_new(F.event, &c, &client_callbacks, NULL, &F.client), 0);
        /* sd-event dispatches one source per iteration: stop right after the accept. */
        while (control_server_n_pending(F.server) == 0) {
                ck_assert_msg(now(CLOCK_MONOTONIC) < end, "the server never accepted");
                ck_assert_int_ge(sd_event_run(F.event, 50 * USEC_PER_MSEC), 0);
        }
        ck_assert(!F.established && !F.client_closed);

        ck_assert_int_eq(pki_store_revoke(F.store, name), 0);
        if (daemon_reload) {
                /* What the daemon does on RevokeCertificate. */
                ck_assert_int_eq(control_server_reload_crl(F.server), 0);
                ck_assert_int_eq(control_server_close_client(F.server, name, "revoked"), 0);
        }

        loop_until_stop(5 * USEC_PER_SEC);
        ck_assert_msg(!F.established, "a revoked client got a session");
        ck_assert_int_eq(F.client_error, -EPERM);
        ck_assert_msg(strstr(F.client_message, "revoked"), "%s", F.client_message);
        ck_assert_uint_eq(F.n_requests, requests);
        spin(100 * USEC_PER_MSEC);
        ck_assert_uint_eq(control_server_n_pending(F.server), 0);
}

START_TEST(test_revocation_during_handshake) {
        revoke_during_handshake("phone", true);
        revoke_during_handshake("tablet", false);

        /* Others still get in. */
        {
                ControlClientConfig c = client_config(F.bundle);
                run_once(&c, true);
                ck_assert(F.established);
        }
}
END_TEST

/* The daemon said yes and keeps the connection, but the set-up cannot be completed (here: a grant
 * the response cannot carry): the daemon must hear that the connection is gone, or it keeps a
 * dangling ControlConn. */
START_TEST(test_failure_after_grant) {
        ControlClientConfig c = client_config(F.bundle);

        F.bad_grant = true;
        run_once(&c, true);
        ck_assert(!F.established);
        ck_assert(F.client_closed);
        ck_assert_int_lt(F.client_error, 0);
        spin(100 * USEC_PER_MSEC);
        ck_assert_uint_eq(F.n_requests, 1);
        ck_assert_uint_eq(F.n_closed, 1);
        ck_assert_int_lt(F.closed_error, 0);
        ck_assert_ptr_null(F.sessions[0].conn);
        ck_assert_uint_eq(control_server_n_connections(F.server), 0);
        ck_assert_uint_eq(control_server_n_pending(F.server), 0);
}
END_TEST

START_TEST(test_expired_client) {
        usec_t t = now(CLOCK_REALTIME);
        _cleanup_(pki_bundle_freep) PkiBundle *b = issue("old", t - 10 * USEC_PER_DAY, t - USEC_PER_DAY);
        ControlClientConfig c = client_config(b);

        run_once(&c, true);
        ck_assert(!F.established);
        ck_assert_int_eq(F.client_error, -EPERM);
        ck_assert_msg(strstr(F.client_message, "peer rejected our certificate: Certificate is expired"), "%s",
                      F.client_message);
        ck_assert_uint_eq(F.n_requests, 0);
}
END_TEST

START_TEST(test_cn_mismatch) {
        ControlClientConfig c = client_config(F.bundle);

        c.client_name = "someone";
        run_once(&c, true);
        ck_assert(!F.established);
        ck_assert_int_eq(F.client_error, -EPERM);
        ck_assert_msg(strstr(F.client_message, "client name 'someone' does not match the certificate (CN 'laptop')"),
                      "%s", F.client_message);
        ck_assert_uint_eq(F.n_requests, 0);
        ck_assert_uint_eq(address_pool_n_leases(F.pool), 0);
}
END_TEST

START_TEST(test_resume) {
        ControlClientConfig c = client_config(F.bundle);
        ControlSession first;

        run_once(&c, true);
        ck_assert(F.established);
        first = F.session;
        /* The connection dies without a bye (uplink gone): the daemon is told, keeps the session. */
        F.close_in_closed = true;
        F.client = control_client_free(F.client);
        spin(200 * USEC_PER_MSEC);
        ck_assert_uint_eq(F.n_closed, 1);
        ck_assert_int_lt(F.closed_error, 0);

        c.resume = true;
        c.resume_session_id = first.session_id;
        memcpy(c.resume_token, first.resume_token, CONTROL_TOKEN_SIZE);
        run_once(&c, true);
        ck_assert_msg(F.established, "%s", F.client_message);
        ck_assert(F.last_request_resume);
        ck_assert(F.session.resumed);
        ck_assert_uint_eq(F.session.session_id, first.session_id);
        ck_assert(in_addr_equal(AF_INET, &F.session.addresses.address4, &first.addresses.address4));
        ck_assert(in_addr_equal(AF_INET6, &F.session.addresses.address6, &first.addresses.address6));
        ck_assert_uint_eq(F.n_sessions, 1);
        F.client = control_client_free(F.client);

        /* A forged token is refused. */
        c.resume_token[0] ^= 1;
        run_once(&c, true);
        ck_assert(!F.established);
        ck_assert_int_eq(F.client_error, -ESTALE);
        ck_assert_msg(strstr(F.client_message, "invalid resume token"), "%s", F.client_message);

        /* A valid token for a session the daemon no longer has. */
        c.resume_token[0] ^= 1;
        F.sessions[0].id = 12345;
        run_once(&c, true);
        ck_assert(!F.established);
        ck_assert_int_eq(F.client_error, -ESTALE);
}
END_TEST

START_TEST(test_v1_legacy) {
        ControlClientConfig c = client_config(F.bundle);
        char buf[INET_ADDRSTRLEN];

        /* Refused unless the server accepts legacy clients. */
        c.protocol = CONTROL_PROTOCOL_V1;
        run_once(&c, true);
        ck_assert(!F.established);
        ck_assert_int_eq(F.client_error, -EPROTONOSUPPORT);
        ck_assert_msg(strstr(F.client_message, "AcceptLegacyClients=no"), "%s", F.client_message);
        ck_assert_uint_eq(F.n_requests, 0);

        control_server_set_accept_legacy(F.server, true);
        run_once(&c, true);
        ck_assert_msg(F.established, "%s", F.client_message);
        ck_assert_uint_eq(F.last_request_protocol, 1);
        ck_assert_uint_eq(F.session.protocol, 1);
        ck_assert_uint_eq(F.session.session_id, F.sessions[0].id);
        ck_assert_str_eq(inet_ntop(AF_INET, &F.session.addresses.address4, buf, sizeof(buf)), "10.8.0.2");
        /* v1: the key is the random session_key from the response. */
        ck_assert_mem_eq(F.session.data_secret, F.sessions[0].secret, CONTROL_KEY_SIZE);
        spin(200 * USEC_PER_MSEC);
        /* v1 connections are not kept. */
        ck_assert_uint_eq(control_server_n_connections(F.server), 0);
        ck_assert_uint_eq(control_server_n_pending(F.server), 0);
}
END_TEST

/* ------------------------------------------------------------------ raw peers */

typedef struct Raw {
        int fd;
        usec_t start, closed_at;
        bool closed;
} Raw;

static int raw_connect(void) {
        union sockaddr_union sa;
        int fd;

        ck_assert_int_eq(sockaddr_from_string("127.0.0.1", control_server_port(F.server), &sa, NULL), 0);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert(connect(fd, &sa.sa, sizeof(sa.in)) == 0 || errno == EINPROGRESS);
        return fd;
}

static int on_raw(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Raw *r = userdata;
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof(buf), 0);

        if (n > 0)
                return 0; /* server hello etc. */
        if (n < 0 && errno == EAGAIN)
                return 0;
        r->closed = true;
        r->closed_at = now(CLOCK_MONOTONIC);
        sd_event_source_set_enabled(s, SD_EVENT_OFF);
        F.stop = true;
        return 0;
}

START_TEST(test_stall_mid_handshake) {
        Raw raw = { .start = now(CLOCK_MONOTONIC) };
        sd_event_source *s = NULL;
        /* The start of a TLS record header and nothing more: a peer stuck mid-handshake. */
        static const uint8_t partial[] = { 0x16, 0x03, 0x01, 0x02 };

        raw.fd = raw_connect();
        spin(50 * USEC_PER_MSEC);
        (void) send(raw.fd, partial, sizeof(partial), MSG_NOSIGNAL);
        ck_assert_int_ge(sd_event_add_io(F.event, &s, raw.fd, EPOLLIN, on_raw, &raw), 0);
        loop_until_stop(5 * USEC_PER_SEC);
        ck_assert(raw.closed);
        /* Dropped at the (1 s) handshake deadline, not before and not much later. */
        ck_assert_uint_ge(raw.closed_at - raw.start, 900 * USEC_PER_MSEC);
        ck_assert_uint_lt(raw.closed_at - raw.start, 2500 * USEC_PER_MSEC);
        ck_assert_uint_eq(control_server_n_pending(F.server), 0);
        sd_event_source_disable_unref(s);
                safe_close(raw.fd);
}
END_TEST

START_TEST(test_unauthenticated_cap) {
        Raw raws[5] = {};
        sd_event_source *s[5] = {};

        /* max_handshakes = 4: the fifth connection is closed at once. */
        for (unsigned i = 0; i < 5; i++) {
                raws[i].fd = raw_connect();
                raws[i].start = now(CLOCK_MONOTONIC);
                spin(30 * USEC_PER_MSEC);
        }
        ck_assert_uint_eq(control_server_n_pending(F.server), 4);
        ck_assert_int_ge(sd_event_add_io(F.event, &s[4], raws[4].fd, EPOLLIN, on_raw, &raws[4]), 0);
        spin(200 * USEC_PER_MSEC);
        ck_assert(raws[4].closed);
        ck_assert_uint_lt(raws[4].closed_at - raws[4].start, 500 * USEC_PER_MSEC);
        /* … and a real client waits its turn: after the deadline the stalled ones are gone. */
        spin(1200 * USEC_PER_MSEC);
        ck_assert_uint_eq(control_server_n_pending(F.server), 0);
        {
                ControlClientConfig c = client_config(F.bundle);
                run_once(&c, true);
                ck_assert(F.established);
        }
        for (unsigned i = 0; i < 5; i++) {
                sd_event_source_disable_unref(s[i]);
                safe_close(raws[i].fd);
        }
}
END_TEST

/* An authenticated peer speaking raw TLS streams, for framing abuse. */
typedef struct RawTls {
        TlsStream *stream;
        int error;
        bool done, eof, established;
        char last[512];
} RawTls;

static void rt_established(TlsStream *s, void *userdata) {
        RawTls *r = userdata;
        r->established = true;
        F.stop = true;
}

static void rt_message(TlsStream *s, const char *msg, size_t n, void *userdata) {
        RawTls *r = userdata;
        snprintf(r->last, sizeof(r->last), "%s", msg);
}

static void rt_eof(TlsStream *s, const char *rest, size_t n, void *userdata) {
        RawTls *r = userdata;
        r->eof = true;
        r->done = true;
        F.stop = true;
}

static void rt_error(TlsStream *s, int error, void *userdata) {
        RawTls *r = userdata;
        r->error = error;
        r->done = true;
        F.stop = true;
}

static const TlsStreamCallbacks rt_callbacks = {
        .established = rt_established, .message = rt_message, .eof = rt_eof, .error = rt_error,
};

static void raw_tls_connect(RawTls *rt, TlsContext **ctx) {
        ck_assert_int_eq(tls_context_new_client(F.bundle, "127.0.0.1", NULL, ctx), 0);
        ck_assert_int_eq(tls_stream_new(*ctx, F.event, raw_connect(), &rt_callbacks, rt, &rt->stream), 0);
        loop_until_stop(5 * USEC_PER_SEC);
        ck_assert(rt->established);
}

START_TEST(test_oversized_message) {
        _cleanup_(tls_context_unrefp) TlsContext *ctx = NULL;
        RawTls rt = {};
        size_t n = CONTROL_MSG_MAX + 4096;
        _cleanup_(freep) char *big = malloc(n);

        raw_tls_connect(&rt, &ctx);
        memset(big, 'x', n);
        big[0] = '{';
        ck_assert_int_eq(tls_stream_send(rt.stream, big, n), 0);
        loop_until_stop(5 * USEC_PER_SEC);
        /* The server dropped us without reading the rest and without asking the daemon. */
        ck_assert(rt.done);
        ck_assert_uint_eq(F.n_requests, 0);
        spin(100 * USEC_PER_MSEC);
        ck_assert_uint_eq(control_server_n_pending(F.server), 0);
                tls_stream_free(rt.stream);
}
END_TEST

START_TEST(test_malformed_request) {
        _cleanup_(tls_context_unrefp) TlsContext *ctx = NULL;
        RawTls rt = {};

        const char *bad = "{\"client_name\":\"laptop\",\"protocol\":2,\"resume\":5}\n";

        raw_tls_connect(&rt, &ctx);
        ck_assert_int_eq(tls_stream_send(rt.stream, bad, strlen(bad)), 0);
        loop_until_stop(5 * USEC_PER_SEC);
        ck_assert(rt.done);
        ck_assert_msg(strstr(rt.last, "\"code\":\"bad-request\""), "%s", rt.last);
        ck_assert_uint_eq(F.n_requests, 0);
                tls_stream_free(rt.stream);
}
END_TEST

START_TEST(test_request_deadline) {
        _cleanup_(tls_context_unrefp) TlsContext *ctx = NULL;
        RawTls rt = {};
        usec_t start;

        /* Authenticated but silent: dropped after the message deadline. */
        raw_tls_connect(&rt, &ctx);
        start = now(CLOCK_MONOTONIC);
        loop_until_stop(5 * USEC_PER_SEC);
        ck_assert(rt.done);
        ck_assert_uint_ge(now(CLOCK_MONOTONIC) - start, 800 * USEC_PER_MSEC);
                tls_stream_free(rt.stream);
}
END_TEST

START_TEST(test_partial_message_deadline) {
        _cleanup_(tls_context_unrefp) TlsContext *ctx = NULL;
        RawTls rt = {};
        usec_t start;

        /* Half a request, then nothing: the per-message deadline (1 s) drops the peer. */
        raw_tls_connect(&rt, &ctx);
        ck_assert_int_eq(tls_stream_send(rt.stream, "{\"client_name\":", 15), 0);
        spin(500 * USEC_PER_MSEC);
        ck_assert(!rt.done);
        start = now(CLOCK_MONOTONIC);
        loop_until_stop(5 * USEC_PER_SEC);
        ck_assert(rt.done);
        ck_assert_uint_lt(now(CLOCK_MONOTONIC) - start, 1500 * USEC_PER_MSEC);
        ck_assert_uint_eq(F.n_requests, 0);
        tls_stream_free(rt.stream);
}
END_TEST

START_TEST(test_v2_request_without_newline) {
        _cleanup_(tls_context_unrefp) TlsContext *ctx = NULL;
        const char *req = "{\"client_name\":\"laptop\",\"protocol\":2}";
        RawTls rt = {};

        raw_tls_connect(&rt, &ctx);
        ck_assert_int_eq(tls_stream_send(rt.stream, req, strlen(req)), 0);
        ck_assert_int_eq(tls_stream_shutdown_write(rt.stream), 0);
        loop_until_stop(5 * USEC_PER_SEC);
        ck_assert(rt.done);
        ck_assert_msg(strstr(rt.last, "version 2 requests end with a newline"), "%s", rt.last);
        ck_assert_uint_eq(F.n_requests, 0);
        tls_stream_free(rt.stream);
}
END_TEST

START_TEST(test_unknown_scheduler) {
        _cleanup_(tls_context_unrefp) TlsContext *ctx = NULL;
        const char *req = "{\"client_name\":\"laptop\",\"protocol\":2,\"scheduler\":\"fastest\"}\n";
        RawTls rt = {};

        raw_tls_connect(&rt, &ctx);
        ck_assert_int_eq(tls_stream_send(rt.stream, req, strlen(req)), 0);
        loop_until_stop(5 * USEC_PER_SEC);
        ck_assert(rt.done);
        ck_assert_msg(strstr(rt.last, "\"code\":\"bad-request\""), "%s", rt.last);
        ck_assert_msg(strstr(rt.last, "unknown scheduler"), "%s", rt.last);
        ck_assert_uint_eq(F.n_requests, 0);
        tls_stream_free(rt.stream);
}
END_TEST

START_TEST(test_idle_timeout) {
        ControlClientConfig c = client_config(F.bundle);

        /* A server with a short idle timeout and a client that never sends keepalives in time. */
        F.server = control_server_free(F.server);
        F.config.idle_timeout = 400 * USEC_PER_MSEC;
        F.config.keepalive_interval = 10 * USEC_PER_SEC;
        ck_assert_int_eq(control_server_new(F.event, F.store, &F.config, &server_callbacks, NULL, &F.server), 0);
        c = client_config(F.bundle);
        c.keepalive_interval = 5 * USEC_PER_SEC;
        run_once(&c, true);
        ck_assert(F.established);
        spin(800 * USEC_PER_MSEC);
        ck_assert_uint_eq(F.n_closed, 1);
        ck_assert_int_eq(F.closed_error, -ETIMEDOUT);
        F.client = control_client_free(F.client);

        /* With keepalives every 100 ms the session survives. (The test daemon keeps leases of
         * lost sessions for resumes; end that one.) */
        ck_assert_int_eq(address_pool_release(F.pool, "laptop", now(CLOCK_REALTIME)), 0);
        F.n_closed = 0;
        c.keepalive_interval = 100 * USEC_PER_MSEC;
        run_once(&c, true);
        ck_assert_msg(F.established, "%d %s", F.client_error, F.client_message);
        spin(900 * USEC_PER_MSEC);
        ck_assert_uint_eq(F.n_closed, 0);
        ck_assert(control_client_is_established(F.client));
}
END_TEST

/* The client's scheduler reaches the daemon's request callback, fresh and on resume. */
START_TEST(test_scheduler_request) {
        ControlClientConfig c = client_config(F.bundle);
        ControlClient *x = NULL;
        uint32_t id;

        run_once(&c, true);
        ck_assert_msg(F.established, "%s", F.client_message);
        ck_assert_str_eq(F.last_request_scheduler, "");
        id = F.session.session_id;
        F.client = control_client_free(F.client);

        c.scheduler = "redundant";
        c.resume = true;
        c.resume_session_id = id;
        memcpy(c.resume_token, F.session.resume_token, CONTROL_TOKEN_SIZE);
        run_once(&c, true);
        ck_assert_msg(F.established, "%s", F.client_message);
        ck_assert(F.last_request_resume);
        ck_assert_str_eq(F.last_request_scheduler, "redundant");
        F.client = control_client_free(F.client);

        /* A name the protocol does not know is refused before anything goes on the wire. */
        c.scheduler = "fastest";
        ck_assert_int_eq(control_client_new(F.event, &c, &client_callbacks, NULL, &x), -EINVAL);
        ck_assert_ptr_null(x);
}
END_TEST

/* IPV6_V6ONLY: [::]:P and 0.0.0.0:P coexist, in either order. */
START_TEST(test_ipv6_v6only) {
        ControlServerConfig cfg = F.config;
        ControlServer *v6 = NULL, *v4 = NULL;
        uint16_t port;

        cfg.listen.in6 = (struct sockaddr_in6) { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
        ck_assert_int_eq(control_server_new(F.event, F.store, &cfg, &server_callbacks, NULL, &v6), 0);
        port = control_server_port(v6);
        cfg.listen.in = (struct sockaddr_in) { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY),
                                               .sin_port = htons(port) };
        ck_assert_int_eq(control_server_new(F.event, F.store, &cfg, &server_callbacks, NULL, &v4), 0);
        ck_assert_uint_eq(control_server_port(v4), port);
        v6 = control_server_free(v6);

        cfg.listen.in6 = (struct sockaddr_in6) { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT,
                                                 .sin6_port = htons(port) };
        ck_assert_int_eq(control_server_new(F.event, F.store, &cfg, &server_callbacks, NULL, &v6), 0);
        v6 = control_server_free(v6);
        v4 = control_server_free(v4);
}
END_TEST

START_TEST(test_ipv6_bind_and_mark) {
        ControlClientConfig c;
        ControlClient *x = NULL;

        /* A second listener on [::1]; the client pins its socket to "lo" and marks it, as it does
         * per uplink. */
        F.server = control_server_free(F.server);
        F.config.listen.in6 = (struct sockaddr_in6) { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
        ck_assert_int_eq(control_server_new(F.event, F.store, &F.config, &server_callbacks, NULL, &F.server), 0);
        c = client_config(F.bundle);
        c.remote.in6 = (struct sockaddr_in6) { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT,
                                               .sin6_port = htons(control_server_port(F.server)) };
        c.server_name = "::1";
        c.bind_ifname = "lo";
        c.fwmark = 0x42;
        run_once(&c, true);
        ck_assert_msg(F.established, "%s", F.client_message);
        F.client = control_client_free(F.client);

        /* A DNS name from the certificate works too (SNI is sent for names). */
        c.server_name = "localhost";
        c.bind_ifname = NULL;
        ck_assert_int_eq(address_pool_release(F.pool, "laptop", now(CLOCK_REALTIME)), 0);
        run_once(&c, true);
        ck_assert_msg(F.established, "%s", F.client_message);

        /* An uplink that does not exist fails at once. */
        c.bind_ifname = "nosuchif0";
        ck_assert_int_eq(control_client_new(F.event, &c, &client_callbacks, NULL, &x), -ENODEV);
        ck_assert_ptr_null(x);
        c.bind_ifname = "waytoolonginterfacename";
        ck_assert_int_eq(control_client_new(F.event, &c, &client_callbacks, NULL, &x), -EINVAL);
}
END_TEST

/* ------------------------------------------------------------------ gnutls-cli interop */

static int write_part(const char *dir, const char *name, const char *pem) {
        _cleanup_(freep) char *p = NULL;
        ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
        return write_file_atomic(p, pem, strlen(pem), 0600);
}

typedef struct Cli {
        char out[16384];
        size_t n;
        bool got_response;
} Cli;

static int on_cli_out(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Cli *cli = userdata;
        ssize_t n = read(fd, cli->out + cli->n, sizeof(cli->out) - 1 - cli->n);

        if (n <= 0) {
                sd_event_source_set_enabled(s, SD_EVENT_OFF);
                F.stop = true;
                return 0;
        }
        cli->n += (size_t) n;
        cli->out[cli->n] = 0;
        if (strstr(cli->out, "\"type\":\"response\"")) {
                cli->got_response = true;
                F.stop = true;
        }
        return 0;
}

START_TEST(test_gnutls_cli_interop) {
        _cleanup_(freep) char *ca = NULL, *crt = NULL, *key = NULL, *port = NULL;
        int in[2], out[2];
        posix_spawn_file_actions_t fa;
        sd_event_source *s = NULL;
        Cli cli = {};
        pid_t pid;
        static const char req[] = "{\"client_name\":\"laptop\",\"protocol\":2}\n";

        ck_assert_int_eq(write_part(F.dir, "cli-ca.pem", pki_bundle_ca_pem(F.bundle)), 0);
        ck_assert_int_eq(write_part(F.dir, "cli-cert.pem", pki_bundle_cert_pem(F.bundle)), 0);
        ck_assert_int_eq(write_part(F.dir, "cli-key.pem", pki_bundle_key_pem(F.bundle)), 0);
        ck_assert_int_ge(asprintf(&ca, "%s/cli-ca.pem", F.dir), 0);
        ck_assert_int_ge(asprintf(&crt, "%s/cli-cert.pem", F.dir), 0);
        ck_assert_int_ge(asprintf(&key, "%s/cli-key.pem", F.dir), 0);
        ck_assert_int_ge(asprintf(&port, "%u", control_server_port(F.server)), 0);

        ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        char *argv[] = { (char *) "gnutls-cli", (char *) "--x509cafile", ca, (char *) "--x509certfile", crt,
                         (char *) "--x509keyfile", key, (char *) "--priority", (char *) "NORMAL:-VERS-ALL:+VERS-TLS1.3",
                         (char *) "-p", port, (char *) "127.0.0.1", NULL };
        ck_assert_int_eq(posix_spawnp(&pid, "gnutls-cli", &fa, NULL, argv, environ), 0);
        posix_spawn_file_actions_destroy(&fa);
        close(in[0]);
        close(out[1]);
        ck_assert_int_eq(write(in[1], req, sizeof(req) - 1), (ssize_t) sizeof(req) - 1);

        ck_assert_int_ge(sd_event_add_io(F.event, &s, out[0], EPOLLIN, on_cli_out, &cli), 0);
        loop_until_stop(10 * USEC_PER_SEC);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        ck_assert_msg(cli.got_response, "gnutls-cli output: %s", cli.out);
        ck_assert_uint_eq(F.n_requests, 1);
        ck_assert_str_eq(F.sessions[0].name, "laptop");
        sd_event_source_disable_unref(s);
                close(in[1]);
        close(out[0]);
}
END_TEST

static Suite *control_suite(void) {
        Suite *s = suite_create("control");
        TCase *tc = tcase_create("e2e");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_success_and_bye);
        tcase_add_test(tc, test_wrong_ca);
        tcase_add_test(tc, test_wrong_server_name);
        tcase_add_test(tc, test_revoked_client);
        tcase_add_test(tc, test_revocation_closes_session);
        tcase_add_test(tc, test_revocation_during_handshake);
        tcase_add_test(tc, test_failure_after_grant);
        tcase_add_test(tc, test_expired_client);
        tcase_add_test(tc, test_cn_mismatch);
        tcase_add_test(tc, test_resume);
        tcase_add_test(tc, test_v1_legacy);
        tcase_add_test(tc, test_stall_mid_handshake);
        tcase_add_test(tc, test_unauthenticated_cap);
        tcase_add_test(tc, test_oversized_message);
        tcase_add_test(tc, test_malformed_request);
        tcase_add_test(tc, test_request_deadline);
        tcase_add_test(tc, test_partial_message_deadline);
        tcase_add_test(tc, test_v2_request_without_newline);
        tcase_add_test(tc, test_idle_timeout);
        tcase_add_test(tc, test_unknown_scheduler);
        tcase_add_test(tc, test_scheduler_request);
        tcase_add_test(tc, test_ipv6_v6only);
        tcase_add_test(tc, test_ipv6_bind_and_mark);
        tcase_add_test(tc, test_gnutls_cli_interop);
        suite_add_tcase(s, tc);
        return s;
}

FLUX_CHECK_MAIN(control_suite)
