/*
 * test_fsutil.c: csrc/fsutil.c alone, in a scratch folder given as argv[1]:
 * the exclusive create refuses planted links (dangling or not) and never
 * touches their targets; temporary files are fresh, 0600 and locked; the
 * sweep removes only unlocked leftovers of the one final name; the new-file
 * mode follows the umask. Prints "N passed, N failed".
 *
 *   cc -std=c99 -D_POSIX_C_SOURCE=200809L tests/c/test_fsutil.c csrc/fsutil.c && ./a.out DIR
 */
#define _DEFAULT_SOURCE
#include "../../csrc/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned passed, failed;

static void check(int ok, const char *what)
{
    if (ok) {
        passed++;
    } else {
        failed++;
        printf("FAIL: %s\n", what);
    }
}

static void put(int dirfd, const char *name, const char *text)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        if (write(fd, text, strlen(text)) < 0)
            perror(name);
        close(fd);
    }
}

static int holds(int dirfd, const char *name, const char *text)
{
    char buf[64] = {0};
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW);
    ssize_t n;
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n >= 0 && strcmp(buf, text) == 0;
}

static int exists(int dirfd, const char *name)
{
    struct stat st;
    return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void test_planted_links(int dirfd)
{
    int fd;
    put(dirfd, "victim", "precious");
    check(symlinkat("victim", dirfd, "link") == 0, "plant a link");
    fd = bx_fs_create_exclusive(dirfd, "link", O_WRONLY | O_TRUNC, 0600);
    check(fd < 0 && errno == EEXIST, "a link to a file is refused with EEXIST");
    check(holds(dirfd, "victim", "precious"), "the link's target is untouched");
    check(symlinkat("nowhere", dirfd, "dangling") == 0, "plant a dangling link");
    fd = bx_fs_create_exclusive(dirfd, "dangling", O_WRONLY, 0600);
    check(fd < 0 && errno == EEXIST, "a dangling link is refused with EEXIST");
    check(!exists(dirfd, "nowhere"), "the dangling link's target is not created");
    fd = bx_fs_create_exclusive(dirfd, "fresh", O_WRONLY, 0600);
    check(fd >= 0, "a free name is created");
    if (fd >= 0)
        close(fd);
}

static void test_temp(int dirfd)
{
    char a[BX_FS_NAME_MAX + 1], b[BX_FS_NAME_MAX + 1], longbase[301];
    struct stat st;
    int fa = bx_fs_create_temp(dirfd, "out.json", a, sizeof a);
    int fb = bx_fs_create_temp(dirfd, "out.json", b, sizeof b);
    int other;
    check(fa >= 0 && fb >= 0, "temporary files are created");
    check(strcmp(a, b) != 0, "each gets its own name");
    check(bx_fs_is_temp_of(a, "out.json") && !bx_fs_is_temp_of(a, "out.jso"), "the name is out.json's");
    check(fstat(fa, &st) == 0 && (st.st_mode & 0777) == 0600, "mode 0600 while written");
    other = openat(dirfd, a, O_RDONLY);
    check(other >= 0 && flock(other, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK, "locked while open");
    if (other >= 0)
        close(other);
    check(bx_fs_remove_if_unlocked(dirfd, a) == 0 && exists(dirfd, a), "a live one is not removed");
    close(fa);
    check(bx_fs_remove_if_unlocked(dirfd, a) == 1 && !exists(dirfd, a), "a dead one is removed");
    close(fb);
    unlinkat(dirfd, b, 0);
    memset(longbase, 'x', 300);
    longbase[300] = '\0';
    fa = bx_fs_create_temp(dirfd, longbase, a, sizeof a);
    check(fa >= 0 && strlen(a) <= BX_FS_NAME_MAX && bx_fs_is_temp_of(a, longbase),
          "a base too long for a name is cut, and still recognised");
    if (fa >= 0) {
        close(fa);
        unlinkat(dirfd, a, 0);
    }
}

static void test_sweep(int dirfd)
{
    int live;
    char name[BX_FS_NAME_MAX + 1];
    put(dirfd, ".x-1.json.0badc0de.part", "stale");
    put(dirfd, ".x-1.json.0badc0de.part.bak", "keep");
    put(dirfd, ".x-10.json.0badc0de.part", "keep");
    put(dirfd, ".x-1.json.0BADC0DE.part", "keep");
    put(dirfd, "x-1.json", "keep");
    check(symlinkat("victim", dirfd, ".x-1.json.12345678.part") == 0, "plant a link at a temporary name");
    live = bx_fs_create_temp(dirfd, "x-1.json", name, sizeof name);
    check(bx_fs_sweep_temps(dirfd, "x-1.json") == 1, "one leftover removed");
    check(!exists(dirfd, ".x-1.json.0badc0de.part"), "the leftover is gone");
    check(exists(dirfd, name), "the live temporary file stays");
    check(holds(dirfd, ".x-1.json.0badc0de.part.bak", "keep") && holds(dirfd, ".x-10.json.0badc0de.part", "keep") &&
          holds(dirfd, ".x-1.json.0BADC0DE.part", "keep") && holds(dirfd, "x-1.json", "keep"),
          "other names are kept");
    check(exists(dirfd, ".x-1.json.12345678.part") && holds(dirfd, "victim", "precious"),
          "a link is neither removed nor followed");
    close(live);
    unlinkat(dirfd, name, 0);
}

static void test_mode(void)
{
    mode_t old = umask(027);
    check(bx_fs_new_file_mode() == 0640, "umask 027 gives 0640");
    umask(002);
    check(bx_fs_new_file_mode() == 0664, "umask 002 gives 0664");
    umask(old);
}

static void test_random(void)
{
    unsigned char a[16], b[16];
    check(bx_fs_random(a, sizeof a) == 0 && bx_fs_random(b, sizeof b) == 0 && memcmp(a, b, sizeof a) != 0,
          "two draws differ");
}

/* bx_fs_lock_file: one holder at a time (another open file description,
 * even in this process, is refused with EWOULDBLOCK); closing frees it; a
 * planted link is never followed. */
static void test_lock(int dirfd, const char *dir)
{
    char path[4096], link[4096];
    int a, b, c;
    snprintf(path, sizeof path, "%s/.lock", dir);
    snprintf(link, sizeof link, "%s/.planted-lock", dir);
    a = bx_fs_lock_file(path);
    check(a >= 0, "lock: the first holder gets it");
    errno = 0;
    b = bx_fs_lock_file(path);
    check(b < 0 && (errno == EWOULDBLOCK || errno == EAGAIN), "lock: a second holder is refused at once");
    close(a);
    c = bx_fs_lock_file(path);
    check(c >= 0, "lock: free again once the holder closes");
    close(c);
    if (b >= 0)
        close(b);
    check(symlinkat("target-of-lock", dirfd, ".planted-lock") == 0, "lock: plant a link");
    check(bx_fs_lock_file(link) < 0 && errno == ELOOP, "lock: a planted link is refused");
    check(faccessat(dirfd, "target-of-lock", F_OK, AT_SYMLINK_NOFOLLOW) != 0, "lock: its target is not created");
    unlinkat(dirfd, ".planted-lock", 0);
    unlinkat(dirfd, ".lock", 0);
}

int main(int argc, char **argv)
{
    int dirfd;
    if (argc != 2 || (dirfd = open(argv[1], O_RDONLY | O_DIRECTORY)) < 0) {
        fprintf(stderr, "usage: test_fsutil EMPTY_DIR\n");
        return 2;
    }
    test_planted_links(dirfd);
    test_temp(dirfd);
    test_sweep(dirfd);
    test_mode();
    test_random();
    test_lock(dirfd, argv[1]);
    close(dirfd);
    printf("%u passed, %u failed\n", passed, failed);
    return failed ? 1 : 0;
}
