/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <linux/capability.h>

#include <systemd/sd-bus.h>

#include "alloc-util.h"
#include "flux-bus-names.h"
#include "log.h"
#include "pki.h"
#include "server-pki-bus.h"

static const char *const pki_property_names[] = {
        [PKI_PROPERTY_CA_FINGERPRINT] = "CAFingerprint",
        [PKI_PROPERTY_SERVER_NAMES] = "ServerNames",
        [PKI_PROPERTY_SERVER_NOT_AFTER] = "ServerNotAfterUSec",
        NULL,
};

void pki_bus_mark_dirty(Manager *m, uint64_t bits) {
        if (m->changes)
                (void) bus_change_queue_mark(m->changes, FLUX_SERVER_PKI_PATH, FLUX_SERVER_PKI_IFACE,
                                             pki_property_names, bits & 7);
}

static bool pki_ready(Manager *m) {
        return m->pki && pki_store_is_initialized(m->pki);
}

static int property_get_fingerprint(sd_bus *bus, const char *path, const char *interface, const char *property,
                                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        char fp[PKI_FINGERPRINT_HEX_SIZE] = "";

        if (pki_ready(m) && pki_store_ca_fingerprint(m->pki, fp) < 0)
                fp[0] = '\0';
        return sd_bus_message_append(reply, "s", fp);
}

static int property_get_server_names(sd_bus *bus, const char *path, const char *interface, const char *property,
                                     sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        _cleanup_(strv_freep) char **l = NULL;

        if (pki_ready(m))
                (void) pki_store_server_names(m->pki, &l);
        return sd_bus_message_append_strv(reply, l);
}

static int property_get_not_after(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        usec_t t = 0;

        if (pki_ready(m) && pki_store_server_not_after(m->pki, &t) < 0)
                t = 0;
        return sd_bus_message_append(reply, "t", t);
}

static int reply_pki_error(sd_bus_error *error, int r, const char *name) {
        switch (r) {
        case -ENOKEY:
                return sd_bus_error_set(error, FLUX_ERROR_PKI_NOT_INITIALIZED,
                                        "The PKI is not initialised yet.");
        case -EEXIST:
                return sd_bus_error_setf(error, FLUX_ERROR_CERTIFICATE_EXISTS,
                                         "A valid certificate for '%s' exists; revoke it first.", name);
        case -ENOENT:
                return sd_bus_error_setf(error, FLUX_ERROR_NO_SUCH_CERTIFICATE, "No certificate was issued to '%s'.",
                                         name);
        case -EINVAL:
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid argument for '%s'.", name);
        default:
                return r;
        }
}

static int method_list_certificates(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = userdata;
        PkiCertInfo *infos = NULL;
        size_t n = 0;
        int r;

        if (!pki_ready(m))
                return reply_pki_error(error, -ENOKEY, "");
        r = pki_store_list(m->pki, &infos, &n);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_return(message, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(ssttb)");
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = sd_bus_message_append(reply, "(ssttb)", infos[i].name, infos[i].serial, infos[i].not_before,
                                          infos[i].not_after, infos[i].revoked);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        pki_cert_info_free_many(infos, n);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_issue_certificate(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(erase_and_free_strp) char *bundle = NULL;
        Manager *m = userdata;
        const char *name;
        uint32_t days;
        int r;

        r = sd_bus_message_read(message, "su", &name, &days);
        if (r < 0)
                return r;
        if (!pki_name_is_valid(name))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Invalid client name '%s': expected [A-Za-z][A-Za-z0-9_-]{0,63}.", name);
        if (days > PKI_MAX_CLIENT_DAYS)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Invalid validity %" PRIu32 " days: at most %u (0 = %u).", days,
                                         PKI_MAX_CLIENT_DAYS, PKI_DEFAULT_CLIENT_DAYS);
        if (!pki_ready(m))
                return reply_pki_error(error, -ENOKEY, name);

        r = pki_store_issue(m->pki, name, days, &bundle);
        if (r < 0)
                return reply_pki_error(error, r, name);
        log_info("Issued a certificate for %s.", name);
        pki_bus_emit_certificate_issued(m, name);
        return sd_bus_reply_method_return(message, "s", bundle);
}

static int method_revoke_certificate(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *name;
        int r;

        r = sd_bus_message_read(message, "s", &name);
        if (r < 0)
                return r;
        if (!pki_name_is_valid(name))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid client name '%s'.", name);
        if (!pki_ready(m))
                return reply_pki_error(error, -ENOKEY, name);

        r = manager_revoke_certificate(m, name);
        if (r < 0)
                return reply_pki_error(error, r, name);
        if (r > 0)
                pki_bus_emit_certificate_revoked(m, name);
        return sd_bus_reply_method_return(message, NULL);
}

static int method_regenerate_ca(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int confirm, r;

        r = sd_bus_message_read(message, "b", &confirm);
        if (r < 0)
                return r;
        if (!confirm)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "RegenerateCA invalidates every client certificate and ends every session; "
                                        "pass confirm=true to proceed.");
        if (!pki_ready(m))
                return reply_pki_error(error, -ENOKEY, "CA");
        r = manager_regenerate_ca(m);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(message, NULL);
}

static const sd_bus_vtable pki_vtable[] = {
        SD_BUS_VTABLE_START(SD_BUS_VTABLE_CAPABILITY(CAP_NET_ADMIN)),
        SD_BUS_PROPERTY("CAFingerprint", "s", property_get_fingerprint, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ServerNames", "as", property_get_server_names, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ServerNotAfterUSec", "t", property_get_not_after, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("ListCertificates", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(ssttb)", certificates),
                                method_list_certificates, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("IssueCertificate", SD_BUS_ARGS("s", name, "u", valid_days),
                                SD_BUS_RESULT("s", bundle_pem), method_issue_certificate, SD_BUS_VTABLE_SENSITIVE),
        SD_BUS_METHOD_WITH_ARGS("RevokeCertificate", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT,
                                method_revoke_certificate, 0),
        SD_BUS_METHOD_WITH_ARGS("RegenerateCA", SD_BUS_ARGS("b", confirm), SD_BUS_NO_RESULT,
                                method_regenerate_ca, 0),
        SD_BUS_SIGNAL_WITH_ARGS("CertificateIssued", SD_BUS_ARGS("s", name), 0),
        SD_BUS_SIGNAL_WITH_ARGS("CertificateRevoked", SD_BUS_ARGS("s", name), 0),
        SD_BUS_VTABLE_END,
};

int pki_bus_register(Manager *m) {
        return sd_bus_add_object_vtable(m->bus, NULL, FLUX_SERVER_PKI_PATH, FLUX_SERVER_PKI_IFACE,
                                        pki_vtable, m);
}

void pki_bus_emit_certificate_issued(Manager *m, const char *name) {
        if (m->bus)
                (void) sd_bus_emit_signal(m->bus, FLUX_SERVER_PKI_PATH, FLUX_SERVER_PKI_IFACE, "CertificateIssued",
                                          "s", name);
}

void pki_bus_emit_certificate_revoked(Manager *m, const char *name) {
        if (m->bus)
                (void) sd_bus_emit_signal(m->bus, FLUX_SERVER_PKI_PATH, FLUX_SERVER_PKI_IFACE, "CertificateRevoked",
                                          "s", name);
}
