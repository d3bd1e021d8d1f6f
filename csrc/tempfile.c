/*
 * tempfile.c: the temporary file of an atomic save (batchexport.tempfile).
 * It is created beside the final name by fsutil.c (exclusively, mode 0600,
 * locked while open), filled by a transfer's file sink through a duplicate of
 * its descriptor, then committed: synced, given the mode the umask gives,
 * renamed over the final name, the folder synced. Anything not committed is
 * removed by close(), __close or __gc, so no way out leaves it behind; close
 * is also what the scheduler calls on what a cancelled task owns.
 *
 *   core.tempfile(final_path) -> tempfile | nil, message
 *   core.sweep_temps(final_path) -> count removed | nil, message
 *   tf:path()  tf:size()  tf:head(n)  tf:write(bytes)  tf:commit(final_path)  tf:close()
 *   tf:commit_start(final_path)  tf:commit_result()
 * commit_start runs the commit's syncs and rename on a thread of its own
 * (offthread.c), so that an event loop (an nginx worker) keeps serving while
 * the disk works; commit_result tells when it is over.
 */
#include "tempfile.h"

#include "core.h"
#include "fsutil.h"
#include "offthread.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BX_TEMPFILE_MT "batchexport.tempfile"

#define HEAD_MAX 4096

/* A commit: what it works on, and how it went. */
typedef struct {
    int fd, dirfd;
    const char *name;   /* the temporary file's name, in dirfd */
    char *final;        /* the final name, in dirfd (owned) */
    mode_t mode;        /* the final file's mode */
    const char *failed; /* the step that failed, or NULL */
    int error;          /* its errno */
    int renamed;        /* the file is in place (fd closed then) */
} commit_job;

typedef struct {
    int closed; /* first: bx_checkopen, bx_close */
    int fd;     /* the file, open and locked; -1 once done */
    int dirfd;  /* its folder, for the *at calls and the folder sync */
    char *dir;  /* the folder as given, to check commit's target */
    char name[BX_FS_NAME_MAX + 1];
    bx_offthread *thread; /* a commit under way off the loop, or NULL */
    commit_job job;       /* its state; touched by that thread until joined */
} bx_tempfile;

static bx_tempfile *check_tempfile(lua_State *L, int i)
{
    return luaL_checkudata(L, i, BX_TEMPFILE_MT);
}

/* Pushes a path's folder ("." when none) and its last component; returns
 * whether that component can name a file (not empty, no NUL byte). */
static int push_split(lua_State *L, int i)
{
    size_t n;
    const char *path = luaL_checklstring(L, i, &n);
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        lua_pushliteral(L, ".");
    else if (slash == path)
        lua_pushliteral(L, "/");
    else
        lua_pushlstring(L, path, (size_t)(slash - path));
    lua_pushstring(L, slash ? slash + 1 : path);
    return strlen(path) == n && lua_rawlen(L, -1) > 0;
}

static int push_not_a_file(lua_State *L, int i)
{
    lua_pushnil(L);
    lua_pushfstring(L, "%s does not name a file", lua_tostring(L, i));
    return 2;
}

/* bx_push_errno for an errno saved before other calls could change it. */
static int push_failure(lua_State *L, const char *what, const char *path, int e)
{
    return bx_push_fail(L, lua_pushfstring(L, "%s %s: %s", what, path, strerror(e)));
}

static int open_dir(const char *dir)
{
    return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void push_temp_path(lua_State *L, bx_tempfile *tf)
{
    if (strcmp(tf->dir, ".") == 0)
        lua_pushstring(L, tf->name);
    else
        lua_pushfstring(L, "%s%s%s", tf->dir, strcmp(tf->dir, "/") == 0 ? "" : "/", tf->name);
}

static void close_fds(bx_tempfile *tf)
{
    if (tf->fd >= 0)
        close(tf->fd);
    if (tf->dirfd >= 0)
        close(tf->dirfd);
    tf->fd = tf->dirfd = -1;
}

/* core.tempfile(final_path) */
static int l_tempfile(lua_State *L)
{
    bx_tempfile *tf;
    const char *dir, *base;
    if (!push_split(L, 1))
        return push_not_a_file(L, 1);
    dir = lua_tostring(L, -2);
    base = lua_tostring(L, -1);
    tf = lua_newuserdata(L, sizeof *tf);
    memset(tf, 0, sizeof *tf);
    tf->fd = tf->dirfd = -1;
    luaL_setmetatable(L, BX_TEMPFILE_MT);
    tf->dir = malloc(strlen(dir) + 1);
    if (tf->dir == NULL)
        return luaL_error(L, "out of memory");
    strcpy(tf->dir, dir);
    tf->dirfd = open_dir(dir);
    if (tf->dirfd < 0)
        return push_failure(L, "cannot open the folder", dir, errno);
    tf->fd = bx_fs_create_temp(tf->dirfd, base, tf->name, sizeof tf->name);
    if (tf->fd < 0) {
        int e = errno;
        close_fds(tf);
        return push_failure(L, "cannot create a temporary file in", dir, e);
    }
    return 1;
}

/* core.sweep_temps(final_path): removes the temporary files a killed run
 * left for this final name; a live download's (locked) stay. */
static int l_sweep_temps(lua_State *L)
{
    int dirfd, n, e;
    if (!push_split(L, 1))
        return push_not_a_file(L, 1);
    dirfd = open_dir(lua_tostring(L, -2));
    if (dirfd < 0)
        return push_failure(L, "cannot open the folder", lua_tostring(L, -2), errno);
    n = bx_fs_sweep_temps(dirfd, lua_tostring(L, -1));
    e = errno;
    close(dirfd);
    if (n < 0)
        return push_failure(L, "cannot list the folder", lua_tostring(L, -2), e);
    lua_pushinteger(L, n);
    return 1;
}

static bx_tempfile *check_open(lua_State *L, int i)
{
    bx_tempfile *tf = check_tempfile(L, i);
    if (tf->fd < 0 || tf->thread != NULL)
        luaL_error(L, "batchexport.tempfile: already committed or closed");
    return tf;
}

static int l_path(lua_State *L)
{
    push_temp_path(L, bx_checkopen(L, 1, BX_TEMPFILE_MT, "tempfile"));
    return 1;
}

/* tf:size() -> bytes written so far */
static int l_size(lua_State *L)
{
    bx_tempfile *tf = check_open(L, 1);
    struct stat st;
    if (fstat(tf->fd, &st) != 0)
        return push_failure(L, "cannot stat", tf->name, errno);
    lua_pushinteger(L, (lua_Integer)st.st_size);
    return 1;
}

/* tf:head(n) -> the first n bytes (at most 4096), for sniffing a format */
static int l_head(lua_State *L)
{
    bx_tempfile *tf = check_open(L, 1);
    lua_Integer want = luaL_checkinteger(L, 2);
    char buf[HEAD_MAX];
    ssize_t got;
    luaL_argcheck(L, want >= 0 && want <= HEAD_MAX, 2, "0 to 4096 expected");
    do
        got = pread(tf->fd, buf, (size_t)want, 0);
    while (got < 0 && errno == EINTR);
    if (got < 0)
        return push_failure(L, "cannot read", tf->name, errno);
    lua_pushlstring(L, buf, (size_t)got);
    return 1;
}

/* tf:write(bytes) -> true | nil, message: appends, for callers that see the
 * bytes on their way (sync hashes and counts them) instead of a file sink. */
static int l_write(lua_State *L)
{
    bx_tempfile *tf = check_open(L, 1);
    size_t n;
    const char *p = luaL_checklstring(L, 2, &n);
    while (n > 0) {
        ssize_t put = write(tf->fd, p, n);
        if (put < 0 && errno == EINTR)
            continue;
        if (put < 0)
            return push_failure(L, "cannot write", tf->name, errno);
        p += put;
        n -= (size_t)put;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* The commit's steps: sync, mode, rename, folder sync. Touches no Lua
 * state: it may run on a thread of its own. */
static void commit_steps(void *p)
{
    commit_job *job = p;
    job->failed = NULL;
    if (bx_fs_sync(job->fd) != 0)
        job->failed = "cannot sync";
    else if (fchmod(job->fd, job->mode) != 0)
        job->failed = "cannot set the mode of";
    else if (renameat(job->dirfd, job->name, job->dirfd, job->final) != 0)
        job->failed = "cannot rename into place";
    else {
        job->renamed = 1;
        close(job->fd);
        if (bx_fs_sync(job->dirfd) != 0)
            job->failed = "saved, but cannot sync the folder of";
    }
    job->error = job->failed ? errno : 0;
}

/* Checks final_path (argument 2) and readies tf->job for it, with the mode
 * a new file gets under the umask, or 0600 when argument 3 is "private" (a
 * file holding keys keeps the temporary file's mode, never opened up for a
 * moment); returns 0, or what to return to Lua. */
static int prepare_commit(lua_State *L, bx_tempfile *tf)
{
    static const char *const modes[] = {"shared", "private", NULL};
    int private_mode;
    luaL_checkstring(L, 2);
    private_mode = luaL_checkoption(L, 3, "shared", modes) == 1;
    if (!push_split(L, 2))
        return push_not_a_file(L, 2);
    if (strcmp(lua_tostring(L, -2), tf->dir) != 0)
        return luaL_argerror(L, 2, "a path in the temporary file's folder expected");
    free(tf->job.final);
    memset(&tf->job, 0, sizeof tf->job);
    tf->job.final = malloc(lua_rawlen(L, -1) + 1);
    if (tf->job.final == NULL)
        return luaL_error(L, "out of memory");
    strcpy(tf->job.final, lua_tostring(L, -1));
    tf->job.fd = tf->fd;
    tf->job.dirfd = tf->dirfd;
    tf->job.name = tf->name;
    tf->job.mode = private_mode ? (mode_t)0600 : bx_fs_new_file_mode();
    return 0;
}

/* After commit_steps: the file is the caller's once renamed (a failed
 * folder sync is still reported, the whole file staying in place). */
static int finish_commit(lua_State *L, bx_tempfile *tf)
{
    commit_job *job = &tf->job;
    const char *final = lua_tostring(L, 2);
    if (job->renamed) {
        tf->fd = -1;
        close_fds(tf);
    }
    if (job->failed)
        return push_failure(L, job->failed, final ? final : job->final, job->error);
    lua_pushboolean(L, 1);
    return 1;
}

/* tf:commit(final_path [, "shared"|"private"]) -> true | nil, message.
 * final_path must be in the temporary file's folder. */
static int l_commit(lua_State *L)
{
    bx_tempfile *tf = check_open(L, 1);
    int n = prepare_commit(L, tf);
    if (n)
        return n;
    commit_steps(&tf->job);
    return finish_commit(L, tf);
}

/* tf:commit_start(final_path [, "shared"|"private"]) -> true | nil, message: the commit, begun
 * off this thread; tf:commit_result() gives its outcome. */
static int l_commit_start(lua_State *L)
{
    bx_tempfile *tf = check_open(L, 1);
    int n = prepare_commit(L, tf);
    if (n)
        return n;
    tf->thread = bx_offthread_start(commit_steps, &tf->job);
    if (tf->thread == NULL)
        return push_failure(L, "cannot start a thread to save", lua_tostring(L, 2), errno);
    lua_pushboolean(L, 1);
    return 1;
}

/* tf:commit_result() -> nil while the commit runs; then true | false,
 * message (commit's outcome). */
static int l_commit_result(lua_State *L)
{
    bx_tempfile *tf = check_tempfile(L, 1);
    int n;
    luaL_argcheck(L, tf->thread != NULL, 1, "no commit under way");
    if (!bx_offthread_done(tf->thread)) {
        lua_pushnil(L);
        return 1;
    }
    bx_offthread_join(tf->thread);
    tf->thread = NULL;
    lua_settop(L, 1);
    n = finish_commit(L, tf);
    if (n == 2) {
        lua_pushboolean(L, 0);
        lua_replace(L, -3);
    }
    return n;
}

static void tempfile_release(lua_State *L, void *obj)
{
    bx_tempfile *tf = obj;
    struct stat a, b;
    (void)L;
    /* A commit under way owns the descriptors until it ends. */
    if (tf->thread != NULL) {
        bx_offthread_join(tf->thread);
        tf->thread = NULL;
        if (tf->job.renamed)
            tf->fd = -1;
    }
    free(tf->job.final);
    tf->job.final = NULL;
    /* Only the file we created: never whatever may have taken its name since. */
    if (tf->fd >= 0 && fstat(tf->fd, &a) == 0 &&
        fstatat(tf->dirfd, tf->name, &b, AT_SYMLINK_NOFOLLOW) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino)
        unlinkat(tf->dirfd, tf->name, 0);
    close_fds(tf);
    free(tf->dir);
    tf->dir = NULL;
}

/* tf:close(): removes the file unless committed; closes everything.
 * Idempotent. A tempfile is never half built: its fields are freed one by
 * one, so it starts open. */
static int l_close(lua_State *L)
{
    return bx_close(L, BX_TEMPFILE_MT, tempfile_release);
}

static int l_tostring(lua_State *L)
{
    bx_tempfile *tf = check_tempfile(L, 1);
    if (tf->closed) {
        lua_pushliteral(L, "batchexport.tempfile (closed)");
        return 1;
    }
    push_temp_path(L, tf);
    lua_pushfstring(L, "batchexport.tempfile (%s)", lua_tostring(L, -1));
    return 1;
}

int bx_tempfile_sink_fd(lua_State *L, int i, int append)
{
    bx_tempfile *tf = luaL_testudata(L, i, BX_TEMPFILE_MT);
    int fd;
    if (tf == NULL || tf->fd < 0)
        luaL_error(L, "request.file: an open batchexport.tempfile expected");
    if (!append && ftruncate(tf->fd, 0) != 0)
        luaL_error(L, "request.file: cannot truncate: %s", strerror(errno));
    fd = fcntl(tf->fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        luaL_error(L, "request.file: %s", strerror(errno));
    return fd;
}

int bx_open_tempfile(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"path", l_path},
        {"size", l_size},
        {"head", l_head},
        {"write", l_write},
        {"commit", l_commit},
        {"commit_start", l_commit_start},
        {"commit_result", l_commit_result},
        {NULL, NULL},
    };
    bx_newtype(L, BX_TEMPFILE_MT, l_close, l_tostring, methods, "tempfile", l_tempfile);
    lua_pushcfunction(L, l_sweep_temps);
    lua_setfield(L, -2, "sweep_temps");
    return 0;
}
