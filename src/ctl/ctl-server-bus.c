/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "ctl-bus.h"
#include "ctl-format.h"
#include "ctl.h"
#include "fd-util.h"
#include "flux-bus-names.h"
#include "log.h"
#include "time-util.h"

/* Default validity of "pki issue" without --days. */
#define PKI_DEFAULT_DAYS 365U

static int server_open(sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = ctl_bus_open(&bus);
        if (r < 0)
                return r;
        r = ctl_server_require(bus);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

static int print_table(Table *t, const char *noun_one, const char *noun_many) {
        if (table_get_rows(t) > 0 || !arg_legend)
                (void) table_print(t, stdout, arg_legend, ctl_use_color());
        if (arg_legend) {
                if (table_get_rows(t) > 0)
                        putchar('\n');
                printf("%zu %s listed.\n", table_get_rows(t), table_get_rows(t) == 1 ? noun_one : noun_many);
        }
        return fflush(stdout) == 0 ? 0 : -errno;
}

static int server_status(sd_bus *bus, json_t *json_out) {
        json_t *objects = NULL;
        int r;

        r = ctl_get_managed_objects(bus, FLUX_SERVER_BUS_NAME, FLUX_SERVER_PATH, FLUX_SERVER_MANAGER_IFACE, &objects);
        if (r < 0)
                return r;
        if (json_out) {
                json_t *m = objects_get(objects, FLUX_SERVER_PATH, FLUX_SERVER_MANAGER_IFACE);
                json_t *p = objects_get(objects, FLUX_SERVER_PKI_PATH, FLUX_SERVER_PKI_IFACE);
                r = json_object_set_new(json_out, "server",
                                        json_pack("{s:O, s:O}", "Manager", m ?: json_null(), "PKI",
                                                  p ?: json_null())) < 0 ? log_oom() : 0;
        } else {
                r = format_server_status(objects, stdout, ctl_use_color(), now(CLOCK_REALTIME));
                if (r < 0)
                        log_error_errno(r, "Failed to show the server's status: %m");
        }
        json_decref(objects);
        return r;
}

int verb_status(int argc, char **argv) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(strv_freep) char **profiles = NULL;
        _cleanup_(freep) char *name = NULL, *profile = NULL;
        json_t *root = NULL, *clients = NULL;
        bool server = false, first = true;
        int r;

        r = ctl_bus_open(&bus);
        if (r < 0)
                return r;

        if (arg_profile) {
                /* One named client: it must be running. */
                r = ctl_client_resolve(bus, &name, &profile);
                if (r < 0)
                        return r;
                profiles = new0(char *, 2);
                if (!profiles)
                        return log_oom();
                profiles[0] = TAKE_PTR(profile);
        } else {
                r = ctl_client_list(bus, &profiles);
                if (r < 0)
                        return r;
                r = ctl_server_is_running(bus);
                if (r < 0)
                        return r;
                server = r > 0;
                if (!server && !profiles[0])
                        return log_error_errno(ESRCH,
                                               "Neither fluxifyd-server nor any fluxifyd-client instance is running "
                                               "on the system bus.\n"
                                               "Start one with 'systemctl start fluxify-server' or "
                                               "'systemctl start fluxify-client@PROFILE'.");
        }

        if (arg_json != JSON_OFF) {
                root = json_object();
                clients = json_array();
                if (!root || !clients || json_object_set(root, "clients", clients) < 0) {
                        json_decref(root);
                        json_decref(clients);
                        return log_oom();
                }
        }

        if (server) {
                r = server_status(bus, root);
                if (r < 0)
                        goto finish;
                first = false;
        }
        for (char **p = profiles; *p; p++) {
                r = ctl_client_status(bus, *p, clients, first);
                if (r < 0)
                        goto finish;
                first = false;
        }
        if (root)
                r = ctl_json_print(root);
        else
                r = fflush(stdout) == 0 ? 0 : -errno;

finish:
        json_decref(clients);
        json_decref(root);
        return r;
}

int verb_sessions(int argc, char **argv) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        json_t *objects = NULL, *sessions;
        int r;

        r = server_open(&bus);
        if (r < 0)
                return r;
        r = ctl_get_managed_objects(bus, FLUX_SERVER_BUS_NAME, FLUX_SERVER_PATH, FLUX_SERVER_MANAGER_IFACE, &objects);
        if (r < 0)
                return r;
        sessions = server_sessions_collect(objects);
        json_decref(objects);
        if (!sessions)
                return log_oom();

        if (arg_json != JSON_OFF)
                r = ctl_json_print(sessions);
        else {
                r = table_from_sessions(sessions, now(CLOCK_REALTIME), &t);
                if (r < 0)
                        log_error_errno(r, "Failed to build the sessions table: %m");
                else
                        r = print_table(t, "session", "sessions");
        }
        json_decref(sessions);
        return r;
}

static int parse_session_id(const char *s, uint32_t *ret) {
        char *end;
        unsigned long v;

        if (!s || s[0] < '0' || s[0] > '9')
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || *end != '\0' || v > UINT32_MAX)
                return -EINVAL;
        *ret = (uint32_t) v;
        return 0;
}

int verb_terminate(int argc, char **argv) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(freep) char *path = NULL;
        char id_str[16];
        uint32_t id;
        int r;

        if (parse_session_id(argv[1], &id) < 0)
                return ctl_usage_error("Invalid session ID '%s': expected a number as shown by 'fluxifyctl sessions'.",
                                       argv[1]);
        r = server_open(&bus);
        if (r < 0)
                return r;

        snprintf(id_str, sizeof id_str, "%" PRIu32, id);
        r = sd_bus_path_encode(FLUX_SERVER_SESSION_PREFIX, id_str, &path);
        if (r < 0)
                return log_oom();
        r = sd_bus_call_method(bus, FLUX_SERVER_BUS_NAME, path, FLUX_SERVER_SESSION_IFACE, "Terminate", &error, NULL,
                               "s", "terminated by administrator");
        if (r < 0) {
                if (sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_OBJECT) ||
                    sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_METHOD) ||
                    sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_INTERFACE) ||
                    sd_bus_error_has_name(&error, FLUX_ERROR_NO_SUCH_SESSION))
                        return log_error_errno(ENXIO, "No session with ID %" PRIu32 "; see 'fluxifyctl sessions'.", id);
                return ctl_log_call_error(r, &error, "Failed to terminate the session");
        }
        return 0;
}

static int pki_list(sd_bus *bus) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        const char *name, *serial;
        uint64_t nb, na;
        json_t *certs;
        int r, revoked;

        r = sd_bus_call_method(bus, FLUX_SERVER_BUS_NAME, FLUX_SERVER_PKI_PATH, FLUX_SERVER_PKI_IFACE,
                               "ListCertificates", &error, &reply, NULL);
        if (r < 0)
                return ctl_log_call_error(r, &error, "Failed to list certificates");

        certs = json_array();
        if (!certs)
                return log_oom();
        r = sd_bus_message_enter_container(reply, 'a', "(ssttb)");
        while (r >= 0 && (r = sd_bus_message_read(reply, "(ssttb)", &name, &serial, &nb, &na, &revoked)) > 0)
                if (json_array_append_new(certs, json_pack("{s:s, s:s, s:I, s:I, s:b}", "Name", name, "Serial",
                                                           serial, "NotBeforeUSec", (json_int_t) MIN(nb, (uint64_t) INT64_MAX),
                                                           "NotAfterUSec", (json_int_t) MIN(na, (uint64_t) INT64_MAX),
                                                           "Revoked", revoked)) < 0) {
                        r = -ENOMEM;
                        break;
                }
        if (r < 0) {
                json_decref(certs);
                return log_error_errno(r, "Failed to parse the certificate list: %m");
        }

        if (arg_json != JSON_OFF)
                r = ctl_json_print(certs);
        else {
                r = table_from_certificates(certs, now(CLOCK_REALTIME), &t);
                if (r < 0)
                        log_error_errno(r, "Failed to build the certificate table: %m");
                else
                        r = print_table(t, "certificate", "certificates");
        }
        json_decref(certs);
        return r;
}

static int write_all(int fd, const char *s, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, s, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                s += k;
                n -= (size_t) k;
        }
        return 0;
}

static int pki_issue(sd_bus *bus, const char *name) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(closep) int fd = -EBADF;
        bool to_stdout = streq(arg_output, "-");
        const char *bundle;
        int r;

        /* Open the output before asking for the certificate: the key exists only in the reply, so a
         * file we cannot create must not cost an issued certificate. Never clobber an existing file. */
        if (!to_stdout) {
                fd = open(arg_output, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
                if (fd < 0)
                        return log_error_errno(errno, "Failed to create %s: %m%s", arg_output,
                                               errno == EEXIST ? " (remove it or choose another --output)" : "");
                if (fchmod(fd, 0600) < 0) {
                        r = log_error_errno(errno, "Failed to restrict %s to mode 0600: %m", arg_output);
                        (void) unlink(arg_output);
                        return r;
                }
        }

        r = sd_bus_call_method(bus, FLUX_SERVER_BUS_NAME, FLUX_SERVER_PKI_PATH, FLUX_SERVER_PKI_IFACE,
                               "IssueCertificate", &error, &reply, "su", name, arg_days ?: PKI_DEFAULT_DAYS);
        if (r >= 0)
                r = sd_bus_message_read(reply, "s", &bundle);
        if (r < 0) {
                if (!to_stdout)
                        (void) unlink(arg_output);
                if (sd_bus_error_has_name(&error, FLUX_ERROR_CERTIFICATE_EXISTS))
                        return log_error_errno(r, "A certificate for '%s' exists already; revoke it first with "
                                               "'fluxifyctl pki revoke %s'.", name, name);
                if (sd_bus_error_is_set(&error))
                        return ctl_log_call_error(r, &error, "Failed to issue the certificate");
                return log_error_errno(r, "Failed to parse the issued bundle: %m");
        }

        r = write_all(to_stdout ? STDOUT_FILENO : fd, bundle, strlen(bundle));
        if (r >= 0 && !to_stdout && fsync(fd) < 0)
                r = -errno;
        /* Wipe our copy of the private key before the message is freed. */
        explicit_bzero((char *) bundle, strlen(bundle));
        if (r < 0) {
                if (!to_stdout)
                        (void) unlink(arg_output);
                return log_error_errno(r, "Failed to write the bundle for '%s': %m", name);
        }
        if (!to_stdout)
                fprintf(stderr, "Wrote the bundle for '%s' (CA, certificate, key) to %s (mode 0600).\n", name,
                        arg_output);
        return 0;
}

int verb_pki(int argc, char **argv) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *sub = argv[1];
        int r;

        /* Check the command line completely before touching the bus. */
        if (streq(sub, "list")) {
                if (argc != 2)
                        return ctl_usage_error("'pki list' takes no arguments.");
        } else if (streq(sub, "issue")) {
                if (argc != 3)
                        return ctl_usage_error("Usage: fluxifyctl pki issue NAME --output FILE [--days N]");
                if (!arg_output)
                        return ctl_usage_error("'pki issue' needs --output FILE for the bundle, which holds the "
                                               "private key (--output - writes it to stdout).");
        } else if (streq(sub, "revoke")) {
                if (argc != 3)
                        return ctl_usage_error("Usage: fluxifyctl pki revoke NAME");
        } else if (streq(sub, "regenerate-ca")) {
                if (argc != 2)
                        return ctl_usage_error("'pki regenerate-ca' takes no arguments.");
                if (!arg_yes)
                        return ctl_usage_error("'pki regenerate-ca' makes a new CA: every client certificate becomes "
                                               "invalid and every session ends.\nRepeat with --yes to confirm.");
        } else
                return ctl_usage_error("Unknown pki command '%s' (expected list, issue, revoke or regenerate-ca).",
                                       sub);
        if (arg_days > 0 && !streq(sub, "issue"))
                return ctl_usage_error("--days only applies to 'pki issue'.");
        if (arg_output && !streq(sub, "issue"))
                return ctl_usage_error("--output only applies to 'pki issue'.");
        if (arg_yes && !streq(sub, "regenerate-ca"))
                return ctl_usage_error("--yes only applies to 'pki regenerate-ca'.");

        r = server_open(&bus);
        if (r < 0)
                return r;

        if (streq(sub, "list"))
                return pki_list(bus);
        if (streq(sub, "issue"))
                return pki_issue(bus, argv[2]);
        if (streq(sub, "revoke")) {
                r = sd_bus_call_method(bus, FLUX_SERVER_BUS_NAME, FLUX_SERVER_PKI_PATH, FLUX_SERVER_PKI_IFACE,
                                       "RevokeCertificate", &error, NULL, "s", argv[2]);
                if (r < 0 && sd_bus_error_has_name(&error, FLUX_ERROR_NO_SUCH_CERTIFICATE))
                        return log_error_errno(r, "No certificate named '%s'; see 'fluxifyctl pki list'.", argv[2]);
                return r < 0 ? ctl_log_call_error(r, &error, "Failed to revoke the certificate") : 0;
        }
        r = sd_bus_call_method(bus, FLUX_SERVER_BUS_NAME, FLUX_SERVER_PKI_PATH, FLUX_SERVER_PKI_IFACE, "RegenerateCA",
                               &error, NULL, "b", 1);
        return r < 0 ? ctl_log_call_error(r, &error, "Failed to regenerate the CA") : 0;
}
