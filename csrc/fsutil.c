/*
 * fsutil.c: exclusive temporary files, their sweep, modes and syncs for the
 * atomic save (see fsutil.h). POSIX 2008 plus flock(2) and getrandom(2).
 */
#define _DEFAULT_SOURCE /* flock(2), beside the Makefile's POSIX level */
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define SUFFIX_HEX 8
#define SUFFIX ".part"
/* "." base "." 8 hex ".part" */
#define TEMP_OVERHEAD (1 + 1 + SUFFIX_HEX + (sizeof SUFFIX - 1))
#define BASE_MAX (BX_FS_NAME_MAX - TEMP_OVERHEAD)
#define CREATE_TRIES 32

static int read_urandom(unsigned char *p, size_t n)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : EIO;
            close(fd);
            errno = e;
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    close(fd);
    return 0;
}

int bx_fs_random(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return errno == ENOSYS ? read_urandom(p, n) : -1; /* kernels before 3.17 */
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int bx_fs_create_exclusive(int dirfd, const char *name, int flags, mode_t mode)
{
    int fd;
    do
        fd = openat(dirfd, name, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    while (fd < 0 && errno == EINTR);
    return fd;
}

static size_t base_len(const char *base)
{
    size_t n = strlen(base);
    return n < BASE_MAX ? n : BASE_MAX; /* the name must fit, however long base is */
}

int bx_fs_is_temp_of(const char *name, const char *base)
{
    size_t n = base_len(base), i;
    if (name[0] != '.' || strncmp(name + 1, base, n) != 0 || name[1 + n] != '.')
        return 0;
    name += 2 + n;
    for (i = 0; i < SUFFIX_HEX; i++) {
        char c = name[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return strcmp(name + SUFFIX_HEX, SUFFIX) == 0;
}

static int temp_name(const char *base, char *out, size_t cap)
{
    unsigned char r[SUFFIX_HEX / 2];
    if (cap < BX_FS_NAME_MAX + 1) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (bx_fs_random(r, sizeof r) != 0)
        return -1;
    snprintf(out, cap, ".%.*s.%02x%02x%02x%02x" SUFFIX, (int)base_len(base), base, r[0], r[1], r[2],
             r[3]);
    return 0;
}

/* Whether dirfd/name is still the file open as fd: a sweep by another
 * process may unlink a file between its creation and its lock. */
static int still_named(int dirfd, const char *name, int fd)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && fstatat(dirfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
           a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static int lock(int fd, int how)
{
    int r;
    do
        r = flock(fd, how);
    while (r != 0 && errno == EINTR);
    return r;
}

int bx_fs_lock_file(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (lock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int bx_fs_create_temp(int dirfd, const char *base, char *name_out, size_t cap)
{
    int i;
    for (i = 0; i < CREATE_TRIES; i++) {
        int fd;
        if (temp_name(base, name_out, cap) != 0)
            return -1;
        fd = bx_fs_create_exclusive(dirfd, name_out, O_RDWR | O_APPEND, 0600);
        if (fd < 0 && errno == EEXIST)
            continue; /* someone's file or link: another name */
        if (fd < 0)
            return -1;
        if (lock(fd, LOCK_EX) == 0 && still_named(dirfd, name_out, fd))
            return fd;
        close(fd);
    }
    errno = EEXIST;
    return -1;
}

int bx_fs_remove_if_unlocked(int dirfd, const char *name)
{
    struct stat st;
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), removed = 0;
    if (fd < 0)
        return (errno == ENOENT || errno == ELOOP) ? 0 : -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && lock(fd, LOCK_EX | LOCK_NB) == 0 &&
        still_named(dirfd, name, fd)) {
        if (unlinkat(dirfd, name, 0) != 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        removed = 1;
    }
    close(fd);
    return removed;
}

int bx_fs_sweep_temps(int dirfd, const char *base)
{
    struct dirent *de;
    int n = 0, fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (d == NULL) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        errno = e;
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        if (bx_fs_is_temp_of(de->d_name, base) && bx_fs_remove_if_unlocked(dirfd, de->d_name) == 1)
            n++;
    }
    closedir(d);
    return n;
}

/* The umask, read without changing it where the kernel says it (Linux 4.7+):
 * umask(2) can only be read by setting it, which races with other threads. */
static int umask_from_proc(mode_t *out)
{
    char buf[2048];
    ssize_t n;
    const char *p;
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    p = strstr(buf, "\nUmask:");
    if (p == NULL)
        return -1;
    *out = (mode_t)strtol(p + 7, NULL, 8);
    return 0;
}

mode_t bx_fs_new_file_mode(void)
{
    mode_t mask;
    if (umask_from_proc(&mask) != 0) {
        mask = umask(077);
        umask(mask);
    }
    return 0666 & ~mask;
}

int bx_fs_sync(int fd)
{
    int r;
    do
        r = fsync(fd);
    while (r != 0 && errno == EINTR);
    return r;
}

char *bx_fs_realpath(const char *path)
{
    return realpath(path, NULL);
}
