//! The one error type of the monitoring crate and its stable codes.

use keel_types::Code;

/// Everything reading or checking monitoring documents can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A statistics or constraints document is not in the shape it must be;
    /// the message says which document, which key, and what was expected.
    #[error("{0}")]
    InvalidDocument(String),
    /// An argument is out of range; the message names the field.
    #[error("{0}")]
    InvalidArgument(String),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The stable machine code of this error.
    pub fn code(&self) -> Code {
        match self {
            Error::InvalidDocument(_) => Code::InvalidData,
            Error::InvalidArgument(_) => Code::InvalidArgument,
        }
    }
}
