//! Turns Arrow columns into the plain slices the kernels take: labels as
//! `bool` or class codes, scores as `f64`, groups as codes. Rows with a null
//! or NaN in a column a metric needs are dropped here, and counted.
//!
//! Labels are compared by value, whatever their type: an integer label `1`, a
//! float `1.0` and a string `"1"` are the same class, so a model that returns
//! floats can be scored against integer labels.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch, downcast_integer_array};
use arrow_schema::DataType;

use crate::{Error, Result, Uncertainty};

/// The kind of model a metrics document is for, with SageMaker's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemType {
    /// Two classes; SageMaker's `BinaryClassification`.
    Binary,
    /// More than two classes; SageMaker's `MulticlassClassification`.
    Multiclass,
    /// A number; SageMaker's `Regression`.
    Regression,
}

impl ProblemType {
    /// SageMaker's name, such as `BinaryClassification`.
    pub fn sagemaker_name(self) -> &'static str {
        match self {
            ProblemType::Binary => "BinaryClassification",
            ProblemType::Multiclass => "MulticlassClassification",
            ProblemType::Regression => "Regression",
        }
    }

    /// The top key of the metrics in SageMaker's statistics document.
    pub fn metrics_key(self) -> &'static str {
        match self {
            ProblemType::Binary => "binary_classification_metrics",
            ProblemType::Multiclass => "multiclass_classification_metrics",
            ProblemType::Regression => "regression_metrics",
        }
    }
}

impl FromStr for ProblemType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let k: String = s
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match k.as_str() {
            "binary" | "binaryclassification" => Ok(ProblemType::Binary),
            "multiclass" | "multiclassclassification" => Ok(ProblemType::Multiclass),
            "regression" => Ok(ProblemType::Regression),
            _ => Err(Error::InvalidInput(format!(
                "unknown problem type '{s}'; use binary, multiclass or regression"
            ))),
        }
    }
}

impl std::fmt::Display for ProblemType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProblemType::Binary => "binary",
            ProblemType::Multiclass => "multiclass",
            ProblemType::Regression => "regression",
        })
    }
}

/// Which columns play which role, and how to read them.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    /// The kind of model.
    pub problem_type: ProblemType,
    /// The column with the actual value (the ground truth).
    pub label: String,
    /// The column with the probability of the positive class (binary only).
    pub probability: Option<String>,
    /// The column with the predicted label or value.
    pub prediction: Option<String>,
    /// A probability strictly above this predicts the positive class (the rule
    /// scikit-learn's `predict` and ModelOp's examples use).
    pub threshold: f64,
    /// The positive class; `None` means `1`, `true`, or the string `"1"`/`"true"`.
    pub positive_label: Option<String>,
    /// Columns holding protected attributes, for the fairness metrics.
    pub protected: Vec<String>,
    /// The reference group of a protected attribute; by default its largest group.
    pub reference_groups: BTreeMap<String, String>,
    /// How standard deviations are estimated.
    pub uncertainty: Uncertainty,
    /// Curves in the document keep at most this many points (0 keeps all).
    pub curve_points: usize,
}

impl Spec {
    /// A spec with the defaults: threshold 0.5, SageMaker's uncertainty, 1000-point curves.
    pub fn new(problem_type: ProblemType, label: impl Into<String>) -> Self {
        Spec {
            problem_type,
            label: label.into(),
            probability: None,
            prediction: None,
            threshold: 0.5,
            positive_label: None,
            protected: Vec::new(),
            reference_groups: BTreeMap::new(),
            uncertainty: Uncertainty::default(),
            curve_points: 1000,
        }
    }

    /// Checks that the roles fit the problem type.
    pub fn validate(&self) -> Result<()> {
        match self.problem_type {
            ProblemType::Binary => {
                if self.probability.is_none() && self.prediction.is_none() {
                    return Err(Error::InvalidInput(
                        "binary metrics need the model's output: name a probability column \
                         (--probability, with --threshold) or a predicted-label column \
                         (--prediction)"
                            .into(),
                    ));
                }
                if !(self.threshold.is_finite()) {
                    return Err(Error::InvalidInput(format!(
                        "the threshold must be a number, not {}",
                        self.threshold
                    )));
                }
            }
            ProblemType::Multiclass | ProblemType::Regression => {
                if self.prediction.is_none() {
                    return Err(Error::InvalidInput(format!(
                        "{} metrics need the predicted {} column (--prediction)",
                        self.problem_type,
                        if self.problem_type == ProblemType::Regression {
                            "value"
                        } else {
                            "label"
                        }
                    )));
                }
            }
        }
        crate::sample::check_subsamples(self.uncertainty.subsamples)
    }

    /// Every column the spec reads, without duplicates, label first.
    pub fn columns(&self) -> Vec<String> {
        let mut out = vec![self.label.clone()];
        for c in self
            .probability
            .iter()
            .chain(self.prediction.iter())
            .chain(self.protected.iter())
        {
            if !out.contains(c) {
                out.push(c.clone());
            }
        }
        out
    }
}

/// The columns of one role, gathered across batches.
pub(crate) fn gather(batches: &[RecordBatch], name: &str) -> Result<Vec<ArrayRef>> {
    let mut out = Vec::with_capacity(batches.len());
    for b in batches {
        match b.column_by_name(name) {
            Some(c) => out.push(c.clone()),
            None => {
                let have: Vec<&str> = b
                    .schema_ref()
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect();
                return Err(Error::InvalidInput(format!(
                    "there is no column '{name}'; the columns are: {}",
                    have.join(", ")
                )));
            }
        }
    }
    Ok(out)
}

/// Whether a column type reads as numbers.
fn is_numeric(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Float64
            | DataType::Float32
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Boolean
    )
}

/// Appends a column's values as floats, NaN for null. Booleans read as 0 and 1.
fn push_f64(a: &dyn Array, name: &str, out: &mut Vec<f64>) -> Result<()> {
    macro_rules! prim {
        ($t:ty) => {{
            let p = a.as_primitive::<$t>();
            match p.nulls() {
                None => out.extend(p.values().iter().map(|&v| v as f64)),
                Some(n) => out.extend(
                    p.values()
                        .iter()
                        .zip(n.iter())
                        .map(|(&v, ok)| if ok { v as f64 } else { f64::NAN }),
                ),
            }
        }};
    }
    match a.data_type() {
        DataType::Float64 => {
            let p = a.as_primitive::<Float64Type>();
            match p.nulls() {
                None => out.extend_from_slice(p.values()),
                Some(n) => out.extend(
                    p.values()
                        .iter()
                        .zip(n.iter())
                        .map(|(&v, ok)| if ok { v } else { f64::NAN }),
                ),
            }
        }
        DataType::Float32 => prim!(Float32Type),
        DataType::Int8 => prim!(Int8Type),
        DataType::Int16 => prim!(Int16Type),
        DataType::Int32 => prim!(Int32Type),
        DataType::Int64 => prim!(Int64Type),
        DataType::UInt8 => prim!(UInt8Type),
        DataType::UInt16 => prim!(UInt16Type),
        DataType::UInt32 => prim!(UInt32Type),
        DataType::UInt64 => prim!(UInt64Type),
        DataType::Boolean => {
            let b = a.as_boolean();
            out.extend(b.iter().map(|v| match v {
                Some(true) => 1.0,
                Some(false) => 0.0,
                None => f64::NAN,
            }));
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            // Numbers written as text (a CSV read without a schema can give
            // these) still count; anything else is a clear error.
            for i in 0..a.len() {
                match text_at(a, i) {
                    None => out.push(f64::NAN),
                    Some(s) => match s.trim().parse::<f64>() {
                        Ok(v) => out.push(v),
                        Err(_) => {
                            return Err(Error::InvalidInput(format!(
                                "column '{name}' must hold numbers, but row {} holds '{s}'",
                                out.len() + 1
                            )));
                        }
                    },
                }
            }
        }
        other => {
            return Err(Error::InvalidInput(format!(
                "column '{name}' has type {other}, which is not a number; metrics need numeric \
                 scores and values"
            )));
        }
    }
    Ok(())
}

/// A numeric column's values as order-preserving sort keys
/// ([`crate::sort::key`]), leaving out nulls and NaN, and how many it left
/// out. One pass, without a float copy of the column.
pub(crate) fn keys_without_missing(arrays: &[ArrayRef], name: &str) -> Result<(Vec<u64>, usize)> {
    let rows: usize = arrays.iter().map(|a| a.len()).sum();
    let mut keys = Vec::with_capacity(rows);
    let mut buf = Vec::new();
    for a in arrays {
        let values: &[f64] = match (a.data_type(), a.null_count()) {
            (DataType::Float64, 0) => a.as_primitive::<Float64Type>().values(),
            _ => {
                buf.clear();
                push_f64(a.as_ref(), name, &mut buf)?;
                &buf
            }
        };
        keys.extend(
            values
                .iter()
                .filter(|x| !x.is_nan())
                .map(|&x| crate::sort::key(x)),
        );
    }
    let missing = rows - keys.len();
    Ok((keys, missing))
}

/// A column's values as floats, NaN for null.
pub(crate) fn floats(arrays: &[ArrayRef], name: &str) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(arrays.iter().map(|a| a.len()).sum());
    for a in arrays {
        push_f64(a.as_ref(), name, &mut out)?;
    }
    Ok(out)
}

/// The text of row `i` of a string column, `None` when null.
fn text_at(a: &dyn Array, i: usize) -> Option<&str> {
    if a.is_null(i) {
        return None;
    }
    match a.data_type() {
        DataType::Utf8 => Some(a.as_string::<i32>().value(i)),
        DataType::LargeUtf8 => Some(a.as_string::<i64>().value(i)),
        DataType::Utf8View => Some(a.as_string_view().value(i)),
        _ => None,
    }
}

/// How a numeric value is written as a class name: integral values without a
/// fraction (`1.0` is class `"1"`), others as the shortest round-trip float.
pub fn class_name(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 9.007_199_254_740_992e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Gives each distinct class value a dense code, without allocating per row.
/// Numbers and text share one code space: the number `1` and the text `"1"`
/// are the same class.
#[derive(Debug, Default)]
pub struct CategoryEncoder {
    by_text: HashMap<String, u32>,
    by_num: HashMap<u64, u32>,
    names: Vec<String>,
    /// The numeric value of each code, when it came from a number.
    numbers: Vec<Option<f64>>,
    /// `by_num` as a list, while it has at most [`FEW`] entries.
    few_numbers: Vec<(u64, u32)>,
}

/// Up to this many distinct values, a linear scan beats a hash lookup.
const FEW: usize = 16;

/// The widest range of integers [`CategoryEncoder::encode`] looks up in a
/// direct table (a power of two).
const SMALL_RANGE: usize = 256;
/// A table slot not filled yet.
const UNSET: u32 = u32::MAX - 1;

/// The smallest value when every non-NaN value is an integer and they all lie
/// within [`SMALL_RANGE`] of each other; `None` otherwise (or when all are
/// NaN).
fn small_integer_range(values: &[f64]) -> Option<f64> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut integral = true;
    for &x in values {
        if x.is_nan() {
            continue;
        }
        integral &= x.fract() == 0.0;
        lo = lo.min(x);
        hi = hi.max(x);
    }
    (integral && lo <= hi && hi - lo < SMALL_RANGE as f64).then_some(lo)
}

/// The code of a null.
const NULL: u32 = u32::MAX;

/// The range that spans two ranges.
fn widen<T: Ord>((lo, hi): (T, T), (v, w): (T, T)) -> (T, T) {
    (lo.min(v), hi.max(w))
}

/// The smallest and largest valid value of an integer column (`Some(None)`
/// when it has none), or `None` when the column is not all integers.
fn integer_range(arrays: &[ArrayRef]) -> Option<Option<(i128, i128)>> {
    let mut range: Option<(i128, i128)> = None;
    for a in arrays {
        let r = downcast_integer_array!(
            a => {
                match a.nulls() {
                    // One min-max pass, which the compiler vectorizes.
                    None => a.values().iter().map(|&v| (v, v)).reduce(widen),
                    Some(n) => a
                        .values()
                        .iter()
                        .zip(n.iter())
                        .filter(|v| v.1)
                        .map(|(&v, _)| (v, v))
                        .reduce(widen),
                }
                .map(|(lo, hi)| (lo as i128, hi as i128))
            }
            _ => return None
        );
        if let Some(r) = r {
            range = Some(range.map_or(r, |q| widen(q, r)));
        }
    }
    Some(range)
}

/// Each value's offset from `lo` (`NULL` for a null), and which offsets
/// occur. The caller has checked that every value lies in
/// `lo..lo + SMALL_RANGE` and that `lo` fits in an i64, so the offsets fit.
// The macro expands for i64 too, where `v as i64` is a no-op.
#[allow(clippy::unnecessary_cast)]
fn integer_offsets(arrays: &[ArrayRef], lo: i64) -> (Vec<u32>, [bool; SMALL_RANGE]) {
    let mut out = Vec::with_capacity(arrays.iter().map(|a| a.len()).sum());
    for a in arrays {
        downcast_integer_array!(
            a => match a.nulls() {
                None => out.extend(
                    a.values()
                        .iter()
                        .map(|&v| (v as i64).wrapping_sub(lo) as u32)
                ),
                Some(n) => out.extend(a.values().iter().zip(n.iter()).map(|(&v, ok)| {
                    if ok {
                        (v as i64).wrapping_sub(lo) as u32
                    } else {
                        NULL
                    }
                })),
            },
            _ => {}
        );
    }
    let mut seen = [false; SMALL_RANGE];
    for &o in &out {
        if let Some(s) = seen.get_mut(o as usize) {
            *s = true;
        }
    }
    (out, seen)
}

/// The class codes of two integer columns whose values all lie within
/// [`SMALL_RANGE`] of each other (the usual class labels), and the class
/// names in scikit-learn's (numeric) order; `None` for any other columns,
/// which [`CategoryEncoder`] then codes.
///
/// It gives the codes the encoder gives, in fewer passes: a value's offset
/// from the smallest value is its code once the offsets that never occur
/// are squeezed out, and that squeeze is skipped when every offset occurs.
/// The two columns are read on two threads.
fn small_integer_classes(columns: [&[ArrayRef]; 2]) -> Option<([Vec<u32>; 2], Vec<String>)> {
    let [a, b] = columns;
    let (ra, rb) = crate::par::join(|| integer_range(a), || integer_range(b));
    let (lo, hi) = match (ra?, rb?) {
        (Some(x), Some(y)) => widen(x, y),
        (Some(r), None) | (None, Some(r)) => r,
        (None, None) => return None,
    };
    if hi - lo >= SMALL_RANGE as i128 {
        return None;
    }
    // Every value is within SMALL_RANGE of lo, so `v - lo` fits once lo fits
    // in an i64 (u64 labels past i64::MAX take the general path).
    let lo64 = i64::try_from(lo).ok()?;
    let ((mut ca, sa), (mut cb, sb)) =
        crate::par::join(|| integer_offsets(a, lo64), || integer_offsets(b, lo64));
    let mut remap = [NULL; SMALL_RANGE];
    let mut names = Vec::new();
    for offset in (0..SMALL_RANGE).filter(|&o| sa[o] || sb[o]) {
        remap[offset] = names.len() as u32;
        names.push(class_name((lo + offset as i128) as f64));
    }
    if (names.len() as i128) < hi - lo + 1 {
        for c in ca.iter_mut().chain(cb.iter_mut()) {
            if *c != NULL {
                *c = remap[*c as usize];
            }
        }
    }
    Some(([ca, cb], names))
}

impl CategoryEncoder {
    fn text(&mut self, s: &str) -> u32 {
        if let Some(&c) = self.by_text.get(s) {
            return c;
        }
        let c = self.names.len() as u32;
        self.by_text.insert(s.to_string(), c);
        self.names.push(s.to_string());
        self.numbers.push(None);
        c
    }

    fn number(&mut self, x: f64) -> u32 {
        if x.is_nan() {
            return NULL;
        }
        let k = crate::sort::key(x);
        if let Some(&c) = self.by_num.get(&k) {
            return c;
        }
        let name = class_name(x);
        let c = match self.by_text.get(&name) {
            Some(&c) => c,
            None => {
                let c = self.names.len() as u32;
                self.by_text.insert(name.clone(), c);
                self.names.push(name);
                self.numbers.push(Some(x));
                c
            }
        };
        self.by_num.insert(k, c);
        if self.by_num.len() <= FEW {
            self.few_numbers.push((k, c));
        }
        c
    }

    /// The codes of a column's rows, `u32::MAX` for null (and NaN).
    ///
    /// Labels and groups have few distinct values, so while there are at
    /// most [`FEW`] a linear scan finds a value's code faster than hashing
    /// it; past that, the hash maps take over.
    pub fn encode(&mut self, arrays: &[ArrayRef], name: &str) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(arrays.iter().map(|a| a.len()).sum());
        let mut buf = Vec::new();
        for a in arrays {
            let dt = a.data_type();
            if is_numeric(dt) {
                buf.clear();
                push_f64(a.as_ref(), name, &mut buf)?;
                if let Some(min) = small_integer_range(&buf) {
                    // Integer classes in a small range (the usual labels):
                    // a direct table, filled on first sight of each value.
                    let mut table = [UNSET; SMALL_RANGE];
                    for &x in &buf {
                        if x.is_nan() {
                            out.push(NULL);
                            continue;
                        }
                        let slot = &mut table[(x - min) as usize & (SMALL_RANGE - 1)];
                        if *slot == UNSET {
                            *slot = self.number(x);
                        }
                        out.push(*slot);
                    }
                    continue;
                }
                for &x in &buf {
                    let k = crate::sort::key(x);
                    let c = match self.few_numbers.iter().find(|p| p.0 == k) {
                        Some(&(_, c)) => c,
                        None => self.number(x),
                    };
                    out.push(c);
                }
            } else {
                let mut push = |s: Option<&str>| {
                    out.push(match s {
                        None => NULL,
                        Some(s) if self.names.len() <= FEW => {
                            match self.names.iter().position(|n| n == s) {
                                Some(c) => c as u32,
                                None => self.text(s),
                            }
                        }
                        Some(s) => self.text(s),
                    })
                };
                match dt {
                    DataType::Utf8 => a.as_string::<i32>().iter().for_each(&mut push),
                    DataType::LargeUtf8 => a.as_string::<i64>().iter().for_each(&mut push),
                    DataType::Utf8View => a.as_string_view().iter().for_each(&mut push),
                    _ => {
                        return Err(Error::InvalidInput(format!(
                            "column '{name}' has type {dt}; a label or group must be a number, \
                             a boolean or a string"
                        )));
                    }
                }
            }
        }
        Ok(out)
    }

    /// The class names, by code (in the order first seen).
    pub fn names(&self) -> Vec<String> {
        self.names.clone()
    }

    /// Renumbers the codes in scikit-learn's label order (numerically when
    /// every class is a number, else by text) and returns the sorted names.
    fn sorted(self, columns: &mut [&mut Vec<u32>]) -> Vec<String> {
        let mut order: Vec<u32> = (0..self.names.len() as u32).collect();
        if self.numbers.iter().all(Option::is_some) {
            order.sort_by(|&a, &b| {
                let x = self.numbers[a as usize].unwrap_or(f64::NAN);
                let y = self.numbers[b as usize].unwrap_or(f64::NAN);
                x.total_cmp(&y)
            });
        } else {
            order.sort_by(|&a, &b| self.names[a as usize].cmp(&self.names[b as usize]));
        }
        let mut remap = vec![0u32; order.len()];
        for (new, &old) in order.iter().enumerate() {
            remap[old as usize] = new as u32;
        }
        for col in columns.iter_mut() {
            for c in col.iter_mut() {
                if *c != NULL {
                    *c = remap[*c as usize];
                }
            }
        }
        let mut names = self.names;
        order
            .iter()
            .map(|&old| std::mem::take(&mut names[old as usize]))
            .collect()
    }
}

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

/// Reads the spec's columns out of `batches` and cleans them.
pub fn prepare(batches: &[RecordBatch], spec: &Spec) -> Result<Prepared> {
    spec.validate()?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let mut dropped = Dropped::default();
    // keep[i] turns false once row i has a null or NaN somewhere it matters.
    let mut keep = vec![true; rows];
    let label_arrays = gather(batches, &spec.label)?;
    let columns = match spec.problem_type {
        ProblemType::Regression => {
            let pred_name = spec.prediction.as_deref().unwrap_or_default();
            if !label_arrays.iter().all(|a| is_numeric(a.data_type())) {
                return Err(Error::InvalidInput(format!(
                    "regression needs a numeric label, but column '{}' holds text",
                    spec.label
                )));
            }
            let actual = floats(&label_arrays, &spec.label)?;
            let predicted = floats(&gather(batches, pred_name)?, pred_name)?;
            mark(
                actual.iter().map(|x| x.is_finite()),
                &spec.label,
                &mut keep,
                &mut dropped,
            );
            mark(
                predicted.iter().map(|x| x.is_finite()),
                pred_name,
                &mut keep,
                &mut dropped,
            );
            Columns::Regression(RegressionColumns {
                actual: filter(actual, &keep),
                predicted: filter(predicted, &keep),
            })
        }
        ProblemType::Multiclass => {
            let pred_name = spec.prediction.as_deref().unwrap_or_default();
            let pred_arrays = gather(batches, pred_name)?;
            let ([actual, predicted], classes) =
                match small_integer_classes([&label_arrays, &pred_arrays]) {
                    Some(coded) => coded,
                    None => {
                        let mut enc = CategoryEncoder::default();
                        let mut actual = enc.encode(&label_arrays, &spec.label)?;
                        let mut predicted = enc.encode(&pred_arrays, pred_name)?;
                        let classes = enc.sorted(&mut [&mut actual, &mut predicted]);
                        ([actual, predicted], classes)
                    }
                };
            for (codes, name) in [(&actual, spec.label.as_str()), (&predicted, pred_name)] {
                // A vectorized search is cheaper than walking `keep` beside
                // a column without nulls.
                if codes.contains(&NULL) {
                    mark(
                        codes.iter().map(|&c| c != NULL),
                        name,
                        &mut keep,
                        &mut dropped,
                    );
                }
            }
            Columns::Multiclass(MulticlassColumns {
                classes,
                actual: filter(actual, &keep),
                predicted: filter(predicted, &keep),
            })
        }
        ProblemType::Binary => {
            binary_columns(batches, spec, &label_arrays, &mut keep, &mut dropped)?
        }
    };
    let mut groups = Vec::with_capacity(spec.protected.len());
    for attr in &spec.protected {
        let mut enc = CategoryEncoder::default();
        let mut codes = enc.encode(&gather(batches, attr)?, attr)?;
        if codes.contains(&NULL) {
            // Missing values form a group of their own rather than dropping the row.
            let null = enc.text("null");
            for c in codes.iter_mut().filter(|c| **c == NULL) {
                *c = null;
            }
        }
        let names = enc.sorted(&mut [&mut codes]);
        groups.push(Groups {
            attribute: attr.clone(),
            names,
            codes: filter(codes, &keep),
        });
    }
    let prepared = Prepared {
        rows: rows as u64,
        columns,
        groups,
        dropped,
        kept_mask: (!keep.iter().all(|&k| k)).then_some(keep),
    };
    if prepared.kept() == 0 {
        return Err(Error::EmptyInput(if rows == 0 {
            "the data has no rows".to_string()
        } else {
            format!(
                "none of the {rows} rows can be used: every row has a null or NaN in {}",
                prepared
                    .dropped
                    .by_column
                    .keys()
                    .map(|c| format!("'{c}'"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            )
        }));
    }
    Ok(prepared)
}

/// Guesses the problem type from the label column when nobody said: at most
/// two distinct labels is binary; numbers with a fraction are regression;
/// anything else (integers, text) is multiclass.
pub fn infer_problem_type(batches: &[RecordBatch], label: &str) -> Result<ProblemType> {
    let arrays = gather(batches, label)?;
    let mut enc = CategoryEncoder::default();
    if arrays.iter().all(|a| is_numeric(a.data_type())) {
        let v = floats(&arrays, label)?;
        if v.iter().any(|x| x.is_finite() && x.fract() != 0.0) {
            return Ok(ProblemType::Regression);
        }
    }
    enc.encode(&arrays, label)?;
    Ok(if enc.names.len() <= 2 {
        ProblemType::Binary
    } else {
        ProblemType::Multiclass
    })
}

/// Clears `keep` for rows whose value is not usable, counting each dropped
/// row once, against the first column that made it unusable.
fn mark(ok: impl Iterator<Item = bool>, column: &str, keep: &mut [bool], dropped: &mut Dropped) {
    let mut n = 0u64;
    for (k, ok) in keep.iter_mut().zip(ok) {
        if *k && !ok {
            *k = false;
            n += 1;
        }
    }
    if n > 0 {
        *dropped.by_column.entry(column.to_string()).or_insert(0) += n;
    }
}

fn filter<T: Copy>(v: Vec<T>, keep: &[bool]) -> Vec<T> {
    if keep.iter().all(|&k| k) {
        return v;
    }
    v.into_iter()
        .zip(keep.iter())
        .filter(|(_, k)| **k)
        .map(|(x, _)| x)
        .collect()
}

fn binary_columns(
    batches: &[RecordBatch],
    spec: &Spec,
    label_arrays: &[ArrayRef],
    keep: &mut [bool],
    dropped: &mut Dropped,
) -> Result<Columns> {
    let numeric_label = label_arrays.iter().all(|a| is_numeric(a.data_type()));
    let pred_arrays = match &spec.prediction {
        Some(p) => Some(gather(batches, p)?),
        None => None,
    };
    let score = match &spec.probability {
        Some(p) => Some(floats(&gather(batches, p)?, p)?),
        None => None,
    };
    // 1 positive, 0 negative, 2 null.
    let (actual, predicted, positive, negative): (Vec<u8>, Option<Vec<u8>>, String, String) =
        if numeric_label
            && pred_arrays
                .as_ref()
                .is_none_or(|p| p.iter().all(|a| is_numeric(a.data_type())))
        {
            numeric_binary(spec, label_arrays, pred_arrays.as_deref())?
        } else {
            text_binary(spec, label_arrays, pred_arrays.as_deref())?
        };
    mark(actual.iter().map(|&a| a != 2), &spec.label, keep, dropped);
    let predicted = match predicted {
        Some(p) => {
            let name = spec.prediction.as_deref().unwrap_or_default();
            mark(p.iter().map(|&a| a != 2), name, keep, dropped);
            p
        }
        None => match &score {
            Some(s) => s.iter().map(|&p| u8::from(p > spec.threshold)).collect(),
            None => {
                return Err(Error::InvalidInput(
                    "binary metrics need a probability or a prediction column".into(),
                ));
            }
        },
    };
    if let (Some(s), Some(name)) = (&score, &spec.probability) {
        mark(s.iter().map(|x| x.is_finite()), name, keep, dropped);
    }
    let actual = filter(actual, keep).into_iter().map(|a| a == 1).collect();
    let predicted = filter(predicted, keep)
        .into_iter()
        .map(|a| a == 1)
        .collect();
    let score = score.map(|s| filter(s, keep));
    let scores_are_probabilities = score
        .as_ref()
        .is_some_and(|s| s.iter().all(|&p| (0.0..=1.0).contains(&p)));
    Ok(Columns::Binary(BinaryColumns {
        positive,
        negative,
        actual,
        predicted,
        score,
        scores_are_probabilities,
    }))
}

type BinaryCodes = (Vec<u8>, Option<Vec<u8>>, String, String);

/// Binary labels that are numbers (or booleans): compared as numbers.
fn numeric_binary(
    spec: &Spec,
    label_arrays: &[ArrayRef],
    pred_arrays: Option<&[ArrayRef]>,
) -> Result<BinaryCodes> {
    let pos = match &spec.positive_label {
        Some(p) => parse_positive_number(p)?,
        None => 1.0,
    };
    let rows = label_arrays.iter().map(|a| a.len()).sum();
    let mut other: Option<f64> = None;
    let mut actual = Vec::with_capacity(rows);
    // One batch at a time, so a wide label type never costs a full float copy.
    let mut buf = Vec::new();
    for a in label_arrays {
        buf.clear();
        push_f64(a.as_ref(), &spec.label, &mut buf)?;
        for &x in &buf {
            if x.is_nan() {
                actual.push(2);
            } else if x == pos {
                actual.push(1);
            } else {
                match other {
                    None => other = Some(x),
                    Some(o) if o == x => {}
                    Some(o) => {
                        return Err(too_many_labels(
                            &spec.label,
                            &[class_name(pos), class_name(o), class_name(x)],
                        ));
                    }
                }
                actual.push(0);
            }
        }
    }
    let negative = match other {
        Some(o) => class_name(o),
        None if pos == 1.0 => "0".to_string(),
        None => format!("not {}", class_name(pos)),
    };
    let predicted = match pred_arrays {
        None => None,
        Some(arrays) => {
            let name = spec.prediction.as_deref().unwrap_or_default();
            let mut p = Vec::with_capacity(rows);
            for a in arrays {
                buf.clear();
                push_f64(a.as_ref(), name, &mut buf)?;
                p.extend(
                    buf.iter()
                        .map(|&x| if x.is_nan() { 2 } else { u8::from(x == pos) }),
                );
            }
            Some(p)
        }
    };
    Ok((actual, predicted, class_name(pos), negative))
}

/// Binary labels given as text (or mixed): compared by class name.
fn text_binary(
    spec: &Spec,
    label_arrays: &[ArrayRef],
    pred_arrays: Option<&[ArrayRef]>,
) -> Result<BinaryCodes> {
    let mut enc = CategoryEncoder::default();
    let label = enc.encode(label_arrays, &spec.label)?;
    let seen: Vec<String> = enc.names.clone();
    if seen.len() > 2 {
        return Err(too_many_labels(&spec.label, &seen));
    }
    let positive = match &spec.positive_label {
        Some(p) => p.clone(),
        None => {
            let refs: Vec<&str> = seen.iter().map(String::as_str).collect();
            default_positive(&refs).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "cannot tell which label in column '{}' is the positive class (it holds \
                     {}); name it with --positive-label",
                    spec.label,
                    seen.iter()
                        .map(|s| format!("'{s}'"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ))
            })?
        }
    };
    let negative = seen
        .iter()
        .find(|s| **s != positive)
        .cloned()
        .unwrap_or_else(|| match positive.to_ascii_lowercase().as_str() {
            "1" => "0".to_string(),
            "true" => "false".to_string(),
            _ => format!("not {positive}"),
        });
    let pos_code = enc.text(&positive);
    let to_u8 = |c: u32| -> u8 {
        if c == NULL {
            2
        } else {
            u8::from(c == pos_code)
        }
    };
    let actual = label.into_iter().map(to_u8).collect();
    let predicted = match pred_arrays {
        None => None,
        Some(arrays) => {
            let name = spec.prediction.as_deref().unwrap_or_default();
            Some(enc.encode(arrays, name)?.into_iter().map(to_u8).collect())
        }
    };
    Ok((actual, predicted, positive, negative))
}

fn parse_positive_number(p: &str) -> Result<f64> {
    match p.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(1.0),
        "false" => Ok(0.0),
        t => t.parse::<f64>().map_err(|_| {
            Error::InvalidInput(format!(
                "the positive label '{p}' is not a number, but the label column holds numbers"
            ))
        }),
    }
}

/// The positive class of two text labels, when it is obvious.
fn default_positive(seen: &[&str]) -> Option<String> {
    for cand in ["1", "true", "yes"] {
        if let Some(s) = seen.iter().find(|s| s.eq_ignore_ascii_case(cand)) {
            let other_ok = seen.iter().all(|s| {
                s.eq_ignore_ascii_case(cand)
                    || matches!(s.to_ascii_lowercase().as_str(), "0" | "false" | "no")
            });
            if other_ok {
                return Some(s.to_string());
            }
        }
    }
    None
}

fn too_many_labels(column: &str, values: &[String]) -> Error {
    Error::InvalidInput(format!(
        "column '{column}' holds more than two labels ({}, ...), so this is not a binary \
         problem; use the multiclass problem type, or pass the probability column with a \
         threshold",
        values.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{
        BooleanArray, Float64Array, Int8Array, Int32Array, Int64Array, StringArray, UInt16Array,
        UInt64Array,
    };
    use std::sync::Arc;

    fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(cols).unwrap()
    }

    #[test]
    fn binary_drops_null_and_nan_rows_and_counts_them() {
        let b = batch(vec![
            (
                "y",
                Arc::new(Int64Array::from(vec![Some(1), None, Some(0), Some(1)])) as ArrayRef,
            ),
            (
                "p",
                Arc::new(Float64Array::from(vec![
                    Some(0.9),
                    Some(0.2),
                    Some(f64::NAN),
                    None,
                ])),
            ),
        ]);
        let mut spec = Spec::new(ProblemType::Binary, "y");
        spec.probability = Some("p".into());
        let p = prepare(&[b], &spec).unwrap();
        assert_eq!(p.kept(), 1);
        assert_eq!(p.dropped.by_column.get("y"), Some(&1));
        assert_eq!(p.dropped.by_column.get("p"), Some(&2));
        let Columns::Binary(c) = p.columns else {
            panic!()
        };
        assert_eq!(c.actual, vec![true]);
        assert_eq!(c.predicted, vec![true]);
        assert_eq!((c.positive.as_str(), c.negative.as_str()), ("1", "0"));
    }

    #[test]
    fn threshold_is_strict_and_string_labels_need_an_obvious_positive() {
        let b = batch(vec![
            (
                "y",
                Arc::new(StringArray::from(vec!["no", "yes", "yes"])) as ArrayRef,
            ),
            ("p", Arc::new(Float64Array::from(vec![0.5, 0.51, 0.2]))),
        ]);
        let mut spec = Spec::new(ProblemType::Binary, "y");
        spec.probability = Some("p".into());
        let p = prepare(std::slice::from_ref(&b), &spec).unwrap();
        let Columns::Binary(c) = p.columns else {
            panic!()
        };
        assert_eq!(c.positive, "yes");
        assert_eq!(c.predicted, vec![false, true, false]);

        let b2 = batch(vec![
            (
                "y",
                Arc::new(StringArray::from(vec!["cat", "dog"])) as ArrayRef,
            ),
            ("p", Arc::new(Float64Array::from(vec![0.5, 0.51]))),
        ]);
        let err = prepare(&[b2], &spec).unwrap_err().to_string();
        assert!(err.contains("--positive-label"), "{err}");
    }

    #[test]
    fn a_third_label_is_refused_for_binary() {
        let b = batch(vec![
            ("y", Arc::new(Int64Array::from(vec![0, 1, 2])) as ArrayRef),
            ("yhat", Arc::new(Int64Array::from(vec![0, 1, 1]))),
        ]);
        let mut spec = Spec::new(ProblemType::Binary, "y");
        spec.prediction = Some("yhat".into());
        let err = prepare(&[b], &spec).unwrap_err().to_string();
        assert!(err.contains("more than two labels"), "{err}");
    }

    #[test]
    fn multiclass_codes_span_both_columns_sorted_numerically() {
        let b = batch(vec![
            ("y", Arc::new(Int64Array::from(vec![10, 2, 2])) as ArrayRef),
            ("yhat", Arc::new(Float64Array::from(vec![10.0, 3.0, 2.0]))),
        ]);
        let mut spec = Spec::new(ProblemType::Multiclass, "y");
        spec.prediction = Some("yhat".into());
        let p = prepare(&[b], &spec).unwrap();
        let Columns::Multiclass(m) = p.columns else {
            panic!()
        };
        assert_eq!(m.classes, vec!["2", "3", "10"]);
        assert_eq!(m.actual, vec![2, 0, 0]);
        assert_eq!(m.predicted, vec![2, 1, 0]);
    }

    #[test]
    fn groups_follow_kept_rows_and_bool_predictions_work() {
        let b = batch(vec![
            (
                "y",
                Arc::new(BooleanArray::from(vec![true, false, true])) as ArrayRef,
            ),
            (
                "pred",
                Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
            ),
            (
                "g",
                Arc::new(StringArray::from(vec![Some("b"), Some("a"), None])),
            ),
        ]);
        let mut spec = Spec::new(ProblemType::Binary, "y");
        spec.prediction = Some("pred".into());
        spec.protected = vec!["g".into()];
        let p = prepare(&[b], &spec).unwrap();
        assert_eq!(p.groups[0].names, vec!["a", "b", "null"]);
        assert_eq!(p.groups[0].codes, vec![1, 2]);
        let Columns::Binary(c) = p.columns else {
            panic!()
        };
        assert_eq!(c.predicted, vec![true, false]);
    }

    #[test]
    fn the_fast_lookups_give_the_codes_a_hash_map_gives() {
        // Small-range integers take the direct table, wide or fractional
        // numbers and more than FEW texts the hash maps; the codes must be
        // the first-seen order whichever path runs.
        let reference = |vals: &[Option<String>]| {
            let mut seen: Vec<String> = Vec::new();
            vals.iter()
                .map(|v| match v {
                    None => NULL,
                    Some(s) => match seen.iter().position(|x| x == s) {
                        Some(c) => c as u32,
                        None => {
                            seen.push(s.clone());
                            (seen.len() - 1) as u32
                        }
                    },
                })
                .collect::<Vec<u32>>()
        };
        let small = [
            Some(3.0),
            Some(-1.0),
            Some(3.0),
            None,
            Some(200.0),
            Some(-0.0),
            Some(0.0),
        ];
        let wide = [Some(3.0), Some(1e6), Some(2.5), None, Some(3.0), Some(-7.0)];
        for vals in [&small[..], &wide[..]] {
            let arr: ArrayRef = Arc::new(Float64Array::from(vals.to_vec()));
            let got = CategoryEncoder::default().encode(&[arr], "x").unwrap();
            let want = reference(&vals.iter().map(|v| v.map(class_name)).collect::<Vec<_>>());
            assert_eq!(got, want, "{vals:?}");
        }
        let texts: Vec<Option<String>> = (0..100)
            .map(|i| (i % 13 != 0).then(|| format!("g{}", (i * 7) % 40)))
            .collect();
        let arr: ArrayRef = Arc::new(StringArray::from(texts.clone()));
        let got = CategoryEncoder::default().encode(&[arr], "g").unwrap();
        assert_eq!(got, reference(&texts));
    }

    #[test]
    fn integer_classes_get_the_codes_and_names_the_encoder_gives() {
        // Integer columns of different types, with nulls, negative values
        // and gaps between the classes (so the squeeze runs), over several
        // arrays; then columns the fast path must leave to the encoder.
        let by_encoder = |a: &[ArrayRef], b: &[ArrayRef]| {
            let mut enc = CategoryEncoder::default();
            let mut x = enc.encode(a, "a").unwrap();
            let mut y = enc.encode(b, "b").unwrap();
            let names = enc.sorted(&mut [&mut x, &mut y]);
            ([x, y], names)
        };
        let a: Vec<ArrayRef> = vec![
            Arc::new(Int8Array::from(vec![Some(-3), None, Some(7)])),
            Arc::new(Int32Array::from(vec![Some(100), Some(-3)])),
        ];
        let b: Vec<ArrayRef> = vec![Arc::new(UInt16Array::from(vec![
            Some(7),
            Some(5),
            None,
            Some(100),
        ]))];
        let got = small_integer_classes([&a, &b]).expect("small integers take the fast path");
        assert_eq!(got, by_encoder(&a, &b));
        assert_eq!(got.1, vec!["-3", "5", "7", "100"]);
        // Dense classes skip the squeeze and still agree.
        let a: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(vec![2, 0, 1, 1]))];
        let b: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(vec![0, 2, 2, 1]))];
        assert_eq!(small_integer_classes([&a, &b]), Some(by_encoder(&a, &b)));
        // Too wide a range, floats, text, u64 past i64::MAX, all null.
        let wide: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(vec![0, 256]))];
        let float: Vec<ArrayRef> = vec![Arc::new(Float64Array::from(vec![0.0, 1.0]))];
        let text: Vec<ArrayRef> = vec![Arc::new(StringArray::from(vec!["0", "1"]))];
        let huge: Vec<ArrayRef> = vec![Arc::new(UInt64Array::from(vec![u64::MAX, u64::MAX - 1]))];
        let null: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(vec![None, None]))];
        let small: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(vec![0, 1]))];
        for other in [&wide, &float, &text, &huge] {
            assert_eq!(small_integer_classes([&small, other]), None);
        }
        assert_eq!(small_integer_classes([&null, &null]), None);
        assert_eq!(
            small_integer_classes([&null, &small]),
            Some(by_encoder(&null, &small))
        );
    }

    #[test]
    fn empty_and_missing_columns_are_clear_errors() {
        let b = batch(vec![(
            "y",
            Arc::new(Int64Array::from(Vec::<i64>::new())) as ArrayRef,
        )]);
        let mut spec = Spec::new(ProblemType::Regression, "y");
        spec.prediction = Some("yhat".into());
        let err = prepare(std::slice::from_ref(&b), &spec)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no column 'yhat'") && err.contains("y"),
            "{err}"
        );
        spec.prediction = Some("y".into());
        assert!(matches!(prepare(&[b], &spec), Err(Error::EmptyInput(_))));
    }
}
