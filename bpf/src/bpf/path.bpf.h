/* Paths from the kernel's own struct path, relative to the current task's
 * root (the container's), and their policy verdicts. */
#ifndef FNGUARD_PATH_BPF_H
#define FNGUARD_PATH_BPF_H

#include "common.bpf.h"

#ifdef FNG_BTF_CAST
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
/* A field of a kernel object as a plain load: bpf_rdonly_cast costs nothing
 * (the verifier turns it into a move) and faults read as zero. */
#define FNG_READ(type, p, field) (((type *)bpf_rdonly_cast((p), bpf_core_type_id_kernel(type)))->field)
#else
#define FNG_READ(type, p, field) BPF_CORE_READ((type *)(p), field)
#endif

/* Deepest path (components plus mount crossings) resolved; deeper is flagged. */
#define FNG_MAX_COMPONENTS 256
#define FNG_NAME_MAX 255
/* Where in the scratch buffer things live. */
#define FNG_SCRATCH_KEY (2 * FNG_PATH_MAX)
#define FNG_SCRATCH_EVENT (2 * FNG_PATH_MAX + 512)
/* The walk's position lives in the map, not on the stack: a value read back
 * from a map is not tracked precisely, so the verifier sees the bpf_loop
 * callback converge at once instead of walking every position. */
#define FNG_SCRATCH_POS (2 * FNG_PATH_MAX + 448)
/* Where the walk leaves the offset of the last component's '/' (0: none). */
#define FNG_SCRATCH_LEAF (2 * FNG_PATH_MAX + 456)

/* State of one path walk, shared with the bpf_loop callback. */
struct fng_walk {
	char *buf;		 /* the per-CPU scratch the path is built in */
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct dentry *mnt_root; /* root of the current mount, read once per mount */
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	__u8 truncated;
};

/* One step up the tree: a path component, or a mount crossing. Returns 1
 * to stop the walk. Verified once, however many steps run. */
static long walk_step(__u32 index, struct fng_walk *w)
{
	char *buf = w->buf;
	struct dentry *parent;
	__u32 len, pos;

	/* Locals: CO-RE reads must start from kernel types, not from w. */
	struct dentry *dentry = w->dentry;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;

	if (!buf)
		return 1;
	if (dentry == w->root_dentry && vfsmnt == w->root_mnt) {
		w->truncated = 0;
		return 1;
	}
	if (dentry == w->mnt_root) {
		struct mount *up = FNG_READ(struct mount, mnt, mnt_parent);

		if (up == mnt) {
			/* The global root: the file lies outside the task's root. */
			w->truncated = 0;
			return 1;
		}
		w->dentry = FNG_READ(struct mount, mnt, mnt_mountpoint);
		w->mnt = up;
		w->vfsmnt = (struct vfsmount *)((char *)up + bpf_core_field_offset(struct mount, mnt));
		w->mnt_root = FNG_READ(struct mount, up, mnt.mnt_root);
		return 0;
	}
	len = FNG_READ(struct dentry, dentry, d_name.len) & FNG_NAME_MAX;
	pos = *(__u32 *)&buf[FNG_SCRATCH_POS];
	if (len + 1 > pos)
		return 1;
	pos -= len + 1;
	buf[pos & (FNG_PATH_MAX - 1)] = '/';
	bpf_probe_read_kernel(&buf[(pos + 1) & (FNG_PATH_MAX - 1)], len, FNG_READ(struct dentry, dentry, d_name.name));
	*(__u32 *)&buf[FNG_SCRATCH_POS] = pos;
	if (!*(__u32 *)&buf[FNG_SCRATCH_LEAF])
		*(__u32 *)&buf[FNG_SCRATCH_LEAF] = pos;
	parent = FNG_READ(struct dentry, dentry, d_parent);
	if (parent == dentry) {
		w->truncated = 0;
		return 1;
	}
	w->dentry = parent;
	return 0;
}

/* Builds the path of fpath backwards so it ends at buf[FNG_PATH_MAX]; sets
 * *start to its first byte and returns its length. *truncated is set when
 * the walk ran out of steps or room before reaching the root. */
static __always_inline __u32 resolve_path(char *buf, const struct path *fpath, __u32 *start, __u8 *truncated)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fng_walk w = {
		.dentry = FNG_READ(struct path, fpath, dentry),
		.vfsmnt = FNG_READ(struct path, fpath, mnt),
		.root_dentry = task->fs->root.dentry,
		.root_mnt = task->fs->root.mnt,
		.truncated = 1,
	};
	__u32 pos;

	w.buf = buf;
	w.mnt = container_of(w.vfsmnt, struct mount, mnt);
	{
		struct vfsmount *vfsmnt = w.vfsmnt; /* CO-RE reads start from kernel types */

		w.mnt_root = FNG_READ(struct vfsmount, vfsmnt, mnt_root);
	}
	buf[FNG_PATH_MAX] = 0;
	*(__u32 *)&buf[FNG_SCRATCH_POS] = FNG_PATH_MAX;
	*(__u32 *)&buf[FNG_SCRATCH_LEAF] = 0;
	bpf_loop(FNG_MAX_COMPONENTS, walk_step, &w, 0);
	pos = *(__u32 *)&buf[FNG_SCRATCH_POS] & (2 * FNG_PATH_MAX - 1);
	if (pos >= FNG_PATH_MAX) {
		pos = FNG_PATH_MAX - 1;
		buf[pos] = '/';
	}
	*start = pos;
	*truncated = w.truncated;
	return FNG_PATH_MAX - pos;
}

/* The most specific path rule of the cgroup for the path at buf[start]. */
static __always_inline struct fng_path_rule *lookup_path_rule(char *buf, __u64 cgid, __u32 start, __u32 len)
{
	struct fng_path_key *key = (struct fng_path_key *)&buf[FNG_SCRATCH_KEY];
	__u32 n = len < FNG_PATH_KEY_MAX ? len : FNG_PATH_KEY_MAX;
	__u32 bits = n;

	/* The masks below only bound offsets for the verifier: n <= FNG_PATH_KEY_MAX. */

	key->cgid_lo = (__u32)cgid;
	key->cgid_hi = (__u32)(cgid >> 32);
	bpf_probe_read_kernel(key->path, n & 511, &buf[start & (FNG_PATH_MAX - 1)]);
	if (n < FNG_PATH_KEY_MAX) {
		/* The NUL lets an exact rule ("/etc\0") match the path itself. */
		key->path[n & 255] = 0;
		bits = n + 1;
	}
	key->prefixlen = 64 + 8 * bits;
	return bpf_map_lookup_elem(&fng_paths, key);
}

/* True when the cgroup's files.deny covers this file by identity. */
static __always_inline int inode_denied(const struct fng_cg_policy *policy, __u64 cgid, struct file *file)
{
	struct fng_inode_key key = {};
	struct inode *inode;
	struct super_block *sb;

	if (!(policy->flags & FNG_F_INODES))
		return 0;
	key.cgid = cgid;
	inode = FNG_READ(struct file, file, f_inode);
	key.ino = FNG_READ(struct inode, inode, i_ino);
	sb = FNG_READ(struct inode, inode, i_sb);
	key.dev = FNG_READ(struct super_block, sb, s_dev);
	return bpf_map_lookup_elem(&fng_inodes, &key) != NULL;
}

/* The struct file behind fd in the current task's table. */
static __always_inline struct file *fd_file(long fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	/* BTF pointer loads, cheaper than helper calls; only the indexed slot
	 * needs a probe read. */
	struct file **fds = task->files->fdt->fd;
	struct file *file = NULL;

	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd & 0xfffff]);
	return file;
}

#endif
