/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc-util.h"
#include "control-util.h"
#include "control.h"
#include "fd-util.h"
#include "log.h"

typedef enum ClientState {
        CLIENT_HANDSHAKE,
        CLIENT_AWAIT_RESPONSE,
        CLIENT_ESTABLISHED,
        CLIENT_DONE,               /* reported (or bye sent); only flushing may remain */
} ClientState;

struct ControlClient {
        sd_event *event;
        TlsContext *tls;
        TlsStream *stream;
        ClientState state;
        unsigned protocol;
        char *client_name;
        ControlClientCallbacks cb;
        void *userdata;
        ControlSession session;
        usec_t keepalive_interval, idle_timeout;
        bool fixed_keepalive;
        bool resume;
        uint32_t resume_session_id;
        uint8_t resume_token[CONTROL_TOKEN_SIZE];
        char *scheduler;                 /* NULL = not asked */
        sd_event_source *response_timer, *idle_timer, *keepalive_timer;
        unsigned dispatching;
        bool free_requested;
};

static void stop_timers(ControlClient *c) {
        c->response_timer = sd_event_source_disable_unref(c->response_timer);
        c->idle_timer = sd_event_source_disable_unref(c->idle_timer);
        c->keepalive_timer = sd_event_source_disable_unref(c->keepalive_timer);
}

static void client_destroy(ControlClient *c) {
        stop_timers(c);
        c->stream = tls_stream_free(c->stream);
        tls_context_unref(c->tls);
        sd_event_unref(c->event);
        free(c->client_name);
        free(c->scheduler);
        explicit_bzero(c, sizeof(*c));
        free(c);
}

ControlClient *control_client_free(ControlClient *c) {
        if (!c)
                return NULL;
        if (c->dispatching > 0) {
                c->free_requested = true;
                return NULL;
        }
        /* A bye still queued is pushed out by tls_stream_free(). */
        client_destroy(c);
        return NULL;
}

/* Reports the end exactly once. The owner may free c inside closed(). */
static void finish(ControlClient *c, int error, const char *message) {
        if (c->state == CLIENT_DONE)
                return;
        c->state = CLIENT_DONE;
        stop_timers(c);
        c->stream = tls_stream_free(c->stream);
        explicit_bzero(&c->session.data_secret, sizeof(c->session.data_secret));
        if (!c->cb.closed)
                return;
        c->dispatching++;
        c->cb.closed(c, error, message, c->userdata);
        if (--c->dispatching == 0 && c->free_requested)
                client_destroy(c);
}

static int send_msg(ControlClient *c, const ControlMsg *m) {
        return control_send_msg(c->stream, c->keepalive_timer, c->keepalive_interval, m);
}

static int on_response_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        finish(userdata, -ETIMEDOUT, "no response from the server in time");
        return 0;
}

static int on_idle_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        finish(userdata, -ETIMEDOUT, "the server went silent (no keepalive)");
        return 0;
}

static int on_keepalive_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        ControlClient *c = userdata;

        if (control_send_keepalive(c->stream, es, c->keepalive_interval) < 0)
                finish(c, -EIO, "cannot send keepalive");
        return 0;
}

static int start_session_timers(ControlClient *c) {
        if (!c->fixed_keepalive)
                c->keepalive_interval = c->session.keepalive_interval;
        if (c->idle_timeout == 0)
                c->idle_timeout = 3 * c->session.keepalive_interval + 5 * USEC_PER_SEC;
        return control_session_timers_start(c->event, c->idle_timeout, on_idle_timer, c->keepalive_interval,
                                            on_keepalive_timer, c, &c->idle_timer, &c->keepalive_timer);
}

static void report_established(ControlClient *c) {
        c->response_timer = sd_event_source_disable_unref(c->response_timer);
        if (!c->cb.established)
                return;
        c->dispatching++;
        c->cb.established(c, &c->session, c->userdata);
        if (--c->dispatching == 0 && c->free_requested)
                client_destroy(c);
}

static void on_stream_established(TlsStream *t, void *userdata) {
        ControlClient *c = userdata;
        ControlRequest req = {
                .protocol = c->protocol,
                .client_name = c->client_name,
                .resume = c->resume,
                .resume_session_id = c->resume_session_id,
                .scheduler = c->protocol == CONTROL_PROTOCOL_V2 ? c->scheduler : NULL,
        };
        _cleanup_(freep) char *json = NULL;
        size_t n;
        int r;

        memcpy(req.resume_token, c->resume_token, CONTROL_TOKEN_SIZE);
        (void) tls_stream_get_peer_address(t, &c->session.server);
        r = control_request_encode(&req, &json, &n);
        explicit_bzero(&req, sizeof(req));
        if (r < 0)
                return finish(c, r, "cannot encode the request");
        /* v2: one line. Go server (v1): the request, then half-close; the response comes until EOF. */
        r = tls_stream_send(t, json, n);
        if (r >= 0)
                r = c->protocol == CONTROL_PROTOCOL_V1 ? tls_stream_shutdown_write(t) : tls_stream_send(t, "\n", 1);
        if (r < 0)
                return finish(c, r, "cannot send the request");
        c->state = CLIENT_AWAIT_RESPONSE;
}

static void fill_session(ControlClient *c, const ControlResponse *r) {
        c->session.protocol = r->protocol;
        c->session.session_id = r->session_id;
        c->session.udp_port = r->udp_port;
        c->session.mtu = r->mtu;
        c->session.resumed = r->resumed;
        c->session.addresses = (AddressLease) {
                .has4 = r->has_address,
                .address4 = r->address,
                .prefixlen4 = r->prefixlen,
                .has6 = r->has_address6,
                .address6 = r->address6,
                .prefixlen6 = r->prefixlen6,
        };
        memcpy(c->session.resume_token, r->resume_token, CONTROL_TOKEN_SIZE);
        c->session.keepalive_interval = r->keepalive_sec * USEC_PER_SEC;
}

static void handle_error_msg(ControlClient *c, const ControlMsg *m) {
        char buf[1100];

        snprintf(buf, sizeof(buf), "server refused: %s (%s)", m->error.message,
                 strna(control_error_code_to_string(m->error.code)));
        finish(c, control_error_code_to_errno(m->error.code), buf);
}

static void handle_v2_response(ControlClient *c, ControlMsg *m) {
        int r;

        if (m->type == CONTROL_MSG_ERROR)
                return handle_error_msg(c, m);
        if (m->type != CONTROL_MSG_RESPONSE)
                return finish(c, -EBADMSG, "unexpected message instead of the response");
        if (c->resume && (!m->response.resumed || m->response.session_id != c->resume_session_id))
                return finish(c, -EBADMSG, "the server answered a resume with another session");
        fill_session(c, &m->response);
        r = tls_stream_export(c->stream, TLS_EXPORTER_LABEL_DATA, c->session.data_secret, CONTROL_KEY_SIZE);
        if (r < 0)
                return finish(c, r, "cannot derive the session secret");
        r = start_session_timers(c);
        if (r < 0)
                return finish(c, r, "cannot start timers");
        c->state = CLIENT_ESTABLISHED;
        report_established(c);
}

static void handle_v1_response(ControlClient *c, const char *rest, size_t size);

static void on_stream_message(TlsStream *t, const char *msg, size_t size, void *userdata) {
        ControlClient *c = userdata;
        ControlMsg m = {};
        int r;

        if (c->protocol == CONTROL_PROTOCOL_V1) {
                /* Go servers end the response with EOF (on_stream_eof()); ours may end a refusal
                 * with a newline. */
                if (c->state == CLIENT_AWAIT_RESPONSE)
                        handle_v1_response(c, msg, size);
                return;
        }

        r = control_msg_decode(msg, size, &m);
        if (r == -EOPNOTSUPP)
                return; /* a message type from a newer server */
        if (r < 0)
                return finish(c, r, "malformed message from the server");

        if (c->idle_timer)
                (void) sd_event_source_set_time_relative(c->idle_timer, c->idle_timeout);
        if (c->state == CLIENT_AWAIT_RESPONSE)
                handle_v2_response(c, &m);
        else if (c->state == CLIENT_ESTABLISHED) {
                switch (m.type) {
                case CONTROL_MSG_KEEPALIVE:
                        break;
                case CONTROL_MSG_BYE:
                        finish(c, 0, m.bye.reason);
                        break;
                case CONTROL_MSG_ERROR:
                        handle_error_msg(c, &m);
                        break;
                case CONTROL_MSG_REKEY:
                case CONTROL_MSG_PUSH:
                        if (c->cb.message) {
                                c->dispatching++;
                                c->cb.message(c, &m, c->userdata);
                                if (--c->dispatching == 0 && c->free_requested) {
                                        control_msg_done(&m);
                                        client_destroy(c);
                                        return;
                                }
                        }
                        break;
                default:
                        finish(c, -EBADMSG, "unexpected message from the server");
                        break;
                }
        }
        control_msg_done(&m);
}

static void handle_v1_response(ControlClient *c, const char *rest, size_t size) {
        ControlResponse resp = {};
        ControlMsg m = {};
        int r;

        /* Our own server explains a refusal even to v1 clients. */
        if (control_msg_decode(rest, size, &m) >= 0) {
                if (m.type == CONTROL_MSG_ERROR)
                        handle_error_msg(c, &m);
                else
                        finish(c, -EBADMSG, "unexpected message instead of the response");
                control_msg_done(&m);
                return;
        }
        if (size == 0)
                return finish(c, -ECONNRESET, "the server closed the connection without a response");
        r = control_response_decode_v1(rest, size, &resp);
        if (r < 0)
                return finish(c, r, "malformed version 1 response");
        if (!resp.has_session_key || !resp.has_address || resp.session_id == 0 || resp.udp_port == 0) {
                explicit_bzero(&resp, sizeof(resp));
                return finish(c, -EBADMSG, "incomplete version 1 response");
        }
        fill_session(c, &resp);
        /* Go servers hand out /24 and /64 pools (research/reference-go.md §1.10.5). */
        c->session.addresses.prefixlen4 = 24;
        c->session.addresses.prefixlen6 = 64;
        memcpy(c->session.data_secret, resp.session_key, CONTROL_KEY_SIZE);
        explicit_bzero(&resp, sizeof(resp));
        c->state = CLIENT_DONE;
        c->response_timer = sd_event_source_disable_unref(c->response_timer);
        c->stream = tls_stream_free(c->stream);
        report_established(c);
}

static void on_stream_eof(TlsStream *t, const char *rest, size_t size, void *userdata) {
        ControlClient *c = userdata;

        if (c->state != CLIENT_AWAIT_RESPONSE || c->protocol != CONTROL_PROTOCOL_V1)
                return finish(c, -ECONNRESET, "the server closed the connection");
        handle_v1_response(c, rest, size);
}

static void on_stream_error(TlsStream *t, int error, void *userdata) {
        ControlClient *c = userdata;
        char buf[300];

        if (c->state == CLIENT_DONE) {
                /* The bye was flushed (error 0) or failed: either way we are finished. */
                c->stream = tls_stream_free(c->stream);
                return;
        }
        if (error == 0)
                error = -ECONNRESET;
        if (tls_stream_verify_error(t))
                snprintf(buf, sizeof(buf), "%s", tls_stream_verify_error(t));
        else
                snprintf(buf, sizeof(buf), "%s", strerror(-error));
        finish(c, error, buf);
}

static const TlsStreamCallbacks stream_callbacks = {
        .established = on_stream_established,
        .message = on_stream_message,
        .eof = on_stream_eof,
        .error = on_stream_error,
};

static int client_socket(const ControlClientConfig *cfg) {
        _cleanup_(closep) int fd = -EBADF;

        fd = socket(cfg->remote.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        /* One attempt per uplink: pin the socket to the interface and mark it for the uplink's
         * routing table before connect(). */
        if (cfg->bind_ifname) {
                if (strlen(cfg->bind_ifname) >= IFNAMSIZ)
                        return -EINVAL;
                if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, cfg->bind_ifname, strlen(cfg->bind_ifname) + 1) < 0)
                        return -errno;
        }
        if (cfg->fwmark != 0 && setsockopt(fd, SOL_SOCKET, SO_MARK, &cfg->fwmark, sizeof(cfg->fwmark)) < 0)
                return -errno;
        if (cfg->has_local && bind(fd, &cfg->local.sa, sockaddr_len(&cfg->local)) < 0)
                return -errno;
        if (connect(fd, &cfg->remote.sa, sockaddr_len(&cfg->remote)) < 0 && errno != EINPROGRESS)
                return -errno;
        return TAKE_FD(fd);
}

int control_client_new(sd_event *e, const ControlClientConfig *cfg, const ControlClientCallbacks *cb,
                       void *userdata, ControlClient **ret) {
        ControlClient *c;
        int fd, r;

        assert_return(e && cfg && cb && ret, -EINVAL);
        assert_return(cfg->bundle && !isempty(cfg->server_name), -EINVAL);
        assert_return(cfg->remote.sa.sa_family == AF_INET || cfg->remote.sa.sa_family == AF_INET6, -EINVAL);
        assert_return(cfg->protocol <= CONTROL_PROTOCOL_V2, -EINVAL);
        assert_return(!(cfg->resume && (cfg->protocol == CONTROL_PROTOCOL_V1 || cfg->resume_session_id == 0)), -EINVAL);
        assert_return(!cfg->scheduler || control_scheduler_valid(cfg->scheduler), -EINVAL);

        c = new0(ControlClient, 1);
        if (!c)
                return -ENOMEM;
        c->event = sd_event_ref(e);
        c->cb = *cb;
        c->userdata = userdata;
        c->protocol = cfg->protocol == CONTROL_PROTOCOL_V1 ? CONTROL_PROTOCOL_V1 : CONTROL_PROTOCOL_V2;
        c->resume = cfg->resume;
        c->resume_session_id = cfg->resume_session_id;
        memcpy(c->resume_token, cfg->resume_token, CONTROL_TOKEN_SIZE);
        c->keepalive_interval = cfg->keepalive_interval;
        c->fixed_keepalive = cfg->keepalive_interval > 0;
        c->idle_timeout = cfg->idle_timeout;
        c->client_name = strdup(cfg->client_name ?: pki_bundle_name(cfg->bundle));
        if (!c->client_name) {
                client_destroy(c);
                return -ENOMEM;
        }
        if (cfg->scheduler) {
                c->scheduler = strdup(cfg->scheduler);
                if (!c->scheduler) {
                        client_destroy(c);
                        return -ENOMEM;
                }
        }

        r = tls_context_new_client(cfg->bundle, cfg->server_name, &cfg->limits, &c->tls);
        if (r < 0)
                goto fail;
        fd = client_socket(cfg);
        if (fd < 0) {
                r = fd;
                goto fail;
        }
        r = tls_stream_new(c->tls, e, fd, &stream_callbacks, c, &c->stream);
        if (r < 0) {
                safe_close(fd);
                goto fail;
        }
        /* The whole exchange up to the response is bounded: handshake deadline + message deadline. */
        r = sd_event_add_time_relative(e, &c->response_timer, CLOCK_MONOTONIC,
                                       tls_context_limits(c->tls)->handshake_timeout +
                                               tls_context_limits(c->tls)->message_timeout,
                                       0, on_response_timer, c);
        if (r < 0)
                goto fail;
        *ret = c;
        return 0;
fail:
        client_destroy(c);
        return r;
}

bool control_client_is_established(ControlClient *c) {
        return c && c->state == CLIENT_ESTABLISHED;
}

void control_client_set_userdata(ControlClient *c, void *userdata) {
        c->userdata = userdata;
}

void *control_client_get_userdata(ControlClient *c) {
        return c ? c->userdata : NULL;
}

int control_client_send_rekey(ControlClient *c, uint32_t epoch) {
        ControlMsg m = { .type = CONTROL_MSG_REKEY, .rekey.epoch = epoch };

        assert_return(c, -EINVAL);
        if (c->state != CLIENT_ESTABLISHED)
                return -ENOTCONN;
        return send_msg(c, &m);
}

void control_client_bye(ControlClient *c, const char *reason) {
        ControlMsg m = { .type = CONTROL_MSG_BYE, .bye.reason = (char *) strempty(reason) };

        if (!c || c->state == CLIENT_DONE)
                return;
        if (c->state == CLIENT_ESTABLISHED)
                (void) send_msg(c, &m);
        c->state = CLIENT_DONE;
        stop_timers(c);
        explicit_bzero(&c->session.data_secret, sizeof(c->session.data_secret));
        if (!c->stream || !tls_stream_is_established(c->stream) || tls_stream_close(c->stream) < 0)
                c->stream = tls_stream_free(c->stream);
}
