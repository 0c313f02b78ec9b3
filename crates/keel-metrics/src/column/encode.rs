//! Dense class codes: [`CategoryEncoder`] for any labels or groups, and a
//! faster path for integer classes in a small range, which codes a value by
//! its offset from the smallest one.

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, downcast_integer_array};
use arrow_schema::DataType;

use super::arrow::{is_numeric, push_f64};
use crate::{Error, Result};

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
    pub(super) names: Vec<String>,
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
pub(super) const NULL: u32 = u32::MAX;

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
pub(super) fn small_integer_classes(
    columns: [&[ArrayRef]; 2],
) -> Option<([Vec<u32>; 2], Vec<String>)> {
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
    /// The code of a text value, given a new one on first sight.
    pub(super) fn text(&mut self, s: &str) -> u32 {
        if let Some(&c) = self.by_text.get(s) {
            return c;
        }
        let c = self.names.len() as u32;
        self.by_text.insert(s.to_string(), c);
        self.names.push(s.to_string());
        self.numbers.push(None);
        c
    }

    /// The code of a number, shared with the text of its class name.
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
    pub(super) fn sorted(self, columns: &mut [&mut Vec<u32>]) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{
        Float64Array, Int8Array, Int32Array, Int64Array, StringArray, UInt16Array, UInt64Array,
    };
    use std::sync::Arc;

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
}
