/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>

#include "alloc-util.h"
#include "ctl-bus.h"
#include "flux-bus-names.h"
#include "flux-errors.h"
#include "log.h"
#include "tui-bus.h"

/* Certificates change rarely and are signalled; re-read them anyway every this many polls in case a
 * signal was missed (e.g. while the daemon restarted). */
#define CERTS_POLL_EVERY 10

struct TuiBus {
        sd_bus *bus;
        TuiTarget target;
        char *destination;
        const char *root_path, *root_iface;

        json_t *objects;       /* the copy; NULL while the daemon cannot be read */
        json_t *pending;       /* GetManagedObjects() answer waiting for the root's GetAll() */
        json_t *certs;
        char *error;

        sd_bus_slot *fetch_slot, *certs_slot;
        sd_bus_slot *match_props, *match_added, *match_removed, *match_owner, *match_pki;
        unsigned polls;
        bool certs_dirty;

        tui_bus_changed_t changed;
        void *userdata;
};

typedef struct CallContext {
        tui_bus_done_t done;
        void *userdata;
        const char *what;
} CallContext;

char *tui_bus_format_error(char *buf, size_t size, const char *what, const char *error_name,
                           const char *error_message, int r) {
        if (streq_ptr(error_name, SD_BUS_ERROR_ACCESS_DENIED))
                /* The bus's own refusal is a long rule dump ("Rejected send message, 2 matched rules;
                 * type=…"): say who refused instead. The daemon's own message is short: keep it. */
                snprintf(buf, size, "%s: access denied, this needs root (%s)", what,
                         !error_message ? "permission denied" :
                         strstr(error_message, "matched rules") ? "refused by the D-Bus policy" : error_message);
        else if (streq_ptr(error_name, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
                 streq_ptr(error_name, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                snprintf(buf, size, "%s: the daemon is not on the bus", what);
        else if (streq_ptr(error_name, SD_BUS_ERROR_NO_REPLY) || streq_ptr(error_name, SD_BUS_ERROR_TIMEOUT) ||
                 r == -ETIMEDOUT)
                snprintf(buf, size, "%s: the daemon did not answer in time", what);
        else if (error_message)
                snprintf(buf, size, "%s: %s", what, error_message);
        else
                snprintf(buf, size, "%s: %s", what, strerror(r < 0 ? -r : EIO));
        return buf;
}

static void set_error(TuiBus *b, const char *what, const sd_bus_error *e, int r) {
        char buf[512];

        tui_bus_format_error(buf, sizeof buf, what, e ? e->name : NULL, e ? e->message : NULL, r);
        free(b->error);
        b->error = strdup(buf);
}

static void notify(TuiBus *b) {
        if (b->changed)
                b->changed(b->userdata);
}

static void drop_objects(TuiBus *b) {
        json_decref(b->objects);
        b->objects = NULL;
        json_decref(b->certs);
        b->certs = NULL;
}

static int on_root_props(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        TuiBus *b = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        json_t *objects = TAKE_PTR(b->pending), *root = NULL, *o;
        int r;

        b->fetch_slot = sd_bus_slot_unref(b->fetch_slot);
        if (e) {
                json_decref(objects);
                drop_objects(b);
                set_error(b, "Cannot read the daemon", e, sd_bus_message_get_errno(m));
                notify(b);
                return 0;
        }
        r = bus_message_read_json(m, SD_BUS_TYPE_ARRAY, "{sv}", &root);
        if (r < 0)
                goto fail;
        /* The object manager lists the objects below it, not itself: add the root's interface. */
        o = json_object_get(objects, b->root_path);
        if (!o) {
                o = json_object();
                if (!o || json_object_set_new(objects, b->root_path, o) < 0) {
                        json_decref(root);
                        r = -ENOMEM;
                        goto fail;
                }
        }
        if (json_object_set_new(o, b->root_iface, root) < 0) {
                r = -ENOMEM;
                goto fail;
        }
        json_decref(b->objects);
        b->objects = objects;
        b->error = mfree(b->error);
        notify(b);
        return 0;

fail:
        json_decref(objects);
        set_error(b, "Cannot parse the daemon's properties", NULL, r);
        notify(b);
        return 0;
}

static int on_managed_objects(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        TuiBus *b = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        json_t *objects = NULL;
        int r;

        b->fetch_slot = sd_bus_slot_unref(b->fetch_slot);
        if (e) {
                drop_objects(b);
                set_error(b, "Cannot read the daemon", e, sd_bus_message_get_errno(m));
                notify(b);
                return 0;
        }
        r = bus_message_read_json(m, SD_BUS_TYPE_ARRAY, "{oa{sa{sv}}}", &objects);
        if (r < 0) {
                set_error(b, "Cannot parse the daemon's objects", NULL, r);
                notify(b);
                return 0;
        }
        json_decref(b->pending);
        b->pending = objects;
        r = sd_bus_call_method_async(b->bus, &b->fetch_slot, b->destination, b->root_path,
                                     "org.freedesktop.DBus.Properties", "GetAll", on_root_props, b, "s",
                                     b->root_iface);
        if (r < 0) {
                b->pending = (json_decref(b->pending), NULL);
                set_error(b, "Cannot read the daemon", NULL, r);
                notify(b);
        }
        return 0;
}

static int on_certificates(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        TuiBus *b = userdata;
        json_t *certs = NULL;

        b->certs_slot = sd_bus_slot_unref(b->certs_slot);
        log_debug("ListCertificates() answered: %s", sd_bus_message_is_method_error(m, NULL) ? "error" : "ok");
        if (sd_bus_message_is_method_error(m, NULL)) {
                /* PKINotInitialized, or the daemon went away: no list. The poll reports the latter. */
                json_decref(b->certs);
                b->certs = NULL;
        } else if (bus_message_read_json(m, SD_BUS_TYPE_ARRAY, "(ssttb)", &certs) >= 0) {
                json_decref(b->certs);
                b->certs = certs;
        }
        /* A change was signalled while this call was in flight: its answer may predate it. */
        if (b->certs_dirty)
                (void) tui_bus_refresh(b);
        notify(b);
        return 0;
}

int tui_bus_refresh_all(TuiBus *b) {
        assert_return(b, -EINVAL);
        b->certs_dirty = true;
        return tui_bus_refresh(b);
}

int tui_bus_refresh(TuiBus *b) {
        int r;

        assert_return(b, -EINVAL);

        if (!b->fetch_slot) {
                r = sd_bus_call_method_async(b->bus, &b->fetch_slot, b->destination, b->root_path,
                                             FLUX_OBJECT_MANAGER_IFACE, "GetManagedObjects", on_managed_objects, b,
                                             NULL);
                if (r < 0)
                        return r;
        }
        if (b->target == TUI_TARGET_SERVER && !b->certs_slot && (b->certs_dirty || b->polls % CERTS_POLL_EVERY == 0)) {
                r = sd_bus_call_method_async(b->bus, &b->certs_slot, b->destination, FLUX_SERVER_PKI_PATH,
                                             FLUX_SERVER_PKI_IFACE, "ListCertificates", on_certificates, b, NULL);
                if (r < 0)
                        return r;
                b->certs_dirty = false;
                log_debug("ListCertificates() sent (poll %u).", b->polls);
        }
        b->polls++;
        return 0;
}

/* ---- signals ---- */

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        TuiBus *b = userdata;
        const char *path = sd_bus_message_get_path(m), *iface;
        json_t *changed = NULL, *o, *props;
        int r;

        if (!b->objects || !path)
                return 0;
        r = sd_bus_message_read(m, "s", &iface);
        if (r <= 0)
                return 0;
        r = bus_message_read_json(m, SD_BUS_TYPE_ARRAY, "{sv}", &changed);
        if (r < 0)
                return 0;
        /* Only objects we know: a new one comes with InterfacesAdded (or the next poll). */
        o = json_object_get(b->objects, path);
        props = o ? json_object_get(o, iface) : NULL;
        if (props)
                json_object_update(props, changed);
        json_decref(changed);
        if (props)
                notify(b);
        return 0;
}

static int on_interfaces_added(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        TuiBus *b = userdata;
        json_t *ifaces = NULL, *o;
        const char *path;
        int r;

        if (!b->objects)
                return 0;
        r = sd_bus_message_read(m, "o", &path);
        if (r <= 0)
                return 0;
        r = bus_message_read_json(m, SD_BUS_TYPE_ARRAY, "{sa{sv}}", &ifaces);
        if (r < 0)
                return 0;
        o = json_object_get(b->objects, path);
        if (o)
                json_object_update(o, ifaces);
        else
                json_object_set(b->objects, path, ifaces);
        json_decref(ifaces);
        notify(b);
        return 0;
}

static int on_interfaces_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        TuiBus *b = userdata;
        const char *path, *iface;
        json_t *o;
        int r;

        if (!b->objects)
                return 0;
        r = sd_bus_message_read(m, "o", &path);
        if (r <= 0)
                return 0;
        o = json_object_get(b->objects, path);
        if (!o)
                return 0;
        r = sd_bus_message_enter_container(m, 'a', "s");
        if (r <= 0)
                return 0;
        while (sd_bus_message_read(m, "s", &iface) > 0)
                json_object_del(o, iface);
        if (json_object_size(o) == 0)
                json_object_del(b->objects, path);
        notify(b);
        return 0;
}

static int on_reread(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        TuiBus *b = userdata;

        log_debug("%s.%s received: reading again.", strna(sd_bus_message_get_interface(m)),
                  strna(sd_bus_message_get_member(m)));
        b->certs_dirty = true;
        (void) tui_bus_refresh(b);
        return 0;
}

static int add_matches(TuiBus *b) {
        const char *ns = b->root_path;
        _cleanup_(freep) char *props = NULL, *added = NULL, *removed = NULL, *owner = NULL;
        int r;

        if (asprintf(&props, "type='signal',sender='%s',interface='org.freedesktop.DBus.Properties',"
                     "member='PropertiesChanged',path_namespace='%s'", b->destination, ns) < 0 ||
            asprintf(&added, "type='signal',sender='%s',interface='%s',member='InterfacesAdded',path='%s'",
                     b->destination, FLUX_OBJECT_MANAGER_IFACE, ns) < 0 ||
            asprintf(&removed, "type='signal',sender='%s',interface='%s',member='InterfacesRemoved',path='%s'",
                     b->destination, FLUX_OBJECT_MANAGER_IFACE, ns) < 0 ||
            asprintf(&owner, "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
                     "member='NameOwnerChanged',arg0='%s'", b->destination) < 0)
                return -ENOMEM;

        r = sd_bus_add_match_async(b->bus, &b->match_props, props, on_properties_changed, NULL, b);
        if (r >= 0)
                r = sd_bus_add_match_async(b->bus, &b->match_added, added, on_interfaces_added, NULL, b);
        if (r >= 0)
                r = sd_bus_add_match_async(b->bus, &b->match_removed, removed, on_interfaces_removed, NULL, b);
        if (r >= 0)
                r = sd_bus_add_match_async(b->bus, &b->match_owner, owner, on_reread, NULL, b);
        if (r >= 0 && b->target == TUI_TARGET_SERVER) {
                _cleanup_(freep) char *pki = NULL;

                /* CertificateIssued and CertificateRevoked. */
                if (asprintf(&pki, "type='signal',sender='%s',interface='%s',path='%s'", b->destination,
                             FLUX_SERVER_PKI_IFACE, FLUX_SERVER_PKI_PATH) < 0)
                        return -ENOMEM;
                r = sd_bus_add_match_async(b->bus, &b->match_pki, pki, on_reread, NULL, b);
        }
        return r;
}

int tui_bus_new(sd_bus *bus, TuiTarget target, const char *profile, tui_bus_changed_t changed, void *userdata,
                TuiBus **ret) {
        _cleanup_(tui_bus_freep) TuiBus *b = NULL;
        int r;

        assert_return(bus, -EINVAL);
        assert_return(target == TUI_TARGET_SERVER || flux_profile_name_is_valid(profile), -EINVAL);

        b = new0(TuiBus, 1);
        if (!b)
                return -ENOMEM;
        b->bus = sd_bus_ref(bus);
        b->target = target;
        b->changed = changed;
        b->userdata = userdata;
        if (target == TUI_TARGET_SERVER) {
                b->destination = strdup(FLUX_SERVER_BUS_NAME);
                b->root_path = FLUX_SERVER_PATH;
                b->root_iface = FLUX_SERVER_MANAGER_IFACE;
        } else {
                if (asprintf(&b->destination, "%s.%s", FLUX_CLIENT_BUS_NAME_PREFIX, profile) < 0)
                        b->destination = NULL;
                b->root_path = FLUX_CLIENT_PATH;
                b->root_iface = FLUX_CLIENT_MANAGER_IFACE;
        }
        if (!b->destination)
                return -ENOMEM;

        r = add_matches(b);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(b);
        return 0;
}

TuiBus *tui_bus_free(TuiBus *b) {
        if (!b)
                return NULL;
        sd_bus_slot_unref(b->fetch_slot);
        sd_bus_slot_unref(b->certs_slot);
        sd_bus_slot_unref(b->match_props);
        sd_bus_slot_unref(b->match_added);
        sd_bus_slot_unref(b->match_removed);
        sd_bus_slot_unref(b->match_owner);
        sd_bus_slot_unref(b->match_pki);
        json_decref(b->objects);
        json_decref(b->pending);
        json_decref(b->certs);
        free(b->error);
        free(b->destination);
        sd_bus_unref(b->bus);
        return mfree(b);
}

json_t *tui_bus_get_objects(TuiBus *b) {
        return b ? b->objects : NULL;
}

json_t *tui_bus_get_certificates(TuiBus *b) {
        return b ? b->certs : NULL;
}

const char *tui_bus_get_error(TuiBus *b) {
        return b ? b->error : NULL;
}

const char *tui_bus_get_destination(TuiBus *b) {
        return b ? b->destination : NULL;
}

/* ---- methods ---- */

static int on_call_done(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(freep) CallContext *c = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        const char *result = NULL;
        char buf[512];

        if (e) {
                tui_bus_format_error(buf, sizeof buf, c->what, e->name, e->message, sd_bus_message_get_errno(m));
                c->done(c->userdata, -abs(sd_bus_message_get_errno(m) ?: EIO), buf, NULL);
                return 0;
        }
        if (streq_ptr(sd_bus_message_get_signature(m, true), "s"))
                (void) sd_bus_message_read(m, "s", &result);
        c->done(c->userdata, 0, NULL, result);
        return 0;
}

/* Sends m; the reply goes to done. The slot floats: the call outlives nothing but the bus. */
static int call_async(TuiBus *b, sd_bus_message *m, const char *what, tui_bus_done_t done, void *userdata) {
        CallContext *c;
        int r;

        c = new0(CallContext, 1);
        if (!c)
                return -ENOMEM;
        *c = (CallContext) { .done = done, .userdata = userdata, .what = what };
        /* IssueCertificate may have to generate a key: give it longer than the default 25 s. */
        r = sd_bus_call_async(b->bus, NULL, m, on_call_done, c, 60 * 1000 * 1000);
        if (r < 0)
                free(c);
        return r;
}

static int call_simple(TuiBus *b, const char *path, const char *iface, const char *member, const char *what,
                       tui_bus_done_t done, void *userdata, const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_call(b->bus, &m, b->destination, path, iface, member);
        if (r < 0)
                return r;
        if (types) {
                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
                if (r < 0)
                        return r;
        }
        return call_async(b, m, what, done, userdata);
}

int tui_bus_connect(TuiBus *b, char *const *ifaces, tui_bus_done_t done, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        assert_return(b && b->target == TUI_TARGET_CLIENT, -EINVAL);

        r = sd_bus_message_new_method_call(b->bus, &m, b->destination, FLUX_CLIENT_PATH, FLUX_CLIENT_MANAGER_IFACE,
                                           "Connect");
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && ifaces && ifaces[0]) {
                r = sd_bus_message_open_container(m, 'e', "sv");
                if (r >= 0)
                        r = sd_bus_message_append(m, "s", "interfaces");
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'v', "as");
                if (r >= 0)
                        r = sd_bus_message_append_strv(m, (char **) ifaces);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;
        return call_async(b, m, "Connect failed", done, userdata);
}

int tui_bus_disconnect(TuiBus *b, tui_bus_done_t done, void *userdata) {
        assert_return(b && b->target == TUI_TARGET_CLIENT, -EINVAL);
        return call_simple(b, FLUX_CLIENT_PATH, FLUX_CLIENT_MANAGER_IFACE, "Disconnect", "Disconnect failed", done,
                           userdata, NULL);
}

int tui_bus_add_interface(TuiBus *b, const char *ifname, tui_bus_done_t done, void *userdata) {
        assert_return(b && b->target == TUI_TARGET_CLIENT && ifname, -EINVAL);
        return call_simple(b, FLUX_CLIENT_PATH, FLUX_CLIENT_MANAGER_IFACE, "AddInterface", "Adding the interface failed",
                           done, userdata, "s", ifname);
}

int tui_bus_remove_interface(TuiBus *b, const char *ifname, tui_bus_done_t done, void *userdata) {
        assert_return(b && b->target == TUI_TARGET_CLIENT && ifname, -EINVAL);
        return call_simple(b, FLUX_CLIENT_PATH, FLUX_CLIENT_MANAGER_IFACE, "RemoveInterface",
                           "Removing the interface failed", done, userdata, "s", ifname);
}

int tui_bus_terminate_session(TuiBus *b, const char *object, const char *reason, tui_bus_done_t done,
                              void *userdata) {
        assert_return(b && b->target == TUI_TARGET_SERVER && object, -EINVAL);
        return call_simple(b, object, FLUX_SERVER_SESSION_IFACE, "Terminate", "Terminate failed", done, userdata,
                           "s", strempty(reason));
}

int tui_bus_issue_certificate(TuiBus *b, const char *name, unsigned days, tui_bus_done_t done, void *userdata) {
        assert_return(b && b->target == TUI_TARGET_SERVER && name, -EINVAL);
        return call_simple(b, FLUX_SERVER_PKI_PATH, FLUX_SERVER_PKI_IFACE, "IssueCertificate", "Issue failed", done,
                           userdata, "su", name, (uint32_t) days);
}

int tui_bus_revoke_certificate(TuiBus *b, const char *name, tui_bus_done_t done, void *userdata) {
        assert_return(b && b->target == TUI_TARGET_SERVER && name, -EINVAL);
        return call_simple(b, FLUX_SERVER_PKI_PATH, FLUX_SERVER_PKI_IFACE, "RevokeCertificate", "Revoke failed",
                           done, userdata, "s", name);
}

/* ---- client instances ---- */

typedef struct ProfilesContext {
        tui_bus_profiles_t done;
        void *userdata;
} ProfilesContext;

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int on_list_names(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(freep) ProfilesContext *c = userdata;
        _cleanup_(strv_freep) char **v = NULL;
        const char *prefix = FLUX_CLIENT_BUS_NAME_PREFIX ".", *name;
        size_t n = 0, allocated = 8;
        int r;

        if (sd_bus_message_is_method_error(m, NULL)) {
                c->done(c->userdata, -abs(sd_bus_message_get_errno(m) ?: EIO), NULL);
                return 0;
        }
        v = new0(char *, allocated);
        r = v ? sd_bus_message_enter_container(m, 'a', "s") : -ENOMEM;
        while (r >= 0 && (r = sd_bus_message_read(m, "s", &name)) > 0) {
                if (strncmp(name, prefix, strlen(prefix)) != 0 || !flux_profile_name_is_valid(name + strlen(prefix)))
                        continue;
                if (n + 2 > allocated) {
                        char **nv = reallocarray(v, allocated * 2, sizeof(char *));

                        if (!nv) {
                                r = -ENOMEM;
                                break;
                        }
                        v = nv;
                        allocated *= 2;
                }
                v[n] = strdup(name + strlen(prefix));
                if (!v[n]) {
                        r = -ENOMEM;
                        break;
                }
                v[++n] = NULL;
        }
        if (r < 0) {
                c->done(c->userdata, r, NULL);
                return 0;
        }
        qsort(v, n, sizeof(char *), cmp_str);
        c->done(c->userdata, (int) MIN(n, (size_t) INT32_MAX), v);
        return 0;
}

int tui_bus_list_profiles(sd_bus *bus, tui_bus_profiles_t done, void *userdata) {
        ProfilesContext *c;
        int r;

        c = new0(ProfilesContext, 1);
        if (!c)
                return -ENOMEM;
        *c = (ProfilesContext) { .done = done, .userdata = userdata };
        r = sd_bus_call_method_async(bus, NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                     "ListNames", on_list_names, c, NULL);
        if (r < 0)
                free(c);
        return r;
}
