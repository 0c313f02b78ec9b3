//! The metrics crate's one error type and its stable machine codes.

use keel_types::Code;

/// Why a metric could not be computed at all. A metric that is merely
/// undefined for the data (AUC with one class) is not an error: it is NaN in
/// the result, spelled `"NaN"` in JSON, as SageMaker does.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No usable rows: an empty input, or every row had a null or NaN where a
    /// value is needed.
    #[error("{0}")]
    EmptyInput(String),
    /// The arrays do not fit together or do not fit the problem: different
    /// lengths, a column of the wrong type, more than two classes for a binary
    /// problem, a probability outside [0, 1].
    #[error("{0}")]
    InvalidInput(String),
}

impl Error {
    /// The stable machine code of this error.
    pub fn code(&self) -> Code {
        match self {
            Error::EmptyInput(_) => Code::EmptyInput,
            Error::InvalidInput(_) => Code::InvalidData,
        }
    }
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, Error>;
