//! The labels of a binary problem: which class is positive, whether each
//! row's label and prediction are that class, and the clear errors when the
//! labels do not make a binary problem.

use arrow_array::{ArrayRef, RecordBatch};

use super::arrow::{floats, gather, is_numeric, push_f64};
use super::encode::{CategoryEncoder, NULL, class_name};
use super::prepare::{filter, mark};
use super::{BinaryColumns, Columns, Dropped};
use crate::{Error, Result, Spec};

/// The columns of a binary problem: labels and predictions as the positive
/// class or not, and the scores, with the unusable rows dropped.
pub(super) fn binary_columns(
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
                return Err(crate::spec::no_binary_output());
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
                     {}); set `positive_label`",
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

/// The positive label as a number, for labels that are numbers (`true` and
/// `false` read as 1 and 0).
fn parse_positive_number(p: &str) -> Result<f64> {
    match p.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(1.0),
        "false" => Ok(0.0),
        t => t.parse::<f64>().map_err(|_| {
            Error::InvalidInput(format!(
                "`positive_label` is '{p}', which is not a number, but the label column holds \
                 numbers"
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

/// The error for a third label in a binary problem.
fn too_many_labels(column: &str, values: &[String]) -> Error {
    Error::InvalidInput(format!(
        "column '{column}' holds more than two labels ({}, ...), so this is not a binary \
         problem; set `problem_type` to multiclass, or set `probability` (with \
         `threshold`)",
        values.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProblemType;
    use crate::column::{batch, prepare};
    use arrow_array::{Float64Array, Int64Array, StringArray};
    use std::sync::Arc;

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
        assert!(err.contains("`positive_label`"), "{err}");
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
}
