/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc-util.h"
#include "check-util.h"
#include "fd-util.h"
#include "pki.h"

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f) {
        return remove(p);
}

static void rm_rf(const char *p) {
        (void) nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static char *tmp_store(void) {
        char *t = strdup("/tmp/test-pki-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(t));
        return t;
}

static PkiStore *new_store(const char *dir) {
        static char *const names[] = { (char *) "vpn.example.org", (char *) "127.0.0.1", (char *) "::1", NULL };
        PkiStore *s = NULL;

        ck_assert_int_eq(pki_store_open(dir, &s), 0);
        ck_assert(!pki_store_is_initialized(s));
        ck_assert_int_eq(pki_store_initialize(s, PKI_KEY_ECDSA_P256, names), 0);
        ck_assert(pki_store_is_initialized(s));
        return s;
}

static mode_t mode_of(const char *dir, const char *file) {
        _cleanup_(freep) char *p = NULL;
        struct stat st;

        ck_assert_int_ge(asprintf(&p, "%s/%s", dir, file), 0);
        ck_assert_int_eq(stat(p, &st), 0);
        return st.st_mode & 07777;
}

START_TEST(test_uninitialized) {
        _cleanup_(freep) char *dir = tmp_store();
        _cleanup_(pki_store_freep) PkiStore *s = NULL;
        _cleanup_(freep) char *bundle = NULL;
        char fp[PKI_FINGERPRINT_HEX_SIZE];
        PkiCertInfo *infos;
        size_t n;

        ck_assert_int_eq(pki_store_open(dir, &s), 0);
        ck_assert(!pki_store_is_initialized(s));
        ck_assert_int_eq(pki_store_issue(s, "laptop", 0, &bundle), -ENOKEY);
        ck_assert_int_eq(pki_store_revoke(s, "laptop"), -ENOKEY);
        ck_assert_int_eq(pki_store_list(s, &infos, &n), -ENOKEY);
        ck_assert_int_eq(pki_store_ca_fingerprint(s, fp), -ENOKEY);
        ck_assert_int_eq(pki_store_regenerate_ca(s, PKI_KEY_ECDSA_P256), -ENOKEY);
        rm_rf(dir);
}
END_TEST

START_TEST(test_names) {
        ck_assert(pki_name_is_valid("laptop"));
        ck_assert(pki_name_is_valid("a"));
        ck_assert(pki_name_is_valid("Phone_2-b"));
        ck_assert(!pki_name_is_valid(""));
        ck_assert(!pki_name_is_valid(NULL));
        ck_assert(!pki_name_is_valid("2laptop"));
        ck_assert(!pki_name_is_valid("-x"));
        ck_assert(!pki_name_is_valid("a b"));
        ck_assert(!pki_name_is_valid("../etc"));
        ck_assert(!pki_name_is_valid("a.b"));
        ck_assert(pki_name_is_valid("a123456789012345678901234567890123456789012345678901234567890123"));
        ck_assert(!pki_name_is_valid("a1234567890123456789012345678901234567890123456789012345678901234"));
}
END_TEST

START_TEST(test_init_layout_and_reopen) {
        _cleanup_(freep) char *dir = tmp_store();
        _cleanup_(pki_store_freep) PkiStore *s = new_store(dir), *s2 = NULL;
        _cleanup_(strv_freep) char **names = NULL;
        char fp[PKI_FINGERPRINT_HEX_SIZE], fp2[PKI_FINGERPRINT_HEX_SIZE];
        usec_t na;
        struct stat st;

        ck_assert_int_eq(stat(dir, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0700);
        ck_assert_int_eq(mode_of(dir, "ca-key.pem"), 0600);
        ck_assert_int_eq(mode_of(dir, "server-key.pem"), 0600);
        ck_assert_int_eq(mode_of(dir, "ca.pem"), 0644);
        ck_assert_int_eq(mode_of(dir, "crl.pem"), 0644);
        ck_assert_int_eq(mode_of(dir, "issued"), 0700);

        ck_assert_int_eq(pki_store_initialize(s, PKI_KEY_ECDSA_P256, NULL), -EEXIST);
        ck_assert_int_eq(pki_store_ca_fingerprint(s, fp), 0);
        ck_assert_uint_eq(strlen(fp), 64);

        ck_assert_int_eq(pki_store_server_names(s, &names), 0);
        ck_assert_str_eq(names[0], "vpn.example.org");
        ck_assert_str_eq(names[1], "127.0.0.1");
        ck_assert_str_eq(names[2], "::1");
        ck_assert_ptr_null(names[3]);
        ck_assert_int_eq(pki_store_server_not_after(s, &na), 0);
        ck_assert_uint_gt(na, now(CLOCK_REALTIME) + 800 * USEC_PER_DAY);

        ck_assert_int_eq(pki_store_open(dir, &s2), 0);
        ck_assert(pki_store_is_initialized(s2));
        ck_assert_int_eq(pki_store_ca_fingerprint(s2, fp2), 0);
        ck_assert_str_eq(fp, fp2);

        /* Same names: nothing to do; new names: re-issued. */
        ck_assert_int_eq(pki_store_ensure_server_cert(s2, names), 0);
        {
                char *const nn[] = { (char *) "other.example.org", NULL };
                _cleanup_(strv_freep) char **got = NULL;
                ck_assert_int_eq(pki_store_ensure_server_cert(s2, nn), 1);
                ck_assert_int_eq(pki_store_server_names(s2, &got), 0);
                ck_assert_str_eq(got[0], "other.example.org");
                ck_assert_ptr_null(got[1]);
        }
        {
                char *const bad[] = { (char *) "bad name!", NULL };
                ck_assert_int_eq(pki_store_ensure_server_cert(s2, bad), -EINVAL);
        }
        rm_rf(dir);
}
END_TEST

START_TEST(test_issue_revoke_list) {
        _cleanup_(freep) char *dir = tmp_store();
        _cleanup_(pki_store_freep) PkiStore *s = new_store(dir);
        _cleanup_(freep) char *bundle = NULL, *bundle2 = NULL, *bundle3 = NULL, *ca = NULL;
        _cleanup_(pki_bundle_freep) PkiBundle *b = NULL;
        PkiCertInfo *infos = NULL;
        size_t n, nca;

        ck_assert_int_eq(pki_store_issue(s, "laptop", 30, &bundle), 0);
        ck_assert_int_eq(mode_of(dir, "issued/laptop.pem"), 0644);
        /* Bundle order: CA certificate, client certificate, key. */
        ck_assert_int_eq(read_full_file(pki_store_ca_path(s), 1 << 20, &ca, &nca), 0);
        ck_assert(strncmp(bundle, ca, nca) == 0);
        ck_assert_ptr_nonnull(strstr(bundle + nca, "-----BEGIN CERTIFICATE-----"));
        ck_assert(strstr(bundle, "-----BEGIN PRIVATE KEY-----") > strstr(bundle + nca, "-----BEGIN CERTIFICATE-----"));
        /* The key is not kept. */
        {
                _cleanup_(freep) char *issued = NULL;
                _cleanup_(freep) char *p = NULL;
                size_t ni;
                ck_assert_int_ge(asprintf(&p, "%s/issued/laptop.pem", dir), 0);
                ck_assert_int_eq(read_full_file(p, 1 << 20, &issued, &ni), 0);
                ck_assert_ptr_null(strstr(issued, "PRIVATE KEY"));
        }

        ck_assert_int_eq(pki_bundle_parse(bundle, strlen(bundle), &b), 0);
        ck_assert_str_eq(pki_bundle_name(b), "laptop");
        ck_assert_uint_gt(pki_bundle_not_after(b), now(CLOCK_REALTIME) + 29 * USEC_PER_DAY);
        ck_assert_uint_lt(pki_bundle_not_after(b), now(CLOCK_REALTIME) + 31 * USEC_PER_DAY);

        ck_assert_int_eq(pki_store_issue(s, "laptop", 0, &bundle2), -EEXIST);
        ck_assert_int_eq(pki_store_issue(s, "bad name", 0, &bundle2), -EINVAL);
        ck_assert_int_eq(pki_store_issue(s, "phone", PKI_MAX_CLIENT_DAYS + 1, &bundle2), -EINVAL);
        ck_assert_int_eq(pki_store_revoke(s, "nobody"), -ENOENT);
        ck_assert_int_eq(pki_store_revoke(s, "../x"), -EINVAL);
        ck_assert_int_eq(pki_store_is_revoked(s, "laptop"), 0);

        ck_assert_int_eq(pki_store_issue(s, "phone", 0, &bundle2), 0);
        ck_assert_int_eq(pki_store_revoke(s, "laptop"), 0);
        ck_assert_int_eq(pki_store_revoke(s, "laptop"), -EALREADY);
        ck_assert_int_eq(pki_store_is_revoked(s, "laptop"), 1);

        ck_assert_int_eq(pki_store_list(s, &infos, &n), 0);
        ck_assert_uint_eq(n, 2);
        ck_assert_str_eq(infos[0].name, "laptop");
        ck_assert(infos[0].revoked);
        ck_assert_str_eq(infos[1].name, "phone");
        ck_assert(!infos[1].revoked);
        ck_assert_uint_eq(strlen(infos[0].serial), 32);
        ck_assert_str_ne(infos[0].serial, infos[1].serial);
        ck_assert_uint_lt(infos[1].not_before, now(CLOCK_REALTIME));
        ck_assert_uint_gt(infos[1].not_after, now(CLOCK_REALTIME) + 800 * USEC_PER_DAY);
        pki_cert_info_free_many(infos, n);

        /* The revocation survives a reopen; a revoked name may be issued again. */
        {
                _cleanup_(pki_store_freep) PkiStore *s2 = NULL;
                ck_assert_int_eq(pki_store_open(dir, &s2), 0);
                ck_assert_int_eq(pki_store_is_revoked(s2, "laptop"), 1);
                ck_assert_int_eq(pki_store_issue(s2, "laptop", 0, &bundle3), 0);
                ck_assert_int_eq(pki_store_is_revoked(s2, "laptop"), 0);
        }
        rm_rf(dir);
}
END_TEST

static int run(const char *cmd) {
        int st = system(cmd);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(test_certtool_verify_chain) {
        _cleanup_(freep) char *dir = tmp_store();
        _cleanup_(pki_store_freep) PkiStore *s = new_store(dir);
        _cleanup_(freep) char *bundle = NULL, *cmd = NULL, *chain = NULL, *cert = NULL, *p = NULL;
        size_t n;

        ck_assert_int_eq(pki_store_issue(s, "laptop", 0, &bundle), 0);
        /* certtool wants leaf first, then the CA. */
        ck_assert_int_ge(asprintf(&p, "%s/issued/laptop.pem", dir), 0);
        ck_assert_int_eq(read_full_file(p, 1 << 20, &cert, &n), 0);
        ck_assert_int_ge(asprintf(&chain, "%s/chain.pem", dir), 0);
        {
                _cleanup_(freep) char *ca = NULL, *both = NULL;
                size_t nca;
                ck_assert_int_eq(read_full_file(pki_store_ca_path(s), 1 << 20, &ca, &nca), 0);
                ck_assert_int_ge(asprintf(&both, "%s%s", cert, ca), 0);
                ck_assert_int_eq(write_file_atomic(chain, both, strlen(both), 0600), 0);
        }
        ck_assert_int_ge(asprintf(&cmd, "certtool --verify-chain --infile %s >/dev/null 2>&1", chain), 0);
        ck_assert_int_eq(run(cmd), 0);
        free(cmd);
        ck_assert_int_ge(asprintf(&cmd, "certtool --verify --load-ca-certificate %s --infile %s >/dev/null 2>&1",
                                  pki_store_ca_path(s), p), 0);
        ck_assert_int_eq(run(cmd), 0);
        free(cmd);
        ck_assert_int_ge(asprintf(&cmd, "certtool --verify --load-ca-certificate %s --infile %s >/dev/null 2>&1",
                                  pki_store_ca_path(s), pki_store_server_cert_path(s)), 0);
        ck_assert_int_eq(run(cmd), 0);
        free(cmd);
        /* The CRL verifies against the CA too. */
        ck_assert_int_eq(pki_store_revoke(s, "laptop"), 0);
        ck_assert_int_ge(asprintf(&cmd, "certtool --verify-crl --load-ca-certificate %s --infile %s >/dev/null 2>&1",
                                  pki_store_ca_path(s), pki_store_crl_path(s)), 0);
        ck_assert_int_eq(run(cmd), 0);
        rm_rf(dir);
}
END_TEST

START_TEST(test_regenerate_ca) {
        _cleanup_(freep) char *dir = tmp_store();
        _cleanup_(pki_store_freep) PkiStore *s = new_store(dir);
        _cleanup_(freep) char *bundle = NULL, *bundle2 = NULL;
        _cleanup_(strv_freep) char **names = NULL;
        char fp[PKI_FINGERPRINT_HEX_SIZE], fp2[PKI_FINGERPRINT_HEX_SIZE];
        PkiCertInfo *infos = NULL;
        size_t n;

        ck_assert_int_eq(pki_store_issue(s, "laptop", 0, &bundle), 0);
        ck_assert_int_eq(pki_store_ca_fingerprint(s, fp), 0);
        ck_assert_int_eq(pki_store_regenerate_ca(s, PKI_KEY_RSA_3072), 0);
        ck_assert_int_eq(pki_store_ca_fingerprint(s, fp2), 0);
        ck_assert_str_ne(fp, fp2);
        ck_assert_int_eq(pki_store_list(s, &infos, &n), 0);
        ck_assert_uint_eq(n, 0);
        free(infos);
        ck_assert_int_eq(pki_store_server_names(s, &names), 0);
        ck_assert_str_eq(names[0], "vpn.example.org");
        /* The old name can be issued again under the new (RSA) CA. */
        ck_assert_int_eq(pki_store_issue(s, "laptop", 0, &bundle2), 0);
        {
                _cleanup_(pki_store_freep) PkiStore *s2 = NULL;
                ck_assert_int_eq(pki_store_open(dir, &s2), 0);
                ck_assert(pki_store_is_initialized(s2));
        }
        rm_rf(dir);
}
END_TEST

static void expect_unclean(const char *dir) {
        PkiStore *s = NULL;
        ck_assert_int_eq(pki_store_open(dir, &s), -EUCLEAN);
        ck_assert_ptr_null(s);
}

START_TEST(test_damaged_store) {
        _cleanup_(freep) char *dir = tmp_store(), *p = NULL, *orig = NULL, *after = NULL;
        size_t n, n2;

        pki_store_free(new_store(dir));

        /* Half-written store (a crash during initialisation): a file is missing. */
        ck_assert_int_ge(asprintf(&p, "%s/crl.pem", dir), 0);
        ck_assert_int_eq(read_full_file(p, 1 << 20, &orig, &n), 0);
        ck_assert_int_eq(unlink(p), 0);
        expect_unclean(dir);
        ck_assert_int_eq(write_file_atomic(p, orig, n, 0644), 0);
        {
                _cleanup_(pki_store_freep) PkiStore *s = NULL;
                ck_assert_int_eq(pki_store_open(dir, &s), 0);
        }

        /* Truncated certificate. */
        free(p);
        free(orig);
        ck_assert_int_ge(asprintf(&p, "%s/server.pem", dir), 0);
        ck_assert_int_eq(read_full_file(p, 1 << 20, &orig, &n), 0);
        ck_assert_int_eq(write_file_atomic(p, orig, n / 2, 0644), 0);
        expect_unclean(dir);
        /* Not replaced: the damaged file is still there, byte for byte. */
        ck_assert_int_eq(read_full_file(p, 1 << 20, &after, &n2), 0);
        ck_assert_uint_eq(n2, n / 2);
        ck_assert_int_eq(write_file_atomic(p, orig, n, 0644), 0);

        /* Key that does not belong to the certificate. */
        {
                _cleanup_(freep) char *k1 = NULL, *k2 = NULL, *ca_key = NULL, *srv_key = NULL;
                size_t n1, nn2;
                ck_assert_int_ge(asprintf(&ca_key, "%s/ca-key.pem", dir), 0);
                ck_assert_int_ge(asprintf(&srv_key, "%s/server-key.pem", dir), 0);
                ck_assert_int_eq(read_full_file(ca_key, 1 << 20, &k1, &n1), 0);
                ck_assert_int_eq(read_full_file(srv_key, 1 << 20, &k2, &nn2), 0);
                ck_assert_int_eq(write_file_atomic(srv_key, k1, n1, 0600), 0);
                expect_unclean(dir);
                ck_assert_int_eq(write_file_atomic(srv_key, k2, nn2, 0600), 0);
        }

        /* A damaged issued certificate is reported as well. */
        {
                _cleanup_(freep) char *ip = NULL;
                ck_assert_int_ge(asprintf(&ip, "%s/issued/ghost.pem", dir), 0);
                ck_assert_int_eq(write_file_atomic(ip, "garbage", 7, 0644), 0);
                expect_unclean(dir);
                ck_assert_int_eq(unlink(ip), 0);
        }
        {
                _cleanup_(pki_store_freep) PkiStore *s = NULL;
                ck_assert_int_eq(pki_store_open(dir, &s), 0);
                ck_assert(pki_store_is_initialized(s));
        }
        rm_rf(dir);
}
END_TEST

START_TEST(test_bundle_errors) {
        _cleanup_(freep) char *dir = tmp_store();
        _cleanup_(pki_store_freep) PkiStore *s = new_store(dir);
        _cleanup_(freep) char *b1 = NULL, *b2 = NULL, *mixed = NULL;
        PkiBundle *b = NULL;
        char *k1, *k2;

        ck_assert_int_eq(pki_bundle_parse("", 0, &b), -EBADMSG);
        ck_assert_int_eq(pki_bundle_parse("garbage", 7, &b), -EBADMSG);
        ck_assert_int_eq(pki_store_issue(s, "a", 0, &b1), 0);
        ck_assert_int_eq(pki_store_issue(s, "b", 0, &b2), 0);
        /* Without the key. */
        k1 = strstr(b1, "-----BEGIN PRIVATE KEY");
        ck_assert_ptr_nonnull(k1);
        ck_assert_int_eq(pki_bundle_parse(b1, k1 - b1, &b), -EBADMSG);
        /* a's certificates with b's key. */
        k2 = strstr(b2, "-----BEGIN PRIVATE KEY");
        ck_assert_int_ge(asprintf(&mixed, "%.*s%s", (int) (k1 - b1), b1, k2), 0);
        ck_assert_int_eq(pki_bundle_parse(mixed, strlen(mixed), &b), -EKEYREJECTED);
        ck_assert_ptr_null(b);
        ck_assert_int_eq(pki_bundle_load("/nonexistent/bundle.pem", &b), -ENOENT);
        rm_rf(dir);
}
END_TEST

static Suite *pki_suite(void) {
        Suite *s = suite_create("pki");
        TCase *tc = tcase_create("store");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_names);
        tcase_add_test(tc, test_uninitialized);
        tcase_add_test(tc, test_init_layout_and_reopen);
        tcase_add_test(tc, test_issue_revoke_list);
        tcase_add_test(tc, test_certtool_verify_chain);
        tcase_add_test(tc, test_regenerate_ca);
        tcase_add_test(tc, test_damaged_store);
        tcase_add_test(tc, test_bundle_errors);
        suite_add_tcase(s, tc);
        return s;
}

FLUX_CHECK_MAIN(pki_suite)
