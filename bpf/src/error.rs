use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum BpfError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Libbpf { what: String, source: libbpf_rs::Error },
    #[error("{0}")]
    Incomplete(String),
    #[error("{0}")]
    Setting(String),
    #[error("event of {len} bytes cannot be decoded: {reason}")]
    Decode { len: usize, reason: String },
}

impl BpfError {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BpfError {
        let path = path.into();
        move |source| BpfError::Io { what, path, source }
    }

    pub(crate) fn libbpf(what: impl Into<String>) -> impl FnOnce(libbpf_rs::Error) -> BpfError {
        let what = what.into();
        move |source| BpfError::Libbpf { what, source }
    }
}
