/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "alloc-util.h"
#include "control-util.h"
#include "control.h"
#include "fd-util.h"
#include "log.h"

#define ACCEPT_BATCH 16U
#define TOKEN_CONTEXT "fluxify-resume-v2"

typedef enum ConnState {
        CONN_HANDSHAKE,        /* TLS handshake running */
        CONN_AWAIT_REQUEST,    /* authenticated, waiting for the first request */
        CONN_ESTABLISHED,      /* v2 session connection */
        CONN_CLOSING,          /* detached from the daemon, flushing a last message */
} ConnState;

struct ControlConn {
        ControlServer *server;
        ControlConn *prev, *next;
        TlsStream *stream;
        ConnState state;
        unsigned protocol;
        char *name;                   /* certificate CN */
        uint32_t session_id;
        sd_event_source *request_timer, *idle_timer, *keepalive_timer;
        char *error_message;          /* set by the daemon during callbacks.request */
        bool in_request;
        void *userdata;
};

struct ControlServer {
        sd_event *event;
        PkiStore *store;
        TlsContext *tls;
        ControlServerConfig config;
        ControlServerCallbacks cb;
        void *userdata;
        int fd;
        sd_event_source *listen_source;
        ControlConn *conns;
        uint8_t token_key[32];        /* HMAC key for resume tokens, random per daemon run */
        unsigned n_established, n_pending;
};

static void conn_stop_timers(ControlConn *c) {
        c->request_timer = sd_event_source_disable_unref(c->request_timer);
        c->idle_timer = sd_event_source_disable_unref(c->idle_timer);
        c->keepalive_timer = sd_event_source_disable_unref(c->keepalive_timer);
}

static void conn_free(ControlConn *c) {
        ControlServer *s;

        if (!c)
                return;
        s = c->server;
        if (c->state == CONN_ESTABLISHED)
                s->n_established--;
        else if (c->state != CONN_CLOSING)
                s->n_pending--;
        if (c->prev)
                c->prev->next = c->next;
        else
                s->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        conn_stop_timers(c);
        c->stream = tls_stream_free(c->stream);
        free(c->name);
        free(c->error_message);
        free(c);
}

static int conn_send_msg(ControlConn *c, const ControlMsg *m) {
        return control_send_msg(c->stream, c->keepalive_timer, c->server->config.keepalive_interval, m);
}

/* From now on the daemon no longer sees this connection: counters and timers are updated, and
 * control_conn_close() on it becomes a no-op (so a daemon may call it from its closed callback). */
static void conn_mark_closing(ControlConn *c) {
        if (c->state == CONN_CLOSING)
                return;
        if (c->state == CONN_ESTABLISHED)
                c->server->n_established--;
        else
                c->server->n_pending--;
        c->state = CONN_CLOSING;
        conn_stop_timers(c);
}

/* Finish the TLS close quietly; the conn is freed when the stream ends (on_stream_error). */
static void conn_close_stream(ControlConn *c) {
        c->userdata = NULL;
        if (!tls_stream_is_established(c->stream) || tls_stream_close(c->stream) < 0)
                conn_free(c);
}

/* Detach from the daemon: optionally say bye or error, flush, close. */
static void conn_detach(ControlConn *c, const ControlMsg *last) {
        if (c->state == CONN_CLOSING)
                return;
        if (last && tls_stream_is_established(c->stream))
                (void) conn_send_msg(c, last);
        conn_mark_closing(c);
        conn_close_stream(c);
}

static void conn_refuse(ControlConn *c, ControlErrorCode code, const char *message) {
        ControlMsg m = { .type = CONTROL_MSG_ERROR, .error.code = code, .error.message = (char *) message };

        log_debug("Control: refusing %s: %s", strna(c->name), message);
        conn_detach(c, &m);
}

/* The daemon learns about a lost v2 connection; the conn is freed afterwards. */
static void conn_lost(ControlConn *c, int error, const char *reason) {
        ControlServer *s = c->server;
        bool notify = c->state == CONN_ESTABLISHED;

        conn_mark_closing(c);
        if (notify && s->cb.closed)
                s->cb.closed(s, c, error, reason, s->userdata);
        conn_free(c);
}

/* ------------------------------------------------------------------ resume tokens */

/* token = HMAC-SHA256(key, context ‖ session id (BE) ‖ client name): bound to the session and to
 * the certificate identity, valid until the daemon restarts. */
static int token_compute(ControlServer *s, uint32_t id, const char *name, uint8_t ret[CONTROL_TOKEN_SIZE]) {
        uint8_t msg[sizeof(TOKEN_CONTEXT) + 4 + 64 + 1];
        size_t n = strlen(name);

        if (n > 64)
                return -EINVAL;
        memcpy(msg, TOKEN_CONTEXT, sizeof(TOKEN_CONTEXT));
        msg[sizeof(TOKEN_CONTEXT) + 0] = (uint8_t) (id >> 24);
        msg[sizeof(TOKEN_CONTEXT) + 1] = (uint8_t) (id >> 16);
        msg[sizeof(TOKEN_CONTEXT) + 2] = (uint8_t) (id >> 8);
        msg[sizeof(TOKEN_CONTEXT) + 3] = (uint8_t) id;
        memcpy(msg + sizeof(TOKEN_CONTEXT) + 4, name, n);
        if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, s->token_key, sizeof(s->token_key), msg, sizeof(TOKEN_CONTEXT) + 4 + n,
                             ret) < 0)
                return -EIO;
        return 0;
}

static bool token_valid(ControlServer *s, uint32_t id, const char *name, const uint8_t token[CONTROL_TOKEN_SIZE]) {
        uint8_t want[CONTROL_TOKEN_SIZE];
        uint8_t diff = 0;

        if (token_compute(s, id, name, want) < 0)
                return false;
        for (size_t i = 0; i < CONTROL_TOKEN_SIZE; i++)
                diff |= want[i] ^ token[i];
        explicit_bzero(want, sizeof(want));
        return diff == 0;
}

static int random_session_id(ControlServer *s, uint32_t *ret) {
        for (unsigned attempt = 0; attempt < 64; attempt++) {
                uint32_t id;

                if (gnutls_rnd(GNUTLS_RND_NONCE, &id, sizeof(id)) < 0)
                        return -EIO;
                if (id == 0)
                        continue;
                if (s->cb.session_id_in_use && s->cb.session_id_in_use(s, id, s->userdata))
                        continue;
                *ret = id;
                return 0;
        }
        return -EBUSY;
}

/* ------------------------------------------------------------------ timers */

static int on_idle_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        ControlConn *c = userdata;

        conn_lost(c, -ETIMEDOUT, "no message from the client within the idle timeout");
        return 0;
}

static int on_keepalive_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        ControlConn *c = userdata;

        if (control_send_keepalive(c->stream, es, c->server->config.keepalive_interval) < 0)
                conn_lost(c, -EIO, "cannot send keepalive");
        return 0;
}

static int on_request_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        ControlConn *c = userdata;

        log_debug("Control: %s sent no request in time, closing.", strna(c->name));
        conn_free(c);
        return 0;
}

static int conn_start_session_timers(ControlConn *c) {
        ControlServer *s = c->server;

        return control_session_timers_start(s->event, s->config.idle_timeout, on_idle_timer,
                                            s->config.keepalive_interval, on_keepalive_timer, c, &c->idle_timer,
                                            &c->keepalive_timer);
}

/* ------------------------------------------------------------------ request */

static int send_v1_response(ControlConn *c, const ControlGrant *g, const uint8_t key[CONTROL_KEY_SIZE]) {
        ControlResponse resp = {
                .protocol = CONTROL_PROTOCOL_V1,
                .session_id = g->session_id,
                .udp_port = g->udp_port,
                .has_session_key = true,
                .has_address = g->addresses.has4,
                .address = g->addresses.address4,
                .has_address6 = g->addresses.has6,
                .address6 = g->addresses.address6,
        };
        _cleanup_(freep) char *json = NULL;
        size_t n;
        int r;

        memcpy(resp.session_key, key, CONTROL_KEY_SIZE);
        r = control_response_encode_v1(&resp, &json, &n);
        explicit_bzero(&resp, sizeof(resp));
        if (r < 0)
                return r;
        /* Go reads the response until EOF: one write, no newline, then close. */
        r = tls_stream_send(c->stream, json, n);
        explicit_bzero(json, n);
        return r;
}

static int send_v2_response(ControlConn *c, const ControlGrant *g, bool resumed) {
        ControlServer *s = c->server;
        ControlMsg m = { .type = CONTROL_MSG_RESPONSE };
        int r;

        m.response = (ControlResponse) {
                .protocol = CONTROL_PROTOCOL_V2,
                .session_id = g->session_id,
                .udp_port = g->udp_port,
                .has_address = g->addresses.has4,
                .address = g->addresses.address4,
                .prefixlen = g->addresses.prefixlen4,
                .has_address6 = g->addresses.has6,
                .address6 = g->addresses.address6,
                .prefixlen6 = g->addresses.prefixlen6,
                .mtu = g->mtu,
                .keepalive_sec = (uint32_t) MAX(s->config.keepalive_interval / USEC_PER_SEC, (usec_t) 1),
                .resumed = resumed,
        };
        r = token_compute(s, g->session_id, c->name, m.response.resume_token);
        if (r < 0)
                return r;
        r = conn_send_msg(c, &m);
        explicit_bzero(&m, sizeof(m));
        return r;
}

static const char *default_refusal(int r) {
        switch (control_error_code_from_errno(r)) {
        case CONTROL_ERROR_POOL_EXHAUSTED:
                return "no free address in the pool";
        case CONTROL_ERROR_UNKNOWN_SESSION:
                return "the session to resume does not exist any more";
        case CONTROL_ERROR_FORBIDDEN:
                return "not allowed";
        case CONTROL_ERROR_BUSY:
                return "the server is busy, try again";
        default:
                return "the server could not set up the session";
        }
}

/* Checks a decoded request against the connection. Returns -1 if acceptable, else the error code
 * with the text in buf. */
static int request_refusal(ControlConn *c, const ControlRequest *req, bool at_eof, char *buf, size_t size) {
        ControlServer *s = c->server;

        if (req->protocol == CONTROL_PROTOCOL_V1 && !s->config.accept_legacy) {
                snprintf(buf, size, "protocol version 1 is not accepted by this server (AcceptLegacyClients=no)");
                return CONTROL_ERROR_UNSUPPORTED;
        }
        if (req->protocol == CONTROL_PROTOCOL_V2 && at_eof) {
                snprintf(buf, size, "version 2 requests end with a newline");
                return CONTROL_ERROR_BAD_REQUEST;
        }
        /* The identity is the certificate's CN; a request naming anyone else is refused (the Go
         * reference trusted the request, flaw S3). v1 Go clients at HEAD send "". */
        if (!(req->protocol == CONTROL_PROTOCOL_V1 && isempty(req->client_name)) &&
            !streq(req->client_name, c->name)) {
                snprintf(buf, size, "client name '%.64s' does not match the certificate (CN '%s')",
                         req->client_name, c->name);
                return CONTROL_ERROR_FORBIDDEN;
        }
        if (req->resume && !token_valid(s, req->resume_session_id, c->name, req->resume_token)) {
                snprintf(buf, size, "invalid resume token for this session");
                return CONTROL_ERROR_UNKNOWN_SESSION;
        }
        return -1;
}

/* Lets the daemon decide. */
static int request_grant(ControlConn *c, const ControlSessionRequest *sr, ControlGrant *ret) {
        ControlServer *s = c->server;
        int r;

        c->in_request = true;
        r = s->cb.request ? s->cb.request(s, c, sr, ret, s->userdata) : -EOPNOTSUPP;
        c->in_request = false;
        return r;
}

/* Completes what the daemon granted: picks the id when the daemon left it to us, and checks the
 * contract. */
static int grant_complete(ControlConn *c, const ControlSessionRequest *sr, ControlGrant *g) {
        int r;

        if (g->session_id == 0 && !sr->resume) {
                r = random_session_id(c->server, &g->session_id);
                if (r < 0)
                        return r;
        }
        if ((sr->resume && g->session_id != sr->resume_session_id) || (!g->addresses.has4 && !g->addresses.has6) ||
            g->udp_port == 0)
                return -EPROTO; /* the daemon broke the contract */
        return 0;
}

static void conn_set_established(ControlConn *c) {
        c->state = CONN_ESTABLISHED;
        c->server->n_pending--;
        c->server->n_established++;
}

/* v1: one response, then close; the daemon does not keep c. */
static void finish_v1(ControlConn *c, const ControlSessionRequest *sr, ControlGrant *g, const uint8_t *secret) {
        int r;

        r = grant_complete(c, sr, g);
        if (r < 0)
                return conn_refuse(c, control_error_code_from_errno(r), default_refusal(r));
        c->session_id = g->session_id;
        r = send_v1_response(c, g, secret);
        if (r < 0)
                log_debug_errno(r, "Control: cannot send v1 response: %m");
        conn_detach(c, NULL);
}

/* v2: the daemon keeps c from its yes on, so every failure from here must reach it through
 * callbacks.closed (conn_lost() of an established conn), never a silent free. */
static void finish_v2(ControlConn *c, const ControlSessionRequest *sr, ControlGrant *g) {
        ControlMsg e = { .type = CONTROL_MSG_ERROR, .error.code = CONTROL_ERROR_INTERNAL,
                         .error.message = (char *) "the server could not set up the session" };
        int r;

        conn_set_established(c);
        r = grant_complete(c, sr, g);
        if (r >= 0) {
                c->session_id = g->session_id;
                r = send_v2_response(c, g, sr->resume);
        }
        if (r >= 0)
                r = conn_start_session_timers(c);
        if (r < 0) {
                (void) conn_send_msg(c, &e);
                conn_lost(c, r, "cannot complete the session set-up");
        }
}

static void handle_request(ControlConn *c, const char *data, size_t size, bool at_eof) {
        _cleanup_(freep) char *scheduler = NULL;
        ControlRequest req = {};
        ControlSessionRequest sr;
        ControlGrant grant = {};
        uint8_t secret[CONTROL_KEY_SIZE];
        char msg[256];
        int r;

        c->request_timer = sd_event_source_disable_unref(c->request_timer);
        r = control_request_decode(data, size, &req);
        if (r == -EPROTONOSUPPORT)
                return conn_refuse(c, CONTROL_ERROR_UNSUPPORTED, "unsupported control protocol version");
        if (r == -EOPNOTSUPP)
                return conn_refuse(c, CONTROL_ERROR_BAD_REQUEST,
                                   "unknown scheduler (this server knows weighted, flow, lowest-rtt, redundant)");
        if (r < 0)
                return conn_refuse(c, CONTROL_ERROR_BAD_REQUEST, "malformed request");
        r = request_refusal(c, &req, at_eof, msg, sizeof(msg));
        if (r >= 0) {
                control_request_done(&req);
                return conn_refuse(c, r, msg);
        }

        /* v2: the data-plane secret comes from the TLS exporter and never goes on the wire;
         * v1: a random key that the response carries (inherent to version 1). */
        if (req.protocol == CONTROL_PROTOCOL_V2)
                r = tls_stream_export(c->stream, TLS_EXPORTER_LABEL_DATA, secret, sizeof(secret));
        else
                r = gnutls_rnd(GNUTLS_RND_KEY, secret, sizeof(secret)) < 0 ? -EIO : 0;
        if (r < 0) {
                control_request_done(&req);
                return conn_refuse(c, CONTROL_ERROR_INTERNAL, "cannot derive the session secret");
        }
        sr = (ControlSessionRequest) {
                .client_name = c->name,
                .protocol = req.protocol,
                .resume = req.resume,
                .resume_session_id = req.resume_session_id,
                .data_secret = secret,
        };
        (void) tls_stream_get_peer_address(c->stream, &sr.peer);
        c->protocol = req.protocol;
        scheduler = TAKE_PTR(req.scheduler);
        sr.scheduler = scheduler;
        control_request_done(&req);

        r = request_grant(c, &sr, &grant);
        if (r < 0) {
                explicit_bzero(secret, sizeof(secret));
                snprintf(msg, sizeof(msg), "%s", c->error_message ?: default_refusal(r));
                return conn_refuse(c, control_error_code_from_errno(r), msg);
        }
        if (c->protocol == CONTROL_PROTOCOL_V1)
                finish_v1(c, &sr, &grant, secret);
        else
                finish_v2(c, &sr, &grant);
        explicit_bzero(secret, sizeof(secret));
}

/* ------------------------------------------------------------------ stream callbacks */

static void on_stream_established(TlsStream *t, void *userdata) {
        ControlConn *c = userdata;
        int r;

        c->name = strdup(tls_stream_peer_name(t));
        if (!c->name)
                return conn_free(c);
        c->state = CONN_AWAIT_REQUEST;
        r = sd_event_add_time_relative(c->server->event, &c->request_timer, CLOCK_MONOTONIC,
                                       tls_context_limits(c->server->tls)->message_timeout, 0, on_request_timer, c);
        if (r < 0)
                conn_free(c);
}

static void on_stream_message(TlsStream *t, const char *msg, size_t size, void *userdata) {
        ControlConn *c = userdata;
        ControlServer *s = c->server;
        ControlMsg m = {};
        int r;

        switch (c->state) {
        case CONN_AWAIT_REQUEST:
                return handle_request(c, msg, size, false);
        case CONN_ESTABLISHED:
                break;
        default:
                return; /* closing: ignore whatever still arrives */
        }

        (void) sd_event_source_set_time_relative(c->idle_timer, s->config.idle_timeout);
        r = control_msg_decode(msg, size, &m);
        if (r == -EOPNOTSUPP)
                return; /* a message type from a newer client */
        if (r < 0) {
                ControlMsg e = { .type = CONTROL_MSG_ERROR, .error.code = CONTROL_ERROR_BAD_REQUEST,
                                 .error.message = (char *) "malformed message" };
                (void) conn_send_msg(c, &e);
                conn_lost(c, -EBADMSG, "malformed message from the client");
                return;
        }
        switch (m.type) {
        case CONTROL_MSG_KEEPALIVE:
                break;
        case CONTROL_MSG_BYE: {
                _cleanup_(freep) char *reason = TAKE_PTR(m.bye.reason);

                conn_mark_closing(c);
                if (s->cb.closed)
                        s->cb.closed(s, c, 0, reason, s->userdata);
                /* The daemon saw the session end; finish the TLS close quietly. */
                conn_close_stream(c);
                break;
        }
        case CONTROL_MSG_REKEY:
                if (s->cb.message)
                        s->cb.message(s, c, &m, s->userdata);
                break;
        default:
                /* response/error/push are server → client only. */
                conn_lost(c, -EBADMSG, "unexpected message type from the client");
                break;
        }
        control_msg_done(&m);
}

static void on_stream_eof(TlsStream *t, const char *rest, size_t size, void *userdata) {
        ControlConn *c = userdata;

        if (c->state == CONN_AWAIT_REQUEST) {
                if (size == 0)
                        return conn_free(c);
                /* A version-1 client: one JSON object, then half-close. */
                return handle_request(c, rest, size, true);
        }
        if (c->state == CONN_ESTABLISHED)
                return conn_lost(c, -ECONNRESET, "the client closed the connection");
        /* Closing: keep flushing until the stream reports the end. */
}

static void on_stream_error(TlsStream *t, int error, void *userdata) {
        ControlConn *c = userdata;

        if (c->state == CONN_HANDSHAKE || c->state == CONN_AWAIT_REQUEST)
                log_debug_errno(error, "Control: connection failed before a request: %s",
                                strna(tls_stream_verify_error(t)));
        if (c->state == CONN_ESTABLISHED)
                return conn_lost(c, error ?: -ECONNRESET, error == -ETIMEDOUT ? "message deadline passed" :
                                                           error == -EMSGSIZE ? "message too large" :
                                                                                "connection lost");
        conn_free(c);
}

static const TlsStreamCallbacks stream_callbacks = {
        .established = on_stream_established,
        .message = on_stream_message,
        .eof = on_stream_eof,
        .error = on_stream_error,
};

/* ------------------------------------------------------------------ listener */

static int on_accept(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        ControlServer *s = userdata;

        for (unsigned i = 0; i < ACCEPT_BATCH; i++) {
                _cleanup_(closep) int cfd = -EBADF;
                ControlConn *c;
                int r;

                cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                                log_debug_errno(errno, "Control: accept failed: %m");
                        break;
                }
                /* Cap connections that have not yet made their request (handshake slowloris). */
                if (s->n_pending >= tls_context_limits(s->tls)->max_handshakes)
                        continue;
                c = new0(ControlConn, 1);
                if (!c)
                        continue;
                c->server = s;
                r = tls_stream_new(s->tls, s->event, cfd, &stream_callbacks, c, &c->stream);
                if (r < 0) {
                        free(c);
                        continue;
                }
                TAKE_FD(cfd);
                c->next = s->conns;
                if (s->conns)
                        s->conns->prev = c;
                s->conns = c;
                s->n_pending++;
        }
        return 0;
}

ControlServer *control_server_free(ControlServer *s) {
        if (!s)
                return NULL;
        while (s->conns)
                conn_free(s->conns);
        s->listen_source = sd_event_source_disable_unref(s->listen_source);
        s->fd = safe_close(s->fd);
        tls_context_unref(s->tls);
        sd_event_unref(s->event);
        explicit_bzero(s->token_key, sizeof(s->token_key));
        return mfree(s);
}

int control_server_new(sd_event *e, PkiStore *store, const ControlServerConfig *cfg,
                       const ControlServerCallbacks *cb, void *userdata, ControlServer **ret) {
        _cleanup_(control_server_freep) ControlServer *s = NULL;
        int r, one = 1;

        assert_return(e && store && cfg && cb && ret, -EINVAL);
        assert_return(cfg->listen.sa.sa_family == AF_INET || cfg->listen.sa.sa_family == AF_INET6, -EINVAL);
        if (!pki_store_is_initialized(store))
                return -ENOKEY;

        s = new0(ControlServer, 1);
        if (!s)
                return -ENOMEM;
        s->fd = -EBADF;
        s->event = sd_event_ref(e);
        s->store = store;
        s->config = *cfg;
        s->cb = *cb;
        s->userdata = userdata;
        if (s->config.keepalive_interval == 0)
                s->config.keepalive_interval = CONTROL_KEEPALIVE_DEFAULT;
        if (s->config.idle_timeout == 0)
                s->config.idle_timeout = CONTROL_IDLE_TIMEOUT_DEFAULT;
        if (gnutls_rnd(GNUTLS_RND_KEY, s->token_key, sizeof(s->token_key)) < 0)
                return -EIO;

        r = tls_context_new_server(store, &cfg->limits, &s->tls);
        if (r < 0)
                return r;

        s->fd = socket(cfg->listen.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s->fd < 0)
                return -errno;
        (void) setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        /* An IPv6 listener serves IPv6 only, whatever net.ipv6.bindv6only says: then [::]:P and
         * 0.0.0.0:P coexist in either bind order (like the data sockets), instead of the second one
         * failing with EADDRINUSE depending on a sysctl. */
        if (cfg->listen.sa.sa_family == AF_INET6 &&
            setsockopt(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
                return -errno;
        if (bind(s->fd, &cfg->listen.sa, sockaddr_len(&cfg->listen)) < 0)
                return -errno;
        if (listen(s->fd, SOMAXCONN) < 0)
                return -errno;
        r = sd_event_add_io(e, &s->listen_source, s->fd, EPOLLIN, on_accept, s);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

uint16_t control_server_port(ControlServer *s) {
        union sockaddr_union sa;
        socklen_t len = sizeof(sa);

        if (!s || getsockname(s->fd, &sa.sa, &len) < 0)
                return 0;
        return sockaddr_port(&sa);
}

void control_server_set_accept_legacy(ControlServer *s, bool accept) {
        s->config.accept_legacy = accept;
}

int control_server_reload_pki(ControlServer *s) {
        assert_return(s, -EINVAL);
        return tls_context_reload(s->tls);
}

int control_server_reload_crl(ControlServer *s) {
        assert_return(s, -EINVAL);
        return tls_context_reload_crl(s->tls);
}

int control_server_close_client(ControlServer *s, const char *name, const char *reason) {
        ControlConn *c, *next;
        int n = 0;

        assert_return(s && name, -EINVAL);
        for (c = s->conns; c; c = next) {
                next = c->next;
                if (!streq_ptr(c->name, name) || c->state == CONN_CLOSING)
                        continue;
                if (c->state == CONN_ESTABLISHED) {
                        ControlMsg m = { .type = CONTROL_MSG_BYE, .bye.reason = (char *) strempty(reason) };
                        conn_detach(c, &m);
                        n++;
                } else
                        conn_detach(c, NULL);
        }
        return n;
}

unsigned control_server_n_connections(ControlServer *s) {
        return s ? s->n_established : 0;
}

unsigned control_server_n_pending(ControlServer *s) {
        return s ? s->n_pending : 0;
}

void control_conn_set_userdata(ControlConn *c, void *userdata) {
        c->userdata = userdata;
}

void *control_conn_get_userdata(ControlConn *c) {
        return c ? c->userdata : NULL;
}

const char *control_conn_client_name(ControlConn *c) {
        return c ? c->name : NULL;
}

uint32_t control_conn_session_id(ControlConn *c) {
        return c ? c->session_id : 0;
}

int control_conn_get_peer(ControlConn *c, union sockaddr_union *ret) {
        assert_return(c && ret, -EINVAL);
        return tls_stream_get_peer_address(c->stream, ret);
}

void control_conn_set_error_message(ControlConn *c, const char *fmt, ...) {
        va_list ap;
        char *m = NULL;

        if (!c || !c->in_request)
                return;
        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        free(c->error_message);
        c->error_message = m;
}

int control_conn_send_rekey(ControlConn *c, uint32_t epoch) {
        ControlMsg m = { .type = CONTROL_MSG_REKEY, .rekey.epoch = epoch };

        assert_return(c, -EINVAL);
        if (c->state != CONN_ESTABLISHED)
                return -ENOTCONN;
        return conn_send_msg(c, &m);
}

int control_conn_send_push(ControlConn *c, char *const *routes, char *const *dns) {
        ControlMsg m = { .type = CONTROL_MSG_PUSH, .push.routes = (char **) routes, .push.dns = (char **) dns };

        assert_return(c, -EINVAL);
        if (c->state != CONN_ESTABLISHED)
                return -ENOTCONN;
        return conn_send_msg(c, &m);
}

void control_conn_close(ControlConn *c, const char *reason) {
        ControlMsg m = { .type = CONTROL_MSG_BYE, .bye.reason = (char *) strempty(reason) };

        if (!c)
                return;
        conn_detach(c, c->state == CONN_ESTABLISHED ? &m : NULL);
}
