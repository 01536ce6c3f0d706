/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>

#include <jansson.h>

#include "alloc-util.h"
#include "check-util.h"
#include "control-msg.h"

static json_t *vectors(const char *section) {
        static json_t *root = NULL;
        json_error_t err;
        json_t *s;

        if (!root) {
                root = json_load_file(TEST_DATA("fluxify-go-v1.json"), 0, &err);
                ck_assert_msg(root, "cannot load vectors: %s", err.text);
        }
        s = json_object_get(root, section);
        ck_assert(json_is_array(s));
        ck_assert_uint_gt(json_array_size(s), 0);
        return s;
}

static const char *fstr(json_t *fields, const char *k) {
        json_t *v = json_object_get(fields, k);
        ck_assert_msg(json_is_string(v), "field %s", k);
        return json_string_value(v);
}

static void check_response_fields(const ControlResponse *r, json_t *fields, const char *name) {
        char buf[INET6_ADDRSTRLEN];
        const char *ip6 = fstr(fields, "ClientIPv6");

        ck_assert_msg(r->session_id == json_integer_value(json_object_get(fields, "SessionID")), "%s", name);
        ck_assert_msg(r->udp_port == json_integer_value(json_object_get(fields, "UDPPort")), "%s", name);
        ck_assert(r->has_address);
        ck_assert_str_eq(inet_ntop(AF_INET, &r->address, buf, sizeof(buf)), fstr(fields, "ClientIP"));
        if (isempty(ip6))
                ck_assert_msg(!r->has_address6, "%s", name);
        else {
                ck_assert(r->has_address6);
                ck_assert_str_eq(inet_ntop(AF_INET6, &r->address6, buf, sizeof(buf)), ip6);
        }
        if (isempty(fstr(fields, "SessionKey")))
                ck_assert(!r->has_session_key);
        else {
                /* Every vector uses key_hex = 00..1f. */
                ck_assert(r->has_session_key);
                for (unsigned i = 0; i < CONTROL_KEY_SIZE; i++)
                        ck_assert_uint_eq(r->session_key[i], i);
        }
}

START_TEST(test_v1_encode_vectors) {
        json_t *cases = vectors("control_encode"), *c;
        unsigned n = 0;
        size_t i;

        json_array_foreach(cases, i, c) {
                const char *name = json_string_value(json_object_get(c, "name"));
                const char *msg = json_string_value(json_object_get(c, "message"));
                const char *expect = json_string_value(json_object_get(c, "json"));
                json_t *fields = json_object_get(c, "fields");
                _cleanup_(freep) char *out = NULL;
                size_t size;

                if (streq(msg, "ControlRequest")) {
                        ControlRequest req = { .protocol = CONTROL_PROTOCOL_V1,
                                               .client_name = (char *) fstr(fields, "ClientName") };
                        ControlRequest back = {};

                        /* Go escapes <>& as \u003c…; we need not (README), but must decode it. */
                        if (!streq(name, "request_escaping")) {
                                ck_assert_int_eq(control_request_encode(&req, &out, &size), 0);
                                ck_assert_msg(streq(out, expect), "%s: got %s want %s", name, out, expect);
                                ck_assert_uint_eq(size, strlen(expect));
                                n++;
                        }
                        ck_assert_int_eq(control_request_decode(expect, strlen(expect), &back), 0);
                        ck_assert_uint_eq(back.protocol, CONTROL_PROTOCOL_V1);
                        ck_assert_str_eq(back.client_name, fstr(fields, "ClientName"));
                        control_request_done(&back);
                } else {
                        ControlResponse resp = {
                                .protocol = CONTROL_PROTOCOL_V1,
                                .session_id = (uint32_t) json_integer_value(json_object_get(fields, "SessionID")),
                                .udp_port = (uint16_t) json_integer_value(json_object_get(fields, "UDPPort")),
                                .has_session_key = true,
                                .has_address = true,
                        }, back;

                        ck_assert(streq(msg, "ControlResponse"));
                        for (unsigned k = 0; k < CONTROL_KEY_SIZE; k++)
                                resp.session_key[k] = k;
                        ck_assert_int_eq(inet_pton(AF_INET, fstr(fields, "ClientIP"), &resp.address), 1);
                        if (!isempty(fstr(fields, "ClientIPv6"))) {
                                resp.has_address6 = true;
                                ck_assert_int_eq(inet_pton(AF_INET6, fstr(fields, "ClientIPv6"), &resp.address6), 1);
                        }
                        ck_assert_int_eq(control_response_encode_v1(&resp, &out, &size), 0);
                        ck_assert_msg(streq(out, expect), "%s: got %s want %s", name, out, expect);
                        n++;
                        ck_assert_int_eq(control_response_decode_v1(expect, strlen(expect), &back), 0);
                        check_response_fields(&back, fields, name);
                }
        }
        ck_assert_uint_eq(n, 4);
}
END_TEST

START_TEST(test_v1_decode_vectors) {
        json_t *cases = vectors("control_decode"), *c;
        unsigned n = 0;
        size_t i;

        json_array_foreach(cases, i, c) {
                const char *name = json_string_value(json_object_get(c, "name"));
                const char *msg = json_string_value(json_object_get(c, "message"));
                const char *input = json_string_value(json_object_get(c, "input"));
                bool accept = json_is_true(json_object_get(c, "accept"));
                json_t *fields = json_object_get(c, "fields");
                int r;

                if (streq(msg, "ControlRequest")) {
                        ControlRequest req = {};
                        r = control_request_decode(input, strlen(input), &req);
                        ck_assert_msg(accept ? r == 0 : r < 0, "%s: r=%d", name, r);
                        if (accept) {
                                ck_assert_uint_eq(req.protocol, CONTROL_PROTOCOL_V1);
                                ck_assert_str_eq(req.client_name, fstr(fields, "ClientName"));
                        }
                        control_request_done(&req);
                } else {
                        ControlResponse resp = {};
                        r = control_response_decode_v1(input, strlen(input), &resp);
                        ck_assert_msg(accept ? r == 0 : r < 0, "%s: r=%d", name, r);
                        if (accept)
                                check_response_fields(&resp, fields, name);
                }
                n++;
        }
        ck_assert_uint_eq(n, json_array_size(cases));
}
END_TEST

START_TEST(test_v1_lenient_extra) {
        ControlRequest req = {};
        ControlResponse resp;

        /* null leaves the field empty; the last of several case variants wins (Go). */
        ck_assert_int_eq(control_request_decode("{\"client_name\":null}", strlen("{\"client_name\":null}"), &req), 0);
        ck_assert_str_eq(req.client_name, "");
        control_request_done(&req);
        ck_assert_int_eq(control_request_decode("{\"client_name\":\"a\",\"Client_Name\":\"b\"}", strlen("{\"client_name\":\"a\",\"Client_Name\":\"b\"}"), &req), 0);
        ck_assert_str_eq(req.client_name, "b");
        control_request_done(&req);
        ck_assert_int_eq(control_request_decode("{\"client_name\":5}", strlen("{\"client_name\":5}"), &req), -EBADMSG);
        ck_assert_int_eq(control_request_decode("[]", strlen("[]"), &req), -EBADMSG);
        ck_assert_int_eq(control_request_decode("{} x", strlen("{} x"), &req), -EBADMSG);
        ck_assert_int_eq(control_request_decode("{\"client_name\":\"a\\u0000b\"}", strlen("{\"client_name\":\"a\\u0000b\"}"), &req), -EBADMSG);
        ck_assert_int_eq(control_response_decode_v1("{\"session_id\":-1}", strlen("{\"session_id\":-1}"), &resp), -EBADMSG);
        ck_assert_int_eq(control_response_decode_v1("{\"session_id\":1.5}", strlen("{\"session_id\":1.5}"), &resp), -EBADMSG);
        ck_assert_int_eq(control_response_decode_v1("{\"session_key\":\"AAAA\"}", strlen("{\"session_key\":\"AAAA\"}"), &resp), -EBADMSG);
        ck_assert_int_eq(control_response_decode_v1("{\"client_ip\":\"fd00::1\"}", strlen("{\"client_ip\":\"fd00::1\"}"), &resp), -EBADMSG);
        ck_assert_int_eq(control_response_decode_v1("{\"udp_port\":70000}", strlen("{\"udp_port\":70000}"), &resp), -EBADMSG);
}
END_TEST

START_TEST(test_v2_request) {
        ControlRequest req = { .protocol = 2, .client_name = (char *) "laptop" }, back = {};
        _cleanup_(freep) char *out = NULL, *out2 = NULL;
        size_t n;

        ck_assert_int_eq(control_request_encode(&req, &out, &n), 0);
        ck_assert_str_eq(out, "{\"client_name\":\"laptop\",\"protocol\":2}");
        ck_assert_int_eq(control_request_decode(out, n, &back), 0);
        ck_assert_uint_eq(back.protocol, 2);
        ck_assert_str_eq(back.client_name, "laptop");
        ck_assert(!back.resume);
        control_request_done(&back);

        req.resume = true;
        req.resume_session_id = 0xdeadbeef;
        for (unsigned i = 0; i < CONTROL_TOKEN_SIZE; i++)
                req.resume_token[i] = (uint8_t) (0xa0 + i);
        ck_assert_int_eq(control_request_encode(&req, &out2, &n), 0);
        ck_assert_int_eq(control_request_decode(out2, n, &back), 0);
        ck_assert(back.resume);
        ck_assert_uint_eq(back.resume_session_id, 0xdeadbeef);
        ck_assert_mem_eq(back.resume_token, req.resume_token, CONTROL_TOKEN_SIZE);
        control_request_done(&back);

        /* Strict: wrong types, names, ranges, duplicates, versions. */
        static const struct {
                const char *json;
                int r;
        } bad[] = {
                { "{\"client_name\":\"laptop\",\"protocol\":3}", -EPROTONOSUPPORT },
                { "{\"client_name\":\"laptop\",\"protocol\":\"2\"}", -EBADMSG },
                { "{\"client_name\":\"laptop\",\"protocol\":2.0}", -EBADMSG },
                { "{\"protocol\":2}", -EBADMSG },
                { "{\"CLIENT_NAME\":\"laptop\",\"protocol\":2}", -EBADMSG },
                { "{\"client_name\":\"\",\"protocol\":2}", -EBADMSG },
                { "{\"client_name\":\"a b\",\"protocol\":2}", -EBADMSG },
                { "{\"client_name\":\"laptop\",\"client_name\":\"x\",\"protocol\":2}", -EBADMSG },
                { "{\"client_name\":\"laptop\",\"protocol\":2,\"type\":\"bye\"}", -EBADMSG },
                { "{\"client_name\":\"laptop\",\"protocol\":2,\"resume\":{\"session_id\":0,\"token\":\"AAAA\"}}", -EBADMSG },
                { "{\"client_name\":\"laptop\",\"protocol\":2,\"resume\":{\"session_id\":4294967296,\"token\":\"AAAA\"}}", -EBADMSG },
                { "{\"client_name\":\"laptop\",\"protocol\":2,\"resume\":{\"session_id\":1,\"token\":\"AAAA\"}}", -EBADMSG },
                { "{\"client_name\":\"laptop\",\"protocol\":2,\"resume\":[]}", -EBADMSG },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                ControlRequest x = {};
                int r = control_request_decode(bad[i].json, strlen(bad[i].json), &x);
                ck_assert_msg(r == bad[i].r, "%s: %d", bad[i].json, r);
                ck_assert_ptr_null(x.client_name);
        }
        /* Unknown keys are ignored (forward compatible). */
        {
                const char *j = "{\"client_name\":\"laptop\",\"protocol\":2,\"future\":{\"x\":1}}";
                ck_assert_int_eq(control_request_decode(j, strlen(j), &back), 0);
                control_request_done(&back);
        }
}
END_TEST

START_TEST(test_v2_request_scheduler) {
        static const char *const names[] = { "weighted", "flow", "lowest-rtt", "redundant" };
        ControlRequest back = {};

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                ControlRequest req = { .protocol = 2, .client_name = (char *) "laptop", .scheduler = (char *) names[i] };
                _cleanup_(freep) char *out = NULL, *expect = NULL;
                size_t n;

                ck_assert(control_scheduler_valid(names[i]));
                ck_assert_int_eq(control_request_encode(&req, &out, &n), 0);
                ck_assert_int_ge(asprintf(&expect, "{\"client_name\":\"laptop\",\"protocol\":2,\"scheduler\":\"%s\"}",
                                          names[i]), 0);
                ck_assert_str_eq(out, expect);
                ck_assert_int_eq(control_request_decode(out, n, &back), 0);
                ck_assert_str_eq(back.scheduler, names[i]);
                control_request_done(&back);
        }

        /* Absent or null: the server's default. */
        {
                const char *j = "{\"client_name\":\"laptop\",\"protocol\":2,\"scheduler\":null}";
                ck_assert_int_eq(control_request_decode(j, strlen(j), &back), 0);
                ck_assert_ptr_null(back.scheduler);
                control_request_done(&back);
        }
        /* With a resume, and after it in the encoding. */
        {
                ControlRequest req = { .protocol = 2, .client_name = (char *) "laptop", .resume = true,
                                       .resume_session_id = 7, .scheduler = (char *) "redundant" };
                _cleanup_(freep) char *out = NULL;
                size_t n;

                ck_assert_int_eq(control_request_encode(&req, &out, &n), 0);
                ck_assert_int_eq(control_request_decode(out, n, &back), 0);
                ck_assert(back.resume);
                ck_assert_str_eq(back.scheduler, "redundant");
                control_request_done(&back);
        }
        /* Version 1 never carries it (Go byte order). */
        {
                ControlRequest req = { .protocol = 1, .client_name = (char *) "laptop", .scheduler = (char *) "flow" };
                _cleanup_(freep) char *out = NULL;
                size_t n;

                ck_assert_int_eq(control_request_encode(&req, &out, &n), 0);
                ck_assert_str_eq(out, "{\"client_name\":\"laptop\"}");
        }
        /* Encoding refuses what decoding would. */
        {
                ControlRequest req = { .protocol = 2, .client_name = (char *) "laptop", .scheduler = (char *) "fastest" };
                _cleanup_(freep) char *out = NULL;
                size_t n;

                ck_assert_int_eq(control_request_encode(&req, &out, &n), -EINVAL);
                ck_assert_ptr_null(out);
        }

        /* Strict: exact names, exact type. */
        static const struct {
                const char *json;
                int r;
        } bad[] = {
                { "{\"client_name\":\"laptop\",\"protocol\":2,\"scheduler\":\"fastest\"}", -EOPNOTSUPP },
                { "{\"client_name\":\"laptop\",\"protocol\":2,\"scheduler\":\"Redundant\"}", -EOPNOTSUPP },
                { "{\"client_name\":\"laptop\",\"protocol\":2,\"scheduler\":\"redundant \"}", -EOPNOTSUPP },
                { "{\"client_name\":\"laptop\",\"protocol\":2,\"scheduler\":\"\"}", -EOPNOTSUPP },
                { "{\"client_name\":\"laptop\",\"protocol\":2,\"scheduler\":\"flow\\u0000\"}", -EBADMSG },
                { "{\"client_name\":\"laptop\",\"protocol\":2,\"scheduler\":3}", -EBADMSG },
                { "{\"client_name\":\"laptop\",\"protocol\":2,\"scheduler\":[\"flow\"]}", -EBADMSG },
                { "{\"client_name\":\"laptop\",\"protocol\":2,\"scheduler\":\"flow\",\"scheduler\":\"flow\"}", -EBADMSG },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                ControlRequest x = {};
                int r = control_request_decode(bad[i].json, strlen(bad[i].json), &x);
                ck_assert_msg(r == bad[i].r, "%s: %d", bad[i].json, r);
                ck_assert_ptr_null(x.client_name);
                ck_assert_ptr_null(x.scheduler);
        }
        /* Version 1 ignores the key like any unknown key (Go-lenient). */
        {
                const char *j = "{\"client_name\":\"laptop\",\"scheduler\":\"fastest\"}";
                ck_assert_int_eq(control_request_decode(j, strlen(j), &back), 0);
                ck_assert_uint_eq(back.protocol, 1);
                ck_assert_ptr_null(back.scheduler);
                control_request_done(&back);
        }
        ck_assert(!control_scheduler_valid(NULL));
}
END_TEST

static void roundtrip(const ControlMsg *m, ControlMsg *ret) {
        _cleanup_(freep) char *out = NULL;
        size_t n;

        ck_assert_int_eq(control_msg_encode(m, &out, &n), 0);
        ck_assert_uint_eq(strlen(out), n);
        ck_assert_ptr_null(memchr(out, '\n', n));
        ck_assert_int_eq(control_msg_decode(out, n, ret), 0);
        ck_assert_int_eq(ret->type, m->type);
}

START_TEST(test_v2_messages) {
        ControlMsg m = { .type = CONTROL_MSG_RESPONSE }, b;
        char *routes[] = { (char *) "0.0.0.0/0", (char *) "fd00::/8", NULL };
        char *dns[] = { (char *) "10.8.0.1", NULL };

        m.response = (ControlResponse) {
                .session_id = 77, .udp_port = 8000, .has_address = true, .prefixlen = 24,
                .has_address6 = true, .prefixlen6 = 64, .mtu = 1400, .keepalive_sec = 25, .resumed = true,
        };
        inet_pton(AF_INET, "10.8.0.2", &m.response.address);
        inet_pton(AF_INET6, "fd00:8::2", &m.response.address6);
        memset(m.response.resume_token, 0x5a, CONTROL_TOKEN_SIZE);
        roundtrip(&m, &b);
        ck_assert_uint_eq(b.response.session_id, 77);
        ck_assert_uint_eq(b.response.udp_port, 8000);
        ck_assert(b.response.has_address && b.response.has_address6);
        ck_assert_uint_eq(b.response.prefixlen, 24);
        ck_assert_uint_eq(b.response.prefixlen6, 64);
        ck_assert(in_addr_equal(AF_INET6, &b.response.address6, &m.response.address6));
        ck_assert_uint_eq(b.response.mtu, 1400);
        ck_assert_uint_eq(b.response.keepalive_sec, 25);
        ck_assert(b.response.resumed);
        ck_assert_mem_eq(b.response.resume_token, m.response.resume_token, CONTROL_TOKEN_SIZE);
        control_msg_done(&b);

        m.response.session_id = 0;
        {
                char *out = NULL;
                ck_assert_int_eq(control_msg_encode(&m, &out, NULL), -EINVAL);
        }

        m = (ControlMsg) { .type = CONTROL_MSG_ERROR, .error.code = CONTROL_ERROR_FORBIDDEN,
                           .error.message = (char *) "no" };
        roundtrip(&m, &b);
        ck_assert_int_eq(b.error.code, CONTROL_ERROR_FORBIDDEN);
        ck_assert_str_eq(b.error.message, "no");
        control_msg_done(&b);

        m = (ControlMsg) { .type = CONTROL_MSG_KEEPALIVE, .keepalive.seq = 9 };
        roundtrip(&m, &b);
        ck_assert_uint_eq(b.keepalive.seq, 9);
        m = (ControlMsg) { .type = CONTROL_MSG_REKEY, .rekey.epoch = 4000000000U };
        roundtrip(&m, &b);
        ck_assert_uint_eq(b.rekey.epoch, 4000000000U);
        m = (ControlMsg) { .type = CONTROL_MSG_BYE, .bye.reason = (char *) "revoked" };
        roundtrip(&m, &b);
        ck_assert_str_eq(b.bye.reason, "revoked");
        control_msg_done(&b);
        m = (ControlMsg) { .type = CONTROL_MSG_PUSH, .push.routes = routes, .push.dns = dns };
        roundtrip(&m, &b);
        ck_assert_str_eq(b.push.routes[1], "fd00::/8");
        ck_assert_ptr_null(b.push.routes[2]);
        ck_assert_str_eq(b.push.dns[0], "10.8.0.1");
        control_msg_done(&b);

        static const struct {
                const char *json;
                int r;
        } bad[] = {
                { "{}", -EBADMSG },
                { "{\"type\":5}", -EBADMSG },
                { "{\"type\":\"telepathy\"}", -EOPNOTSUPP },
                { "{\"type\":\"rekey\"}", -EBADMSG },
                { "{\"type\":\"rekey\",\"epoch\":-1}", -EBADMSG },
                { "{\"type\":\"rekey\",\"epoch\":1,\"epoch\":2}", -EBADMSG },
                { "{\"type\":\"bye\",\"reason\":7}", -EBADMSG },
                { "{\"type\":\"error\",\"message\":\"x\"}", -EBADMSG },
                { "{\"type\":\"push\",\"routes\":[\"10.0.0.0\"]}", -EBADMSG },
                { "{\"type\":\"push\",\"dns\":[\"dns.example\"]}", -EBADMSG },
                { "{\"type\":\"push\",\"routes\":\"10.0.0.0/8\"}", -EBADMSG },
                { "{\"type\":\"response\",\"session_id\":1,\"udp_port\":8000,\"keepalive\":25,"
                  "\"resume_token\":\"WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=\"}", -EBADMSG }, /* no address */
                { "{\"type\":\"response\",\"session_id\":1,\"udp_port\":8000,\"keepalive\":25,\"client_ip\":\"10.8.0.2\","
                  "\"resume_token\":\"WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=\"}", -EBADMSG }, /* no prefix */
                { "{\"type\":\"response\",\"session_id\":1,\"udp_port\":0,\"keepalive\":25,\"client_ip\":\"10.8.0.2\","
                  "\"client_prefix\":24,\"resume_token\":\"WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=\"}", -EBADMSG },
                { "{\"type\":\"response\",\"session_id\":1,\"udp_port\":8000,\"keepalive\":25,\"client_ip\":\"10.8.0.2\","
                  "\"client_prefix\":33,\"resume_token\":\"WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=\"}", -EBADMSG },
                { "{\"type\":\"response\",\"session_id\":1,\"udp_port\":8000,\"keepalive\":25,\"client_ip\":\"10.8.0.2\","
                  "\"client_prefix\":24,\"resume_token\":\"WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWl==\"}", -EBADMSG },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                ControlMsg x = {};
                int r = control_msg_decode(bad[i].json, strlen(bad[i].json), &x);
                ck_assert_msg(r == bad[i].r, "%s: %d", bad[i].json, r);
        }
        {
                const char *ok = "{\"type\":\"response\",\"session_id\":1,\"udp_port\":8000,\"keepalive\":25,"
                                 "\"client_ip\":\"10.8.0.2\",\"client_prefix\":24,\"new_field\":[1],"
                                 "\"resume_token\":\"WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=\"}";
                ck_assert_int_eq(control_msg_decode(ok, strlen(ok), &b), 0);
                ck_assert_uint_eq(b.response.resume_token[31], 0x5a);
        }
}
END_TEST

/* jansson frees its copies without wiping them: the v1 session key must never be handed to it.
 * Allocation hooks look for the key's base64 text in every block jansson frees. */
static const char *secret_b64;
static unsigned secret_leaks;

static void *leak_malloc(size_t n) {
        size_t *p = malloc(sizeof(size_t) + n);

        if (!p)
                return NULL;
        *p = n;
        return p + 1;
}

static void leak_free(void *q) {
        size_t *p = q ? (size_t *) q - 1 : NULL;

        if (!p)
                return;
        if (memmem(q, *p, secret_b64, strlen(secret_b64)))
                secret_leaks++;
        free(p);
}

START_TEST(test_v1_key_not_left_behind) {
        ControlResponse resp = {
                .protocol = CONTROL_PROTOCOL_V1,
                .session_id = 7,
                .udp_port = 8000,
                .has_session_key = true,
                .has_address = true,
        };
        _cleanup_(freep) char *out = NULL;
        size_t n;

        memset(resp.session_key, 0xa5, sizeof(resp.session_key));
        secret_b64 = "paWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaU=";
        ck_assert_int_eq(inet_pton(AF_INET, "10.8.0.2", &resp.address), 1);
        json_set_alloc_funcs(leak_malloc, leak_free);
        ck_assert_int_eq(control_response_encode_v1(&resp, &out, &n), 0);
        json_set_alloc_funcs(malloc, free);
        ck_assert_ptr_nonnull(strstr(out, secret_b64));
        ck_assert_uint_eq(secret_leaks, 0);
}
END_TEST

START_TEST(test_size_limit) {
        size_t n = CONTROL_MSG_MAX + 100;
        _cleanup_(freep) char *big = malloc(n + 1), *out = NULL;
        ControlRequest req = {};
        ControlMsg m = {};

        memset(big, ' ', n);
        memcpy(big, "{\"client_name\":\"x\"}", 19);
        big[n] = 0;
        ck_assert_int_eq(control_request_decode(big, n, &req), -EMSGSIZE);
        ck_assert_int_eq(control_msg_decode(big, n, &m), -EMSGSIZE);
        /* Exactly at the limit is fine. */
        ck_assert_int_eq(control_request_decode(big, CONTROL_MSG_MAX, &req), 0);
        control_request_done(&req);

        /* Encoding refuses to produce an oversized message. */
        {
                _cleanup_(freep) char *reason = malloc(CONTROL_MSG_MAX + 1);
                memset(reason, 'a', CONTROL_MSG_MAX);
                reason[CONTROL_MSG_MAX] = 0;
                m = (ControlMsg) { .type = CONTROL_MSG_BYE, .bye.reason = reason };
                ck_assert_int_eq(control_msg_encode(&m, &out, NULL), -EMSGSIZE);
        }
}
END_TEST

START_TEST(test_error_codes) {
        for (int c = 0; c < _CONTROL_ERROR_CODE_MAX; c++) {
                int e = control_error_code_to_errno(c);
                ck_assert_int_lt(e, 0);
                if (c != CONTROL_ERROR_INTERNAL)
                        ck_assert_int_eq(control_error_code_from_errno(e), c);
                ck_assert_int_eq(control_error_code_from_string(control_error_code_to_string(c)), c);
        }
        ck_assert_int_eq(control_error_code_from_errno(-ENOSPC), CONTROL_ERROR_POOL_EXHAUSTED);
        ck_assert_int_eq(control_error_code_from_errno(-EIO), CONTROL_ERROR_INTERNAL);
}
END_TEST

static Suite *control_msg_suite(void) {
        Suite *s = suite_create("control-msg");
        TCase *tc = tcase_create("codec");

        tcase_add_test(tc, test_v1_encode_vectors);
        tcase_add_test(tc, test_v1_key_not_left_behind);
        tcase_add_test(tc, test_v1_decode_vectors);
        tcase_add_test(tc, test_v1_lenient_extra);
        tcase_add_test(tc, test_v2_request);
        tcase_add_test(tc, test_v2_request_scheduler);
        tcase_add_test(tc, test_v2_messages);
        tcase_add_test(tc, test_size_limit);
        tcase_add_test(tc, test_error_codes);
        suite_add_tcase(s, tc);
        return s;
}

FLUX_CHECK_MAIN(control_msg_suite)
