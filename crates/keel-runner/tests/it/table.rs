//! The runs that are a model, an input and an expected outcome, as one table.
//!
//! `check` runs a case's model and renders what came back (the output batches
//! by seq, the metrics document, the trained files, or the failure; see
//! `render`) as text, which must match the case's pattern, where `[..]` stands
//! for any text. The same run's log and left-over processes are checked too.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arrow_array::{Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use keel_runner::{Control, Functions, run_metrics, run_scoring, run_training};

use crate::render::{canonical, render_failure, render_files, render_scores};
use crate::{Logs, WRITE_PID, assert_all_gone, int_batches, model, pids_in, python, spec};

/// One run of a model and what it must give.
struct Case {
    /// Names the case in failure reports.
    name: &'static str,
    /// The source of `model.py`; `{WRITE_PID}` is replaced by code that
    /// writes the worker's pid to a file when the module is imported.
    source: &'static str,
    /// Which of the model's functions run.
    run: Run,
    /// The interpreter the workers start with.
    python: Python,
    /// How many workers score.
    workers: usize,
    /// What the workers are fed.
    input: Input,
    /// The seq whose output the output callback refuses, as a full disk would.
    refuse: Option<u64>,
    /// Text the log must hold, each with the number of times it occurs.
    logs: &'static [(&'static str, usize)],
    /// How many pid files the model writes; every one of those processes must
    /// be gone when the run returns.
    pid_files: usize,
    /// The rendered outcome, where `[..]` matches any text.
    expect: String,
}

impl Case {
    const DEFAULT: Case = Case {
        name: "",
        source: "",
        run: Run::Score,
        python: Python::Test,
        workers: 1,
        input: Input::Ints { total: 2, per: 2 },
        refuse: None,
        logs: &[],
        pid_files: 0,
        expect: String::new(),
    };
}

/// The model functions a case runs.
#[derive(Clone, Copy)]
enum Run {
    /// `score` on one record at a time.
    Score,
    /// `score` on a pandas DataFrame per batch.
    ScoreBatch,
    /// `score` on one record at a time, after the named init function.
    InitScore(&'static str),
    /// `metrics` over every record.
    Metrics,
    /// `metrics` over a baseline (the int input with x doubled) and every record.
    MetricsWithBaseline,
    /// `train` over every record.
    Train,
}

impl Run {
    fn functions(self) -> Functions {
        let score = Functions {
            score: Some("score".into()),
            ..Functions::default()
        };
        match self {
            Run::Score => score,
            Run::ScoreBatch => Functions {
                score_batch: true,
                ..score
            },
            Run::InitScore(init) => Functions {
                init: Some(init.into()),
                ..score
            },
            Run::Metrics | Run::MetricsWithBaseline => Functions {
                metrics: Some("metrics".into()),
                ..Functions::default()
            },
            Run::Train => Functions {
                train: Some("train".into()),
                ..Functions::default()
            },
        }
    }
}

/// The interpreter a case's workers start with.
#[derive(Clone, Copy)]
enum Python {
    /// The test environment's Python, with pyarrow and pandas.
    Test,
    /// A Python that cannot import pyarrow.
    WithoutPyarrow,
    /// A path where there is no interpreter.
    Missing,
}

/// What a case's workers are fed.
#[derive(Clone, Copy)]
enum Input {
    /// An int64 column `x` holding 0..total, `per` rows a batch.
    Ints { total: i64, per: i64 },
    /// One batch of a nullable float column `a` and a nullable string column `s`.
    FloatsAndStrings,
}

impl Input {
    fn batches(self) -> Vec<RecordBatch> {
        match self {
            Input::Ints { total, per } => int_batches(total, per),
            Input::FloatsAndStrings => {
                let schema = Arc::new(Schema::new(vec![
                    Field::new("a", DataType::Float64, true),
                    Field::new("s", DataType::Utf8, true),
                ]));
                let batch = RecordBatch::try_new(
                    schema,
                    vec![
                        Arc::new(Float64Array::from(vec![Some(1.5), None, Some(-2.0)])),
                        Arc::new(StringArray::from(vec![Some("a"), Some("é"), None])),
                    ],
                )
                .unwrap();
                vec![batch]
            }
        }
    }
}

/// The table: every run, with what it must give.
fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "per_record_bare_values_of_every_kind_become_one_column",
            // ModelOp models return a float, a numpy scalar, a one-element
            // array from predict, or a pandas Series; each is one value.
            source: "\
import numpy as np, pandas as pd
def score(r):
    x = r['x']
    return [x * 0.5, np.float64(x * 0.5), np.array([x * 0.5]), pd.Series([x * 0.5]), (x * 0.5,)][x % 5]
",
            workers: 2,
            input: Input::Ints { total: 10, per: 5 },
            expect: "\
batches: 2, in: 10, out: 10
seq 0: values: prediction f64 = 0.0 0.5 1.0 1.5 2.0
seq 1: values: prediction f64 = 2.5 3.0 3.5 4.0 4.5
"
            .into(),
            ..Case::DEFAULT
        },
        Case {
            name: "numpy_ints_bools_and_strings_are_values_too",
            source: "\
import numpy as np
def score(r):
    x = r['x']
    if x < 2:
        return np.int64(x * 7)
    return gen(x)
def gen(x):
    if x < 4:
        yield np.bool_(x == 2)
    else:
        yield from ['s%d' % x]
",
            input: Input::Ints { total: 6, per: 2 },
            expect: "\
batches: 3, in: 6, out: 6
seq 0: values: prediction i64 = 0 7
seq 1: values: prediction bool = true false
seq 2: values: prediction str = 's4' 's5'
"
            .into(),
            ..Case::DEFAULT
        },
        Case {
            name: "a_score_function_may_yield_a_dataframe_or_a_list_of_records",
            source: "\
import pandas as pd
def score(r):
    if r['x'] % 2:
        yield pd.DataFrame([{'x': r['x'], 'y': 1}])
    else:
        yield pd.DataFrame([r]).assign(y=2).to_dict(orient='records')
",
            input: Input::Ints { total: 4, per: 4 },
            expect: "\
batches: 1, in: 4, out: 4
seq 0: x i64 = 0 1 2 3; y i64 = 2 1 2 1
"
            .into(),
            ..Case::DEFAULT
        },
        Case {
            name: "a_field_of_mixed_types_is_kept_as_text_for_the_schema_check",
            source: "\
def score(r):
    x = r['x']
    return {'x': x, 'v': 'seven' if x == 1 else x, 'ok': x * 1.5}
",
            input: Input::Ints { total: 3, per: 3 },
            expect: "\
batches: 1, in: 3, out: 3
seq 0: x i64 = 0 1 2; v str = '0' 'seven' '2'; ok f64 = 0.0 1.5 3.0
"
            .into(),
            ..Case::DEFAULT
        },
        Case {
            name: "mixing_records_and_bare_values_is_a_clear_error",
            source: "\
def score(r):
    return {'x': r['x']} if r['x'] == 0 else 1.5
",
            input: Input::Ints { total: 2, per: 2 },
            expect: "User in score, no row: TypeError: output record 1 is a float, but output record 0 and the ones after it are dicts[..]"
                .into(),
            ..Case::DEFAULT
        },
        Case {
            name: "batch_mode_may_return_one_value_per_row",
            source: "\
import numpy as np
def score(df):
    if df['x'].iloc[0] == 0:
        return df['x'] * 2
    return np.asarray(df['x'] * 3.0)
",
            run: Run::ScoreBatch,
            input: Input::Ints { total: 5, per: 3 },
            expect: "\
batches: 2, in: 5, out: 5
seq 0: values: prediction i64 = 0 2 4
seq 1: values: prediction f64 = 9.0 12.0
"
            .into(),
            ..Case::DEFAULT
        },
        Case {
            name: "metrics_may_return_a_list_of_dicts_with_charts_kept_intact",
            source: "\
def metrics(df):
    return [
        {'test_name': 'n', 'values': {'rows': len(df)}},
        {'generic_bar_graph': {'title': 't', 'data': {'a': [1, 2]}, 'categories': ['x', 'y']}},
    ]
",
            run: Run::Metrics,
            input: Input::Ints { total: 5, per: 2 },
            expect: r#"[{"test_name":"n","values":{"rows":5}},{"generic_bar_graph":{"categories":["x","y"],"data":{"a":[1,2]},"title":"t"}}]"#
                .into(),
            ..Case::DEFAULT
        },
        Case {
            name: "metrics_with_a_baseline_get_two_dataframes",
            source: "\
def metrics(df_baseline, df_sample):
    yield {'baseline_rows': len(df_baseline), 'baseline_sum': int(df_baseline['x'].sum())}
    yield {'sample_rows': len(df_sample), 'sample_sum': int(df_sample['x'].sum())}
",
            run: Run::MetricsWithBaseline,
            input: Input::Ints { total: 3, per: 2 },
            expect: r#"{"baseline_rows":6,"baseline_sum":15,"sample_rows":3,"sample_sum":3}"#.into(),
            ..Case::DEFAULT
        },
        Case {
            name: "a_one_input_metrics_function_given_a_baseline_is_a_clear_error",
            source: "\
def metrics(df):
    return {'rows': len(df)}
",
            run: Run::MetricsWithBaseline,
            expect: "User in metrics, no row: TypeError: [..]metrics(df) takes 1 data set(s) but the job has 2[..]baseline[..]".into(),
            ..Case::DEFAULT
        },
        Case {
            name: "per_record_returning_dicts_lists_generators_and_none",
            source: "\
def score(r):
    x = r['x']
    if x % 4 == 0:
        return {'x': x, 'y': x * 10}
    if x % 4 == 1:
        return [{'x': x, 'y': 1}, {'x': x, 'y': 2}]
    if x % 4 == 2:
        return None
    return gen(x)
def gen(x):
    yield {'x': x, 'y': -1}
    yield [{'x': x, 'y': -2}]
",
            workers: 2,
            input: Input::Ints { total: 20, per: 8 },
            // Per 4 inputs: 1 + 2 + 0 + 2 outputs; 20 inputs give 25 outputs.
            expect: "\
batches: 3, in: 20, out: 25
seq 0: x i64 = 0 1 1 3 3 4 5 5 7 7; y i64 = 0 1 2 -1 -2 40 1 2 -1 -2
seq 1: x i64 = 8 9 9 11 11 12 13 13 15 15; y i64 = 80 1 2 -1 -2 120 1 2 -1 -2
seq 2: x i64 = 16 17 17 19 19; y i64 = 160 1 2 -1 -2
"
            .into(),
            ..Case::DEFAULT
        },
        Case {
            name: "batch_mode_gets_a_dataframe",
            source: "\
import pandas as pd
def score(df):
    assert isinstance(df, pd.DataFrame)
    return pd.DataFrame({'x': df['x'], 'n': len(df), 's': df['x'].astype(str) + '!'})
",
            run: Run::ScoreBatch,
            input: Input::Ints { total: 10, per: 4 },
            expect: "\
batches: 3, in: 10, out: 10
seq 0: x i64 = 0 1 2 3; n i64 = 4 4 4 4; s str = '0!' '1!' '2!' '3!'
seq 1: x i64 = 4 5 6 7; n i64 = 4 4 4 4; s str = '4!' '5!' '6!' '7!'
seq 2: x i64 = 8 9; n i64 = 2 2; s str = '8!' '9!'
"
            .into(),
            ..Case::DEFAULT
        },
        Case {
            name: "output_order_is_input_order_with_uneven_workers",
            // Batches whose first x is a multiple of 15 are slow, so workers
            // finish out of order.
            source: "\
import time
def score(r):
    if r['x'] % 15 == 0:
        time.sleep(0.15)
    return {'x': r['x']}
",
            workers: 4,
            input: Input::Ints { total: 300, per: 5 },
            expect: (0..60).fold(
                "batches: 60, in: 300, out: 300\n".to_string(),
                |mut text, seq| {
                    let xs: Vec<String> = (seq * 5..seq * 5 + 5).map(|x| x.to_string()).collect();
                    let _ = writeln!(text, "seq {seq}: x i64 = {}", xs.join(" "));
                    text
                },
            ),
            ..Case::DEFAULT
        },
        Case {
            name: "empty_input_still_starts_and_stops_workers",
            source: "\
{WRITE_PID}def init():
    print('init ran')
def score(r):
    return r
",
            run: Run::InitScore("init"),
            workers: 2,
            input: Input::Ints { total: 0, per: 1 },
            logs: &[("init ran", 2)],
            pid_files: 2,
            expect: "batches: 0, in: 0, out: 0\n".into(),
            ..Case::DEFAULT
        },
        Case {
            name: "prints_reach_the_log_and_not_the_data",
            source: "\
import sys, os
def score(r):
    print('hello from', r['x'])
    sys.stdout.write('raw stdout\\n')
    os.write(1, b'fd one\\n')
    print('to stderr', file=sys.stderr)
    return {'x': r['x'] + 1, 'mark': os.environ['KEEL_TEST_MARK']}
",
            input: Input::Ints { total: 3, per: 3 },
            logs: &[
                ("hello from 0", 1),
                ("hello from 2", 1),
                ("raw stdout", 3),
                ("fd one", 3),
                ("to stderr", 3),
            ],
            expect: "\
batches: 1, in: 3, out: 3
seq 0: x i64 = 1 2 3; mark str = 'marked' 'marked' 'marked'
"
            .into(),
            ..Case::DEFAULT
        },
        Case {
            name: "init_with_the_job",
            source: "\
import json
T = None
def begin(job):
    global T
    # ModelOp passes the job as a JSON string under rawJson.
    assert list(job) == ['rawJson'], job
    T = json.loads(job['rawJson'])['threshold']
def score(r):
    return {'t': T, 'x': r['x']}
",
            run: Run::InitScore("begin"),
            input: Input::Ints { total: 2, per: 2 },
            expect: "\
batches: 1, in: 2, out: 2
seq 0: t i64 = 3 3; x i64 = 0 1
"
            .into(),
            ..Case::DEFAULT
        },
        Case {
            name: "init_without_the_job",
            source: "\
T = None
def begin():
    global T
    T = 7
def score(r):
    return {'t': T, 'x': r['x']}
",
            run: Run::InitScore("begin"),
            input: Input::Ints { total: 2, per: 2 },
            expect: "\
batches: 1, in: 2, out: 2
seq 0: t i64 = 7 7; x i64 = 0 1
"
            .into(),
            ..Case::DEFAULT
        },
        Case {
            name: "metrics_return_json_safe_values",
            source: "\
import numpy as np
def metrics(df):
    yield {'n': np.int64(len(df)), 'mean': np.float64(df['x'].mean())}
    yield {'arr': np.arange(3), 'nan': float('nan'), 'inf': np.float64('inf'), 'ok': np.bool_(True)}
",
            run: Run::Metrics,
            input: Input::Ints { total: 10, per: 3 },
            expect: r#"{"arr":[0,1,2],"inf":null,"mean":4.5,"n":10,"nan":null,"ok":true}"#.into(),
            ..Case::DEFAULT
        },
        Case {
            name: "training_writes_output_dir",
            source: "\
def train(df):
    with open('outputDir/x', 'w') as f:
        f.write(str(int(df['x'].sum())))
",
            run: Run::Train,
            input: Input::Ints { total: 10, per: 4 },
            expect: "outputDir/x: 45\n".into(),
            ..Case::DEFAULT
        },
        Case {
            name: "floats_and_strings_round_trip",
            source: "\
def score(r):
    return {'y': r['a'] * 2 if r['a'] is not None else None, 's': (r['s'] or '') + '?'}
",
            input: Input::FloatsAndStrings,
            expect: "\
batches: 1, in: 3, out: 3
seq 0: y f64 = 3.0 null -4.0; s str = 'a?' 'é?' '?'
"
            .into(),
            ..Case::DEFAULT
        },
        Case {
            name: "a_raising_model_reports_traceback_and_row",
            source: "\
def score(r):
    if r['x'] == 13:
        raise ValueError('x must not be 13')
    return {'x': r['x']}
",
            workers: 2,
            input: Input::Ints { total: 30, per: 5 },
            // The row counts from 0 over the whole input; the job's message counts records from 1.
            expect: "\
User in score, row 13: ValueError: x must not be 13
traceback: [..]model.py\", line 3[..]
job: [..]record 14 given[..]"
                .into(),
            ..Case::DEFAULT
        },
        Case {
            name: "import_errors_are_user_errors",
            source: "import keel_no_such_module\n",
            expect: "\
User in import, no row: ModuleNotFoundError: No module named 'keel_no_such_module'
traceback: [..]"
                .into(),
            ..Case::DEFAULT
        },
        Case {
            name: "abort_is_a_crash_naming_the_signal",
            source: "\
{WRITE_PID}import os, sys
def score(r):
    print('about to abort', file=sys.stderr)
    os.abort()
",
            workers: 2,
            input: Input::Ints { total: 4, per: 2 },
            pid_files: 2,
            expect: "Crashed: [..]SIGABRT[..]about to abort[..]".into(),
            ..Case::DEFAULT
        },
        Case {
            name: "a_failing_output_callback_is_internal",
            source: "\
def score(r):
    return r
",
            input: Input::Ints { total: 10, per: 2 },
            refuse: Some(1),
            expect: "Internal: [..]batch 1[..]disk full[..]".into(),
            ..Case::DEFAULT
        },
        Case {
            name: "a_python_without_pyarrow_is_runtime_unavailable",
            source: "\
def score(r):
    return r
",
            python: Python::WithoutPyarrow,
            expect: "RuntimeUnavailable: [..]pyarrow[..]install pyarrow and pandas[..]".into(),
            ..Case::DEFAULT
        },
        Case {
            name: "a_missing_interpreter_is_runtime_unavailable",
            source: "\
def score(r):
    return r
",
            python: Python::Missing,
            expect: "RuntimeUnavailable: [..]/nonexistent/bin/python[..]".into(),
            ..Case::DEFAULT
        },
    ]
}

/// Runs every case, as many at a time as there are cores, and fails naming
/// the cases that failed (each one's own panic message is printed above).
#[test]
fn table() {
    let cases = cases();
    let queue = Mutex::new(cases.iter());
    let failed = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let Some(case) = queue.lock().unwrap().next() else {
                        return;
                    };
                    // A thread named after the case, so its panic message names it.
                    let run = std::thread::Builder::new()
                        .name(case.name.to_string())
                        .spawn_scoped(s, || check(case))
                        .unwrap();
                    if run.join().is_err() {
                        failed.lock().unwrap().push(case.name);
                    }
                }
            });
        }
    });
    let failed = failed.into_inner().unwrap();
    assert!(
        failed.is_empty(),
        "{} of {} cases failed: {}",
        failed.len(),
        cases.len(),
        failed.join(", ")
    );
}

/// Runs one case and checks its outcome, its log and its processes.
fn check(case: &Case) {
    let interpreter = match case.python {
        // python() has already said loudly why it is missing.
        Python::Test => match python() {
            Some(py) => py,
            None => return,
        },
        Python::WithoutPyarrow => match python_without_pyarrow() {
            Some(py) => py,
            None => {
                keel_testkit::skip("no python3 without pyarrow on this machine");
                return;
            }
        },
        Python::Missing => PathBuf::from("/nonexistent/bin/python"),
    };
    let dir = model(&case.source.replace("{WRITE_PID}", WRITE_PID));
    let spec = spec(&interpreter, dir.path(), case.run.functions());
    let logs = Logs::default();
    let ctl = Control::new();
    let mut input = case.input.batches().into_iter();
    let outcome = match case.run {
        Run::Metrics => run_metrics(&spec, None, &mut input, &logs, &ctl).map(|v| canonical(&v)),
        Run::MetricsWithBaseline => {
            let mut baseline = int_batches(6, 4).into_iter();
            run_metrics(&spec, Some(&mut baseline), &mut input, &logs, &ctl).map(|v| canonical(&v))
        }
        Run::Train => run_training(&spec, &mut input, &logs, &ctl)
            .map(|()| render_files(&dir.path().join("outputDir"))),
        Run::Score | Run::ScoreBatch | Run::InitScore(_) => {
            let mut outputs = Vec::new();
            run_scoring(
                &spec,
                case.workers,
                &mut input,
                &mut |seq, batches| {
                    if case.refuse == Some(seq) {
                        return Err("disk full".into());
                    }
                    outputs.push((seq, batches));
                    Ok(())
                },
                &logs,
                &ctl,
            )
            .map(|stats| render_scores(stats, &outputs))
        }
    };
    let actual = outcome.unwrap_or_else(render_failure);
    assert!(
        keel_testkit::matches(&case.expect, &actual),
        "the outcome differs\nexpected:\n{}\nactual:\n{actual}\nlog:\n{}",
        case.expect,
        logs.text()
    );

    let text = logs.text();
    for &(needle, times) in case.logs {
        assert_eq!(
            text.matches(needle).count(),
            times,
            "{needle:?} in the log:\n{text}"
        );
    }

    let pids = pids_in(dir.path());
    assert_eq!(pids.len(), case.pid_files, "pid files: {pids:?}");
    if case.pid_files > 0 {
        assert_all_gone(&pids);
    }
}

/// A `python3` that cannot import pyarrow, if this machine has one.
fn python_without_pyarrow() -> Option<PathBuf> {
    let probe = "import sys; import importlib.util as u; sys.exit(0 if u.find_spec('pyarrow') is None else 1)";
    ["/usr/bin/python3", "python3"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| {
            std::process::Command::new(p)
                .args(["-c", probe])
                .status()
                .is_ok_and(|s| s.success())
        })
}
