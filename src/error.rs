//! Typed errors with the context a user needs: which file, and why.
//!
//! Every error that reaches the command line prints as one line naming the
//! thing (a file path, an argument) and the reason.

use std::path::{Path, PathBuf};

/// An error while reading, decoding, analysing or writing audio.
#[derive(Debug, thiserror::Error)]
pub enum LatheError {
    /// A file could not be opened or read (missing, unreadable, a directory).
    #[error("{path}: {reason}")]
    Open {
        /// The file named by the user.
        path: PathBuf,
        /// Why it could not be opened.
        reason: String,
    },
    /// The file was opened but its content is not decodable audio.
    #[error("{path}: {reason}")]
    Decode {
        /// The file being decoded.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A file could not be written.
    #[error("{path}: {reason}")]
    Write {
        /// The output file.
        path: PathBuf,
        /// Why it could not be written.
        reason: String,
    },
    /// A request that cannot be carried out (bad parameter, unsupported combination).
    #[error("{0}")]
    Invalid(String),
}

impl LatheError {
    /// Build an [`LatheError::Open`] error for `path`.
    pub fn open(path: &Path, reason: impl Into<String>) -> Self {
        Self::Open {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    /// Build a [`LatheError::Decode`] error for `path`.
    pub fn decode(path: &Path, reason: impl Into<String>) -> Self {
        Self::Decode {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    /// Build a [`LatheError::Write`] error for `path`.
    pub fn write(path: &Path, reason: impl Into<String>) -> Self {
        Self::Write {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}

/// Result type used across lathe's library.
pub type Result<T> = std::result::Result<T, LatheError>;
