//! Arrow builders for every kind of column, and the batcher that collects
//! one chunk's accepted rows.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, FixedSizeBinaryBuilder,
    Float64Builder, Int64Builder, StringBuilder, Time32MillisecondBuilder,
    Time64MicrosecondBuilder, TimestampMicrosecondBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, NullArray, RecordBatch, RecordBatchOptions};
use arrow_schema::SchemaRef;

use super::{Cell, Col, Kind, UTC};
use crate::error::{Error, Result};
use crate::logical::Unit;

/// An Arrow builder for one column.
pub(crate) enum Builder {
    Bool(BooleanBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Str(StringBuilder),
    Bin(BinaryBuilder),
    Fixed(FixedSizeBinaryBuilder),
    Date(Date32Builder),
    TimeMs(Time32MillisecondBuilder),
    TimeUs(Time64MicrosecondBuilder),
    TsMs(TimestampMillisecondBuilder),
    TsUs(TimestampMicrosecondBuilder),
    Dec(Decimal128Builder),
    Null(usize),
}

impl Builder {
    pub(crate) fn new(kind: &Kind, capacity: usize) -> Builder {
        match kind {
            Kind::Bool => Builder::Bool(BooleanBuilder::with_capacity(capacity)),
            Kind::Int32 | Kind::Int64 | Kind::Numbers { int: true, .. } => {
                Builder::Int(Int64Builder::with_capacity(capacity))
            }
            Kind::Float64 | Kind::Numbers { int: false, .. } => {
                Builder::Float(Float64Builder::with_capacity(capacity))
            }
            Kind::Bytes => Builder::Bin(BinaryBuilder::with_capacity(capacity, capacity * 8)),
            Kind::Fixed(size) => {
                let width = i32::try_from(*size).unwrap_or(i32::MAX);
                Builder::Fixed(FixedSizeBinaryBuilder::with_capacity(capacity, width))
            }
            Kind::Date => Builder::Date(Date32Builder::with_capacity(capacity)),
            Kind::Time(Unit::Millis) => {
                Builder::TimeMs(Time32MillisecondBuilder::with_capacity(capacity))
            }
            Kind::Time(Unit::Micros) => {
                Builder::TimeUs(Time64MicrosecondBuilder::with_capacity(capacity))
            }
            Kind::Timestamp(Unit::Millis) => Builder::TsMs(
                TimestampMillisecondBuilder::with_capacity(capacity).with_timezone(UTC),
            ),
            Kind::Timestamp(Unit::Micros) => Builder::TsUs(
                TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone(UTC),
            ),
            Kind::Decimal { precision, scale } => {
                // The schema parser allows only precisions of 1 to 38 with a
                // scale up to the precision, which Decimal128 always accepts.
                let b = Decimal128Builder::with_capacity(capacity);
                let b = match b.with_precision_and_scale(*precision, *scale as i8) {
                    Ok(b) => b,
                    Err(_) => Decimal128Builder::with_capacity(capacity),
                };
                Builder::Dec(b)
            }
            Kind::Null => Builder::Null(0),
            Kind::Str | Kind::Enum(_) | Kind::Uuid | Kind::Nested(_) | Kind::Text => {
                Builder::Str(StringBuilder::with_capacity(capacity, capacity * 8))
            }
        }
    }

    /// Appends a cell. The parsers only make cells that fit their column's
    /// builder, so a mismatch cannot happen; it would be stored as null.
    pub(crate) fn push(&mut self, cell: &Cell<'_>) {
        // Dates and times of day were range-checked, so they fit in 32 bits.
        let small = |v: i64| i32::try_from(v).ok();
        match (self, cell) {
            (Builder::Null(n), _) => *n += 1,
            (Builder::Bool(b), Cell::Bool(v)) => b.append_value(*v),
            (Builder::Int(b), Cell::Int(v)) => b.append_value(*v),
            (Builder::Float(b), Cell::Float(v)) => b.append_value(*v),
            (Builder::Float(b), Cell::Int(v)) => b.append_value(*v as f64),
            (Builder::Str(b), Cell::Text(v)) => b.append_value(v),
            (Builder::Bin(b), Cell::Bytes(v)) => b.append_value(v),
            (Builder::Bin(b), Cell::Text(v)) => b.append_value(v.as_bytes()),
            (Builder::Fixed(b), Cell::Bytes(v)) => {
                if b.append_value(v).is_err() {
                    b.append_null();
                }
            }
            (Builder::Date(b), Cell::Int(v)) => b.append_option(small(*v)),
            (Builder::TimeMs(b), Cell::Int(v)) => b.append_option(small(*v)),
            (Builder::TimeUs(b), Cell::Int(v)) => b.append_value(*v),
            (Builder::TsMs(b), Cell::Int(v)) => b.append_value(*v),
            (Builder::TsUs(b), Cell::Int(v)) => b.append_value(*v),
            (Builder::Dec(b), Cell::Dec(v)) => b.append_value(*v),
            (Builder::Bool(b), _) => b.append_null(),
            (Builder::Int(b), _) => b.append_null(),
            (Builder::Float(b), _) => b.append_null(),
            (Builder::Str(b), _) => b.append_null(),
            (Builder::Bin(b), _) => b.append_null(),
            (Builder::Fixed(b), _) => b.append_null(),
            (Builder::Date(b), _) => b.append_null(),
            (Builder::TimeMs(b), _) => b.append_null(),
            (Builder::TimeUs(b), _) => b.append_null(),
            (Builder::TsMs(b), _) => b.append_null(),
            (Builder::TsUs(b), _) => b.append_null(),
            (Builder::Dec(b), _) => b.append_null(),
        }
    }

    pub(crate) fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Int(b) => Arc::new(b.finish()),
            Builder::Float(b) => Arc::new(b.finish()),
            Builder::Str(b) => Arc::new(b.finish()),
            Builder::Bin(b) => Arc::new(b.finish()),
            Builder::Fixed(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
            Builder::TimeMs(b) => Arc::new(b.finish()),
            Builder::TimeUs(b) => Arc::new(b.finish()),
            Builder::TsMs(b) => Arc::new(b.finish()),
            Builder::TsUs(b) => Arc::new(b.finish()),
            Builder::Dec(b) => Arc::new(b.finish()),
            Builder::Null(n) => Arc::new(NullArray::new(std::mem::take(n))),
        }
    }
}

/// Collects accepted rows for one chunk.
pub(crate) struct Batcher {
    schema: SchemaRef,
    builders: Vec<Builder>,
    rows: usize,
}

impl Batcher {
    pub(crate) fn new(cols: &[Col], schema: SchemaRef, capacity: usize) -> Batcher {
        Batcher {
            schema,
            builders: cols
                .iter()
                .map(|c| Builder::new(&c.kind, capacity))
                .collect(),
            rows: 0,
        }
    }

    /// Appends one accepted row (one cell per column).
    pub(crate) fn push_row(&mut self, cells: &[Cell<'_>]) {
        for (b, c) in self.builders.iter_mut().zip(cells) {
            b.push(c);
        }
        self.rows += 1;
    }

    pub(crate) fn finish(&mut self) -> Result<RecordBatch> {
        let columns = self.builders.iter_mut().map(Builder::finish).collect();
        let rows = std::mem::take(&mut self.rows);
        RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(|e| Error::Internal(format!("cannot assemble a batch of {rows} rows: {e}")))
    }
}
