/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The server's X.509 store (GnuTLS) and the client's bundle.
 *
 * Store layout in one directory (0700):
 *   ca.pem          CA certificate                      0644
 *   ca-key.pem      CA private key (PKCS#8)             0600
 *   server.pem      server certificate (SANs = names)   0644
 *   server-key.pem  server private key (PKCS#8)         0600
 *   crl.pem         CRL signed by the CA                0644
 *   issued/<name>.pem   issued client certificates, certificates only (0700 directory)
 * Every file is written atomically (temp file, fsync, rename). A store where only some of the
 * files exist, or where one does not parse or does not match the CA, is reported (-EUCLEAN) and
 * never silently replaced; the admin decides (RegenerateCA).
 *
 * Times are CLOCK_REALTIME µs (usec_t), as D-Bus exports them. No D-Bus here. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "time-util.h"

typedef struct PkiStore PkiStore;
typedef struct PkiBundle PkiBundle;

/* Client and CA names: [A-Za-z][A-Za-z0-9_-]{0,63}. */
#define PKI_NAME_MAX 64
#define PKI_FINGERPRINT_HEX_SIZE (32 * 2 + 1)
#define PKI_DEFAULT_CLIENT_DAYS 825U
#define PKI_MAX_CLIENT_DAYS 3650U

typedef enum PkiKeyType {
        PKI_KEY_ECDSA_P256,    /* default */
        PKI_KEY_RSA_3072,
        _PKI_KEY_TYPE_MAX,
        _PKI_KEY_TYPE_INVALID = -EINVAL,
} PkiKeyType;

DECLARE_STRING_TABLE(pki_key_type, PkiKeyType); /* "ecdsa-p256", "rsa-3072" */

bool pki_name_is_valid(const char *name);

typedef struct PkiCertInfo {
        char *name;            /* CN */
        char *serial;          /* lowercase hex, no separators */
        usec_t not_before;     /* CLOCK_REALTIME µs */
        usec_t not_after;
        bool revoked;
} PkiCertInfo;

void pki_cert_info_free_many(PkiCertInfo *infos, size_t n);

/* Opens the store in dir. A missing or empty directory gives an *uninitialised* store (every
 * operation but pki_store_initialize() then fails with -ENOKEY); a complete store is loaded and
 * checked; anything in between (half-written, unparsable, key not matching certificate) fails
 * with -EUCLEAN and leaves the files untouched. */
int pki_store_open(const char *dir, PkiStore **ret);
PkiStore *pki_store_free(PkiStore *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(PkiStore *, pki_store_free);

bool pki_store_is_initialized(PkiStore *s);
const char *pki_store_dir(PkiStore *s);

/* Creates CA, server certificate (SANs from server_names: each entry an IP address → IP SAN,
 * otherwise a DNS SAN; NULL/empty → "localhost" and "127.0.0.1") and an empty CRL.
 * -EEXIST if already initialised. */
int pki_store_initialize(PkiStore *s, PkiKeyType key_type, char *const *server_names);

/* Re-issues the server certificate when its SANs differ from server_names or it expires within
 * 30 days. Returns 1 if it was re-issued, 0 if not needed. */
int pki_store_ensure_server_cert(PkiStore *s, char *const *server_names);

/* Issues a client certificate (CN = name, EKU clientAuth, random serial, valid now-5min …
 * now+valid_days, 0 = PKI_DEFAULT_CLIENT_DAYS) and returns the bundle: CA certificate, client
 * certificate, client private key, PEM, in that order. The key is not kept.
 * -EINVAL bad name or days, -EEXIST a valid (non-revoked) certificate exists, -ENOKEY uninitialised. */
int pki_store_issue(PkiStore *s, const char *name, unsigned valid_days, char **ret_bundle_pem);
/* Same with explicit validity (CLOCK_REALTIME µs), for tests (expired certificates). */
int pki_store_issue_full(PkiStore *s, const char *name, usec_t not_before, usec_t not_after,
                         char **ret_bundle_pem);

/* Adds the name's certificate to the CRL (rewrites crl.pem). -ENOENT unknown name, -EALREADY
 * already revoked. */
int pki_store_revoke(PkiStore *s, const char *name);

/* Every issued certificate, sorted by name. */
int pki_store_list(PkiStore *s, PkiCertInfo **ret, size_t *ret_n);
/* Is the certificate of name revoked? (-ENOENT unknown) */
int pki_store_is_revoked(PkiStore *s, const char *name);

/* Destructive: new CA key and certificate, new server certificate (same names), empty CRL,
 * issued/ emptied. Every client certificate becomes invalid. */
int pki_store_regenerate_ca(PkiStore *s, PkiKeyType key_type);

/* SHA-256 of the CA certificate (DER), lowercase hex. */
int pki_store_ca_fingerprint(PkiStore *s, char ret[static PKI_FINGERPRINT_HEX_SIZE]);
/* SANs of the server certificate, as strings (DNS names and IP addresses), NULL-terminated. */
int pki_store_server_names(PkiStore *s, char ***ret);
int pki_store_server_not_after(PkiStore *s, usec_t *ret);

/* Paths of the store files (valid while s lives), for the TLS layer. */
const char *pki_store_ca_path(PkiStore *s);
const char *pki_store_server_cert_path(PkiStore *s);
const char *pki_store_server_key_path(PkiStore *s);
const char *pki_store_crl_path(PkiStore *s);

/* Client bundle: one PEM text with ≥1 CA certificate, then the client certificate (the last
 * CERTIFICATE block), then its private key (PKCS#8, PKCS#1 or SEC1). -EBADMSG with a malformed
 * bundle, -EKEYREJECTED if key and certificate do not match. */
int pki_bundle_parse(const char *pem, size_t size, PkiBundle **ret);
int pki_bundle_load(const char *path, PkiBundle **ret);
PkiBundle *pki_bundle_free(PkiBundle *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(PkiBundle *, pki_bundle_free);

/* CN of the client certificate. */
const char *pki_bundle_name(const PkiBundle *b);
usec_t pki_bundle_not_after(const PkiBundle *b);
/* PEM pieces, NUL-terminated (for gnutls_certificate_set_x509_*_mem). */
const char *pki_bundle_ca_pem(const PkiBundle *b);
const char *pki_bundle_cert_pem(const PkiBundle *b);
const char *pki_bundle_key_pem(const PkiBundle *b);
