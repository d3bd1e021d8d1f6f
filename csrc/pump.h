/*
 * pump.h: one curl easy handle run on a thread of its own, in a multi handle
 * of its own (pump.c), so that receiving a stream (the kernel's copies,
 * TLS, curl's bookkeeping) overlaps with its consumer's decoding instead of
 * taking turns with it on the consumer's thread. No Lua.
 *
 * The handle's callbacks run on the pump's thread, so whatever they share
 * with the consumer is read and written under the consumer's lock, which
 * the pump is given. The consumer learns of progress from a descriptor that turns
 * readable (bx_pump_fd: an event loop polls it beside its sockets), and
 * collects the end with bx_pump_ended; the pump itself never ends the
 * transfer, so everything after the end happens on the consumer's thread.
 */
#ifndef BX_PUMP_H
#define BX_PUMP_H

#include <curl/curl.h>
#include <pthread.h>

typedef struct bx_pump bx_pump;

/* What a stream's consumer lets the pump do next (may_run, called with the
 * lock held before each round): wait until bx_pump_wake, run, or unpause
 * the handle and run (curl_easy_pause belongs to the thread that runs the
 * handle; the pump calls it with the lock let go, since it may call the
 * write callback at once). */
enum { BX_PUMP_WAIT, BX_PUMP_RUN, BX_PUMP_UNPAUSE };
typedef int (*bx_pump_may_run)(void *ud);

/* Work the consumer gives the pump's thread after each round curl ran,
 * called with the lock let go (transfer.c indexes the new bytes' records
 * there: tape.h). */
typedef void (*bx_pump_after)(void *ud);

/* Starts running easy (not in any multi handle). lock is the caller's: the
 * handle's callbacks take it themselves around what they share; the pump
 * holds it only to ask may_run and to record the end. NULL when it cannot
 * start (no thread, no memory): then easy is left as it was. */
bx_pump *bx_pump_start(CURL *easy, pthread_mutex_t *lock, bx_pump_may_run may_run,
                       bx_pump_after after, void *ud);

/* Lock held: the consumer changed what may_run looks at. */
void bx_pump_wake(bx_pump *p);

/* Readable once the pump made progress since the last bx_pump_ended. */
int bx_pump_fd(const bx_pump *p);

/* Lock held: clears the descriptor; 1 and curl's result once the exchange
 * is over (the thread then has nothing left to do but exit). */
int bx_pump_ended(bx_pump *p, CURLcode *result);

/* Lock not held: stops the thread, waits for it, takes the handle out of
 * the pump's multi handle and frees the pump. The handle is the caller's. */
void bx_pump_stop(bx_pump *p);

#endif
