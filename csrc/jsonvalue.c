/*
 * jsonvalue.c: builds Lua values from JSON in one pass over the bytes, with
 * jsondecode.c's scanners, to the API contract: JSON null is nil (a null
 * field is absent, a null array element a hole), whole numbers are Lua
 * integers on 5.3 and later, strings without escapes are pushed straight
 * from the input.
 *
 * A reader's builder remembers the previous record's layout: its key
 * strings by position (a key equal to the one at the same position last
 * time is reused, not hashed and interned again; in a whole record it is
 * recognised by a compare, not scanned) and the size of each of its tables
 * (the next record's tables are made that size). Records of an export
 * share one layout, so most keys and tables cost no scan and no rehash.
 *
 * A projection (core.fields) names the fields to keep as paths of keys: the
 * rest of a record is checked (jsondecode_skip) but builds nothing.
 */
#include "bytes.h"
#include "core.h"
#include "jsonvalue.h"
#include "jsondecode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BX_FIELDS_MT "batchexport.fields"
#define MAX_FIELDS 256
#define MAX_FIELD_KEYS 32

typedef struct field_node {
    const char *key;
    size_t len;
    int slot;        /* a listed field: its position (0-based); else -1 */
    int child, next; /* first child, next sibling: node indexes or -1 */
    uint64_t keys;   /* a bit for each child's key: bx_key_bit() */
    int nchild;      /* children: the size of its table in a record */
} field_node;

struct bx_fields {
    int nfields, nnodes; /* node 0 is the root (the record) */
    /* The root's children, the keys a stream's index looks for (tape.h),
     * in the tape's order: by slot, objects on the way to nested fields
     * last. ntop is 0 when the index cannot look for them all. */
    int ntop, top[BX_TAPE_KEYS];
    field_node node[1];
};

typedef struct jctx {
    lua_State *L;
    bx_jsonbuild *b;
    const bx_fields *f;
    const char *end;
    int more;                  /* bytes past end may follow */
    int keys;                  /* stack index of the key cache, or 0 */
    int base;                  /* values: stack index of the first value */
    unsigned nkey, ntable;     /* positions in the record, for the layout memory */
    const bx_tape_record *rec; /* the tape's entry for the record, or NULL */
} jctx;

void bx_jsonbuild_init(bx_jsonbuild *b)
{
    memset(b, 0, sizeof *b);
    b->keys_ref = LUA_NOREF;
}

void bx_jsonbuild_free(lua_State *L, bx_jsonbuild *b)
{
    luaL_unref(L, LUA_REGISTRYINDEX, b->keys_ref);
    b->keys_ref = LUA_NOREF;
    if (b->own_scratch)
        free(b->scratch);
    b->scratch = NULL;
    b->scratch_cap = 0;
}

/* Room for an escaped string's decoded bytes (never more than its raw ones). */
static int scratch(bx_jsonbuild *b, size_t need)
{
    char *p;
    if (need <= b->scratch_cap)
        return 1;
    if (!b->own_scratch)
        return 0;
    p = realloc(b->scratch, need);
    if (p == NULL)
        return 0;
    b->scratch = p;
    b->scratch_cap = need;
    return 1;
}

/* A string's bytes at p (past the quote), unescaped if need be: *s and *len
 * point at them (into the input or the scratch), *stop past the quote. */
static inline int string_bytes(jctx *c, const char *p, const char **s, size_t *len,
                               const char **stop)
{
    const char *close;
    int escaped;
    int rc = jsondecode_string(p, c->end, c->more, &close, &escaped);
    if (rc != JSONDECODE_OK) {
        *stop = close;
        return rc;
    }
    *stop = close + 1;
    if (!escaped) {
        *s = p;
        *len = (size_t)(close - p);
        return JSONDECODE_OK;
    }
    if (!scratch(c->b, (size_t)(close - p))) {
        *stop = p;
        return JSONDECODE_ERR_NOMEM;
    }
    *s = c->b->scratch;
    *len = jsondecode_unescape(p, close, c->b->scratch);
    return JSONDECODE_OK;
}

/* Whether the bytes at p (just past a key's opening quote) are the key
 * remembered at position k, closing quote included. Only keys read plain
 * (no escape) are remembered, so their bytes hold no quote, backslash or
 * control byte: the compare checks all a scan would. */
static inline int known_key(const bx_jsonbuild *b, unsigned k, const char *p, const char *end)
{
    size_t len;
    if (k >= BX_JSON_KEYS || b->key[k] == NULL)
        return 0;
    len = b->key_len[k];
    return (size_t)(end - p) > len && p[len] == '"' && bx_same_bytes(p, b->key[k], len);
}

/* Pushes the key [s, s + len) read at position k: the string remembered
 * there when it has the same bytes, else a new one, remembered in turn when
 * it was plain in the input (no escape: see known_key). */
static inline void push_key(jctx *c, unsigned k, const char *s, size_t len, int plain)
{
    lua_State *L = c->L;
    bx_jsonbuild *b = c->b;
    if (!c->keys || k >= BX_JSON_KEYS) {
        lua_pushlstring(L, s, len);
        return;
    }
    if (b->key[k] != NULL && b->key_len[k] == len && bx_same_bytes(b->key[k], s, len)) {
        lua_rawgeti(L, c->keys, (int)k + 1);
        return;
    }
    lua_pushlstring(L, s, len);
    if (!plain)
        return;
    lua_pushvalue(L, -1);
    lua_rawseti(L, c->keys, (int)k + 1); /* keeps the bytes key[k] points at */
    b->key[k] = lua_tostring(L, -1);
    b->key_len[k] = len;
}

static inline void push_number(lua_State *L, const jsondecode_number_t *n)
{
#if LUA_VERSION_NUM >= 503
    lua_Integer i;
    if (n->integer) {
        lua_pushinteger(L, (lua_Integer)n->i);
        return;
    }
    /* 1.0 or 1e2 on the wire: whole, so an integer, as the contract says. */
    if (floor(n->d) == n->d && lua_numbertointeger(n->d, &i)) {
        lua_pushinteger(L, i);
        return;
    }
#endif
    lua_pushnumber(L, (lua_Number)n->d);
}

static int value(jctx *c, const char *p, const char **stop, int depth);

/* value() for a member or element: most are strings, pushed here without
 * the call (value() is recursive, so never inline). */
static inline int item_value(jctx *c, const char *p, const char **stop, int depth)
{
    const char *s;
    size_t len;
    int rc;
    if (p == c->end || *p != '"')
        return value(c, p, stop, depth);
    if ((rc = string_bytes(c, p + 1, &s, &len, stop)) == JSONDECODE_OK)
        lua_pushlstring(c->L, s, len);
    return rc;
}

/* Checks a value a projection leaves out; strings without the call. */
static inline int skip_value(jctx *c, const char *p, const char **stop, int depth)
{
    int escaped, rc;
    if (p == c->end || *p != '"')
        return jsondecode_skip(p, c->end, c->more, depth, stop);
    if ((rc = jsondecode_string(p + 1, c->end, c->more, stop, &escaped)) == JSONDECODE_OK)
        (*stop)++;
    return rc;
}

/* Room on the Lua stack and under the depth cap for one more level. */
static int descend(jctx *c, const char *p, const char **stop, int depth)
{
    if (depth >= JSONDECODE_MAX_DEPTH || !lua_checkstack(c->L, 6)) {
        *stop = p;
        return JSONDECODE_ERR_DEPTH;
    }
    return JSONDECODE_OK;
}

/* After a member or element: ',' (then *p is the next one's first byte),
 * the closer (*closed set), or an error. */
static inline int after_item(jctx *c, const char **pp, char closer, int *closed, const char **stop)
{
    const char *p = *pp;
    if (p < c->end && *p == ',') { /* the common case, settled in one test */
        *pp = jsondecode_ws(p + 1, c->end);
        return JSONDECODE_OK;
    }
    p = jsondecode_ws(p, c->end);
    if (p == c->end) {
        *stop = p;
        return c->more ? JSONDECODE_MORE : JSONDECODE_ERR_END;
    }
    if (*p == closer) {
        *closed = 1;
        *stop = p + 1;
        return JSONDECODE_OK;
    }
    if (*p != ',') {
        *stop = p;
        return JSONDECODE_ERR_SYNTAX;
    }
    *pp = jsondecode_ws(p + 1, c->end);
    return JSONDECODE_OK;
}

/* After a member's key: p (past its closing quote) moved past the ':' and
 * whitespace. */
static inline int key_colon(jctx *c, const char **pp, const char *p, const char **stop)
{
    if (p < c->end && *p == ':') { /* the common case, settled in one test */
        *pp = jsondecode_ws(p + 1, c->end);
        return JSONDECODE_OK;
    }
    p = jsondecode_ws(p, c->end);
    if (p == c->end) {
        *stop = p;
        return c->more ? JSONDECODE_MORE : JSONDECODE_ERR_END;
    }
    if (*p != ':') {
        *stop = p;
        return JSONDECODE_ERR_SYNTAX;
    }
    *pp = jsondecode_ws(p + 1, c->end);
    return JSONDECODE_OK;
}

/* Whether a member's key can start at p: its quote; else the error. */
static inline int key_quote(jctx *c, const char *p, const char **stop)
{
    if (p < c->end && *p == '"')
        return JSONDECODE_OK;
    *stop = p;
    if (p == c->end)
        return c->more ? JSONDECODE_MORE : JSONDECODE_ERR_END;
    return JSONDECODE_ERR_SYNTAX;
}

/* A member's key at p: its bytes, and p moved past the ':' and whitespace. */
static inline int member_key(jctx *c, const char **pp, const char **s, size_t *len,
                             const char **stop)
{
    int rc;
    if ((rc = key_quote(c, *pp, stop)) != JSONDECODE_OK ||
        (rc = string_bytes(c, *pp + 1, s, len, stop)) != JSONDECODE_OK)
        return rc;
    return key_colon(c, pp, *stop, stop);
}

/* The same, for a whole record's object: pushes the key, and recognises
 * the one remembered at its position by a compare, without a scan (the
 * records of an export share one layout, so most keys are that one). */
static inline int push_member_key(jctx *c, const char **pp, const char **stop)
{
    const char *p = *pp, *s;
    unsigned k = c->nkey++;
    size_t len;
    int rc;
    if ((rc = key_quote(c, p, stop)) != JSONDECODE_OK)
        return rc;
    if (c->keys && known_key(c->b, k, p + 1, c->end)) {
        lua_rawgeti(c->L, c->keys, (int)k + 1);
        return key_colon(c, pp, p + 2 + c->b->key_len[k], stop);
    }
    if ((rc = string_bytes(c, p + 1, &s, &len, stop)) != JSONDECODE_OK)
        return rc;
    push_key(c, k, s, len, s == p + 1);
    return key_colon(c, pp, *stop, stop);
}

/* Starts a container at p ('{' or '['): returns with *pp at its first
 * item, or *empty set when it closes at once. */
static inline void open_container(jctx *c, const char **pp, char closer, int *empty)
{
    const char *p = jsondecode_ws(*pp + 1, c->end);
    *empty = p < c->end && *p == closer;
    *pp = *empty ? p + 1 : p;
}

/* Past an object's '{' at *pp: *closed set when it closes at once ("{}"),
 * with *stop past it. */
static inline void open_object(jctx *c, const char **pp, const char **stop, int *closed)
{
    int empty;
    open_container(c, pp, '}', &empty);
    if (empty)
        *stop = *pp;
    *closed = empty;
}

static int object(jctx *c, const char *p, const char **stop, int depth)
{
    lua_State *L = c->L;
    unsigned slot = c->ntable++;
    int rc, closed, n = 0;
    if ((rc = descend(c, p, stop, depth)) != JSONDECODE_OK)
        return rc;
    lua_createtable(L, 0, slot < BX_JSON_TABLES ? c->b->size[slot] : 0);
    open_object(c, &p, stop, &closed);
    while (!closed) {
        if ((rc = push_member_key(c, &p, stop)) != JSONDECODE_OK)
            return rc;
        if ((rc = item_value(c, p, &p, depth + 1)) != JSONDECODE_OK) {
            *stop = p;
            return rc;
        }
        lua_rawset(L, -3); /* a null clears a repeated key, as cjson's last wins */
        n++;
        if ((rc = after_item(c, &p, '}', &closed, stop)) != JSONDECODE_OK)
            return rc;
    }
    if (slot < BX_JSON_TABLES)
        c->b->size[slot] = n;
    return JSONDECODE_OK;
}

/* Moves the elements pushed above the table at stack index t into it,
 * from index first on: the last is on top, so each rawseti pops one. */
static void flush_elements(lua_State *L, int t, int first)
{
    int i;
    for (i = first + lua_gettop(L) - t - 1; i >= first; i--) {
        if (lua_isnil(L, -1))
            lua_pop(L, 1); /* a null element is a hole */
        else
            lua_rawseti(L, t, i);
    }
}

/* The elements go on the stack first and into a table made for their
 * count: a table sized from the previous record would be rehashed
 * whenever this one has more. A long array is moved in every
 * ARRAY_BATCH elements, into a table sized from the previous record. */
#define ARRAY_BATCH 32

static int array(jctx *c, const char *p, const char **stop, int depth)
{
    lua_State *L = c->L;
    unsigned slot = c->ntable++;
    int rc, empty, closed = 0, n = 0, t;
    if ((rc = descend(c, p, stop, depth)) != JSONDECODE_OK)
        return rc;
    if (!lua_checkstack(L, ARRAY_BATCH + 3)) {
        *stop = p;
        return JSONDECODE_ERR_DEPTH;
    }
    lua_pushnil(L); /* the table's place, below its elements */
    t = lua_gettop(L);
    open_container(c, &p, ']', &empty);
    if (empty) {
        *stop = p;
        closed = 1;
    }
    while (!closed) {
        if ((rc = item_value(c, p, &p, depth + 1)) != JSONDECODE_OK) {
            *stop = p;
            return rc;
        }
        if (++n % ARRAY_BATCH == 0) {
            if (n == ARRAY_BATCH) {
                int hint = slot < BX_JSON_TABLES ? c->b->size[slot] : 0;
                lua_createtable(L, hint > n ? hint : n, 0);
                lua_replace(L, t);
            }
            flush_elements(L, t, n - ARRAY_BATCH + 1);
        }
        if ((rc = after_item(c, &p, ']', &closed, stop)) != JSONDECODE_OK)
            return rc;
    }
    if (n < ARRAY_BATCH) {
        lua_createtable(L, n, 0);
        lua_replace(L, t);
    }
    flush_elements(L, t, n - n % ARRAY_BATCH + 1);
    if (slot < BX_JSON_TABLES)
        c->b->size[slot] = n;
    return JSONDECODE_OK;
}

/* Pushes the value at p (nil for null); *stop is one past it, or the
 * offending byte. */
static int value(jctx *c, const char *p, const char **stop, int depth)
{
    jsondecode_number_t n;
    const char *s;
    size_t len;
    char which;
    int rc;
    if (p == c->end) {
        *stop = p;
        return c->more ? JSONDECODE_MORE : JSONDECODE_ERR_END;
    }
    switch (*p) {
    case '{':
        return object(c, p, stop, depth);
    case '[':
        return array(c, p, stop, depth);
    case '"':
        if ((rc = string_bytes(c, p + 1, &s, &len, stop)) == JSONDECODE_OK)
            lua_pushlstring(c->L, s, len);
        return rc;
    case 't':
    case 'f':
    case 'n':
        if ((rc = jsondecode_literal(p, c->end, c->more, stop, &which)) != JSONDECODE_OK)
            return rc;
        if (which == 'n')
            lua_pushnil(c->L);
        else
            lua_pushboolean(c->L, which == 't');
        return JSONDECODE_OK;
    default:
        if (*p != '-' && (*p < '0' || *p > '9')) {
            *stop = p;
            return JSONDECODE_ERR_SYNTAX;
        }
        if ((rc = jsondecode_number(p, c->end, c->more, stop, &n)) == JSONDECODE_OK)
            push_number(c->L, &n);
        return rc;
    }
}

/* The child of node named [s, s + len), or -1. */
static inline int find_child(const bx_fields *f, int node, const char *s, size_t len)
{
    int i;
    if (!(f->node[node].keys & bx_key_bit(s, len)))
        return -1;
    for (i = f->node[node].child; i >= 0; i = f->node[i].next)
        if (f->node[i].len == len && bx_same_bytes(f->node[i].key, s, len))
            return i;
    return -1;
}

/* A listed field's value, just pushed (its key below it in a table):
 * into its slot (values), else into the table unless it is null. */
static void keep_value(jctx *c, int child, int *kept)
{
    lua_State *L = c->L;
    if (c->base)
        lua_replace(L, c->base + c->f->node[child].slot);
    else if (lua_isnil(L, -1))
        lua_pop(L, 2);
    else {
        lua_rawset(L, -3);
        (*kept)++;
    }
}

/* An object holding listed fields, just built (its key below it in a
 * table): kept unless nothing listed was in it. */
static void keep_object(jctx *c, int sub, int *kept)
{
    if (c->base)
        return;
    if (sub == 0) {
        lua_pop(c->L, 2); /* nothing listed inside: absent */
    } else {
        lua_rawset(c->L, -3);
        (*kept)++;
    }
}

static int object_fields(jctx *c, const char *p, const char **stop, int depth, int node, int *kept);

/* Whether a member is built: its key names a listed field (child, its
 * node, or -1), or an object (its value's first byte) on the way to one. */
static inline int wanted(const bx_fields *f, int child, char first)
{
    return child >= 0 && (f->node[child].slot >= 0 || first == '{');
}

/* A listed member (child: its node) whose value is at p, its key [key,
 * key + len) (plain: as it was in the input): a listed field is built into
 * its slot or its table; an object holding listed fields, its own. */
static int listed_member(jctx *c, int child, const char *key, size_t len, int plain, const char *p,
                         const char **stop, int depth, int *kept)
{
    int rc, sub;
    if (!c->base)
        push_key(c, c->nkey++, key, len, plain);
    if (c->f->node[child].slot < 0) {
        if ((rc = object_fields(c, p, stop, depth, child, &sub)) == JSONDECODE_OK)
            keep_object(c, sub, kept);
    } else if ((rc = item_value(c, p, stop, depth)) == JSONDECODE_OK) {
        keep_value(c, child, kept);
    }
    return rc;
}

/* An object under a projection node: the listed fields are built, into a
 * table (records) or into their value slots (values); the rest is checked
 * and skipped. With a table, *kept counts the fields it got. */
static int object_fields(jctx *c, const char *p, const char **stop, int depth, int node, int *kept)
{
    const bx_fields *f = c->f;
    int rc, closed;
    if ((rc = descend(c, p, stop, depth)) != JSONDECODE_OK)
        return rc;
    if (!c->base)
        lua_createtable(c->L, 0, f->node[node].nchild);
    *kept = 0;
    open_object(c, &p, stop, &closed);
    while (!closed) {
        const char *s;
        size_t len;
        const char *key_at = p;
        int child;
        if ((rc = member_key(c, &p, &s, &len, stop)) != JSONDECODE_OK)
            return rc;
        child = find_child(f, node, s, len);
        /* p may be the end: the value is still to come */
        if (wanted(f, child, p < c->end ? *p : 0))
            rc = listed_member(c, child, s, len, s == key_at + 1, p, &p, depth + 1, kept);
        else
            rc = skip_value(c, p, &p, depth + 1);
        if (rc != JSONDECODE_OK) {
            *stop = p;
            return rc;
        }
        if ((rc = after_item(c, &p, '}', &closed, stop)) != JSONDECODE_OK)
            return rc;
    }
    return JSONDECODE_OK;
}

/* Top-level fields only (no path into an object), each indexed: the
 * tape's key k is then field k (l_fields orders them so). */
static int flat(const bx_fields *f)
{
    return f->ntop == f->nfields && f->nnodes - 1 == f->nfields;
}

/* A found key k's value that is a plain string: its bytes, quotes off. */
static void push_plain(lua_State *L, const char *p, const bx_tape_record *rec, int k)
{
    lua_pushlstring(L, p + rec->value_off[k] + 1, rec->value_len[k] - 2u);
}

/* A record the tape indexed for the projection's top-level keys (tape.h):
 * the pump's thread checked every member and found where each key's value
 * is, so only those values are looked at, from their places; a plain
 * string is pushed without a scan. */
static int taped_fields(jctx *c, const char *p, const char **stop, int *kept)
{
    const bx_fields *f = c->f;
    const bx_tape_record *rec = c->rec;
    int k, rc;
    if ((rc = descend(c, p, stop, 0)) != JSONDECODE_OK)
        return rc;
    if (!c->base)
        lua_createtable(c->L, 0, f->node[0].nchild);
    *kept = 0;
    for (k = 0; k < f->ntop && rc == JSONDECODE_OK; k++) {
        const field_node *n = &f->node[f->top[k]];
        const char *v, *q;
        if (!(rec->found & (1u << k))) /* then its place is not set */
            continue;
        v = p + rec->value_off[k];
        if (!wanted(f, f->top[k], *v))
            continue;
        if (rec->kind[k] != BX_TAPE_STRING || n->slot < 0) {
            rc = listed_member(c, f->top[k], n->key, n->len, 1, v, &q, 1, kept);
            continue;
        }
        if (!c->base)
            push_key(c, c->nkey++, n->key, n->len, 1);
        push_plain(c->L, p, rec, k);
        keep_value(c, f->top[k], kept);
    }
    *stop = p + rec->len;
    return rc;
}

/* Pushes the values' slots, all nil. */
static void clear_slots(jctx *c)
{
    int i;
    for (i = 0; i < c->f->nfields; i++)
        lua_pushnil(c->L);
}

/* Values of flat fields are pushed in order, a nil for a key not found:
 * no slot is pushed, then replaced. */
static int flat_values(const jctx *c)
{
    return c->base && flat(c->f);
}

static int taped_values(jctx *c, const char *p, const char **stop)
{
    const bx_tape_record *rec = c->rec;
    int k, rc;
    for (k = 0; k < c->f->nfields; k++) {
        const char *q;
        if (!(rec->found & (1u << k)))
            lua_pushnil(c->L);
        else if (rec->kind[k] == BX_TAPE_STRING)
            push_plain(c->L, p, rec, k);
        else if ((rc = item_value(c, p + rec->value_off[k], &q, 1)) != JSONDECODE_OK)
            return rc;
    }
    *stop = p + rec->len;
    return JSONDECODE_OK;
}

/* A record through its index entry; on a failure, the stack and the
 * layout memory as they were. */
static int taped_record(jctx *c, const char *p, const char **stop)
{
    int kept, rc, top = lua_gettop(c->L);
    unsigned nkey = c->nkey;
    if (flat_values(c)) {
        rc = taped_values(c, p, stop);
    } else {
        if (c->base)
            clear_slots(c);
        rc = taped_fields(c, p, stop, &kept);
    }
    if (rc == JSONDECODE_OK) {
        c->b->taped = 1;
        return rc;
    }
    c->nkey = nkey;
    lua_settop(c->L, top);
    return rc;
}

/* A record under a projection: a table of the listed fields, or (values)
 * one value a field. A record that is not an object has none of them. An
 * indexed record that fails is built again without its entry, for the
 * error's exact place. */
static int record_fields(jctx *c, const char *p, const char **stop)
{
    int kept;
    if (c->rec != NULL && *p == '{' && taped_record(c, p, stop) == JSONDECODE_OK)
        return JSONDECODE_OK;
    if (c->base)
        clear_slots(c);
    if (*p != '{') {
        if (!c->base)
            lua_newtable(c->L);
        return jsondecode_skip(p, c->end, c->more, 0, stop);
    }
    return object_fields(c, p, stop, 0, 0, &kept);
}

int bx_json_push(lua_State *L, bx_jsonbuild *b, const bx_fields *f, int values, const char *p,
                 size_t len, int whole, const bx_tape_record *rec, size_t *used, int *err)
{
    int top = lua_gettop(L), rc, n = values ? f->nfields : 1;
    const char *stop = p;
    jctx c;
    c.L = L;
    c.b = b;
    c.f = f;
    c.end = p + len;
    c.more = !whole;
    c.keys = 0;
    c.base = 0;
    c.nkey = c.ntable = 0;
    /* An entry for the record at p, whole within len (the splitter's cap). */
    c.rec = rec != NULL && rec->len <= len ? rec : NULL;
    if (!lua_checkstack(L, n + 8)) {
        *err = JSONDECODE_ERR_DEPTH;
        *used = 0;
        return -1;
    }
    b->null_record = len >= 1 && p[0] == 'n';
    b->taped = 0;
    if (b->keys_ref != LUA_NOREF && !values) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, b->keys_ref);
        c.keys = lua_gettop(L);
    }
    if (f == NULL)
        rc = value(&c, p, &stop, 0);
    else {
        c.base = values ? top + 1 : 0;
        rc = record_fields(&c, p, &stop);
    }
    *used = (size_t)(stop - p);
    if (rc != JSONDECODE_OK) {
        lua_settop(L, top);
        *err = rc;
        return rc == JSONDECODE_MORE ? 0 : -1;
    }
    if (c.keys)
        lua_replace(L, c.keys); /* the record takes the cache's slot: no rotate */
    return n;
}

/* Whether rec names only plain strings among the values it found. */
static int plain_strings(const bx_fields *f, const bx_tape_record *rec)
{
    int k;
    for (k = 0; k < f->ntop; k++)
        if ((rec->found & (1u << k)) && rec->kind[k] != BX_TAPE_STRING)
            return 0;
    return 1;
}

int bx_json_push_indexed(lua_State *L, bx_jsonbuild *b, const bx_fields *f, int fields_at,
                         int values, const char *p, const bx_tape_record *rec)
{
    size_t used;
    int k, err, n;
    /* Top-level fields whose values are plain strings or absent: pushed
     * from their places, as values (at most BX_TAPE_KEYS of them, within
     * the LUA_MINSTACK slots a C function is given) or in a table, keyed
     * with the projection's own key strings (l_fields). */
    if (flat(f) && plain_strings(f, rec)) {
        if (!values) {
            lua_createtable(L, 0, f->nfields);
            lua_getuservalue(L, fields_at);
        }
        for (k = 0; k < f->nfields; k++) {
            if (!(rec->found & (1u << k))) {
                if (values)
                    lua_pushnil(L);
                continue;
            }
            if (!values)
                lua_rawgeti(L, -1, k + 1);
            push_plain(L, p, rec, k);
            if (!values)
                lua_rawset(L, -4); /* the record, below the keys, key and value */
        }
        if (!values)
            lua_pop(L, 1);
        b->null_record = 0;
        b->taped = 1;
        return values ? f->nfields : 1;
    }
    n = bx_json_push(L, b, f, values, p, rec->len, 1, rec, &used, &err);
    if (n > 0 && used != rec->len) {
        lua_pop(L, n);
        return 0;
    }
    return n > 0 ? n : 0;
}

/* A builder for a reader: remembers layouts between records. */
void bx_jsonbuild_keep_layout(lua_State *L, bx_jsonbuild *b)
{
    lua_newtable(L);
    b->keys_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    b->own_scratch = 1;
}

/* ---- core.fields ---- */

/* Splits field i of the list (a dotted string or a table of keys) into its
 * keys, pushed on the stack; returns how many, or 0 with a message pushed. */
static int field_path(lua_State *L, int list, int i)
{
    int n = 0, t;
    lua_rawgeti(L, list, i);
    t = lua_gettop(L);
    if (lua_type(L, t) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, t, &len), *e = s + len;
        while (1) {
            const char *dot = memchr(s, '.', (size_t)(e - s));
            const char *stop = dot ? dot : e;
            if (stop == s || n >= MAX_FIELD_KEYS) {
                lua_settop(L, t - 1);
                lua_pushfstring(L, "field %d: %s", i,
                                stop == s ? "an empty key (write a key holding a dot, or an "
                                            "empty key, as a table of keys: {\"a\", \"b.c\"})"
                                          : "more than 32 keys");
                return 0;
            }
            lua_pushlstring(L, s, (size_t)(stop - s));
            n++;
            if (!dot)
                break;
            s = dot + 1;
        }
    } else if (lua_type(L, t) == LUA_TTABLE) {
        int k, len = (int)lua_rawlen(L, t);
        if (len < 1 || len > MAX_FIELD_KEYS) {
            lua_settop(L, t - 1);
            lua_pushfstring(L, "field %d: a table of 1 to 32 keys is expected", i);
            return 0;
        }
        for (k = 1; k <= len; k++) {
            lua_rawgeti(L, t, k);
            if (lua_type(L, -1) != LUA_TSTRING) {
                lua_settop(L, t - 1);
                lua_pushfstring(L, "field %d: key %d is not a string", i, k);
                return 0;
            }
            n++;
        }
    } else {
        lua_settop(L, t - 1);
        lua_pushfstring(L, "field %d: a string or a table of keys is expected, got %s", i,
                        luaL_typename(L, t));
        return 0;
    }
    lua_remove(L, t);
    return n;
}

/* Adds the path whose n keys are on top of the stack; 0 with a message
 * pushed when it repeats or nests inside another field. */
static int add_path(lua_State *L, bx_fields *f, char **bytes, int n, int field)
{
    int node = 0, k;
    for (k = 0; k < n; k++) {
        size_t len;
        const char *key = lua_tolstring(L, -n + k, &len);
        int child = find_child(f, node, key, len);
        if (child >= 0 && (f->node[child].slot >= 0 || k == n - 1)) {
            lua_pop(L, n);
            lua_pushfstring(L, "field %d: repeats another field, or lies inside or around one",
                            field + 1);
            return 0;
        }
        if (child < 0) {
            field_node *c = &f->node[f->nnodes];
            memcpy(*bytes, key, len);
            c->key = *bytes;
            c->len = len;
            *bytes += len;
            c->slot = -1;
            c->child = -1;
            c->keys = 0;
            c->nchild = 0;
            c->next = f->node[node].child;
            f->node[node].nchild++;
            f->node[node].keys |= bx_key_bit(key, len);
            f->node[node].child = f->nnodes;
            child = f->nnodes++;
        }
        node = child;
    }
    f->node[node].slot = field;
    lua_pop(L, n);
    return 1;
}

/* The root's children in the order a stream's index is asked for them: by
 * slot, the objects on the way to nested fields (no slot) last; none when
 * there are more than an index looks for, or a key longer than it takes. */
static void order_top(bx_fields *f)
{
    int child, i;
    f->ntop = 0;
    for (child = f->node[0].child; child >= 0; child = f->node[child].next) {
        unsigned slot = (unsigned)f->node[child].slot; /* no slot: the largest */
        if (f->ntop == BX_TAPE_KEYS || f->node[child].len > BX_TAPE_KEY_MAX) {
            f->ntop = 0;
            return;
        }
        for (i = f->ntop++; i > 0 && (unsigned)f->node[f->top[i - 1]].slot > slot; i--)
            f->top[i] = f->top[i - 1];
        f->top[i] = child;
    }
}

int bx_fields_tape_keys(const bx_fields *f, bx_tape_keys *keys)
{
    int k;
    memset(keys, 0, sizeof *keys);
    for (k = 0; k < f->ntop; k++)
        bx_tape_keys_add(keys, f->node[f->top[k]].key, f->node[f->top[k]].len);
    return f->ntop > 0;
}

/* core.fields(list) -> fields, or nil, message: a projection compiled once.
 * list holds 1 to 256 fields, each "a.b.c" or {"a", "b.c"}. */
static int l_fields(lua_State *L)
{
    int count, i, nodes = 1;
    size_t bytes = 0;
    bx_fields *f;
    char *store;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    count = (int)lua_rawlen(L, 1);
    if (count < 1 || count > MAX_FIELDS) {
        lua_pushnil(L);
        lua_pushliteral(L, "a list of 1 to 256 fields is expected");
        return 2;
    }
    for (i = 1; i <= count; i++) {
        int n = field_path(L, 1, i), k;
        if (n == 0) {
            lua_pushnil(L);
            lua_insert(L, -2);
            return 2;
        }
        for (k = 1; k <= n; k++)
            bytes += lua_rawlen(L, -k);
        nodes += n;
        lua_pop(L, n);
    }
    f = bx_newuserdata(L, sizeof *f + (size_t)nodes * sizeof f->node[0] + bytes);
    memset(f, 0, sizeof *f);
    luaL_setmetatable(L, BX_FIELDS_MT);
    f->nfields = count;
    f->nnodes = 1;
    f->node[0].slot = -1;
    f->node[0].child = f->node[0].next = -1;
    store = (char *)&f->node[nodes];
    for (i = 1; i <= count; i++) {
        int n = field_path(L, 1, i);
        if (!add_path(L, f, &store, n, i - 1)) {
            lua_pushnil(L);
            lua_insert(L, -2);
            return 2;
        }
    }
    order_top(f);
    /* The top-level keys as Lua strings, in the index's order: a record read
     * through its entry gets its keys from here (bx_json_push_indexed). */
    lua_createtable(L, f->ntop, 0);
    for (i = 0; i < f->ntop; i++) {
        lua_pushlstring(L, f->node[f->top[i]].key, f->node[f->top[i]].len);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setuservalue(L, -2);
    return 1;
}

const bx_fields *bx_checkfields(lua_State *L, int i)
{
    return luaL_checkudata(L, i, BX_FIELDS_MT);
}

static int l_fields_count(lua_State *L)
{
    lua_pushinteger(L, bx_checkfields(L, 1)->nfields);
    return 1;
}

/* ---- core.json_decode ---- */

/* core.json_decode(text) -> value, or nil, message: a whole document, for
 * API responses. Null at the top gives nil and no message. */
static int l_json_decode(lua_State *L)
{
    size_t len, used;
    const char *text = luaL_checklstring(L, 1, &len);
    const char *p = jsondecode_ws(text, text + len), *tail;
    bx_jsonbuild b;
    int err, rc;
    bx_jsonbuild_init(&b);
    /* No string decodes longer than the text: one buffer serves them all,
     * and the collector frees it even if building the value raises. */
    b.scratch = bx_newuserdata(L, len + 1);
    b.scratch_cap = len + 1;
    if (p == text + len) {
        err = JSONDECODE_ERR_END;
        used = 0;
        rc = -1;
    } else {
        rc = bx_json_push(L, &b, NULL, 0, p, (size_t)(text + len - p), 1, NULL, &used, &err);
    }
    if (rc > 0) {
        tail = jsondecode_ws(p + used, text + len);
        if (tail == text + len)
            return 1;
        err = JSONDECODE_ERR_SYNTAX;
        used = (size_t)(tail - p);
    }
    lua_pushnil(L);
    lua_pushfstring(L, "byte %d: %s", (int)(p - text + used) + 1, jsondecode_strerror(err));
    return 2;
}

int bx_open_jsonvalue(lua_State *L)
{
    static const luaL_Reg meta[] = {{NULL, NULL}};
    static const luaL_Reg methods[] = {{"count", l_fields_count}, {NULL, NULL}};
    bx_newclass(L, BX_FIELDS_MT, meta, methods);
    lua_pushcfunction(L, l_fields);
    lua_setfield(L, -2, "fields");
    lua_pushcfunction(L, l_json_decode);
    lua_setfield(L, -2, "json_decode");
    return 0;
}
