/*
 * loop.c: the event loop, a curl multi handle. Every transfer of every client
 * runs on it, so one poll advances them all: a script blocks in poll(), a
 * scheduler calls perform() between its tasks, and nginx steps it between
 * ngx.sleep()s. Nothing here blocks except poll(), and only for as long as asked.
 *
 * The loop also runs every transfer's stall guard (libcurl's low-speed check
 * cannot tell a stalled server from a stream its consumer holds paused), so
 * poll() wakes at least once a second while transfers are in flight.
 */
#include "core.h"

#include <math.h>
#include <stdio.h>
#include <time.h>

#define GUARD_WAKEUP_MS 1000            /* the longest poll while a guard runs */

double bx_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void bx_guard_pause(bx_transfer *t)
{
    if (t->paused_at_ms == 0)
        t->paused_at_ms = bx_clock_ms();
}

void bx_guard_resume(bx_transfer *t)
{
    if (t->paused_at_ms != 0) {
        t->mark_ms += bx_clock_ms() - t->paused_at_ms;
        t->paused_at_ms = 0;
    }
}

static void guard_start(bx_transfer *t)
{
    t->mark_ms = bx_clock_ms();
    t->mark_arrived = t->arrived;
    t->paused_at_ms = 0;
}

/* Whether the transfer went guard_ms of time it was not paused by its
 * consumer without guard_bytes arriving. Each window that saw enough bytes
 * starts the next one. */
static int guard_tripped(bx_transfer *t, double now)
{
    if (t->guard_ms <= 0 || t->paused_at_ms != 0)
        return 0;
    if (t->arrived - t->mark_arrived >= t->guard_bytes) {
        t->mark_ms = now;
        t->mark_arrived = t->arrived;
        return 0;
    }
    return now - t->mark_ms >= t->guard_ms;
}

/* Ends every stalled transfer with a timeout; returns how many. Run after
 * curl_multi_perform, so bytes a slow consumer left waiting in the socket
 * are counted before the guard looks. */
static int loop_guard(bx_loop *loop)
{
    double now = bx_clock_ms();
    bx_transfer *t, *next;
    int ended = 0;
    for (t = loop->attached; t; t = next) {
        next = t->loop_next;
        if (!guard_tripped(t, now))
            continue;
        t->stalled = 1;
        bx_transfer_finish(t, CURLE_OPERATION_TIMEDOUT);
        snprintf(t->errbuf, sizeof t->errbuf,
                 "the server sent less than %ld bytes in %ld s (low_speed_limit, low_speed_time)",
                 (long)t->guard_bytes, (long)(t->guard_ms / 1000));
        ended++;
    }
    return ended;
}

/* How long a poll may wait and still let the guards see a stall in time. */
static int guard_wakeup_ms(bx_loop *loop)
{
    int ms = GUARD_WAKEUP_MS;
    bx_transfer *t;
    for (t = loop->attached; t; t = t->loop_next)
        if (t->guard_ms > 0 && t->guard_ms / 4 < ms)
            ms = t->guard_ms / 4 > 10 ? (int)(t->guard_ms / 4) : 10;
    return ms;
}

bx_loop *bx_checkloop(lua_State *L, int i)
{
    bx_loop *loop = luaL_checkudata(L, i, BX_LOOP_MT);
    if (loop->multi == NULL)
        luaL_argerror(L, i, "loop is closed");
    return loop;
}

int bx_loop_attach(bx_loop *loop, bx_transfer *t)
{
    if (curl_multi_add_handle(loop->multi, t->easy) != CURLM_OK)
        return -1;
    t->loop = loop;
    guard_start(t);
    t->loop_prev = NULL;
    t->loop_next = loop->attached;
    if (loop->attached)
        loop->attached->loop_prev = t;
    loop->attached = t;
    loop->nattached++;
    return 0;
}

void bx_loop_detach(bx_transfer *t)
{
    bx_loop *loop = t->loop;
    if (loop == NULL)
        return;
    curl_multi_remove_handle(loop->multi, t->easy);
    if (t->loop_prev)
        t->loop_prev->loop_next = t->loop_next;
    else
        loop->attached = t->loop_next;
    if (t->loop_next)
        t->loop_next->loop_prev = t->loop_prev;
    t->loop = NULL;
    t->loop_prev = t->loop_next = NULL;
    loop->nattached--;
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

/* Lets the file sinks held at their burst (transfer.c) write again. */
static void loop_release_bursts(bx_loop *loop)
{
    bx_transfer *t;
    for (t = loop->attached; t; t = t->loop_next) {
        t->burst = 0;
        if (t->burst_paused && t->easy) {
            t->burst_paused = 0;
            curl_easy_pause(t->easy, CURLPAUSE_CONT);   /* may write at once */
        }
    }
}

/* Whether a file sink waits for the next perform: then a poll must not
 * wait, curl ignoring that transfer's socket meanwhile. */
static int loop_bursts_held(bx_loop *loop)
{
    bx_transfer *t;
    for (t = loop->attached; t; t = t->loop_next)
        if (t->burst_paused)
            return 1;
    return 0;
}

static int loop_perform(lua_State *L, bx_loop *loop)
{
    int running = 0;
    CURLMcode rc;
    loop_release_bursts(loop);
    rc = curl_multi_perform(loop->multi, &running);
    if (rc != CURLM_OK)
        return luaL_error(L, "curl_multi_perform: %s", curl_multi_strerror(rc));
    int finished = loop_collect(loop);
    finished += loop_guard(loop);
    lua_pushinteger(L, loop->nattached);
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
    if (loop->nattached > 0 && ms > guard_wakeup_ms(loop))
        ms = guard_wakeup_ms(loop);
    if (loop_bursts_held(loop))
        ms = 0;
    if (ms > 0) {
        rc = curl_multi_poll(loop->multi, NULL, 0, ms, &numfds);
        if (rc != CURLM_OK)
            return luaL_error(L, "curl_multi_poll: %s", curl_multi_strerror(rc));
    }
    return loop_perform(L, loop);
}

static int l_count(lua_State *L)
{
    lua_pushinteger(L, bx_checkloop(L, 1)->nattached);
    return 1;
}

static int l_gc(lua_State *L)
{
    bx_loop *loop = luaL_checkudata(L, 1, BX_LOOP_MT);
    if (loop->multi == NULL)
        return 0;
    while (loop->attached)
        bx_loop_detach(loop->attached);
    curl_multi_cleanup(loop->multi);
    loop->multi = NULL;
    return 0;
}

static int l_tostring(lua_State *L)
{
    bx_loop *loop = luaL_checkudata(L, 1, BX_LOOP_MT);
    lua_pushfstring(L, "batchexport.loop (%d transfers%s)", loop->nattached,
                    loop->multi ? "" : ", closed");
    return 1;
}

static int l_new(lua_State *L)
{
    bx_loop *loop = bx_newuserdata(L, sizeof *loop);
    loop->multi = NULL;
    loop->attached = NULL;
    loop->nattached = 0;
    luaL_setmetatable(L, BX_LOOP_MT);
    loop->multi = curl_multi_init();
    if (loop->multi == NULL)
        return luaL_error(L, "curl_multi_init failed");
    return 1;
}

int bx_open_loop(lua_State *L)
{
    static const luaL_Reg meta[] = {
        {"__gc", l_gc}, {"__close", l_gc}, {"__tostring", l_tostring}, {NULL, NULL}
    };
    static const luaL_Reg methods[] = {
        {"perform", l_perform}, {"poll", l_poll},
        {"count", l_count}, {"close", l_gc}, {NULL, NULL}
    };
    bx_newclass(L, BX_LOOP_MT, meta, methods);
    lua_pushcfunction(L, l_new);
    lua_setfield(L, -2, "loop");
    return 0;
}
