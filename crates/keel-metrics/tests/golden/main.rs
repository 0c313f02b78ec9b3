//! Golden tests: Keel's metrics against scikit-learn and scipy on generated
//! data. The cases live in `test_data/*.json` and are rebuilt by the scripts
//! in `golden/` (see `golden/README.md`).

mod classification;
mod stats;
