/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Non-blocking GnuTLS streams on sd-event, both ends: TLS 1.3 only, mutual certificate
 * authentication against the store's CA, server name check on the client, CRL check on the
 * server, and newline-delimited messages with a size limit and deadlines.
 *
 * A TlsContext holds credentials and limits and counts the streams that have not finished their
 * handshake (server: capped). A TlsStream owns one connected (or connecting) TCP socket. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "in-addr-util.h"
#include "macro.h"
#include "pki.h"
#include "time-util.h"

/* TLS 1.3 only, AEAD suites, no compression, mutual auth. */
#define TLS_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:%SERVER_PRECEDENCE"

/* RFC 5705/8446 exporter label for the data-plane secret (docs/hacking.md). */
#define TLS_EXPORTER_LABEL_DATA "EXPORTER-fluxify-v2-data"
#define TLS_EXPORTER_SECRET_SIZE 32

#define TLS_MESSAGE_MAX_DEFAULT (16U * 1024U)
#define TLS_HANDSHAKE_TIMEOUT_DEFAULT (10 * USEC_PER_SEC)
#define TLS_MESSAGE_TIMEOUT_DEFAULT (10 * USEC_PER_SEC)
#define TLS_MAX_HANDSHAKES_DEFAULT 64U

typedef struct TlsContext TlsContext;
typedef struct TlsStream TlsStream;

typedef struct TlsLimits {
        usec_t handshake_timeout;   /* TCP connect + handshake must finish within this */
        usec_t message_timeout;     /* once the first byte of a message arrived, its '\n' must follow within this */
        size_t max_message_size;    /* per message, without the '\n' */
        unsigned max_handshakes;    /* server: streams still in handshake; more → -EBUSY */
} TlsLimits;

#define TLS_LIMITS_DEFAULT                                                                               \
        ((TlsLimits) {                                                                                   \
                .handshake_timeout = TLS_HANDSHAKE_TIMEOUT_DEFAULT,                                      \
                .message_timeout = TLS_MESSAGE_TIMEOUT_DEFAULT,                                          \
                .max_message_size = TLS_MESSAGE_MAX_DEFAULT,                                             \
                .max_handshakes = TLS_MAX_HANDSHAKES_DEFAULT,                                            \
        })

/* Server: CA as trust anchor for client certificates, server.pem + server-key.pem, crl.pem.
 * -ENOKEY if the store is not initialised. limits NULL = defaults. */
int tls_context_new_server(PkiStore *store, const TlsLimits *limits, TlsContext **ret);
/* Client: the bundle's CA as trust anchor, its certificate and key; server_name is checked
 * against the server certificate's SANs (DNS name or IP address literal). */
int tls_context_new_client(const PkiBundle *bundle, const char *server_name, const TlsLimits *limits,
                           TlsContext **ret);
TlsContext *tls_context_ref(TlsContext *c);
TlsContext *tls_context_unref(TlsContext *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(TlsContext *, tls_context_unref);

/* Server: reload CA, server certificate and CRL from the store (after RegenerateCA or a
 * re-issued server certificate). Existing streams keep their session. */
int tls_context_reload(TlsContext *c);
/* Server: reload crl.pem now. It is also reloaded automatically before each handshake when the
 * file changed (inode, size or mtime). */
int tls_context_reload_crl(TlsContext *c);
const TlsLimits *tls_context_limits(TlsContext *c);
unsigned tls_context_handshakes_pending(TlsContext *c);

typedef struct TlsStreamCallbacks {
        /* Handshake done and peer verified. */
        void (*established)(TlsStream *s, void *userdata);
        /* One complete message (the bytes before '\n', NUL-terminated, '\n' not included). */
        void (*message)(TlsStream *s, const char *msg, size_t size, void *userdata);
        /* The peer closed its sending side (close_notify or TCP FIN at a record boundary);
         * rest holds the bytes after the last '\n' (version-1 requests end this way). */
        void (*eof)(TlsStream *s, const char *rest, size_t size, void *userdata);
        /* Fatal: handshake failure or deadline (-ETIMEDOUT), verification failure
         * (-EPERM, with tls_stream_verify_error()), oversized message (-EMSGSIZE), message
         * deadline (-ETIMEDOUT), I/O error, or 0 after tls_stream_close() flushed. The stream is
         * dead; the owner frees it (it may do so inside this callback). */
        void (*error)(TlsStream *s, int error, void *userdata);
} TlsStreamCallbacks;

/* Takes ownership of fd (non-blocking TCP socket; it may still be connecting: EINPROGRESS) on
 * success. Server streams fail with -EBUSY when max_handshakes streams are in handshake. */
int tls_stream_new(TlsContext *c, sd_event *e, int fd, const TlsStreamCallbacks *cb, void *userdata,
                   TlsStream **ret);
TlsStream *tls_stream_free(TlsStream *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(TlsStream *, tls_stream_free);

void tls_stream_set_userdata(TlsStream *s, void *userdata);
void *tls_stream_get_userdata(TlsStream *s);

/* Queue bytes (a whole message including its '\n'); sent as the socket allows. */
int tls_stream_send(TlsStream *s, const void *data, size_t size);
/* Half-close after the queued data (close_notify + shutdown(SHUT_WR)); reading continues. */
int tls_stream_shutdown_write(TlsStream *s);
/* Flush the queue, send close_notify, then report error(0). Never blocks. */
int tls_stream_close(TlsStream *s);

bool tls_stream_is_established(TlsStream *s);
/* Peer certificate CN (valid once established). */
const char *tls_stream_peer_name(TlsStream *s);
/* Human-readable reason of a certificate verification failure ("certificate revoked", …). */
const char *tls_stream_verify_error(TlsStream *s);
int tls_stream_get_peer_address(TlsStream *s, union sockaddr_union *ret);
/* RFC 5705 exporter (gnutls_prf_rfc5705), no context. */
int tls_stream_export(TlsStream *s, const char *label, void *ret, size_t size);
