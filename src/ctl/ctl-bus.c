/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "alloc-util.h"
#include "ctl-bus.h"
#include "ctl.h"
#include "flux-errors.h"
#include "log.h"

int ctl_bus_open(sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        const char *addr = getenv("DBUS_SYSTEM_BUS_ADDRESS");
        int r;

        r = flux_errors_register();
        if (r < 0)
                return log_error_errno(r, "Failed to register the Fluxify error map: %m");

        r = sd_bus_open_system(&bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus at %s: %m\n"
                                       "Is dbus running? (DBUS_SYSTEM_BUS_ADDRESS selects another bus.)",
                                       addr ?: "unix:path=/run/dbus/system_bus_socket");

        *ret = TAKE_PTR(bus);
        return 0;
}

static int name_has_owner(sd_bus *bus, const char *name) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r, b;

        r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "NameHasOwner", &error, &reply, "s", name);
        if (r < 0)
                return ctl_log_call_error(r, &error, "Failed to query the bus");
        r = sd_bus_message_read(reply, "b", &b);
        if (r < 0)
                return log_error_errno(r, "Failed to parse the bus's NameHasOwner reply: %m");
        return b;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int ctl_client_list(sd_bus *bus, char ***ret_profiles) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(strv_freep) char **v = NULL;
        const char *prefix = FLUX_CLIENT_BUS_NAME_PREFIX ".", *name;
        size_t n = 0;
        int r;

        v = new0(char *, 1);
        if (!v)
                return log_oom();

        r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "ListNames", &error, &reply, NULL);
        if (r < 0)
                return ctl_log_call_error(r, &error, "Failed to list the names on the bus");

        r = sd_bus_message_enter_container(reply, 'a', "s");
        if (r < 0)
                return log_error_errno(r, "Failed to parse the bus's ListNames reply: %m");
        while ((r = sd_bus_message_read(reply, "s", &name)) > 0) {
                char **nv;

                if (strncmp(name, prefix, strlen(prefix)) != 0 ||
                    !flux_profile_name_is_valid(name + strlen(prefix)))
                        continue;
                nv = reallocarray(v, n + 2, sizeof(char *));
                if (!nv)
                        return log_oom();
                v = nv;
                v[n] = strdup(name + strlen(prefix));
                if (!v[n])
                        return log_oom();
                v[++n] = NULL;
        }
        if (r < 0)
                return log_error_errno(r, "Failed to parse the bus's ListNames reply: %m");

        qsort(v, n, sizeof(char *), cmp_str);
        *ret_profiles = TAKE_PTR(v);
        return (int) MIN(n, (size_t) INT32_MAX);
}

static char *strv_join_comma(char **v) {
        size_t l = 1;
        char *s;

        for (char **i = v; *i; i++)
                l += strlen(*i) + 2;
        s = new0(char, l);
        if (!s)
                return NULL;
        for (char **i = v; *i; i++) {
                if (i != v)
                        strcat(s, ", ");
                strcat(s, *i);
        }
        return s;
}

int ctl_client_resolve(sd_bus *bus, char **ret_name, char **ret_profile) {
        _cleanup_(strv_freep) char **profiles = NULL;
        _cleanup_(freep) char *name = NULL, *profile = NULL, *list = NULL;
        int r, n;

        n = ctl_client_list(bus, &profiles);
        if (n < 0)
                return n;
        list = strv_join_comma(profiles);
        if (!list)
                return log_oom();

        if (arg_profile) {
                r = asprintf(&name, "%s.%s", FLUX_CLIENT_BUS_NAME_PREFIX, arg_profile);
                if (r < 0)
                        return log_oom();
                r = name_has_owner(bus, name);
                if (r < 0)
                        return r;
                if (r == 0)
                        return log_error_errno(ESRCH,
                                               "fluxifyd-client is not running for profile '%s' on the system bus "
                                               "(%s has no owner).\n"
                                               "Start it with 'systemctl start fluxify-client@%s'%s%s%s.",
                                               arg_profile, name, arg_profile, n > 0 ? "; running profiles: " : "",
                                               n > 0 ? list : "", "");
                profile = strdup(arg_profile);
        } else {
                if (n == 0)
                        return log_error_errno(ESRCH,
                                               "No fluxifyd-client instance is running on the system bus.\n"
                                               "Start one with 'systemctl start fluxify-client@PROFILE'.");
                if (n > 1)
                        return log_error_errno(ENOTUNIQ,
                                               "Several fluxifyd-client instances are running (%s); "
                                               "choose one with --profile NAME.", list);
                profile = strdup(profiles[0]);
                if (profile && asprintf(&name, "%s.%s", FLUX_CLIENT_BUS_NAME_PREFIX, profile) < 0)
                        name = NULL;
        }
        if (!profile || !name)
                return log_oom();

        *ret_name = TAKE_PTR(name);
        if (ret_profile)
                *ret_profile = TAKE_PTR(profile);
        return 0;
}

int ctl_server_is_running(sd_bus *bus) {
        return name_has_owner(bus, FLUX_SERVER_BUS_NAME);
}

int ctl_server_require(sd_bus *bus) {
        int r;

        r = ctl_server_is_running(bus);
        if (r < 0)
                return r;
        if (r == 0)
                return log_error_errno(ESRCH,
                                       "fluxifyd-server is not running on the system bus (%s has no owner).\n"
                                       "Start it with 'systemctl start fluxify-server'.", FLUX_SERVER_BUS_NAME);
        return 0;
}

static int read_basic_json(sd_bus_message *m, char type, json_t **ret) {
        union {
                uint8_t u8;
                int16_t s16;
                uint16_t u16;
                int32_t s32;
                uint32_t u32;
                int64_t s64;
                uint64_t u64;
                double d;
                int b;
                const char *s;
        } v;
        json_t *j;
        int r;

        r = sd_bus_message_read_basic(m, type, &v);
        if (r < 0)
                return r;
        if (r == 0)
                return -EBADMSG;

        switch (type) {
        case SD_BUS_TYPE_BYTE:
                j = json_integer(v.u8);
                break;
        case SD_BUS_TYPE_BOOLEAN:
                j = json_boolean(v.b);
                break;
        case SD_BUS_TYPE_INT16:
                j = json_integer(v.s16);
                break;
        case SD_BUS_TYPE_UINT16:
                j = json_integer(v.u16);
                break;
        case SD_BUS_TYPE_INT32:
        case SD_BUS_TYPE_UNIX_FD:
                j = json_integer(v.s32);
                break;
        case SD_BUS_TYPE_UINT32:
                j = json_integer(v.u32);
                break;
        case SD_BUS_TYPE_INT64:
                j = json_integer(v.s64);
                break;
        case SD_BUS_TYPE_UINT64:
                /* JSON integers are signed 64 bit in jansson; "infinity" (UINT64_MAX) and friends
                 * would not fit, so they become null rather than a wrong number. */
                j = v.u64 > INT64_MAX ? json_null() : json_integer((json_int_t) v.u64);
                break;
        case SD_BUS_TYPE_DOUBLE:
                j = json_real(v.d);
                break;
        case SD_BUS_TYPE_STRING:
        case SD_BUS_TYPE_OBJECT_PATH:
        case SD_BUS_TYPE_SIGNATURE:
                j = json_string(v.s);
                break;
        default:
                return -EBADMSG;
        }
        if (!j)
                return -ENOMEM;
        *ret = j;
        return 0;
}

static int json_key_from_value(json_t *k, char *buf, size_t size, const char **ret) {
        if (json_is_string(k))
                *ret = json_string_value(k);
        else if (json_is_integer(k)) {
                snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(k));
                *ret = buf;
        } else if (json_is_boolean(k))
                *ret = json_is_true(k) ? "true" : "false";
        else
                return -EBADMSG;
        return 0;
}

static int read_dict_entry_json(sd_bus_message *m, const char *contents, json_t *obj) {
        json_t *key = NULL, *value = NULL;
        const char *c, *k;
        char t, buf[32];
        int r;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, contents);
        if (r <= 0)
                return r < 0 ? r : -EBADMSG;
        r = sd_bus_message_peek_type(m, &t, &c);
        if (r <= 0)
                return r < 0 ? r : -EBADMSG;
        r = bus_message_read_json(m, t, c, &key);
        if (r < 0)
                return r;
        r = sd_bus_message_peek_type(m, &t, &c);
        if (r <= 0) {
                json_decref(key);
                return r < 0 ? r : -EBADMSG;
        }
        r = bus_message_read_json(m, t, c, &value);
        if (r >= 0)
                r = json_key_from_value(key, buf, sizeof buf, &k);
        if (r >= 0)
                r = json_object_set_new(obj, k, TAKE_PTR(value)) < 0 ? -ENOMEM : 0;
        json_decref(key);
        json_decref(value);
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

/* Arrays and structs: the elements in order; dictionaries: an object. */
static int read_container_json(sd_bus_message *m, char type, const char *contents, json_t **ret) {
        bool dict = type == SD_BUS_TYPE_ARRAY && contents[0] == SD_BUS_TYPE_DICT_ENTRY_BEGIN;
        json_t *j;
        int r;

        r = sd_bus_message_enter_container(m, type, contents);
        if (r <= 0)
                return r < 0 ? r : -EBADMSG;

        j = dict ? json_object() : json_array();
        if (!j)
                return -ENOMEM;

        for (;;) {
                json_t *e = NULL;
                const char *c;
                char t;

                r = sd_bus_message_peek_type(m, &t, &c);
                if (r <= 0)
                        break;
                if (dict)
                        r = read_dict_entry_json(m, c, j);
                else {
                        r = bus_message_read_json(m, t, c, &e);
                        if (r >= 0 && json_array_append_new(j, e) < 0)
                                r = -ENOMEM;
                }
                if (r < 0)
                        break;
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0) {
                json_decref(j);
                return r;
        }
        *ret = j;
        return 0;
}

int bus_message_read_json(sd_bus_message *m, char type, const char *contents, json_t **ret) {
        json_t *j = NULL;
        const char *c;
        char t;
        int r;

        switch (type) {
        case SD_BUS_TYPE_VARIANT:
                r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, contents);
                if (r <= 0)
                        return r < 0 ? r : -EBADMSG;
                r = sd_bus_message_peek_type(m, &t, &c);
                if (r <= 0)
                        return r < 0 ? r : -EBADMSG;
                r = bus_message_read_json(m, t, c, &j);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0) {
                        json_decref(j);
                        return r;
                }
                *ret = j;
                return 0;
        case SD_BUS_TYPE_ARRAY:
        case SD_BUS_TYPE_STRUCT:
                return read_container_json(m, type, contents, ret);
        default:
                return read_basic_json(m, type, ret);
        }
}

int ctl_get_managed_objects(sd_bus *bus, const char *destination, const char *path, const char *root_iface,
                            json_t **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL, *props = NULL;
        json_t *objects = NULL, *root = NULL, *o;
        int r;

        r = sd_bus_call_method(bus, destination, path, FLUX_OBJECT_MANAGER_IFACE, "GetManagedObjects", &error,
                               &reply, NULL);
        if (r < 0)
                return ctl_log_call_error(r, &error, "Failed to read the daemon's objects");
        r = bus_message_read_json(reply, SD_BUS_TYPE_ARRAY, "{oa{sa{sv}}}", &objects);
        if (r < 0)
                return log_error_errno(r, "Failed to parse the objects sent by %s: %m", destination);

        /* The object manager lists the objects below it, not itself (D-Bus specification):
         * add the root object's own interface. */
        r = sd_bus_call_method(bus, destination, path, "org.freedesktop.DBus.Properties", "GetAll", &error, &props,
                               "s", root_iface);
        if (r < 0) {
                json_decref(objects);
                return ctl_log_call_error(r, &error, "Failed to read the daemon's properties");
        }
        r = bus_message_read_json(props, SD_BUS_TYPE_ARRAY, "{sv}", &root);
        if (r < 0) {
                json_decref(objects);
                return log_error_errno(r, "Failed to parse the properties sent by %s: %m", destination);
        }
        o = json_object_get(objects, path);
        if (!o) {
                o = json_object();
                if (!o || json_object_set_new(objects, path, o) < 0) {
                        json_decref(root);
                        json_decref(objects);
                        return log_oom();
                }
        }
        if (json_object_set_new(o, root_iface, root) < 0) {
                json_decref(objects);
                return log_oom();
        }

        *ret = objects;
        return 0;
}

int ctl_log_call_error(int r, const sd_bus_error *error, const char *what) {
        const char *msg = error && error->message ? error->message : NULL;

        if (sd_bus_error_has_name(error, SD_BUS_ERROR_ACCESS_DENIED))
                /* The bus's own refusal text is a long rule dump: the name says enough. */
                return log_error_errno(EACCES, "%s: permission denied.\n"
                                       "Changing a Fluxify daemon's state needs root: try again with sudo.", what);
        if (sd_bus_error_has_name(error, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
            sd_bus_error_has_name(error, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                return log_error_errno(ESRCH, "%s: the daemon is not on the bus any more (%s).", what,
                                       msg ?: "no owner");
        if (sd_bus_error_has_name(error, SD_BUS_ERROR_NO_REPLY) ||
            sd_bus_error_has_name(error, SD_BUS_ERROR_TIMEOUT) || r == -ETIMEDOUT)
                return log_error_errno(ETIMEDOUT, "%s: the daemon did not answer in time.", what);
        if (sd_bus_error_has_name(error, FLUX_ERROR_NO_SUCH_INTERFACE))
                return log_error_errno(r, "%s: %s\nSee 'ip link' for the names of the interfaces.", what,
                                       msg ?: "no such interface");
        if (msg)
                return log_error_errno(r, "%s: %s", what, msg);
        return log_error_errno(r, "%s: %m", what);
}
