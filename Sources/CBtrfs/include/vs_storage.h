/*
 * Copying, measuring and sharing the extents of a guest's files: FICLONE, FIEMAP, FIDEDUPERANGE, openat2, xattrs,
 * SEEK_DATA and copy_file_range, which Swift's Glibc module does not expose (ioctl(2) is variadic; the rest sits
 * behind _GNU_SOURCE). As in vs_btrfs.h: 0 or a non-negative result, or -errno with *call naming the failed call.
 */
#ifndef VS_STORAGE_H
#define VS_STORAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ioctl FICLONE: `dst` (empty, same file system) gets all of `src`'s extents, shared. */
int vs_clone_file(int dst, int src, const char **call);

/* Copies the data of `src` from *offset on into `dst` at the same offsets, at most `limit` bytes, skipping holes
 * (SEEK_DATA, SEEK_HOLE) with copy_file_range, or read/write where that cannot; *offset moves past what was done
 * and reaches `size` at the end. Returns the bytes copied. */
int64_t vs_copy_data(int src, int dst, uint64_t size, uint64_t *offset, uint64_t limit, const char **call);

/* Extended attributes of an open file (fd >= 0) or, with fd -1, of `path` itself (a symlink is not followed):
 * flistxattr/llistxattr, fgetxattr/lgetxattr, fsetxattr/lsetxattr. List and get return the size. */
ssize_t vs_xattr_list(int fd, const char *path, char *buffer, size_t size, const char **call);
ssize_t vs_xattr_get(int fd, const char *path, const char *name, void *buffer, size_t size, const char **call);
int vs_xattr_set(int fd, const char *path, const char *name, const void *value, size_t size, const char **call);

/* What FIEMAP says of a file's data: bytes in extents, and of them the bytes in extents the file system marks
 * shared (FIEMAP_EXTENT_SHARED: with another file, a snapshot or a reflink copy). */
struct vs_extent_usage {
    uint64_t bytes;
    uint64_t shared;
};
int vs_extent_usage(int fd, struct vs_extent_usage *out, const char **call);

/* 1 when `a` and `b` have the same physical extents at the same offsets (they share all their data already), else 0. */
int vs_same_extents(int a, int b, const char **call);

/* ioctl FIDEDUPERANGE of `length` bytes at `offset` of `src` onto `dst`: the kernel compares the bytes and shares
 * the extents when they are equal. *deduped gets the bytes it shared; the result is 0 (same), 1 (the bytes
 * differ) or -errno. */
int vs_dedupe_range(int src, uint64_t offset, uint64_t length, int dst, uint64_t *deduped, const char **call);

/* 1 when files in `directory` can share extents (an O_TMPFILE pair there, FICLONE from one to the other), 0 when
 * the file system cannot (EOPNOTSUPP, EINVAL, EXDEV, ENOTTY), else -errno. Leaves nothing behind. */
int vs_reflink_probe(const char *directory, const char **call);

/* openat2 of `path` below the directory `root` without following any symlink and without leaving its file system
 * (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV): a guest's tree is untrusted. */
int vs_open_no_symlinks(int root, const char *path, int flags, const char **call);

/* 1 when the directory `name` in `directory` is the root of a mount (statx STATX_ATTR_MOUNT_ROOT: also a bind
 * mount from the same file system, which st_dev cannot tell), else 0; not following a symlink. */
int vs_is_mount_root(int directory, const char *name, const char **call);

#ifdef __cplusplus
}
#endif

#endif
