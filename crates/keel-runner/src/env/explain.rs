//! Why an install failed, in one sentence: the requirement pip or uv could not
//! install and its reason, read from the tool's output (the full output stays
//! in the job's log). Output that matches no known shape falls back to its
//! last lines.

/// The installer whose output is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ToolKind {
    /// `uv pip install`.
    Uv,
    /// `python -m pip install`.
    Pip,
}

impl ToolKind {
    /// The tool's name, as messages show it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ToolKind::Uv => "uv",
            ToolKind::Pip => "pip",
        }
    }
}

/// What went wrong, read from an installer's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Explained {
    /// The requirements at fault, as written (none when the output does not say).
    pub(crate) requirements: Vec<String>,
    /// The tool's reason, on one line.
    pub(crate) reason: String,
}

/// How many lines the fallback keeps.
const TAIL: usize = 5;

/// Reads `lines` (the tool's stdout and stderr) for the failing requirement
/// and its reason. `asked` is what Keel asked to install, used to name the
/// requirements uv's resolver mentions.
pub(crate) fn explain(tool: ToolKind, lines: &[String], asked: &[String]) -> Explained {
    let found = match tool {
        ToolKind::Pip => pip(lines),
        ToolKind::Uv => uv(lines, asked),
    };
    found.unwrap_or_else(|| Explained {
        requirements: Vec::new(),
        reason: tail(lines),
    })
}

/// The one-message account of a failed install on Python `python_version`.
pub(crate) fn message(e: &Explained, tool: ToolKind, python_version: &str) -> String {
    let quoted: Vec<String> = e.requirements.iter().map(|r| format!("'{r}'")).collect();
    let what = match quoted.as_slice() {
        [] => "The model's requirements cannot be installed".to_string(),
        [one] => format!("The requirement {one} cannot be installed"),
        [init @ .., last] => format!(
            "The requirements {} and {last} cannot be installed together",
            init.join(", ")
        ),
    };
    let reason = e.reason.trim_end_matches('.');
    format!(
        "{what} on Python {python_version}: {reason} ({tool}). Pin a version that supports \
         Python {python_version} in the model's requirements (or ask for another Python with \
         `python` under `[platform]` in its keel.toml), or remove the requirement; the job's \
         log has {tool}'s full output.",
        tool = tool.name()
    )
}

/// pip's shapes: no matching distribution, a dependency conflict, a failed
/// build of a source distribution, or any other `ERROR:` line.
fn pip(lines: &[String]) -> Option<Explained> {
    let errors: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.trim().strip_prefix("ERROR: "))
        .collect();
    let offline = lines
        .iter()
        .any(|l| l.trim_start().starts_with("WARNING: Retrying"));
    let network = if offline {
        "; pip could not reach the package index, so check the network and pip's index settings"
    } else {
        ""
    };
    let ignored = errors
        .iter()
        .find_map(|e| {
            e.strip_prefix(
                "Ignored the following versions that require a different python version: ",
            )
        })
        .map(|list| {
            let entries: Vec<&str> = list.split("; ").collect();
            let shown = entries
                .iter()
                .take(3)
                .copied()
                .collect::<Vec<_>>()
                .join("; ");
            let more = if entries.len() > 3 { "; ..." } else { "" };
            format!(" (pip ignored versions that need another Python: {shown}{more})")
        })
        .unwrap_or_default();
    if let Some(req) = errors
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("No matching distribution found for "))
    {
        return Some(Explained {
            requirements: vec![req.trim().to_string()],
            reason: format!(
                "No matching distribution found for {}{ignored}{network}",
                req.trim()
            ),
        });
    }
    if let Some(req) = errors
        .iter()
        .find_map(|e| e.strip_prefix("Could not find a version that satisfies the requirement "))
    {
        let req = req.split(" (from versions").next().unwrap_or(req).trim();
        return Some(Explained {
            requirements: vec![req.to_string()],
            reason: format!(
                "Could not find a version that satisfies the requirement {req}{ignored}{network}"
            ),
        });
    }
    if let Some(pair) = errors.iter().find_map(|e| {
        e.strip_prefix("Cannot install ")
            .and_then(|r| r.split_once(" because these package versions have conflicting"))
            .map(|(pair, _)| pair)
    }) {
        let requirements: Vec<String> = pair
            .split(", ")
            .flat_map(|p| p.split(" and "))
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect();
        let causes: Vec<&str> = lines
            .iter()
            .skip_while(|l| l.trim() != "The conflict is caused by:")
            .skip(1)
            .map(|l| l.trim())
            .take_while(|l| !l.is_empty())
            .collect();
        let reason = if causes.is_empty() {
            "their dependencies conflict".to_string()
        } else {
            format!("their dependencies conflict: {}", causes.join("; "))
        };
        return Some(Explained {
            requirements,
            reason,
        });
    }
    if let Some(at) = lines
        .iter()
        .position(|l| l.trim_start().starts_with('×') && l.contains("did not run successfully"))
    {
        let step = lines[at].trim_start().trim_start_matches('×').trim();
        // The build's own last words come just before pip's "[end of output]",
        // which closes the block the "×" line opens.
        let detail = lines[at..]
            .iter()
            .position(|l| l.trim() == "[end of output]")
            .and_then(|end| {
                lines[at + 1..at + end]
                    .iter()
                    .rev()
                    .map(|l| l.trim())
                    .find(|l| !l.is_empty())
            });
        let requirement = errors
            .iter()
            .find_map(|e| e.strip_prefix("Failed building wheel for "))
            .map(|r| r.trim().to_string())
            .or_else(|| {
                lines[..at].iter().rev().find_map(|l| {
                    l.trim()
                        .strip_prefix("Collecting ")
                        .map(|r| r.split(" (from").next().unwrap_or(r).trim().to_string())
                })
            });
        let step = step.trim_end_matches('.');
        let reason = match detail {
            Some(d) => format!("{step}: {d}"),
            None => step.to_string(),
        };
        return Some(Explained {
            requirements: requirement.into_iter().collect(),
            reason,
        });
    }
    errors
        .iter()
        .find(|e| !e.starts_with("Ignored the following versions"))
        .map(|e| Explained {
            requirements: Vec::new(),
            reason: format!("{e}{network}"),
        })
}

/// uv's shapes: `error: <headline>` followed by indented `cause:` lines (or
/// `╰─▶` in colourful output), continuation lines, and for a failed build the
/// backend's `[stderr]`.
fn uv(lines: &[String], asked: &[String]) -> Option<Explained> {
    let at = lines
        .iter()
        .position(|l| l.trim_start().starts_with("error: "))?;
    let headline = lines[at].trim_start().trim_start_matches("error: ").trim();
    let mut causes: Vec<String> = Vec::new();
    let mut stderr_last: Option<&str> = None;
    let mut in_stderr = false;
    for l in &lines[at + 1..] {
        let t = l.trim();
        if t.starts_with("hint: ") || t.starts_with("error: ") {
            break;
        }
        if let Some(c) = t
            .strip_prefix("cause: ")
            .or_else(|| t.strip_prefix("╰─▶ "))
            .or_else(|| t.strip_prefix("Caused by: "))
        {
            causes.push(c.trim().to_string());
            in_stderr = false;
        } else if t == "[stderr]" || t == "[stdout]" {
            in_stderr = t == "[stderr]";
        } else if in_stderr {
            if !t.is_empty() {
                stderr_last = Some(t);
            }
        } else if !t.is_empty()
            && !t.chars().all(|c| c == '^')
            && let Some(last) = causes.last_mut()
        {
            // The resolver wraps one explanation over several lines.
            last.push(' ');
            last.push_str(t);
        }
    }
    let mut parts: Vec<String> = causes;
    if let Some(s) = stderr_last {
        parts.push(s.to_string());
    }
    if let Some(req) = headline
        .strip_prefix("Failed to build `")
        .or_else(|| headline.strip_prefix("Failed to download and build `"))
        .or_else(|| headline.strip_prefix("Failed to download `"))
        .and_then(|r| r.split('`').next())
    {
        let reason = if parts.is_empty() {
            headline.to_string()
        } else {
            parts.join(": ")
        };
        return Some(Explained {
            requirements: vec![req.to_string()],
            reason,
        });
    }
    let reason = if parts.is_empty() {
        headline.to_string()
    } else if headline.starts_with("No solution found") {
        // The resolver's account names the requirements; its headline adds nothing.
        parts.join(" ")
    } else {
        format!("{headline}: {}", parts.join(": "))
    };
    Some(Explained {
        requirements: mentioned(&reason, asked),
        reason,
    })
}

/// The requirements of `asked` whose package names appear in `text` as
/// whole words, each package once (the first spelling wins).
fn mentioned(text: &str, asked: &[String]) -> Vec<String> {
    let hay = text.to_ascii_lowercase();
    let mut names: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for req in asked {
        let name = package_name(req);
        if name.is_empty() || names.contains(&name) {
            continue;
        }
        if contains_word(&hay, &name) || contains_word(&hay, &name.replace('-', "_")) {
            out.push(req.trim().to_string());
        }
        names.push(name);
    }
    out
}

/// A requirement's package name, lowercase with `_` and `.` as `-` (PEP 503).
fn package_name(req: &str) -> String {
    req.trim()
        .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
        .replace(['_', '.'], "-")
}

/// True when `word` occurs in `hay` not as part of a longer name.
fn contains_word(hay: &str, word: &str) -> bool {
    let is_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    hay.match_indices(word).any(|(at, _)| {
        let before = hay[..at].chars().next_back();
        let after = hay[at + word.len()..].chars().next();
        // A name may end a sentence: "... not found." is still the name.
        let after_ok = match after {
            None => true,
            Some('.') => !hay[at + word.len() + 1..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric()),
            Some(c) => !is_name(c),
        };
        !before.is_some_and(is_name) && after_ok
    })
}

/// The last few non-empty lines, on one line.
pub(crate) fn tail(lines: &[String]) -> String {
    let mut last: Vec<&str> = lines
        .iter()
        .rev()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .take(TAIL)
        .collect();
    last.reverse();
    if last.is_empty() {
        "no output".to_string()
    } else {
        last.join(" / ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Output captured from pip 23.2 (the one `python3.11 -m venv` installs)
    /// and pip 26, installing into a real environment.
    const PIP_NO_VERSION: &str = "\
ERROR: Could not find a version that satisfies the requirement six==999.0 (from versions: 0.9.0, 0.9.1, 1.16.0, 1.17.0)
ERROR: No matching distribution found for six==999.0";

    const PIP_NO_PACKAGE: &str = "\
ERROR: Could not find a version that satisfies the requirement no-such-package-keel-xyz (from versions: none)
ERROR: No matching distribution found for no-such-package-keel-xyz";

    const PIP_OTHER_PYTHON: &str = "\
ERROR: Ignored the following versions that require a different python version: 3.0.0 Requires-Python >=3.11; 3.0.0rc0 Requires-Python >=3.11; 3.0.0rc1 Requires-Python >=3.11; 3.0.1 Requires-Python >=3.11
ERROR: Could not find a version that satisfies the requirement pandas==3.0.0 (from versions: 0.1, 0.2, 2.3.3)
ERROR: No matching distribution found for pandas==3.0.0";

    const PIP_SDIST_BUILD: &str = "\
Collecting scikit-learn==0.22
  Downloading scikit-learn-0.22.tar.gz (6.9 MB)
  Installing build dependencies: started
  Installing build dependencies: finished with status 'done'
  Getting requirements to build wheel: started
  Getting requirements to build wheel: finished with status 'error'
  error: subprocess-exited-with-error
  
  × Getting requirements to build wheel did not run successfully.
  │ exit code: 1
  ╰─> [20 lines of output]
      Traceback (most recent call last):
        File \"<string>\", line 12, in <module>
      ModuleNotFoundError: No module named 'pkg_resources'
      [end of output]
  
  note: This error originates from a subprocess, and is likely not a problem with pip.
error: subprocess-exited-with-error

× Getting requirements to build wheel did not run successfully.
│ exit code: 1
╰─> See above for output.

note: This error originates from a subprocess, and is likely not a problem with pip.";

    const PIP_CONFLICT: &str = "\
Collecting python-dateutil==2.9.0
Collecting six==1.4.0
INFO: pip is looking at multiple versions of python-dateutil to determine which version is compatible with other requirements. This could take a while.
ERROR: Cannot install python-dateutil==2.9.0 and six==1.4.0 because these package versions have conflicting dependencies.

The conflict is caused by:
    The user requested six==1.4.0
    python-dateutil 2.9.0 depends on six>=1.5

To fix this you could try to:
1. loosen the range of package versions you've specified
2. remove package versions to allow pip attempt to solve the dependency conflict

ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/en/latest/topics/dependency-resolution/#dealing-with-dependency-conflicts";

    const PIP_OFFLINE: &str = "\
WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at 0x7f>: Failed to establish a new connection: [Errno -3] Temporary failure in name resolution')': /simple/six/
ERROR: Could not find a version that satisfies the requirement six (from versions: none)
ERROR: No matching distribution found for six";

    /// Output captured from uv 0.13.9 (`uv pip install --python ENV/bin/python`).
    const UV_NO_VERSION: &str = "\
Using Python 3.11.7 environment at: u4
error: No solution found when resolving dependencies
  cause: Because there is no version of six==999.0 and you require six==999.0, we can conclude that your requirements are unsatisfiable.";

    const UV_NO_PACKAGE: &str = "\
Using Python 3.11.7 environment at: u4
error: No solution found when resolving dependencies
  cause: Because no-such-package-keel-xyz was not found in the package registry and you require no-such-package-keel-xyz, we can conclude that your requirements are unsatisfiable.";

    const UV_OTHER_PYTHON: &str = "\
Using Python 3.10.13 environment at: u310
error: No solution found when resolving dependencies
  cause: Because the current Python version (3.10.13) does not satisfy Python>=3.11 and pandas==3.0.0 depends on Python>=3.11, we can conclude that pandas==3.0.0 cannot be used.
         And because you require pandas==3.0.0, we can conclude that your requirements are unsatisfiable.";

    const UV_CONFLICT: &str = "\
Using Python 3.11.7 environment at: u4
error: No solution found when resolving dependencies
  cause: Because python-dateutil==2.9.0 depends on six>=1.5 and you require python-dateutil==2.9.0, we can conclude that you require six>=1.5.
         And because you require six==1.4.0, we can conclude that your requirements are unsatisfiable.";

    const UV_SDIST_BUILD: &str = "\
Using Python 3.11.7 environment at: u4
Resolved 5 packages in 768ms
   Building scikit-learn==0.22
error: Failed to build `scikit-learn==0.22`
  cause: The build backend returned an error
  cause: Call to `setuptools.build_meta:__legacy__.get_requires_for_build_wheel` failed (exit status: 1)

         [stderr]
         Traceback (most recent call last):
           File \"<string>\", line 14, in <module>
           File \"<string>\", line 12, in <module>
         ModuleNotFoundError: No module named 'pkg_resources'

hint: This error likely indicates that `scikit-learn@0.22` depends on `pkg_resources`, but doesn't declare it as a build dependency.";

    const UV_BAD_SPEC: &str = "\
error: Failed to parse: `six>=>1`
  cause: no such comparison operator \">=>\", must be one of ~= == != <= >= < > ===
         six>=>1
            ^^^^";

    #[test]
    fn installer_output_names_the_requirement_and_the_reason() {
        let asked = |reqs: &[&str]| -> Vec<String> {
            reqs.iter()
                .map(|r| r.to_string())
                .chain(["pandas".to_string(), "pyarrow".to_string()])
                .collect()
        };
        // Name, tool, its output, the model's requirements, the requirements
        // the explanation names, and its reason.
        type Case<'a> = (
            &'a str,
            ToolKind,
            &'a str,
            &'a [&'a str],
            &'a [&'a str],
            &'a str,
        );
        let cases: &[Case] = &[
            (
                "pip: no such version",
                ToolKind::Pip,
                PIP_NO_VERSION,
                &["six==999.0"],
                &["six==999.0"],
                "No matching distribution found for six==999.0",
            ),
            (
                "pip: no such package",
                ToolKind::Pip,
                PIP_NO_PACKAGE,
                &["no-such-package-keel-xyz"],
                &["no-such-package-keel-xyz"],
                "No matching distribution found for no-such-package-keel-xyz",
            ),
            (
                "pip: only versions for another Python",
                ToolKind::Pip,
                PIP_OTHER_PYTHON,
                &["pandas==3.0.0"],
                &["pandas==3.0.0"],
                "No matching distribution found for pandas==3.0.0 (pip ignored versions that \
                 need another Python: 3.0.0 Requires-Python >=3.11; 3.0.0rc0 Requires-Python \
                 >=3.11; 3.0.0rc1 Requires-Python >=3.11; ...)",
            ),
            (
                "pip: a source distribution that does not build",
                ToolKind::Pip,
                PIP_SDIST_BUILD,
                &["scikit-learn==0.22"],
                &["scikit-learn==0.22"],
                "Getting requirements to build wheel did not run successfully: \
                 ModuleNotFoundError: No module named 'pkg_resources'",
            ),
            (
                "pip: conflicting pins",
                ToolKind::Pip,
                PIP_CONFLICT,
                &["python-dateutil==2.9.0", "six==1.4.0"],
                &["python-dateutil==2.9.0", "six==1.4.0"],
                "their dependencies conflict: The user requested six==1.4.0; python-dateutil \
                 2.9.0 depends on six>=1.5",
            ),
            (
                "pip: no network",
                ToolKind::Pip,
                PIP_OFFLINE,
                &["six"],
                &["six"],
                "No matching distribution found for six; pip could not reach the package \
                 index, so check the network and pip's index settings",
            ),
            (
                "uv: no such version",
                ToolKind::Uv,
                UV_NO_VERSION,
                &["six==999.0"],
                &["six==999.0"],
                "Because there is no version of six==999.0 and you require six==999.0, we can \
                 conclude that your requirements are unsatisfiable.",
            ),
            (
                "uv: no such package",
                ToolKind::Uv,
                UV_NO_PACKAGE,
                &["no-such-package-keel-xyz"],
                &["no-such-package-keel-xyz"],
                "Because no-such-package-keel-xyz was not found in the package registry and you \
                 require no-such-package-keel-xyz, we can conclude that your requirements are \
                 unsatisfiable.",
            ),
            (
                "uv: only versions for another Python (the user's pin, not the worker's pandas)",
                ToolKind::Uv,
                UV_OTHER_PYTHON,
                &["pandas==3.0.0"],
                &["pandas==3.0.0"],
                "Because the current Python version (3.10.13) does not satisfy Python>=3.11 and \
                 pandas==3.0.0 depends on Python>=3.11, we can conclude that pandas==3.0.0 \
                 cannot be used. And because you require pandas==3.0.0, we can conclude that \
                 your requirements are unsatisfiable.",
            ),
            (
                "uv: conflicting pins",
                ToolKind::Uv,
                UV_CONFLICT,
                &["python-dateutil==2.9.0", "six==1.4.0"],
                &["python-dateutil==2.9.0", "six==1.4.0"],
                "Because python-dateutil==2.9.0 depends on six>=1.5 and you require \
                 python-dateutil==2.9.0, we can conclude that you require six>=1.5. And \
                 because you require six==1.4.0, we can conclude that your requirements are \
                 unsatisfiable.",
            ),
            (
                "uv: a source distribution that does not build",
                ToolKind::Uv,
                UV_SDIST_BUILD,
                &["scikit-learn==0.22"],
                &["scikit-learn==0.22"],
                "The build backend returned an error: Call to \
                 `setuptools.build_meta:__legacy__.get_requires_for_build_wheel` failed (exit \
                 status: 1): ModuleNotFoundError: No module named 'pkg_resources'",
            ),
            (
                "uv: a requirement it cannot parse",
                ToolKind::Uv,
                UV_BAD_SPEC,
                &["six>=>1"],
                &["six>=>1"],
                "Failed to parse: `six>=>1`: no such comparison operator \">=>\", must be one \
                 of ~= == != <= >= < > === six>=>1",
            ),
            (
                "unknown output: its last lines",
                ToolKind::Pip,
                "Collecting six\nsomething odd happened\n\nkilled",
                &["six"],
                &[],
                "Collecting six / something odd happened / killed",
            ),
        ];
        for (name, tool, output, reqs, want_reqs, want_reason) in cases {
            let lines: Vec<String> = output.lines().map(str::to_string).collect();
            let got = explain(*tool, &lines, &asked(reqs));
            assert_eq!(got.requirements, *want_reqs, "{name}: {got:?}");
            assert_eq!(got.reason, *want_reason, "{name}");
        }
    }

    #[test]
    fn the_message_names_requirement_python_tool_and_fix() {
        let one = Explained {
            requirements: vec!["scikit-learn==0.22".into()],
            reason: "No matching distribution found for scikit-learn==0.22".into(),
        };
        assert_eq!(
            message(&one, ToolKind::Pip, "3.11.7"),
            "The requirement 'scikit-learn==0.22' cannot be installed on Python 3.11.7: No \
             matching distribution found for scikit-learn==0.22 (pip). Pin a version that \
             supports Python 3.11.7 in the model's requirements (or ask for another Python \
             with `python` under `[platform]` in its keel.toml), or remove the requirement; \
             the job's log has pip's full output."
        );
        let two = Explained {
            requirements: vec!["a==1".into(), "b==2".into()],
            reason: "x.".into(),
        };
        let m = message(&two, ToolKind::Uv, "3.12.1");
        assert!(
            m.starts_with("The requirements 'a==1' and 'b==2' cannot be installed together on Python 3.12.1: x (uv). "),
            "{m}"
        );
        let none = Explained {
            requirements: vec![],
            reason: "killed".into(),
        };
        assert!(message(&none, ToolKind::Uv, "3.12.1").starts_with(
            "The model's requirements cannot be installed on Python 3.12.1: killed (uv)."
        ),);
    }

    #[test]
    fn names_match_whole_words_only() {
        let asked: Vec<String> = ["py", "six", "Foo_Bar>=1", "pandas"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            mentioned("python-dateutil depends on six>=1.5", &asked),
            vec!["six"]
        );
        assert_eq!(
            mentioned("because foo-bar was not found.", &asked),
            vec!["Foo_Bar>=1"]
        );
        assert!(mentioned("pandasx and pythons", &asked).is_empty());
    }
}
