//! The one place where the request fields that library messages name (in
//! backticks, such as `label`) become the command-line flags a CLI user
//! types (`--label`). Messages from the server and the embedded library pass
//! through [`for_cli`] before they are printed.

/// Request fields and the flags that set them.
const FIELDS: &[(&str, &str)] = &[
    ("label", "--label"),
    ("probability", "--probability"),
    ("prediction", "--prediction"),
    ("threshold", "--threshold"),
    ("positive_label", "--positive-label"),
    ("protected", "--protected"),
    ("reference_groups", "--reference-group"),
    ("problem_type", "--problem-type"),
    ("seed", "--seed"),
    ("curve_points", "--curve-points"),
    ("subsamples", "--subsamples"),
    ("metric", "--metric"),
    ("min_delta", "--min-delta"),
    ("confidence", "--confidence"),
    ("resamples", "--resamples"),
    ("workers", "--workers"),
    ("max_runtime_seconds", "--max-runtime"),
    ("max_attempts", "--max-attempts"),
    ("format", "--format"),
    ("input", "--data"),
    ("metrics", "--label, --probability, ..."),
    ("champion", "CHAMPION"),
    ("challenger", "CHALLENGER"),
    ("champion_job", "--jobs"),
    ("challenger_job", "--jobs"),
    ("output", "OUTPUT"),
    ("name", "--name"),
    ("baseline", "--baseline"),
    ("data_roots", "`keel server --data-root`"),
    ("role", "--role"),
    ("expires_in_days", "--expires-in-days"),
    ("since", "--since"),
    ("action", "--action"),
];

/// Rewrites every backticked field name in `message` as its flag; other
/// backticked text (commands, code) is left as it is.
pub fn for_cli(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(open) = rest.find('`') {
        let Some(len) = rest[open + 1..].find('`') else {
            break;
        };
        let inner = &rest[open + 1..open + 1 + len];
        out.push_str(&rest[..open]);
        match FIELDS.iter().find(|(field, _)| *field == inner) {
            Some((_, flag)) => out.push_str(flag),
            None => {
                out.push('`');
                out.push_str(inner);
                out.push('`');
            }
        }
        rest = &rest[open + len + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_become_flags_and_code_stays() {
        let cases = [
            (
                "set `probability` (with `threshold`) or `prediction`",
                "set --probability (with --threshold) or --prediction",
            ),
            (
                "Tag one with `# modelop.score` above its def",
                "Tag one with `# modelop.score` above its def",
            ),
            (
                "`workers` must be between 1 and 256",
                "--workers must be between 1 and 256",
            ),
            ("an odd ` backtick", "an odd ` backtick"),
            ("no fields", "no fields"),
            ("Use `keel job wait x`.", "Use `keel job wait x`."),
        ];
        for (given, want) in cases {
            assert_eq!(for_cli(given), want, "{given}");
        }
    }
}
