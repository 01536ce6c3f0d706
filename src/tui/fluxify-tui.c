/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "alloc-util.h"
#include "bus-util.h"
#include "flux-errors.h"
#include "log.h"
#include "time-util.h"
#include "tui.h"

#define REFRESH_USEC (1 * USEC_PER_SEC)
#define KEY_ESCAPE 27
#define KEY_CTRL(c) ((c) & 0x1f)

static bool arg_server = false;
static char *arg_profile = NULL;
static bool arg_color = true;

/* ---- model and status ---- */

static void app_status(App *app, bool error, const char *fmt, ...) _printf_(3, 4);

static void app_status(App *app, bool error, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(app->status, sizeof app->status, fmt, ap);
        va_end(ap);
        app->status_error = error;
}

static void app_rebuild(App *app) {
        json_t *objects = tui_bus_get_objects(app->tbus);

        if (app->view == TUI_VIEW_CLIENT) {
                TuiClient *c = NULL;

                if (tui_client_from_objects(objects, app->sort, &c) >= 0) {
                        tui_client_free(app->client);
                        app->client = c;
                        if (c->n_paths > 0)
                                app->path_cursor = MIN(app->path_cursor, c->n_paths - 1);
                }
        } else if (app->view == TUI_VIEW_SERVER) {
                TuiServer *s = NULL;

                if (tui_server_from_objects(objects, tui_bus_get_certificates(app->tbus), app->sort, &s) >= 0) {
                        /* Keep the cursor on the same session when sessions come and go. */
                        uint64_t id = UINT64_MAX;
                        int i;

                        if (app->server && app->session_cursor < app->server->n_sessions)
                                id = app->server->sessions[app->session_cursor].id;
                        tui_server_free(app->server);
                        app->server = s;
                        i = tui_server_find_session(s, id);
                        if (i >= 0)
                                app->session_cursor = (size_t) i;
                        else if (s->n_sessions > 0)
                                app->session_cursor = MIN(app->session_cursor, s->n_sessions - 1);
                        if (s->n_certificates > 0)
                                app->certificate_cursor = MIN(app->certificate_cursor, s->n_certificates - 1);
                }
        }
}

static void on_bus_changed(void *userdata) {
        App *app = userdata;

        app_rebuild(app);
        tui_draw(app);
}

static int app_open_target(App *app) {
        int r;

        app->tbus = tui_bus_free(app->tbus);
        r = tui_bus_new(app->bus, app->view == TUI_VIEW_SERVER ? TUI_TARGET_SERVER : TUI_TARGET_CLIENT, app->profile,
                        on_bus_changed, app, &app->tbus);
        if (r < 0)
                return r;
        return tui_bus_refresh(app->tbus);
}

/* ---- client chooser ---- */

static void on_profiles(void *userdata, int r, char **profiles) {
        App *app = userdata;
        size_t n = 0;

        if (app->view != TUI_VIEW_CHOOSER)
                return;
        if (r < 0) {
                app_status(app, true, "Cannot list the client instances: %s", strerror(-r));
                tui_draw(app);
                return;
        }
        for (char **p = profiles; p && *p; p++)
                n++;
        strv_freep(&app->profiles);
        app->profiles = new0(char *, n + 1);
        for (size_t i = 0; app->profiles && i < n; i++)
                app->profiles[i] = strdup(profiles[i]);
        app->profiles_known = true;
        if (n > 0)
                app->chooser_cursor = MIN(app->chooser_cursor, n - 1);

        /* Started without --profile and exactly one instance runs: open it directly (only the
         * first time; later the user chose to be here). */
        if (n == 1 && !app->profile) {
                app->profile = strdup(profiles[0]);
                app->view = TUI_VIEW_CLIENT;
                r = app_open_target(app);
                if (r < 0)
                        app_status(app, true, "Cannot watch the client: %s", strerror(-r));
        }
        tui_draw(app);
}

/* ---- method replies ---- */

static void on_call_done(void *userdata, int r, const char *message, const char *result) {
        App *app = userdata;

        app->busy = mfree(app->busy);
        if (r < 0)
                app_status(app, true, "%s", message);
        else
                app_status(app, false, "%s", strempty(app->done_text));
        (void) tui_bus_refresh_all(app->tbus);
        tui_draw(app);
}

static int write_bundle(const char *path, const char *bundle) {
        size_t n = strlen(bundle), done = 0;
        int fd, r = 0;

        /* O_EXCL: never overwrite (or follow a link to) an existing file with a private key. */
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        while (done < n) {
                ssize_t k = write(fd, bundle + done, n - done);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        break;
                }
                done += (size_t) k;
        }
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r < 0)
                (void) unlink(path);
        return r;
}

static void on_issued(void *userdata, int r, const char *message, const char *bundle) {
        App *app = userdata;

        app->busy = mfree(app->busy);
        if (r < 0)
                app_status(app, true, "%s", message);
        else if (!bundle)
                app_status(app, true, "Issue failed: the server sent no bundle");
        else {
                r = write_bundle(app->issue_file, bundle);
                /* The reply message still holds the key; sd-bus frees it after we return. */
                if (r < 0)
                        app_status(app, true, "Issued '%s', but writing %s failed: %s. Revoke it and issue again.",
                                   app->issue_name, app->issue_file, strerror(-r));
                else
                        app_status(app, false, "Issued '%s': bundle (CA, certificate, key) written to %s (mode 0600).",
                                   app->issue_name, app->issue_file);
        }
        (void) tui_bus_refresh_all(app->tbus);
        tui_draw(app);
}

/* ---- prompts ---- */

static void prompt_open(App *app, TuiPrompt p, const char *label, const char *prefill) {
        app->prompt = p;
        snprintf(app->prompt_label, sizeof app->prompt_label, "%s", label);
        snprintf(app->input, sizeof app->input, "%s", strempty(prefill));
        app->input_len = strlen(app->input);
        app->status[0] = '\0';
}

static void prompt_close(App *app) {
        app->prompt = TUI_PROMPT_NONE;
        explicit_bzero(app->input, sizeof app->input);
        app->input_len = 0;
}

/* r: what starting the call returned; busy: shown while it runs; done: shown when it succeeded. */
static void start_call(App *app, int r, const char *busy, const char *done_fmt, ...) _printf_(4, 5);

static void start_call(App *app, int r, const char *busy, const char *done_fmt, ...) {
        va_list ap;

        if (r < 0) {
                app_status(app, true, "%s %s", busy, strerror(-r));
                return;
        }
        free(app->busy);
        app->busy = strdup(busy);
        app->status[0] = '\0';
        va_start(ap, done_fmt);
        vsnprintf(app->done_text, sizeof app->done_text, done_fmt, ap);
        va_end(ap);
}

static void prompt_submit_issue(App *app, TuiPrompt p, const char *text) {
        char suggestion[TUI_INPUT_MAX];
        struct stat st;
        unsigned long days;
        char *end;

        switch (p) {
        case TUI_PROMPT_ISSUE_NAME:
                if (isempty(text))
                        return;
                free(app->issue_name);
                app->issue_name = strdup(text);
                prompt_open(app, TUI_PROMPT_ISSUE_DAYS, "Valid for days (0 = server default): ", "365");
                return;
        case TUI_PROMPT_ISSUE_DAYS:
                errno = 0;
                days = strtoul(text, &end, 10);
                if (isempty(text) || *end || errno != 0 || days > 36500) {
                        app_status(app, true, "Not a number of days (0…36500): %s", text);
                        return;
                }
                app->issue_days = (unsigned) days;
                snprintf(suggestion, sizeof suggestion, "./%s.bundle", strempty(app->issue_name));
                prompt_open(app, TUI_PROMPT_ISSUE_FILE, "Write the bundle to: ", suggestion);
                return;
        default:
                if (isempty(text))
                        return;
                if (lstat(text, &st) >= 0) {
                        app_status(app, true, "%s exists: choose a new file (the bundle holds a private key).", text);
                        return;
                }
                free(app->issue_file);
                app->issue_file = strdup(text);
                if (!app->issue_file || !app->issue_name)
                        return;
                start_call(app, tui_bus_issue_certificate(app->tbus, app->issue_name, app->issue_days, on_issued, app),
                           "Issuing the certificate…", "Issued '%s'.", app->issue_name);
        }
}

static void prompt_submit(App *app) {
        TuiPrompt p = app->prompt;
        char text[TUI_INPUT_MAX];
        _cleanup_(strv_freep) char **v = NULL;
        int r;

        snprintf(text, sizeof text, "%s", app->input);
        prompt_close(app);

        switch (p) {
        case TUI_PROMPT_CONNECT:
                r = tui_split_list(text, &v);
                if (r >= 0)
                        r = tui_bus_connect(app->tbus, v, on_call_done, app);
                start_call(app, r, "Connecting…", "Connect requested%s%s.", v && v[0] ? " over " : "",
                           v && v[0] ? text : "");
                break;
        case TUI_PROMPT_ADD_INTERFACE:
        case TUI_PROMPT_REMOVE_INTERFACE:
                r = tui_split_list(text, &v);
                if (r != 1) {
                        app_status(app, true, "Type one interface name.");
                        break;
                }
                if (p == TUI_PROMPT_ADD_INTERFACE)
                        start_call(app, tui_bus_add_interface(app->tbus, v[0], on_call_done, app),
                                   "Adding the interface…", "Added %s.", v[0]);
                else
                        start_call(app, tui_bus_remove_interface(app->tbus, v[0], on_call_done, app),
                                   "Removing the interface…", "Removed %s.", v[0]);
                break;
        case TUI_PROMPT_ISSUE_NAME:
        case TUI_PROMPT_ISSUE_DAYS:
        case TUI_PROMPT_ISSUE_FILE:
                prompt_submit_issue(app, p, text);
                break;
        default:
                break;
        }
}

static void confirm(App *app, int key) {
        TuiPrompt p = app->prompt;

        prompt_close(app);
        if (key != 'y' && key != 'Y') {
                app_status(app, false, "Cancelled.");
                return;
        }
        if (p == TUI_PROMPT_CONFIRM_REVOKE)
                start_call(app, tui_bus_revoke_certificate(app->tbus, app->confirm_target, on_call_done, app),
                           "Revoking the certificate…", "Revoked '%s'.", app->confirm_target);
        else
                start_call(app, tui_bus_terminate_session(app->tbus, app->confirm_target, "terminated by administrator",
                                                          on_call_done, app),
                           "Terminating the session…", "Terminated the session.");
}

static void prompt_key(App *app, int key) {
        if (app->prompt == TUI_PROMPT_CONFIRM_REVOKE || app->prompt == TUI_PROMPT_CONFIRM_TERMINATE) {
                confirm(app, key);
                return;
        }
        switch (key) {
        case KEY_ESCAPE:
                prompt_close(app);
                app_status(app, false, "Cancelled.");
                break;
        case '\n':
        case '\r':
        case KEY_ENTER:
                prompt_submit(app);
                break;
        case KEY_BACKSPACE:
        case 127:
        case 8:
                if (app->input_len > 0) {
                        /* Remove one UTF-8 character. */
                        do
                                app->input[--app->input_len] = '\0';
                        while (app->input_len > 0 && ((unsigned char) app->input[app->input_len] & 0xC0) == 0x80);
                }
                break;
        case KEY_CTRL('u'):
                app->input_len = 0;
                app->input[0] = '\0';
                break;
        default:
                if (key >= 0x20 && key < 0x100 && key != 0x7f && app->input_len + 1 < sizeof app->input) {
                        app->input[app->input_len++] = (char) key;
                        app->input[app->input_len] = '\0';
                }
        }
}

/* ---- keys per view ---- */

static void move_cursor(size_t *cursor, size_t n, int delta) {
        if (n == 0) {
                *cursor = 0;
                return;
        }
        if (delta < 0)
                *cursor = *cursor > 0 ? *cursor - 1 : 0;
        else
                *cursor = MIN(*cursor + 1, n - 1);
}

static void client_key(App *app, int key) {
        TuiClient *c = app->client;
        _cleanup_(freep) char *joined = NULL;

        switch (key) {
        case 'c':
                joined = tui_join_comma(c ? c->interfaces : NULL);
                prompt_open(app, TUI_PROMPT_CONNECT, "Connect over interfaces (comma list, empty = profile's): ",
                            joined);
                break;
        case 'd':
                start_call(app, tui_bus_disconnect(app->tbus, on_call_done, app), "Disconnecting…",
                           "Disconnected.");
                break;
        case 'a':
                prompt_open(app, TUI_PROMPT_ADD_INTERFACE, "Add interface: ", NULL);
                break;
        case 'r':
                prompt_open(app, TUI_PROMPT_REMOVE_INTERFACE, "Remove interface: ",
                            c && app->path_cursor < c->n_paths ? c->paths[app->path_cursor].interface : NULL);
                break;
        case KEY_UP:
        case 'k':
                move_cursor(&app->path_cursor, c ? c->n_paths : 0, -1);
                break;
        case KEY_DOWN:
        case 'j':
                move_cursor(&app->path_cursor, c ? c->n_paths : 0, +1);
                break;
        }
}

static void server_key(App *app, int key) {
        TuiServer *s = app->server;
        char label[256];

        switch (key) {
        case '\t':
                app->focus = app->focus == TUI_FOCUS_SESSIONS ? TUI_FOCUS_CERTIFICATES : TUI_FOCUS_SESSIONS;
                break;
        case KEY_UP:
        case 'k':
        case KEY_DOWN:
        case 'j':
                if (app->focus == TUI_FOCUS_SESSIONS)
                        move_cursor(&app->session_cursor, s ? s->n_sessions : 0, key == KEY_UP || key == 'k' ? -1 : 1);
                else
                        move_cursor(&app->certificate_cursor, s ? s->n_certificates : 0,
                                    key == KEY_UP || key == 'k' ? -1 : 1);
                break;
        case 't':
                if (!s || app->session_cursor >= s->n_sessions) {
                        app_status(app, true, "No session selected.");
                        break;
                }
                free(app->confirm_target);
                app->confirm_target = strdup(s->sessions[app->session_cursor].object);
                snprintf(label, sizeof label, "Terminate session %" PRIu64 " of '%s'? [y/N] ",
                         s->sessions[app->session_cursor].id, s->sessions[app->session_cursor].client_name);
                prompt_open(app, TUI_PROMPT_CONFIRM_TERMINATE, label, NULL);
                break;
        case 'i':
                prompt_open(app, TUI_PROMPT_ISSUE_NAME, "Issue a certificate for client name: ", NULL);
                break;
        case 'R':
                if (!s || app->certificate_cursor >= s->n_certificates) {
                        app_status(app, true, "No certificate selected (Tab switches to the certificates).");
                        break;
                }
                free(app->confirm_target);
                app->confirm_target = strdup(s->certificates[app->certificate_cursor].name);
                snprintf(label, sizeof label, "Revoke the certificate of '%s' and end its sessions? [y/N] ",
                         app->confirm_target);
                prompt_open(app, TUI_PROMPT_CONFIRM_REVOKE, label, NULL);
                break;
        }
}

static void chooser_key(App *app, int key) {
        size_t n = 0;
        int r;

        for (char **p = app->profiles; p && *p; p++)
                n++;
        switch (key) {
        case KEY_UP:
        case 'k':
                move_cursor(&app->chooser_cursor, n, -1);
                break;
        case KEY_DOWN:
        case 'j':
                move_cursor(&app->chooser_cursor, n, +1);
                break;
        case '\n':
        case '\r':
        case KEY_ENTER:
                if (app->chooser_cursor >= n)
                        break;
                free(app->profile);
                app->profile = strdup(app->profiles[app->chooser_cursor]);
                if (!app->profile)
                        break;
                app->view = TUI_VIEW_CLIENT;
                r = app_open_target(app);
                if (r < 0)
                        app_status(app, true, "Cannot watch the client: %s", strerror(-r));
                break;
        }
}

static void app_key(App *app, int key) {
        if (app->help) {
                app->help = false;
                return;
        }
        if (app->prompt != TUI_PROMPT_NONE) {
                prompt_key(app, key);
                return;
        }
        switch (key) {
        case 'q':
        case 'Q':
                app->quit = true;
                (void) sd_event_exit(app->event, 0);
                return;
        case '?':
        case KEY_F(1):
                app->help = true;
                return;
        case KEY_CTRL('l'):
                clearok(curscr, TRUE);
                if (app->tbus)
                        (void) tui_bus_refresh_all(app->tbus);
                return;
        case 's':
                if (app->view != TUI_VIEW_CHOOSER) {
                        app->sort = (app->sort + 1) % _TUI_PATH_SORT_MAX;
                        app_rebuild(app);
                        app_status(app, false, "Paths sorted by %s.", tui_path_sort_to_string(app->sort));
                }
                return;
        case KEY_RESIZE:
                return;
        }
        if (app->busy && key > 0 && key < 128 && strchr("cdartiR", key)) {
                app_status(app, true, "Wait: %s", app->busy);
                return;
        }
        switch (app->view) {
        case TUI_VIEW_CHOOSER:
                chooser_key(app, key);
                break;
        case TUI_VIEW_CLIENT:
                client_key(app, key);
                break;
        case TUI_VIEW_SERVER:
                server_key(app, key);
                break;
        }
}

/* ---- event sources ---- */

static int on_input(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        App *app = userdata;
        int key;

        if (revents & (EPOLLHUP | EPOLLERR))
                return sd_event_exit(app->event, 0);
        while ((key = getch()) != ERR)
                app_key(app, key);
        if (!app->quit)
                tui_draw(app);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        App *app = userdata;
        int r;

        if (app->view == TUI_VIEW_CHOOSER)
                (void) tui_bus_list_profiles(app->bus, on_profiles, app);
        else if (app->tbus)
                (void) tui_bus_refresh(app->tbus);
        /* Redraw even when nothing came in: the clock in the title, and "Reading…" states. */
        tui_draw(app);

        r = sd_event_source_set_time_relative(s, REFRESH_USEC);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static int on_winch(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        App *app = userdata;
        struct winsize ws;

        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) >= 0 && ws.ws_row > 0 && ws.ws_col > 0)
                resizeterm(ws.ws_row, ws.ws_col);
        clearok(curscr, TRUE);
        tui_draw(app);
        return 0;
}

/* ---- set-up ---- */

static void help(void) {
        printf("%s [OPTIONS...]\n\n"
               "Live ncurses view of the Fluxify daemons over D-Bus.\n\n"
               "  -h --help              Show this help\n"
               "     --version           Show the version\n"
               "  -p --profile=NAME      Client instance to show (default: the only one running,\n"
               "                         else a list to choose from)\n"
               "  -s --server            Show the server (sessions, paths, certificates)\n"
               "     --no-color          Do not use colours (also when NO_COLOR is set)\n\n"
               "Reading works for every user; connecting, disconnecting, terminating sessions and\n"
               "managing certificates need root. DBUS_SYSTEM_BUS_ADDRESS selects another bus.\n"
               "Keys: press ? in the program.\n",
               program_invocation_short_name);
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_NO_COLOR };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "profile", required_argument, NULL, 'p' },
                { "server", no_argument, NULL, 's' },
                { "no-color", no_argument, NULL, ARG_NO_COLOR },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "hp:s", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("fluxify-tui %s\n", PACKAGE_VERSION);
                        return 0;
                case 'p':
                        if (!flux_profile_name_is_valid(optarg)) {
                                fprintf(stderr, "Invalid profile name '%s': expected [A-Za-z][A-Za-z0-9_]{0,31}.\n",
                                        optarg);
                                return -EINVAL;
                        }
                        free(arg_profile);
                        arg_profile = strdup(optarg);
                        if (!arg_profile)
                                return log_oom();
                        break;
                case 's':
                        arg_server = true;
                        break;
                case ARG_NO_COLOR:
                        arg_color = false;
                        break;
                case '?':
                        return -EINVAL;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "%s takes no arguments. See --help.\n", program_invocation_short_name);
                return -EINVAL;
        }
        if (arg_server && arg_profile) {
                fprintf(stderr, "--server and --profile exclude each other.\n");
                return -EINVAL;
        }
        return 1;
}

static void app_done(App *app) {
        app->timer = sd_event_source_disable_unref(app->timer);
        app->input_source = sd_event_source_disable_unref(app->input_source);
        app->winch = sd_event_source_disable_unref(app->winch);
        app->tbus = tui_bus_free(app->tbus);
        app->bus = bus_flush_close_unref(app->bus);
        app->event = sd_event_unref(app->event);
        app->client = tui_client_free(app->client);
        app->server = tui_server_free(app->server);
        strv_freep(&app->profiles);
        free(app->profile);
        free(app->issue_name);
        free(app->issue_file);
        free(app->confirm_target);
        free(app->busy);
}

static int app_setup(App *app) {
        sigset_t mask;
        int r;

        /* sd-event handles these through a signalfd: they must be blocked first. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGWINCH);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "Failed to block signals: %m");

        r = sd_event_default(&app->event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        r = sd_event_add_signal(app->event, NULL, SIGINT, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(app->event, NULL, SIGTERM, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(app->event, NULL, SIGHUP, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(app->event, &app->winch, SIGWINCH, on_winch, app);
        if (r < 0)
                return log_error_errno(r, "Failed to watch signals: %m");

        r = flux_errors_register();
        if (r < 0)
                return log_error_errno(r, "Failed to register the Fluxify error map: %m");
        r = bus_open_system_attached(app->event, "fluxify-tui", 0, &app->bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus at %s: %m\n"
                                       "Is dbus running? (DBUS_SYSTEM_BUS_ADDRESS selects another bus.)",
                                       getenv("DBUS_SYSTEM_BUS_ADDRESS") ?: "the default address");

        if (arg_server) {
                app->view = TUI_VIEW_SERVER;
                r = app_open_target(app);
        } else if (arg_profile) {
                app->view = TUI_VIEW_CLIENT;
                app->profile = TAKE_PTR(arg_profile);
                r = app_open_target(app);
        } else {
                app->view = TUI_VIEW_CHOOSER;
                r = tui_bus_list_profiles(app->bus, on_profiles, app);
        }
        if (r < 0)
                return log_error_errno(r, "Failed to start watching the daemon: %m");

        r = sd_event_add_time_relative(app->event, &app->timer, CLOCK_MONOTONIC, REFRESH_USEC, 50 * USEC_PER_MSEC,
                                       on_timer, app);
        if (r < 0)
                return log_error_errno(r, "Failed to add the refresh timer: %m");
        r = sd_event_add_io(app->event, &app->input_source, STDIN_FILENO, EPOLLIN, on_input, app);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the terminal: %m");
        return 0;
}

int main(int argc, char *argv[]) {
        _cleanup_(app_done) App app = {};
        int r;

        setlocale(LC_ALL, "");
        log_set_ident("fluxify-tui");
        log_open();

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
                fprintf(stderr, "fluxify-tui needs a terminal; for scripts use fluxifyctl.\n");
                return 1;
        }

        r = app_setup(&app);
        if (r < 0)
                return 1;

        if (!initscr()) {
                fprintf(stderr, "Cannot initialize the terminal (TERM=%s).\n", strna(getenv("TERM")));
                return 1;
        }
        app.color = arg_color && has_colors() && !getenv("NO_COLOR");
        tui_draw_init_colors(&app);
        cbreak();
        noecho();
        nonl();
        keypad(stdscr, TRUE);
        nodelay(stdscr, TRUE);
        set_escdelay(25);
        tui_draw(&app);

        /* From here on stderr is the screen: log lines would garble it, unless they go to the file
         * named by $FLUXIFY_TUI_LOG (debug level, for hacking on the program). */
        if (getenv("FLUXIFY_TUI_LOG") && freopen(getenv("FLUXIFY_TUI_LOG"), "ae", stderr)) {
                setvbuf(stderr, NULL, _IOLBF, 0);
                log_set_target(LOG_TARGET_CONSOLE);
                log_set_max_level(LOG_DEBUG);
        } else
                log_set_max_level(LOG_CRIT);
        r = sd_event_loop(app.event);
        endwin();
        if (r < 0) {
                fprintf(stderr, "Event loop failed: %s\n", strerror(-r));
                return 1;
        }
        return 0;
}
