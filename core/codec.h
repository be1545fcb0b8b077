/* Pieces shared by the JSON and msgpack codecs only (codec_common.c). */
#ifndef PERDURE_CODEC_H
#define PERDURE_CODEC_H

#include <stdarg.h>

#include "internal.h"

/* The msgpack ext type that holds a zstd frame in place of a bin payload. */
#define PD_MP_EXT_ZSTD 1

/* Where a codec is inside a record, so that messages name the field:
 * "InitialExecutionState.Operations[3].Status". Segments are kept as
 * pointers (keys are static strings) and formatted only when a message is
 * made, which keeps the common, successful path cheap. */
#define PD_PATH_MAX_DEPTH 16

typedef struct pd_path {
    struct {
        const char *key;   /* NULL: an array index */
        size_t index;
    } seg[PD_PATH_MAX_DEPTH];
    size_t depth;          /* may exceed PD_PATH_MAX_DEPTH; deeper segments are not named */
} pd_path;

/* Both push a segment and return the previous depth, to hand back to pd_path_pop. */
size_t pd_path_key(pd_path *p, const char *key);
size_t pd_path_index(pd_path *p, size_t index);
void pd_path_pop(pd_path *p, size_t mark);
/* Sets err to "<path>.<key>: <message>"; key may be NULL (the path itself),
 * and an empty path gives just the message. */
perdure_status pd_path_fail(pd_err *err, const pd_path *p, const char *key, perdure_status code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
perdure_status pd_path_vfail(pd_err *err, const pd_path *p, const char *key, perdure_status code, const char *fmt,
                             va_list ap) __attribute__((format(printf, 5, 0)));

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
perdure_status pd_codec_check_required(const char *field, bool present, const pd_path *path, pd_err *err);

#endif
