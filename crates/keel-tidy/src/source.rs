//! Rules about the text of Rust files: the `//!` header, no `.unwrap()` or
//! `.expect(` outside test code, and telling test code from shipped code.
//!
//! Both work line by line on text that `strip` has cleaned of comments (and,
//! for the unwrap scan, of string and char literal contents), so a pattern in
//! a comment, a doc line or an error message never counts, and a `{` inside a
//! string never unbalances the braces of a test item.

/// What `strip` keeps besides code.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Keep {
    /// Keep the contents of string literals (paths like `"hex::serde"` in
    /// attributes name crates).
    Strings,
    /// Blank string and char literals down to their quotes.
    CodeOnly,
}

/// Removes comments (line, block and doc comments) and, with
/// `Keep::CodeOnly`, the contents of string and char literals. Newlines are
/// kept everywhere, so line `n` of the result is line `n` of `text`.
///
/// A small lexer, not a parser: it knows line and nested block comments,
/// strings with escapes, raw strings (`r#"…"#`, `br"…"`), char literals
/// (`'{'`, `'\''`, `'\u{7f}'`) and tells them from lifetimes (`'a`).
pub fn strip(text: &str, keep: Keep) -> String {
    let chars: Vec<char> = text.chars().collect();
    let strings = keep == Keep::Strings;
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let raw_hashes = if c == 'r' {
            raw_string_hashes(&chars, i)
        } else {
            None
        };
        match c {
            '/' if next == Some('/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if next == Some('*') => {
                let mut depth = 0usize;
                while i < chars.len() {
                    if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if chars[i] == '\n' {
                            out.push('\n');
                        }
                        i += 1;
                    }
                }
            }
            '"' => {
                out.push('"');
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        push_literal(&mut out, strings, '\\');
                        i += 1;
                        if i == chars.len() {
                            break;
                        }
                    }
                    push_literal(&mut out, strings, chars[i]);
                    i += 1;
                }
                if i < chars.len() {
                    out.push('"');
                    i += 1;
                }
            }
            'r' if raw_hashes.is_some() => {
                let hashes = raw_hashes.unwrap_or(0);
                out.push('r');
                out.extend(std::iter::repeat_n('#', hashes));
                out.push('"');
                i += hashes + 2;
                while i < chars.len() && !closes_raw_string(&chars, i, hashes) {
                    push_literal(&mut out, strings, chars[i]);
                    i += 1;
                }
                if i < chars.len() {
                    out.push('"');
                    out.extend(std::iter::repeat_n('#', hashes));
                    i += hashes + 1;
                }
            }
            '\'' => match char_literal_len(&chars, i) {
                Some(len) => {
                    out.push('\'');
                    for &ch in &chars[i + 1..i + len - 1] {
                        push_literal(&mut out, strings, ch);
                    }
                    out.push('\'');
                    i += len;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            },
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Inside a literal: keeps `c` when keeping strings, keeps only newlines
/// otherwise.
fn push_literal(out: &mut String, keep: bool, c: char) {
    if keep || c == '\n' {
        out.push(c);
    }
}

/// If a raw string (`r"`, `r#"`, also after `b` or `c`) starts at `i`, the
/// number of its `#`s.
fn raw_string_hashes(chars: &[char], i: usize) -> Option<usize> {
    let prefix_start = match i.checked_sub(1).map(|p| chars[p]) {
        Some('b' | 'c') => i - 1,
        _ => i,
    };
    if prefix_start > 0 && is_ident_char(chars[prefix_start - 1]) {
        return None;
    }
    let hashes = chars[i + 1..].iter().take_while(|&&c| c == '#').count();
    (chars.get(i + 1 + hashes) == Some(&'"')).then_some(hashes)
}

fn closes_raw_string(chars: &[char], i: usize, hashes: usize) -> bool {
    chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#'))
}

/// If a char literal starts at `i` (a `'`), its length in chars including
/// both quotes; `None` for a lifetime or label.
fn char_literal_len(chars: &[char], i: usize) -> Option<usize> {
    match chars.get(i + 1)? {
        '\\' => {
            // An escape: `'\n'`, `'\''`, `'\u{1F600}'`. The char after the
            // backslash never closes the literal.
            let close = (i + 3..chars.len().min(i + 14)).find(|&j| chars[j] == '\'')?;
            Some(close - i + 1)
        }
        '\n' => None,
        _ => (chars.get(i + 2) == Some(&'\'')).then_some(3),
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether a file opens with a module doc: its first non-empty line starts
/// with `//!`.
pub fn opens_with_module_doc(text: &str) -> bool {
    text.lines()
        .find(|line| !line.trim().is_empty())
        .is_some_and(|line| line.trim_start().starts_with("//!"))
}

/// The lines (1-based, with their trimmed text) that call `.unwrap()` or
/// `.expect(` outside test code.
///
/// Test code is every item marked `#[cfg(test)]`: the attribute line (which
/// may also hold the start of the item) and the item after it, up to the `;`
/// or the closing `}` that ends it, so `#[cfg(test)] mod tests;` skips one
/// line while `#[cfg(test)] mod tests { … }` skips the module, wherever it
/// sits. Only the exact attribute `#[cfg(test)]` counts; `#[cfg(all(test,
/// …))]` items are scanned like any other code.
pub fn unwrap_offenders(text: &str) -> Vec<(usize, String)> {
    let code = strip(text, Keep::CodeOnly);
    let code: Vec<&str> = code.lines().collect();
    let tests = test_lines(&code);
    let original: Vec<&str> = text.lines().collect();
    let mut offenders = Vec::new();
    for (i, line) in code.iter().enumerate() {
        if tests[i] {
            continue;
        }
        let line = line.trim_start();
        if line.contains(".unwrap()") || line.contains(".expect(") {
            let shown = original.get(i).map_or(line, |l| l.trim());
            offenders.push((i + 1, shown.to_string()));
        }
    }
    offenders
}

/// `text` with comments removed (as `strip` with `keep`) and every line of
/// test code (see [`unwrap_offenders`]) blanked, so line `n` of the result is
/// still line `n` of `text`: what a crate ships.
pub fn outside_tests(text: &str, keep: Keep) -> String {
    let code = strip(text, keep);
    let lines: Vec<&str> = code.lines().collect();
    let tests = test_lines(&lines);
    let mut out = String::with_capacity(code.len());
    for (line, test) in lines.iter().zip(tests) {
        if !test {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Which lines of `code` (comments removed) belong to `#[cfg(test)]` items.
fn test_lines(code: &[&str]) -> Vec<bool> {
    let mut tests = vec![false; code.len()];
    let mut i = 0;
    while i < code.len() {
        if let Some(rest) = code[i].trim_start().strip_prefix("#[cfg(test)]") {
            let end = end_of_item(code, i, rest);
            tests[i..=end].fill(true);
            i = end + 1;
        } else {
            i += 1;
        }
    }
    tests
}

/// The index of the last line of the item that starts with `first_rest` (the
/// part of line `start` after its `#[cfg(test)]`) and runs on below: the line
/// of the first `;` outside any brackets, or of the `}` that closes the
/// item's first `{`. An item that never ends runs to the end of the file.
fn end_of_item(code: &[&str], start: usize, first_rest: &str) -> usize {
    let mut depth = 0usize;
    let mut seen_brace = false;
    for (offset, line) in std::iter::once(first_rest)
        .chain(code[start + 1..].iter().copied())
        .enumerate()
    {
        for c in line.chars() {
            match c {
                '{' => {
                    depth += 1;
                    seen_brace = true;
                }
                '(' | '[' => depth += 1,
                ')' | ']' | '}' => {
                    depth = depth.saturating_sub(1);
                    if c == '}' && depth == 0 && seen_brace {
                        return start + offset;
                    }
                }
                ';' if depth == 0 => return start + offset,
                _ => {}
            }
        }
    }
    code.len().saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_tests_blanks_test_items_and_keeps_line_numbers() {
        let text = "use a::x;\n#[cfg(test)]\nmod tests {\n    use b::y;\n}\nfn f() { c::z(); }\n#[cfg(test)]\nmod more;\n";
        assert_eq!(
            outside_tests(text, Keep::Strings),
            "use a::x;\n\n\n\n\nfn f() { c::z(); }\n\n\n"
        );
    }

    #[test]
    fn strip_removes_comments_and_literals() {
        // (input, Keep::Strings, Keep::CodeOnly)
        let cases: &[(&str, &str, &str)] = &[
            ("a // b.unwrap()", "a ", "a "),
            ("//! doc\nx", "\nx", "\nx"),
            ("a /* b /* c */ d */ e", "a  e", "a  e"),
            ("a /* b\nc */ d", "a \n d", "a \n d"),
            (r#"f("x.unwrap()")"#, r#"f("x.unwrap()")"#, r#"f("")"#),
            (r#"f("a\"b{")"#, r#"f("a\"b{")"#, r#"f("")"#),
            (r#"f("http://x")"#, r#"f("http://x")"#, r#"f("")"#),
            ("f(r#\"{\"a\": 1}\"#)", "f(r#\"{\"a\": 1}\"#)", "f(r#\"\"#)"),
            ("f(br\"{\")", "f(br\"{\")", "f(br\"\")"),
            ("let c = '{';", "let c = '{';", "let c = '';"),
            (r"let c = '\'';", r"let c = '\'';", "let c = '';"),
            (r"let c = '\u{7b}';", r"let c = '\u{7b}';", "let c = '';"),
            (
                "fn f<'a>(x: &'a str) {}",
                "fn f<'a>(x: &'a str) {}",
                "fn f<'a>(x: &'a str) {}",
            ),
            ("\"a\nb\"", "\"a\nb\"", "\"\n\""),
            ("for_r\"x\"", "for_r\"x\"", "for_r\"\""),
        ];
        for (input, strings, code_only) in cases {
            assert_eq!(
                strip(input, Keep::Strings),
                *strings,
                "Keep::Strings of {input:?}"
            );
            assert_eq!(
                strip(input, Keep::CodeOnly),
                *code_only,
                "Keep::CodeOnly of {input:?}"
            );
            assert_eq!(
                strip(input, Keep::CodeOnly).lines().count(),
                input.lines().count(),
                "line count of {input:?}"
            );
        }
    }

    #[test]
    fn module_doc_is_the_first_non_empty_line() {
        let cases: &[(&str, bool)] = &[
            ("//! What this is.\nfn f() {}\n", true),
            ("\n\n  //! Indented.\n", true),
            ("/// Item doc.\nfn f() {}\n", false),
            ("// plain comment\n//! doc\n", false),
            ("use std::fmt;\n", false),
            ("", false),
        ];
        for (text, want) in cases {
            assert_eq!(opens_with_module_doc(text), *want, "{text:?}");
        }
    }

    #[test]
    fn unwrap_scan() {
        // (snippet, 1-based lines that must be reported)
        let cases: &[(&str, &[usize])] = &[
            ("let x = y.unwrap();", &[1]),
            ("let x = y.expect(\"set\");", &[1]),
            (
                "a.unwrap_or(0);\nb.unwrap_or_else(f);\nc.unwrap_or_default();",
                &[],
            ),
            (
                "r.expect_err(\"bad\");\nr.unwrap_err();\nr.expected();",
                &[],
            ),
            ("// y.unwrap()\n/// y.expect(\"x\")\n/* y.unwrap() */", &[]),
            ("return Err(\"call .unwrap() on it\");", &[]),
            ("x\n    .unwrap();", &[2]),
            // A test module at the end.
            (
                "fn f() {}\n#[cfg(test)]\nmod tests {\n    fn g() { x.unwrap(); }\n}\n",
                &[],
            ),
            // An out-of-line test module in the middle skips one line only.
            (
                "mod a;\n#[cfg(test)]\nmod tests;\nfn f() { x.unwrap(); }\n",
                &[4],
            ),
            ("#[cfg(test)] mod tests;\nfn f() { x.unwrap(); }\n", &[2]),
            // A test-only function is skipped; the code after it is not.
            (
                "#[cfg(test)]\nfn helper() {\n    x.unwrap();\n}\nfn real() {\n    y.unwrap();\n}\n",
                &[6],
            ),
            // A test module that is not last.
            (
                "#[cfg(test)]\nmod tests {\n    #[test]\n    fn t() { a.unwrap(); }\n}\nfn f() { b.expect(\"x\"); }\n",
                &[6],
            ),
            // Braces in strings and chars inside the skipped item.
            (
                "#[cfg(test)]\nmod tests {\n    const S: &str = r#\"}\"#;\n    const C: char = '}';\n    fn t() { a.unwrap(); }\n}\nfn f() { b.unwrap(); }\n",
                &[7],
            ),
            // Extra attributes and a `;` inside brackets.
            (
                "#[cfg(test)]\n#[allow(dead_code)]\nconst X: [u8; 2] = [1, 2];\nfn f() { b.unwrap(); }\n",
                &[4],
            ),
            // Only the exact attribute counts.
            ("#[cfg(all(test, unix))]\nfn f() { b.unwrap(); }\n", &[2]),
            // An unclosed test item runs to the end of the file.
            (
                "#[cfg(test)]\nmod tests {\n    fn t() { a.unwrap(); }\n",
                &[],
            ),
        ];
        for (snippet, want) in cases {
            let got: Vec<usize> = unwrap_offenders(snippet)
                .into_iter()
                .map(|(line, _)| line)
                .collect();
            assert_eq!(got, *want, "{snippet}");
        }
    }

    #[test]
    fn unwrap_scan_shows_the_original_line() {
        let got = unwrap_offenders("fn f() {\n    let v = x.expect(\"v is set\"); // why\n}\n");
        assert_eq!(
            got,
            vec![(2, "let v = x.expect(\"v is set\"); // why".to_string())]
        );
    }
}
