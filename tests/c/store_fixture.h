/* What the store and worker suites share: a temporary store file, a clock
 * the tests skip forward, and small readers of the store's JSON. */
#ifndef PERDURE_STORE_FIXTURE_H
#define PERDURE_STORE_FIXTURE_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include <perdure.h>

#define T0 1767225600000LL

static long long fake_now = T0;
static long long fake_clock(void *user)
{
    (void)user;
    return fake_now;
}

static char dir[64];
static char path[128];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/perdure-test-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/store.db", dir);
    fake_now = T0;
}

static void remove_dir(void)
{
    const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < 4; i++) {
        char p[160];
        snprintf(p, sizeof p, "%s%s", path, suffixes[i]);
        unlink(p);
    }
    rmdir(dir);
}

/* fake: the fake clock, else the wall clock. */
static perdure_store *open_store(bool fake, long long lease_ms)
{
    perdure_store_options o = {.size = sizeof o, .clock = fake ? fake_clock : NULL, .lease_ms = lease_ms};
    perdure_store *s = NULL;
    perdure_status st = perdure_store_open(path, &o, &s);
    cr_assert_eq(st, PERDURE_OK, "open: %s", perdure_store_errmsg(s));
    return s;
}

#define OK(s, expr)                                                                                                  \
    do {                                                                                                             \
        perdure_status st_ = (expr);                                                                                 \
        cr_assert_eq(st_, PERDURE_OK, "%s: %s (%s)", #expr, perdure_status_name(st_), perdure_store_errmsg(s));      \
    } while (0)

static json_t *as_json(perdure_buf *b)
{
    json_error_t e;
    json_t *j = json_loadb((const char *)b->data, b->len, 0, &e);
    cr_assert_not_null(j, "bad JSON: %s", e.text);
    perdure_buf_free(b);
    return j;
}

/* "ExecutionStarted StepStarted ...", checking EventIds run 1, 2, 3... */
static char *history_types(perdure_store *s, const char *arn)
{
    perdure_buf b = {0};
    OK(s, perdure_store_history(s, arn, 1, &b));
    json_t *h = as_json(&b);
    static char out[4096];
    out[0] = 0;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(h, "Events"), i, e)
    {
        cr_assert_eq(json_integer_value(json_object_get(e, "EventId")), (json_int_t)i + 1);
        if (i)
            strcat(out, " ");
        strcat(out, json_string_value(json_object_get(e, "EventType")));
    }
    json_decref(h);
    return out;
}

static void set_result(perdure_buf *r, const char *text)
{
    r->len = strlen(text);
    r->data = malloc(r->len);
    memcpy(r->data, text, r->len);
}

/* A one-step workflow: step "one" returns 1, the handler "done". */
static int simple_step(void *user, unsigned attempt, perdure_buf *result, perdure_error_info *error)
{
    (void)user, (void)attempt, (void)error;
    set_result(result, "1");
    return 0;
}

static int simple_handler(perdure_context *ctx, void *user, const unsigned char *input, unsigned long long input_len,
                          perdure_buf *result, perdure_error_info *error)
{
    (void)input, (void)input_len, (void)error, (void)user;
    perdure_sdk_outcome outcome = PERDURE_SDK_ERROR;
    const unsigned char *r;
    unsigned long long len;
    perdure_context_step(ctx, "one", NULL, simple_step, NULL, &outcome, &r, &len);
    if (outcome == PERDURE_SDK_OK)
        set_result(result, "\"done\"");
    return 0;
}

/* For a forked child: starts execution `name` of "fn" on a handle of its own;
 * returns the child's exit status. */
static int start_from_child(const char *name)
{
    perdure_store *s = NULL;
    perdure_store_options o = {.size = sizeof o, .clock = fake_clock};
    if (perdure_store_open(path, &o, &s)) {
        fprintf(stderr, "child: open: %s\n", perdure_store_errmsg(s));
        perdure_store_close(s);
        return 1;
    }
    perdure_start_options so = {.size = sizeof so, .function_name = "fn", .name = name};
    perdure_buf arn = {0};
    int st = perdure_store_start(s, &so, &arn, NULL);
    perdure_buf_free(&arn);
    perdure_store_close(s);
    return st ? 2 : 0;
}

#endif
