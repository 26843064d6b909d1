//! Per-container attachment: links from the node's pinned programs to one
//! cgroup, pinned under `links/<cgroup-id>/` so they outlive the hook.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use libbpf_rs::{Link, ProgramHandle};

use crate::error::BpfError;
use crate::paths::PinLayout;

pub(crate) struct CgroupProgram {
    pub name: &'static str,
    pub attach_type: libbpf_sys::bpf_attach_type,
    /// Attached only for a function with that policy: most have none.
    pub only_for: Option<Optional>,
}

/// Per-cgroup programs a function needs only with some policy.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Optional {
    Bind,
    Sockets,
}

/// Programs attached to every managed cgroup.
pub(crate) const CGROUP_PROGRAMS: &[CgroupProgram] = &[
    CgroupProgram {
        name: "fng_connect4",
        only_for: None,
        attach_type: libbpf_sys::BPF_CGROUP_INET4_CONNECT,
    },
    CgroupProgram {
        name: "fng_connect6",
        only_for: None,
        attach_type: libbpf_sys::BPF_CGROUP_INET6_CONNECT,
    },
    CgroupProgram {
        name: "fng_sendmsg4",
        only_for: None,
        attach_type: libbpf_sys::BPF_CGROUP_UDP4_SENDMSG,
    },
    CgroupProgram {
        name: "fng_sendmsg6",
        only_for: None,
        attach_type: libbpf_sys::BPF_CGROUP_UDP6_SENDMSG,
    },
    CgroupProgram {
        name: "fng_bind4",
        only_for: Some(Optional::Bind),
        attach_type: libbpf_sys::BPF_CGROUP_INET4_BIND,
    },
    CgroupProgram {
        name: "fng_bind6",
        only_for: Some(Optional::Bind),
        attach_type: libbpf_sys::BPF_CGROUP_INET6_BIND,
    },
    CgroupProgram {
        name: "fng_sock_create",
        only_for: Some(Optional::Sockets),
        attach_type: libbpf_sys::BPF_CGROUP_INET_SOCK_CREATE,
    },
    // Byte accounting and limits, and the ingress list where one is set.
    CgroupProgram {
        name: "fng_ingress",
        only_for: None,
        attach_type: libbpf_sys::BPF_CGROUP_INET_INGRESS,
    },
    CgroupProgram {
        name: "fng_egress",
        only_for: None,
        attach_type: libbpf_sys::BPF_CGROUP_INET_EGRESS,
    },
];

/// Attaches every cgroup program to `cgroup_dir` and pins the links. On
/// error the caller removes what was pinned with [`detach_cgroup_programs`].
/// `optional`: the policies the function has that need programs of their own.
pub fn attach_cgroup_programs(
    layout: &PinLayout,
    cgroup_id: u64,
    cgroup_dir: &Path,
    optional: &[Optional],
) -> Result<(), BpfError> {
    let links_dir = layout.cgroup_links_dir(cgroup_id);
    fs::create_dir_all(&links_dir).map_err(BpfError::io("creating link directory", &links_dir))?;
    let cgroup = fs::File::open(cgroup_dir).map_err(BpfError::io("opening cgroup", cgroup_dir))?;
    for program in CGROUP_PROGRAMS
        .iter()
        .filter(|p| p.only_for.is_none_or(|o| optional.contains(&o)))
    {
        let prog_path = layout.prog(program.name);
        let prog = ProgramHandle::from_pinned_path(&prog_path).map_err(BpfError::libbpf(format!(
            "opening pinned program {}",
            prog_path.display()
        )))?;
        // SAFETY: both fds are open for the duration of the call; opts may be NULL.
        let rc = unsafe {
            libbpf_sys::bpf_link_create(
                prog.as_fd().as_raw_fd(),
                cgroup.as_raw_fd(),
                program.attach_type,
                std::ptr::null(),
            )
        };
        if rc < 0 {
            return Err(BpfError::io("attaching program to cgroup", cgroup_dir)(
                io::Error::from_raw_os_error(-rc),
            ));
        }
        // SAFETY: rc is a fresh link fd that nothing else owns.
        let link = unsafe { OwnedFd::from_raw_fd(rc) };
        let pin = links_dir.join(program.name);
        let c_pin = CString::new(pin.as_os_str().as_bytes()).expect("paths have no NUL");
        // SAFETY: link is a valid fd and c_pin a valid C string.
        let rc = unsafe { libbpf_sys::bpf_obj_pin(link.as_raw_fd(), c_pin.as_ptr()) };
        if rc < 0 {
            return Err(BpfError::io("pinning link", &pin)(io::Error::from_raw_os_error(-rc)));
        }
    }
    Ok(())
}

/// Detaches and unpins every link of the cgroup. Returns how many pins were
/// removed; a cgroup that has none is not an error.
pub fn detach_cgroup_programs(layout: &PinLayout, cgroup_id: u64) -> Result<usize, BpfError> {
    let links_dir = layout.cgroup_links_dir(cgroup_id);
    let entries = match fs::read_dir(&links_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(BpfError::io("reading link directory", &links_dir)(e)),
    };
    let mut removed = 0;
    for entry in entries {
        let path = entry
            .map_err(BpfError::io("reading link directory", &links_dir))?
            .path();
        // Detach explicitly so a link fd held elsewhere cannot keep the
        // program attached. A link whose cgroup is gone was auto-detached
        // by the kernel; unpinning frees it.
        if let Ok(link) = Link::open(&path) {
            if let Err(e) = link.detach() {
                log::debug!("detaching link {}: {e}", path.display());
            }
        }
        fs::remove_file(&path).map_err(BpfError::io("unpinning link", &path))?;
        removed += 1;
    }
    fs::remove_dir(&links_dir).map_err(BpfError::io("removing link directory", &links_dir))?;
    Ok(removed)
}

/// Cgroup ids that have pinned links.
pub fn pinned_link_cgroups(layout: &PinLayout) -> Result<Vec<u64>, BpfError> {
    let dir = layout.links_dir();
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(BpfError::io("reading links directory", &dir)(e)),
    };
    let mut ids = Vec::new();
    for entry in entries {
        let entry = entry.map_err(BpfError::io("reading links directory", &dir))?;
        if let Some(id) = entry.file_name().to_str().and_then(|n| n.parse().ok()) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}
