/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* GnuTLS helpers shared by the pki and tls modules. */

#include <gnutls/x509.h>

#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(gnutls_x509_crt_t, gnutls_x509_crt_deinit);
DEFINE_TRIVIAL_CLEANUP_FUNC(gnutls_x509_privkey_t, gnutls_x509_privkey_deinit);
DEFINE_TRIVIAL_CLEANUP_FUNC(gnutls_x509_crl_t, gnutls_x509_crl_deinit);

/* GnuTLS error → negative errno (-EBADMSG for anything about malformed data). */
int pki_errno(int gnutls_error);
int pki_read_crt(const char *path, gnutls_x509_crt_t *ret);
/* The subject's CN. */
int pki_crt_common_name(gnutls_x509_crt_t crt, char **ret);
