//! Targets for `keel-data`: the CSV, JSON and Parquet readers, the Avro
//! schema parser, and the schema check of records read from a file.

use arrow_array::RecordBatch;
use keel_data::{AvroSchema, ReadOptions, check_batch, open, row_to_json};
use keel_types::DataFormat;

use crate::{BATCH_SIZE, temp_file};

/// The byte that ends the schema and starts the data in an `avro_check` input.
const SCHEMA_END: u8 = 0;

/// Reads `data` as a file of `format` and drains every chunk, optionally
/// checked against `schema`. Returns the batches that passed.
fn read(
    data: &[u8],
    format: DataFormat,
    suffix: &str,
    schema: Option<AvroSchema>,
) -> Vec<RecordBatch> {
    let Some((_dir, path)) = temp_file(data, suffix) else {
        return Vec::new();
    };
    let opts = ReadOptions {
        format: Some(format),
        schema,
        batch_size: BATCH_SIZE,
        ..ReadOptions::default()
    };
    let Ok(chunks) = open(&path, &opts) else {
        return Vec::new();
    };
    let mut batches = Vec::new();
    for chunk in chunks {
        let Ok(chunk) = chunk else {
            break;
        };
        for rejection in &chunk.rejected {
            // Rejections are shown to users and written to files: render them.
            let _ = serde_json::to_string(rejection);
        }
        batches.push(chunk.batch);
    }
    batches
}

/// Renders every row of `batches` as JSON, as rejections and previews do.
fn render(batches: &[RecordBatch]) {
    for batch in batches {
        for row in 0..batch.num_rows() {
            let _ = row_to_json(batch, row);
        }
    }
}

/// The CSV reader, inferring column types (no schema).
pub fn csv_reader(data: &[u8]) {
    render(&read(data, DataFormat::Csv, ".csv", None));
}

/// The JSON reader (JSON lines, or one JSON array of records), inferring types.
pub fn json_reader(data: &[u8]) {
    render(&read(data, DataFormat::Json, ".jsonl", None));
}

/// The Parquet reader: footer, metadata, pages, every column decoded.
pub fn parquet_reader(data: &[u8]) {
    render(&read(data, DataFormat::Parquet, ".parquet", None));
}

/// The Avro schema parser, then every view of the parsed schema that Keel uses.
pub fn avro_schema(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(schema) = AvroSchema::parse(text, "fuzz.avsc") else {
        return;
    };
    let _ = schema.to_arrow();
    let _ = schema.json_columns();
    let _ = schema.value_column();
    for field in &schema.fields {
        let _ = field.arrow_field();
        let _ = field.optional();
        let _ = field.ty.describe();
        let _ = field.ty.arrow_type();
    }
}

/// The schema check: the input is an Avro schema, a NUL byte, then a data
/// file (JSON when it starts with `{` or `[`, CSV otherwise). The file is read
/// twice: checked by the reader against the schema, and read unchecked with
/// each batch then checked by [`check_batch`], as model output is.
pub fn avro_check(data: &[u8]) {
    let Some(split) = data.iter().position(|b| *b == SCHEMA_END) else {
        return;
    };
    let (schema, rest) = data.split_at(split);
    let rest = &rest[1..];
    let Ok(schema) = std::str::from_utf8(schema) else {
        return;
    };
    let Ok(schema) = AvroSchema::parse(schema, "fuzz.avsc") else {
        return;
    };
    let (format, suffix) = match rest.first() {
        Some(b'{' | b'[') => (DataFormat::Json, ".jsonl"),
        _ => (DataFormat::Csv, ".csv"),
    };
    render(&read(rest, format, suffix, Some(schema.clone())));
    let mut first_record = 1;
    for batch in read(rest, format, suffix, None) {
        let (passed, rejected) = check_batch(&batch, &schema, first_record);
        first_record += batch.num_rows() as u64;
        render(&[passed]);
        for rejection in &rejected {
            let _ = serde_json::to_string(rejection);
        }
    }
}
