#include "vs_btrfs.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <unistd.h>

/* The failed call's errno, with the fd closed (close does not touch the saved value). */
static int fail(int fd, const char **call, const char *what) {
    int err = errno;
    if (fd >= 0) close(fd);
    *call = what;
    return -err;
}

static int open_directory(const char *path, const char **call) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return fail(-1, call, "open");
    return fd;
}

int vs_btrfs_is_btrfs(const char *path, const char **call) {
    struct statfs info;
    if (statfs(path, &info) < 0) return fail(-1, call, "statfs");
    return info.f_type == BTRFS_SUPER_MAGIC;
}

int vs_btrfs_subvolume_create(const char *parent, const char *name, const char **call) {
    struct btrfs_ioctl_vol_args args;
    memset(&args, 0, sizeof args);
    if (strlen(name) > BTRFS_PATH_NAME_MAX) {
        *call = "ioctl BTRFS_IOC_SUBVOL_CREATE";
        return -ENAMETOOLONG;
    }
    strcpy(args.name, name);
    int fd = open_directory(parent, call);
    if (fd < 0) return fd;
    if (ioctl(fd, BTRFS_IOC_SUBVOL_CREATE, &args) < 0) return fail(fd, call, "ioctl BTRFS_IOC_SUBVOL_CREATE");
    close(fd);
    return 0;
}

int vs_btrfs_subvolume_id(const char *path, uint64_t *id, const char **call) {
    struct btrfs_ioctl_ino_lookup_args args;
    memset(&args, 0, sizeof args);
    args.objectid = BTRFS_FIRST_FREE_OBJECTID;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return fail(-1, call, "open");
    if (ioctl(fd, BTRFS_IOC_INO_LOOKUP, &args) < 0) return fail(fd, call, "ioctl BTRFS_IOC_INO_LOOKUP on");
    close(fd);
    *id = args.treeid;
    return 0;
}

int vs_btrfs_quota_enable(const char *path, const char **call) {
    struct btrfs_ioctl_quota_ctl_args args;
    memset(&args, 0, sizeof args);
    args.cmd = BTRFS_QUOTA_CTL_ENABLE;
    int fd = open_directory(path, call);
    if (fd < 0) return fd;
    if (ioctl(fd, BTRFS_IOC_QUOTA_CTL, &args) < 0) return fail(fd, call, "ioctl BTRFS_IOC_QUOTA_CTL on");
    if (ioctl(fd, BTRFS_IOC_QUOTA_RESCAN_WAIT) < 0) return fail(fd, call, "ioctl BTRFS_IOC_QUOTA_RESCAN_WAIT on");
    close(fd);
    return 0;
}

int vs_btrfs_sync(const char *path, const char **call) {
    int fd = open_directory(path, call);
    if (fd < 0) return fd;
    if (ioctl(fd, BTRFS_IOC_SYNC) < 0) return fail(fd, call, "ioctl BTRFS_IOC_SYNC on");
    close(fd);
    return 0;
}

int vs_btrfs_qgroup_limit(const char *path, uint64_t subvolume, uint64_t max_referenced, const char **call) {
    struct btrfs_ioctl_qgroup_limit_args args;
    memset(&args, 0, sizeof args);
    args.qgroupid = subvolume; /* level 0 */
    /* The kernel takes (u64)-1 with the flag as "clear the limit"; without the flag it changes nothing. */
    args.lim.flags = BTRFS_QGROUP_LIMIT_MAX_RFER;
    args.lim.max_rfer = max_referenced;
    int fd = open_directory(path, call);
    if (fd < 0) return fd;
    if (ioctl(fd, BTRFS_IOC_QGROUP_LIMIT, &args) < 0) return fail(fd, call, "ioctl BTRFS_IOC_QGROUP_LIMIT on");
    close(fd);
    return 0;
}

/* The one item (0, type, qgroupid) of the quota tree, copied into item (size bytes); -ENOENT when there is none. */
static int search_quota_item(int fd, uint8_t type, uint64_t qgroupid, void *item, size_t size) {
    struct btrfs_ioctl_search_args args;
    memset(&args, 0, sizeof args);
    args.key.tree_id = BTRFS_QUOTA_TREE_OBJECTID;
    args.key.min_type = args.key.max_type = type;
    args.key.min_offset = args.key.max_offset = qgroupid;
    args.key.max_transid = UINT64_MAX;
    args.key.nr_items = 1;
    /* No quota tree: quotas are off, which BTRFS_IOC_QGROUP_LIMIT reports as ENOTCONN too. */
    if (ioctl(fd, BTRFS_IOC_TREE_SEARCH, &args) < 0) return errno == ENOENT ? -ENOTCONN : -errno;
    if (args.key.nr_items < 1) return -ENOENT;
    struct btrfs_ioctl_search_header header;
    memcpy(&header, args.buf, sizeof header);
    if (header.type != type || header.offset != qgroupid || header.len < size) return -ENOENT;
    memcpy(item, args.buf + sizeof header, size);
    return 0;
}

int vs_btrfs_qgroup_read(const char *path, uint64_t subvolume, struct vs_btrfs_qgroup *out, const char **call) {
    struct btrfs_qgroup_info_item info;
    struct btrfs_qgroup_limit_item limit;
    int fd = open_directory(path, call);
    if (fd < 0) return fd;
    int err = search_quota_item(fd, BTRFS_QGROUP_INFO_KEY, subvolume, &info, sizeof info);
    if (err == 0) err = search_quota_item(fd, BTRFS_QGROUP_LIMIT_KEY, subvolume, &limit, sizeof limit);
    close(fd);
    if (err < 0) {
        *call = "ioctl BTRFS_IOC_TREE_SEARCH on";
        return err;
    }
    out->referenced = le64toh(info.rfer);
    out->exclusive = le64toh(info.excl);
    out->has_limit = (le64toh(limit.flags) & BTRFS_QGROUP_LIMIT_MAX_RFER) != 0;
    out->max_referenced = out->has_limit ? le64toh(limit.max_rfer) : 0;
    return 0;
}
