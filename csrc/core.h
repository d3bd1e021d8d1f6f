/*
 * core.h: the types the userdata files share. Each userdata lives in its own
 * file: loop.c (the curl multi handle every transfer runs on), client.c
 * (credentials, TLS and timeout settings, the share handle that keeps
 * connections, DNS and TLS sessions), transfer.c (one HTTP exchange), pager.c
 * (list pagination state), tempfile.c (the temporary file of an atomic save).
 */
#ifndef BX_CORE_H
#define BX_CORE_H

#include <curl/curl.h>
#include "compat.h"
#include "strbuf.h"
#include "url.h"

#define BX_LOOP_MT     "batchexport.loop"
#define BX_CLIENT_MT   "batchexport.client"
#define BX_TRANSFER_MT "batchexport.transfer"
#define BX_PAGER_MT    "batchexport.pager"
#define BX_TEMPFILE_MT "batchexport.tempfile"

typedef struct bx_loop bx_loop;
typedef struct bx_client bx_client;
typedef struct bx_transfer bx_transfer;

struct bx_loop {
    CURLM *multi;
    bx_transfer *attached;      /* transfers in the multi handle now */
    int nattached;
};

struct bx_client {
    CURLSH *share;
    bx_loop *loop;
    bx_transfer *transfers;     /* every open transfer made by this client */
    char *rest_key, *project_key, *api_key;
    char *base_url;             /* normalized by the Lua layer: no trailing slash */
    bx_url origin;              /* base_url parsed: the one origin credentials go to */
    struct curl_slist *v2_auth, *legacy_auth;   /* header lines holding secrets */
    char *user_agent, *proxy, *ca_file;
    long connect_timeout_ms, timeout_ms, low_speed_limit, low_speed_time;
    int ssl_verify;
    size_t max_body;
    int closed;
};

enum { BX_SINK_BUFFER, BX_SINK_FILE, BX_SINK_STREAM };
enum { BX_T_RUNNING, BX_T_DONE, BX_T_CLOSED };

struct bx_transfer {
    CURL *easy;
    bx_client *client;
    bx_loop *loop;                          /* set while attached */
    bx_transfer *loop_prev, *loop_next;
    bx_transfer *client_prev, *client_next;
    int state;
    CURLcode result;
    char errbuf[CURL_ERROR_SIZE];
    int sink;
    strbuf body;                            /* buffer sink; error pages of the others */
    char *ring;                             /* stream sink: a ring of ring_cap bytes */
    size_t ring_cap, ring_start, ring_count;
    int body_overflow;
    int errbody_cut;                        /* an error body ended at its cap */
    int paused;                             /* stream sink: consumer is behind */
    size_t paused_need;                     /* bytes of the chunk curl holds back */
    int fd;                                 /* file sink */
    size_t burst;                           /* file sink: bytes written this perform */
    int burst_paused;                       /* file sink: held until the next perform */
    int write_errno;
    int cancelled;
    curl_off_t resume_from;                 /* file sink: bytes already on disk */
    int range_ignored;                      /* asked to resume, got the whole file */
    curl_off_t received;                    /* body bytes of this exchange */
    /* The stall guard (loop.c): fewer than guard_bytes in guard_ms of time
     * not paused by the consumer ends the transfer with a timeout. */
    double guard_ms;                        /* 0: no guard */
    curl_off_t guard_bytes;
    curl_off_t arrived;                     /* header and body bytes, kept or not */
    curl_off_t mark_arrived;                /* arrived at the window's start */
    double mark_ms;                         /* the window's start, bx_clock_ms() */
    double paused_at_ms;                    /* when the consumer paused it; 0: not paused */
    int stalled;
    strbuf headers;                         /* "name\0value\0" pairs, names lower-cased */
    struct curl_slist *req_headers;         /* may hold secrets: wiped */
    char *display_url;                      /* the URL with secrets shown as *** */
};

/* loop.c */
double bx_clock_ms(void);
/* The stall guard's clock stops while the consumer holds a stream paused. */
void bx_guard_pause(bx_transfer *t);
void bx_guard_resume(bx_transfer *t);
bx_loop *bx_checkloop(lua_State *L, int i);
int bx_loop_attach(bx_loop *loop, bx_transfer *t);
void bx_loop_detach(bx_transfer *t);
int bx_open_loop(lua_State *L);

/* client.c */
void bx_free_secret_headers(struct curl_slist *l);
bx_client *bx_checkclient(lua_State *L, int i);
int bx_open_client(lua_State *L);

/* transfer.c */
bx_transfer *bx_checktransfer(lua_State *L, int i);
/* Pushes a new transfer built from the request table at index spec; raises on bad input. */
bx_transfer *bx_transfer_start(lua_State *L, int client_idx, int spec_idx);
void bx_transfer_finish(bx_transfer *t, CURLcode result);
void bx_transfer_close(bx_transfer *t);
/* Stream sink: the bytes buffered so far, and how many the consumer took. */
const char *bx_transfer_peek(bx_transfer *t, size_t *len);
void bx_transfer_consume(bx_transfer *t, size_t n);
int bx_open_transfer(lua_State *L);

/* tempfile.c */
/* A descriptor the file sink writes to: a duplicate of the tempfile's at
 * index i (truncated first unless append); raises on anything else. */
int bx_tempfile_sink_fd(lua_State *L, int i, int append);
int bx_open_tempfile(lua_State *L);

/* pager.c */
int bx_open_pager(lua_State *L);

/* core.c */
void bx_pushescaped(lua_State *L, const char *s, size_t n);
int bx_push_errno(lua_State *L, const char *what, const char *path);

/* jsonvalue.c: building Lua values from JSON */
#define BX_JSON_KEYS 512        /* key strings remembered by position */
#define BX_JSON_TABLES 128      /* table sizes remembered by position */

typedef struct bx_fields bx_fields;     /* a projection: core.fields(list) */

typedef struct bx_jsonbuild {
    char *scratch;              /* where escaped strings are decoded */
    size_t scratch_cap;
    int own_scratch;            /* malloc'ed and grown here (else fixed) */
    int keys_ref;               /* registry: the key strings below, kept alive */
    const char *key[BX_JSON_KEYS];
    size_t key_len[BX_JSON_KEYS];
    int size[BX_JSON_TABLES];
    int null_record;            /* the value just built was a JSON null */
} bx_jsonbuild;

void bx_jsonbuild_init(bx_jsonbuild *b);
void bx_jsonbuild_keep_layout(lua_State *L, bx_jsonbuild *b);
void bx_jsonbuild_free(lua_State *L, bx_jsonbuild *b);
/* Builds the value at p: the record (f NULL), its listed fields in a table
 * (f, !values) or as f's count of values (values). Returns the count of
 * values pushed; 0 when !whole and the value goes on past len; -1 on an
 * error, with *err a JSONDECODE_ERR_* code. *used: the value's length, or
 * where it stopped. Leaves the stack as it was unless it succeeds. */
int bx_json_push(lua_State *L, bx_jsonbuild *b, const bx_fields *f, int values,
                 const char *p, size_t len, int whole, size_t *used, int *err);
const bx_fields *bx_checkfields(lua_State *L, int i);
int bx_open_jsonvalue(lua_State *L);

/* reader.c */
int bx_open_reader(lua_State *L);

/* terminal.c: isatty, terminal width, echo, private folders and files */
int bx_open_terminal(lua_State *L);

/* digest.c: core.digest(), a file's sha256, size and record count, streamed. */
int bx_open_digest(lua_State *L);

#endif
