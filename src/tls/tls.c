/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "alloc-util.h"
#include "fd-util.h"
#include "line-buffer.h"
#include "pki-internal.h"
#include "tls.h"

#define READ_CHUNK 16384U
#define WRITE_CHUNK 16384U
#define VERIFY_ERROR_MAX 256U

/* Credentials are reference counted: a reload swaps in new ones while streams created earlier
 * keep theirs until they end (GnuTLS keeps a pointer to them in the session). */
typedef struct TlsCred {
        unsigned n_ref;
        gnutls_certificate_credentials_t cred;
} TlsCred;

struct TlsContext {
        unsigned n_ref;
        bool server;
        TlsLimits limits;
        TlsCred *cred;
        gnutls_priority_t priority;
        PkiStore *store;               /* server: borrowed, outlives the context */
        char *server_name;             /* client: checked against the server certificate */
        unsigned handshakes;           /* streams not yet established */
        struct stat crl_stat;          /* server: crl.pem as last loaded */
};

typedef enum TlsState {
        TLS_CONNECTING,
        TLS_HANDSHAKE,
        TLS_ESTABLISHED,
        TLS_CLOSING,                   /* flushing, then close_notify, then error(0) */
        TLS_DEAD,
} TlsState;

struct TlsStream {
        TlsContext *ctx;
        TlsCred *cred;
        TlsState state;
        bool counted;                  /* included in ctx->handshakes */
        gnutls_session_t session;
        int fd;
        sd_event *event;
        sd_event_source *io, *handshake_timer, *message_timer;
        TlsStreamCallbacks cb;
        void *userdata;

        LineBuffer rbuf;               /* received bytes not yet delivered as messages */
        uint8_t *wbuf;                 /* queued plaintext */
        size_t wlen, woff, walloc;
        size_t wpending;               /* size passed to the interrupted gnutls_record_send(), 0 = none */
        bool shutdown_write_requested, write_shut, bye_pending, eof;

        char *peer_name;
        char verify_error[VERIFY_ERROR_MAX];
        int alert;                     /* specific alert for a verification failure, -1 = let GnuTLS choose */

        unsigned dispatching;
        bool free_requested;
};

/* ------------------------------------------------------------------ credentials */

static TlsCred *tls_cred_unref(TlsCred *c) {
        if (!c || --c->n_ref > 0)
                return NULL;
        if (c->cred)
                gnutls_certificate_free_credentials(c->cred);
        return mfree(c);
}

static TlsCred *tls_cred_ref(TlsCred *c) {
        c->n_ref++;
        return c;
}

static int verify_peer(gnutls_session_t session);

static int cred_alloc(TlsCred **ret) {
        TlsCred *c;

        c = new0(TlsCred, 1);
        if (!c)
                return -ENOMEM;
        c->n_ref = 1;
        if (gnutls_certificate_allocate_credentials(&c->cred) < 0) {
                free(c);
                return -ENOMEM;
        }
        gnutls_certificate_set_verify_function(c->cred, verify_peer);
        *ret = c;
        return 0;
}

/* gnutls_certificate_set_x509_trust_*() return how many certificates they loaded: none is an error. */
static int trust_result(int n) {
        return n > 0 ? 0 : n == 0 ? -EBADMSG : pki_errno(n);
}

static int gnutls_result(int r) {
        return r < 0 ? pki_errno(r) : 0;
}

static int cred_finish(TlsCred *c, int r, TlsCred **ret) {
        if (r < 0) {
                tls_cred_unref(c);
                return r;
        }
        *ret = c;
        return 0;
}

static int cred_new_server(PkiStore *store, TlsCred **ret) {
        TlsCred *c;
        int r;

        r = cred_alloc(&c);
        if (r < 0)
                return r;
        r = trust_result(gnutls_certificate_set_x509_trust_file(c->cred, pki_store_ca_path(store),
                                                                GNUTLS_X509_FMT_PEM));
        if (r >= 0)
                r = gnutls_result(gnutls_certificate_set_x509_key_file(c->cred, pki_store_server_cert_path(store),
                                                                       pki_store_server_key_path(store),
                                                                       GNUTLS_X509_FMT_PEM));
        /* The CRL joins the trust list, so handshakes with a revoked client certificate fail. */
        if (r >= 0)
                r = gnutls_result(gnutls_certificate_set_x509_crl_file(c->cred, pki_store_crl_path(store),
                                                                       GNUTLS_X509_FMT_PEM));
        return cred_finish(c, r, ret);
}

static int cred_new_client(const PkiBundle *b, TlsCred **ret) {
        gnutls_datum_t ca, crt, key;
        TlsCred *c;
        int r;

        r = cred_alloc(&c);
        if (r < 0)
                return r;
        ca = (gnutls_datum_t) { (unsigned char *) pki_bundle_ca_pem(b), strlen(pki_bundle_ca_pem(b)) };
        crt = (gnutls_datum_t) { (unsigned char *) pki_bundle_cert_pem(b), strlen(pki_bundle_cert_pem(b)) };
        key = (gnutls_datum_t) { (unsigned char *) pki_bundle_key_pem(b), strlen(pki_bundle_key_pem(b)) };
        r = trust_result(gnutls_certificate_set_x509_trust_mem(c->cred, &ca, GNUTLS_X509_FMT_PEM));
        if (r >= 0)
                r = gnutls_result(gnutls_certificate_set_x509_key_mem(c->cred, &crt, &key, GNUTLS_X509_FMT_PEM));
        return cred_finish(c, r, ret);
}

static void limits_fill(TlsLimits *l, const TlsLimits *in) {
        *l = TLS_LIMITS_DEFAULT;
        if (!in)
                return;
        if (in->handshake_timeout > 0)
                l->handshake_timeout = in->handshake_timeout;
        if (in->message_timeout > 0)
                l->message_timeout = in->message_timeout;
        if (in->max_message_size > 0)
                l->max_message_size = in->max_message_size;
        if (in->max_handshakes > 0)
                l->max_handshakes = in->max_handshakes;
}

static int context_new(bool server, const TlsLimits *limits, TlsContext **ret) {
        _cleanup_(tls_context_unrefp) TlsContext *c = NULL;
        const char *err = NULL;

        c = new0(TlsContext, 1);
        if (!c)
                return -ENOMEM;
        c->n_ref = 1;
        c->server = server;
        limits_fill(&c->limits, limits);
        if (gnutls_priority_init(&c->priority, TLS_PRIORITY, &err) < 0)
                return -EINVAL;
        *ret = TAKE_PTR(c);
        return 0;
}

static void crl_stat_get(TlsContext *c, struct stat *ret) {
        if (stat(pki_store_crl_path(c->store), ret) < 0)
                *ret = (struct stat) {};
}

int tls_context_new_server(PkiStore *store, const TlsLimits *limits, TlsContext **ret) {
        _cleanup_(tls_context_unrefp) TlsContext *c = NULL;
        int r;

        assert_return(store && ret, -EINVAL);
        if (!pki_store_is_initialized(store))
                return -ENOKEY;
        r = context_new(true, limits, &c);
        if (r < 0)
                return r;
        c->store = store;
        crl_stat_get(c, &c->crl_stat);
        r = cred_new_server(store, &c->cred);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

int tls_context_new_client(const PkiBundle *bundle, const char *server_name, const TlsLimits *limits,
                           TlsContext **ret) {
        _cleanup_(tls_context_unrefp) TlsContext *c = NULL;
        int r;

        assert_return(bundle && ret, -EINVAL);
        assert_return(!isempty(server_name), -EINVAL);
        r = context_new(false, limits, &c);
        if (r < 0)
                return r;
        c->server_name = strdup(server_name);
        if (!c->server_name)
                return -ENOMEM;
        r = cred_new_client(bundle, &c->cred);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

TlsContext *tls_context_ref(TlsContext *c) {
        if (c)
                c->n_ref++;
        return c;
}

TlsContext *tls_context_unref(TlsContext *c) {
        if (!c || --c->n_ref > 0)
                return NULL;
        tls_cred_unref(c->cred);
        if (c->priority)
                gnutls_priority_deinit(c->priority);
        free(c->server_name);
        return mfree(c);
}

int tls_context_reload(TlsContext *c) {
        TlsCred *n = NULL;
        int r;

        assert_return(c && c->server, -EINVAL);
        if (!pki_store_is_initialized(c->store))
                return -ENOKEY;
        crl_stat_get(c, &c->crl_stat);
        r = cred_new_server(c->store, &n);
        if (r < 0)
                return r;
        tls_cred_unref(c->cred);
        c->cred = n;
        return 0;
}

int tls_context_reload_crl(TlsContext *c) {
        /* GnuTLS cannot drop CRLs from a credential; build a fresh one. */
        return tls_context_reload(c);
}

static int context_maybe_reload_crl(TlsContext *c) {
        struct stat st;

        crl_stat_get(c, &st);
        if (st.st_ino == c->crl_stat.st_ino && st.st_size == c->crl_stat.st_size &&
            st.st_mtim.tv_sec == c->crl_stat.st_mtim.tv_sec && st.st_mtim.tv_nsec == c->crl_stat.st_mtim.tv_nsec)
                return 0;
        return tls_context_reload(c);
}

const TlsLimits *tls_context_limits(TlsContext *c) {
        return &c->limits;
}

unsigned tls_context_handshakes_pending(TlsContext *c) {
        return c->handshakes;
}

/* ------------------------------------------------------------------ verification */

#define PEER_CHAIN_MAX 16U

/* Server: the stream's credentials (and so its CRL) were taken at accept time, but the client's
 * certificate arrives with its last flight, up to the handshake deadline later. A revocation (or
 * a new CA) in between must count, so verify the chain once more against the context's current
 * credentials, reloading crl.pem first if it changed. A no-op while nothing changed. */
static int verify_peer_current(TlsStream *s, const gnutls_typed_vdata_st *data, unsigned n, unsigned *status) {
        gnutls_x509_crt_t chain[PEER_CHAIN_MAX] = {};
        gnutls_x509_trust_list_t tl = NULL;
        const gnutls_datum_t *der;
        unsigned n_der = 0, n_chain = 0;
        int r;

        if (context_maybe_reload_crl(s->ctx) < 0) {
                snprintf(s->verify_error, sizeof(s->verify_error), "cannot reload the CRL");
                return GNUTLS_E_CERTIFICATE_ERROR;
        }
        if (s->ctx->cred == s->cred)
                return 0;

        gnutls_certificate_get_trust_list(s->ctx->cred->cred, &tl);
        der = gnutls_certificate_get_peers(s->session, &n_der);
        if (!der || n_der == 0 || n_der > PEER_CHAIN_MAX)
                return GNUTLS_E_CERTIFICATE_ERROR;
        for (r = 0; n_chain < n_der && r >= 0; n_chain++) {
                r = gnutls_x509_crt_init(&chain[n_chain]);
                if (r >= 0)
                        r = gnutls_x509_crt_import(chain[n_chain], &der[n_chain], GNUTLS_X509_FMT_DER);
        }
        if (r >= 0)
                r = gnutls_x509_trust_list_verify_crt2(tl, chain, n_chain, (gnutls_typed_vdata_st *) data, n, 0,
                                                       status, NULL);
        for (unsigned i = 0; i < n_chain; i++)
                if (chain[i])
                        gnutls_x509_crt_deinit(chain[i]);
        return r;
}

/* Runs inside the handshake: checks the chain against the CA (and CRL on the server), the key
 * purpose, validity, and on the client the server name. A failure aborts the handshake with an
 * alert, and the reason is kept for tls_stream_verify_error(). */
static int verify_peer(gnutls_session_t session) {
        TlsStream *s = gnutls_session_get_ptr(session);
        gnutls_typed_vdata_st data[2];
        unsigned n = 0, status = 0;
        gnutls_datum_t out = {};
        int r;

        if (!s)
                return GNUTLS_E_CERTIFICATE_ERROR;
        if (s->ctx->server)
                data[n++] = (gnutls_typed_vdata_st) { .type = GNUTLS_DT_KEY_PURPOSE_OID,
                                                      .data = (unsigned char *) GNUTLS_KP_TLS_WWW_CLIENT };
        else {
                data[n++] = (gnutls_typed_vdata_st) { .type = GNUTLS_DT_DNS_HOSTNAME,
                                                      .data = (unsigned char *) s->ctx->server_name };
                data[n++] = (gnutls_typed_vdata_st) { .type = GNUTLS_DT_KEY_PURPOSE_OID,
                                                      .data = (unsigned char *) GNUTLS_KP_TLS_WWW_SERVER };
        }
        r = gnutls_certificate_verify_peers(session, data, n, &status);
        if (r >= 0 && status == 0 && s->ctx->server)
                r = verify_peer_current(s, data, n, &status);
        if (r < 0) {
                if (isempty(s->verify_error))
                        snprintf(s->verify_error, sizeof(s->verify_error), "no usable peer certificate (%s)",
                                 gnutls_strerror(r));
                return GNUTLS_E_CERTIFICATE_ERROR;
        }
        if (status != 0) {
                /* Tell the peer precisely what is wrong with its certificate (RFC 8446 §6.2). */
                s->alert = (status & GNUTLS_CERT_REVOKED) ? GNUTLS_A_CERTIFICATE_REVOKED :
                           (status & GNUTLS_CERT_EXPIRED) ? GNUTLS_A_CERTIFICATE_EXPIRED :
                           (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA)) ? GNUTLS_A_UNKNOWN_CA :
                                                                                                 GNUTLS_A_BAD_CERTIFICATE;
                if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) >= 0) {
                        snprintf(s->verify_error, sizeof(s->verify_error), "%s", (const char *) out.data);
                        gnutls_free(out.data);
                } else
                        snprintf(s->verify_error, sizeof(s->verify_error), "certificate not trusted");
                return GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR;
        }
        return 0;
}

static int peer_common_name(TlsStream *s) {
        _cleanup_(freep) char *cn = NULL;
        const gnutls_datum_t *certs;
        gnutls_x509_crt_t crt;
        unsigned n = 0;
        int r;

        certs = gnutls_certificate_get_peers(s->session, &n);
        if (!certs || n == 0)
                return -EPERM;
        if (gnutls_x509_crt_init(&crt) < 0)
                return -ENOMEM;
        r = gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER);
        if (r >= 0)
                r = pki_crt_common_name(crt, &cn);
        gnutls_x509_crt_deinit(crt);
        if (r < 0)
                return -EPERM;
        /* The identity must be a valid client name; CN is only meaningful for clients, but the
         * check is harmless for our server CN "fluxify-server". */
        if (!pki_name_is_valid(cn)) {
                snprintf(s->verify_error, sizeof(s->verify_error), "certificate CN is not a valid name");
                return -EPERM;
        }
        s->peer_name = TAKE_PTR(cn);
        return 0;
}

/* ------------------------------------------------------------------ stream */

static void stream_uncount(TlsStream *s) {
        if (s->counted) {
                s->ctx->handshakes--;
                s->counted = false;
        }
}

static void stream_teardown(TlsStream *s) {
        s->io = sd_event_source_disable_unref(s->io);
        s->handshake_timer = sd_event_source_disable_unref(s->handshake_timer);
        s->message_timer = sd_event_source_disable_unref(s->message_timer);
        stream_uncount(s);
        s->state = TLS_DEAD;
}

static void stream_destroy(TlsStream *s) {
        stream_teardown(s);
        if (s->session)
                gnutls_deinit(s->session);
        s->fd = safe_close(s->fd);
        tls_cred_unref(s->cred);
        tls_context_unref(s->ctx);
        sd_event_unref(s->event);
        line_buffer_done(&s->rbuf);
        erase_and_free(s->wbuf, s->walloc);
        free(s->peer_name);
        free(s);
}

/* Sends the next record of the queue, or the interrupted one again. Returns GnuTLS's result; the
 * queue advanced when it is >= 0, and an interrupted record stays pending. */
static ssize_t send_next_record(TlsStream *s) {
        ssize_t n;

        if (s->wpending > 0)
                /* An interrupted record: GnuTLS resends it when called with NULL/0. */
                n = gnutls_record_send(s->session, NULL, 0);
        else {
                s->wpending = MIN(s->wlen - s->woff, (size_t) WRITE_CHUNK);
                n = gnutls_record_send(s->session, s->wbuf + s->woff, s->wpending);
        }
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
                return n;
        s->wpending = 0;
        if (n >= 0)
                s->woff += (size_t) n;
        return n;
}

/* Freed while data or a close is still queued (a bye, then free): one non-blocking attempt to
 * get it out, without waiting and without callbacks. The socket buffer almost always takes it. */
static void flush_now(TlsStream *s) {
        for (unsigned i = 0; i < 16 && (s->wpending > 0 || s->wlen > s->woff); i++)
                if (send_next_record(s) < 0)
                        return;
        if (s->wlen == s->woff && !s->write_shut && (s->shutdown_write_requested || s->state == TLS_CLOSING)) {
                if (gnutls_bye(s->session, GNUTLS_SHUT_WR) >= 0)
                        s->write_shut = true;
        }
}

TlsStream *tls_stream_free(TlsStream *s) {
        if (!s)
                return NULL;
        if (s->state == TLS_ESTABLISHED || s->state == TLS_CLOSING)
                flush_now(s);
        if (s->dispatching > 0) {
                /* Freed from inside one of our callbacks: finish when the callback returns. */
                stream_teardown(s);
                s->free_requested = true;
                return NULL;
        }
        stream_destroy(s);
        return NULL;
}

/* Returns false if the stream must not be touched any more (freed by the callback). */
static bool dispatch_end(TlsStream *s) {
        assert(s->dispatching > 0);
        if (--s->dispatching == 0 && s->free_requested) {
                stream_destroy(s);
                return false;
        }
        return !s->free_requested;
}

static bool fail(TlsStream *s, int error) {
        if (s->state == TLS_DEAD)
                return false;
        stream_teardown(s);
        if (!s->cb.error)
                return true;
        s->dispatching++;
        s->cb.error(s, error, s->userdata);
        return dispatch_end(s);
}

static int gnutls_to_errno(int r) {
        switch (r) {
        case GNUTLS_E_CERTIFICATE_ERROR:
        case GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR:
        case GNUTLS_E_CERTIFICATE_REQUIRED:
        case GNUTLS_E_NO_CERTIFICATE_FOUND:
                return -EPERM;
        case GNUTLS_E_WARNING_ALERT_RECEIVED:
        case GNUTLS_E_FATAL_ALERT_RECEIVED:
                return -ECONNABORTED;
        case GNUTLS_E_PUSH_ERROR:
        case GNUTLS_E_PULL_ERROR:
        case GNUTLS_E_PREMATURE_TERMINATION:
                return -ECONNRESET;
        case GNUTLS_E_UNSUPPORTED_VERSION_PACKET:
        case GNUTLS_E_NO_PRIORITIES_WERE_SET:
        case GNUTLS_E_INSUFFICIENT_CREDENTIALS:
        case GNUTLS_E_NO_CIPHER_SUITES:
                return -EPROTONOSUPPORT;
        case GNUTLS_E_MEMORY_ERROR:
                return -ENOMEM;
        default:
                return -EPROTO;
        }
}

/* GnuTLS error → errno, keeping a readable reason. A fatal alert about certificates (the peer
 * rejected ours: TLS 1.3 clients learn this only after their side of the handshake finished)
 * is an authentication failure, -EPERM. */
static int stream_errno(TlsStream *s, int r) {
        int e = gnutls_to_errno(r);

        if (r == GNUTLS_E_FATAL_ALERT_RECEIVED) {
                gnutls_alert_description_t a = gnutls_alert_get(s->session);
                if (a == GNUTLS_A_BAD_CERTIFICATE || a == GNUTLS_A_CERTIFICATE_REVOKED ||
                    a == GNUTLS_A_CERTIFICATE_EXPIRED || a == GNUTLS_A_UNKNOWN_CA ||
                    a == GNUTLS_A_CERTIFICATE_UNKNOWN || a == GNUTLS_A_ACCESS_DENIED ||
                    a == GNUTLS_A_UNSUPPORTED_CERTIFICATE || a == GNUTLS_A_CERTIFICATE_REQUIRED) {
                        snprintf(s->verify_error, sizeof(s->verify_error), "peer rejected our certificate: %s",
                                 strna(gnutls_alert_get_name(a)));
                        return -EPERM;
                }
        }
        if (isempty(s->verify_error))
                snprintf(s->verify_error, sizeof(s->verify_error), "%s", gnutls_strerror(r));
        return e;
}

static int update_events(TlsStream *s) {
        uint32_t ev = 0;

        if (!s->io)
                return 0;
        switch (s->state) {
        case TLS_CONNECTING:
                ev = EPOLLOUT;
                break;
        case TLS_HANDSHAKE:
                ev = gnutls_record_get_direction(s->session) ? EPOLLOUT : EPOLLIN;
                break;
        case TLS_ESTABLISHED:
        case TLS_CLOSING:
                if (!s->eof && s->state == TLS_ESTABLISHED)
                        ev |= EPOLLIN;
                /* Only while something is left to write: a half-closed stream must not spin. */
                if (s->wlen > s->woff || s->wpending > 0 || s->bye_pending ||
                    (s->shutdown_write_requested && !s->write_shut) || s->state == TLS_CLOSING)
                        ev |= EPOLLOUT;
                break;
        default:
                return 0;
        }
        return sd_event_source_set_io_events(s->io, ev);
}

static bool do_handshake(TlsStream *s) {
        int r;

        r = gnutls_handshake(s->session);
        if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
                (void) update_events(s);
                return true;
        }
        if (r < 0) {
                /* Tell the peer why (bad certificate, revoked, …) before closing. */
                if (s->alert >= 0)
                        (void) gnutls_alert_send(s->session, GNUTLS_AL_FATAL, s->alert);
                else if (r != GNUTLS_E_FATAL_ALERT_RECEIVED && r != GNUTLS_E_PREMATURE_TERMINATION)
                        (void) gnutls_alert_send_appropriate(s->session, r);
                return fail(s, stream_errno(s, r));
        }
        if (gnutls_protocol_get_version(s->session) != GNUTLS_TLS1_3)
                return fail(s, -EPROTONOSUPPORT);
        r = peer_common_name(s);
        if (r < 0)
                return fail(s, r);

        s->state = TLS_ESTABLISHED;
        stream_uncount(s);
        s->handshake_timer = sd_event_source_disable_unref(s->handshake_timer);
        (void) update_events(s);
        if (s->cb.established) {
                s->dispatching++;
                s->cb.established(s, s->userdata);
                if (!dispatch_end(s))
                        return false;
        }
        return true;
}

static int arm_message_timer(TlsStream *s, bool partial) {
        usec_t t;
        int r;

        if (!partial) {
                if (s->message_timer)
                        (void) sd_event_source_set_enabled(s->message_timer, SD_EVENT_OFF);
                return 0;
        }
        if (s->message_timer) {
                int enabled = SD_EVENT_OFF;
                (void) sd_event_source_get_enabled(s->message_timer, &enabled);
                if (enabled != SD_EVENT_OFF)
                        return 0; /* the deadline runs from the first byte of the message */
        }
        r = sd_event_now(s->event, CLOCK_MONOTONIC, &t);
        if (r < 0)
                return r;
        t += s->ctx->limits.message_timeout;
        if (s->message_timer) {
                r = sd_event_source_set_time(s->message_timer, t);
                if (r >= 0)
                        r = sd_event_source_set_enabled(s->message_timer, SD_EVENT_ONESHOT);
                return r;
        }
        return -EAGAIN; /* created by the caller, see message_timer_ensure() */
}

static int on_message_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        (void) fail(userdata, -ETIMEDOUT);
        return 0;
}

static int message_timer_ensure(TlsStream *s, bool partial) {
        int r = arm_message_timer(s, partial);
        usec_t t;

        if (r != -EAGAIN)
                return r;
        r = sd_event_now(s->event, CLOCK_MONOTONIC, &t);
        if (r < 0)
                return r;
        return sd_event_add_time(s->event, &s->message_timer, CLOCK_MONOTONIC, t + s->ctx->limits.message_timeout,
                                 0, on_message_timer, s);
}

/* Delivers every complete line in rbuf. Returns false if the stream went away. */
static bool deliver_lines(TlsStream *s) {
        while (s->state == TLS_ESTABLISHED) {
                char *line;
                size_t len;
                int r;

                r = line_buffer_next(&s->rbuf, &line, &len);
                if (r < 0)
                        return fail(s, r);
                if (r == 0)
                        break;
                if (s->cb.message) {
                        s->dispatching++;
                        s->cb.message(s, line, len, s->userdata);
                        if (!dispatch_end(s))
                                return false;
                }
        }
        if (s->state == TLS_ESTABLISHED && message_timer_ensure(s, line_buffer_pending(&s->rbuf) > 0) < 0)
                return fail(s, -ENOMEM);
        return true;
}

static bool deliver_eof(TlsStream *s) {
        s->eof = true;
        (void) update_events(s);
        if (s->message_timer)
                (void) sd_event_source_set_enabled(s->message_timer, SD_EVENT_OFF);
        if (!s->cb.eof)
                return fail(s, -ECONNRESET);
        s->dispatching++;
        s->cb.eof(s, line_buffer_rest(&s->rbuf), line_buffer_pending(&s->rbuf), s->userdata);
        return dispatch_end(s);
}

static bool do_read(TlsStream *s) {
        for (unsigned i = 0; i < 64 && s->state == TLS_ESTABLISHED && !s->eof; i++) {
                uint8_t *p;
                ssize_t n;

                p = line_buffer_reserve(&s->rbuf, READ_CHUNK);
                if (!p)
                        return fail(s, -ENOMEM);
                n = gnutls_record_recv(s->session, p, READ_CHUNK);
                if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
                        break;
                if (n == 0 || n == GNUTLS_E_PREMATURE_TERMINATION)
                        /* close_notify, or (like the Go reference accepts) a bare FIN. */
                        return deliver_eof(s);
                if (n < 0)
                        return fail(s, stream_errno(s, (int) n));
                line_buffer_commit(&s->rbuf, (size_t) n);
                if (!deliver_lines(s))
                        return false;
        }
        return true;
}

static bool do_write(TlsStream *s) {
        while (s->wpending > 0 || s->wlen > s->woff) {
                ssize_t n = send_next_record(s);

                if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
                        return true;
                if (n < 0)
                        return fail(s, stream_errno(s, (int) n));
        }
        s->woff = s->wlen = 0;
        if (s->shutdown_write_requested && !s->write_shut)
                s->bye_pending = true;
        if (s->bye_pending) {
                int r = gnutls_bye(s->session, GNUTLS_SHUT_WR);
                if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
                        return true;
                s->bye_pending = false;
                s->write_shut = true;
                (void) shutdown(s->fd, SHUT_WR);
        }
        /* Closed by us and flushed: report 0 so that the owner frees the stream. */
        if (s->state == TLS_CLOSING && s->write_shut)
                return fail(s, 0);
        return true;
}

static bool connect_finished(TlsStream *s) {
        int err = 0;
        socklen_t len = sizeof(err);

        if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                return fail(s, -errno);
        if (err != 0) {
                snprintf(s->verify_error, sizeof(s->verify_error), "connect: %s", strerror(err));
                return fail(s, -err);
        }
        s->state = TLS_HANDSHAKE;
        return do_handshake(s);
}

static int on_io(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        TlsStream *s = userdata;
        bool alive = true;

        s->dispatching++;
        switch (s->state) {
        case TLS_CONNECTING:
                alive = connect_finished(s);
                break;
        case TLS_HANDSHAKE:
                alive = do_handshake(s);
                break;
        case TLS_ESTABLISHED:
        case TLS_CLOSING:
                if (revents & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                        alive = do_write(s);
                if (alive && s->state == TLS_ESTABLISHED && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                        alive = do_read(s);
                /* GnuTLS may hold decrypted records already read from the socket. */
                while (alive && s->state == TLS_ESTABLISHED && !s->eof && gnutls_record_check_pending(s->session) > 0)
                        alive = do_read(s);
                break;
        default:
                break;
        }
        if (!dispatch_end(s))
                return 0;
        if (alive)
                (void) update_events(s);
        return 0;
}

static int on_handshake_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        TlsStream *s = userdata;

        if (s->state == TLS_CONNECTING || s->state == TLS_HANDSHAKE)
                snprintf(s->verify_error, sizeof(s->verify_error), "handshake deadline passed");
        (void) fail(s, -ETIMEDOUT);
        return 0;
}

/* Our own transport, so that a peer that went away gives EPIPE instead of SIGPIPE. */
static ssize_t transport_push(gnutls_transport_ptr_t ptr, const giovec_t *iov, int iovcnt) {
        TlsStream *s = ptr;
        struct msghdr mh = { .msg_iov = (struct iovec *) iov, .msg_iovlen = (size_t) iovcnt };
        ssize_t n = sendmsg(s->fd, &mh, MSG_NOSIGNAL);

        if (n < 0)
                gnutls_transport_set_errno(s->session, errno);
        return n;
}

static ssize_t transport_pull(gnutls_transport_ptr_t ptr, void *buf, size_t size) {
        TlsStream *s = ptr;
        ssize_t n = recv(s->fd, buf, size, 0);

        if (n < 0)
                gnutls_transport_set_errno(s->session, errno);
        return n;
}

int tls_stream_new(TlsContext *c, sd_event *e, int fd, const TlsStreamCallbacks *cb, void *userdata,
                   TlsStream **ret) {
        _cleanup_(tls_stream_freep) TlsStream *s = NULL;
        union sockaddr_union sa;
        socklen_t salen = sizeof(sa);
        unsigned flags;
        usec_t t;
        int r;

        assert_return(c && e && fd >= 0 && cb && ret, -EINVAL);

        if (c->server) {
                if (c->handshakes >= c->limits.max_handshakes)
                        return -EBUSY;
                /* Revocations take effect for the next handshake without an explicit reload. */
                r = context_maybe_reload_crl(c);
                if (r < 0)
                        return r;
        }

        s = new0(TlsStream, 1);
        if (!s)
                return -ENOMEM;
        s->fd = -EBADF;
        s->ctx = tls_context_ref(c);
        s->cred = tls_cred_ref(c->cred);
        s->event = sd_event_ref(e);
        s->cb = *cb;
        s->userdata = userdata;
        s->rbuf = LINE_BUFFER_INIT(c->limits.max_message_size);
        s->alert = -1;

        flags = (c->server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NONBLOCK | GNUTLS_NO_TICKETS;
        r = gnutls_init(&s->session, flags);
        if (r < 0)
                return pki_errno(r);
        gnutls_session_set_ptr(s->session, s);
        r = gnutls_priority_set(s->session, c->priority);
        if (r >= 0)
                r = gnutls_credentials_set(s->session, GNUTLS_CRD_CERTIFICATE, s->cred->cred);
        if (r < 0)
                return pki_errno(r);
        if (c->server)
                gnutls_certificate_server_set_request(s->session, GNUTLS_CERT_REQUIRE);
        else {
                union in_addr_union a;
                int family;

                /* SNI only for names (RFC 6066 §3: literal addresses are not allowed). */
                if (in_addr_from_string_auto(c->server_name, &family, &a) < 0) {
                        r = gnutls_server_name_set(s->session, GNUTLS_NAME_DNS, c->server_name,
                                                   strlen(c->server_name));
                        if (r < 0)
                                return pki_errno(r);
                }
        }
        gnutls_handshake_set_timeout(s->session, 0);

        r = sd_event_now(e, CLOCK_MONOTONIC, &t);
        if (r < 0)
                return r;
        r = sd_event_add_time(e, &s->handshake_timer, CLOCK_MONOTONIC, t + c->limits.handshake_timeout, 0,
                              on_handshake_timer, s);
        if (r < 0)
                return r;

        /* Still connecting (client side)? Then wait for the socket to become writable. */
        if (getpeername(fd, &sa.sa, &salen) < 0) {
                if (errno != ENOTCONN)
                        return -errno;
                s->state = TLS_CONNECTING;
        } else
                s->state = TLS_HANDSHAKE;

        r = sd_event_add_io(e, &s->io, fd, s->state == TLS_CONNECTING ? EPOLLOUT : EPOLLIN | EPOLLOUT, on_io, s);
        if (r < 0)
                return r;
        s->fd = fd;
        gnutls_transport_set_ptr(s->session, s);
        gnutls_transport_set_vec_push_function(s->session, transport_push);
        gnutls_transport_set_pull_function(s->session, transport_pull);
        s->counted = true;
        c->handshakes++;
        *ret = TAKE_PTR(s);
        return 0;
}

void tls_stream_set_userdata(TlsStream *s, void *userdata) {
        s->userdata = userdata;
}

void *tls_stream_get_userdata(TlsStream *s) {
        return s->userdata;
}

int tls_stream_send(TlsStream *s, const void *data, size_t size) {
        assert_return(s && (data || size == 0), -EINVAL);
        if (s->state != TLS_ESTABLISHED)
                return -ENOTCONN;
        if (s->shutdown_write_requested || s->write_shut)
                return -EPIPE;
        if (size == 0)
                return 0;
        if (s->wlen + size > s->walloc) {
                size_t na = MAX(s->wlen + size, s->walloc * 2);
                uint8_t *n = realloc(s->wbuf, na);

                if (!n)
                        return -ENOMEM;
                s->wbuf = n;
                s->walloc = na;
        }
        memcpy(s->wbuf + s->wlen, data, size);
        s->wlen += size;
        /* Written from the event loop, so that no callback runs inside this call. */
        return update_events(s);
}

int tls_stream_shutdown_write(TlsStream *s) {
        assert_return(s, -EINVAL);
        if (s->state != TLS_ESTABLISHED)
                return -ENOTCONN;
        s->shutdown_write_requested = true;
        if (s->wlen == s->woff && s->wpending == 0)
                s->bye_pending = true;
        return update_events(s);
}

int tls_stream_close(TlsStream *s) {
        usec_t t;
        int r;

        assert_return(s, -EINVAL);
        if (s->state == TLS_DEAD || s->state == TLS_CLOSING)
                return 0;
        if (s->state != TLS_ESTABLISHED) {
                /* Nothing was ever exchanged: just stop; no callback follows. */
                stream_teardown(s);
                return 0;
        }
        s->state = TLS_CLOSING;
        s->shutdown_write_requested = true;
        if (s->message_timer)
                (void) sd_event_source_set_enabled(s->message_timer, SD_EVENT_OFF);
        /* A peer that never reads must not keep us flushing forever. */
        r = sd_event_now(s->event, CLOCK_MONOTONIC, &t);
        if (r >= 0)
                r = sd_event_add_time(s->event, &s->handshake_timer, CLOCK_MONOTONIC,
                                      t + s->ctx->limits.message_timeout, 0, on_handshake_timer, s);
        if (r < 0)
                return r;
        return update_events(s);
}

bool tls_stream_is_established(TlsStream *s) {
        return s && s->state == TLS_ESTABLISHED;
}

const char *tls_stream_peer_name(TlsStream *s) {
        return s ? s->peer_name : NULL;
}

const char *tls_stream_verify_error(TlsStream *s) {
        return s && !isempty(s->verify_error) ? s->verify_error : NULL;
}

int tls_stream_get_peer_address(TlsStream *s, union sockaddr_union *ret) {
        socklen_t len = sizeof(*ret);

        assert_return(s && ret, -EINVAL);
        if (s->fd < 0)
                return -ENOTCONN;
        if (getpeername(s->fd, &ret->sa, &len) < 0)
                return -errno;
        return 0;
}

int tls_stream_export(TlsStream *s, const char *label, void *ret, size_t size) {
        int r;

        assert_return(s && label && ret, -EINVAL);
        if (!s->peer_name)
                return -ENOTCONN;
        /* RFC 8446 §7.5 / RFC 5705: exporter with an empty context. */
        r = gnutls_prf_rfc5705(s->session, strlen(label), label, 0, NULL, size, ret);
        return r < 0 ? pki_errno(r) : 0;
}
