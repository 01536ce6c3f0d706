/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "tui-bus.h"
#include "tui-model.h"

/* fluxify-tui's application state: which view, the model built from the daemon's objects, the
 * cursor, the prompt being typed and the status line. tui.c changes it (keys, bus events);
 * tui-draw.c only reads it and paints the screen. */

typedef enum TuiView {
        TUI_VIEW_CHOOSER,  /* several (or no) client instances: pick one */
        TUI_VIEW_CLIENT,
        TUI_VIEW_SERVER,
} TuiView;

typedef enum TuiPrompt {
        TUI_PROMPT_NONE,
        TUI_PROMPT_CONNECT,           /* interfaces, comma list */
        TUI_PROMPT_ADD_INTERFACE,
        TUI_PROMPT_REMOVE_INTERFACE,
        TUI_PROMPT_ISSUE_NAME,
        TUI_PROMPT_ISSUE_DAYS,
        TUI_PROMPT_ISSUE_FILE,
        TUI_PROMPT_CONFIRM_REVOKE,    /* y/N */
        TUI_PROMPT_CONFIRM_TERMINATE, /* y/N */
        _TUI_PROMPT_MAX,
} TuiPrompt;

typedef enum TuiFocus {
        TUI_FOCUS_SESSIONS,
        TUI_FOCUS_CERTIFICATES,
} TuiFocus;

#define TUI_INPUT_MAX 256
#define TUI_STATUS_MAX 512

typedef struct App {
        sd_event *event;
        sd_bus *bus;
        TuiBus *tbus;
        sd_event_source *timer, *input_source, *winch;

        TuiView view;
        char *profile;                  /* client view: the instance shown */
        char **profiles;                /* chooser: running instances (NULL-terminated) */
        bool profiles_known;
        size_t chooser_cursor;

        TuiClient *client;
        TuiServer *server;
        TuiPathSort sort;

        size_t path_cursor;             /* client view: selected path row */
        TuiFocus focus;                 /* server view */
        size_t session_cursor, certificate_cursor;

        TuiPrompt prompt;
        char prompt_label[256];
        char input[TUI_INPUT_MAX];
        size_t input_len;
        char *issue_name;               /* the issue dialogue so far */
        unsigned issue_days;
        char *issue_file;
        char *confirm_target;           /* certificate name or session object path */
        char *busy;                     /* a call in flight: what it is ("Connecting…") */
        char done_text[TUI_STATUS_MAX]; /* the status once it succeeded */

        char status[TUI_STATUS_MAX];
        bool status_error;
        bool help;
        bool color;
        bool quit;
} App;

/* tui-draw.c */
void tui_draw_init_colors(App *app);
void tui_draw(App *app);
