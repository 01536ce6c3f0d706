/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The session set-up protocol on a TLS stream, server and client side, for sd-event users.
 * Messages: src/proto/control-msg.h; wire description: docs/protocol.md "Control protocol".
 *
 * Server: a ControlServer listens on one TCP address, runs TLS handshakes (deadline, cap on
 * concurrent unauthenticated connections), takes the identity from the client certificate's CN,
 * reads the first request and asks the daemon (callbacks.request) to decide. A version-2
 * connection then stays open as a ControlConn for the session's life: keepalives both ways, rekey
 * notices, server push, bye; loss is reported through callbacks.closed. A version-1 request (only
 * when legacy clients are accepted) gets the Go-compatible response and the connection closes.
 *
 * Client: a ControlClient is one attempt over one uplink (SO_BINDTODEVICE / SO_MARK on the TCP
 * socket before connect). It sends the request (new session, or resume with the token), reports
 * the ControlSession, then keeps the connection alive until closed. */

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "control-msg.h"
#include "in-addr-util.h"
#include "macro.h"
#include "pki.h"
#include "pool.h"
#include "time-util.h"
#include "tls.h"

#define CONTROL_PORT_DEFAULT 8443U
#define CONTROL_KEEPALIVE_DEFAULT (25 * USEC_PER_SEC)
/* Nothing received for this long: the connection is lost. */
#define CONTROL_IDLE_TIMEOUT_DEFAULT (90 * USEC_PER_SEC)

typedef struct ControlServer ControlServer;
typedef struct ControlConn ControlConn;
typedef struct ControlClient ControlClient;

/* ---------------------------------------------------------------- server */

typedef struct ControlServerConfig {
        union sockaddr_union listen;     /* v4 or v6 address and port (port 0: any, see control_server_port()) */
        bool accept_legacy;              /* AcceptLegacyClients=: serve version-1 requests */
        TlsLimits limits;                /* zero fields take the TLS defaults */
        usec_t keepalive_interval;       /* 0 = CONTROL_KEEPALIVE_DEFAULT; announced to the client */
        usec_t idle_timeout;             /* 0 = CONTROL_IDLE_TIMEOUT_DEFAULT */
} ControlServerConfig;

typedef struct ControlSessionRequest {
        const char *client_name;         /* the verified certificate CN (the request named the same) */
        unsigned protocol;               /* CONTROL_PROTOCOL_V1 or _V2 */
        bool resume;                     /* the resume token was verified for (session id, name) */
        uint32_t resume_session_id;
        /* CONTROL_KEY_SIZE bytes. v2: the TLS exporter secret ("EXPORTER-fluxify-v2-data") of this
         * connection, never sent. v1: the random session key that the response will carry. On
         * resume the data plane keeps its keys; this is the new connection's secret. */
        const uint8_t *data_secret;
        union sockaddr_union peer;
        /* v2, optional: the data-plane scheduler the client asked for, one of
         * control_scheduler_valid() ("weighted", "flow", "lowest-rtt", "redundant"); NULL = it did
         * not ask (the daemon's default). Valid during the call only. */
        const char *scheduler;
} ControlSessionRequest;

typedef struct ControlGrant {
        uint32_t session_id;             /* 0: control picks a random non-zero id for which
                                          * callbacks.session_id_in_use() is false. Resume: the resumed id. */
        AddressLease addresses;          /* from address_pool_acquire() */
        uint16_t udp_port;
        uint16_t mtu;                    /* 0 = not announced */
} ControlGrant;

typedef struct ControlServerCallbacks {
        /* A verified client wants a session or a resume. Fill *ret_grant and return 0; or return a
         * negative errno: the client gets an error reply (code control_error_code_from_errno(),
         * text from control_conn_set_error_message() or a default) and the connection closes.
         * For protocol 1, and on refusal, c is only valid during this call. */
        int (*request)(ControlServer *s, ControlConn *c, const ControlSessionRequest *req,
                       ControlGrant *ret_grant, void *userdata);
        /* Is this session id taken? Required when grants leave session_id 0. */
        bool (*session_id_in_use)(ControlServer *s, uint32_t id, void *userdata);
        /* An established v2 connection ended without control_conn_close(): the client said bye
         * (error 0, reason = its text), went idle (-ETIMEDOUT), or the TLS stream failed. c is freed
         * when this returns (calling control_conn_close(c) here is allowed and does nothing). */
        void (*closed)(ControlServer *s, ControlConn *c, int error, const char *reason, void *userdata);
        /* Optional: a message from an established client (rekey notice). */
        void (*message)(ControlServer *s, ControlConn *c, const ControlMsg *m, void *userdata);
} ControlServerCallbacks;

/* Binds and listens at once (errors: -EADDRINUSE, …); -ENOKEY if the store is not initialised.
 * An IPv6 listen address gets IPV6_V6ONLY: it never serves IPv4-mapped peers, so an IPv4 and an
 * IPv6 server on the same port coexist whatever net.ipv6.bindv6only says. */
int control_server_new(sd_event *e, PkiStore *store, const ControlServerConfig *cfg,
                       const ControlServerCallbacks *cb, void *userdata, ControlServer **ret);
/* Closes every connection without callbacks. */
ControlServer *control_server_free(ControlServer *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(ControlServer *, control_server_free);

uint16_t control_server_port(ControlServer *s);
void control_server_set_accept_legacy(ControlServer *s, bool accept);
/* After RegenerateCA / new server certificate: reload credentials for new handshakes. */
int control_server_reload_pki(ControlServer *s);
/* After a revocation: reload crl.pem now (it is also checked before every handshake). */
int control_server_reload_crl(ControlServer *s);
/* Sends bye(reason) to every connection of the client and closes them (no closed callback).
 * Returns how many were closed. Used on revocation. */
int control_server_close_client(ControlServer *s, const char *name, const char *reason);
unsigned control_server_n_connections(ControlServer *s);     /* established v2 connections */
unsigned control_server_n_pending(ControlServer *s);         /* in handshake or awaiting the request */

void control_conn_set_userdata(ControlConn *c, void *userdata);
void *control_conn_get_userdata(ControlConn *c);
const char *control_conn_client_name(ControlConn *c);
uint32_t control_conn_session_id(ControlConn *c);
int control_conn_get_peer(ControlConn *c, union sockaddr_union *ret);
/* During callbacks.request only: the text of the error reply. */
void control_conn_set_error_message(ControlConn *c, const char *fmt, ...) _printf_(2, 3);
int control_conn_send_rekey(ControlConn *c, uint32_t epoch);
/* Server push: routes (CIDR) and DNS servers (addresses); either may be NULL. */
int control_conn_send_push(ControlConn *c, char *const *routes, char *const *dns);
/* Sends bye(reason), flushes and closes; c is freed (no closed callback). Not from inside
 * callbacks.request (refuse by returning an error there). */
void control_conn_close(ControlConn *c, const char *reason);

/* ---------------------------------------------------------------- client */

typedef struct ControlClientConfig {
        const PkiBundle *bundle;         /* CA, client certificate and key; borrowed during new() only */
        const char *server_name;         /* checked against the server certificate (DNS name or IP) */
        union sockaddr_union remote;     /* control address and port */
        const char *bind_ifname;         /* SO_BINDTODEVICE before connect; NULL = none */
        uint32_t fwmark;                 /* SO_MARK before connect; 0 = none */
        bool has_local;                  /* bind to local before connect */
        union sockaddr_union local;
        unsigned protocol;               /* 0/2 = version 2, 1 = legacy Go server */
        const char *client_name;         /* NULL = the bundle's CN (the server refuses any other) */
        bool resume;                     /* v2: resume resume_session_id with resume_token */
        uint32_t resume_session_id;
        uint8_t resume_token[CONTROL_TOKEN_SIZE];
        const char *scheduler;           /* v2: asked of the server (control_scheduler_valid()); NULL = its default */
        TlsLimits limits;                /* zero fields take the TLS defaults */
        usec_t keepalive_interval;       /* 0 = the server's announced interval */
        usec_t idle_timeout;             /* 0 = 3 × keepalive interval + 5 s */
} ControlClientConfig;

typedef struct ControlSession {
        unsigned protocol;
        uint32_t session_id;
        AddressLease addresses;
        uint16_t udp_port;
        uint16_t mtu;                    /* 0 = not announced */
        bool resumed;                    /* same session id and addresses as before */
        uint8_t resume_token[CONTROL_TOKEN_SIZE];   /* v2 */
        /* v2: exporter secret of this connection (for a fresh session: the data-plane secret);
         * v1: the session_key of the response (the AES-256-GCM key). Wiped when the client is freed. */
        uint8_t data_secret[CONTROL_KEY_SIZE];
        union sockaddr_union server;     /* the control peer */
        usec_t keepalive_interval;
} ControlSession;

typedef struct ControlClientCallbacks {
        /* Session set up or resumed. Protocol 1: the connection closes right after (no closed()). */
        void (*established)(ControlClient *c, const ControlSession *session, void *userdata);
        /* Optional: rekey notice or push from the server. */
        void (*message)(ControlClient *c, const ControlMsg *m, void *userdata);
        /* The attempt failed or the connection ended: error < 0 (-ECONNREFUSED, -ETIMEDOUT,
         * -EPERM refused by the server or certificate rejected, -ESTALE resume refused, -ENOSPC,
         * -EPROTONOSUPPORT, -EBADMSG, …) or 0 when the server said bye; message describes it (the
         * server's text when there is one). The client is dead: free it (also allowed here). */
        void (*closed)(ControlClient *c, int error, const char *message, void *userdata);
} ControlClientCallbacks;

/* Creates the socket (SO_BINDTODEVICE, SO_MARK), starts the non-blocking connect and the TLS
 * handshake. Errors only for what fails at once (-EINVAL config, -ENODEV, socket errors). */
int control_client_new(sd_event *e, const ControlClientConfig *cfg, const ControlClientCallbacks *cb,
                       void *userdata, ControlClient **ret);
ControlClient *control_client_free(ControlClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(ControlClient *, control_client_free);

bool control_client_is_established(ControlClient *c);
void control_client_set_userdata(ControlClient *c, void *userdata);
void *control_client_get_userdata(ControlClient *c);
int control_client_send_rekey(ControlClient *c, uint32_t epoch);
/* Queues bye(reason) (established connections only) and starts the TLS close; closed() is not
 * called. Does not free c: the caller still frees it with control_client_free(), at once or later.
 * Until then the event loop flushes the bye and closes gracefully; freeing first pushes out what
 * is still queued (best effort, non-blocking) and closes the socket. */
void control_client_bye(ControlClient *c, const char *reason);
