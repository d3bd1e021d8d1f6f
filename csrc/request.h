/*
 * request.h: a Lua request table turned into curl options on an easy handle,
 * and what the transfer keeps of it (its sink, the URL it may show, the header
 * lines it must wipe). Every security rule of a request lives in request.c.
 */
#ifndef BX_REQUEST_H
#define BX_REQUEST_H

#include <curl/curl.h>

#include "client.h"
#include "compat.h"

/* curl's receive buffer for files and streams: one chunk a write callback. */
#define BX_CURL_CHUNK (256 * 1024)

enum { BX_SINK_BUFFER, BX_SINK_FILE, BX_SINK_STREAM };

typedef struct bx_request {
    int sink;               /* BX_SINK_* */
    size_t max_body;        /* buffer sink: the body's cap */
    size_t ring_cap;        /* stream sink: the size of its buffer */
    int fd;                 /* file sink: a duplicate of the tempfile's, or -1 */
    curl_off_t resume_from; /* file and stream sinks: bytes already had */
    /* The stall guard: fewer than guard_bytes in guard_ms of time not
     * paused by the consumer ends the transfer. 0 ms: no guard. */
    double guard_ms;
    curl_off_t guard_bytes;
    struct curl_slist *headers; /* may hold secrets: wiped when freed */
    char *display_url;          /* the URL with secrets shown as *** */
} bx_request;

void bx_request_init(bx_request *r);
/* Sets easy's options from the request table at index spec for client c
 * and fills r; raises on bad input (r keeps what it took, for
 * bx_request_free). Credentials go only to c's base_url origin. */
void bx_request_build(lua_State *L, bx_client *c, int spec, CURL *easy, bx_request *r);
/* Frees what r holds and closes its descriptor; idempotent. */
void bx_request_free(bx_request *r);

#endif
