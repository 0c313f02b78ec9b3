//! Reads a whole [`Spec`] out of record batches: the problem's columns, the
//! protected groups, and which rows were dropped for a null or NaN; and
//! guesses the problem type from the label when nobody said.

use arrow_array::RecordBatch;

use super::arrow::{floats, gather, is_numeric};
use super::binary_labels::binary_columns;
use super::encode::{CategoryEncoder, NULL, small_integer_classes};
use super::{Columns, Dropped, Groups, MulticlassColumns, Prepared, RegressionColumns};
use crate::{Error, ProblemType, Result, Spec};

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
pub(super) fn mark(
    ok: impl Iterator<Item = bool>,
    column: &str,
    keep: &mut [bool],
    dropped: &mut Dropped,
) {
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

/// The values of the rows `keep` keeps.
pub(super) fn filter<T: Copy>(v: Vec<T>, keep: &[bool]) -> Vec<T> {
    if keep.iter().all(|&k| k) {
        return v;
    }
    v.into_iter()
        .zip(keep.iter())
        .filter(|(_, k)| **k)
        .map(|(x, _)| x)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::column::batch;
    use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
    use std::sync::Arc;

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
