/* Judging an open or an exec against the function's path rules, and the
 * events that report it. Shared by the syscall-exit, exec and LSM programs,
 * which differ only in how they stop a violation. */
#ifndef FNGUARD_JUDGE_BPF_H
#define FNGUARD_JUDGE_BPF_H

#include "path.bpf.h"

#define FNG_FMODE_READ 0x1
#define FNG_FMODE_WRITE 0x2
#define FNG_FMODE_EXEC 0x20
/* Longest filename or interpreter name an exec event carries. */
#define FNG_NAME_FIELD 256

/* What a path walk found and what the rules say about it. */
struct fng_judgement {
	__u32 start;	 /* the path is buf[start .. start + len) */
	__u32 len;
	__u8 truncated;
	__u8 access;	 /* FNG_ACCESS_* (opens) */
	__u8 violation;	 /* enum fng_rule, FNG_RULE_NONE when allowed */
	__u8 detection;	 /* enum fng_detection a detection path fires, or FNG_DET_NONE */
};

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

/* The rule an exec breaks, or FNG_RULE_NONE. A global function, verified
 * once on its own; `rule` is a struct fng_path_rule (0: none). */
__noinline __u8 exec_violation(__u32 flags, __u64 rule, __u32 truncated)
{
	__u8 verdict = rule >> 16, exec_rule = rule >> 40;

	if (truncated && (flags & FNG_F_PATHS))
		return FNG_RULE_PATH_UNRESOLVED;
	if (verdict == FNG_PATH_DENY)
		return exec_rule;
	if (verdict == FNG_PATH_UNSET && (flags & FNG_F_EXEC))
		return FNG_RULE_EXEC;
	return FNG_RULE_NONE;
}

/* The managed policy of the current task with its counters and scratch
 * space, or NULL. */
static __always_inline struct fng_cg_policy *current_policy(__u64 *cgid, struct fng_cg_stats **stats, char **buf)
{
	struct fng_cg_policy *policy = managed_policy(cgid);
	__u32 zero = 0;

	if (!policy)
		return NULL;
	*stats = bpf_map_lookup_elem(&fng_stats, cgid);
	*buf = bpf_map_lookup_elem(&fng_scratch, &zero);
	if (!*stats || !*buf)
		return NULL;
	return policy;
}

/* FNG_ACCESS_* bits of an open file. */
static __always_inline __u8 file_access(struct file *file)
{
	unsigned int f_mode = FNG_READ(struct file, file, f_mode);
	__u8 access = 0;

	if (f_mode & FNG_FMODE_READ)
		access |= FNG_ACCESS_READ;
	if (f_mode & FNG_FMODE_WRITE)
		access |= FNG_ACCESS_WRITE;
	return access;
}

/* Resolves an opened file's path and judges the access. */
static __always_inline void judge_open(char *buf, const struct fng_cg_policy *policy, __u64 cgid, struct file *file,
				       struct fng_judgement *j)
{
	struct fng_path_rule *rule;

	j->access = file_access(file);
	j->len = resolve_path(buf, __builtin_preserve_access_index(&file->f_path), &j->start, &j->truncated);
	rule = lookup_path_rule(buf, cgid, j->start, j->len);
	j->violation = access_violation(policy->flags, rule ? *(__u64 *)rule : 0, j->access | (j->truncated << 8));
	j->detection = FNG_DET_NONE;
	if (rule && (j->access & FNG_ACCESS_READ) && rule->detect_read)
		j->detection = rule->detect_read - 1;
	else if (rule && (j->access & FNG_ACCESS_WRITE) && rule->detect_write)
		j->detection = rule->detect_write - 1;
	/* An O_PATH fd grants no content; reopening it is judged on its own. */
	if (!j->violation && j->access && inode_denied(policy, cgid, file))
		j->violation = FNG_RULE_FILES_DENY;
}

/* Resolves the file an exec runs and judges it. */
static __always_inline void judge_exec(char *buf, const struct fng_cg_policy *policy, __u64 cgid, struct file *file,
				       struct fng_judgement *j)
{
	struct fng_path_rule *rule;

	j->access = 0;
	j->len = resolve_path(buf, __builtin_preserve_access_index(&file->f_path), &j->start, &j->truncated);
	rule = lookup_path_rule(buf, cgid, j->start, j->len);
	j->violation = exec_violation(policy->flags, rule ? *(__u64 *)rule : 0, j->truncated);
	if (!j->violation && inode_denied(policy, cgid, file))
		j->violation = FNG_RULE_FILES_DENY;
}

/* Records in the header what was done about a violation (none: allowed). */
static __always_inline void set_verdict(struct fng_event_header *hdr, const struct fng_cg_policy *policy,
					__u8 violation, __u8 mechanism)
{
	if (!violation)
		return;
	hdr->rule = violation;
	if (policy->flags & FNG_F_AUDIT) {
		hdr->verdict = FNG_AUDITED;
	} else {
		hdr->verdict = FNG_DENIED;
		hdr->mechanism = mechanism;
	}
}

/* Counts a violation and, in enforce mode, kills the current process before
 * it returns to user space (the fallback where BPF-LSM does not run). */
static __always_inline void kill_on_violation(__u64 *violations, const struct fng_cg_policy *policy)
{
	__sync_fetch_and_add(violations, 1);
	if (!(policy->flags & FNG_F_AUDIT))
		kill_current();
}

/* True when the event must be sent: a stopped violation always, anything
 * else within the cgroup's event budget. */
static __always_inline int should_report(struct fng_cg_stats *stats, const struct fng_cg_policy *policy,
					 __u64 cgid, __u8 violation)
{
	if (violation && !(policy->flags & FNG_F_AUDIT))
		return 1;
	return take_event_budget(stats, cgid);
}

/* Copies an assembled event of `size` bytes into the ring; a full ring is
 * counted. The explicit bound keeps older verifiers (6.1) convinced. */
static __always_inline void send_event(struct fng_cg_stats *stats, void *event, __u64 size)
{
	if (size > FNG_SCRATCH_SIZE - FNG_SCRATCH_EVENT)
		return;
	if (bpf_ringbuf_output(&fng_events, event, size, wakeup_flags()))
		__sync_fetch_and_add(&stats->events_dropped, 1);
}

/* Sends a file.open event for a judged open. */
static __always_inline void emit_open_event(char *buf, struct fng_cg_stats *stats, const struct fng_cg_policy *policy,
					    __u64 cgid, const struct fng_judgement *j, __u8 mechanism, __u32 nr,
					    __s32 fd)
{
	struct fng_file_event *event = (struct fng_file_event *)&buf[FNG_SCRATCH_EVENT];
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 len = j->len, start = j->start;

	fill_header(&event->hdr, FNG_EV_OPEN, cgid, BPF_CORE_READ(task, real_parent, tgid));
	set_verdict(&event->hdr, policy, j->violation, mechanism);
	event->syscall = nr;
	event->fd = fd;
	event->access = j->access;
	event->flags = j->truncated ? FNG_PATH_TRUNCATED : 0;
	event->path_len = len;
	event->pad = 0;
	len &= FNG_PATH_MAX - 1;
	bpf_probe_read_kernel(event->path, len, &buf[start & (FNG_PATH_MAX - 1)]);
	send_event(stats, event, sizeof(*event) + (__u64)len);
}

/* Sends a process.exec event for a judged exec. */
static __always_inline void emit_exec_event(char *buf, struct fng_cg_stats *stats, const struct fng_cg_policy *policy,
					    __u64 cgid, const struct fng_judgement *j, __u8 mechanism,
					    struct task_struct *task, struct linux_binprm *bprm)
{
	struct fng_exec_event *event = (struct fng_exec_event *)&buf[FNG_SCRATCH_EVENT];
	const char *filename, *interp;
	__u32 len = j->len, start = j->start, off;
	long n;

	fill_header(&event->hdr, FNG_EV_EXEC, cgid, BPF_CORE_READ(task, real_parent, tgid));
	set_verdict(&event->hdr, policy, j->violation, mechanism);
	event->flags = j->truncated ? FNG_PATH_TRUNCATED : 0;
	event->pad = 0;
	event->path_len = len;
	bpf_probe_read_kernel(event->data, len & (FNG_PATH_MAX - 1), &buf[start & (FNG_PATH_MAX - 1)]);
	off = len & (FNG_PATH_MAX - 1);

	filename = BPF_CORE_READ(bprm, filename);
	n = bpf_probe_read_kernel_str(&event->data[off], FNG_NAME_FIELD, filename);
	event->filename_len = n > 0 ? n - 1 : 0;
	off += event->filename_len & (FNG_NAME_FIELD - 1);

	/* Scripts: interp names the interpreter; otherwise it equals filename. */
	interp = BPF_CORE_READ(bprm, interp);
	event->interp_len = 0;
	if (interp != filename) {
		n = bpf_probe_read_kernel_str(&event->data[off & (2 * FNG_PATH_MAX - 1)], FNG_NAME_FIELD, interp);
		event->interp_len = n > 0 ? n - 1 : 0;
		off += event->interp_len & (FNG_NAME_FIELD - 1);
	}
	send_event(stats, event, sizeof(*event) + (__u64)(off & (2 * FNG_PATH_MAX - 1)));
}

#endif
