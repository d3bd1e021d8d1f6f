/*
 * fsutil.h: the file-system mechanism behind an atomic save, free of Lua and
 * curl so it can be tested alone (tests/c/test_fsutil.c). A save writes to a
 * temporary file ".<final name>.<8 hex>.part" beside the final name, created
 * exclusively and never through a link, and locked (flock) for as long as it
 * is open, so that a later run can tell a dead process's leftovers (no lock)
 * from a live download's file (locked) and sweep only the former.
 *
 * Every function returns -1 and sets errno on failure.
 */
#ifndef BX_FSUTIL_H
#define BX_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* The longest file name (one path component) the temporary names stay within. */
#define BX_FS_NAME_MAX 255

/* Fills buf with n bytes from the OS's random source (getrandom, else /dev/urandom). */
int bx_fs_random(void *buf, size_t n);

/* Opens dirfd/name as a new file, never through a link: anything already at
 * that name, a link (dangling or not) included, makes it fail with EEXIST.
 * flags are added to O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC. */
int bx_fs_create_exclusive(int dirfd, const char *name, int flags, mode_t mode);

/* Whether name is one of the temporary names of the final base name `base`. */
int bx_fs_is_temp_of(const char *name, const char *base);

/* Creates, opens (O_RDWR|O_APPEND, mode 0600) and locks a new temporary file
 * for `base` in dirfd under a fresh random name, written to name_out (cap
 * bytes, at least BX_FS_NAME_MAX + 1). Returns the descriptor. */
int bx_fs_create_temp(int dirfd, const char *base, char *name_out, size_t cap);

/* Removes dirfd/name if it is a regular file no process holds locked.
 * 1 removed, 0 left alone (locked, not a regular file, gone). */
int bx_fs_remove_if_unlocked(int dirfd, const char *name);

/* Removes the temporary files of `base` in dirfd that no process holds
 * (leftovers of a killed run). Returns how many. */
int bx_fs_sweep_temps(int dirfd, const char *base);

/* The mode a file created now gets: 0666 & ~umask, as `curl -o` gives. */
mode_t bx_fs_new_file_mode(void);

/* realpath(3) into malloc'ed memory (free it), or NULL. */
char *bx_fs_realpath(const char *path);

/* Opens (creating it, mode 0600, never through a link) and locks path with
 * flock(LOCK_EX|LOCK_NB): one process at a time holds it, and the lock goes
 * with the descriptor, so a killed holder frees it. Returns the descriptor;
 * -1 with errno EWOULDBLOCK when another open file description holds it. */
int bx_fs_lock_file(const char *path);

/* fsync(2) of an open folder or file, retried on EINTR. */
int bx_fs_sync(int fd);

#endif
