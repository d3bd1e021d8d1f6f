/*
 * loop.c: the event loop, a curl multi handle. Every transfer of every client
 * runs on it, so one poll advances them all: a script blocks in poll(), a
 * scheduler calls perform() between its tasks, and nginx steps it between
 * ngx.sleep()s. Nothing here blocks except poll(), and only for as long as asked.
 *
 * Streams are the exception: each is received on a thread of its own (a
 * pump, pump.h), so the network is read while records are decoded. The
 * loop still counts them in flight, polls their pumps' descriptors beside
 * curl's sockets (a waiting reader wakes when bytes arrive) and collects
 * their ends, so that every transfer ends on the loop's thread.
 *
 * The loop also tells each transfer's stall guard when to look (transfer.c
 * keeps the guard: libcurl's low-speed check cannot tell a stalled server
 * from a stream its consumer holds paused), so poll() wakes at least once a
 * second while transfers are in flight.
 */
#include "loop.h"

#include "core.h"
#include "growable.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BX_LOOP_MT "batchexport.loop"
#define GUARD_WAKEUP_MS 1000 /* the longest poll while a guard runs */

/* The transfers are kept in a set of pointers, not linked through the
 * transfers: the loop owns its list, the transfer its counters. */
struct bx_loop {
    int closed; /* first: bx_checkopen, bx_close */
    CURLM *multi;
    bx_ptrset attached;       /* the transfers in flight: in the multi handle, or on a pump */
    struct curl_waitfd *wake; /* the pumps' descriptors, polled beside curl's */
    size_t wake_cap;
};

/* Ends what curl's messages do not report: each stream whose pump is over
 * (collected here, on the loop's thread), and every stalled transfer, with
 * a timeout; returns how many. Run after curl_multi_perform, so bytes a
 * slow consumer left waiting in the socket are counted before the guard
 * looks. Walks backwards: an ended transfer leaves its place to one already
 * seen. */
static int loop_guard(bx_loop *loop)
{
    double now = bx_clock_ms();
    size_t i = loop->attached.n;
    int ended = 0;
    while (i-- > 0) {
        bx_transfer *t = loop->attached.items[i];
        if (bx_transfer_collect(t))
            ended++;
        else
            ended += bx_transfer_end_if_stalled(t, now);
    }
    return ended;
}

/* How long a poll may wait and still let the guards see a stall in time. */
static int guard_wakeup_ms(bx_loop *loop)
{
    int ms = GUARD_WAKEUP_MS;
    size_t i;
    for (i = 0; i < loop->attached.n; i++) {
        double guard = bx_transfer_guard_ms(loop->attached.items[i]);
        if (guard > 0 && guard / 4 < ms)
            ms = guard / 4 > 10 ? (int)(guard / 4) : 10;
    }
    return ms;
}

bx_loop *bx_checkloop(lua_State *L, int i)
{
    return bx_checkopen(L, i, BX_LOOP_MT, "loop");
}

int bx_loop_attach(bx_loop *loop, bx_transfer *t, CURL *easy)
{
    if (loop->closed || bx_ptrset_add(&loop->attached, t) != 0)
        return -1;
    if (easy != NULL && curl_multi_add_handle(loop->multi, easy) != CURLM_OK) {
        bx_ptrset_remove(&loop->attached, t);
        return -1;
    }
    return 0;
}

void bx_loop_detach(bx_loop *loop, bx_transfer *t, CURL *easy)
{
    if (easy != NULL)
        curl_multi_remove_handle(loop->multi, easy);
    bx_ptrset_remove(&loop->attached, t);
}

/* Hands every finished exchange its result; returns how many finished. */
static int loop_collect(bx_loop *loop)
{
    CURLMsg *msg;
    int left, finished = 0;
    while ((msg = curl_multi_info_read(loop->multi, &left)) != NULL) {
        bx_transfer *t = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        if (t == NULL)
            continue;
        bx_transfer_finish(t, msg->data.result);
        finished++;
    }
    return finished;
}

/* The pumps' descriptors, for curl_multi_poll; how many (0 when memory is
 * short: then the poll waits for curl's sockets and the guard's wake-up
 * only, which is slower, not wrong). */
static unsigned loop_wake_fds(bx_loop *loop)
{
    size_t i;
    unsigned n = 0;
    for (i = 0; i < loop->attached.n; i++) {
        int fd = bx_transfer_wake_fd(loop->attached.items[i]);
        struct curl_waitfd *grown;
        if (fd < 0)
            continue;
        grown = bx_grow(loop->wake, &loop->wake_cap, n + 1, sizeof *loop->wake, 4);
        if (grown == NULL)
            return 0;
        loop->wake = grown;
        loop->wake[n].fd = fd;
        loop->wake[n].events = CURL_WAIT_POLLIN;
        loop->wake[n].revents = 0;
        n++;
    }
    return n;
}

/* Lets the file sinks held at their burst (transfer.c) write again. */
static void loop_release_bursts(bx_loop *loop)
{
    size_t i;
    for (i = 0; i < loop->attached.n; i++)
        bx_transfer_release_burst(loop->attached.items[i]); /* may write at once */
}

/* Whether a file sink waits for the next perform: then a poll must not
 * wait, curl ignoring that transfer's socket meanwhile. */
static int loop_bursts_held(bx_loop *loop)
{
    size_t i;
    for (i = 0; i < loop->attached.n; i++)
        if (bx_transfer_burst_held(loop->attached.items[i]))
            return 1;
    return 0;
}

static int loop_perform(lua_State *L, bx_loop *loop)
{
    int running = 0, finished;
    CURLMcode rc;
    loop_release_bursts(loop);
    rc = curl_multi_perform(loop->multi, &running);
    if (rc != CURLM_OK)
        return luaL_error(L, "curl_multi_perform: %s", curl_multi_strerror(rc));
    finished = loop_collect(loop);
    finished += loop_guard(loop);
    lua_pushinteger(L, (lua_Integer)loop->attached.n);
    lua_pushinteger(L, finished);
    lua_pushboolean(L, loop_bursts_held(loop));
    return 3;
}

/* loop:perform() -> transfers still in flight, transfers that just finished,
 * whether a file sink has more to write at once (a next perform should not
 * wait). Never waits. */
static int l_perform(lua_State *L)
{
    return loop_perform(L, bx_checkloop(L, 1));
}

/* loop:poll(seconds) waits at most that long for network activity (or for the
 * time to pass when nothing is in flight, so it doubles as a sleep), then
 * performs. */
static int l_poll(lua_State *L)
{
    bx_loop *loop = bx_checkloop(L, 1);
    double seconds = luaL_optnumber(L, 2, 0);
    int ms, numfds = 0;
    CURLMcode rc;
    if (!(seconds > 0))
        ms = 0;
    else if (seconds > 86400)
        ms = 86400 * 1000;
    else
        ms = (int)ceil(seconds * 1000);
    if (loop->attached.n > 0 && ms > guard_wakeup_ms(loop))
        ms = guard_wakeup_ms(loop);
    if (loop_bursts_held(loop))
        ms = 0;
    if (ms > 0) {
        rc = curl_multi_poll(loop->multi, loop->wake, loop_wake_fds(loop), ms, &numfds);
        if (rc != CURLM_OK)
            return luaL_error(L, "curl_multi_poll: %s", curl_multi_strerror(rc));
    }
    return loop_perform(L, loop);
}

static int l_count(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)bx_checkloop(L, 1)->attached.n);
    return 1;
}

static void loop_release(lua_State *L, void *obj)
{
    bx_loop *loop = obj;
    (void)L;
    while (loop->attached.n > 0)
        bx_transfer_left_loop(loop->attached.items[loop->attached.n - 1]);
    bx_ptrset_free(&loop->attached);
    free(loop->wake);
    loop->wake = NULL;
    curl_multi_cleanup(loop->multi);
    loop->multi = NULL;
}

/* The transfers left are told they are off the loop: they outlive it only
 * when the state closes, which collects in any order. */
static int l_close(lua_State *L)
{
    return bx_close(L, BX_LOOP_MT, loop_release);
}

static int l_tostring(lua_State *L)
{
    bx_loop *loop = luaL_checkudata(L, 1, BX_LOOP_MT);
    return bx_push_summary(L, BX_LOOP_MT, (lua_Integer)loop->attached.n, "transfers",
                           loop->closed ? "closed" : NULL);
}

static int l_new(lua_State *L)
{
    bx_loop *loop = bx_newuserdata(L, sizeof *loop);
    memset(loop, 0, sizeof *loop);
    loop->closed = 1; /* until it holds its handle */
    luaL_setmetatable(L, BX_LOOP_MT);
    loop->multi = curl_multi_init();
    if (loop->multi == NULL)
        return luaL_error(L, "curl_multi_init failed");
    loop->closed = 0;
    return 1;
}

int bx_open_loop(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"perform", l_perform}, {"poll", l_poll}, {"count", l_count}, {NULL, NULL}};
    bx_newtype(L, BX_LOOP_MT, l_close, l_tostring, methods, "loop", l_new);
    return 0;
}
