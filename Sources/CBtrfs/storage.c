#define _GNU_SOURCE
#include "vs_storage.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

static int failed(const char **call, const char *what) {
    *call = what;
    return -errno;
}

int vs_clone_file(int dst, int src, const char **call) {
    if (ioctl(dst, FICLONE, src) < 0) return failed(call, "ioctl FICLONE");
    return 0;
}

/* read/write of one range, where copy_file_range cannot (another file system, an old kernel, a special file). */
static int64_t copy_by_reading(int src, int dst, uint64_t offset, uint64_t length, const char **call) {
    char buffer[1 << 16];
    uint64_t done = 0;
    while (done < length) {
        size_t want = length - done < sizeof buffer ? length - done : sizeof buffer;
        ssize_t got = pread(src, buffer, want, offset + done);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return failed(call, "read");
        if (got == 0) break;
        for (ssize_t put = 0; put < got;) {
            ssize_t wrote = pwrite(dst, buffer + put, got - put, offset + done + put);
            if (wrote < 0 && errno == EINTR) continue;
            if (wrote < 0) return failed(call, "write");
            put += wrote;
        }
        done += got;
    }
    return done;
}

static int64_t copy_range(int src, int dst, uint64_t offset, uint64_t length, const char **call) {
    loff_t in = offset, out = offset;
    uint64_t done = 0;
    while (done < length) {
        ssize_t copied = copy_file_range(src, &in, dst, &out, length - done, 0);
        if (copied < 0 && errno == EINTR) continue;
        if (copied < 0 && (errno == EXDEV || errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL)) {
            int64_t rest = copy_by_reading(src, dst, offset + done, length - done, call);
            return rest < 0 ? rest : (int64_t)(done + rest);
        }
        if (copied < 0) return failed(call, "copy_file_range");
        if (copied == 0) break;
        done += copied;
    }
    return done;
}

int64_t vs_copy_data(int src, int dst, uint64_t size, uint64_t *offset, uint64_t limit, const char **call) {
    if (*offset >= size) return 0;
    off_t data = lseek(src, *offset, SEEK_DATA);
    if (data < 0 && errno == ENXIO) {  /* only a hole is left */
        *offset = size;
        return 0;
    }
    if (data < 0) return failed(call, "lseek SEEK_DATA");
    off_t hole = lseek(src, data, SEEK_HOLE);
    if (hole < 0) return failed(call, "lseek SEEK_HOLE");
    if ((uint64_t)hole > size) hole = size;
    uint64_t length = (uint64_t)(hole - data) < limit ? (uint64_t)(hole - data) : limit;
    int64_t copied = copy_range(src, dst, data, length, call);
    if (copied < 0) return copied;
    /* A file that shrank while it was copied ends here. */
    *offset = copied < (int64_t)length ? size : (uint64_t)data + length;
    return copied;
}

ssize_t vs_xattr_list(int fd, const char *path, char *buffer, size_t size, const char **call) {
    ssize_t result = fd >= 0 ? flistxattr(fd, buffer, size) : llistxattr(path, buffer, size);
    return result < 0 ? failed(call, fd >= 0 ? "flistxattr" : "llistxattr") : result;
}

ssize_t vs_xattr_get(int fd, const char *path, const char *name, void *buffer, size_t size, const char **call) {
    ssize_t result = fd >= 0 ? fgetxattr(fd, name, buffer, size) : lgetxattr(path, name, buffer, size);
    return result < 0 ? failed(call, fd >= 0 ? "fgetxattr" : "lgetxattr") : result;
}

int vs_xattr_set(int fd, const char *path, const char *name, const void *value, size_t size, const char **call) {
    int result = fd >= 0 ? fsetxattr(fd, name, value, size, 0) : lsetxattr(path, name, value, size, 0);
    return result < 0 ? failed(call, fd >= 0 ? "fsetxattr" : "lsetxattr") : 0;
}

enum { EXTENTS_PER_CALL = 512 };

/* One FIEMAP call from `start` on; NULL with *error set when it fails. Free the result. */
static struct fiemap *map_extents(int fd, uint64_t start, int *error) {
    size_t size = sizeof(struct fiemap) + EXTENTS_PER_CALL * sizeof(struct fiemap_extent);
    struct fiemap *map = calloc(1, size);
    if (map == NULL) {
        *error = -ENOMEM;
        return NULL;
    }
    map->fm_start = start;
    map->fm_length = FIEMAP_MAX_OFFSET - start;
    map->fm_extent_count = EXTENTS_PER_CALL;
    if (ioctl(fd, FS_IOC_FIEMAP, map) < 0) {
        *error = -errno;
        free(map);
        return NULL;
    }
    return map;
}

/* Where the next call starts, or 0 when `map` held the last extent. */
static uint64_t next_start(const struct fiemap *map) {
    if (map->fm_mapped_extents == 0) return 0;
    const struct fiemap_extent *last = &map->fm_extents[map->fm_mapped_extents - 1];
    if (last->fe_flags & FIEMAP_EXTENT_LAST) return 0;
    return last->fe_logical + last->fe_length;
}

int vs_extent_usage(int fd, struct vs_extent_usage *out, const char **call) {
    out->bytes = out->shared = 0;
    uint64_t start = 0;
    do {
        int error = 0;
        struct fiemap *map = map_extents(fd, start, &error);
        if (map == NULL) {
            *call = "ioctl FS_IOC_FIEMAP";
            return error;
        }
        for (uint32_t i = 0; i < map->fm_mapped_extents; i++) {
            out->bytes += map->fm_extents[i].fe_length;
            if (map->fm_extents[i].fe_flags & FIEMAP_EXTENT_SHARED) out->shared += map->fm_extents[i].fe_length;
        }
        start = next_start(map);
        free(map);
    } while (start != 0);
    return 0;
}

static int same_batch(const struct fiemap *a, const struct fiemap *b) {
    if (a->fm_mapped_extents != b->fm_mapped_extents) return 0;
    for (uint32_t i = 0; i < a->fm_mapped_extents; i++) {
        const struct fiemap_extent *x = &a->fm_extents[i], *y = &b->fm_extents[i];
        if (x->fe_logical != y->fe_logical || x->fe_physical != y->fe_physical || x->fe_length != y->fe_length)
            return 0;
        if (!(x->fe_flags & FIEMAP_EXTENT_SHARED)) return 0;
    }
    return 1;
}

int vs_same_extents(int a, int b, const char **call) {
    uint64_t start = 0;
    do {
        int error = 0;
        struct fiemap *first = map_extents(a, start, &error);
        struct fiemap *second = first ? map_extents(b, start, &error) : NULL;
        if (second == NULL) {
            free(first);
            *call = "ioctl FS_IOC_FIEMAP";
            return error;
        }
        int same = same_batch(first, second) && first->fm_mapped_extents > 0;
        start = next_start(first);
        free(first);
        free(second);
        if (!same) return 0;
    } while (start != 0);
    return 1;
}

int vs_dedupe_range(int src, uint64_t offset, uint64_t length, int dst, uint64_t *deduped, const char **call) {
    union {
        struct file_dedupe_range range;
        char bytes[sizeof(struct file_dedupe_range) + sizeof(struct file_dedupe_range_info)];
    } args;
    memset(&args, 0, sizeof args);
    struct file_dedupe_range_info *info = &args.range.info[0];
    args.range.src_offset = offset;
    args.range.src_length = length;
    args.range.dest_count = 1;
    info->dest_fd = dst;
    info->dest_offset = offset;
    *deduped = 0;
    if (ioctl(src, FIDEDUPERANGE, &args) < 0) return failed(call, "ioctl FIDEDUPERANGE");
    if (info->status < 0) {
        *call = "ioctl FIDEDUPERANGE";
        return info->status;
    }
    *deduped = info->bytes_deduped;
    return info->status == FILE_DEDUPE_RANGE_DIFFERS ? 1 : 0;
}

int vs_reflink_probe(const char *directory, const char **call) {
    int src = open(directory, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (src < 0) return failed(call, "open O_TMPFILE");
    int dst = open(directory, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (dst < 0) {
        int error = failed(call, "open O_TMPFILE");
        close(src);
        return error;
    }
    char block[4096];
    memset(block, 'x', sizeof block);
    int result = 1;
    if (write(src, block, sizeof block) != (ssize_t)sizeof block) result = failed(call, "write");
    else if (ioctl(dst, FICLONE, src) < 0) {
        result = errno == EOPNOTSUPP || errno == EINVAL || errno == EXDEV || errno == ENOTTY
            ? 0 : failed(call, "ioctl FICLONE");
    }
    close(src);
    close(dst);
    return result;
}

int vs_open_no_symlinks(int root, const char *path, int flags, const char **call) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)flags | O_CLOEXEC | O_NOFOLLOW;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    int fd = (int)syscall(SYS_openat2, root, path, &how, sizeof how);
    return fd < 0 ? failed(call, "openat2") : fd;
}

int vs_is_mount_root(int directory, const char *name, const char **call) {
    struct statx info;
    if (statx(directory, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, 0, &info) < 0) return failed(call, "statx");
    return (info.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (info.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}
