/*
 * offthread.c: see offthread.h. The done flag is read under a mutex: C99
 * has no atomics, and a poll every millisecond or so costs nothing.
 */
#include "offthread.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

struct bx_offthread {
    pthread_t thread;
    pthread_mutex_t lock;
    int done;
    void (*fn)(void *);
    void *arg;
};

static void *run(void *p)
{
    bx_offthread *t = p;
#ifdef __linux__
    /* Told apart from the caller's thread in top -H, perf, gdb. */
    prctl(PR_SET_NAME, "batchexport", 0, 0, 0);
#endif
    t->fn(t->arg);
    pthread_mutex_lock(&t->lock);
    t->done = 1;
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

/* The thread starts with every signal blocked (it inherits the mask in
 * force when it is made): a signal meant for the process, Ctrl-C in a
 * script, goes to the caller's thread, whose handlers expect it there. */
static int start_thread(bx_offthread *t)
{
    sigset_t all, was;
    int rc;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &was);
    rc = pthread_create(&t->thread, NULL, run, t);
    pthread_sigmask(SIG_SETMASK, &was, NULL);
    return rc;
}

bx_offthread *bx_offthread_start(void (*fn)(void *), void *arg)
{
    bx_offthread *t = calloc(1, sizeof *t);
    int rc;
    if (t == NULL)
        return NULL;
    t->fn = fn;
    t->arg = arg;
    if (pthread_mutex_init(&t->lock, NULL) != 0) {
        free(t);
        errno = ENOMEM;
        return NULL;
    }
    rc = start_thread(t);
    if (rc != 0) {
        pthread_mutex_destroy(&t->lock);
        free(t);
        errno = rc;
        return NULL;
    }
    return t;
}

int bx_offthread_done(bx_offthread *t)
{
    int done;
    pthread_mutex_lock(&t->lock);
    done = t->done;
    pthread_mutex_unlock(&t->lock);
    return done;
}

void bx_offthread_join(bx_offthread *t)
{
    pthread_join(t->thread, NULL);
    pthread_mutex_destroy(&t->lock);
    free(t);
}
