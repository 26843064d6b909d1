use thiserror::Error;

/// Why a container's annotations cannot become a policy. Every variant names
/// the annotation key and value so the runtime's error tells the user what to fix.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("unknown annotation {key}={value:?}: fnguard knows {known}")]
    UnknownKey { key: String, value: String, known: String },
    #[error("invalid annotation {key}={value:?}: {reason}")]
    InvalidValue { key: String, value: String, reason: String },
}

impl PolicyError {
    pub(crate) fn invalid(key: &str, value: &str, reason: impl Into<String>) -> Self {
        PolicyError::InvalidValue {
            key: key.to_string(),
            value: shorten(value),
            reason: reason.into(),
        }
    }
}

/// Keeps a huge annotation value from flooding the one-line error.
pub(crate) fn shorten(value: &str) -> String {
    const KEEP: usize = 120;
    match value.char_indices().nth(KEEP) {
        Some((cut, _)) => format!("{}...", &value[..cut]),
        None => value.to_string(),
    }
}
