/*
 * perdure: the command-line tool of the embedded service.
 *
 *     perdure [--store PATH] [--json] COMMAND ...
 *
 * Every command opens the store (a SQLite file, see perdure_store_open in
 * perdure.h), makes one or a few calls of the public API and prints either a
 * table for people or, with --json, JSON for programs. Errors are one line on
 * stderr, "perdure: <reason>", and a non-zero exit status:
 *
 *     1  the command failed (or `start --wait` ended other than SUCCEEDED)
 *     2  usage: unknown command or option, missing argument, bad JSON
 *     3  unknown execution or callback (PERDURE_E_NOT_FOUND)
 *     4  already answered, completed or ended (PERDURE_E_CONFLICT)
 *     5  the store is locked (PERDURE_E_BUSY)
 *     6  the store cannot be read or written, or is not a store (PERDURE_E_STORE)
 *
 * This file only uses the public header: it is a client of libperdure like any
 * other, linked against the shared library.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <perdure.h>

enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,
    EXIT_USAGE = 2,
    EXIT_NOT_FOUND = 3,
    EXIT_CONFLICT = 4,
    EXIT_BUSY = 5,
    EXIT_STORE = 6
};

/* ---- global options --------------------------------------------------- */

static const char *g_store_path;   /* --store, else $PERDURE_STORE, else ./perdure.db */
static int g_json;                 /* --json */
static volatile sig_atomic_t g_stop_signal;

/* ---- errors ------------------------------------------------------------- */

/* Prints "perdure: <reason>" as exactly one line (newlines in the reason are
 * folded into spaces) and returns `code`. */
static int fail(int code, const char *fmt, ...)
{
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    for (char *p = text; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    size_t n = strlen(text);
    while (n > 0 && text[n - 1] == ' ')
        text[--n] = '\0';
    fflush(stdout);
    fprintf(stderr, "perdure: %s\n", text);
    return code;
}

static int exit_code_of(perdure_status st)
{
    switch (st) {
    case PERDURE_OK: return EXIT_OK;
    case PERDURE_E_NOT_FOUND: return EXIT_NOT_FOUND;
    case PERDURE_E_CONFLICT: return EXIT_CONFLICT;
    case PERDURE_E_BUSY: return EXIT_BUSY;
    case PERDURE_E_STORE: return EXIT_STORE;
    case PERDURE_E_INVALID:
    case PERDURE_E_DECODE:
    case PERDURE_E_TOO_LARGE: return EXIT_USAGE;
    default: return EXIT_FAILED;
    }
}

/* Reports a failed store call: the store's message, else the status name. */
static int store_fail(perdure_store *store, perdure_status st, const char *what)
{
    const char *msg = store ? perdure_store_errmsg(store) : "";
    if (!msg || !*msg)
        msg = perdure_status_name(st);
    if (what && *what)
        return fail(exit_code_of(st), "%s: %s", what, msg);
    return fail(exit_code_of(st), "%s", msg);
}

/* ---- small helpers --------------------------------------------------------- */

static int write_all(FILE *f, const void *data, size_t len)
{
    return len == 0 || fwrite(data, 1, len, f) == len ? 0 : -1;
}

/* Prints an owned JSON buffer as it is, followed by a newline. */
static void print_buf_line(const perdure_buf *buf)
{
    write_all(stdout, buf->data, (size_t)buf->len);
    if (buf->len == 0 || buf->data[buf->len - 1] != '\n')
        fputc('\n', stdout);
}

/* Prints a JSON value compactly on one line. */
static void print_json_line(const json_t *value)
{
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text) {
        fputs(text, stdout);
        free(text);
    }
    fputc('\n', stdout);
}

static json_t *parse_buf(const perdure_buf *buf)
{
    json_error_t err;
    if (!buf->data)
        return NULL;
    return json_loadb((const char *)buf->data, (size_t)buf->len, JSON_DECODE_ANY, &err);
}

static const char *jstr(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A timestamp member in epoch seconds (the REST shapes); -1 when absent.
 * Values that can only be milliseconds are scaled down. */
static double jtime(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_number(v))
        return -1;
    double t = json_number_value(v);
    if (t > 1e11)
        t /= 1000.0;
    return t;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    if (!copy) {
        fail(EXIT_FAILED, "out of memory");
        exit(EXIT_FAILED);
    }
    memcpy(copy, s, n);
    return copy;
}

/* "2025-01-02 03:04:05" (UTC), or "-" for an absent time. */
static const char *fmt_time(double epoch_seconds, char *out, size_t size)
{
    if (epoch_seconds < 0) {
        snprintf(out, size, "-");
        return out;
    }
    time_t t = (time_t)epoch_seconds;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(out, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(out, size, "%.3f", epoch_seconds);
    return out;
}

/* "850ms", "12s", "3m04s", "2h03m", "4d02h". */
static const char *fmt_duration(double seconds, char *out, size_t size)
{
    if (seconds < 0)
        seconds = 0;
    if (seconds < 1)
        snprintf(out, size, "%dms", (int)(seconds * 1000 + 0.5));
    else if (seconds < 60)
        snprintf(out, size, seconds < 10 ? "%.1fs" : "%.0fs", seconds);
    else {
        long long s = (long long)seconds;
        if (s < 3600)
            snprintf(out, size, "%lldm%02llds", s / 60, s % 60);
        else if (s < 86400)
            snprintf(out, size, "%lldh%02lldm", s / 3600, s % 3600 / 60);
        else
            snprintf(out, size, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
    }
    return out;
}

/* One line of at most `max` characters of text: control characters become
 * spaces and a cut is marked with "...". */
static const char *fmt_snippet(const char *text, size_t max, char *out, size_t size)
{
    size_t n = 0, i = 0;
    if (!text) {
        snprintf(out, size, "-");
        return out;
    }
    if (max + 4 > size)
        max = size - 4;
    for (; text[i] && n < max; i++)
        out[n++] = (unsigned char)text[i] < 0x20 ? ' ' : text[i];
    if (text[i]) {
        /* do not cut a UTF-8 sequence in half */
        while (n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0x80)
            n--;
        if (n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0xC0)
            n--;
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    return out;
}

/* "ErrorType: ErrorMessage" of an ErrorObject. */
static const char *fmt_error(const json_t *error, char *out, size_t size)
{
    const char *type = jstr(error, "ErrorType");
    const char *message = jstr(error, "ErrorMessage");
    char snippet[256];
    if (type && message)
        snprintf(out, size, "%s: %s", type, fmt_snippet(message, 160, snippet, sizeof snippet));
    else if (type || message)
        snprintf(out, size, "%s", type ? type : fmt_snippet(message, 160, snippet, sizeof snippet));
    else
        snprintf(out, size, "(no details)");
    return out;
}

/* The parts of an execution ARN,
 * arn:aws:lambda:<region>:<account>:function:<fn>:<version>/durable-execution/<name>/<id>. */
typedef struct arn_parts {
    char function[256];
    char version[128];
    char id[128];
} arn_parts;

static void split_arn(const char *arn, arn_parts *out)
{
    memset(out, 0, sizeof *out);
    if (!arn)
        return;
    const char *fn = strstr(arn, ":function:");
    const char *de = strstr(arn, "/durable-execution/");
    const char *last = strrchr(arn, '/');
    if (last && last[1])
        snprintf(out->id, sizeof out->id, "%s", last + 1);
    if (!fn || !de || de < fn)
        return;
    fn += strlen(":function:");
    size_t len = (size_t)(de - fn);
    const char *colon = memchr(fn, ':', len);
    size_t fn_len = colon ? (size_t)(colon - fn) : len;
    snprintf(out->function, sizeof out->function, "%.*s", (int)fn_len, fn);
    if (colon)
        snprintf(out->version, sizeof out->version, "%.*s", (int)(len - fn_len - 1), colon + 1);
}

/* ---- tables ---------------------------------------------------------------- */

#define TABLE_MAX_COLS 8

typedef struct table {
    int ncols;
    const char *headers[TABLE_MAX_COLS];
    char **cells;   /* row-major */
    size_t nrows, cap;
} table;

static void table_init(table *t, int ncols, const char *const *headers)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    for (int i = 0; i < ncols; i++)
        t->headers[i] = headers[i];
}

/* Appends a row of ncols strings (copied). */
static void table_add(table *t, const char *const *row)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **cells = realloc(t->cells, cap * (size_t)t->ncols * sizeof *cells);
        if (!cells) {
            fail(EXIT_FAILED, "out of memory");
            exit(EXIT_FAILED);
        }
        t->cells = cells;
        t->cap = cap;
    }
    for (int i = 0; i < t->ncols; i++)
        t->cells[t->nrows * (size_t)t->ncols + (size_t)i] = xstrdup(row[i] ? row[i] : "-");
    t->nrows++;
}

/* Display width of UTF-8 text: its code points. */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

static void print_cell(const char *text, size_t width, int last)
{
    fputs(text, stdout);
    if (!last)
        for (size_t w = text_width(text); w < width + 2; w++)
            fputc(' ', stdout);
}

static void table_print(const table *t)
{
    size_t width[TABLE_MAX_COLS];
    for (int c = 0; c < t->ncols; c++) {
        width[c] = text_width(t->headers[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t w = text_width(t->cells[r * (size_t)t->ncols + (size_t)c]);
            if (w > width[c])
                width[c] = w;
        }
    }
    for (int c = 0; c < t->ncols; c++)
        print_cell(t->headers[c], width[c], c == t->ncols - 1);
    fputc('\n', stdout);
    for (size_t r = 0; r < t->nrows; r++) {
        char **row = &t->cells[r * (size_t)t->ncols];
        int last = t->ncols - 1;
        while (last > 0 && row[last][0] == '\0')
            last--;   /* no trailing blanks */
        for (int c = 0; c <= last; c++)
            print_cell(row[c], width[c], c == last);
        fputc('\n', stdout);
    }
}

static void table_free(table *t)
{
    for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

/* ---- usage ------------------------------------------------------------------ */

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *synopsis;
    const char *help;
} command;

static const command *find_command(const char *name);

static const char main_usage[] =
    "usage: perdure [--store PATH] [--json] COMMAND [ARGS...]\n"
    "\n"
    "Inspect and drive durable executions kept in an embedded store (a SQLite file).\n"
    "\n"
    "commands:\n"
    "  start FUNCTION [--input JSON] [--name NAME] [--version V] [--timeout S] [--wait]\n"
    "                                 start an execution (or find the one with this name)\n"
    "  list [--status S] [--function F]\n"
    "                                 list executions\n"
    "  show EXECUTION                 an execution and its operations\n"
    "  history EXECUTION [--no-data]  the execution's history events\n"
    "  callback succeed CALLBACK_ID [PAYLOAD]\n"
    "  callback fail CALLBACK_ID [--type T] [--message M] [--data D]\n"
    "  callback heartbeat CALLBACK_ID\n"
    "                                 answer a callback from the outside world\n"
    "                                 (--execution EXECUTION: CALLBACK_ID is the callback's name)\n"
    "  stop EXECUTION [--type T] [--message M]\n"
    "                                 stop a running execution\n"
    "  events [--follow] [--after SEQ]\n"
    "                                 status-change events, one per line\n"
    "  help [COMMAND]                 this text, or a command's\n"
    "\n"
    "options:\n"
    "  --store PATH   the store file (default: $PERDURE_STORE, else ./perdure.db)\n"
    "  --json         print JSON instead of tables\n"
    "  --help, -h     print usage (also after a command)\n"
    "\n"
    "EXECUTION is a DurableExecutionArn, an execution name or an execution id (the\n"
    "last segment of the ARN).\n"
    "\n"
    "exit status: 0 ok; 1 failed (or `start --wait` ended other than SUCCEEDED);\n"
    "2 usage or bad JSON; 3 unknown execution or callback; 4 already answered or\n"
    "ended; 5 store locked; 6 store unreadable or corrupt.\n";

static int usage_error(const char *cmd, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (cmd)
        return fail(EXIT_USAGE, "%s (see 'perdure %s --help')", text, cmd);
    return fail(EXIT_USAGE, "%s (see 'perdure --help')", text);
}

static int print_command_help(const command *c)
{
    const char *line = c->synopsis;
    for (int first = 1; *line; first = 0) {
        const char *end = strchr(line, '\n');
        int len = end ? (int)(end - line) : (int)strlen(line);
        printf("%s perdure [--store PATH] [--json] %.*s\n", first ? "usage:" : "      ", len, line);
        line += len + (end ? 1 : 0);
    }
    printf("\n%s", c->help);
    return EXIT_OK;
}

/* ---- argument parsing ---------------------------------------------------------- */

typedef struct optspec {
    const char *name;      /* "--input" */
    const char **value;    /* non-NULL: the option takes a value */
    int *flag;             /* non-NULL: a flag */
} optspec;

#define MAX_POSITIONAL 4

typedef struct parsed {
    const char *pos[MAX_POSITIONAL];
    int npos;
    int help;
} parsed;

/* Parses a command's arguments (argv[0] is the command name). The global
 * options --json and --store are accepted anywhere; "--" ends the options.
 * Returns 0, or the exit status of a usage error it reported. */
static int parse_args(const char *cmd, int argc, char **argv, const optspec *specs, int max_pos, parsed *out)
{
    memset(out, 0, sizeof *out);
    int options_done = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_done && strcmp(arg, "--") == 0) {
            options_done = 1;
            continue;
        }
        if (!options_done && (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)) {
            out->help = 1;
            continue;
        }
        if (!options_done && strncmp(arg, "--", 2) == 0) {
            const char *eq = strchr(arg, '=');
            size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
            const char *inline_value = eq ? eq + 1 : NULL;
            const char **value_slot = NULL;
            int *flag_slot = NULL;
            int known = 0;
            if (name_len == 6 && strncmp(arg, "--json", 6) == 0) {
                flag_slot = &g_json;
                known = 1;
            } else if (name_len == 7 && strncmp(arg, "--store", 7) == 0) {
                value_slot = &g_store_path;
                known = 1;
            }
            for (const optspec *s = specs; !known && s && s->name; s++) {
                if (strlen(s->name) == name_len && strncmp(arg, s->name, name_len) == 0) {
                    value_slot = s->value;
                    flag_slot = s->flag;
                    known = 1;
                }
            }
            if (!known)
                return usage_error(cmd, "unknown option %.*s for '%s'", (int)name_len, arg, cmd);
            if (flag_slot) {
                if (inline_value)
                    return usage_error(cmd, "option %.*s takes no value", (int)name_len, arg);
                *flag_slot = 1;
            } else {
                if (!inline_value) {
                    if (i + 1 >= argc)
                        return usage_error(cmd, "option %s needs a value", arg);
                    inline_value = argv[++i];
                }
                *value_slot = inline_value;
            }
            continue;
        }
        if (out->npos >= max_pos || out->npos >= MAX_POSITIONAL)
            return usage_error(cmd, "unexpected argument '%s' for '%s'", arg, cmd);
        out->pos[out->npos++] = arg;
    }
    return 0;
}

/* ---- the store -------------------------------------------------------------- */

static const char *store_path(void)
{
    if (g_store_path && *g_store_path)
        return g_store_path;
    const char *env = getenv("PERDURE_STORE");
    if (env && *env)
        return env;
    return "perdure.db";
}

/* Opens the store. must_exist: refuse a path with no file rather than create
 * an empty store there (commands that only read or answer). */
static int open_store(int must_exist, perdure_store **out)
{
    const char *path = store_path();
    *out = NULL;
    if (must_exist && strcmp(path, ":memory:") != 0) {
        struct stat sb;
        if (stat(path, &sb) != 0) {
            if (errno == ENOENT)
                return fail(EXIT_STORE, "no store at %s (start an execution first, or pass --store PATH)", path);
            return fail(EXIT_STORE, "cannot open store %s: %s", path, strerror(errno));
        }
    }
    perdure_store_options opts;
    memset(&opts, 0, sizeof opts);
    opts.size = sizeof opts;
    perdure_store *store = NULL;
    perdure_status st = perdure_store_open(path, &opts, &store);
    if (st != PERDURE_OK) {
        const char *msg = store ? perdure_store_errmsg(store) : "";
        if (!msg || !*msg)
            msg = perdure_status_name(st);
        int code = fail(exit_code_of(st), "cannot open store %s: %s", path, msg);
        if (store)
            perdure_store_close(store);
        return code;
    }
    if (!store)
        return fail(EXIT_STORE, "cannot open store %s", path);
    *out = store;
    return 0;
}

/* A reader's JSON output, parsed. Returns 0 or an exit status (reported). */
static int parse_reply(perdure_buf *buf, const char *what, json_t **out)
{
    *out = parse_buf(buf);
    if (!*out)
        return fail(EXIT_FAILED, "%s: the store returned invalid JSON", what);
    return 0;
}

/* Resolves EXECUTION (an ARN, a name or an id) to an ARN (malloc'd). */
static int resolve_execution(perdure_store *store, const char *ref, char **arn)
{
    *arn = NULL;
    if (strncmp(ref, "arn:", 4) == 0) {
        *arn = xstrdup(ref);
        return 0;
    }
    perdure_buf buf = {0};
    perdure_status st = perdure_store_list(store, NULL, NULL, &buf);
    if (st != PERDURE_OK)
        return store_fail(store, st, "cannot list executions");
    json_t *root;
    int rc = parse_reply(&buf, "list", &root);
    perdure_buf_free(&buf);
    if (rc)
        return rc;
    const json_t *items = json_object_get(root, "DurableExecutions");
    size_t i, matches = 0;
    const json_t *item;
    const char *found = NULL;
    /* names first; ids only when no name matches */
    for (int pass = 0; pass < 2 && matches == 0; pass++) {
        json_array_foreach(items, i, item) {
            const char *a = jstr(item, "DurableExecutionArn");
            if (!a)
                continue;
            int hit;
            if (pass == 0) {
                const char *name = jstr(item, "DurableExecutionName");
                hit = name && strcmp(name, ref) == 0;
            } else {
                arn_parts parts;
                split_arn(a, &parts);
                hit = strcmp(parts.id, ref) == 0;
            }
            if (hit) {
                if (matches++ == 0)
                    found = a;
            }
        }
    }
    if (matches == 1)
        *arn = xstrdup(found);
    json_decref(root);
    if (matches == 0)
        return fail(EXIT_NOT_FOUND, "unknown execution: %s", ref);
    if (matches > 1)
        return fail(EXIT_USAGE, "%zu executions are named %s: pass the ARN", matches, ref);
    return 0;
}

static int is_terminal(const char *status)
{
    return status && strcmp(status, "RUNNING") != 0;
}

/* ---- start ------------------------------------------------------------------- */

/* SIGINT / SIGTERM. Outside a wait the signal is noted and the command ends at
 * its next check. Inside perdure_store_wait_change (which sleeps through
 * EINTR) nothing is half-written, so the process ends at once: it writes the
 * message prepared for that moment and exits with the prepared status. */
static volatile sig_atomic_t g_in_wait;
static char g_wait_message[1200];
static size_t g_wait_message_len;
static int g_wait_exit_base;   /* the exit status is this + the signal number (0: exit 0) */

static void on_stop_signal(int sig)
{
    g_stop_signal = sig;
    if (g_in_wait) {
        if (g_wait_message_len && write(STDERR_FILENO, g_wait_message, g_wait_message_len) < 0)
            _exit(EXIT_FAILED);
        _exit(g_wait_exit_base ? g_wait_exit_base + sig : 0);
    }
}

static void install_stop_handlers(const char *message, int exit_base)
{
    g_wait_message_len = 0;
    if (message) {
        int n = snprintf(g_wait_message, sizeof g_wait_message, "perdure: %s\n", message);
        g_wait_message_len = n < 0 ? 0 : (size_t)n < sizeof g_wait_message ? (size_t)n : sizeof g_wait_message - 1;
    }
    g_wait_exit_base = exit_base;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* perdure_store_wait_change, during which a stop signal ends the process. */
static perdure_status wait_change(perdure_store *store, long long timeout_ms, int *changed)
{
    fflush(stdout);
    g_in_wait = 1;
    if (g_stop_signal) {   /* arrived just before */
        g_in_wait = 0;
        *changed = 0;
        return PERDURE_OK;
    }
    perdure_status st = perdure_store_wait_change(store, timeout_ms, changed);
    g_in_wait = 0;
    return st;
}

/* Describes `arn`, parsed. */
static int describe(perdure_store *store, const char *arn, json_t **out)
{
    perdure_buf buf = {0};
    perdure_status st = perdure_store_describe(store, arn, &buf);
    if (st != PERDURE_OK)
        return store_fail(store, st, NULL);
    int rc = parse_reply(&buf, "describe", out);
    perdure_buf_free(&buf);
    return rc;
}

/* Polls describe until the execution is terminal: waits on the store's change
 * notification between looks, so it uses no CPU while nothing happens. */
static int wait_terminal(perdure_store *store, const char *arn, json_t **out)
{
    for (;;) {
        json_t *desc;
        int rc = describe(store, arn, &desc);
        if (rc)
            return rc;
        if (is_terminal(jstr(desc, "Status"))) {
            *out = desc;
            return 0;
        }
        json_decref(desc);
        if (g_stop_signal)
            return fail(128 + (int)g_stop_signal, "interrupted: the execution is still RUNNING: %s", arn);
        int changed = 0;
        perdure_status st = wait_change(store, 60000, &changed);
        if (st != PERDURE_OK && st != PERDURE_E_BUSY)
            return store_fail(store, st, "waiting for the execution");
        if (g_stop_signal)
            return fail(128 + (int)g_stop_signal, "interrupted: the execution is still RUNNING: %s", arn);
    }
}

static void print_outcome(const json_t *desc)
{
    const char *status = jstr(desc, "Status");
    printf("status: %s\n", status ? status : "-");
    const json_t *error = json_object_get(desc, "Error");
    const char *result = jstr(desc, "Result");
    if (json_is_object(error)) {
        char text[512];
        printf("error: %s\n", fmt_error(error, text, sizeof text));
    } else if (result) {
        printf("result: %s\n", result);
    }
}

static int cmd_start(int argc, char **argv)
{
    const char *input = NULL, *name = NULL, *version = NULL, *timeout = NULL;
    int wait = 0;
    const optspec specs[] = {{"--input", &input, NULL},     {"--name", &name, NULL},
                             {"--version", &version, NULL}, {"--timeout", &timeout, NULL},
                             {"--wait", NULL, &wait},       {NULL, NULL, NULL}};
    parsed p;
    int rc = parse_args("start", argc, argv, specs, 1, &p);
    if (rc)
        return rc;
    if (p.help)
        return print_command_help(find_command("start"));
    if (p.npos < 1)
        return usage_error("start", "missing FUNCTION");
    if (input) {
        json_error_t err;
        json_t *parsed_input = json_loads(input, JSON_DECODE_ANY, &err);
        if (!parsed_input)
            return fail(EXIT_USAGE, "--input is not valid JSON: %s (line %d, column %d)", err.text, err.line,
                        err.column);
        json_decref(parsed_input);
    }
    long long timeout_seconds = 0;
    if (timeout) {
        char *end;
        errno = 0;
        timeout_seconds = strtoll(timeout, &end, 10);
        if (errno || end == timeout || *end || timeout_seconds < 1 || timeout_seconds > 31622400)
            return usage_error("start", "--timeout must be whole seconds from 1 to 31622400");
    }

    perdure_store *store;
    if ((rc = open_store(0, &store)))
        return rc;
    perdure_start_options opts;
    memset(&opts, 0, sizeof opts);
    opts.size = sizeof opts;
    opts.function_name = p.pos[0];
    opts.version = version;
    opts.name = name;
    opts.input = input;
    opts.input_len = input ? strlen(input) : 0;
    opts.execution_timeout_seconds = timeout_seconds;
    perdure_buf arn_buf = {0};
    int existed = 0;
    perdure_status st = perdure_store_start(store, &opts, &arn_buf, &existed);
    if (st != PERDURE_OK) {
        rc = store_fail(store, st, "cannot start");
        perdure_store_close(store);
        return rc;
    }
    char *arn = malloc((size_t)arn_buf.len + 1);
    if (!arn) {
        perdure_buf_free(&arn_buf);
        perdure_store_close(store);
        return fail(EXIT_FAILED, "out of memory");
    }
    memcpy(arn, arn_buf.data, (size_t)arn_buf.len);
    arn[arn_buf.len] = '\0';   /* the buffer may or may not count its NUL */
    perdure_buf_free(&arn_buf);

    json_t *desc = NULL;
    if (wait) {
        /* Before the ARN is printed: whoever reads it may interrupt us at once. */
        char message[1100];
        snprintf(message, sizeof message, "interrupted: the execution is still RUNNING: %s", arn);
        install_stop_handlers(message, 128);
        if (!g_json) {
            printf("%s\n", arn);
            if (existed)
                printf("already started\n");
            fflush(stdout);
        }
        rc = wait_terminal(store, arn, &desc);
        if (rc == 0) {
            const char *status = jstr(desc, "Status");
            if (g_json) {
                json_object_set_new(desc, "AlreadyStarted", json_boolean(existed));
                print_json_line(desc);
            } else {
                print_outcome(desc);
            }
            rc = status && strcmp(status, "SUCCEEDED") == 0 ? EXIT_OK : EXIT_FAILED;
            json_decref(desc);
        }
    } else if (g_json) {
        json_t *obj = json_pack("{s:s, s:b}", "DurableExecutionArn", arn, "AlreadyStarted", existed);
        print_json_line(obj);
        json_decref(obj);
    } else {
        printf("%s\n", arn);
        if (existed)
            printf("already started\n");
    }
    free(arn);
    perdure_store_close(store);
    return rc;
}

/* ---- list ----------------------------------------------------------------------- */

static int cmd_list(int argc, char **argv)
{
    const char *status = NULL, *function = NULL;
    const optspec specs[] = {{"--status", &status, NULL}, {"--function", &function, NULL}, {NULL, NULL, NULL}};
    parsed p;
    int rc = parse_args("list", argc, argv, specs, 0, &p);
    if (rc)
        return rc;
    if (p.help)
        return print_command_help(find_command("list"));
    static const char *const statuses[] = {"RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"};
    if (status) {
        int ok = 0;
        for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++)
            ok |= strcmp(status, statuses[i]) == 0;
        if (!ok)
            return usage_error("list", "unknown status %s (one of RUNNING, SUCCEEDED, FAILED, TIMED_OUT, STOPPED)",
                               status);
    }
    perdure_store *store;
    if ((rc = open_store(1, &store)))
        return rc;
    perdure_buf buf = {0};
    perdure_status st = perdure_store_list(store, function, status, &buf);
    if (st != PERDURE_OK) {
        rc = store_fail(store, st, "cannot list executions");
        perdure_store_close(store);
        return rc;
    }
    if (g_json) {
        print_buf_line(&buf);
    } else {
        json_t *root;
        rc = parse_reply(&buf, "list", &root);
        if (!rc) {
            static const char *const headers[] = {"NAME", "FUNCTION", "VERSION", "STATUS", "STARTED", "ENDED", "ID"};
            table t;
            table_init(&t, 7, headers);
            size_t i;
            const json_t *item;
            json_array_foreach(json_object_get(root, "DurableExecutions"), i, item) {
                arn_parts parts;
                char started[32], ended[32];
                split_arn(jstr(item, "DurableExecutionArn"), &parts);
                const char *row[7] = {jstr(item, "DurableExecutionName"),
                                      parts.function[0] ? parts.function : NULL,
                                      parts.version[0] ? parts.version : NULL,
                                      jstr(item, "Status"),
                                      fmt_time(jtime(item, "StartTimestamp"), started, sizeof started),
                                      fmt_time(jtime(item, "EndTimestamp"), ended, sizeof ended),
                                      parts.id[0] ? parts.id : NULL};
                table_add(&t, row);
            }
            if (t.nrows == 0)
                printf("no executions\n");
            else
                table_print(&t);
            table_free(&t);
            json_decref(root);
        }
    }
    perdure_buf_free(&buf);
    perdure_store_close(store);
    return rc;
}

/* ---- show ------------------------------------------------------------------------ */

typedef struct op_node {
    const json_t *op;
    const char *id, *parent;
    int printed;
} op_node;

static void add_op_row(table *t, const json_t *op, int depth, double now)
{
    char name[600], type[128], attempts[32], started[32], duration[32], detail[400];
    const char *op_name = jstr(op, "Name");
    const char *op_id = jstr(op, "Id");
    char short_id[16];
    snprintf(short_id, sizeof short_id, "%.8s", op_id ? op_id : "?");
    int indent = depth > 20 ? 20 : depth;
    snprintf(name, sizeof name, "%*s%s", indent * 2, "", op_name ? op_name : short_id);

    const char *op_type = jstr(op, "Type");
    const char *sub_type = jstr(op, "SubType");
    if (sub_type)
        snprintf(type, sizeof type, "%s/%s", op_type ? op_type : "?", sub_type);
    else
        snprintf(type, sizeof type, "%s", op_type ? op_type : "?");

    const json_t *step = json_object_get(op, "StepDetails");
    const json_t *attempt = json_object_get(step, "Attempt");
    if (json_is_integer(attempt))
        snprintf(attempts, sizeof attempts, "%lld", (long long)json_integer_value(attempt));
    else
        snprintf(attempts, sizeof attempts, "-");

    double start = jtime(op, "StartTimestamp"), end = jtime(op, "EndTimestamp");
    fmt_time(start, started, sizeof started);
    if (start < 0)
        snprintf(duration, sizeof duration, "-");
    else if (end >= 0)
        fmt_duration(end - start, duration, sizeof duration);
    else {
        char running[24];
        snprintf(duration, sizeof duration, "%s+", fmt_duration(now - start, running, sizeof running));
    }

    /* what someone looking at the operation wants next */
    detail[0] = '\0';
    const char *status = jstr(op, "Status");
    const json_t *cb = json_object_get(op, "CallbackDetails");
    const json_t *wait = json_object_get(op, "WaitDetails");
    const json_t *error = NULL;
    const char *result = NULL;
    const json_t *details[] = {step, cb, json_object_get(op, "ContextDetails"),
                               json_object_get(op, "ChainedInvokeDetails")};
    for (size_t i = 0; i < sizeof details / sizeof *details; i++) {
        if (!json_is_object(details[i]))
            continue;
        if (!error && json_is_object(json_object_get(details[i], "Error")))
            error = json_object_get(details[i], "Error");
        if (!result)
            result = jstr(details[i], "Result");
    }
    char text[320], when[32];
    if (cb && jstr(cb, "CallbackId") && status && strcmp(status, "STARTED") == 0)
        snprintf(detail, sizeof detail, "callback %s", jstr(cb, "CallbackId"));
    else if (wait && jtime(wait, "ScheduledEndTimestamp") >= 0 && status && strcmp(status, "STARTED") == 0)
        snprintf(detail, sizeof detail, "until %s", fmt_time(jtime(wait, "ScheduledEndTimestamp"), when, sizeof when));
    else if (step && jtime(step, "NextAttemptTimestamp") >= 0 && status && strcmp(status, "PENDING") == 0)
        snprintf(detail, sizeof detail, "next attempt %s",
                 fmt_time(jtime(step, "NextAttemptTimestamp"), when, sizeof when));
    else if (error)
        snprintf(detail, sizeof detail, "%s", fmt_error(error, text, sizeof text));
    else if (result)
        snprintf(detail, sizeof detail, "%s", fmt_snippet(result, 60, text, sizeof text));

    const char *row[7] = {name, type, status, attempts, started, duration, detail[0] ? detail : ""};
    table_add(t, row);
}

/* Rows for the children of `parent` (NULL: the top level), depth first. */
static void add_op_rows(table *t, op_node *nodes, size_t n, const char *parent, int depth, double now)
{
    for (size_t i = 0; i < n; i++) {
        op_node *node = &nodes[i];
        if (node->printed)
            continue;
        int mine = parent ? node->parent && strcmp(node->parent, parent) == 0 : node->parent == NULL;
        if (!mine)
            continue;
        node->printed = 1;
        add_op_row(t, node->op, depth, now);
        if (node->id)
            add_op_rows(t, nodes, n, node->id, depth + 1, now);
    }
}

static void print_summary_line(const char *label, const char *value)
{
    printf("%-10s %s\n", label, value && *value ? value : "-");
}

static int cmd_show(int argc, char **argv)
{
    parsed p;
    int rc = parse_args("show", argc, argv, NULL, 1, &p);
    if (rc)
        return rc;
    if (p.help)
        return print_command_help(find_command("show"));
    if (p.npos < 1)
        return usage_error("show", "missing EXECUTION");
    perdure_store *store;
    if ((rc = open_store(1, &store)))
        return rc;
    char *arn = NULL;
    json_t *desc = NULL, *ops = NULL;
    perdure_buf buf = {0};
    if ((rc = resolve_execution(store, p.pos[0], &arn)))
        goto out;
    if ((rc = describe(store, arn, &desc)))
        goto out;
    perdure_status st = perdure_store_operations(store, arn, &buf);
    if (st != PERDURE_OK) {
        rc = store_fail(store, st, NULL);
        goto out;
    }
    if ((rc = parse_reply(&buf, "operations", &ops)))
        goto out;

    if (g_json) {
        json_t *both = json_pack("{s:O, s:O}", "Execution", desc, "Operations", json_object_get(ops, "Operations"));
        print_json_line(both);
        json_decref(both);
        goto out;
    }

    arn_parts parts;
    char text[640], when[32];
    split_arn(arn, &parts);
    print_summary_line("Execution", jstr(desc, "DurableExecutionName"));
    print_summary_line("ARN", arn);
    snprintf(text, sizeof text, "%s%s%s", parts.function, parts.version[0] ? ":" : "", parts.version);
    print_summary_line("Function", parts.function[0] ? text : jstr(desc, "FunctionArn"));
    print_summary_line("Status", jstr(desc, "Status"));
    print_summary_line("Started", fmt_time(jtime(desc, "StartTimestamp"), when, sizeof when));
    print_summary_line("Ended", fmt_time(jtime(desc, "EndTimestamp"), when, sizeof when));
    double start = jtime(desc, "StartTimestamp"), end = jtime(desc, "EndTimestamp");
    if (start >= 0 && end >= 0)
        print_summary_line("Duration", fmt_duration(end - start, when, sizeof when));
    print_summary_line("Input", fmt_snippet(jstr(desc, "InputPayload"), 200, text, sizeof text));
    if (json_is_object(json_object_get(desc, "Error")))
        print_summary_line("Error", fmt_error(json_object_get(desc, "Error"), text, sizeof text));
    else if (jstr(desc, "Result"))
        print_summary_line("Result", fmt_snippet(jstr(desc, "Result"), 200, text, sizeof text));
    printf("\n");

    /* operations, each under its parent; the EXECUTION operation is the summary above */
    const json_t *list = json_object_get(ops, "Operations");
    size_t n = json_array_size(list), count = 0;
    op_node *nodes = calloc(n ? n : 1, sizeof *nodes);
    if (!nodes) {
        rc = fail(EXIT_FAILED, "out of memory");
        goto out;
    }
    const char *exec_id = NULL;
    for (size_t i = 0; i < n; i++) {
        const json_t *op = json_array_get(list, i);
        const char *type = jstr(op, "Type");
        if (type && strcmp(type, "EXECUTION") == 0) {
            exec_id = jstr(op, "Id");
            continue;
        }
        nodes[count].op = op;
        nodes[count].id = jstr(op, "Id");
        nodes[count].parent = jstr(op, "ParentId");
        count++;
    }
    /* a parent that is not listed (or the execution) puts its children at the top */
    for (size_t i = 0; i < count; i++) {
        const char *parent = nodes[i].parent;
        if (!parent)
            continue;
        int known = 0;
        for (size_t j = 0; j < count && !known; j++)
            known = j != i && nodes[j].id && strcmp(nodes[j].id, parent) == 0;
        if (!known || (exec_id && strcmp(parent, exec_id) == 0))
            nodes[i].parent = NULL;
    }
    if (count == 0) {
        printf("no operations\n");
    } else {
        static const char *const headers[] = {"NAME", "TYPE", "STATUS", "ATTEMPTS", "STARTED", "DURATION", "DETAIL"};
        table t;
        table_init(&t, 7, headers);
        double now = (double)time(NULL);
        add_op_rows(&t, nodes, count, NULL, 0, now);
        /* anything left is part of a ParentId cycle: list it flat */
        for (size_t i = 0; i < count; i++)
            if (!nodes[i].printed) {
                nodes[i].printed = 1;
                add_op_row(&t, nodes[i].op, 0, now);
            }
        table_print(&t);
        table_free(&t);
    }
    free(nodes);
out:
    json_decref(ops);
    json_decref(desc);
    perdure_buf_free(&buf);
    free(arn);
    perdure_store_close(store);
    return rc;
}

/* ---- history --------------------------------------------------------------------- */

static void event_detail(const json_t *event, char *out, size_t size)
{
    char key[128], text[400], when[32];
    const char *type = jstr(event, "EventType");
    snprintf(key, sizeof key, "%sDetails", type ? type : "");
    const json_t *d = json_object_get(event, key);
    out[0] = '\0';
    if (!json_is_object(d))
        return;
    const json_t *input = json_object_get(d, "Input");
    const json_t *result = json_object_get(d, "Result");
    const json_t *error = json_object_get(d, "Error");
    const json_t *retry = json_object_get(d, "RetryDetails");
    size_t n = 0;
#define APPEND(...)                                                                                                   \
    do {                                                                                                              \
        if (n < size) {                                                                                               \
            int w_ = snprintf(out + n, size - n, __VA_ARGS__);                                                        \
            if (w_ > 0)                                                                                               \
                n += (size_t)w_;                                                                                      \
        }                                                                                                             \
    } while (0)
    if (jstr(d, "CallbackId"))
        APPEND("callback %s", jstr(d, "CallbackId"));
    if (jstr(d, "FunctionName"))
        APPEND("%sfunction %s", n ? ", " : "", jstr(d, "FunctionName"));
    if (json_is_object(input)) {
        const char *payload = jstr(input, "Payload");
        APPEND("%sinput %s", n ? ", " : "", payload ? fmt_snippet(payload, 60, text, sizeof text) : "(not shown)");
    }
    if (json_is_object(result)) {
        const char *payload = jstr(result, "Payload");
        APPEND("%sresult %s", n ? ", " : "", payload ? fmt_snippet(payload, 60, text, sizeof text) : "(not shown)");
    }
    if (json_is_object(error)) {
        const json_t *payload = json_object_get(error, "Payload");
        APPEND("%serror %s", n ? ", " : "", json_is_object(payload) ? fmt_error(payload, text, sizeof text) : "(not shown)");
    }
    if (json_is_integer(json_object_get(d, "Duration")))
        APPEND("%s%llds", n ? ", " : "", (long long)json_integer_value(json_object_get(d, "Duration")));
    if (jtime(d, "ScheduledEndTimestamp") >= 0)
        APPEND("%suntil %s", n ? ", " : "", fmt_time(jtime(d, "ScheduledEndTimestamp"), when, sizeof when));
    if (json_is_integer(json_object_get(d, "Timeout")))
        APPEND("%stimeout %llds", n ? ", " : "", (long long)json_integer_value(json_object_get(d, "Timeout")));
    if (json_is_integer(json_object_get(d, "HeartbeatTimeout")))
        APPEND("%sheartbeat %llds", n ? ", " : "",
               (long long)json_integer_value(json_object_get(d, "HeartbeatTimeout")));
    if (json_is_object(retry)) {
        const json_t *cur = json_object_get(retry, "CurrentAttempt");
        const json_t *next = json_object_get(retry, "NextAttemptDelaySeconds");
        if (json_is_integer(cur))
            APPEND("%sattempt %lld", n ? ", " : "", (long long)json_integer_value(cur));
        if (json_is_integer(next))
            APPEND("%sretry in %llds", n ? ", " : "", (long long)json_integer_value(next));
    }
    if (type && strcmp(type, "InvocationCompleted") == 0) {
        double start = jtime(d, "StartTimestamp"), end = jtime(d, "EndTimestamp");
        if (start >= 0 && end >= 0)
            APPEND("%sran %s", n ? ", " : "", fmt_duration(end - start, when, sizeof when));
        if (jstr(d, "RequestId"))
            APPEND("%srequest %s", n ? ", " : "", jstr(d, "RequestId"));
    }
#undef APPEND
}

static int cmd_history(int argc, char **argv)
{
    int no_data = 0;
    const optspec specs[] = {{"--no-data", NULL, &no_data}, {NULL, NULL, NULL}};
    parsed p;
    int rc = parse_args("history", argc, argv, specs, 1, &p);
    if (rc)
        return rc;
    if (p.help)
        return print_command_help(find_command("history"));
    if (p.npos < 1)
        return usage_error("history", "missing EXECUTION");
    perdure_store *store;
    if ((rc = open_store(1, &store)))
        return rc;
    char *arn = NULL;
    perdure_buf buf = {0};
    json_t *root = NULL;
    if ((rc = resolve_execution(store, p.pos[0], &arn)))
        goto out;
    perdure_status st = perdure_store_history(store, arn, !no_data, &buf);
    if (st != PERDURE_OK) {
        rc = store_fail(store, st, NULL);
        goto out;
    }
    if (g_json) {
        print_buf_line(&buf);
        goto out;
    }
    if ((rc = parse_reply(&buf, "history", &root)))
        goto out;
    static const char *const headers[] = {"ID", "EVENT", "NAME", "TIME", "DETAIL"};
    table t;
    table_init(&t, 5, headers);
    size_t i;
    const json_t *event;
    json_array_foreach(json_object_get(root, "Events"), i, event) {
        char id[32], name[300], when[32], detail[800];
        const json_t *event_id = json_object_get(event, "EventId");
        snprintf(id, sizeof id, "%lld", json_is_integer(event_id) ? (long long)json_integer_value(event_id) : 0LL);
        const char *ev_name = jstr(event, "Name");
        const char *ev_id = jstr(event, "Id");
        const char *ev_type = jstr(event, "EventType");
        if (ev_name)
            snprintf(name, sizeof name, "%s", ev_name);
        else if (ev_id && ev_type && strncmp(ev_type, "Execution", 9) != 0)
            snprintf(name, sizeof name, "%.8s", ev_id);
        else
            snprintf(name, sizeof name, "-");
        event_detail(event, detail, sizeof detail);
        const char *row[5] = {id, ev_type, name, fmt_time(jtime(event, "EventTimestamp"), when, sizeof when), detail};
        table_add(&t, row);
    }
    table_print(&t);
    table_free(&t);
out:
    json_decref(root);
    perdure_buf_free(&buf);
    free(arn);
    perdure_store_close(store);
    return rc;
}

/* ---- callback ----------------------------------------------------------------------- */

static int print_done(const char *key, const char *value, const char *status, const char *text)
{
    if (g_json) {
        json_t *obj = json_pack("{s:s, s:s}", key, value, "Status", status);
        print_json_line(obj);
        json_decref(obj);
    } else {
        printf("%s\n", text);
    }
    return EXIT_OK;
}

/* The id of the open callback called `name` in execution `ref` (malloc'd):
 * a CALLBACK operation of that name, or the one inside a wait_for_callback
 * of that name. Lets a person answer "the approval of order-1" without
 * copying a 40-character id. */
static int find_callback(perdure_store *store, const char *ref, const char *name, char **id)
{
    char *arn;
    int rc = resolve_execution(store, ref, &arn);
    if (rc)
        return rc;
    perdure_buf buf = {0};
    perdure_status st = perdure_store_operations(store, arn, &buf);
    free(arn);
    if (st != PERDURE_OK)
        return store_fail(store, st, NULL);
    json_t *root;
    if ((rc = parse_reply(&buf, "operations", &root))) {
        perdure_buf_free(&buf);
        return rc;
    }
    perdure_buf_free(&buf);
    const json_t *ops = json_object_get(root, "Operations");
    const json_t *op;
    size_t i;
    *id = NULL;
    json_array_foreach(ops, i, op) {
        const char *type = jstr(op, "Type"), *status = jstr(op, "Status");
        if (!type || strcmp(type, "CALLBACK") != 0 || !status || strcmp(status, "STARTED") != 0)
            continue;
        const char *own = jstr(op, "Name"), *parent = jstr(op, "ParentId"), *parent_name = NULL;
        const json_t *other;
        size_t j;
        json_array_foreach(ops, j, other) {
            const char *oid = jstr(other, "Id");
            if (parent && oid && strcmp(oid, parent) == 0)
                parent_name = jstr(other, "Name");
        }
        if ((own && strcmp(own, name) == 0) || (!own && parent_name && strcmp(parent_name, name) == 0)) {
            const char *cid = jstr(json_object_get(op, "CallbackDetails"), "CallbackId");
            if (cid) {
                *id = xstrdup(cid);
                break;
            }
        }
    }
    json_decref(root);
    if (!*id)
        return fail(EXIT_NOT_FOUND, "execution %s has no open callback named '%s'", ref, name);
    return 0;
}

static int cmd_callback(int argc, char **argv)
{
    const char *type = NULL, *message = NULL, *data = NULL, *execution = NULL;
    const optspec fail_specs[] = {{"--type", &type, NULL}, {"--message", &message, NULL},
                                  {"--data", &data, NULL}, {"--execution", &execution, NULL},
                                  {NULL, NULL, NULL}};
    const optspec specs[] = {{"--execution", &execution, NULL}, {NULL, NULL, NULL}};
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        if (argc >= 2)
            return print_command_help(find_command("callback"));
        return usage_error("callback", "missing ACTION (succeed, fail or heartbeat)");
    }
    const char *action = argv[1];
    parsed p;
    int rc;
    if (strcmp(action, "succeed") == 0)
        rc = parse_args("callback", argc - 1, argv + 1, specs, 2, &p);
    else if (strcmp(action, "fail") == 0)
        rc = parse_args("callback", argc - 1, argv + 1, fail_specs, 1, &p);
    else if (strcmp(action, "heartbeat") == 0)
        rc = parse_args("callback", argc - 1, argv + 1, specs, 1, &p);
    else
        return usage_error("callback", "unknown callback action '%s' (succeed, fail or heartbeat)", action);
    if (rc)
        return rc;
    if (p.help)
        return print_command_help(find_command("callback"));
    if (p.npos < 1)
        return usage_error("callback", "missing CALLBACK_ID");
    perdure_store *store;
    if ((rc = open_store(1, &store)))
        return rc;
    char *found = NULL;
    if (execution && (rc = find_callback(store, execution, p.pos[0], &found))) {
        perdure_store_close(store);
        return rc;
    }
    const char *id = found ? found : p.pos[0];
    perdure_status st;
    char text[1200];
    if (strcmp(action, "succeed") == 0) {
        const char *payload = p.npos > 1 ? p.pos[1] : "";
        st = perdure_store_callback_succeed(store, id, payload, strlen(payload));
        snprintf(text, sizeof text, "callback %s succeeded", id);
        if (st == PERDURE_OK)
            rc = print_done("CallbackId", id, "SUCCEEDED", text);
    } else if (strcmp(action, "fail") == 0) {
        perdure_error_info error;
        memset(&error, 0, sizeof error);
        error.error_type = type;
        error.error_message = message;
        error.error_data = data;
        st = perdure_store_callback_fail(store, id, &error);
        snprintf(text, sizeof text, "callback %s failed", id);
        if (st == PERDURE_OK)
            rc = print_done("CallbackId", id, "FAILED", text);
    } else {
        st = perdure_store_callback_heartbeat(store, id);
        snprintf(text, sizeof text, "callback %s heartbeat sent", id);
        if (st == PERDURE_OK)
            rc = print_done("CallbackId", id, "STARTED", text);
    }
    if (st != PERDURE_OK)
        rc = store_fail(store, st, NULL);
    perdure_store_close(store);
    free(found);
    return rc;
}

/* ---- stop ------------------------------------------------------------------------- */

static int cmd_stop(int argc, char **argv)
{
    const char *type = NULL, *message = NULL;
    const optspec specs[] = {{"--type", &type, NULL}, {"--message", &message, NULL}, {NULL, NULL, NULL}};
    parsed p;
    int rc = parse_args("stop", argc, argv, specs, 1, &p);
    if (rc)
        return rc;
    if (p.help)
        return print_command_help(find_command("stop"));
    if (p.npos < 1)
        return usage_error("stop", "missing EXECUTION");
    perdure_store *store;
    if ((rc = open_store(1, &store)))
        return rc;
    char *arn = NULL;
    if ((rc = resolve_execution(store, p.pos[0], &arn)))
        goto out;
    perdure_error_info error;
    memset(&error, 0, sizeof error);
    error.error_type = type;
    error.error_message = message;
    perdure_status st = perdure_store_stop(store, arn, (type || message) ? &error : NULL);
    if (st != PERDURE_OK) {
        rc = store_fail(store, st, NULL);
        goto out;
    }
    if (g_json) {
        json_t *obj = json_pack("{s:s, s:s}", "DurableExecutionArn", arn, "Status", "STOPPED");
        json_t *desc = NULL;
        if (describe(store, arn, &desc) == 0) {
            json_t *end = json_object_get(desc, "EndTimestamp");
            if (end)
                json_object_set(obj, "StopTimestamp", end);
            json_decref(desc);
        }
        print_json_line(obj);
        json_decref(obj);
    } else {
        printf("stopped %s\n", arn);
    }
out:
    free(arn);
    perdure_store_close(store);
    return rc;
}

/* ---- events ----------------------------------------------------------------------- */

static void print_event(const json_t *event)
{
    if (g_json) {
        print_json_line(event);
        return;
    }
    const json_t *seq = json_object_get(event, "Sequence");
    const json_t *detail = json_object_get(event, "detail");
    char when[32];
    double t = jtime(event, "time");
    if (t < 0 && json_is_string(json_object_get(event, "time"))) {
        /* ISO 8601 ("2025-01-02T03:04:05Z"): shown like every other time */
        snprintf(when, sizeof when, "%.19s", jstr(event, "time"));
        if (strlen(when) == 19 && when[10] == 'T')
            when[10] = ' ';
    }
    else
        fmt_time(t, when, sizeof when);
    const char *status = jstr(detail, "status");
    const char *name = jstr(detail, "durableExecutionName");
    const char *arn = jstr(detail, "durableExecutionArn");
    printf("%-6lld %-19s  %-9s  %s  %s\n", json_is_integer(seq) ? (long long)json_integer_value(seq) : 0LL, when,
           status ? status : "-", name ? name : "-", arn ? arn : "-");
}

/* Prints the events after *after; advances *after. */
static int print_events_after(perdure_store *store, long long *after)
{
    perdure_buf buf = {0};
    long long last = *after;
    perdure_status st = perdure_store_status_events(store, *after, &buf, &last);
    if (st != PERDURE_OK)
        return store_fail(store, st, "cannot read events");
    json_t *root;
    int rc = parse_reply(&buf, "events", &root);
    perdure_buf_free(&buf);
    if (rc)
        return rc;
    size_t i;
    const json_t *event;
    json_array_foreach(json_object_get(root, "Events"), i, event) {
        const json_t *seq = json_object_get(event, "Sequence");
        if (json_is_integer(seq) && json_integer_value(seq) <= *after)
            continue;   /* never twice */
        print_event(event);
        if (json_is_integer(seq) && json_integer_value(seq) > last)
            last = json_integer_value(seq);
    }
    json_decref(root);
    fflush(stdout);
    if (last > *after)
        *after = last;
    return 0;
}

static int cmd_events(int argc, char **argv)
{
    const char *after_text = NULL;
    int follow = 0;
    const optspec specs[] = {{"--after", &after_text, NULL}, {"--follow", NULL, &follow}, {NULL, NULL, NULL}};
    parsed p;
    int rc = parse_args("events", argc, argv, specs, 0, &p);
    if (rc)
        return rc;
    if (p.help)
        return print_command_help(find_command("events"));
    long long after = 0;
    if (after_text) {
        char *end;
        errno = 0;
        after = strtoll(after_text, &end, 10);
        if (errno || end == after_text || *end || after < 0)
            return usage_error("events", "--after must be a sequence number (0 or more)");
    }
    perdure_store *store;
    if ((rc = open_store(!follow, &store)))
        return rc;
    if (follow)
        install_stop_handlers(NULL, 0);
    rc = print_events_after(store, &after);
    while (!rc && follow && !g_stop_signal) {
        int changed = 0;
        perdure_status st = wait_change(store, 60000, &changed);
        if (st != PERDURE_OK && st != PERDURE_E_BUSY) {
            rc = store_fail(store, st, "waiting for events");
            break;
        }
        if (changed && !g_stop_signal)
            rc = print_events_after(store, &after);
    }
    perdure_store_close(store);
    return rc;
}

/* ---- dispatch -------------------------------------------------------------------------- */

static int cmd_help(int argc, char **argv);

static const command commands[] = {
    {"start", cmd_start, "start FUNCTION [--input JSON] [--name NAME] [--version V] [--timeout S] [--wait]",
     "Starts an execution of FUNCTION and prints its ARN. An execution already started under NAME\n"
     "is found instead (\"already started\" is printed after its ARN).\n"
     "\n"
     "  --input JSON   the input (any JSON value; default null)\n"
     "  --name NAME    the execution name (default: generated); starting is idempotent by name\n"
     "  --version V    the function version (default $LATEST)\n"
     "  --timeout S    the execution timeout in seconds (default 31622400)\n"
     "  --wait         wait until the execution ends, then print its status and result;\n"
     "                 exit 0 if it SUCCEEDED, 1 otherwise (SIGINT/SIGTERM stop the waiting,\n"
     "                 not the execution: exit 128 + the signal number)\n"
     "\n"
     "--json prints {\"DurableExecutionArn\", \"AlreadyStarted\"}, or with --wait the\n"
     "GetDurableExecution shape plus \"AlreadyStarted\".\n"},
    {"list", cmd_list, "list [--status S] [--function F]",
     "Lists executions: NAME, FUNCTION, VERSION, STATUS, STARTED, ENDED (UTC) and ID (the\n"
     "last segment of the ARN).\n"
     "\n"
     "  --status S     RUNNING, SUCCEEDED, FAILED, TIMED_OUT or STOPPED\n"
     "  --function F   only executions of function F\n"
     "\n"
     "--json prints {\"DurableExecutions\":[...]} as the store returns it.\n"},
    {"show", cmd_show, "show EXECUTION",
     "Shows an execution and one row per operation, nested under its parent: NAME, TYPE,\n"
     "STATUS, ATTEMPTS, STARTED, DURATION and a DETAIL (a waiting callback's id, a wait's\n"
     "end, a step's next attempt, a result or an error).\n"
     "EXECUTION is an ARN, an execution name or an execution id.\n"
     "\n"
     "--json prints {\"Execution\": <GetDurableExecution>, \"Operations\": [...]}.\n"},
    {"history", cmd_history, "history EXECUTION [--no-data]",
     "Prints the execution's history events: ID, EVENT, NAME (or a short operation id),\n"
     "TIME (UTC) and the event's key detail.\n"
     "\n"
     "  --no-data      leave payloads out (IncludeExecutionData=false)\n"
     "\n"
     "--json prints GetDurableExecutionHistory's {\"Events\":[...]} exactly as the store\n"
     "returns it.\n"},
    {"callback", cmd_callback,
     "callback succeed [--execution EXECUTION] CALLBACK_ID [PAYLOAD]\n"
     "callback fail [--execution EXECUTION] CALLBACK_ID [--type T] [--message M] [--data D]\n"
     "callback heartbeat [--execution EXECUTION] CALLBACK_ID",
     "Answers a callback as the outside world would.\n"
     "\n"
     "  succeed CALLBACK_ID [PAYLOAD]   complete it with PAYLOAD (raw text, default empty)\n"
     "  fail CALLBACK_ID                fail it with an ErrorObject made of\n"
     "      --type T, --message M, --data D\n"
     "  heartbeat CALLBACK_ID           keep it alive (its heartbeat timeout restarts)\n"
     "\n"
     "With --execution EXECUTION, CALLBACK_ID is instead the name of an open callback of that\n"
     "execution (or of the wait_for_callback holding it), e.g.\n"
     "  perdure callback succeed --execution order-1 approval approved\n"
     "\n"
     "A callback is answered once: a second answer fails with exit status 4. Use `--` before\n"
     "a PAYLOAD that starts with \"--\".\n"},
    {"stop", cmd_stop, "stop EXECUTION [--type T] [--message M]",
     "Stops a running execution (status STOPPED) with an optional error.\n"},
    {"events", cmd_events, "events [--follow] [--after SEQ]",
     "Prints status-change events, one per line: SEQUENCE, TIME, STATUS, NAME, ARN.\n"
     "\n"
     "  --after SEQ    only events after sequence number SEQ\n"
     "  --follow       keep waiting for new events (without polling) until SIGINT or SIGTERM\n"
     "\n"
     "--json prints each event as one JSON object per line (JSON Lines).\n"},
    {"help", cmd_help, "help [COMMAND]", "Prints usage, or a command's usage.\n"},
};

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int cmd_help(int argc, char **argv)
{
    if (argc >= 2) {
        const command *c = find_command(argv[1]);
        if (!c)
            return usage_error(NULL, "unknown command '%s'", argv[1]);
        return print_command_help(c);
    }
    fputs(main_usage, stdout);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    int i = 1;
    /* global options before the command */
    for (; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--json") == 0) {
            g_json = 1;
        } else if (strcmp(arg, "--store") == 0) {
            if (i + 1 >= argc)
                return usage_error(NULL, "option --store needs a value");
            g_store_path = argv[++i];
        } else if (strncmp(arg, "--store=", 8) == 0) {
            g_store_path = arg + 8;
        } else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(main_usage, stdout);
            return EXIT_OK;
        } else if (strcmp(arg, "--version") == 0) {
            printf("perdure %s\n", perdure_version());
            return EXIT_OK;
        } else if (arg[0] == '-' && arg[1]) {
            return usage_error(NULL, "unknown option %s", arg);
        } else {
            break;
        }
    }
    if (i >= argc)
        return usage_error(NULL, "missing COMMAND");
    const command *c = find_command(argv[i]);
    if (!c)
        return usage_error(NULL, "unknown command '%s'", argv[i]);
    int rc = c->run(argc - i, argv + i);
    if (fflush(stdout) != 0 && rc == EXIT_OK)
        return fail(EXIT_FAILED, "cannot write the output: %s", strerror(errno));
    return rc;
}
