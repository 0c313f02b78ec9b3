//! The layout of the artifact store: the one place that knows under which key
//! each kind of artifact lives. Everything else asks for an artifact by what
//! it is (a blob by its hash, a job's output by job and name), never by path.

use keel_types::{JobId, UploadId};

/// A content-addressed blob (a model file): `blobs/sha256/ab/abcdef...`, so
/// that identical files across versions are stored once.
pub fn blob(sha256: &str) -> String {
    let digest = sha256.to_ascii_lowercase();
    let fanout: String = digest.chars().take(2).collect();
    format!("blobs/sha256/{fanout}/{digest}")
}

/// An uploaded data file.
pub fn upload(id: UploadId, name: &str) -> String {
    format!("uploads/{id}/{name}")
}

/// Everything a job keeps, for deleting it as a whole.
pub fn job(id: JobId) -> String {
    format!("jobs/{id}")
}

/// A job's embedded output.
pub fn job_output(id: JobId, name: &str) -> String {
    format!("jobs/{id}/output/{name}")
}

/// A job's rejected records, as JSON lines.
pub fn job_rejected(id: JobId) -> String {
    format!("jobs/{id}/rejected.jsonl")
}

/// The scored rows behind a metrics job's built-in metrics, which comparisons
/// pair record by record.
pub fn job_scores(id: JobId) -> String {
    format!("jobs/{id}/scores.parquet")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_laid_out_as_documented() {
        let j: JobId = "0193e4c4-0000-7000-8000-000000000001".parse().unwrap();
        let u: UploadId = "0193e4c4-0000-7000-8000-000000000002".parse().unwrap();
        let cases = [
            (blob("ABcdef"), "blobs/sha256/ab/abcdef"),
            (blob("a"), "blobs/sha256/a/a"),
            (
                upload(u, "in.csv"),
                "uploads/0193e4c4-0000-7000-8000-000000000002/in.csv",
            ),
            (
                job_output(j, "out.parquet"),
                "jobs/0193e4c4-0000-7000-8000-000000000001/output/out.parquet",
            ),
            (
                job_rejected(j),
                "jobs/0193e4c4-0000-7000-8000-000000000001/rejected.jsonl",
            ),
            (
                job_scores(j),
                "jobs/0193e4c4-0000-7000-8000-000000000001/scores.parquet",
            ),
            (job(j), "jobs/0193e4c4-0000-7000-8000-000000000001"),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }
}
