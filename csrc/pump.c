/*
 * pump.c: see pump.h. The thread takes the lock only to ask may_run and to
 * record what curl said, never while curl reads the network: the consumer
 * takes the same lock for every run of bytes it reads, and must not wait
 * behind a recv. Progress is told through a pipe, one byte at most in it,
 * so an event loop can wait for the network and for pumps in one poll.
 */
#include "pump.h"

#include "offthread.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

/* The longest the thread sleeps in poll with nothing to do: curl's own
 * timers (connect, timeouts) wake it sooner. */
#define POLL_MS 1000

struct bx_pump {
    bx_offthread *thread;
    pthread_mutex_t *lock; /* the consumer's */
    pthread_cond_t cond;
    CURLM *multi;
    CURL *easy;
    bx_pump_may_run may_run;
    bx_pump_after after;
    void *ud;
    int fds[2];    /* the progress pipe: read end, write end */
    int signalled; /* a byte is in the pipe */
    int stop;      /* the consumer wants the thread gone */
    int ended;     /* curl's result is in */
    CURLcode result;
};

static void tell(bx_pump *p)
{
    char byte = 1;
    if (p->signalled)
        return;
    /* The pipe is empty (signalled is clear), so a write cannot block; one
     * lost to a signal is tried again. */
    while (write(p->fds[1], &byte, 1) < 0 && errno == EINTR)
        ;
    p->signalled = 1;
}

static void collect(bx_pump *p)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(p->multi, &left)) != NULL) {
        if (msg->msg == CURLMSG_DONE) {
            p->result = msg->data.result;
            p->ended = 1;
        }
    }
}

/* Each round waits for the network (curl's timers shorten the wait: a new
 * handle's is zero), or unpauses the handle when the consumer made room,
 * then lets curl run it. A handle paused by its write callback waits on
 * the condition variable instead, until the consumer made room or stops. */
static void run(void *arg)
{
    bx_pump *p = arg;
    pthread_mutex_lock(p->lock);
    while (!p->stop && !p->ended) {
        int go = p->may_run(p->ud), running = 0;
        CURLMcode rc;
        if (go == BX_PUMP_WAIT) {
            pthread_cond_wait(&p->cond, p->lock);
            continue;
        }
        pthread_mutex_unlock(p->lock);
        if (go == BX_PUMP_UNPAUSE)
            curl_easy_pause(p->easy, CURLPAUSE_CONT); /* may write at once */
        else
            curl_multi_poll(p->multi, NULL, 0, POLL_MS, NULL);
        rc = curl_multi_perform(p->multi, &running);
        p->after(p->ud);
        pthread_mutex_lock(p->lock);
        if (rc != CURLM_OK) {
            p->result = CURLE_OUT_OF_MEMORY; /* the multi handle failed as a whole */
            p->ended = 1;
        }
        collect(p);
        tell(p);
    }
    tell(p);
    pthread_mutex_unlock(p->lock);
}

static int open_pipe(int fds[2])
{
    int i;
    if (pipe(fds) != 0)
        return -1;
    for (i = 0; i < 2; i++) {
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
    }
    return 0;
}

/* Takes the pump's resources in order; returns how many it holds (all:
 * TAKEN), so that pump_free gives back exactly those. */
enum { TAKEN = 5 };

static int pump_take(bx_pump *p)
{
    if (pthread_cond_init(&p->cond, NULL) != 0)
        return 0;
    if (open_pipe(p->fds) != 0)
        return 1;
    if ((p->multi = curl_multi_init()) == NULL)
        return 2;
    if (curl_multi_add_handle(p->multi, p->easy) != CURLM_OK)
        return 3;
    if ((p->thread = bx_offthread_start(run, p)) == NULL)
        return 4;
    return TAKEN;
}

/* Gives back the first `held` resources, in reverse, then the pump. */
static void pump_free(bx_pump *p, int held)
{
    switch (held) {
    case TAKEN:
    case 4:
        curl_multi_remove_handle(p->multi, p->easy);
        /* fall through */
    case 3:
        curl_multi_cleanup(p->multi);
        /* fall through */
    case 2:
        close(p->fds[0]);
        close(p->fds[1]);
        /* fall through */
    case 1:
        pthread_cond_destroy(&p->cond);
        /* fall through */
    default:
        free(p);
    }
}

bx_pump *bx_pump_start(CURL *easy, pthread_mutex_t *lock, bx_pump_may_run may_run,
                       bx_pump_after after, void *ud)
{
    bx_pump *p = calloc(1, sizeof *p);
    int held;
    if (p == NULL)
        return NULL;
    p->easy = easy;
    p->lock = lock;
    p->may_run = may_run;
    p->after = after;
    p->ud = ud;
    held = pump_take(p);
    if (held == TAKEN)
        return p;
    pump_free(p, held);
    return NULL;
}

void bx_pump_wake(bx_pump *p)
{
    pthread_cond_signal(&p->cond);
}

int bx_pump_fd(const bx_pump *p)
{
    return p->fds[0];
}

int bx_pump_ended(bx_pump *p, CURLcode *result)
{
    char buf[16];
    if (p->signalled) {
        while (read(p->fds[0], buf, sizeof buf) > 0)
            ;
        p->signalled = 0;
    }
    if (p->ended)
        *result = p->result;
    return p->ended;
}

void bx_pump_stop(bx_pump *p)
{
    pthread_mutex_lock(p->lock);
    p->stop = 1;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(p->lock);
    curl_multi_wakeup(p->multi); /* out of its poll at once */
    bx_offthread_join(p->thread);
    pump_free(p, TAKEN);
}
