/*
 * offthread.h: one piece of blocking work (disk syncs, a rename; a stream's
 * pump, pump.c) run on a thread of its own, so that an event loop keeps
 * turning meanwhile; the loop asks whether it is over and collects it. No
 * Lua, no curl.
 */
#ifndef BX_OFFTHREAD_H
#define BX_OFFTHREAD_H

typedef struct bx_offthread bx_offthread;

/* Starts fn(arg) on a new thread; NULL (errno set) if none could start. */
bx_offthread *bx_offthread_start(void (*fn)(void *), void *arg);

/* Whether fn has returned; never blocks. */
int bx_offthread_done(bx_offthread *t);

/* Waits for fn to return, then frees t. */
void bx_offthread_join(bx_offthread *t);

#endif
