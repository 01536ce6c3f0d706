/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "alloc-util.h"
#include "fd-util.h"
#include "in-addr-util.h"
#include "pki-internal.h"
#include "pki.h"

#define CA_DAYS 3650U
#define SERVER_DAYS 825U
#define SERVER_RENEW_DAYS 30U
/* The CRL is ours alone and re-signed on every change; give it a long life so that a quiet
 * server never ends up with an expired CRL (which GnuTLS would treat as no CRL at all). */
#define CRL_DAYS 3650U
#define BACKDATE_SEC (5 * 60)
#define PEM_MAX (256U * 1024U)
#define SEC_PER_DAY (24 * 60 * 60)

struct PkiStore {
        char *dir;
        char *ca_path, *ca_key_path, *server_path, *server_key_path, *crl_path, *issued_dir;
        bool initialized;
        gnutls_x509_crt_t ca;
        gnutls_x509_privkey_t ca_key;
        gnutls_x509_crt_t server;
        gnutls_x509_crl_t crl;
};

static const char *const pki_key_type_table[_PKI_KEY_TYPE_MAX] = {
        [PKI_KEY_ECDSA_P256] = "ecdsa-p256",
        [PKI_KEY_RSA_3072] = "rsa-3072",
};

DEFINE_STRING_TABLE(pki_key_type, PkiKeyType, _PKI_KEY_TYPE_MAX);

int pki_errno(int gnutls_error) {
        switch (gnutls_error) {
        case GNUTLS_E_SUCCESS:
                return 0;
        case GNUTLS_E_MEMORY_ERROR:
                return -ENOMEM;
        case GNUTLS_E_SHORT_MEMORY_BUFFER:
                return -ENOBUFS;
        case GNUTLS_E_INVALID_REQUEST:
                return -EINVAL;
        case GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE:
                return -ENODATA;
        default:
                return -EBADMSG;
        }
}

bool pki_name_is_valid(const char *name) {
        size_t n;

        if (!name || !((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z')))
                return false;
        n = strlen(name);
        if (n > PKI_NAME_MAX)
                return false;
        for (size_t i = 1; i < n; i++) {
                char c = name[i];
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                      c == '-'))
                        return false;
        }
        return true;
}

static bool dns_name_is_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '.'))
                        return false;
        }
        return true;
}

void pki_cert_info_free_many(PkiCertInfo *infos, size_t n) {
        if (!infos)
                return;
        for (size_t i = 0; i < n; i++) {
                free(infos[i].name);
                free(infos[i].serial);
        }
        free(infos);
}

static void datum_freep(gnutls_datum_t *d) {
        if (d->data) {
                explicit_bzero(d->data, d->size);
                gnutls_free(d->data);
        }
        d->data = NULL;
}

/* ------------------------------------------------------------------ file helpers */

int pki_read_crt(const char *path, gnutls_x509_crt_t *ret) {
        _cleanup_(gnutls_x509_crt_deinitp) gnutls_x509_crt_t crt = NULL;
        _cleanup_(freep) char *buf = NULL;
        size_t size;
        int r;

        r = read_full_file(path, PEM_MAX, &buf, &size);
        if (r < 0)
                return r;
        if (gnutls_x509_crt_init(&crt) < 0)
                return -ENOMEM;
        r = gnutls_x509_crt_import(crt, &(gnutls_datum_t) { (unsigned char *) buf, size }, GNUTLS_X509_FMT_PEM);
        if (r < 0)
                return -EBADMSG;
        *ret = TAKE_PTR(crt);
        return 0;
}

static int read_key(const char *path, gnutls_x509_privkey_t *ret) {
        _cleanup_(gnutls_x509_privkey_deinitp) gnutls_x509_privkey_t key = NULL;
        char *buf = NULL;
        size_t size;
        int r;

        r = read_full_file(path, PEM_MAX, &buf, &size);
        if (r < 0)
                return r;
        if (gnutls_x509_privkey_init(&key) < 0) {
                erase_and_free(buf, size);
                return -ENOMEM;
        }
        r = gnutls_x509_privkey_import2(key, &(gnutls_datum_t) { (unsigned char *) buf, size },
                                        GNUTLS_X509_FMT_PEM, NULL, 0);
        erase_and_free(buf, size);
        if (r < 0)
                return -EBADMSG;
        *ret = TAKE_PTR(key);
        return 0;
}

static int read_crl(const char *path, gnutls_x509_crl_t *ret) {
        _cleanup_(gnutls_x509_crl_deinitp) gnutls_x509_crl_t crl = NULL;
        _cleanup_(freep) char *buf = NULL;
        size_t size;
        int r;

        r = read_full_file(path, PEM_MAX, &buf, &size);
        if (r < 0)
                return r;
        if (gnutls_x509_crl_init(&crl) < 0)
                return -ENOMEM;
        if (gnutls_x509_crl_import(crl, &(gnutls_datum_t) { (unsigned char *) buf, size }, GNUTLS_X509_FMT_PEM) < 0)
                return -EBADMSG;
        *ret = TAKE_PTR(crl);
        return 0;
}

static int export_crt_pem(gnutls_x509_crt_t crt, gnutls_datum_t *ret) {
        return pki_errno(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, ret));
}

static int export_key_pem(gnutls_x509_privkey_t key, gnutls_datum_t *ret) {
        return pki_errno(gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, ret));
}

/* Writes what an export produced (r: its GnuTLS result) atomically; the datum is wiped and freed
 * either way. */
static int write_pem(const char *path, int r, gnutls_datum_t *d, mode_t mode) {
        if (r >= 0)
                r = write_file_atomic(path, d->data, d->size, mode);
        datum_freep(d);
        return r;
}

static int write_crt(const char *path, gnutls_x509_crt_t crt) {
        gnutls_datum_t d = {};

        return write_pem(path, export_crt_pem(crt, &d), &d, 0644);
}

static int write_key(const char *path, gnutls_x509_privkey_t key) {
        gnutls_datum_t d = {};

        return write_pem(path, export_key_pem(key, &d), &d, 0600);
}

static int write_crl(const char *path, gnutls_x509_crl_t crl) {
        gnutls_datum_t d = {};

        return write_pem(path, pki_errno(gnutls_x509_crl_export2(crl, GNUTLS_X509_FMT_PEM, &d)), &d, 0644);
}

/* ------------------------------------------------------------------ certificate helpers */

static bool key_matches_crt(gnutls_x509_privkey_t key, gnutls_x509_crt_t crt) {
        unsigned char a[64], b[64];
        size_t na = sizeof(a), nb = sizeof(b);

        if (gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, a, &na) < 0)
                return false;
        if (gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, b, &nb) < 0)
                return false;
        return na == nb && memcmp(a, b, na) == 0;
}

static int generate_key(PkiKeyType type, gnutls_x509_privkey_t *ret) {
        _cleanup_(gnutls_x509_privkey_deinitp) gnutls_x509_privkey_t key = NULL;
        int r;

        if (gnutls_x509_privkey_init(&key) < 0)
                return -ENOMEM;
        switch (type) {
        case PKI_KEY_ECDSA_P256:
                r = gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                                 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
                break;
        case PKI_KEY_RSA_3072:
                r = gnutls_x509_privkey_generate(key, GNUTLS_PK_RSA, 3072, 0);
                break;
        default:
                return -EINVAL;
        }
        if (r < 0)
                return pki_errno(r);
        *ret = TAKE_PTR(key);
        return 0;
}

static PkiKeyType key_type_of(gnutls_x509_privkey_t key) {
        return gnutls_x509_privkey_get_pk_algorithm(key) == GNUTLS_PK_RSA ? PKI_KEY_RSA_3072 : PKI_KEY_ECDSA_P256;
}

/* A fresh certificate skeleton: v3, random positive 16-byte serial, validity, CN, public key and
 * subject key id. */
static int crt_new(gnutls_x509_privkey_t key, const char *cn, time_t not_before, time_t not_after,
                   gnutls_x509_crt_t *ret) {
        _cleanup_(gnutls_x509_crt_deinitp) gnutls_x509_crt_t crt = NULL;
        unsigned char serial[16], kid[64];
        size_t nkid = sizeof(kid);
        int r;

        if (gnutls_x509_crt_init(&crt) < 0)
                return -ENOMEM;
        r = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial));
        if (r < 0)
                return pki_errno(r);
        /* DER INTEGER: positive and minimal (RFC 5280 §4.1.2.2: ≤ 20 octets, non-negative). */
        serial[0] = (serial[0] & 0x7f) | 0x40;

        if ((r = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
            (r = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial))) < 0 ||
            (r = gnutls_x509_crt_set_activation_time(crt, not_before)) < 0 ||
            (r = gnutls_x509_crt_set_expiration_time(crt, not_after)) < 0 ||
            (r = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn))) < 0 ||
            (r = gnutls_x509_crt_set_key(crt, key)) < 0)
                return pki_errno(r);
        r = gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA1, kid, &nkid);
        if (r < 0)
                return pki_errno(r);
        r = gnutls_x509_crt_set_subject_key_id(crt, kid, nkid);
        if (r < 0)
                return pki_errno(r);
        *ret = TAKE_PTR(crt);
        return 0;
}

/* A certificate signed in memory is only fully usable (extensions readable) after a round trip
 * through DER. */
static int crt_reload(gnutls_x509_crt_t *crt) {
        _cleanup_(gnutls_x509_crt_deinitp) gnutls_x509_crt_t n = NULL;
        _cleanup_(datum_freep) gnutls_datum_t der = {};
        int r;

        r = gnutls_x509_crt_export2(*crt, GNUTLS_X509_FMT_DER, &der);
        if (r < 0)
                return pki_errno(r);
        if (gnutls_x509_crt_init(&n) < 0)
                return -ENOMEM;
        r = gnutls_x509_crt_import(n, &der, GNUTLS_X509_FMT_DER);
        if (r < 0)
                return pki_errno(r);
        gnutls_x509_crt_deinit(*crt);
        *crt = TAKE_PTR(n);
        return 0;
}

static int crt_sign(gnutls_x509_crt_t crt, gnutls_x509_crt_t issuer, gnutls_x509_privkey_t issuer_key) {
        unsigned char kid[64];
        size_t nkid = sizeof(kid);
        int r;

        r = gnutls_x509_crt_get_subject_key_id(issuer, kid, &nkid, NULL);
        if (r >= 0) {
                r = gnutls_x509_crt_set_authority_key_id(crt, kid, nkid);
                if (r < 0)
                        return pki_errno(r);
        }
        return pki_errno(gnutls_x509_crt_sign2(crt, issuer, issuer_key, GNUTLS_DIG_SHA256, 0));
}

static int make_ca(PkiKeyType type, gnutls_x509_crt_t *ret_crt, gnutls_x509_privkey_t *ret_key) {
        _cleanup_(gnutls_x509_privkey_deinitp) gnutls_x509_privkey_t key = NULL;
        _cleanup_(gnutls_x509_crt_deinitp) gnutls_x509_crt_t crt = NULL;
        time_t t = time(NULL);
        int r;

        r = generate_key(type, &key);
        if (r < 0)
                return r;
        r = crt_new(key, "Fluxify CA", t - BACKDATE_SEC, t + (time_t) CA_DAYS * SEC_PER_DAY, &crt);
        if (r < 0)
                return r;
        if ((r = gnutls_x509_crt_set_basic_constraints(crt, 1, 0)) < 0 ||
            (r = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN)) < 0)
                return pki_errno(r);
        r = pki_errno(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0));
        if (r < 0)
                return r;
        r = crt_reload(&crt);
        if (r < 0)
                return r;
        *ret_crt = TAKE_PTR(crt);
        *ret_key = TAKE_PTR(key);
        return 0;
}

static int add_server_name(gnutls_x509_crt_t crt, const char *name) {
        union in_addr_union a;
        int family, r;

        if (in_addr_from_string_auto(name, &family, &a) >= 0)
                r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, a.bytes,
                                                         family_address_size(family), GNUTLS_FSAN_APPEND);
        else if (dns_name_is_valid(name))
                r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, name, strlen(name),
                                                         GNUTLS_FSAN_APPEND);
        else
                return -EINVAL;
        return pki_errno(r);
}

static int make_server(gnutls_x509_crt_t ca, gnutls_x509_privkey_t ca_key, char *const *names,
                       gnutls_x509_crt_t *ret_crt, gnutls_x509_privkey_t *ret_key) {
        static char *const default_names[] = { (char *) "localhost", (char *) "127.0.0.1", NULL };
        _cleanup_(gnutls_x509_privkey_deinitp) gnutls_x509_privkey_t key = NULL;
        _cleanup_(gnutls_x509_crt_deinitp) gnutls_x509_crt_t crt = NULL;
        time_t t = time(NULL);
        unsigned usage;
        int r;

        if (!names || !names[0])
                names = default_names;

        r = generate_key(key_type_of(ca_key), &key);
        if (r < 0)
                return r;
        r = crt_new(key, "fluxify-server", t - BACKDATE_SEC, t + (time_t) SERVER_DAYS * SEC_PER_DAY, &crt);
        if (r < 0)
                return r;
        usage = GNUTLS_KEY_DIGITAL_SIGNATURE;
        if (key_type_of(key) == PKI_KEY_RSA_3072)
                usage |= GNUTLS_KEY_KEY_ENCIPHERMENT;
        if ((r = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
            (r = gnutls_x509_crt_set_key_usage(crt, usage)) < 0 ||
            (r = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0)
                return pki_errno(r);
        for (char *const *n = names; *n; n++) {
                r = add_server_name(crt, *n);
                if (r < 0)
                        return r;
        }
        r = crt_sign(crt, ca, ca_key);
        if (r < 0)
                return r;
        r = crt_reload(&crt);
        if (r < 0)
                return r;
        *ret_crt = TAKE_PTR(crt);
        *ret_key = TAKE_PTR(key);
        return 0;
}

/* Re-signs the CRL with the given serials (plus one optional new serial) and reloads it. */
static int crl_build(gnutls_x509_crt_t ca, gnutls_x509_privkey_t ca_key, gnutls_x509_crl_t old,
                     const void *add_serial, size_t add_size, gnutls_x509_crl_t *ret) {
        _cleanup_(gnutls_x509_crl_deinitp) gnutls_x509_crl_t crl = NULL, reread = NULL;
        _cleanup_(datum_freep) gnutls_datum_t der = {};
        unsigned char kid[64];
        size_t nkid = sizeof(kid);
        time_t t = time(NULL);
        int r;

        if (gnutls_x509_crl_init(&crl) < 0)
                return -ENOMEM;
        if ((r = gnutls_x509_crl_set_version(crl, 2)) < 0 || (r = gnutls_x509_crl_set_this_update(crl, t)) < 0 ||
            (r = gnutls_x509_crl_set_next_update(crl, t + (time_t) CRL_DAYS * SEC_PER_DAY)) < 0)
                return pki_errno(r);
        if (old) {
                int n = gnutls_x509_crl_get_crt_count(old);
                for (int i = 0; i < n; i++) {
                        unsigned char serial[64];
                        size_t ns = sizeof(serial);
                        time_t when;

                        r = gnutls_x509_crl_get_crt_serial(old, i, serial, &ns, &when);
                        if (r < 0)
                                return pki_errno(r);
                        r = gnutls_x509_crl_set_crt_serial(crl, serial, ns, when);
                        if (r < 0)
                                return pki_errno(r);
                }
        }
        if (add_serial) {
                r = gnutls_x509_crl_set_crt_serial(crl, add_serial, add_size, t);
                if (r < 0)
                        return pki_errno(r);
        }
        if (gnutls_x509_crt_get_subject_key_id(ca, kid, &nkid, NULL) >= 0) {
                r = gnutls_x509_crl_set_authority_key_id(crl, kid, nkid);
                if (r < 0)
                        return pki_errno(r);
        }
        r = gnutls_x509_crl_sign2(crl, ca, ca_key, GNUTLS_DIG_SHA256, 0);
        if (r < 0)
                return pki_errno(r);
        /* A freshly signed CRL is only fully usable after a round trip through DER. */
        r = gnutls_x509_crl_export2(crl, GNUTLS_X509_FMT_DER, &der);
        if (r < 0)
                return pki_errno(r);
        if (gnutls_x509_crl_init(&reread) < 0)
                return -ENOMEM;
        r = gnutls_x509_crl_import(reread, &der, GNUTLS_X509_FMT_DER);
        if (r < 0)
                return pki_errno(r);
        *ret = TAKE_PTR(reread);
        return 0;
}

static int crt_serial_hex(gnutls_x509_crt_t crt, char **ret) {
        unsigned char serial[64];
        size_t ns = sizeof(serial);
        char *s;
        int r;

        r = gnutls_x509_crt_get_serial(crt, serial, &ns);
        if (r < 0)
                return pki_errno(r);
        s = malloc(ns * 2 + 1);
        if (!s)
                return -ENOMEM;
        for (size_t i = 0; i < ns; i++)
                sprintf(s + 2 * i, "%02x", serial[i]);
        s[ns * 2] = 0;
        *ret = s;
        return 0;
}

static bool crl_has_serial(gnutls_x509_crl_t crl, gnutls_x509_crt_t crt) {
        unsigned char a[64], b[64];
        size_t na = sizeof(a);
        int n;

        if (!crl || gnutls_x509_crt_get_serial(crt, a, &na) < 0)
                return false;
        n = gnutls_x509_crl_get_crt_count(crl);
        for (int i = 0; i < n; i++) {
                size_t nb = sizeof(b);
                if (gnutls_x509_crl_get_crt_serial(crl, i, b, &nb, NULL) < 0)
                        continue;
                if (na == nb && memcmp(a, b, na) == 0)
                        return true;
        }
        return false;
}

int pki_crt_common_name(gnutls_x509_crt_t crt, char **ret) {
        char buf[PKI_NAME_MAX * 4 + 1];
        size_t n = sizeof(buf) - 1;
        char *s;
        int r;

        r = gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &n);
        if (r < 0)
                return pki_errno(r);
        buf[n] = 0;
        s = strdup(buf);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* ------------------------------------------------------------------ store */

static void store_unload(PkiStore *s);

PkiStore *pki_store_free(PkiStore *s) {
        if (!s)
                return NULL;
        store_unload(s);
        free(s->dir);
        free(s->ca_path);
        free(s->ca_key_path);
        free(s->server_path);
        free(s->server_key_path);
        free(s->crl_path);
        free(s->issued_dir);
        return mfree(s);
}

static void store_unload(PkiStore *s) {
        if (s->ca)
                gnutls_x509_crt_deinit(s->ca);
        if (s->ca_key)
                gnutls_x509_privkey_deinit(s->ca_key);
        if (s->server)
                gnutls_x509_crt_deinit(s->server);
        if (s->crl)
                gnutls_x509_crl_deinit(s->crl);
        s->ca = NULL;
        s->ca_key = NULL;
        s->server = NULL;
        s->crl = NULL;
        s->initialized = false;
}

static bool verify_signed_by(gnutls_x509_crt_t crt, gnutls_x509_crt_t ca) {
        unsigned status = 0;

        if (gnutls_x509_crt_verify(crt, &ca, 1, GNUTLS_VERIFY_DISABLE_TIME_CHECKS, &status) < 0)
                return false;
        return status == 0;
}

/* Loads every file; any problem is -EUCLEAN (the store exists but is not usable as is). */
static int store_load(PkiStore *s) {
        _cleanup_(gnutls_x509_privkey_deinitp) gnutls_x509_privkey_t server_key = NULL;
        unsigned status = 0;
        DIR *d;
        int r;

        if (pki_read_crt(s->ca_path, &s->ca) < 0 || read_key(s->ca_key_path, &s->ca_key) < 0 ||
            pki_read_crt(s->server_path, &s->server) < 0 || read_key(s->server_key_path, &server_key) < 0 ||
            read_crl(s->crl_path, &s->crl) < 0)
                goto unclean;
        if (!key_matches_crt(s->ca_key, s->ca) || !key_matches_crt(server_key, s->server) ||
            !verify_signed_by(s->server, s->ca))
                goto unclean;
        r = gnutls_x509_crl_verify(s->crl, &s->ca, 1, 0, &status);
        if (r < 0 || status != 0)
                goto unclean;

        /* Issued certificates must parse too: a damaged one is reported, not skipped. */
        d = opendir(s->issued_dir);
        if (d) {
                struct dirent *de;
                bool bad = false;

                while ((de = readdir(d))) {
                        _cleanup_(gnutls_x509_crt_deinitp) gnutls_x509_crt_t crt = NULL;
                        _cleanup_(freep) char *path = NULL;
                        size_t n = strlen(de->d_name);

                        if (de->d_name[0] == '.' || n < 5 || !streq(de->d_name + n - 4, ".pem"))
                                continue;
                        if (asprintf(&path, "%s/%s", s->issued_dir, de->d_name) < 0) {
                                closedir(d);
                                return -ENOMEM;
                        }
                        if (pki_read_crt(path, &crt) < 0) {
                                bad = true;
                                break;
                        }
                }
                closedir(d);
                if (bad)
                        goto unclean;
        }
        s->initialized = true;
        return 0;

unclean:
        store_unload(s);
        return -EUCLEAN;
}

int pki_store_open(const char *dir, PkiStore **ret) {
        _cleanup_(pki_store_freep) PkiStore *s = NULL;
        const char *files[5];
        unsigned present = 0;
        int r;

        assert_return(dir && ret, -EINVAL);

        s = new0(PkiStore, 1);
        if (!s)
                return -ENOMEM;
        s->dir = strdup(dir);
        if (!s->dir || asprintf(&s->ca_path, "%s/ca.pem", dir) < 0 ||
            asprintf(&s->ca_key_path, "%s/ca-key.pem", dir) < 0 ||
            asprintf(&s->server_path, "%s/server.pem", dir) < 0 ||
            asprintf(&s->server_key_path, "%s/server-key.pem", dir) < 0 ||
            asprintf(&s->crl_path, "%s/crl.pem", dir) < 0 || asprintf(&s->issued_dir, "%s/issued", dir) < 0)
                return -ENOMEM;

        files[0] = s->ca_path;
        files[1] = s->ca_key_path;
        files[2] = s->server_path;
        files[3] = s->server_key_path;
        files[4] = s->crl_path;
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                if (access(files[i], F_OK) >= 0)
                        present++;
                else if (errno != ENOENT)
                        return -errno;
        }
        if (present == 0) {
                *ret = TAKE_PTR(s);
                return 0;
        }
        if (present < ELEMENTSOF(files))
                return -EUCLEAN;
        r = store_load(s);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

bool pki_store_is_initialized(PkiStore *s) {
        return s && s->initialized;
}

const char *pki_store_dir(PkiStore *s) {
        return s ? s->dir : NULL;
}

const char *pki_store_ca_path(PkiStore *s) {
        return s->ca_path;
}

const char *pki_store_server_cert_path(PkiStore *s) {
        return s->server_path;
}

const char *pki_store_server_key_path(PkiStore *s) {
        return s->server_key_path;
}

const char *pki_store_crl_path(PkiStore *s) {
        return s->crl_path;
}

static int validate_server_names(char *const *names) {
        union in_addr_union a;
        int family;

        for (char *const *n = names; n && *n; n++)
                if (in_addr_from_string_auto(*n, &family, &a) < 0 && !dns_name_is_valid(*n))
                        return -EINVAL;
        return 0;
}

/* Writes a complete new CA + server + CRL set. Order: keys and certificates first, the CRL
 * last; a crash in between leaves a store that pki_store_open() reports as damaged. */
static int store_create(PkiStore *s, PkiKeyType type, char *const *names) {
        _cleanup_(gnutls_x509_privkey_deinitp) gnutls_x509_privkey_t ca_key = NULL, server_key = NULL;
        _cleanup_(gnutls_x509_crt_deinitp) gnutls_x509_crt_t ca = NULL, server = NULL;
        _cleanup_(gnutls_x509_crl_deinitp) gnutls_x509_crl_t crl = NULL;
        int r;

        r = make_ca(type, &ca, &ca_key);
        if (r < 0)
                return r;
        r = make_server(ca, ca_key, names, &server, &server_key);
        if (r < 0)
                return r;
        r = crl_build(ca, ca_key, NULL, NULL, 0, &crl);
        if (r < 0)
                return r;

        r = mkdir_p(s->dir, 0700);
        if (r < 0)
                return r;
        (void) chmod(s->dir, 0700);
        r = mkdir_p(s->issued_dir, 0700);
        if (r < 0)
                return r;
        if ((r = write_key(s->ca_key_path, ca_key)) < 0 || (r = write_crt(s->ca_path, ca)) < 0 ||
            (r = write_key(s->server_key_path, server_key)) < 0 || (r = write_crt(s->server_path, server)) < 0 ||
            (r = write_crl(s->crl_path, crl)) < 0)
                return r;

        store_unload(s);
        s->ca = TAKE_PTR(ca);
        s->ca_key = TAKE_PTR(ca_key);
        s->server = TAKE_PTR(server);
        s->crl = TAKE_PTR(crl);
        s->initialized = true;
        return 0;
}

int pki_store_initialize(PkiStore *s, PkiKeyType key_type, char *const *server_names) {
        assert_return(s, -EINVAL);
        assert_return(key_type >= 0 && key_type < _PKI_KEY_TYPE_MAX, -EINVAL);

        if (s->initialized)
                return -EEXIST;
        if (validate_server_names(server_names) < 0)
                return -EINVAL;
        return store_create(s, key_type, server_names);
}

static bool server_names_equal(PkiStore *s, char *const *names) {
        _cleanup_(strv_freep) char **have = NULL;
        size_t nh = 0, nn = 0;

        if (pki_store_server_names(s, &have) < 0)
                return false;
        for (char **h = have; *h; h++)
                nh++;
        for (char *const *n = names; n && *n; n++) {
                bool found = false;
                for (char **h = have; *h; h++)
                        if (streq(*h, *n))
                                found = true;
                if (!found)
                        return false;
                nn++;
        }
        return nn == nh;
}

int pki_store_ensure_server_cert(PkiStore *s, char *const *server_names) {
        _cleanup_(gnutls_x509_privkey_deinitp) gnutls_x509_privkey_t key = NULL;
        _cleanup_(gnutls_x509_crt_deinitp) gnutls_x509_crt_t crt = NULL;
        time_t expires;
        int r;

        assert_return(s, -EINVAL);
        if (!s->initialized)
                return -ENOKEY;
        if (validate_server_names(server_names) < 0)
                return -EINVAL;

        expires = gnutls_x509_crt_get_expiration_time(s->server);
        if ((!server_names || !server_names[0] || server_names_equal(s, server_names)) &&
            expires > time(NULL) + (time_t) SERVER_RENEW_DAYS * SEC_PER_DAY)
                return 0;
        if (!server_names || !server_names[0]) {
                _cleanup_(strv_freep) char **have = NULL;

                r = pki_store_server_names(s, &have);
                if (r < 0)
                        return r;
                r = make_server(s->ca, s->ca_key, have, &crt, &key);
        } else
                r = make_server(s->ca, s->ca_key, server_names, &crt, &key);
        if (r < 0)
                return r;
        if ((r = write_key(s->server_key_path, key)) < 0 || (r = write_crt(s->server_path, crt)) < 0)
                return r;
        gnutls_x509_crt_deinit(s->server);
        s->server = TAKE_PTR(crt);
        return 1;
}

static int issued_path(PkiStore *s, const char *name, char **ret) {
        return asprintf(ret, "%s/%s.pem", s->issued_dir, name) < 0 ? -ENOMEM : 0;
}

static int bundle_build(PkiStore *s, gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, char **ret) {
        _cleanup_(datum_freep) gnutls_datum_t ca_pem = {}, crt_pem = {}, key_pem = {};
        size_t n;
        char *b;
        int r;

        if ((r = export_crt_pem(s->ca, &ca_pem)) < 0 || (r = export_crt_pem(crt, &crt_pem)) < 0 ||
            (r = export_key_pem(key, &key_pem)) < 0)
                return r;
        n = ca_pem.size + crt_pem.size + key_pem.size;
        b = malloc(n + 1);
        if (!b)
                return -ENOMEM;
        memcpy(b, ca_pem.data, ca_pem.size);
        memcpy(b + ca_pem.size, crt_pem.data, crt_pem.size);
        memcpy(b + ca_pem.size + crt_pem.size, key_pem.data, key_pem.size);
        b[n] = 0;
        *ret = b;
        return 0;
}

int pki_store_issue_full(PkiStore *s, const char *name, usec_t not_before, usec_t not_after,
                         char **ret_bundle_pem) {
        _cleanup_(gnutls_x509_privkey_deinitp) gnutls_x509_privkey_t key = NULL;
        _cleanup_(gnutls_x509_crt_deinitp) gnutls_x509_crt_t crt = NULL, old = NULL;
        _cleanup_(freep) char *path = NULL;
        char *bundle = NULL;
        int r;

        assert_return(s && ret_bundle_pem, -EINVAL);
        if (!pki_name_is_valid(name))
                return -EINVAL;
        if (not_after <= not_before)
                return -EINVAL;
        if (!s->initialized)
                return -ENOKEY;

        r = issued_path(s, name, &path);
        if (r < 0)
                return r;
        r = pki_read_crt(path, &old);
        if (r >= 0) {
                if (!crl_has_serial(s->crl, old))
                        return -EEXIST;
        } else if (r != -ENOENT)
                return -EUCLEAN;

        r = generate_key(key_type_of(s->ca_key), &key);
        if (r < 0)
                return r;
        r = crt_new(key, name, (time_t) (not_before / USEC_PER_SEC), (time_t) (not_after / USEC_PER_SEC), &crt);
        if (r < 0)
                return r;
        if ((r = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
            (r = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
            (r = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0)) < 0)
                return pki_errno(r);
        r = crt_sign(crt, s->ca, s->ca_key);
        if (r < 0)
                return r;
        r = bundle_build(s, crt, key, &bundle);
        if (r < 0)
                return r;
        r = mkdir_p(s->issued_dir, 0700);
        if (r >= 0)
                r = write_crt(path, crt);
        if (r < 0) {
                erase_and_free_strp(&bundle);
                return r;
        }
        *ret_bundle_pem = bundle;
        return 0;
}

int pki_store_issue(PkiStore *s, const char *name, unsigned valid_days, char **ret_bundle_pem) {
        usec_t t = now(CLOCK_REALTIME);

        if (valid_days == 0)
                valid_days = PKI_DEFAULT_CLIENT_DAYS;
        if (valid_days > PKI_MAX_CLIENT_DAYS)
                return -EINVAL;
        return pki_store_issue_full(s, name, t - BACKDATE_SEC * USEC_PER_SEC, t + valid_days * USEC_PER_DAY,
                                    ret_bundle_pem);
}

/* The issued certificate of name: -EINVAL bad name, -ENOKEY uninitialised, -ENOENT none, -EUCLEAN
 * unreadable. */
static int issued_read(PkiStore *s, const char *name, gnutls_x509_crt_t *ret) {
        _cleanup_(freep) char *path = NULL;
        int r;

        if (!pki_name_is_valid(name))
                return -EINVAL;
        if (!s->initialized)
                return -ENOKEY;
        r = issued_path(s, name, &path);
        if (r < 0)
                return r;
        r = pki_read_crt(path, ret);
        if (r < 0)
                return r == -ENOENT ? -ENOENT : -EUCLEAN;
        return 0;
}

int pki_store_revoke(PkiStore *s, const char *name) {
        _cleanup_(gnutls_x509_crt_deinitp) gnutls_x509_crt_t crt = NULL;
        _cleanup_(gnutls_x509_crl_deinitp) gnutls_x509_crl_t crl = NULL;
        unsigned char serial[64];
        size_t ns = sizeof(serial);
        int r;

        assert_return(s, -EINVAL);
        r = issued_read(s, name, &crt);
        if (r < 0)
                return r;
        if (crl_has_serial(s->crl, crt))
                return -EALREADY;
        r = gnutls_x509_crt_get_serial(crt, serial, &ns);
        if (r < 0)
                return pki_errno(r);
        r = crl_build(s->ca, s->ca_key, s->crl, serial, ns, &crl);
        if (r < 0)
                return r;
        r = write_crl(s->crl_path, crl);
        if (r < 0)
                return r;
        gnutls_x509_crl_deinit(s->crl);
        s->crl = TAKE_PTR(crl);
        return 0;
}

static int info_cmp(const void *a, const void *b) {
        return strcmp(((const PkiCertInfo *) a)->name, ((const PkiCertInfo *) b)->name);
}

int pki_store_list(PkiStore *s, PkiCertInfo **ret, size_t *ret_n) {
        PkiCertInfo *infos = NULL;
        size_t n = 0;
        struct dirent *de;
        DIR *d;
        int r = 0;

        assert_return(s && ret && ret_n, -EINVAL);
        if (!s->initialized)
                return -ENOKEY;

        d = opendir(s->issued_dir);
        if (!d) {
                if (errno != ENOENT)
                        return -errno;
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        while ((de = readdir(d))) {
                _cleanup_(gnutls_x509_crt_deinitp) gnutls_x509_crt_t crt = NULL;
                _cleanup_(freep) char *path = NULL, *name = NULL;
                size_t len = strlen(de->d_name);
                PkiCertInfo *ni;

                if (de->d_name[0] == '.' || len < 5 || !streq(de->d_name + len - 4, ".pem"))
                        continue;
                name = strndup(de->d_name, len - 4);
                if (!name || asprintf(&path, "%s/%s", s->issued_dir, de->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                if (!pki_name_is_valid(name))
                        continue;
                r = pki_read_crt(path, &crt);
                if (r < 0) {
                        r = -EUCLEAN;
                        break;
                }
                ni = realloc(infos, (n + 1) * sizeof(PkiCertInfo));
                if (!ni) {
                        r = -ENOMEM;
                        break;
                }
                infos = ni;
                infos[n] = (PkiCertInfo) {
                        .not_before = (usec_t) gnutls_x509_crt_get_activation_time(crt) * USEC_PER_SEC,
                        .not_after = (usec_t) gnutls_x509_crt_get_expiration_time(crt) * USEC_PER_SEC,
                        .revoked = crl_has_serial(s->crl, crt),
                };
                r = crt_serial_hex(crt, &infos[n].serial);
                if (r < 0)
                        break;
                infos[n++].name = TAKE_PTR(name);
        }
        closedir(d);
        if (r < 0) {
                pki_cert_info_free_many(infos, n);
                return r;
        }
        if (n > 1)
                qsort(infos, n, sizeof(PkiCertInfo), info_cmp);
        *ret = infos;
        *ret_n = n;
        return 0;
}

int pki_store_is_revoked(PkiStore *s, const char *name) {
        _cleanup_(gnutls_x509_crt_deinitp) gnutls_x509_crt_t crt = NULL;
        int r;

        assert_return(s, -EINVAL);
        r = issued_read(s, name, &crt);
        if (r < 0)
                return r;
        return crl_has_serial(s->crl, crt);
}

static int issued_clear(PkiStore *s) {
        struct dirent *de;
        DIR *d;

        d = opendir(s->issued_dir);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT) {
                        int r = -errno;
                        closedir(d);
                        return r;
                }
        }
        closedir(d);
        return 0;
}

int pki_store_regenerate_ca(PkiStore *s, PkiKeyType key_type) {
        _cleanup_(strv_freep) char **names = NULL;
        int r;

        assert_return(s, -EINVAL);
        assert_return(key_type >= 0 && key_type < _PKI_KEY_TYPE_MAX, -EINVAL);
        if (!s->initialized)
                return -ENOKEY;
        r = pki_store_server_names(s, &names);
        if (r < 0)
                return r;
        r = store_create(s, key_type, names);
        if (r < 0)
                return r;
        return issued_clear(s);
}

int pki_store_ca_fingerprint(PkiStore *s, char ret[static PKI_FINGERPRINT_HEX_SIZE]) {
        unsigned char fp[32];
        size_t n = sizeof(fp);
        int r;

        assert_return(s, -EINVAL);
        if (!s->initialized)
                return -ENOKEY;
        r = gnutls_x509_crt_get_fingerprint(s->ca, GNUTLS_DIG_SHA256, fp, &n);
        if (r < 0)
                return pki_errno(r);
        for (size_t i = 0; i < n; i++)
                sprintf(ret + 2 * i, "%02x", fp[i]);
        ret[2 * n] = 0;
        return 0;
}

int pki_store_server_names(PkiStore *s, char ***ret) {
        char **l = NULL;
        size_t n = 0;

        assert_return(s && ret, -EINVAL);
        if (!s->initialized)
                return -ENOKEY;
        for (unsigned i = 0;; i++) {
                char buf[256], text[INET6_ADDRSTRLEN];
                size_t size = sizeof(buf) - 1;
                const char *v;
                char **nl;
                int type;

                type = gnutls_x509_crt_get_subject_alt_name(s->server, i, buf, &size, NULL);
                if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
                        break;
                if (type < 0) {
                        strv_freep(&l);
                        return pki_errno(type);
                }
                if (type == GNUTLS_SAN_DNSNAME) {
                        buf[size] = 0;
                        v = buf;
                } else if (type == GNUTLS_SAN_IPADDRESS && (size == 4 || size == 16)) {
                        union in_addr_union a = {};
                        memcpy(a.bytes, buf, size);
                        if (in_addr_to_string(size == 4 ? AF_INET : AF_INET6, &a, text, sizeof(text)) < 0)
                                continue;
                        v = text;
                } else
                        continue;
                nl = realloc(l, (n + 2) * sizeof(char *));
                if (!nl) {
                        strv_freep(&l);
                        return -ENOMEM;
                }
                l = nl;
                l[n] = strdup(v);
                l[n + 1] = NULL;
                if (!l[n]) {
                        strv_freep(&l);
                        return -ENOMEM;
                }
                n++;
        }
        if (!l) {
                l = new0(char *, 1);
                if (!l)
                        return -ENOMEM;
        }
        *ret = l;
        return 0;
}

int pki_store_server_not_after(PkiStore *s, usec_t *ret) {
        assert_return(s && ret, -EINVAL);
        if (!s->initialized)
                return -ENOKEY;
        *ret = (usec_t) gnutls_x509_crt_get_expiration_time(s->server) * USEC_PER_SEC;
        return 0;
}
