//! Turns Arrow columns into the plain slices the kernels take: labels as
//! `bool` or class codes, scores as `f64`, groups as codes. Rows with a null
//! or NaN in a column a metric needs are dropped here, and counted.
//!
//! Labels are compared by value, whatever their type: an integer label `1`, a
//! float `1.0` and a string `"1"` are the same class, so a model that returns
//! floats can be scored against integer labels.
//!
//! The rooms: `arrow` gathers a role's arrays across batches and
//! reads them as floats, sort keys or text; `encode` gives class values dense
//! codes; `binary_labels` settles the positive class of a binary problem;
//! `prepare` reads a whole [`Spec`] and drops the unusable rows.

mod arrow;
mod binary_labels;
mod encode;
mod prepare;

use std::collections::BTreeMap;

pub(crate) use arrow::{gather, keys_without_missing};
pub use encode::{CategoryEncoder, class_name};
pub use prepare::{infer_problem_type, prepare};

/// [`ProblemType`] and [`Spec`] live at the crate root; these paths stay for
/// callers that name them through `column`.
pub use crate::spec::{ProblemType, Spec};

/// Rows dropped, by the column that made them unusable.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dropped {
    /// Column name → rows dropped because of a null or NaN there.
    pub by_column: BTreeMap<String, u64>,
}

impl Dropped {
    /// All dropped rows.
    pub fn total(&self) -> u64 {
        self.by_column.values().sum()
    }
}

/// One protected attribute's group of every kept row.
#[derive(Clone, Debug, PartialEq)]
pub struct Groups {
    /// The attribute's column.
    pub attribute: String,
    /// Group names, sorted; null values form the group `"null"`.
    pub names: Vec<String>,
    /// The group code of every kept row.
    pub codes: Vec<u32>,
}

/// The columns of a binary problem, cleaned and aligned.
#[derive(Clone, Debug, PartialEq)]
pub struct BinaryColumns {
    /// The positive class's name.
    pub positive: String,
    /// The negative class's name (the other label seen, or `"0"`/`"false"`/`"not <positive>"`).
    pub negative: String,
    /// Whether each row's actual label is the positive class.
    pub actual: Vec<bool>,
    /// Whether each row is predicted positive.
    pub predicted: Vec<bool>,
    /// The probability of the positive class, when a probability column was given.
    pub score: Option<Vec<f64>>,
    /// Whether every score lies in [0, 1] (log loss and Brier score need probabilities).
    pub scores_are_probabilities: bool,
}

/// The columns of a multiclass problem, as dense class codes.
#[derive(Clone, Debug, PartialEq)]
pub struct MulticlassColumns {
    /// Class names, sorted as scikit-learn sorts labels (numerically for numbers).
    pub classes: Vec<String>,
    /// The actual class code of each row.
    pub actual: Vec<u32>,
    /// The predicted class code of each row.
    pub predicted: Vec<u32>,
}

/// The columns of a regression problem.
#[derive(Clone, Debug, PartialEq)]
pub struct RegressionColumns {
    /// The actual values.
    pub actual: Vec<f64>,
    /// The predicted values.
    pub predicted: Vec<f64>,
}

/// The problem's columns, by kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Columns {
    /// Binary classification.
    Binary(BinaryColumns),
    /// Multiclass classification.
    Multiclass(MulticlassColumns),
    /// Regression.
    Regression(RegressionColumns),
}

/// Everything the kernels need, cleaned: the problem's columns, the
/// protected groups of the same rows, and what was dropped.
#[derive(Clone, Debug, PartialEq)]
pub struct Prepared {
    /// Rows given.
    pub rows: u64,
    /// The problem's columns (kept rows only).
    pub columns: Columns,
    /// One entry per protected attribute (kept rows only).
    pub groups: Vec<Groups>,
    /// Why rows were dropped.
    pub dropped: Dropped,
    /// Which given rows were kept, by position, when some were dropped;
    /// `None` when every row was kept. Callers that pair rows across two
    /// inputs (champion and challenger) need it.
    pub kept_mask: Option<Vec<bool>>,
}

impl Prepared {
    /// The positions, among the given rows, of the rows kept, in order.
    pub fn kept_rows(&self) -> Vec<usize> {
        match &self.kept_mask {
            None => (0..self.rows as usize).collect(),
            Some(m) => m
                .iter()
                .enumerate()
                .filter_map(|(i, &k)| k.then_some(i))
                .collect(),
        }
    }

    /// Rows kept.
    pub fn kept(&self) -> usize {
        match &self.columns {
            Columns::Binary(b) => b.actual.len(),
            Columns::Multiclass(m) => m.actual.len(),
            Columns::Regression(r) => r.actual.len(),
        }
    }
}

/// A record batch of the given columns, for the tests of every room.
#[cfg(test)]
fn batch(cols: Vec<(&str, arrow_array::ArrayRef)>) -> arrow_array::RecordBatch {
    arrow_array::RecordBatch::try_from_iter(cols).unwrap()
}
