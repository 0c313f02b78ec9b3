//! Finds smart-tagged functions (`# modelop.score`, `# keel.score(batch)`, ...) and
//! module-level `def`s in Python source, without running Python.
//!
//! The scanner understands just enough Python to be right in practice: strings
//! (including triple-quoted ones spanning lines), comments, bracket nesting and
//! backslash continuations, so that a tag inside a docstring or a multi-line
//! decorator does not confuse it.

use crate::error::{Error, Result};

/// Which of the four model functions a tag or manifest entry names: the
/// shared vocabulary's one spelling.
pub(crate) use keel_types::FunctionKind as Kind;

/// The function a tag names, if it names one. `training` is what many
/// ModelOp repositories write for `train`.
fn kind_from_name(name: &str) -> Option<Kind> {
    match name {
        "training" => Some(Kind::Train),
        other => other.parse().ok(),
    }
}

/// A schema tag, `# modelop.schema.0: input_schema.avsc`: slot 0 names the
/// input schema's file, slot 1 the output schema's, whatever they are called.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SchemaTag {
    /// 0 for the input, 1 for the output.
    pub slot: u32,
    /// The file named, as written (relative to the model directory).
    pub file: String,
    /// The 1-based line of the tag comment.
    pub line: u32,
}

/// A `def` found in the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DefInfo {
    pub name: String,
    /// The 1-based line of the `def` keyword.
    pub line: u32,
    pub params: Vec<String>,
    /// The first parameter's annotation, with quotes and spaces removed.
    pub first_annotation: Option<String>,
}

impl DefInfo {
    /// True when the first parameter is annotated as a pandas DataFrame, which
    /// marks a batch score function.
    pub(crate) fn takes_dataframe(&self) -> bool {
        matches!(
            self.first_annotation.as_deref(),
            Some("pd.DataFrame" | "pandas.DataFrame" | "DataFrame")
        )
    }
}

/// A smart tag and the function it sits above.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tag {
    pub kind: Kind,
    /// True when the tag carries the `batch` option.
    pub batch: bool,
    /// The 1-based line of the tag comment.
    pub line: u32,
    pub def: DefInfo,
}

/// What one Python file holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// At most one tag per kind, in source order.
    pub tags: Vec<Tag>,
    /// Every module-level (unindented) `def`.
    pub defs: Vec<DefInfo>,
    /// Schema tags, at most one per slot, in source order.
    pub schemas: Vec<SchemaTag>,
}

impl Scan {
    pub(crate) fn tag(&self, kind: Kind) -> Option<&Tag> {
        self.tags.iter().find(|t| t.kind == kind)
    }

    pub(crate) fn def(&self, name: &str) -> Option<&DefInfo> {
        self.defs.iter().find(|d| d.name == name)
    }

    /// The file the schema tag of `slot` names.
    pub(crate) fn schema(&self, slot: u32) -> Option<&SchemaTag> {
        self.schemas.iter().find(|t| t.slot == slot)
    }

    /// True when the file tags a function that a job calls (score, metrics
    /// or train); `init` alone does not make a file a model.
    pub(crate) fn has_model_function(&self) -> bool {
        self.tags.iter().any(|t| t.kind != Kind::Init)
    }
}

/// One physical line, classified.
#[derive(Debug)]
struct Line<'a> {
    text: &'a str,
    /// The line continues a statement (open bracket, open string, trailing backslash).
    continuation: bool,
    /// The comment text after `#` when the line holds nothing but a comment.
    comment: Option<&'a str>,
    /// The line holds code (anything that is neither whitespace nor a comment).
    code: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Normal,
    Str { quote: u8, triple: bool },
}

/// Splits the source into lines and classifies each one.
fn classify(src: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut state = State::Normal;
    let mut depth: u32 = 0;
    let mut backslash = false;
    for text in src.lines() {
        let continuation = state != State::Normal || depth > 0 || backslash;
        backslash = false;
        let bytes = text.as_bytes();
        let mut comment = None;
        let mut code = false;
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            match state {
                State::Str { quote, triple } => {
                    if c == b'\\' {
                        if i + 1 == bytes.len() {
                            backslash = true;
                        }
                        i += 2;
                        continue;
                    }
                    if c == quote {
                        if !triple {
                            state = State::Normal;
                        } else if bytes[i..].starts_with(&[quote, quote, quote]) {
                            state = State::Normal;
                            i += 3;
                            continue;
                        }
                    }
                    i += 1;
                }
                State::Normal => {
                    match c {
                        b'#' => {
                            if !code && !continuation {
                                comment = Some(&text[i + 1..]);
                            }
                            break;
                        }
                        b'"' | b'\'' => {
                            code = true;
                            let triple = bytes[i..].starts_with(&[c, c, c]);
                            state = State::Str { quote: c, triple };
                            i += if triple { 3 } else { 1 };
                            continue;
                        }
                        b'(' | b'[' | b'{' => depth += 1,
                        b')' | b']' | b'}' => depth = depth.saturating_sub(1),
                        b'\\' if i + 1 == bytes.len() => backslash = true,
                        _ => {}
                    }
                    if !c.is_ascii_whitespace() {
                        code = true;
                    }
                    i += 1;
                }
            }
        }
        // A one-line string cannot span lines unless its line ends in a backslash;
        // resetting here keeps one syntax error from swallowing the rest of the file.
        if let State::Str { triple: false, .. } = state
            && !backslash
        {
            state = State::Normal;
        }
        out.push(Line {
            text,
            continuation,
            comment,
            code,
        });
    }
    out
}

/// Parses the text after `#` as a smart tag. `None` means it is not one of ours;
/// `Some(Err)` means it is, but its options are wrong.
fn parse_tag(comment: &str) -> Option<std::result::Result<(Kind, bool), String>> {
    let lower = comment.trim().to_ascii_lowercase();
    let rest = lower
        .strip_prefix("modelop.")
        .or_else(|| lower.strip_prefix("keel."))?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let kind = kind_from_name(&rest[..end])?;
    let rest = &rest[end..];
    let options: Vec<&str> = if rest.is_empty() {
        Vec::new()
    } else if let Some(inner) = rest.trim_start().strip_prefix('(') {
        let Some(inner) = inner.trim_end().strip_suffix(')') else {
            return Some(Err(format!(
                "The smart tag '#{}' opens '(' but does not close it; write it as '# keel.{}(batch)'.",
                comment.trim_end(),
                kind.as_str()
            )));
        };
        inner.split(',').map(str::trim).collect()
    } else if rest.starts_with(|c: char| c.is_whitespace()) {
        rest.split_whitespace().collect()
    } else {
        // Something like `# modelop.score.v2` or `# modelop.score:`; not a tag Keel knows.
        return None;
    };
    let mut batch = false;
    for option in options {
        match option {
            "" => {}
            "batch" => batch = true,
            other => {
                return Some(Err(format!(
                    "The smart tag '#{}' has the unknown option '{other}'; the only option is 'batch', as in '# modelop.{} batch'. Move other text to a separate comment line above the tag.",
                    comment.trim_end(),
                    kind.as_str()
                )));
            }
        }
    }
    Some(Ok((kind, batch)))
}

/// Parses the text after `#` as a schema tag (`modelop.schema.0: file`, or
/// FastScore's older `fastscore.schema.0: file`). `None` means it is not one;
/// `Some(Err)` means it is, but it is malformed.
fn parse_schema_tag(comment: &str) -> Option<std::result::Result<(u32, String), String>> {
    let text = comment.trim();
    let lower = text.to_ascii_lowercase();
    let prefix = ["modelop.schema.", "fastscore.schema.", "keel.schema."]
        .into_iter()
        .find(|p| lower.starts_with(p))?;
    let rest = &text[prefix.len()..];
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return None;
    }
    let slot: u32 = rest[..digits].parse().ok()?;
    let Some(file) = rest[digits..].trim_start().strip_prefix(':') else {
        return Some(Err(format!(
            "The schema tag '#{}' names no file; write it as '# modelop.schema.{slot}: {}'.",
            comment.trim_end(),
            if slot == 0 {
                "input_schema.avsc"
            } else {
                "output_schema.avsc"
            }
        )));
    };
    let file = file.trim().trim_matches(|c| c == '"' || c == '\'');
    if file.is_empty() {
        return Some(Err(format!(
            "The schema tag '#{}' names no file after ':'; name the schema file, as in '# modelop.schema.{slot}: input_schema.avsc'.",
            comment.trim_end()
        )));
    }
    if slot > 1 {
        return Some(Err(format!(
            "The schema tag '#{}' names slot {slot}, but a Keel model has one input (slot 0) and one output (slot 1).",
            comment.trim_end()
        )));
    }
    Some(Ok((slot, file.to_string())))
}

/// Returns the line's text after `def ` (or `async def `) when it starts a function definition.
fn def_rest(text: &str) -> Option<&str> {
    let t = text.trim_start();
    let t = match t.strip_prefix("async") {
        Some(r) if r.starts_with(|c: char| c.is_whitespace()) => r.trim_start(),
        _ => t,
    };
    let r = t.strip_prefix("def")?;
    r.starts_with(|c: char| c.is_whitespace())
        .then(|| r.trim_start())
}

fn indent(text: &str) -> usize {
    text.len() - text.trim_start().len()
}

/// Parses the `def` starting at `lines[index]`, reading following lines for its parameters.
fn parse_def(file: &str, lines: &[Line<'_>], index: usize) -> Result<DefInfo> {
    let line_no = line_number(index);
    let bad = |message: String| Error::Source {
        file: file.to_string(),
        line: line_no,
        message,
    };
    let rest = def_rest(lines[index].text).ok_or_else(|| bad("Expected a 'def' here.".into()))?;
    let name_end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let name = &rest[..name_end];
    if name.is_empty() {
        return Err(bad(
            "This 'def' has no function name; write it as 'def score(record):'.".into(),
        ));
    }
    // The parameter list may run over several lines; join them and scan to the matching ')'.
    let mut text = rest[name_end..].to_string();
    for l in lines.iter().skip(index + 1).take(200) {
        if !l.continuation {
            break;
        }
        text.push('\n');
        text.push_str(l.text);
    }
    let text = text.trim_start();
    let Some(body) = text.strip_prefix('(') else {
        return Err(bad(format!(
            "The function '{name}' has no parameter list; write it as 'def {name}(record):'."
        )));
    };
    let raw_params = split_params(body).ok_or_else(|| {
        bad(format!(
            "The parameter list of '{name}' is not closed with ')'; fix the Python syntax."
        ))
    })?;
    let mut params = Vec::new();
    let mut first_annotation = None;
    for (i, raw) in raw_params.iter().enumerate() {
        let p = raw.trim();
        if p.is_empty() || p == "/" || p == "*" {
            continue;
        }
        let p = p.trim_start_matches('*').trim_start();
        let end = p
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(p.len());
        params.push(p[..end].to_string());
        if i == 0
            && let Some(annotation) = p[end..].trim_start().strip_prefix(':')
        {
            let annotation = top_level_prefix(annotation, b'=');
            let cleaned: String = annotation
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '"' && *c != '\'')
                .collect();
            first_annotation = Some(cleaned);
        }
    }
    Ok(DefInfo {
        name: name.to_string(),
        line: line_no,
        params,
        first_annotation,
    })
}

/// Returns `text` up to the first `stop` byte outside brackets and strings.
fn top_level_prefix(text: &str, stop: u8) -> &str {
    let bytes = text.as_bytes();
    let mut depth = 0u32;
    let mut quote = None;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(q) => {
                if c == b'\\' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'"' | b'\'' => quote = Some(c),
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => depth = depth.saturating_sub(1),
                _ if c == stop && depth == 0 => return &text[..i],
                _ => {}
            },
        }
        i += 1;
    }
    text
}

/// Splits a parameter list (the text after the opening parenthesis) at its
/// top-level commas, stopping at the matching ')'. Comments are dropped.
/// Returns `None` when the list never closes.
fn split_params(body: &str) -> Option<Vec<String>> {
    let bytes = body.as_bytes();
    let mut params = Vec::new();
    let mut current = Vec::new();
    let mut depth = 0u32;
    let mut quote: Option<(u8, bool)> = None;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if let Some((q, triple)) = quote {
            current.push(c);
            if c == b'\\' {
                if let Some(&n) = bytes.get(i + 1) {
                    current.push(n);
                }
                i += 2;
                continue;
            }
            if c == q {
                if !triple {
                    quote = None;
                } else if bytes[i..].starts_with(&[q, q, q]) {
                    current.extend_from_slice(&[q, q]);
                    quote = None;
                    i += 3;
                    continue;
                }
            }
            i += 1;
            continue;
        }
        match c {
            b'#' => {
                // Skip the comment up to the end of its line.
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' => {
                let triple = bytes[i..].starts_with(&[c, c, c]);
                quote = Some((c, triple));
                if triple {
                    current.extend_from_slice(&[c, c, c]);
                    i += 3;
                    continue;
                }
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' if depth == 0 => {
                params.push(String::from_utf8_lossy(&current).into_owned());
                return Some(params);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => {
                params.push(String::from_utf8_lossy(&current).into_owned());
                current.clear();
                i += 1;
                continue;
            }
            _ => {}
        }
        current.push(c);
        i += 1;
    }
    None
}

fn line_number(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

/// Scans one Python file. `file` is its path relative to the model directory, used in errors.
pub(crate) fn scan(file: &str, src: &str) -> Result<Scan> {
    let lines = classify(src);
    let mut scan = Scan::default();
    for (index, line) in lines.iter().enumerate() {
        if line.continuation {
            continue;
        }
        if line.code && indent(line.text) == 0 && def_rest(line.text).is_some() {
            scan.defs.push(parse_def(file, &lines, index)?);
            continue;
        }
        let Some(comment) = line.comment else {
            continue;
        };
        let tag_line = line_number(index);
        if let Some(parsed) = parse_schema_tag(comment) {
            let (slot, file_named) = parsed.map_err(|message| Error::Source {
                file: file.to_string(),
                line: tag_line,
                message,
            })?;
            if let Some(first) = scan.schema(slot) {
                return Err(Error::Source {
                    file: file.to_string(),
                    line: tag_line,
                    message: format!(
                        "This is a second schema tag for slot {slot}; the first is at line {} and names {}. Remove one of them.",
                        first.line, first.file
                    ),
                });
            }
            scan.schemas.push(SchemaTag {
                slot,
                file: file_named,
                line: tag_line,
            });
            continue;
        }
        let Some(parsed) = parse_tag(comment) else {
            continue;
        };
        let err = |message: String| Error::Source {
            file: file.to_string(),
            line: tag_line,
            message,
        };
        let (kind, batch) = parsed.map_err(err)?;
        let tag_text = format!("#{}", comment.trim_end());
        let def_index = find_tagged_def(&lines, index).map_err(|what| {
            err(format!(
                "The smart tag '{tag_text}' must sit directly above a 'def' (decorators may come between, blank lines and other lines may not), but it is followed by {what}. Move the tag to the line above 'def {}(...):'.",
                kind.as_str()
            ))
        })?;
        if indent(lines[def_index].text) > 0 {
            return Err(err(format!(
                "The smart tag '{tag_text}' sits above an indented 'def'; Keel calls module-level functions only, so move the function out of its class or enclosing function."
            )));
        }
        if let Some(first) = scan.tag(kind) {
            return Err(err(format!(
                "This is a second '{}' smart tag in the file; the first is at line {}. A model has one {} function: remove one of the tags.",
                kind.as_str(),
                first.line,
                kind.as_str()
            )));
        }
        let def = parse_def(file, &lines, def_index)?;
        scan.tags.push(Tag {
            kind,
            batch,
            line: tag_line,
            def,
        });
    }
    Ok(scan)
}

/// From a tag at `lines[tag]`, skips decorators and returns the index of the `def`,
/// or a description of what is in the way.
fn find_tagged_def(lines: &[Line<'_>], tag: usize) -> std::result::Result<usize, String> {
    for (index, line) in lines.iter().enumerate().skip(tag + 1) {
        if line.continuation {
            continue;
        }
        let trimmed = line.text.trim_start();
        if trimmed.starts_with('@') {
            continue;
        }
        if line.code && def_rest(line.text).is_some() {
            return Ok(index);
        }
        let what = if trimmed.is_empty() {
            "a blank line".to_string()
        } else if !line.code {
            format!("the comment at line {}", index + 1)
        } else {
            format!("'{}' at line {}", trimmed, index + 1)
        };
        return Err(what);
    }
    Err("the end of the file".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(src: &str) -> Vec<(Kind, bool, String, u32)> {
        scan("m.py", src)
            .unwrap()
            .tags
            .into_iter()
            .map(|t| (t.kind, t.batch, t.def.name, t.def.line))
            .collect()
    }

    #[test]
    fn every_tag_spelling_is_recognised() {
        let src = "\
import pandas as pd

# modelop.init
def begin():
    pass

#keel.score
def action(record):
    return record

#   MODELOP.METRICS
def metrics(df):
    pass

# Keel.Train
def train(df):
    pass
";
        assert_eq!(
            tags(src),
            vec![
                (Kind::Init, false, "begin".into(), 4),
                (Kind::Score, false, "action".into(), 8),
                (Kind::Metrics, false, "metrics".into(), 12),
                (Kind::Train, false, "train".into(), 16),
            ]
        );
    }

    #[test]
    fn spellings_seen_in_modelop_repositories_are_recognised() {
        let src = "\
#modelop.init
def begin(init_param):
    pass

#modelop.score
def action(datum):
    yield datum

# modelop.training
def train(df):
    pass
";
        assert_eq!(
            tags(src),
            vec![
                (Kind::Init, false, "begin".into(), 2),
                (Kind::Score, false, "action".into(), 6),
                (Kind::Train, false, "train".into(), 10),
            ]
        );
    }

    #[test]
    fn schema_tags_name_files_by_slot() {
        let src = "\
# modelop.schema.0: my_input.avsc
#fastscore.schema.1 : \"out put.avsc\"
# modelop.slot.0: in-use
# modelop.score
def action(datum):
    return datum
";
        let s = scan("m.py", src).unwrap();
        let got: Vec<(u32, &str, u32)> = s
            .schemas
            .iter()
            .map(|t| (t.slot, t.file.as_str(), t.line))
            .collect();
        assert_eq!(got, vec![(0, "my_input.avsc", 1), (1, "out put.avsc", 2)]);
        assert_eq!(s.tags.len(), 1, "the slot tag is not a function tag");
        for (src, want) in [
            ("# modelop.schema.0\n", "names no file"),
            ("# modelop.schema.1:\n", "names no file after ':'"),
            ("# modelop.schema.2: x.avsc\n", "slot 2"),
            (
                "# modelop.schema.0: a.avsc\n# modelop.schema.0: b.avsc\n",
                "second schema tag for slot 0; the first is at line 1",
            ),
        ] {
            let err = scan("m.py", src).unwrap_err().to_string();
            assert!(err.starts_with("m.py:"), "{err}");
            assert!(err.contains(want), "{src:?}: {err}");
        }
    }

    #[test]
    fn batch_options_and_dataframe_annotations_mark_batch_mode() {
        for (tag, params, batch) in [
            ("# keel.score(batch)", "records", true),
            ("# modelop.score batch", "records", true),
            ("# modelop.score ( batch )", "records", true),
            ("# modelop.score", "df: pd.DataFrame", true),
            ("# modelop.score", "df: pandas.DataFrame", true),
            ("# modelop.score", "df : 'DataFrame' = None", true),
            ("# modelop.score", "record: dict", false),
            ("# modelop.score", "record", false),
        ] {
            let src = format!("{tag}\ndef score({params}):\n    return 1\n");
            let s = scan("m.py", &src).unwrap();
            let t = s.tag(Kind::Score).unwrap();
            assert_eq!(
                t.batch || t.def.takes_dataframe(),
                batch,
                "{tag} / {params}"
            );
        }
    }

    #[test]
    fn decorators_may_sit_between_tag_and_def() {
        let src = "\
# modelop.score
@functools.lru_cache(
    maxsize=None,
)
@other
async def score(
    record,  # one record, as a dict
    *args,
    key: \"str, not int\" = \"a,b\",
    **kwargs,
):
    yield record
";
        let s = scan("m.py", src).unwrap();
        let t = s.tag(Kind::Score).unwrap();
        assert_eq!(t.def.name, "score");
        assert_eq!(t.def.line, 6);
        assert_eq!(t.def.params, vec!["record", "args", "key", "kwargs"]);
        assert_eq!(s.defs.len(), 1, "the def is also a module-level def");
    }

    #[test]
    fn a_blank_line_after_the_tag_is_an_error_with_its_line() {
        let err = scan(
            "m.py",
            "x = 1\n# modelop.score\n\ndef score(r):\n    pass\n",
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("m.py:2: "), "{msg}");
        assert!(msg.contains("blank line"), "{msg}");
        let err = scan("m.py", "# modelop.score\nx = 1\n").unwrap_err();
        assert!(err.to_string().contains("'x = 1' at line 2"), "{err}");
        let err = scan("m.py", "# modelop.score\n").unwrap_err();
        assert!(err.to_string().contains("end of the file"), "{err}");
    }

    #[test]
    fn two_score_tags_in_one_file_are_an_error() {
        let src = "# modelop.score\ndef a(r):\n    pass\n# keel.score\ndef b(r):\n    pass\n";
        let err = scan("m.py", src).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("m.py:4: "), "{msg}");
        assert!(msg.contains("first is at line 1"), "{msg}");
    }

    #[test]
    fn unknown_options_and_indented_defs_are_errors() {
        let err = scan("m.py", "# modelop.score fast\ndef s(r):\n  pass\n").unwrap_err();
        assert!(err.to_string().contains("unknown option 'fast'"), "{err}");
        let err = scan("m.py", "# keel.score(batch\ndef s(r):\n  pass\n").unwrap_err();
        assert!(err.to_string().contains("does not close"), "{err}");
        let src = "class M:\n    # modelop.score\n    def s(self, r):\n        pass\n";
        let err = scan("m.py", src).unwrap_err();
        assert!(err.to_string().starts_with("m.py:2: "), "{err}");
        assert!(err.to_string().contains("indented"), "{err}");
    }

    #[test]
    fn tags_in_strings_and_unrelated_comments_are_ignored() {
        let src = "\
'''Docs.
# modelop.score
'''
s = \"# modelop.score\"
# modelop.scores are great
# modelop.slot.0: in-use
# keel.score:
x = (1,
# modelop.score
)
def score(r):
    return r
";
        let s = scan("m.py", src).unwrap();
        assert!(s.tags.is_empty(), "{:?}", s.tags);
        assert_eq!(s.defs.len(), 1);
        assert_eq!(s.defs[0].line, 11);
        assert!(s.def("score").is_some());
    }

    #[test]
    fn nested_defs_are_not_module_level() {
        let src = "def outer():\n    def inner():\n        pass\n\ndef other(a, b=2):\n    pass\n";
        let s = scan("m.py", src).unwrap();
        let names: Vec<_> = s.defs.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, vec!["outer", "other"]);
        assert_eq!(s.def("other").unwrap().params, vec!["a", "b"]);
        assert_eq!(s.def("other").unwrap().line, 5);
    }
}
