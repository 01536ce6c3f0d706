/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The generic table-driven parser: every typed parser, sections with arguments, drop-in order,
 * and "file:line: message" for every kind of bad input. */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "check-util.h"
#include "conf-parser.h"
#include "fd-util.h"

typedef struct Iface {
        char name[16];
        uint32_t weight;
        bool backup;
} Iface;

typedef struct Conf {
        char *name;
        char *ifname;
        bool flag;
        uint16_t port;
        uint32_t mtu;
        double weight;
        ConfigAddress addr, prefix, addr6;
        char **list;
        char **ifaces;
        int mode;
        Iface ifs[4];
        size_t n_ifs;
} Conf;

static void conf_done(Conf *c) {
        free(c->name);
        free(c->ifname);
        strv_free(c->list);
        strv_free(c->ifaces);
}

static const char *const modes[] = { "alpha", "beta", "gamma", NULL };
static const ConfigRange mtu_range = { 576, 9000 };

static int iface_open(ConfigContext *ctx, const char *arg, void *userdata, void **ret) {
        Conf *c = userdata;

        if (!ifname_is_valid(arg))
                return config_error(ctx, EINVAL, "'%s' is not an interface name.", arg);
        for (size_t i = 0; i < c->n_ifs; i++)
                if (streq(c->ifs[i].name, arg)) {
                        *ret = &c->ifs[i];
                        return 0;
                }
        if (c->n_ifs >= ELEMENTSOF(c->ifs))
                return config_error(ctx, E2BIG, "Too many interfaces.");
        strcpy(c->ifs[c->n_ifs].name, arg);
        *ret = &c->ifs[c->n_ifs++];
        return 0;
}

static const ConfigSection sections[] = {
        { "Main" },
        { "Interface", iface_open },
        {},
};

static const ConfigItem items[] = {
        { "Main", "Name", config_parse_string, 0, offsetof(Conf, name) },
        { "Main", "Tunnel", config_parse_ifname, 0, offsetof(Conf, ifname) },
        { "Main", "Flag", config_parse_bool, 0, offsetof(Conf, flag) },
        { "Main", "Port", config_parse_port, 0, offsetof(Conf, port) },
        { "Main", "MTU", config_parse_uint32, (uintptr_t) &mtu_range, offsetof(Conf, mtu) },
        { "Main", "Weight", config_parse_double, 0, offsetof(Conf, weight) },
        { "Main", "Addr", config_parse_address, AF_INET, offsetof(Conf, addr) },
        { "Main", "Prefix", config_parse_address_prefix, AF_UNSPEC, offsetof(Conf, prefix) },
        { "Main", "Addr6", config_parse_address_prefix, AF_INET6, offsetof(Conf, addr6) },
        { "Main", "List", config_parse_strv, 0, offsetof(Conf, list) },
        { "Main", "Interfaces", config_parse_ifname_list, 0, offsetof(Conf, ifaces) },
        { "Main", "Mode", config_parse_enum, (uintptr_t) modes, offsetof(Conf, mode) },
        { "Interface", "Weight", config_parse_uint32, 0, offsetof(Iface, weight) },
        { "Interface", "Backup", config_parse_bool, 0, offsetof(Iface, backup) },
        {},
};

static const ConfigTable table = { sections, items };

static int parse(const char *text, Conf *c, char **msg) {
        return config_parse_buffer("test.conf", text, strlen(text), &table, c, msg);
}

START_TEST(test_all_types) {
        Conf c = { .mode = -1 };
        _cleanup_(freep) char *msg = NULL;
        const char *text =
                "# comment\n"
                "; other comment\n"
                "\n"
                "[Main]\n"
                "Name = hello world\n"
                "  Tunnel=fx0\n"
                "Flag=yes\n"
                "Port=8443\n"
                "MTU = 1400\n"
                "Weight=2.5\n"
                "Addr=10.0.0.1\n"
                "Prefix=fd00:8::1/64\n"
                "Addr6=fd00::2/128\n"
                "List=a b,c\n"
                "List=d\n"
                "Interfaces=eth0, wlan0\n"
                "Mode=beta\n"
                "[Interface eth0]\n"
                "Weight=3\n"
                "[Interface wlan0]\n"
                "Backup=on\n"
                "[Interface eth0]\n"
                "Backup=1\n";

        ck_assert_int_eq(parse(text, &c, &msg), 0);
        ck_assert_ptr_null(msg);
        ck_assert_str_eq(c.name, "hello world");
        ck_assert_str_eq(c.ifname, "fx0");
        ck_assert(c.flag);
        ck_assert_uint_eq(c.port, 8443);
        ck_assert_uint_eq(c.mtu, 1400);
        ck_assert(c.weight > 2.49 && c.weight < 2.51);
        ck_assert_int_eq(c.addr.family, AF_INET);
        ck_assert_uint_eq(ntohl(c.addr.addr.in.s_addr), 0x0a000001);
        ck_assert_int_eq(c.prefix.family, AF_INET6);
        ck_assert_uint_eq(c.prefix.prefixlen, 64);
        ck_assert_uint_eq(c.addr6.prefixlen, 128);
        ck_assert_uint_eq(strv_length(c.list), 4);
        ck_assert_str_eq(c.list[0], "a");
        ck_assert_str_eq(c.list[3], "d");
        ck_assert_uint_eq(strv_length(c.ifaces), 2);
        ck_assert_int_eq(c.mode, 1);
        ck_assert_uint_eq(c.n_ifs, 2);
        ck_assert_str_eq(c.ifs[0].name, "eth0");
        ck_assert_uint_eq(c.ifs[0].weight, 3);
        ck_assert(c.ifs[0].backup);
        ck_assert(c.ifs[1].backup);

        /* An empty value resets. */
        ck_assert_int_eq(parse("[Main]\nList=\nName=\nAddr=\n", &c, &msg), 0);
        ck_assert_ptr_null(c.list);
        ck_assert_ptr_null(c.name);
        ck_assert_int_eq(c.addr.family, AF_UNSPEC);
        conf_done(&c);
}
END_TEST

static void expect_error(const char *text, const char *expected_msg) {
        Conf c = {};
        _cleanup_(freep) char *msg = NULL;
        int r;

        r = parse(text, &c, &msg);
        ck_assert_int_lt(r, 0);
        ck_assert_ptr_nonnull(msg);
        if (!strstr(msg, expected_msg))
                ck_abort_msg("Expected '%s' in message, got '%s'", expected_msg, msg);
        conf_done(&c);
}

START_TEST(test_errors) {
        expect_error("[Main]\nBogus=1\n", "test.conf:2: Unknown key Bogus=");
        expect_error("Name=x\n", "test.conf:1: Assignment outside of a section");
        expect_error("[Main]\n\n[Nope]\n", "test.conf:3: Unknown section [Nope]");
        expect_error("[Main]\n[Nope]\n[Main]\n", "test.conf:2: Unknown section");
        expect_error("[Main\n", "test.conf:1: Invalid section header");
        expect_error("[Main] x\n", "test.conf:1: Invalid section header");
        expect_error("[Main eth0]\n", "test.conf:1: Section [Main] takes no argument");
        expect_error("[Interface]\n", "test.conf:1: Section [Interface] needs an argument");
        expect_error("[Interface a/b]\n", "test.conf:1: 'a/b' is not an interface name");
        expect_error("[Main]\nFlag=maybe\n", "test.conf:2: Flag=maybe is not a boolean");
        expect_error("[Main]\nPort=0\n", "test.conf:2: Port=0 is not a valid port");
        expect_error("[Main]\nPort=65536\n", "Port=65536 is not a valid port");
        expect_error("[Main]\nPort=-1\n", "Port=-1 is not a valid port");
        expect_error("[Main]\nPort=80x\n", "Port=80x is not a valid port");
        expect_error("[Main]\nMTU=100\n", "test.conf:2: MTU=100 is out of range 576");
        expect_error("[Main]\nMTU=abc\n", "MTU=abc is not an unsigned integer");
        expect_error("[Main]\nMTU=99999999999999999999999\n", "out of range");
        expect_error("[Main]\nWeight=nan\n", "Weight=nan is not a non-negative number");
        expect_error("[Main]\nWeight=-1\n", "is not a non-negative number");
        expect_error("[Main]\nAddr=10.0.0.300\n", "Addr=10.0.0.300 is not a valid IPv4 address");
        expect_error("[Main]\nAddr=fd00::1\n", "is not a valid IPv4 address");
        expect_error("[Main]\nPrefix=10.0.0.1\n", "Prefix=10.0.0.1 is not a valid IP address with prefix");
        expect_error("[Main]\nPrefix=10.0.0.1/33\n", "is not a valid IP address with prefix");
        expect_error("[Main]\nAddr6=10.0.0.1/24\n", "is not a valid IPv6 address with prefix");
        expect_error("[Main]\nInterfaces=eth0 averyveryverylongname\n", "'averyveryverylongname' is not a valid interface name");
        expect_error("[Main]\nInterfaces=eth0 eth0\n", "'eth0' is listed twice");
        expect_error("[Main]\nMode=delta\n", "test.conf:2: Mode=delta is not one of: alpha, beta, gamma");
        expect_error("[Main]\nMode=\n", "Mode= is not one of");
        expect_error("[Main]\nTunnel=a b\n", "is not a valid interface name");
        expect_error("[Main]\njust words\n", "test.conf:2: Syntax error");
        expect_error("[Main]\nName: value\n", "test.conf:2: Syntax error");
        expect_error("[Main]\n=value\n", "test.conf:2: Syntax error");
        expect_error("[Main]\nName=a\x01b\n", "control characters");
}
END_TEST

START_TEST(test_long_and_binary) {
        char buf[600];
        Conf c = {};
        _cleanup_(freep) char *msg = NULL;

        memset(buf, 'a', sizeof(buf));
        memcpy(buf, "[Main]\nName=", 12);
        buf[sizeof(buf) - 1] = '\0';
        ck_assert_int_lt(parse(buf, &c, &msg), 0);
        ck_assert_ptr_nonnull(strstr(msg, "test.conf:2: Line too long"));
        msg = mfree(msg);

        ck_assert_int_lt(config_parse_buffer("bin.conf", "[Main]\nName=a\0b\n", 16, &table, &c, &msg), 0);
        ck_assert_ptr_nonnull(strstr(msg, "bin.conf:2: Line contains a NUL byte"));
        conf_done(&c);
}
END_TEST

static void write_file(const char *dir, const char *name, const char *text) {
        _cleanup_(freep) char *p = NULL;

        ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
        ck_assert_int_eq(write_file_atomic(p, text, strlen(text), 0644), 0);
}

START_TEST(test_dropins) {
        char dir[] = "/tmp/test-conf-XXXXXX";
        _cleanup_(freep) char *main_path = NULL, *d = NULL, *msg = NULL, *cmd = NULL;
        Conf c = {};

        ck_assert_ptr_nonnull(mkdtemp(dir));
        ck_assert_int_ge(asprintf(&main_path, "%s/main.conf", dir), 0);
        ck_assert_int_ge(asprintf(&d, "%s/main.conf.d", dir), 0);

        /* No main file, no drop-ins: defaults, unless required. */
        ck_assert_int_eq(config_parse_with_dropins(main_path, 0, &table, &c, &msg), 0);
        ck_assert_int_eq(config_parse_with_dropins(main_path, CONFIG_PARSE_MAIN_REQUIRED, &table, &c, &msg), -ENOENT);
        ck_assert_ptr_nonnull(strstr(msg, "main.conf: Failed to read"));
        msg = mfree(msg);

        write_file(dir, "main.conf", "[Main]\nPort=1000\nName=main\nList=x\n");
        ck_assert_int_eq(mkdir(d, 0755), 0);
        write_file(d, "20-b.conf", "[Main]\nPort=2000\nList=z\n");
        write_file(d, "10-a.conf", "[Main]\nPort=3000\nName=dropin\nList=y\n");
        write_file(d, "30-c.conf.disabled", "[Main]\nPort=4000\n");
        write_file(d, ".hidden.conf", "[Main]\nPort=5000\n");

        ck_assert_int_eq(config_parse_with_dropins(main_path, CONFIG_PARSE_MAIN_REQUIRED, &table, &c, &msg), 0);
        ck_assert_uint_eq(c.port, 2000);
        ck_assert_str_eq(c.name, "dropin");
        ck_assert_uint_eq(strv_length(c.list), 3);
        ck_assert_str_eq(c.list[1], "y");
        ck_assert_str_eq(c.list[2], "z");

        conf_done(&c);
        c = (Conf) {};
        write_file(d, "40-bad.conf", "[Main]\n\nPort=http\n");
        ck_assert_int_lt(config_parse_with_dropins(main_path, 0, &table, &c, &msg), 0);
        if (!strstr(msg, "main.conf.d/40-bad.conf:3: Port=http is not a valid port"))
                ck_abort_msg("unexpected message: %s", msg);

        conf_done(&c);
        ck_assert_int_ge(asprintf(&cmd, "rm -rf '%s'", dir), 0);
        ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_helpers) {
        uint64_t v;

        ck_assert_int_eq(parse_boolean("YES"), 1);
        ck_assert_int_eq(parse_boolean("off"), 0);
        ck_assert_int_eq(parse_boolean(""), -EINVAL);
        ck_assert_int_eq(parse_uint64_range("42", 1, 100, &v), 0);
        ck_assert_uint_eq(v, 42);
        ck_assert_int_eq(parse_uint64_range("+42", 1, 100, &v), -EINVAL);
        ck_assert_int_eq(parse_uint64_range("420", 1, 100, &v), -ERANGE);
        ck_assert(ifname_is_valid("eth0"));
        ck_assert(ifname_is_valid("fluxify0"));
        ck_assert(!ifname_is_valid("0123456789abcdef"));
        ck_assert(!ifname_is_valid(".."));
        ck_assert(!ifname_is_valid("a:b"));
}
END_TEST

static Suite *conf_suite(void) {
        Suite *s = suite_create("conf-parser");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_all_types);
        tcase_add_test(tc, test_errors);
        tcase_add_test(tc, test_long_and_binary);
        tcase_add_test(tc, test_dropins);
        tcase_add_test(tc, test_helpers);
        suite_add_tcase(s, tc);
        return s;
}

FLUX_CHECK_MAIN(conf_suite)
