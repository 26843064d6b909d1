/* File and exec policy structs shared with user space (bpf/src/layout.rs and
 * bpf/src/events.rs mirror them). */
#ifndef FNGUARD_FILES_H
#define FNGUARD_FILES_H

#include "events.h"

/* Path bytes a policy prefix can match on; longer paths still match on their
 * first bytes. */
#define FNG_PATH_KEY_MAX 248 /* the kernel caps LPM data at 256 bytes, 8 are the cgroup id */
/* Longest path an event carries (and the resolver builds). */
#define FNG_PATH_MAX 4096

/* fng_path_rule verdicts, one per access kind */
#define FNG_PATH_UNSET 0
#define FNG_PATH_ALLOW 1
#define FNG_PATH_DENY 2

/* (cgroup id, path prefix) -> verdicts. A directory rule "/etc" is stored as
 * the prefix "/etc/" and the exact path "/etc\0". */
struct fng_path_key {
	__u32 prefixlen; /* 64 + 8 * bytes of path matched */
	__u32 cgid_lo;
	__u32 cgid_hi;
	char path[FNG_PATH_KEY_MAX];
};

/* The verdict of the most specific rule for each access; user space fills
 * unset ones from shorter prefixes, so one lookup decides. */
struct fng_path_rule {
	__u8 read;
	__u8 write;
	__u8 exec;
	__u8 read_rule;	 /* enum fng_rule that set read */
	__u8 write_rule; /* enum fng_rule that set write */
	__u8 exec_rule;	 /* enum fng_rule that set exec */
	__u8 detect_read;  /* enum fng_detection + 1 that reading fires; 0: none */
	__u8 detect_write; /* ... that writing fires */
};

/* A file a files.deny rule covers, by identity, so another name for it (a
 * hard link) is denied too. Written by the hook from the container's rootfs. */
struct fng_inode_key {
	__u64 cgid;
	__u64 ino;
	__u32 dev;	/* kernel dev_t of the super block */
	__u32 pad;
};

/* fng_file_event.flags and fng_exec_event.flags */
#define FNG_PATH_TRUNCATED 1 /* the path was too deep or long to resolve whole */

/* Access bits of an open */
#define FNG_ACCESS_READ 1
#define FNG_ACCESS_WRITE 2

struct fng_file_event {
	struct fng_event_header hdr;
	__u32 syscall;	/* syscall number */
	__s32 fd;
	__u8 access;	/* FNG_ACCESS_* */
	__u8 flags;	/* FNG_PATH_* */
	__u16 path_len;	/* bytes of path that follow, no NUL */
	__u32 pad;
	char path[];	/* relative to the container's root */
};

struct fng_exec_event {
	struct fng_event_header hdr;
	__u8 flags;		/* FNG_PATH_* */
	__u8 pad;
	__u16 path_len;		/* the executable the kernel runs (resolved) */
	__u16 filename_len;	/* the name given to execve */
	__u16 interp_len;	/* the interpreter name (for scripts) */
	char data[];		/* path, filename, interp; no NULs */
};

#endif
