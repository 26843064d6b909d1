//! `fnguard-runc`: for runtimes that run no OCI hooks of their own
//! (containerd's CRI), a runc wrapper that adds fnguard's hooks to an
//! annotated bundle and then becomes the real runc.

pub mod argv;
pub mod bundle_hooks;
pub mod real_runc;
