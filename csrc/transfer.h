/*
 * transfer.h: one HTTP exchange on the loop (transfer.c), and what the loop,
 * the client and the reader may ask of it.
 */
#ifndef BX_TRANSFER_H
#define BX_TRANSFER_H

#include <curl/curl.h>

#include "compat.h"
#include "tape.h"

typedef struct bx_transfer bx_transfer;

/* Where a transfer is, for whoever reads its bytes. */
enum { BX_TRANSFER_RUNNING, BX_TRANSFER_COMPLETE, BX_TRANSFER_FAILED };

bx_transfer *bx_checktransfer(lua_State *L, int i);
/* Pushes a new transfer built from the request table at index spec (see
 * request.h), running on its client's loop; raises on bad input. */
bx_transfer *bx_transfer_start(lua_State *L, int client_idx, int spec_idx);
void bx_transfer_close(bx_transfer *t);

/* The reader's side: a stream sink's bytes and how the exchange ended
 * (COMPLETE: a 2xx answer, whole; a closed transfer has FAILED). */
int bx_transfer_is_stream(const bx_transfer *t);
int bx_transfer_closed(const bx_transfer *t);
int bx_transfer_outcome(const bx_transfer *t);
/* The bytes shown to the consumer: the first contiguous run of them
 * (*len), and how many there are in all (*shown: the run and those past
 * the ring's end). Both this and bx_transfer_consume also bring the
 * consumer's side of the records index up to date. */
const char *bx_transfer_peek(const bx_transfer *t, size_t *len, size_t *shown);
void bx_transfer_consume(bx_transfer *t, size_t n);
/* The stream's bytes the consumer took so far: the stream offset of what
 * bx_transfer_peek shows first. */
uint64_t bx_transfer_taken(const bx_transfer *t);
/* Asks the stream's pump to index the records it receives, for keys
 * (tape.h): a consumer that reads plain JSON for a few fields asks, once.
 * Nothing without a pump. */
void bx_transfer_index_records(bx_transfer *t, const bx_tape_keys *keys);
/* The index's entry for a record starting at stream offset `offset`, or
 * NULL; records are asked for in the stream's order. */
const bx_tape_record *bx_transfer_record_at(bx_transfer *t, uint64_t offset);

/* The loop's side. finish: curl's result is in. The stall guard lives with
 * the transfer's counters; the loop only says when to look. */
void bx_transfer_finish(bx_transfer *t, CURLcode result);
void bx_transfer_left_loop(bx_transfer *t);
double bx_transfer_guard_ms(const bx_transfer *t);
int bx_transfer_end_if_stalled(bx_transfer *t, double now_ms);
void bx_transfer_release_burst(bx_transfer *t);
/* A stream runs on a pump (pump.h): the descriptor that turns readable
 * when it made progress (-1 for the others), and the collection of its end
 * (1 when it just finished). */
int bx_transfer_wake_fd(const bx_transfer *t);
int bx_transfer_collect(bx_transfer *t);
int bx_transfer_burst_held(const bx_transfer *t);

int bx_open_transfer(lua_State *L);

#endif
