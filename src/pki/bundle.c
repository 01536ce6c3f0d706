/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "alloc-util.h"
#include "fd-util.h"
#include "pki-internal.h"
#include "pki.h"

#define BUNDLE_MAX (256U * 1024U)

struct PkiBundle {
        char *ca_pem;       /* every CA certificate block */
        char *cert_pem;     /* the last CERTIFICATE block */
        char *key_pem;      /* the first private key block */
        char *name;         /* CN of the client certificate */
        usec_t not_after;
};

PkiBundle *pki_bundle_free(PkiBundle *b) {
        if (!b)
                return NULL;
        free(b->ca_pem);
        free(b->cert_pem);
        erase_and_free_strp(&b->key_pem);
        free(b->name);
        return mfree(b);
}

static int append(char **s, size_t *n, const char *p, size_t len) {
        char *t = realloc(*s, *n + len + 2);
        if (!t)
                return -ENOMEM;
        memcpy(t + *n, p, len);
        t[*n + len] = '\n';
        *n += len + 1;
        t[*n] = 0;
        *s = t;
        return 0;
}

/* Finds the next "-----BEGIN <label>-----" … "-----END <label>-----" block at or after p. */
static const char *next_block(const char *p, const char *end, char *label, size_t label_size, size_t *ret_len) {
        static const char begin[] = "-----BEGIN ";
        for (;;) {
                const char *b = memmem(p, end - p, begin, sizeof(begin) - 1), *l, *le, *e;
                char endmark[96];
                size_t ll;

                if (!b)
                        return NULL;
                l = b + sizeof(begin) - 1;
                le = memmem(l, end - l, "-----", 5);
                if (!le || (size_t) (le - l) >= label_size || memchr(l, '\n', le - l)) {
                        p = l;
                        continue;
                }
                ll = le - l;
                memcpy(label, l, ll);
                label[ll] = 0;
                snprintf(endmark, sizeof(endmark), "-----END %s-----", label);
                e = memmem(le, end - le, endmark, strlen(endmark));
                if (!e)
                        return NULL;
                *ret_len = (size_t) (e + strlen(endmark) - b);
                return b;
        }
}

/* Splits the PEM text: every certificate but the last is a CA, the last is ours; the first private
 * key block is its key. */
static int bundle_split(PkiBundle *b, const char *pem, size_t size) {
        const char *p = pem, *end = pem + size, *last_cert = NULL;
        size_t last_len = 0, ca_n = 0, ncerts = 0;
        char label[64];
        int r;

        for (;;) {
                size_t len;
                const char *blk = next_block(p, end, label, sizeof(label), &len);
                if (!blk)
                        break;
                if (streq(label, "CERTIFICATE")) {
                        if (last_cert) {
                                r = append(&b->ca_pem, &ca_n, last_cert, last_len);
                                if (r < 0)
                                        return r;
                        }
                        last_cert = blk;
                        last_len = len;
                        ncerts++;
                } else if (!b->key_pem &&
                           (streq(label, "PRIVATE KEY") || streq(label, "RSA PRIVATE KEY") || streq(label, "EC PRIVATE KEY"))) {
                        b->key_pem = strndup(blk, len);
                        if (!b->key_pem)
                                return -ENOMEM;
                }
                p = blk + len;
        }
        if (ncerts < 2 || !b->key_pem)
                return -EBADMSG;
        b->cert_pem = strndup(last_cert, last_len);
        return b->cert_pem ? 0 : -ENOMEM;
}

/* Reads name and expiry from the certificate and checks that the key belongs to it. */
static int bundle_check(PkiBundle *b) {
        _cleanup_(gnutls_x509_crt_deinitp) gnutls_x509_crt_t crt = NULL;
        _cleanup_(gnutls_x509_privkey_deinitp) gnutls_x509_privkey_t key = NULL;
        unsigned char a[64], k[64];
        size_t na = sizeof(a), nk = sizeof(k);
        int r;

        if (gnutls_x509_crt_init(&crt) < 0)
                return -ENOMEM;
        r = gnutls_x509_crt_import(crt, &(gnutls_datum_t) { (unsigned char *) b->cert_pem, strlen(b->cert_pem) },
                                   GNUTLS_X509_FMT_PEM);
        if (r < 0)
                return -EBADMSG;
        r = pki_crt_common_name(crt, &b->name);
        if (r < 0 || !pki_name_is_valid(b->name))
                return -EBADMSG;
        b->not_after = (usec_t) gnutls_x509_crt_get_expiration_time(crt) * USEC_PER_SEC;
        if (gnutls_x509_privkey_init(&key) < 0)
                return -ENOMEM;
        r = gnutls_x509_privkey_import2(key, &(gnutls_datum_t) { (unsigned char *) b->key_pem, strlen(b->key_pem) },
                                        GNUTLS_X509_FMT_PEM, NULL, 0);
        if (r < 0)
                return -EBADMSG;
        if (gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, a, &na) < 0 ||
            gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, k, &nk) < 0 || na != nk ||
            memcmp(a, k, na) != 0)
                return -EKEYREJECTED;
        return 0;
}

int pki_bundle_parse(const char *pem, size_t size, PkiBundle **ret) {
        _cleanup_(pki_bundle_freep) PkiBundle *b = NULL;
        int r;

        assert_return(pem && ret, -EINVAL);
        if (size > BUNDLE_MAX)
                return -EFBIG;
        b = new0(PkiBundle, 1);
        if (!b)
                return -ENOMEM;
        r = bundle_split(b, pem, size);
        if (r < 0)
                return r;
        r = bundle_check(b);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(b);
        return 0;
}

int pki_bundle_load(const char *path, PkiBundle **ret) {
        char *buf = NULL;
        size_t size;
        int r;

        r = read_full_file(path, BUNDLE_MAX, &buf, &size);
        if (r < 0)
                return r;
        r = pki_bundle_parse(buf, size, ret);
        erase_and_free(buf, size);
        return r;
}

const char *pki_bundle_name(const PkiBundle *b) {
        return b->name;
}

usec_t pki_bundle_not_after(const PkiBundle *b) {
        return b->not_after;
}

const char *pki_bundle_ca_pem(const PkiBundle *b) {
        return b->ca_pem;
}

const char *pki_bundle_cert_pem(const PkiBundle *b) {
        return b->cert_pem;
}

const char *pki_bundle_key_pem(const PkiBundle *b) {
        return b->key_pem;
}
