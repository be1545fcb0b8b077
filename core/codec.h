/* Pieces shared by the JSON and msgpack codecs only (codec_common.c). */
#ifndef PERDURE_CODEC_H
#define PERDURE_CODEC_H

#include <stdarg.h>

#include "internal.h"

/* The msgpack ext type that holds a zstd frame in place of a bin payload. */
#define PD_MP_EXT_ZSTD 1

/* Where a codec is inside a record, so that messages name the field:
 * "InitialExecutionState.Operations[3].Status". Truncated when very deep. */
typedef struct pd_path {
    char buf[240];
    size_t len;
} pd_path;

/* Both append and return the previous length, to hand back to pd_path_pop. */
size_t pd_path_key(pd_path *p, const char *key);
size_t pd_path_index(pd_path *p, size_t index);
void pd_path_pop(pd_path *p, size_t mark);
/* Sets err to "<path>: <message>" (just the message at the root). */
perdure_status pd_path_fail(pd_err *err, const pd_path *p, perdure_status code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
perdure_status pd_path_vfail(pd_err *err, const pd_path *p, perdure_status code, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/* The protocol enums, addressed uniformly so that one helper serves them all. */
typedef enum pd_enum_kind { PD_ENUM_TYPE, PD_ENUM_STATUS, PD_ENUM_ACTION, PD_ENUM_OUTCOME } pd_enum_kind;

/* The wire text of value v, or NULL when v is not a valid value of the enum
 * (PERDURE_STATUS_ABSENT is never valid in a record). */
const char *pd_enum_name(pd_enum_kind kind, int64_t v);
/* Parses exactly len bytes of wire text; 0 ok, -1 unknown. */
int pd_enum_parse(pd_enum_kind kind, const char *s, size_t len, int *out);
/* "type", "status", "action", "outcome": for messages. */
const char *pd_enum_noun(pd_enum_kind kind);

/* Copies a 1..max character id-like text (Id, ParentId, SubType) into its
 * fixed field, or fails with PERDURE_E_DECODE at path (which names the field). */
perdure_status pd_codec_fixed(char *dst, size_t max, const char *s, size_t len, const pd_path *path, pd_err *err);

/* Checks what a decoder would refuse, so that encoders never write a record
 * that cannot be read back: PERDURE_E_INVALID (bad Id, enum) or
 * PERDURE_E_TOO_LARGE (a text longer than PD_MAX_PAYLOAD). */
perdure_status pd_codec_check_operation(const pd_operation *op, pd_path *path, pd_err *err);
perdure_status pd_codec_check_update(const pd_update *u, pd_path *path, pd_err *err);
perdure_status pd_codec_check_output(const pd_output *o, pd_path *path, pd_err *err);
perdure_status pd_codec_check_error(const pd_error *e, pd_path *path, pd_err *err);
/* A required text field of an envelope (CheckpointToken, DurableExecutionArn). */
perdure_status pd_codec_check_required(const char *field, bool present, pd_path *path, pd_err *err);

#endif
