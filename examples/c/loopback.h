/* A minimal in-memory stand-in for the durable execution service, for the C
 * example only: it applies checkpoints (JSON wire), skips time and answers
 * callbacks. It validates little and records no history; the real embedded
 * service is libperdure's store. */
#ifndef LOOPBACK_H
#define LOOPBACK_H

#include <perdure.h>

typedef struct loopback loopback;

loopback *loopback_new(const char *input_json);
void loopback_free(loopback *lb);
long long loopback_now_ms(const loopback *lb);
/* The invocation event (protocol.md §3.1); free() it. */
char *loopback_invocation_input(loopback *lb);
/* A perdure_transport_fn. */
perdure_status loopback_checkpoint(void *lb, const unsigned char *request, unsigned long long len,
                                   perdure_buf *response);
/* 1: succeeded, -1: failed, 0: suspended. */
int loopback_invocation_ended(loopback *lb, const unsigned char *output, unsigned long long len);
/* The id of a callback still waiting for an answer, or NULL. */
const char *loopback_open_callback(loopback *lb);
void loopback_callback_succeed(loopback *lb, const char *callback_id, const char *result);
/* Moves the clock past every armed timer: waits end, retries become READY. */
void loopback_skip_time(loopback *lb);

#endif
