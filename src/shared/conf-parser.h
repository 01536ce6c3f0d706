/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Table-driven INI parsing on top of inih, for /etc/fluxify/server.conf and the client profiles.
 *
 * A ConfigTable lists the known sections and, per section, the known keys with a typed parser and
 * the offset of the field it fills. Unknown sections, unknown keys, keys outside a section and bad
 * values are all fatal, reported once as "file:line: message" through reterr_message (this layer
 * never logs; the daemon logs the message where it decides). Sections may take an argument
 * ("[Interface eth0]"): their open() callback returns the struct the section's keys write into.
 *
 * Semantics follow systemd's unit files: a key given twice keeps the last value, except list keys,
 * which append; an empty value resets a key to its default (NULL string, empty list). Lines are at
 * most CONFIG_LINE_MAX bytes; leading whitespace never continues the previous line; comments are
 * whole lines starting with '#' or ';'. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "in-addr-util.h"
#include "macro.h"

#define CONFIG_LINE_MAX 196U
#define CONFIG_FILE_MAX (1U << 20)

typedef struct ConfigContext ConfigContext;

/* A key parser: rvalue is the value with surrounding whitespace removed; data points at the field
 * (section base + offset); ltype is the table entry's parser-specific argument. Returns 0 or a
 * negative errno after calling config_error(). */
typedef int (*ConfigParserCallback)(ConfigContext *ctx, const char *key, const char *rvalue, void *data,
                                    uintptr_t ltype);

typedef struct ConfigItem {
        const char *section; /* section name without argument, e.g. "Server" or "Interface" */
        const char *key;
        ConfigParserCallback parse;
        uintptr_t ltype;
        size_t offset; /* into the section's data (userdata, or what open() returned) */
} ConfigItem;

typedef struct ConfigSection {
        const char *name;
        /* NULL: the section takes no argument and its keys write into userdata.
         * Otherwise the section requires an argument; open() validates it and returns the struct
         * that section's keys write into (owned by userdata; the same argument twice may return the
         * same struct). Return a negative errno after config_error() to refuse. */
        int (*open)(ConfigContext *ctx, const char *arg, void *userdata, void **ret_data);
} ConfigSection;

typedef struct ConfigTable {
        const ConfigSection *sections; /* terminated by { NULL } */
        const ConfigItem *items;       /* terminated by { NULL } */
} ConfigTable;

/* Range for config_parse_uint32()/config_parse_uint16(): pass (uintptr_t) &range as ltype, or 0 for
 * the type's full range. */
typedef struct ConfigRange {
        uint64_t min, max;
} ConfigRange;

/* Target of config_parse_address() and config_parse_address_prefix(). family == AF_UNSPEC means
 * "not set". */
typedef struct ConfigAddress {
        int family;
        union in_addr_union addr;
        uint8_t prefixlen;
} ConfigAddress;

/* ltype for the address parsers: the permitted family (AF_INET, AF_INET6, or AF_UNSPEC for both). */

/* Record an error for the current file and line (the first one wins) and return -abs(r) (or -EINVAL
 * for r == 0). */
int config_error(ConfigContext *ctx, int r, const char *fmt, ...) _printf_(3, 4);
const char *config_context_filename(const ConfigContext *ctx);
unsigned config_context_line(const ConfigContext *ctx);

/* Typed key parsers. */
int config_parse_string(ConfigContext *ctx, const char *key, const char *rvalue, void *data, uintptr_t ltype);
int config_parse_ifname(ConfigContext *ctx, const char *key, const char *rvalue, void *data, uintptr_t ltype);
int config_parse_bool(ConfigContext *ctx, const char *key, const char *rvalue, void *data, uintptr_t ltype);
int config_parse_port(ConfigContext *ctx, const char *key, const char *rvalue, void *data, uintptr_t ltype);
int config_parse_uint16(ConfigContext *ctx, const char *key, const char *rvalue, void *data, uintptr_t ltype);
int config_parse_uint32(ConfigContext *ctx, const char *key, const char *rvalue, void *data, uintptr_t ltype);
int config_parse_double(ConfigContext *ctx, const char *key, const char *rvalue, void *data, uintptr_t ltype);
int config_parse_address(ConfigContext *ctx, const char *key, const char *rvalue, void *data, uintptr_t ltype);
int config_parse_address_prefix(ConfigContext *ctx, const char *key, const char *rvalue, void *data,
                                uintptr_t ltype);
/* Lists: words separated by whitespace and/or commas, appended to a NULL-terminated char **;
 * an empty value empties the list. config_parse_ifname_list validates each word as an interface
 * name; both reject duplicates. */
int config_parse_strv(ConfigContext *ctx, const char *key, const char *rvalue, void *data, uintptr_t ltype);
int config_parse_ifname_list(ConfigContext *ctx, const char *key, const char *rvalue, void *data,
                             uintptr_t ltype);
/* Enum: ltype points to a NULL-terminated array of names; data is an int set to the index. */
int config_parse_enum(ConfigContext *ctx, const char *key, const char *rvalue, void *data, uintptr_t ltype);

/* Plain value helpers shared with callers that parse outside a file (e.g. D-Bus options). */
int parse_boolean(const char *s);
int parse_uint64_range(const char *s, uint64_t min, uint64_t max, uint64_t *ret);
bool ifname_is_valid(const char *s);
size_t strv_length(char * const *l);
bool strv_contains(char * const *l, const char *s);
void strv_free(char **l);

typedef enum ConfigParseFlags {
        CONFIG_PARSE_MAIN_REQUIRED = 1 << 0, /* a missing main file is an error, not defaults */
} ConfigParseFlags;

/* Parse a NUL-terminated buffer; name is used in messages. */
int config_parse_buffer(const char *name, const char *text, size_t size, const ConfigTable *table,
                        void *userdata, char **reterr_message);
/* Parse one file; -ENOENT if it does not exist (with a message). */
int config_parse_file(const char *path, const ConfigTable *table, void *userdata, char **reterr_message);
/* Parse main_path (missing is fine unless CONFIG_PARSE_MAIN_REQUIRED), then every regular
 * "<main_path>.d/<name>.conf" in byte order of the file names. Returns 0 on success; on the first error
 * returns a negative errno and, if reterr_message is non-NULL, a "file:line: message" string. */
int config_parse_with_dropins(const char *main_path, ConfigParseFlags flags, const ConfigTable *table,
                              void *userdata, char **reterr_message);
