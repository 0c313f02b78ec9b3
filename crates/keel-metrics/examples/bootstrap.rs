//! Times the paired bootstrap of a champion/challenger comparison on
//! generated binary data: `cargo run --release -p keel-metrics --example
//! bootstrap -- ROWS RESAMPLES [METRIC ...]` (default metrics: f1, log_loss,
//! average_precision). See `bench/metrics/README.md`.

use std::process::ExitCode;
use std::time::Instant;

use keel_metrics::Metric;
use keel_metrics::compare::{PairedData, paired_bootstrap};
use keel_metrics::sample::mix;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(rows), Some(resamples)) = (
        args.first().and_then(|a| a.parse::<usize>().ok()),
        args.get(1).and_then(|a| a.parse::<u32>().ok()),
    ) else {
        eprintln!("usage: bootstrap ROWS RESAMPLES [METRIC ...]");
        return ExitCode::FAILURE;
    };
    let metrics: Vec<&str> = if args.len() > 2 {
        args[2..].iter().map(String::as_str).collect()
    } else {
        vec!["f1", "log_loss", "average_precision"]
    };
    // The same kind of data as bench/metrics/make_data.py's binary file: 30 %
    // positives, and a challenger whose scores separate them a little better.
    let u = |i: usize, k: u64| (mix(i as u64 * 3 + k) >> 11) as f64 / (1u64 << 53) as f64;
    let actual: Vec<bool> = (0..rows).map(|i| u(i, 0) < 0.3).collect();
    let score = |lift: f64, k: u64| -> Vec<f64> {
        (0..rows)
            .map(|i| lift * f64::from(u8::from(actual[i])) + (1.0 - lift) * u(i, k))
            .collect()
    };
    let (s1, s2) = (score(0.30, 1), score(0.35, 2));
    let p1: Vec<bool> = s1.iter().map(|&s| s >= 0.5).collect();
    let p2: Vec<bool> = s2.iter().map(|&s| s >= 0.5).collect();
    let data = PairedData::Binary {
        actual: &actual,
        champion_predicted: &p1,
        challenger_predicted: &p2,
        champion_score: Some(&s1),
        challenger_score: Some(&s2),
    };
    for metric in metrics {
        let start = Instant::now();
        let result = metric
            .parse::<Metric>()
            .and_then(|m| paired_bootstrap(&data, m, 0.95, resamples, 1));
        match result {
            Ok(t) => println!(
                "{metric}: {rows} rows x {resamples} resamples in {:.2} s \
                 (delta {:.4}, {:.0} % interval {:.4} .. {:.4})",
                start.elapsed().as_secs_f64(),
                t.delta,
                t.confidence * 100.0,
                t.ci_low,
                t.ci_high
            ),
            Err(e) => {
                eprintln!("{metric}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
