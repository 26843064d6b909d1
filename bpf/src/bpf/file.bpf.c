// SPDX-License-Identifier: GPL-2.0
/* File opens of managed functions: at the exit of every open-family syscall
 * the new fd is resolved to its struct file, its path is judged against
 * files.deny/read/write and reported; a violation in enforce mode kills the
 * process before it returns to user space with the fd. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "path.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* x86_64 syscall numbers of the calls that return a new fd for a path. */
#define FNG_NR_OPEN 2
#define FNG_NR_CREAT 85
#define FNG_NR_OPENAT 257
#define FNG_NR_OPEN_BY_HANDLE_AT 304
#define FNG_NR_OPENAT2 437

#define FNG_FMODE_READ 0x1
#define FNG_FMODE_WRITE 0x2

/* The struct file behind fd in the current task's table. */
static __always_inline struct file *fd_file(long fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
	struct file *file = NULL;

	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd & 0xfffff]);
	return file;
}

/* The rule an access breaks, or FNG_RULE_NONE. A global function: verified
 * once on its own, and its result is opaque to the caller, which keeps the
 * caller's verification small. `rule` is a struct fng_path_rule (0: none),
 * `how` packs the access bits (low byte) and the truncated flag. */
__noinline __u8 access_violation(__u32 flags, __u64 rule, __u32 how)
{
	__u8 read = rule, write = rule >> 8, read_rule = rule >> 24, write_rule = rule >> 32;
	__u8 access = how & 0xff, truncated = how >> 8;

	if (truncated && (flags & FNG_F_PATHS))
		return FNG_RULE_PATH_UNRESOLVED;
	if (access & FNG_ACCESS_READ) {
		if (read == FNG_PATH_DENY)
			return read_rule;
		if (read == FNG_PATH_UNSET && (flags & FNG_F_FILES_READ))
			return FNG_RULE_FILES_READ;
	}
	if (access & FNG_ACCESS_WRITE) {
		if (write == FNG_PATH_DENY)
			return write_rule;
		if (write == FNG_PATH_UNSET && (flags & FNG_F_FILES_WRITE))
			return FNG_RULE_FILES_WRITE;
	}
	return FNG_RULE_NONE;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(fng_sys_exit, struct pt_regs *regs, long ret)
{
	struct fng_cg_policy *policy;
	struct fng_cg_stats *stats;
	struct fng_file_event *event;
	struct fng_path_rule *rule;
	struct task_struct *task;
	struct file *file;
	__u32 zero = 0, start, len;
	__u8 truncated, access = 0, violation;
	__u64 cgid = 0;
	long nr;
	char *buf;

	if (ret < 0)
		return 0;
	nr = BPF_CORE_READ(regs, orig_ax);
	if (nr != FNG_NR_OPENAT && nr != FNG_NR_OPEN && nr != FNG_NR_OPENAT2 && nr != FNG_NR_CREAT &&
	    nr != FNG_NR_OPEN_BY_HANDLE_AT)
		return 0;
	policy = managed_policy(&cgid);
	if (!policy)
		return 0;
	stats = bpf_map_lookup_elem(&fng_stats, &cgid);
	buf = bpf_map_lookup_elem(&fng_scratch, &zero);
	file = fd_file(ret);
	/* Until the function's first exec the runtime's init sets the container
	 * up; the policy is the function's, not the runtime's. */
	if (!stats || !buf || !file || !stats->first_exec_ns)
		return 0;
	__sync_fetch_and_add(&stats->opens, 1);

	{
		unsigned int f_mode = BPF_CORE_READ(file, f_mode);

		if (f_mode & FNG_FMODE_READ)
			access |= FNG_ACCESS_READ;
		if (f_mode & FNG_FMODE_WRITE)
			access |= FNG_ACCESS_WRITE;
	}
	len = resolve_path(buf, __builtin_preserve_access_index(&file->f_path), &start, &truncated);
	rule = lookup_path_rule(buf, cgid, start, len);
	violation = access_violation(policy->flags, rule ? *(__u64 *)rule : 0, access | (truncated << 8));
	/* An O_PATH fd grants no content; reopening it is judged on its own. */
	if (!violation && access && inode_denied(policy, cgid, file))
		violation = FNG_RULE_FILES_DENY;

	if (violation) {
		__sync_fetch_and_add(&stats->open_violations, 1);
		if (!(policy->flags & FNG_F_AUDIT))
			kill_current();
	}
	/* A kill is always reported; everything else within the event budget. */
	if ((!violation || (policy->flags & FNG_F_AUDIT)) && !take_event_budget(stats, cgid))
		return 0;
	event = (struct fng_file_event *)&buf[FNG_SCRATCH_EVENT];
	task = bpf_get_current_task_btf();
	fill_header(&event->hdr, FNG_EV_OPEN, cgid, BPF_CORE_READ(task, real_parent, tgid));
	set_verdict(&event->hdr, policy, violation);
	event->syscall = nr;
	event->fd = ret;
	event->access = access;
	event->flags = truncated ? FNG_PATH_TRUNCATED : 0;
	event->path_len = len;
	event->pad = 0;
	bpf_probe_read_kernel(event->path, len & (FNG_PATH_MAX - 1), &buf[start & (FNG_PATH_MAX - 1)]);
	if (bpf_ringbuf_output(&fng_events, event, (sizeof(*event) + len) & (2 * FNG_PATH_MAX - 1), 0))
		__sync_fetch_and_add(&stats->events_dropped, 1);
	return 0;
}
