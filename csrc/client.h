/*
 * client.h: the client userdata (client.c): one user's credentials and
 * connection settings, shared by every request it makes.
 */
#ifndef BX_CLIENT_H
#define BX_CLIENT_H

#include <curl/curl.h>

#include "compat.h"
#include "loop.h"
#include "url.h"

typedef struct bx_client bx_client;

/* What a request reads of its client (request.c); set by core.client and
 * never changed after. The secrets stay in C memory and are wiped. */
typedef struct bx_client_settings {
    CURLSH *share;        /* connections, DNS answers, TLS sessions: the loop's */
    CURLSH *stream_share; /* DNS answers, TLS sessions: the streams', locked */
    const char *api_key;  /* the 1.0 key, for set_legacy_url only */
    const char *base_url; /* normalized by the Lua layer: no trailing slash */
    bx_url origin;        /* base_url parsed: the one origin credentials go to */
    const struct curl_slist *v2_auth, *legacy_auth; /* header lines holding secrets */
    const char *user_agent, *proxy, *ca_file;
    long connect_timeout_ms, timeout_ms, low_speed_limit, low_speed_time;
    int ssl_verify;
    size_t max_body;
} bx_client_settings;

bx_client *bx_checkclient(lua_State *L, int i);
const bx_client_settings *bx_client_settings_of(const bx_client *c);
bx_loop *bx_client_loop(const bx_client *c);
/* The client closes the transfers it tracks before its share handle goes. */
int bx_client_track(bx_client *c, bx_transfer *t);
void bx_client_untrack(bx_client *c, bx_transfer *t);
/* Wipes every line, then frees the list. */
void bx_free_secret_headers(struct curl_slist *l);

int bx_open_client(lua_State *L);

#endif
