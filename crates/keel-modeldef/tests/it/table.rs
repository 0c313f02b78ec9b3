//! Model directories written from a fixture, each with the definition or the
//! error `inspect` must give: one table, each case checked by `check`.
//!
//! A fixture is a list of files, each opened by a `//- PATH` line and followed
//! by its contents. Paths are relative to the model directory; `../` paths are
//! written beside it. A marker line can also say `//- PATH -> TARGET` (a
//! symbolic link), `//- PATH zip ENTRY` (a zip archive holding one small file
//! named `ENTRY`) or `//- PATH extra` (a file given to `inspect` as an extra
//! attachment). The outcome is rendered as text by `render_def` or
//! `render_error` and must match the expected pattern, where `[..]` stands for
//! any text.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use keel_modeldef::{Error, FunctionInfo, ModelDef, file_origin, inspect};

use crate::small_zip;

/// Each case: its name, its fixture, and the rendered outcome.
const CASES: &[(&str, &str, &str)] = &[
    (
        "manifest_wins_over_tags",
        r#"
//- model.py
# modelop.score
def tagged(r):
    return r

def batch_score(df, extra=1):
    return df

def setup():
    pass
//- old.py
# modelop.score
def score(r):
    return r
//- schemas/in.avsc
{"type": "record", "name": "input", "fields": [
  {"name": "id", "type": "int"}, {"name": "amount", "type": "double"}]}
//- reqs/base.txt
numpy
//- keel.toml
name = "fraud"
source = "model.py"

[functions]
init = "setup"
score = "batch_score"
score_batch = true

[schemas]
input = "schemas/in.avsc"

[platform]
python = "3.11"
requirements = "reqs/base.txt"
"#,
        "\
name: fraud
source: model.py, module model
init: setup, model.py line 8, ()
score: batch_score, model.py line 5, batch, (df, extra)
metrics: none
train: none
schemas: input schemas/in.avsc, output none
platform: python 3.11, requirements [numpy] from reqs/base.txt
files:
  keel.toml manifest 200
  model.py source 112
  old.py source 43
  reqs/base.txt requirements 6
  schemas/in.avsc schema 120
",
    ),
    (
        "manifest_names_a_missing_function",
        r#"
//- model.py
# modelop.score
def score(r):
    return r
//- keel.toml
[functions]
score = "score"
metrics = "missing"
"#,
        "Manifest InvalidModel: keel.toml: line 3[..]'def missing(...):'[..]",
    ),
    (
        "manifest_names_a_missing_schema",
        r#"
//- model.py
# modelop.score
def score(r):
    return r
//- keel.toml
[schemas]
input = "nope.avsc"
"#,
        "Manifest InvalidModel: keel.toml: line 2[..]nope.avsc[..]",
    ),
    (
        "manifest_has_an_unknown_key",
        r#"
//- model.py
# modelop.score
def score(r):
    return r
//- keel.toml
[platform]
pyton = "3.11"
"#,
        "Manifest InvalidModel: keel.toml: [..]line 2[..]pyton[..]",
    ),
    (
        "no_score_function_is_explained",
        r#"
//- model.py
def score(r):
    return r
"#,
        "InvalidModel InvalidModel: [..]No model function found[..]has a score, metrics or train smart tag[..]# modelop.score\n    def score(record):[..]# modelop.metrics[..]",
    ),
    (
        "a_monitor_has_init_and_metrics_and_no_score",
        r#"
//- monitor.py
import json

#modelop.init
def init(init_param):
    global JOB
    JOB = json.loads(init_param["rawJson"])

#modelop.metrics
def metrics(df_baseline, df_sample):
    yield {"rows": len(df_sample)}
//- helper.py
def unused():
    pass
"#,
        "\
name: m
source: monitor.py, module monitor
init: init, monitor.py line 4, (init_param)
score: none
metrics: metrics, monitor.py line 9, (df_baseline, df_sample)
train: none
schemas: input none, output none
platform: python none, requirements [] from none
files:
  helper.py source 23
  monitor.py source 198
",
    ),
    (
        "schema_tags_name_the_schema_files_whatever_they_are_called",
        r#"
//- model.py
# modelop.schema.0: schemas/credit_in.avsc
#fastscore.schema.1: credit_out.avsc
# modelop.score
def score(r):
    return r
//- schemas/credit_in.avsc
{"type": "record", "name": "input", "fields": [{"name": "id", "type": "int"}]}
//- credit_out.avsc
{"type": "record", "name": "output", "fields": [{"name": "p", "type": "double"}]}
//- input_schema.avsc
{"type": "record", "name": "ignored", "fields": []}
"#,
        "\
name: m
source: model.py, module model
init: none
score: score, model.py line 4, (r)
metrics: none
train: none
schemas: input schemas/credit_in.avsc, output credit_out.avsc
platform: python none, requirements [] from none
files:
  credit_out.avsc schema 82
  input_schema.avsc attachment 52
  model.py source 123
  schemas/credit_in.avsc schema 79
",
    ),
    (
        "a_schema_tag_naming_a_missing_file_cites_its_line",
        r#"
//- model.py
# modelop.score
def score(r):
    return r
# modelop.schema.1: nowhere.avsc
"#,
        "Source InvalidModel: model.py:4: The schema tag for the output (slot 1) names 'nowhere.avsc', which is not in the model directory[..]",
    ),
    (
        "the_manifest_names_the_column_of_bare_values",
        r#"
//- model.py
# modelop.score
def score(r):
    return 0.5
//- keel.toml
[schemas]
output_column = "probability"
"#,
        "\
name: m
source: model.py, module model
init: none
score: score, model.py line 2, (r)
metrics: none
train: none
schemas: input none, output none, output column probability
platform: python none, requirements [] from none
files:
  keel.toml manifest 40
  model.py source 45
",
    ),
    (
        "two_score_functions_are_ambiguous",
        r#"
//- model.py
# modelop.score
def score(r):
    return r
//- other.py

# keel.score
def s(r):
    return r
"#,
        "InvalidModel InvalidModel: [..]model.py (line 1), other.py (line 2)[..]source = \"model.py\"[..]",
    ),
    (
        "the_manifest_source_resolves_two_score_functions",
        r#"
//- model.py
# modelop.score
def score(r):
    return r
//- other.py

# keel.score
def s(r):
    return r
//- keel.toml
source = "other.py"
"#,
        "\
name: m
source: other.py, module other
init: none
score: s, other.py line 3, (r)
metrics: none
train: none
schemas: input none, output none
platform: python none, requirements [] from none
files:
  keel.toml manifest 20
  model.py source 43
  other.py source 37
",
    ),
    (
        "a_tag_in_a_helper_module_is_reported",
        r#"
//- model.py
# modelop.score
def score(r):
    return r
//- other.py
# modelop.metrics
def m(df):
    return {}
"#,
        "Source InvalidModel: other.py:1: [..]helper module[..]",
    ),
    (
        "an_invalid_schema_fails_with_the_file_name",
        r#"
//- model.py
# modelop.score
def score(r):
    return r
//- output_schema.avsc
{"type": "record", "fields": 
"#,
        "Schema InvalidSchema: [..]output_schema.avsc[..]",
    ),
    (
        "an_unsafe_archive_attachment_fails_registration",
        r#"
//- model.py
# modelop.score
def score(r):
    return r
//- assets/bad.zip zip ../../escape.txt
"#,
        "UnsafeArchive UnsafeArchive: [..]assets/bad.zip[..]'../../escape.txt'[..]",
    ),
    (
        "an_archive_entry_that_would_overwrite_a_model_file_fails_registration",
        r#"
//- model.py
# modelop.score
def score(r):
    return r
//- bundle.zip zip model.py
"#,
        "UnsafeArchive UnsafeArchive: [..]bundle.zip[..]'model.py'[..]one of the model's own files[..]",
    ),
    (
        "two_archives_extracting_the_same_file_fail_registration",
        r#"
//- model.py
# modelop.score
def score(r):
    return r
//- data/a.zip zip tables/t.csv
//- data/b.zip zip tables/t.csv
"#,
        "UnsafeArchive UnsafeArchive: [..]data/b.zip[..]'tables/t.csv'[..]'data/tables/t.csv'[..]'data/a.zip' also[..]",
    ),
    (
        "extra_attachments_join_the_top_level",
        r#"
//- model.py
# modelop.score
def score(r):
    return r
//- ../elsewhere/weights.bin extra
0123
"#,
        "\
name: m
source: model.py, module model
init: none
score: score, model.py line 2, (r)
metrics: none
train: none
schemas: input none, output none
platform: python none, requirements [] from none
files:
  model.py source 43
  weights.bin attachment 5 from ../elsewhere/weights.bin
",
    ),
    (
        "an_extra_attachment_cannot_shadow_a_model_file",
        r#"
//- model.py
# modelop.score
def score(r):
    return r
//- weights.bin
clash
//- ../elsewhere/weights.bin extra
0123
"#,
        "InvalidModel InvalidModel: [..]already has a file of that name[..]",
    ),
];

#[test]
fn table() {
    let mut failed = Vec::new();
    for &(name, fixture, expect) in CASES {
        let actual = outcome(fixture);
        if !keel_testkit::matches(expect, &actual) {
            eprintln!("case {name} differs\nexpected:\n{expect}\nactual:\n{actual}\n");
            failed.push(name);
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} cases failed: {}",
        failed.len(),
        CASES.len(),
        failed.join(", ")
    );
}

/// Links are refused wherever they point; creating one needs a unix system.
#[test]
#[cfg(unix)]
fn symlinks_are_refused() {
    check(
        r#"
//- model.py
# modelop.score
def score(r):
    return r
//- ../secret.txt
secret
//- link.txt -> ../secret.txt
"#,
        "InvalidModel InvalidModel: [..]link.txt[..]symbolic link[..]",
    );
}

/// Writes `fixture`, inspects it and compares the outcome with `expect`.
fn check(fixture: &str, expect: &str) {
    let actual = outcome(fixture);
    assert!(
        keel_testkit::matches(expect, &actual),
        "expected:\n{expect}\nactual:\n{actual}"
    );
}

/// Writes `fixture` into a fresh directory `m` and renders what `inspect` makes of it.
fn outcome(fixture: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    fs::create_dir_all(&dir).unwrap();
    let extras = write_fixture(tmp.path(), &dir, fixture);
    match inspect(&dir, &extras) {
        Ok(def) => render_def(&def, tmp.path(), &dir, &extras),
        Err(err) => render_error(&err),
    }
}

/// Writes the files of `fixture` and returns the extra attachments it names.
fn write_fixture(root: &Path, dir: &Path, fixture: &str) -> Vec<PathBuf> {
    let resolve = |rel: &str| match rel.strip_prefix("../") {
        Some(outside) => root.join(outside),
        None => dir.join(rel),
    };
    let mut extras = Vec::new();
    let mut lines = fixture.lines().skip_while(|l| l.is_empty()).peekable();
    while let Some(marker) = lines.next() {
        let spec = marker
            .strip_prefix("//- ")
            .unwrap_or_else(|| panic!("not a fixture marker: {marker:?}"));
        let mut body = String::new();
        while let Some(line) = lines.next_if(|l| !l.starts_with("//- ")) {
            body.push_str(line);
            body.push('\n');
        }
        let words: Vec<&str> = spec.split(' ').collect();
        match words.as_slice() {
            [path, "->", target] => {
                let link = resolve(path);
                fs::create_dir_all(link.parent().unwrap()).unwrap();
                #[cfg(unix)]
                std::os::unix::fs::symlink(target, &link).unwrap();
                #[cfg(not(unix))]
                panic!("a symbolic link to {target} needs a unix system");
            }
            [path, "zip", entry] => small_zip(&resolve(path), entry),
            [path, "extra"] => {
                let file = resolve(path);
                fs::create_dir_all(file.parent().unwrap()).unwrap();
                fs::write(&file, &body).unwrap();
                extras.push(file);
            }
            [path] => {
                let file = resolve(path);
                fs::create_dir_all(file.parent().unwrap()).unwrap();
                fs::write(&file, &body).unwrap();
            }
            _ => panic!("cannot read the fixture marker {marker:?}"),
        }
    }
    extras
}

/// A definition's fields, one a line, then each file with its role, size and,
/// for extra attachments, where it comes from.
fn render_def(def: &ModelDef, root: &Path, dir: &Path, extras: &[PathBuf]) -> String {
    let function = |f: &Option<FunctionInfo>| match f {
        None => "none".to_string(),
        Some(f) => format!(
            "{}, {} line {},{} ({})",
            f.name,
            f.file,
            f.line,
            if f.batch { " batch," } else { "" },
            f.params.join(", ")
        ),
    };
    let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".to_string());
    let p = &def.platform;
    let column = def
        .output_column
        .as_ref()
        .map(|c| format!(", output column {c}"))
        .unwrap_or_default();
    let mut text = format!(
        "name: {}\nsource: {}, module {}\ninit: {}\nscore: {}\nmetrics: {}\ntrain: {}\n\
         schemas: input {}, output {}{column}\n\
         platform: python {}, requirements [{}] from {}\nfiles:\n",
        def.name,
        def.source,
        def.module,
        function(&def.functions.init),
        function(&def.functions.score),
        function(&def.functions.metrics),
        function(&def.functions.train),
        or_none(&def.input_schema),
        or_none(&def.output_schema),
        or_none(&p.python_version),
        p.requirements.join(", "),
        or_none(&p.requirements_file),
    );
    for f in &def.files {
        let role = format!("{:?}", f.role).to_lowercase();
        let _ = write!(text, "  {} {role} {}", f.path, f.size);
        let origin = file_origin(dir, extras, &f.path);
        if origin != dir.join(&f.path) {
            let outside = origin.strip_prefix(root).unwrap_or(&origin);
            let _ = write!(text, " from ../{}", outside.display());
        }
        text.push('\n');
    }
    text
}

/// An error as its variant, its code and its message.
fn render_error(err: &Error) -> String {
    let debug = format!("{err:?}");
    let variant = debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default();
    format!("{variant} {:?}: {err}", err.code())
}
