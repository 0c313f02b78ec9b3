//! The metrics crate's one error type and its stable machine codes.

use keel_types::Code;

/// Why a metric could not be computed at all. A metric that is merely
/// undefined for the data (AUC with one class) is not an error: it is NaN in
/// the result, spelled `"NaN"` in JSON, as SageMaker does.
///
/// Messages name the fields of the request (`label`, `probability`,
/// `threshold`, ...), never the flags of a command line: callers that take
/// flags say which flag sets which field in one place of their own.
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
    /// The request itself is wrong, whatever the data: an unknown metric or
    /// problem type, a role the problem needs left unset, a threshold that is
    /// not a number, too many subsamples, a confidence outside (0, 1).
    #[error("{0}")]
    InvalidArgument(String),
    /// No column holds the actual label: the request names none and no
    /// schema field has the label role. Its own variant, so that a caller
    /// for whom built-in metrics are optional can tell this case apart.
    #[error(
        "the built-in metrics need the column with the actual label: set `label`, or mark that \
         field with \"role\": \"label\" in the input schema"
    )]
    MissingLabel,
}

impl Error {
    /// The stable machine code of this error.
    pub fn code(&self) -> Code {
        match self {
            Error::EmptyInput(_) => Code::EmptyInput,
            Error::InvalidInput(_) => Code::InvalidData,
            Error::InvalidArgument(_) | Error::MissingLabel => Code::InvalidArgument,
        }
    }
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_error_keeps_its_code() {
        assert_eq!(Error::EmptyInput(String::new()).code(), Code::EmptyInput);
        assert_eq!(Error::InvalidInput(String::new()).code(), Code::InvalidData);
        assert_eq!(
            Error::InvalidArgument(String::new()).code(),
            Code::InvalidArgument
        );
        assert_eq!(Error::MissingLabel.code(), Code::InvalidArgument);
        assert!(Error::MissingLabel.to_string().contains("`label`"));
    }
}
