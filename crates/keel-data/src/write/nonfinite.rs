//! JSON spellings for the floats JSON has no number for: NaN, Infinity and
//! -Infinity are written as the strings `"NaN"`, `"Infinity"` and
//! `"-Infinity"` (as Keel's metrics documents and Python's `json` spell
//! them), where arrow-json would write `null` and lose what they meant.
//! Readers take the strings back into float columns.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type};
use arrow_array::{Array, ArrowPrimitiveType, PrimitiveArray};
use arrow_json::writer::NullableEncoder;
use arrow_json::{Encoder, EncoderFactory, EncoderOptions};
use arrow_schema::{ArrowError, DataType, FieldRef};
use lexical_core::FormattedSize;

/// The JSON string for a float JSON has no number for, or `None` when it has one.
pub fn non_finite_text(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v == f64::INFINITY {
        Some("Infinity")
    } else if v == f64::NEG_INFINITY {
        Some("-Infinity")
    } else {
        None
    }
}

/// Makes arrow-json write float columns with non-finite values spelled out.
#[derive(Debug)]
pub(crate) struct NonFiniteAsText;

impl NonFiniteAsText {
    /// The factory, shared.
    pub(crate) fn factory() -> Arc<dyn EncoderFactory> {
        Arc::new(NonFiniteAsText)
    }
}

impl EncoderFactory for NonFiniteAsText {
    fn make_default_encoder<'a>(
        &self,
        _field: &'a FieldRef,
        array: &'a dyn Array,
        _options: &'a EncoderOptions,
    ) -> Result<Option<NullableEncoder<'a>>, ArrowError> {
        let encoder: Box<dyn Encoder + 'a> = match array.data_type() {
            DataType::Float64 => Box::new(FloatEncoder(array.as_primitive::<Float64Type>())),
            DataType::Float32 => Box::new(FloatEncoder(array.as_primitive::<Float32Type>())),
            _ => return Ok(None),
        };
        Ok(Some(NullableEncoder::new(encoder, array.nulls().cloned())))
    }
}

/// Encodes finite floats exactly as arrow-json does (with lexical-core), and
/// the rest as their strings.
struct FloatEncoder<'a, T: ArrowPrimitiveType>(&'a PrimitiveArray<T>);

impl<T> Encoder for FloatEncoder<'_, T>
where
    T: ArrowPrimitiveType,
    T::Native: lexical_core::ToLexical + Into<f64>,
{
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        let v = self.0.value(idx);
        match non_finite_text(v.into()) {
            Some(text) => {
                out.push(b'"');
                out.extend_from_slice(text.as_bytes());
                out.push(b'"');
            }
            None => {
                let mut buf = [0u8; <f64 as FormattedSize>::FORMATTED_SIZE];
                out.extend_from_slice(lexical_core::write(v, &mut buf));
            }
        }
    }
}
