//! The self-contained HTML report of a monitoring execution: the metrics,
//! the ROC and precision-recall curves and the confusion matrix as inline
//! SVG, the violations, the data window and the ground-truth coverage. No
//! script, no stylesheet or font from elsewhere: it opens offline.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// What the report shows besides the statistics and the violations.
pub(crate) struct Context<'a> {
    pub schedule: &'a str,
    /// 0 for the first run, then one more each time late labels changed it.
    pub revision: u64,
    pub tick: DateTime<Utc>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub captured: usize,
    pub labeled: usize,
    pub skipped: u64,
}

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn num(v: &Value) -> String {
    match v {
        Value::Number(n) => n
            .as_f64()
            .map(|x| format!("{x:.4}"))
            .unwrap_or_else(|| n.to_string()),
        Value::String(s) => esc(s),
        other => esc(&other.to_string()),
    }
}

/// A curve as an SVG line in a unit square.
fn curve(title: &str, xs: &[Value], ys: &[Value], x_label: &str, y_label: &str) -> String {
    let pts: Vec<String> = xs
        .iter()
        .zip(ys)
        .filter_map(|(x, y)| Some((x.as_f64()?, y.as_f64()?)))
        .map(|(x, y)| format!("{:.1},{:.1}", 20.0 + x * 200.0, 220.0 - y * 200.0))
        .collect();
    format!(
        "<figure><svg viewBox=\"0 0 240 250\" width=\"240\" height=\"250\" role=\"img\" aria-label=\"{t}\">\
         <rect x=\"20\" y=\"20\" width=\"200\" height=\"200\" fill=\"none\" stroke=\"#888\"/>\
         <polyline fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"2\" points=\"{p}\"/>\
         <text x=\"120\" y=\"242\" text-anchor=\"middle\" font-size=\"11\">{x}</text>\
         <text x=\"10\" y=\"120\" font-size=\"11\" transform=\"rotate(-90 10 120)\" text-anchor=\"middle\">{y}</text>\
         </svg><figcaption>{t}</figcaption></figure>",
        t = esc(title),
        p = pts.join(" "),
        x = esc(x_label),
        y = esc(y_label),
    )
}

/// The report's HTML.
pub(crate) fn html(ctx: &Context<'_>, statistics: &Value, key: &str, violations: &Value) -> String {
    let mut h = String::new();
    let section = &statistics[key];
    let title = format!(
        "Monitoring execution of {} at {}",
        ctx.schedule,
        ctx.tick.to_rfc3339()
    );
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:sans-serif;margin:2em;color:#111}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #999;padding:.2em .6em;text-align:right}}th{{background:#eee}}\
         .bad{{color:#a00;font-weight:bold}}figure{{display:inline-block;margin:1em}}</style></head><body>\
         <h1>{t}</h1>",
        t = esc(&title)
    );
    let coverage = if ctx.captured == 0 {
        0.0
    } else {
        ctx.labeled as f64 / ctx.captured as f64 * 100.0
    };
    let _ = write!(
        h,
        "<h2>Data</h2><p>Window {} to {}: {} inferences captured, {} with ground truth ({coverage:.1} %).</p>",
        esc(&ctx.from.to_rfc3339()),
        esc(&ctx.to.to_rfc3339()),
        ctx.captured,
        ctx.labeled
    );
    if ctx.revision > 0 {
        let _ = write!(
            h,
            "<p>Revision {}: the ground truth of this window changed after it was first evaluated, and it ran again.</p>",
            ctx.revision
        );
    }
    if ctx.skipped > 0 {
        let _ = write!(
            h,
            "<p>The scheduler was down: {} earlier ticks were not run one by one; this execution stands for them.</p>",
            ctx.skipped
        );
    }
    let list = violations["violations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if list.is_empty() {
        h.push_str("<h2>Violations</h2><p>None: every constraint is met.</p>");
    } else {
        h.push_str("<h2 class=\"bad\">Violations</h2><table><tr><th>metric</th><th>check</th><th>description</th></tr>");
        for v in &list {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td style=\"text-align:left\">{}</td></tr>",
                esc(v["metric_name"].as_str().unwrap_or_default()),
                esc(v["constraint_check_type"].as_str().unwrap_or_default()),
                esc(v["description"].as_str().unwrap_or_default())
            );
        }
        h.push_str("</table>");
    }
    h.push_str(
        "<h2>Metrics</h2><table><tr><th>metric</th><th>value</th><th>standard deviation</th></tr>",
    );
    for (name, m) in section.as_object().into_iter().flatten() {
        if m.get("value").is_some() {
            let _ = write!(
                h,
                "<tr><th>{}</th><td>{}</td><td>{}</td></tr>",
                esc(name),
                num(&m["value"]),
                num(&m["standard_deviation"])
            );
        }
    }
    h.push_str("</table>");
    let roc = &section["receiver_operating_characteristic_curve"];
    let pr = &section["precision_recall_curve"];
    if let (Some(x), Some(y)) = (
        roc["false_positive_rates"].as_array(),
        roc["true_positive_rates"].as_array(),
    ) {
        h.push_str(&curve(
            "ROC curve",
            x,
            y,
            "false positive rate",
            "true positive rate",
        ));
    }
    if let (Some(x), Some(y)) = (pr["recalls"].as_array(), pr["precisions"].as_array()) {
        h.push_str(&curve(
            "Precision-recall curve",
            x,
            y,
            "recall",
            "precision",
        ));
    }
    if let Some(cm) = section["confusion_matrix"].as_object() {
        let classes: Vec<&String> = cm.keys().collect();
        h.push_str("<h2>Confusion matrix</h2><table><tr><th>actual \\ predicted</th>");
        for c in &classes {
            let _ = write!(h, "<th>{}</th>", esc(c));
        }
        h.push_str("</tr>");
        for a in &classes {
            let _ = write!(h, "<tr><th>{}</th>", esc(a));
            for p in &classes {
                let _ = write!(h, "<td>{}</td>", num(&cm[a.as_str()][p.as_str()]));
            }
            h.push_str("</tr>");
        }
        h.push_str("</table>");
    }
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_report_escapes_and_draws() {
        let t = DateTime::parse_from_rfc3339("2026-11-29T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let ctx = Context {
            schedule: "<evil>",
            revision: 0,
            tick: t,
            from: t,
            to: t,
            captured: 4,
            labeled: 3,
            skipped: 2,
        };
        let stats = json!({"binary_classification_metrics": {
            "auc": {"value": 0.9, "standard_deviation": "NaN"},
            "receiver_operating_characteristic_curve": {"false_positive_rates": [0.0, 1.0], "true_positive_rates": [0.0, 1.0]},
            "confusion_matrix": {"0": {"0": 1, "1": 0}, "1": {"0": 1, "1": 1}}
        }});
        let v = json!({"violations": [{"metric_name": "auc", "constraint_check_type": "LessThanThreshold", "description": "a < b"}]});
        let h = html(&ctx, &stats, "binary_classification_metrics", &v);
        assert!(h.contains("&lt;evil&gt;") && !h.contains("<evil>"));
        assert!(h.contains("<polyline") && h.contains("75.0 %") && h.contains("a &lt; b"));
        assert!(h.contains("2 earlier ticks"));
        assert!(
            !h.contains("<script") && !h.contains("http"),
            "self-contained"
        );
    }
}
