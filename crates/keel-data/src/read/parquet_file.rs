//! The Parquet reader. Parquet columns are already typed, so there is no
//! inference; with a schema, each batch goes through `check_batch`.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{RecordBatch, RecordBatchOptions};
use arrow_schema::{ArrowError, DataType, Field, Schema};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{Chunk, Chunks};
use crate::check::check_batch;
use crate::error::{Error, Result};
use crate::schema::AvroSchema;

/// Checks that every column chunk the footer describes lies within the file.
/// The Parquet reader trusts these offsets and panics on negative ones, so a
/// forged footer must be turned away before any row is read.
fn check_chunk_ranges(
    metadata: &parquet::file::metadata::ParquetMetaData,
    file_len: u64,
) -> std::result::Result<(), String> {
    for (g, group) in metadata.row_groups().iter().enumerate() {
        for column in group.columns() {
            let start = column
                .dictionary_page_offset()
                .unwrap_or_else(|| column.data_page_offset());
            let len = column.compressed_size();
            let fits = u64::try_from(start)
                .ok()
                .zip(u64::try_from(len).ok())
                .and_then(|(start, len)| start.checked_add(len))
                .is_some_and(|end| end <= file_len);
            if !fits {
                return Err(format!(
                    "row group {g} says column {} takes {len} bytes at offset {start}, outside \
                     the file's {file_len} bytes",
                    column.column_path()
                ));
            }
        }
    }
    Ok(())
}

/// Opens a Parquet file and checks that it has every column the schema requires.
pub(super) fn open(
    path: &Path,
    name: &str,
    schema: Option<&AvroSchema>,
    batch_size: usize,
    columns: Option<&[String]>,
) -> Result<Chunks> {
    let file = File::open(path).map_err(|e| Error::io("read", path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| Error::io("read", path, e))?
        .len();
    let unreadable = |e: &dyn std::fmt::Display| {
        Error::InvalidData(format!(
            "{name} is not a readable Parquet file: {e}; check that the upload finished and the \
             file really is Parquet"
        ))
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| unreadable(&e))?;
    check_chunk_ranges(builder.metadata(), file_len).map_err(|e| unreadable(&e))?;
    if let Some(s) = schema {
        let columns = builder.schema();
        for f in &s.fields {
            if !f.optional() && columns.field_with_name(&f.name).is_err() {
                return Err(Error::InvalidData(format!(
                    "{name} has no column '{}', which {} requires; add the column or make the \
                     field nullable",
                    f.name, s.source
                )));
            }
        }
    }
    let builder = match columns {
        None => builder,
        Some(cols) => {
            let arrow = builder.schema().clone();
            let mut roots = Vec::with_capacity(cols.len());
            for c in cols {
                roots.push(
                    arrow
                        .index_of(c)
                        .map_err(|_| super::missing_column(name, c, &arrow))?,
                );
            }
            let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
            builder.with_projection(mask)
        }
    };
    let reader = builder
        .with_batch_size(batch_size)
        .build()
        .map_err(|e| Error::InvalidData(format!("{name}: cannot read Parquet rows: {e}")))?;
    let mut damaged = format!(
        "{name}: the Parquet file is damaged (its reader stopped on an inconsistent page); \
         write the file again"
    );
    let name = name.to_string();
    let schema = schema.cloned();
    let mut next_record = 1u64;
    let mut chunk = move |batch: std::result::Result<RecordBatch, ArrowError>| {
        let batch = batch.map_err(|e| {
            Error::InvalidData(format!(
                "{name}: cannot read the Parquet rows after record {}: {e}",
                next_record - 1
            ))
        })?;
        let batch = plain_types(&batch).map_err(|e| {
            Error::InvalidData(format!(
                "{name}: cannot convert the Parquet columns after record {}: {e}",
                next_record - 1
            ))
        })?;
        let first_record = next_record;
        let rows = batch.num_rows() as u64;
        next_record += rows;
        let (batch, rejected) = match &schema {
            Some(s) => check_batch(&batch, s, first_record),
            None => (batch, Vec::new()),
        };
        Ok(Chunk {
            batch,
            first_record,
            records_read: rows,
            rejected,
        })
    };
    let mut reader = Some(reader);
    // The parquet crate panics on some damaged files (a dictionary-encoded
    // page without its dictionary); a damaged file is bad input, so it ends
    // the read with an error rather than the job with a crash.
    Ok(Box::new(std::iter::from_fn(move || {
        let next =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reader.as_mut()?.next()));
        match next {
            Ok(next) => next.map(&mut chunk),
            Err(_) => {
                // Nothing is read after this, so the message is needed once.
                reader = None;
                Some(Err(Error::InvalidData(std::mem::take(&mut damaged))))
            }
        }
    })))
}

/// The plain type Keel uses for a string or binary column read from Parquet,
/// or `None` when the column keeps its type.
fn plain_type(dt: &DataType) -> Option<DataType> {
    match dt {
        DataType::LargeUtf8 | DataType::Utf8View => Some(DataType::Utf8),
        DataType::Dictionary(_, v)
            if matches!(
                **v,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) =>
        {
            Some(DataType::Utf8)
        }
        DataType::LargeBinary | DataType::BinaryView => Some(DataType::Binary),
        _ => None,
    }
}

/// Gives string and binary columns the plain Utf8 and Binary types (pandas
/// writes large strings, for example), so batches from every format look
/// alike, and drops writer metadata such as pandas' index description.
fn plain_types(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (f, c) in schema.fields().iter().zip(batch.columns()) {
        match plain_type(f.data_type()) {
            Some(to) => {
                columns.push(arrow_cast::cast(c, &to)?);
                fields.push(Arc::new(Field::new(f.name(), to, f.is_nullable())));
            }
            None => {
                columns.push(c.clone());
                fields.push(f.clone());
            }
        }
    }
    RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )
}
