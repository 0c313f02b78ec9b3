//! Printing API objects: aligned tables for people, JSON (`-o json`) for
//! programs. Data goes to stdout; notes go to stderr.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use clap::ValueEnum;
use keel_api_model as api;
use keel_core::ModelDef;
use keel_types::FunctionKind;
use serde::Serialize;

/// Prints a line to stdout, ignoring a closed pipe (`keel job result | head`).
macro_rules! outln {
    () => {{ let _ = writeln!(std::io::stdout().lock()); }};
    ($($t:tt)*) => {{ let _ = writeln!(std::io::stdout().lock(), $($t)*); }};
}

/// Prints text to stdout as it is, ignoring a closed pipe.
pub fn out(text: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes());
    let _ = o.flush();
}

/// Prints text that came from a model (a job's log): to a terminal with its
/// control characters made visible (`\x1b`), so a model cannot retitle the
/// terminal, move the cursor or erase what Keel printed; to a pipe or file
/// as it is.
pub fn out_untrusted(text: &str) {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        out(&escape_controls(text));
    } else {
        out(text);
    }
}

/// `text` with every control character but newline and tab written as
/// `\xNN` (or `\u{NNNN}` for C1 controls), so it prints as plain characters.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    let control = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if !control(c) {
            escaped.push(c);
        } else if (c as u32) < 0x80 {
            escaped.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            escaped.push_str(&format!("\\u{{{:04x}}}", c as u32));
        }
    }
    std::borrow::Cow::Owned(escaped)
}

/// How read commands print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// The exact API body.
    Json,
}

pub(crate) fn json<T: Serialize>(v: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(v)?;
    outln!("{text}");
    Ok(())
}

/// Prints rows as aligned columns under a header.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        outln!("{}", s.trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for r in rows {
        line(r.clone());
    }
}

pub(crate) fn kv(pairs: &[(&str, String)]) {
    let w = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in pairs {
        outln!("{k:<w$}  {v}");
    }
}

/// A function as a row shows it: name and parameters, file, line, and
/// whether it takes batches.
fn func(f: Option<(&str, &[String], &str, u32, bool)>) -> String {
    match f {
        Some((name, params, file, line, batch)) => format!(
            "{name}({}) at {file}:{line}{}",
            params.join(", "),
            if batch { " (batch)" } else { "" }
        ),
        None => "-".into(),
    }
}

pub fn inspect(fmt: Format, def: &ModelDef) -> anyhow::Result<()> {
    if fmt == Format::Json {
        return json(def);
    }
    let f = |x: Option<&keel_core::FunctionInfo>| {
        func(x.map(|x| {
            (
                x.name.as_str(),
                x.params.as_slice(),
                x.file.as_str(),
                x.line,
                x.batch,
            )
        }))
    };
    let mut rows = vec![("name", def.name.clone()), ("source", def.source.clone())];
    if let Some(a) = &def.adapter {
        rows.push(("model", a.summary.clone()));
        rows.extend(a.notes.iter().map(|n| ("note", n.clone())));
    }
    rows.extend(
        FunctionKind::ALL
            .into_iter()
            .map(|k| (k.as_str(), f(def.functions.get(k)))),
    );
    rows.extend([
        (
            "input schema",
            def.input_schema.clone().unwrap_or("-".into()),
        ),
        (
            "output schema",
            def.output_schema.clone().unwrap_or("-".into()),
        ),
        (
            "platform",
            if def.platform.requirements.is_empty() {
                "-".into()
            } else {
                def.platform.requirements.join(", ")
            },
        ),
        ("content hash", def.content_hash.clone()),
    ]);
    kv(&rows);
    outln!();
    table(
        &["FILE", "ROLE", "SIZE", "SHA256"],
        &def.files
            .iter()
            .map(|f| {
                vec![
                    f.path.clone(),
                    serde_json::to_value(f.role)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    f.size.to_string(),
                    f.sha256.chars().take(12).collect(),
                ]
            })
            .collect::<Vec<_>>(),
    );
    Ok(())
}

pub fn registration(fmt: Format, r: &api::Registration) -> anyhow::Result<()> {
    if fmt == Format::Json {
        return json(r);
    }
    if r.created {
        outln!(
            "registered {} version {} (model {}, version {})",
            r.model.name,
            r.version.number,
            r.model.id,
            r.version.id
        );
    } else {
        outln!(
            "unchanged: {} version {} already holds these files (model {}, version {})",
            r.model.name,
            r.version.number,
            r.model.id,
            r.version.id
        );
    }
    Ok(())
}

pub fn models(fmt: Format, p: &api::Page<api::Model>) -> anyhow::Result<()> {
    if fmt == Format::Json {
        return json(p);
    }
    table(
        &["NAME", "LATEST", "ALIASES", "ID", "CREATED"],
        &p.items
            .iter()
            .map(|m| {
                vec![
                    m.name.clone(),
                    m.latest_version.to_string(),
                    m.aliases
                        .iter()
                        .map(|(a, v)| format!("{a}={v}"))
                        .collect::<Vec<_>>()
                        .join(","),
                    m.id.to_string(),
                    m.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                ]
            })
            .collect::<Vec<_>>(),
    );
    next_page(&p.next_page_token);
    Ok(())
}

pub(crate) fn next_page(t: &Option<String>) {
    if let Some(t) = t {
        eprintln!("more: --page-token {t}");
    }
}

pub fn version(fmt: Format, v: &api::Version) -> anyhow::Result<()> {
    if fmt == Format::Json {
        return json(v);
    }
    let mut rows = vec![
        ("model", format!("{} ({})", v.model_name, v.model_id)),
        ("version", format!("{} ({})", v.number, v.id)),
        ("aliases", v.aliases.join(", ")),
        ("created", v.created_at.to_rfc3339()),
        ("source", v.source.clone()),
    ];
    if let Some(a) = &v.adapter {
        rows.push(("kind", a.clone()));
    }
    rows.extend(FunctionKind::ALL.into_iter().map(|k| {
        let f = v.functions.get(k);
        (
            k.as_str(),
            func(f.map(|f| {
                (
                    f.name.as_str(),
                    f.params.as_slice(),
                    f.file.as_str(),
                    f.line,
                    f.batch,
                )
            })),
        )
    }));
    rows.extend([
        ("input schema", v.input_schema.clone().unwrap_or("-".into())),
        (
            "output schema",
            v.output_schema.clone().unwrap_or("-".into()),
        ),
        ("platform", v.platform.requirements.join(", ")),
        (
            "trained by",
            v.source_job.map(|j| j.to_string()).unwrap_or("-".into()),
        ),
        ("content hash", v.content_hash.clone()),
        ("files", v.files.len().to_string()),
    ]);
    rows.extend(origin_rows(&v.origin));
    kv(&rows);
    Ok(())
}

pub fn versions(fmt: Format, p: &api::Page<api::Version>) -> anyhow::Result<()> {
    if fmt == Format::Json {
        return json(p);
    }
    table(
        &["VERSION", "ALIASES", "FILES", "CREATED", "ID", "ORIGIN"],
        &p.items
            .iter()
            .map(|v| {
                vec![
                    v.number.to_string(),
                    v.aliases.join(","),
                    v.files.len().to_string(),
                    v.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    v.id.to_string(),
                    origin_cell(&v.origin),
                ]
            })
            .collect::<Vec<_>>(),
    );
    next_page(&p.next_page_token);
    Ok(())
}

pub fn alias(fmt: Format, a: &api::Alias) -> anyhow::Result<()> {
    if fmt == Format::Json {
        return json(a);
    }
    match a.previous_version {
        Some(p) if p != a.version => outln!(
            "{}@{} moved from version {p} to version {}",
            a.model_name,
            a.alias,
            a.version
        ),
        _ => outln!("{}@{} -> version {}", a.model_name, a.alias, a.version),
    }
    Ok(())
}

pub fn aliases(fmt: Format, a: &[api::Alias], h: &[api::AliasEvent]) -> anyhow::Result<()> {
    if fmt == Format::Json {
        return json(&serde_json::json!({"aliases": a, "history": h}));
    }
    table(
        &["ALIAS", "VERSION", "UPDATED"],
        &a.iter()
            .map(|a| {
                vec![
                    a.alias.clone(),
                    a.version.to_string(),
                    a.updated_at.to_rfc3339(),
                ]
            })
            .collect::<Vec<_>>(),
    );
    if !h.is_empty() {
        outln!("\nhistory:");
        for e in h {
            let v = |x: Option<u32>| x.map(|n| n.to_string()).unwrap_or("-".into());
            outln!(
                "  {}  {}: {} -> {}",
                e.at.to_rfc3339(),
                e.alias,
                v(e.from_version),
                v(e.to_version)
            );
        }
    }
    Ok(())
}

pub fn jobs(fmt: Format, p: &api::Page<api::Job>) -> anyhow::Result<()> {
    if fmt == Format::Json {
        return json(p);
    }
    table(
        &[
            "ID", "KIND", "STATUS", "MODEL", "READ", "WRITTEN", "REJECTED", "CREATED",
        ],
        &p.items
            .iter()
            .map(|j| {
                vec![
                    j.id.to_string(),
                    j.kind.to_string(),
                    j.status.to_string(),
                    format!("{}:{}", j.model_name, j.version),
                    j.counts.read.to_string(),
                    j.counts.written.to_string(),
                    j.counts.rejected.to_string(),
                    j.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                ]
            })
            .collect::<Vec<_>>(),
    );
    next_page(&p.next_page_token);
    Ok(())
}

pub fn job(fmt: Format, j: &api::Job) -> anyhow::Result<()> {
    if fmt == Format::Json {
        return json(j);
    }
    let output = match &j.output {
        Some(api::Output::Embedded { name }) => format!("{name} (embedded)"),
        Some(api::Output::External { uri }) => uri.clone(),
        None => "-".into(),
    };
    let input = match &j.input {
        api::Input::Upload { name, upload_id } => format!("{name} (upload {upload_id})"),
        api::Input::Path { uri } => uri.clone(),
    };
    let duration = match (j.started_at, j.finished_at) {
        (Some(s), Some(f)) => format!("{:.2}s", (f - s).num_milliseconds() as f64 / 1000.0),
        _ => "-".into(),
    };
    let mut rows = vec![
        ("job", j.id.to_string()),
        ("kind", j.kind.to_string()),
        ("status", j.status.to_string()),
        ("model", format!("{} version {}", j.model_name, j.version)),
        ("input", input),
        ("output", output),
        (
            "records",
            format!(
                "{} read, {} written, {} rejected",
                j.counts.read, j.counts.written, j.counts.rejected
            ),
        ),
        ("duration", duration),
        (
            "throughput",
            j.records_per_second
                .map(|r| format!("{r:.0} records/s"))
                .unwrap_or("-".into()),
        ),
    ];
    if let Some(r) = &j.result
        && let Some(v) = r.produced_version
    {
        rows.push(("new version", format!("{}:{v}", j.model_name)));
    }
    if let Some(runner) = &j.runner {
        rows.push(("runner", runner.clone()));
    }
    // Attempts show once there was more than one, or one that did not end
    // the job itself (lost, or handed back).
    let eventful = j.attempts.len() > 1
        || j.attempts.iter().any(|a| {
            matches!(
                a.outcome,
                api::AttemptOutcome::Lost | api::AttemptOutcome::HandedBack
            )
        });
    if eventful {
        let list: Vec<String> = j
            .attempts
            .iter()
            .map(|a| format!("{} {} on {}", a.attempt, a.outcome, a.runner))
            .collect();
        rows.push((
            "attempts",
            format!("{} (up to {} may be lost)", list.join(", "), j.max_attempts),
        ));
    }
    if let Some(e) = &j.error {
        rows.push(("error", format!("{}: {}", e.kind, e.message)));
    }
    kv(&rows);
    if let Some(tb) = j.error.as_ref().and_then(|e| e.traceback.as_ref()) {
        outln!("\n{tb}");
    }
    Ok(())
}

/// Prints a result file: text formats as they are, Parquet as JSON lines.
pub fn print_file(path: &Path, name: &str) -> anyhow::Result<()> {
    let is_parquet =
        keel_types::DataFormat::from_name(name) == Some(keel_types::DataFormat::Parquet);
    let mut out = std::io::stdout().lock();
    if is_parquet {
        let chunks = keel_data::open(
            path,
            &keel_data::ReadOptions {
                format: Some(keel_types::DataFormat::Parquet),
                ..Default::default()
            },
        )?;
        for chunk in chunks {
            let chunk = chunk?;
            for row in 0..chunk.batch.num_rows() {
                let line = keel_data::row_to_json(&chunk.batch, row).to_string();
                if writeln!(out, "{line}").is_err() {
                    // The reader went away (`| head`): stop quietly.
                    return Ok(());
                }
            }
        }
    } else {
        let mut f =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        if let Err(e) = std::io::copy(&mut f, &mut out)
            && e.kind() != std::io::ErrorKind::BrokenPipe
        {
            return Err(e.into());
        }
    }
    Ok(())
}

fn fmt_num(v: Option<&serde_json::Value>) -> String {
    match v {
        Some(serde_json::Value::Number(n)) => n
            .as_f64()
            .map(|x| format!("{x:.6}"))
            .unwrap_or_else(|| n.to_string()),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    }
}

/// A metrics document as a table of its scalars (value ± standard deviation),
/// then the fairness groups. `-o json` prints the whole document.
pub fn metrics_summary(doc: &serde_json::Value) {
    let pt = doc
        .get("problem_type")
        .and_then(|v| v.as_str())
        .unwrap_or("?");
    let ds = doc.get("dataset");
    outln!(
        "{pt}: {} of {} records evaluated ({} dropped)",
        fmt_count(ds.and_then(|d| d.get("evaluated_count"))),
        fmt_count(ds.and_then(|d| d.get("item_count"))),
        fmt_count(ds.and_then(|d| d.get("dropped_count"))),
    );
    for key in [
        "binary_classification_metrics",
        "multiclass_classification_metrics",
        "regression_metrics",
    ] {
        let Some(m) = doc.get(key).and_then(|v| v.as_object()) else {
            continue;
        };
        let mut rows = Vec::new();
        for (k, v) in m {
            if let Some(value) = v.get("value") {
                rows.push(vec![
                    k.clone(),
                    fmt_num(Some(value)),
                    fmt_num(v.get("standard_deviation")),
                ]);
            }
        }
        table(&["METRIC", "VALUE", "STD"], &rows);
        if let Some(cm) = m.get("confusion_matrix").and_then(|v| v.as_object()) {
            outln!();
            outln!("confusion matrix (rows: actual, columns: predicted)");
            let names: Vec<String> = cm.keys().cloned().collect();
            let mut header = vec![""];
            header.extend(names.iter().map(String::as_str));
            let rows: Vec<Vec<String>> = cm
                .iter()
                .map(|(a, row)| {
                    let mut r = vec![a.clone()];
                    r.extend(names.iter().map(|p| fmt_count(row.get(p))));
                    r
                })
                .collect();
            table(&header, &rows);
        }
    }
    if let Some(f) = doc.get("fairness").and_then(|v| v.as_object()) {
        for (attr, v) in f {
            outln!();
            outln!(
                "fairness by {attr} (reference group {})",
                v.get("reference_group")
                    .and_then(|g| g.as_str())
                    .unwrap_or("?")
            );
            let rows: Vec<Vec<String>> = v
                .get("groups")
                .and_then(|g| g.as_array())
                .map(|gs| {
                    gs.iter()
                        .map(|g| {
                            vec![
                                g.get("group")
                                    .and_then(|x| x.as_str())
                                    .unwrap_or("")
                                    .to_string(),
                                fmt_count(g.get("count")),
                                fmt_num(g.get("positive_rate")),
                                fmt_num(g.get("true_positive_rate")),
                                fmt_num(g.get("false_positive_rate")),
                                fmt_num(g.get("statistical_parity_difference")),
                                fmt_num(g.get("disparate_impact")),
                                fmt_num(g.get("equal_opportunity_difference")),
                                fmt_num(g.get("average_odds_difference")),
                            ]
                        })
                        .collect()
                })
                .unwrap_or_default();
            table(
                &[
                    "GROUP", "COUNT", "POS_RATE", "TPR", "FPR", "SPD", "DI", "EOD", "AOD",
                ],
                &rows,
            );
        }
    }
}

fn fmt_count(v: Option<&serde_json::Value>) -> String {
    v.map(|x| x.to_string()).unwrap_or_else(|| "-".into())
}

/// A drift document as one row per feature.
pub fn drift_summary(doc: &serde_json::Value) {
    let rows: Vec<Vec<String>> = doc
        .get("features")
        .and_then(|f| f.as_array())
        .map(|fs| {
            fs.iter()
                .map(|f| {
                    let g = |k: &str| fmt_num(f.get(k));
                    vec![
                        f.get("name")
                            .and_then(|x| x.as_str())
                            .unwrap_or("")
                            .to_string(),
                        f.get("inferred_type")
                            .and_then(|x| x.as_str())
                            .unwrap_or("")
                            .to_string(),
                        g("psi"),
                        g("ks_statistic"),
                        g("ks_p_value"),
                        g("jensen_shannon_distance"),
                        g("wasserstein_distance"),
                        g("chi_squared_p_value"),
                        g("l_infinity"),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    table(
        &[
            "FEATURE",
            "TYPE",
            "PSI",
            "KS",
            "KS_P",
            "JS",
            "WASSERSTEIN",
            "CHI2_P",
            "L_INF",
        ],
        &rows,
    );
}

/// A comparison: the metrics side by side with deltas, the paired test and the verdict.
pub fn comparison(fmt: Format, c: &api::Comparison) -> anyhow::Result<()> {
    if fmt == Format::Json {
        return json(c);
    }
    kv(&[
        ("id", c.id.to_string()),
        ("status", c.status.to_string()),
        ("champion job", c.champion_job.to_string()),
        ("challenger job", c.challenger_job.to_string()),
        ("metric", c.policy.metric.clone()),
    ]);
    if let Some(e) = &c.error {
        outln!("error: {e}");
    }
    let Some(r) = &c.result else {
        return Ok(());
    };
    let side = |k: &str| {
        r.get(k)
            .map(|s| {
                format!(
                    "{} version {}",
                    s.get("model").and_then(|m| m.as_str()).unwrap_or("?"),
                    fmt_count(s.get("version"))
                )
            })
            .unwrap_or_default()
    };
    outln!();
    let rows: Vec<Vec<String>> = r
        .get("metrics")
        .and_then(|m| m.as_array())
        .map(|ms| {
            ms.iter()
                .map(|m| {
                    vec![
                        m.get("name")
                            .and_then(|x| x.as_str())
                            .unwrap_or("")
                            .to_string(),
                        fmt_num(m.get("champion")),
                        fmt_num(m.get("challenger")),
                        fmt_num(m.get("delta")),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let champ = format!("CHAMPION ({})", side("champion"));
    let chall = format!("CHALLENGER ({})", side("challenger"));
    table(&["METRIC", &champ, &chall, "DELTA"], &rows);
    outln!();
    if let Some(t) = r.get("test") {
        outln!(
            "{} test on {}: delta {} ({}% CI {} to {}), p = {}",
            t.get("method").and_then(|x| x.as_str()).unwrap_or("?"),
            c.policy.metric,
            fmt_num(t.get("delta")),
            c.policy.confidence * 100.0,
            fmt_num(t.get("ci_low")),
            fmt_num(t.get("ci_high")),
            fmt_num(t.get("p_value")),
        );
    }
    outln!("verdict: {}", c.verdict.map_or("-", |v| v.as_str()));
    if let Some(reason) = r.get("reason").and_then(|x| x.as_str()) {
        outln!("{reason}");
    }
    Ok(())
}

/// A page of comparisons.
pub fn comparisons(fmt: Format, p: &api::Page<api::Comparison>) -> anyhow::Result<()> {
    if fmt == Format::Json {
        return json(p);
    }
    let rows: Vec<Vec<String>> = p
        .items
        .iter()
        .map(|c| {
            vec![
                c.id.to_string(),
                c.status.to_string(),
                c.policy.metric.clone(),
                c.verdict.map_or("-", |v| v.as_str()).to_string(),
                c.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            ]
        })
        .collect();
    table(&["ID", "STATUS", "METRIC", "VERDICT", "CREATED"], &rows);
    next_page(&p.next_page_token);
    Ok(())
}

/// The `keel model show` rows of a version's origin: the source it can be
/// fetched again with, and the commit its files came from.
fn origin_rows(origin: &Option<api::Origin>) -> Vec<(&'static str, String)> {
    match origin {
        None => vec![("origin", "-".into())],
        Some(o) => {
            let api::Origin::Git { commit, .. } = o;
            vec![
                ("origin", keel_core::git::source_of(o)),
                ("commit", commit.clone()),
            ]
        }
    }
}

/// A version's origin in one short cell: `REF@COMMIT`.
fn origin_cell(origin: &Option<api::Origin>) -> String {
    match origin {
        None => "-".into(),
        Some(api::Origin::Git {
            reference, commit, ..
        }) => format!("{reference}@{}", commit.get(..12).unwrap_or(commit)),
    }
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        let cases = [
            ("plain line\n\ttabbed\n", "plain line\n\ttabbed\n"),
            ("\x1b]0;owned\x07title", "\\x1b]0;owned\\x07title"),
            ("erase\x1b[2K\rline", "erase\\x1b[2K\\x0dline"),
            ("bell\x7f and C1 \u{9b}31m", "bell\\x7f and C1 \\u{009b}31m"),
            ("ünïcode stays", "ünïcode stays"),
        ];
        for (raw, shown) in cases {
            assert_eq!(escape_controls(raw), shown, "{raw:?}");
        }
    }
}
