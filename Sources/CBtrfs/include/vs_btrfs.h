/*
 * CBtrfs: thin wrappers for the btrfs ioctls of <linux/btrfs.h> (Swift cannot call the variadic ioctl(2)), for
 * disk limits on a vserver's root: a subvolume with a qgroup limit, as `machinectl set-limit` does.
 *
 * Every function returns 0 (or a non-negative result), or -errno with *call naming the failed call as the user
 * should read it before the path ("ioctl BTRFS_IOC_QGROUP_LIMIT on"). The caller supplies the path.
 */
#ifndef VS_BTRFS_H
#define VS_BTRFS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The inode number of every subvolume's top directory (BTRFS_FIRST_FREE_OBJECTID). */
#define VS_BTRFS_SUBVOLUME_INODE 256UL

/* 1 when `path` is on a btrfs (statfs f_type BTRFS_SUPER_MAGIC), else 0. (Swift's Glibc has no statfs.) */
int vs_btrfs_is_btrfs(const char *path, const char **call);

/* A new, empty subvolume `name` in the directory `parent` (BTRFS_IOC_SUBVOL_CREATE; mode 0755, root's). */
int vs_btrfs_subvolume_create(const char *parent, const char *name, const char **call);

/* The id of the subvolume `path` is in (BTRFS_IOC_INO_LOOKUP of BTRFS_FIRST_FREE_OBJECTID: its treeid). */
int vs_btrfs_subvolume_id(const char *path, uint64_t *id, const char **call);

/* Turns qgroups on for the file system of `path` (a no-op when they are on) and waits for the rescan that
 * counts what is there (BTRFS_IOC_QUOTA_CTL, BTRFS_IOC_QUOTA_RESCAN_WAIT). */
int vs_btrfs_quota_enable(const char *path, const char **call);

/* Commits the file system's transaction (BTRFS_IOC_SYNC): qgroups count only what is committed. */
int vs_btrfs_sync(const char *path, const char **call);

/* Sets qgroup 0/subvolume's limit of referenced bytes; UINT64_MAX clears it (BTRFS_IOC_QGROUP_LIMIT). */
int vs_btrfs_qgroup_limit(const char *path, uint64_t subvolume, uint64_t max_referenced, const char **call);

struct vs_btrfs_qgroup {
    uint64_t referenced;     /* bytes of the extents the subvolume refers to */
    uint64_t exclusive;      /* of them, bytes no other subvolume (snapshot) shares */
    uint64_t max_referenced; /* the limit, when has_limit */
    int has_limit;
};

/* Qgroup 0/subvolume as of the last transaction commit, from the quota tree (BTRFS_IOC_TREE_SEARCH; needs
 * CAP_SYS_ADMIN). -ENOTCONN when quotas are off (as BTRFS_IOC_QGROUP_LIMIT says), -ENOENT when there is no such
 * qgroup. */
int vs_btrfs_qgroup_read(const char *path, uint64_t subvolume, struct vs_btrfs_qgroup *out, const char **call);

#ifdef __cplusplus
}
#endif

#endif
