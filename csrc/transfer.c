/*
 * transfer.c: one HTTP exchange on the loop, built by request.c. The response
 * body goes to one of three sinks: a capped buffer (API calls), a file
 * descriptor (downloads, written from curl's callback with no Lua in
 * between), or a bounded stream buffer that pauses the transfer while the
 * consumer is behind (readers). Also its stall guard, its outcome and its
 * Lua methods.
 *
 * A stream runs on a pump (pump.c), a thread of its own, so the network is
 * read while the consumer decodes. The callbacks then run on that thread
 * under the pump's lock, and everything they touch is read here under the
 * same lock (locked()/unlocked()); the pump never ends the transfer: the
 * loop collects the end on the consumer's thread (bx_transfer_collect), so
 * finish, close and result run where every other method runs.
 */
#include "transfer.h"

#include "client.h"
#include "core.h"
#include "headers.h"
#include "loop.h"
#include "pump.h"
#include "tape.h"
#include "request.h"
#include "strbuf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdio.h>
#include <unistd.h>

#define BX_TRANSFER_MT "batchexport.transfer"
#define HEADERS_LIMIT (64 * 1024)
#define ERRBODY_LIMIT (64 * 1024)
/* What a file sink writes in one perform at most: curl would otherwise go on
 * reading a fast socket (100 buffers a call), holding its caller, an event
 * loop, for tens of milliseconds. The loop lets it go on at its next
 * perform (loop.c). */
#define FILE_BURST (2 * BX_CURL_CHUNK)

/* The most entries a stream's records index holds (tape.h), 64 bytes each. */
#define INDEX_ENTRIES 8192
/* The bytes indexed between two showings to the consumer (stream_index). */
#define INDEX_STEP (64 * 1024)

enum { T_DONE, T_RUNNING };

/* The stall guard lives here, not in loop.c: its counters are the
 * transfer's (bytes arrived, pauses of the consumer), and the loop only
 * says when to look (bx_transfer_end_if_stalled) and how long it may sleep
 * (bx_transfer_guard_ms). */
struct bx_transfer {
    int closed; /* first, as in every userdata; closed by bx_transfer_close */
    CURL *easy;
    bx_client *client;
    bx_loop *loop;  /* set while attached */
    bx_request req; /* what was asked: sink, URL shown, header lines sent */
    int state;      /* T_RUNNING, then T_DONE */
    CURLcode result;
    char errbuf[CURL_ERROR_SIZE];
    strbuf body; /* buffer sink; error pages of the others */
    char *ring;  /* stream sink: a ring of ring_cap bytes */
    size_t ring_cap, ring_start, ring_count;
    size_t ring_unshown; /* written after ring_count this round, shown once indexed */
    uint64_t ring_taken; /* stream sink: bytes the consumer took, all told */
    bx_tape *tape;       /* stream sink on a pump: its records' index, once asked for */
    int body_overflow;
    int errbody_cut;    /* an error body ended at its cap */
    int paused;         /* stream sink: consumer is behind */
    size_t paused_need; /* bytes of the chunk curl holds back */
    size_t burst;       /* file sink: bytes written this perform */
    int burst_paused;   /* file sink: held until the next perform */
    int write_errno;
    int cancelled;
    int range_ignored;       /* asked to resume, got the whole file */
    curl_off_t received;     /* body bytes of this exchange */
    long status;             /* the response's code: kept current by on_header, final at finish */
    curl_off_t arrived;      /* header and body bytes, kept or not */
    curl_off_t mark_arrived; /* arrived at the guard window's start */
    double mark_ms;          /* the window's start, bx_clock_ms() */
    double paused_at_ms;     /* when the consumer paused it; 0: not paused */
    int stalled;
    strbuf headers; /* "name\0value\0" pairs, names lower-cased */
    bx_pump *pump;  /* stream sink: the thread running the handle, until the end */
    int pumped;     /* the handle ran on a pump, not in the loop's multi handle:
                     * lock is initialised, the callbacks and readers take it */
    pthread_mutex_t lock;
};

bx_transfer *bx_checktransfer(lua_State *L, int i)
{
    return luaL_checkudata(L, i, BX_TRANSFER_MT);
}

/* Around whatever the pump's thread may be writing (see the top). */
static void locked(const bx_transfer *t)
{
    if (t->pumped)
        pthread_mutex_lock((pthread_mutex_t *)&t->lock);
}

static void unlocked(const bx_transfer *t)
{
    if (t->pumped)
        pthread_mutex_unlock((pthread_mutex_t *)&t->lock);
}

/* ---- the stall guard ---- */

/* The guard's clock stops while the consumer holds a stream paused. */
static void guard_pause(bx_transfer *t)
{
    if (t->paused_at_ms == 0)
        t->paused_at_ms = bx_clock_ms();
}

static void guard_resume(bx_transfer *t)
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
    if (t->req.guard_ms <= 0 || t->paused_at_ms != 0)
        return 0;
    if (t->arrived - t->mark_arrived >= t->req.guard_bytes) {
        t->mark_ms = now;
        t->mark_arrived = t->arrived;
        return 0;
    }
    return now - t->mark_ms >= t->req.guard_ms;
}

double bx_transfer_guard_ms(const bx_transfer *t)
{
    return t->req.guard_ms;
}

int bx_transfer_end_if_stalled(bx_transfer *t, double now_ms)
{
    int tripped;
    locked(t);
    tripped = guard_tripped(t, now_ms);
    unlocked(t);
    if (!tripped)
        return 0;
    t->stalled = 1;
    bx_transfer_finish(t, CURLE_OPERATION_TIMEDOUT);
    snprintf(t->errbuf, sizeof t->errbuf,
             "the server sent less than %ld bytes in %ld s (low_speed_limit, low_speed_time)",
             (long)t->req.guard_bytes, (long)(t->req.guard_ms / 1000));
    return 1;
}

void bx_transfer_release_burst(bx_transfer *t)
{
    t->burst = 0;
    if (t->burst_paused && t->easy) {
        t->burst_paused = 0;
        curl_easy_pause(t->easy, CURLPAUSE_CONT); /* may write at once */
    }
}

int bx_transfer_burst_held(const bx_transfer *t)
{
    return t->burst_paused;
}

/* ---- the sinks ---- */

/* The code as curl has it: read at each header line and at the end, not
 * for every chunk and record of the body (transfer_status). */
static long read_status(const bx_transfer *t)
{
    long status = 0;
    if (t->easy)
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

static long transfer_status(const bx_transfer *t)
{
    return t->easy ? t->status : 0;
}

static int is_success(long status)
{
    return status >= 200 && status < 300;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The stream ring's free bytes. */
static size_t ring_room(const bx_transfer *t)
{
    return t->ring_cap - t->ring_count - t->ring_unshown;
}

/* Appends to the stream ring (the caller checked it fits). A ring, not a
 * buffer compacted as it is read: the reader takes bytes in whatever
 * contiguous runs it gets, so nothing is ever moved. With an index, the
 * bytes are shown to the consumer only once the round's indexing is done
 * (stream_index): a consumer shown them at once would decode the records
 * the pump is about to index, each one costing it a whole scan. */
static void ring_put(bx_transfer *t, const char *p, size_t n)
{
    size_t end = (t->ring_start + t->ring_count + t->ring_unshown) % t->ring_cap;
    size_t first = t->ring_cap - end < n ? t->ring_cap - end : n;
    memcpy(t->ring + end, p, first);
    memcpy(t->ring, p + first, n - first);
    if (t->tape)
        t->ring_unshown += n;
    else
        t->ring_count += n;
}

static size_t keep_error_body(bx_transfer *t, const char *p, size_t n)
{
    size_t room = t->body.len < ERRBODY_LIMIT ? ERRBODY_LIMIT - t->body.len : 0;
    size_t saved = t->body.limit;
    t->body.limit = ERRBODY_LIMIT;
    strbuf_append(&t->body, p, n < room ? n : room);
    t->body.limit = saved;
    if (n < room)
        return n;
    t->errbody_cut = 1; /* curl ends with a write error: not a failure */
    return 0;
}

static size_t write_body(bx_transfer *t, char *ptr, size_t n)
{
    t->arrived += (curl_off_t)n;
    /* An error page never reaches a file or a record stream, and however
     * long it is only its start is worth keeping (for the error message):
     * once that is kept, end the transfer rather than drain the rest. */
    if (!is_success(transfer_status(t)))
        return keep_error_body(t, ptr, n);
    switch (t->req.sink) {
    case BX_SINK_BUFFER:
        if (strbuf_append(&t->body, ptr, n) != 0) {
            t->body_overflow = 1;
            return 0;
        }
        break;
    case BX_SINK_STREAM:
        if (t->req.resume_from > 0 && transfer_status(t) != 206) {
            t->range_ignored = 1;
            return 0;
        }
        if (n > ring_room(t)) {
            t->paused = 1;
            t->paused_need = n;
            guard_pause(t);
            return CURL_WRITEFUNC_PAUSE;
        }
        ring_put(t, ptr, n);
        /* Pause before the ring is too full for curl's next chunk rather
         * than refuse that chunk: a refused chunk is copied into a fresh
         * allocation by curl and offered again on unpause, which cost more
         * than the decoding on a fast link (an mmap of the chunk's size,
         * its pages faulted in, then unmapped). The refusal above remains
         * for a chunk larger than announced. */
        if (ring_room(t) < BX_CURL_CHUNK) {
            t->paused = 1;
            t->paused_need = BX_CURL_CHUNK;
            guard_pause(t);
            curl_easy_pause(t->easy, CURLPAUSE_RECV);
        }
        break;
    case BX_SINK_FILE:
        if (t->req.resume_from > 0 && transfer_status(t) != 206) {
            /* Appending a whole file to the part we have would corrupt it. */
            t->range_ignored = 1;
            return 0;
        }
        t->burst += n;
        if (write_all(t->req.fd, ptr, n) != 0) {
            t->write_errno = errno;
            return 0;
        }
        /* Held until the next perform once the burst is written (paused
         * here, not by refusing the next chunk, which curl would copy). */
        if (t->burst >= FILE_BURST && !t->burst_paused) {
            t->burst_paused = 1;
            curl_easy_pause(t->easy, CURLPAUSE_RECV);
        }
        break;
    }
    t->received += (curl_off_t)n;
    return n;
}

/* A callback's work, under the lock when a pump runs it (see the top). */
static size_t under_lock(void *ud, size_t (*work)(bx_transfer *, char *, size_t), char *p, size_t n)
{
    bx_transfer *t = ud;
    size_t kept;
    locked(t);
    kept = work(t, p, n);
    unlocked(t);
    return kept;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    return under_lock(ud, write_body, ptr, size * nmemb);
}

/* A resumed transfer's 206 must start at the byte it asked for. libcurl
 * checks a Content-Range it can read, but lets one with an asterisk in place
 * of the range through, and the body would then be appended at the wrong
 * place. */
static int resumed_range_ok(bx_transfer *t, const char *name, size_t name_len, const char *value,
                            size_t value_len)
{
    bx_content_range r;
    if (t->req.resume_from <= 0 || name_len != 13 || strncasecmp(name, "content-range", 13) != 0 ||
        transfer_status(t) != 206)
        return 1;
    return bx_parse_content_range(value, value_len, &r) == 0 &&
           r.first == (long long)t->req.resume_from;
}

static size_t keep_header(bx_transfer *t, char *buf, size_t n)
{
    size_t i, name_end, v, vend;
    t->arrived += (curl_off_t)n;
    t->status = read_status(t);
    if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        /* A new response (after 100 Continue, say): forget the last one's headers. */
        strbuf_reset(&t->headers);
        if (t->req.sink == BX_SINK_FILE || t->req.sink == BX_SINK_STREAM) {
            strbuf_reset(&t->body);
            t->ring_start = t->ring_count = t->ring_unshown = 0;
        }
        return n;
    }
    /* Headers are kept as "name\0value\0": a NUL inside one would shift
     * every later pair (a value could turn into a forged "location"). No
     * valid header holds one: drop it (libcurl 7.88 already fails such a
     * reply; older ones pass it on). */
    if (memchr(buf, '\0', n) != NULL)
        return n;
    for (name_end = 0; name_end < n && buf[name_end] != ':'; name_end++)
        ;
    if (name_end == 0 || name_end >= n)
        return n;
    for (v = name_end + 1; v < n && (buf[v] == ' ' || buf[v] == '\t'); v++)
        ;
    for (vend = n; vend > v && isspace((unsigned char)buf[vend - 1]); vend--)
        ;
    if (!resumed_range_ok(t, buf, name_end, buf + v, vend - v)) {
        t->range_ignored = 1;
        return 0;
    }
    if (t->headers.len + name_end + (vend - v) + 2 > t->headers.limit)
        return n; /* keep the first 64 KiB */
    for (i = 0; i < name_end; i++) {
        char ch = (char)tolower((unsigned char)buf[i]);
        strbuf_append(&t->headers, &ch, 1);
    }
    strbuf_append(&t->headers, "", 1);
    strbuf_append(&t->headers, buf + v, vend - v);
    strbuf_append(&t->headers, "", 1);
    return n;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    return under_lock(ud, keep_header, buf, size * nitems);
}

static const char *find_header(bx_transfer *t, const char *name)
{
    const char *p = t->headers.data, *end = p + t->headers.len;
    while (p && p < end) {
        const char *value = p + strlen(p) + 1;
        if (strcmp(p, name) == 0)
            return value;
        p = value + strlen(value) + 1;
    }
    return NULL;
}

/* Leaves the loop, if on one. */
static void detach(bx_transfer *t)
{
    if (t->loop == NULL)
        return;
    bx_loop_detach(t->loop, t, t->pumped ? NULL : t->easy);
    t->loop = NULL;
}

/* The pump's thread is gone once this returns: from here on only the
 * consumer's thread touches the transfer. */
static void stop_pump(bx_transfer *t)
{
    if (t->pump == NULL)
        return;
    bx_pump_stop(t->pump);
    t->pump = NULL;
}

void bx_transfer_left_loop(bx_transfer *t)
{
    detach(t);
}

/* The sink's descriptor is a duplicate of a tempfile's: the sync, once the
 * whole file is there, is tempfile:commit()'s. */
static void close_file(bx_transfer *t)
{
    if (t->req.fd < 0)
        return;
    if (close(t->req.fd) != 0 && t->write_errno == 0)
        t->write_errno = errno;
    t->req.fd = -1;
}

void bx_transfer_finish(bx_transfer *t, CURLcode result)
{
    if (t->state != T_RUNNING)
        return;
    stop_pump(t);
    t->result = result;
    t->state = T_DONE;
    t->status = read_status(t);
    /* curl answers CURLE_RANGE_ERROR to any reply to a Range request that is
     * not a 206: a 200 means the server cannot resume; an error status is
     * reported as that status. */
    if (result == CURLE_RANGE_ERROR) {
        if (is_success(transfer_status(t)))
            t->range_ignored = 1;
        else
            t->result = CURLE_OK;
    }
    detach(t);
    close_file(t);
}

void bx_transfer_close(bx_transfer *t)
{
    if (t->closed)
        return;
    if (t->state == T_RUNNING) {
        t->cancelled = 1;
        t->result = CURLE_ABORTED_BY_CALLBACK;
    }
    stop_pump(t);
    t->state = T_DONE;
    t->closed = 1;
    detach(t);
    close_file(t);
    if (t->easy) {
        curl_easy_cleanup(t->easy);
        t->easy = NULL;
    }
    if (t->client)
        bx_client_untrack(t->client, t);
    t->client = NULL;
    bx_request_free(&t->req);
    strbuf_free(&t->body);
    strbuf_free(&t->headers);
    if (t->pumped)
        pthread_mutex_destroy(&t->lock);
    t->pumped = 0;
    free(t->ring);
    t->ring = NULL;
    bx_tape_free(t->tape);
    t->tape = NULL;
    t->ring_cap = t->ring_start = t->ring_count = t->ring_unshown = 0;
}

int bx_transfer_closed(const bx_transfer *t)
{
    return t->closed;
}

int bx_transfer_is_stream(const bx_transfer *t)
{
    return t->req.sink == BX_SINK_STREAM;
}

/* The bytes handed out stay put while the pump runs: it writes only where
 * the ring is free, and consume is what frees them. */
const char *bx_transfer_peek(const bx_transfer *t, size_t *len, size_t *shown)
{
    const char *p = NULL;
    size_t run;
    *len = *shown = 0;
    locked(t);
    /* An error page is never content. */
    if (t->req.sink == BX_SINK_STREAM && t->ring != NULL && is_success(transfer_status(t))) {
        run = t->ring_cap - t->ring_start;
        *len = t->ring_count < run ? t->ring_count : run;
        *shown = t->ring_count;
        p = t->ring + t->ring_start;
    }
    if (t->tape)
        bx_tape_consumer_exchange(t->tape);
    unlocked(t);
    return p;
}

/* Lets a stream its consumer paused go on, once what the pause waits for
 * fits: the chunk curl held back, or a whole chunk after a pause from
 * on_write (each unpause makes curl offer a chunk at once). On a pump,
 * unpausing is for the pump's thread, which runs the handle (may_run). */
static int may_unpause(bx_transfer *t)
{
    return t->paused && ring_room(t) >= t->paused_need;
}

/* The pause's bookkeeping; curl is told by whoever runs the handle. */
static void clear_pause(bx_transfer *t)
{
    t->paused = 0;
    guard_resume(t);
}

static void unpause(bx_transfer *t)
{
    clear_pause(t);
    curl_easy_pause(t->easy, CURLPAUSE_CONT); /* may call on_write at once */
}

static int stream_may_run(void *ud)
{
    bx_transfer *t = ud;
    if (!t->paused)
        return BX_PUMP_RUN;
    if (!may_unpause(t))
        return BX_PUMP_WAIT;
    clear_pause(t);
    return BX_PUMP_UNPAUSE;
}

/* Shows the consumer the bytes written up to stream byte `upto`. */
static void show_upto(bx_transfer *t, uint64_t upto)
{
    uint64_t shown = t->ring_taken + t->ring_count;
    size_t more;
    if (upto <= shown)
        return;
    more = upto - shown < t->ring_unshown ? (size_t)(upto - shown) : t->ring_unshown;
    t->ring_count += more;
    t->ring_unshown -= more;
}

/* The pump's work between rounds (bx_pump_after): indexes the records of
 * the bytes it wrote, with the lock let go, since the consumer only reads
 * them and only this thread writes the ring. They are indexed and shown a
 * step at a time, each step up to the first record it could not finish:
 * a consumer that caught up waits for a step's indexing, not a round's
 * (up to a whole ring). */
static void stream_index(void *ud)
{
    bx_transfer *t = ud;
    bx_tape *tp;
    size_t at;
    uint64_t from, step, end;
    locked(t);
    tp = t->tape;
    at = t->ring_start;
    from = t->ring_taken;
    step = from + t->ring_count;
    end = step + t->ring_unshown;
    if (tp == NULL) { /* nothing held back: bytes are shown as written */
        unlocked(t);
        return;
    }
    bx_tape_producer_exchange(tp);
    unlocked(t);
    /* At least one fill, even with nothing new: bytes shown before were
     * left unindexed when the index had no room, and may have some now. */
    do {
        step = end - step > INDEX_STEP ? step + INDEX_STEP : end;
        bx_tape_fill(tp, t->ring, t->ring_cap, at, from, (size_t)(step - from));
        locked(t);
        bx_tape_producer_exchange(tp);
        show_upto(t, step < end ? bx_tape_scanned(tp) : end);
        unlocked(t);
    } while (step < end);
}

void bx_transfer_index_records(bx_transfer *t, const bx_tape_keys *keys)
{
    /* An entry for each record of a ring full of records of 128 bytes or
     * more (512 KiB for the default ring of 1 MiB, and no more for a
     * larger ring); smaller records fill it, and those past it are
     * decoded without. */
    size_t entries = t->ring_cap / 128 + 1;
    bx_tape *tp;
    if (!t->pumped || t->tape != NULL || t->req.sink != BX_SINK_STREAM)
        return;
    tp = bx_tape_new(entries < INDEX_ENTRIES ? entries : INDEX_ENTRIES, t->req.resume_from == 0,
                     keys);
    locked(t);
    t->tape = tp;
    unlocked(t);
}

const bx_tape_record *bx_transfer_record_at(bx_transfer *t, uint64_t offset)
{
    return t->tape ? bx_tape_at(t->tape, offset) : NULL;
}

uint64_t bx_transfer_taken(const bx_transfer *t)
{
    return t->ring_taken;
}

void bx_transfer_consume(bx_transfer *t, size_t n)
{
    locked(t);
    if (n > t->ring_count)
        n = t->ring_count;
    t->ring_start += n; /* n <= ring_count <= ring_cap: at most one wrap */
    if (t->ring_start >= t->ring_cap)
        t->ring_start -= t->ring_cap;
    t->ring_count -= n;
    if (t->ring_count == 0 && t->ring_unshown == 0)
        t->ring_start = 0; /* longer contiguous runs from here */
    t->ring_taken += n;
    if (t->tape)
        bx_tape_consumer_exchange(t->tape);
    if (t->state == T_RUNNING && t->easy && may_unpause(t)) {
        if (t->pump)
            bx_pump_wake(t->pump);
        else
            unpause(t);
    }
    unlocked(t);
}

int bx_transfer_wake_fd(const bx_transfer *t)
{
    return t->pump ? bx_pump_fd(t->pump) : -1;
}

int bx_transfer_collect(bx_transfer *t)
{
    CURLcode result = CURLE_OK;
    int ended;
    if (t->pump == NULL)
        return 0;
    locked(t);
    ended = bx_pump_ended(t->pump, &result);
    unlocked(t);
    if (ended)
        bx_transfer_finish(t, result);
    return ended;
}

/* What points into the transfer: curl's callbacks, its error buffer, and
 * the handle's way back to it (CURLINFO_PRIVATE, for the loop). */
static void set_callbacks(bx_transfer *t)
{
    CURL *e = t->easy;
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
}

/* A stream runs on a pump when one can start (a process out of threads
 * cannot), else on the loop as every other transfer: slower, not wrong. */
static void start_pump(bx_transfer *t, const bx_client_settings *s)
{
    if (pthread_mutex_init(&t->lock, NULL) != 0)
        return;
    t->pumped = 1; /* before the pump starts: its callbacks take the lock */
    /* The streams' share handle: the loop's holds the connection cache,
     * which libcurl does not let threads share, and has no locks. A stream
     * opens a connection of its own to storage, resuming a TLS session. */
    curl_easy_setopt(t->easy, CURLOPT_SHARE, s->stream_share);
    t->pump = bx_pump_start(t->easy, &t->lock, stream_may_run, stream_index, t);
    if (t->pump != NULL)
        return;
    curl_easy_setopt(t->easy, CURLOPT_SHARE, s->share);
    pthread_mutex_destroy(&t->lock);
    t->pumped = 0;
}

bx_transfer *bx_transfer_start(lua_State *L, int client_idx, int spec)
{
    bx_client *c = bx_checkclient(L, client_idx);
    bx_transfer *t;
    client_idx = lua_absindex(L, client_idx);
    spec = lua_absindex(L, spec);

    t = bx_newuserdata(L, sizeof *t);
    memset(t, 0, sizeof *t);
    t->closed = 1; /* nothing to free until the handle exists */
    bx_request_init(&t->req);
    strbuf_init(&t->body, 0);
    strbuf_init(&t->headers, HEADERS_LIMIT);
    luaL_setmetatable(L, BX_TRANSFER_MT);
    lua_newtable(L); /* keeps the client (and so the loop) alive */
    lua_pushvalue(L, client_idx);
    lua_setfield(L, -2, "client");
    lua_setuservalue(L, -2);

    t->easy = curl_easy_init();
    if (t->easy == NULL)
        luaL_error(L, "curl_easy_init failed");
    t->closed = 0;
    t->state = T_RUNNING;
    if (bx_client_track(c, t) != 0)
        luaL_error(L, "out of memory");
    t->client = c;
    set_callbacks(t);
    bx_request_build(L, c, spec, t->easy, &t->req);
    if (t->req.sink == BX_SINK_BUFFER) {
        t->body.limit = t->req.max_body;
    } else {
        t->body.limit = ERRBODY_LIMIT;
    }
    if (t->req.sink == BX_SINK_STREAM) {
        t->ring_cap = t->req.ring_cap;
        t->ring = malloc(t->ring_cap);
        if (t->ring == NULL)
            luaL_error(L, "out of memory");
    }
    guard_start(t);
    if (t->req.sink == BX_SINK_STREAM)
        start_pump(t, bx_client_settings_of(c));
    t->loop = bx_client_loop(c);
    if (bx_loop_attach(t->loop, t, t->pumped ? NULL : t->easy) != 0) {
        t->loop = NULL;
        luaL_error(L, "cannot add the transfer to the loop");
    }
    return t;
}

/* ---- Lua methods ---- */

static int l_done(lua_State *L)
{
    lua_pushboolean(L, bx_checktransfer(L, 1)->state != T_RUNNING);
    return 1;
}

static int l_status(lua_State *L)
{
    bx_transfer *t = bx_checktransfer(L, 1);
    long status;
    locked(t);
    status = transfer_status(t);
    unlocked(t);
    lua_pushinteger(L, status);
    return 1;
}

static int l_header(lua_State *L)
{
    bx_transfer *t = bx_checktransfer(L, 1);
    const char *name = luaL_checkstring(L, 2), *v;
    /* The copy's room is made before the lock is taken and the string after
     * it is let go (either may raise); the pump may add headers meanwhile. */
    char *copy = lua_newuserdata(L, HEADERS_LIMIT);
    size_t len = 0;
    locked(t);
    v = find_header(t, name);
    if (v) {
        len = strlen(v);
        memcpy(copy, v, len);
    }
    unlocked(t);
    if (v)
        lua_pushlstring(L, copy, len);
    else
        lua_pushnil(L);
    return 1;
}

static void push_headers(lua_State *L, bx_transfer *t)
{
    const char *p = t->headers.data, *end = p + t->headers.len;
    lua_newtable(L);
    while (p && p < end) {
        const char *value = p + strlen(p) + 1;
        lua_pushstring(L, value);
        lua_setfield(L, -2, p);
        p = value + strlen(value) + 1;
    }
}

static const char *error_kind(bx_transfer *t)
{
    switch (t->result) {
    case CURLE_OPERATION_TIMEDOUT:
        return "timeout";
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_CRL_BADFILE:
        return "tls";
    case CURLE_ABORTED_BY_CALLBACK:
        return "cancelled";
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return "config";
    default:
        return "network";
    }
}

static void push_error(lua_State *L, bx_transfer *t)
{
    long request_size = 0;
    const char *kind = error_kind(t);
    const char *msg = t->errbuf[0] ? t->errbuf : curl_easy_strerror(t->result);
    if (t->body_overflow) {
        kind = "too_large";
        msg = "response body is larger than the limit";
    } else if (t->range_ignored) {
        kind = "range_ignored";
        msg = "the server ignored the Range request, so the transfer cannot resume";
    } else if (t->write_errno) {
        kind = "write";
        msg = strerror(t->write_errno);
    } else if (t->cancelled) {
        msg = "transfer cancelled";
    }
    if (t->easy)
        curl_easy_getinfo(t->easy, CURLINFO_REQUEST_SIZE, &request_size);
    lua_createtable(L, 0, 5);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, msg);
    lua_setfield(L, -2, "message");
    lua_pushinteger(L, (lua_Integer)t->result);
    lua_setfield(L, -2, "code");
    /* Whether the server may have seen the request: decides if a POST may be retried. */
    lua_pushboolean(L, request_size > 0);
    lua_setfield(L, -2, "sent");
}

/* Whether the exchange failed, as opposed to ending with an HTTP status
 * (an error status whose body was cut at its cap included). */
static int transfer_failed(const bx_transfer *t)
{
    if (t->write_errno || t->cancelled || t->range_ignored || t->stalled)
        return 1;
    if (t->result == CURLE_WRITE_ERROR && t->errbody_cut)
        return 0;
    return t->result != CURLE_OK;
}

int bx_transfer_outcome(const bx_transfer *t)
{
    if (t->closed)
        return BX_TRANSFER_FAILED;
    if (t->state == T_RUNNING)
        return BX_TRANSFER_RUNNING;
    if (!transfer_failed(t) && is_success(transfer_status(t)))
        return BX_TRANSFER_COMPLETE;
    return BX_TRANSFER_FAILED;
}

/* transfer:result() -> {status, headers, body, error, received, reused, time, url} */
static int l_result(lua_State *L)
{
    bx_transfer *t = bx_checktransfer(L, 1);
    long connects = 1;
    double total = 0;
    if (t->state == T_RUNNING)
        return luaL_error(L, "transfer still running");
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, transfer_status(t));
    lua_setfield(L, -2, "status");
    push_headers(L, t);
    lua_setfield(L, -2, "headers");
    if (t->body.data && (t->req.sink == BX_SINK_BUFFER || !is_success(transfer_status(t)))) {
        lua_pushlstring(L, t->body.data, t->body.len);
        lua_setfield(L, -2, "body");
    }
    if (transfer_failed(t)) {
        push_error(L, t);
        lua_setfield(L, -2, "error");
    }
    lua_pushinteger(L, (lua_Integer)t->received);
    lua_setfield(L, -2, "received");
    if (t->easy) {
        curl_easy_getinfo(t->easy, CURLINFO_NUM_CONNECTS, &connects);
        curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME, &total);
    }
    lua_pushboolean(L, connects == 0);
    lua_setfield(L, -2, "reused");
    lua_pushnumber(L, total);
    lua_setfield(L, -2, "time");
    lua_pushstring(L, t->req.display_url ? t->req.display_url : "");
    lua_setfield(L, -2, "url");
    return 1;
}

/* transfer:progress() -> bytes received, bytes expected (or -1) */
static int l_progress(lua_State *L)
{
    bx_transfer *t = bx_checktransfer(L, 1);
    curl_off_t expected = -1, received;
    locked(t);
    if (t->easy)
        curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &expected);
    received = t->received;
    unlocked(t);
    lua_pushinteger(L, (lua_Integer)received);
    lua_pushinteger(L, (lua_Integer)expected);
    return 2;
}

/* transfer:pending() -> stream bytes received and not read yet (shown to
 * the reader: in the ring, and indexed when it is being indexed) */
static int l_pending(lua_State *L)
{
    size_t len, shown;
    bx_transfer_peek(bx_checktransfer(L, 1), &len, &shown);
    lua_pushinteger(L, (lua_Integer)shown);
    return 1;
}

static int l_close(lua_State *L)
{
    bx_transfer_close(luaL_checkudata(L, 1, BX_TRANSFER_MT));
    return 0;
}

static int l_tostring(lua_State *L)
{
    bx_transfer *t = luaL_checkudata(L, 1, BX_TRANSFER_MT);
    const char *url = t->req.display_url ? t->req.display_url : "?";
    lua_pushfstring(L, "batchexport.transfer (%s, %s)", url,
                    t->closed               ? "closed"
                    : t->state == T_RUNNING ? "running"
                                            : "done");
    return 1;
}

int bx_open_transfer(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"done", l_done},         {"status", l_status},
        {"header", l_header},     {"result", l_result},
        {"progress", l_progress}, {"pending", l_pending},
        {"cancel", l_close},      {NULL, NULL},
    };
    bx_newtype(L, BX_TRANSFER_MT, l_close, l_tostring, methods, NULL, NULL);
    return 0;
}
