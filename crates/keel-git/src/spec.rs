//! The grammar of a git-backed model source and of a recorded origin.
//!
//! ```text
//! source    = "git+" url [ "#" [ reference ] [ ":" subdir ] ]
//! url       = ( "https://" | "http://" | "ssh://" | "file://" ) rest
//!           | user "@" host ":" path                  ; scp-like, for ssh
//! reference = branch | tag | "refs/..." | "HEAD" | commit   ; a git ref name, never holding ":"
//! commit    = 4 to 64 lowercase hex digits
//! subdir    = relative path, "/"-separated, without "", ".", ".." or ".git" parts
//! ```
//!
//! The URL ends at the first `#` (git URLs never hold one); the reference
//! ends at the first `:` after it (git ref names cannot hold one). The
//! credentials an http(s) URL may carry are used for the clone and removed
//! from the recorded `repository`; an ssh URL keeps its user (ssh needs it)
//! and may not carry a password at all.

use std::fmt;

use crate::error::{Error, Result};

/// The most bytes a URL, a reference and a subdirectory may have.
pub(crate) const MAX_URL: usize = 2048;
pub(crate) const MAX_REF: usize = 255;
pub(crate) const MAX_SUBDIR: usize = 1024;

/// A parsed `git+URL[#REF][:SUBDIR]` source. Its `Debug` and `Display`
/// never show the credentials the URL may carry.
#[derive(Clone, PartialEq, Eq)]
pub struct Spec {
    /// The URL as given, credentials included: only git sees it.
    url: String,
    /// The URL without credentials, as recorded and shown.
    repository: String,
    /// Whether git reaches the repository over ssh.
    ssh: bool,
    /// The parts of the URL's user information, for redaction.
    secrets: Vec<String>,
    reference: Option<String>,
    subdir: Option<String>,
}

impl fmt::Debug for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spec")
            .field("repository", &self.repository)
            .field("reference", &self.reference)
            .field("subdir", &self.subdir)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "git+{}", self.repository)?;
        match (&self.reference, &self.subdir) {
            (None, None) => Ok(()),
            (r, s) => {
                write!(f, "#{}", r.as_deref().unwrap_or(""))?;
                match s {
                    Some(s) => write!(f, ":{s}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// True when `text` is meant as a git source (it starts with `git+`), so a
/// caller can tell it from a directory before parsing it.
pub fn is_spec(text: &str) -> bool {
    text.starts_with("git+")
}

impl Spec {
    /// Parses a `git+URL[#REF][:SUBDIR]` source.
    pub fn parse(text: &str) -> Result<Spec> {
        let invalid = |reason: String| Error::InvalidSpec {
            spec: shown(text),
            reason,
        };
        let body = text.strip_prefix("git+").ok_or_else(|| {
            invalid(
                "a git source starts with `git+`, as in git+https://host/org/repo.git#main:models/fraud"
                    .into(),
            )
        })?;
        if let Some(c) = body.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid(format!(
                "it contains the character {c:?}; percent-encode it in the URL (a space is %20)"
            )));
        }
        let (url, fragment) = match body.split_once('#') {
            Some((u, f)) => (u, Some(f)),
            None => (body, None),
        };
        let parsed = parse_url(url).map_err(invalid)?;
        let (reference, subdir) = match fragment {
            None => (None, None),
            Some(f) => {
                let (r, s) = match f.split_once(':') {
                    Some((r, s)) => (r, Some(s)),
                    None => (f, None),
                };
                if r.is_empty() && s.is_none() {
                    return Err(invalid(
                        "nothing follows `#`: give a branch, tag or commit (`#main`), or `#:SUBDIR` for a subdirectory of the default branch"
                            .into(),
                    ));
                }
                let reference = if r.is_empty() {
                    None
                } else {
                    check_ref(r).map_err(&invalid)?;
                    Some(r.to_string())
                };
                let subdir = s.map(check_subdir).transpose().map_err(invalid)?;
                (reference, subdir)
            }
        };
        Ok(Spec {
            url: url.to_string(),
            repository: parsed.repository,
            ssh: parsed.ssh,
            secrets: parsed.secrets,
            reference,
            subdir,
        })
    }

    /// The source of a recorded origin, to fetch its reference again.
    pub fn for_origin(repository: &str, reference: &str, subdir: Option<&str>) -> Result<Spec> {
        let mut text = format!("git+{repository}#{reference}");
        if let Some(s) = subdir {
            text.push(':');
            text.push_str(s);
        }
        Spec::parse(&text)
    }

    /// The URL as given, credentials included (for git only).
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The URL without credentials.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The branch, tag or commit asked for; `None` means the default branch.
    pub fn reference(&self) -> Option<&str> {
        self.reference.as_deref()
    }

    /// The model's directory inside the repository; `None` is its root.
    pub fn subdir(&self) -> Option<&str> {
        self.subdir.as_deref()
    }

    /// Whether git reaches the repository over ssh.
    pub(crate) fn ssh(&self) -> bool {
        self.ssh
    }

    /// The texts that must never be shown: the URL's user and password,
    /// as written and percent-decoded.
    pub(crate) fn secrets(&self) -> &[String] {
        &self.secrets
    }

    /// A file name for the checkout, from the URL's last path segment
    /// without `.git`, so that a model named after its directory is named
    /// after its repository, whatever temporary directory holds it.
    pub(crate) fn checkout_name(&self) -> String {
        let path = self.repository.trim_end_matches('/');
        let last = path.rsplit(['/', ':']).next().unwrap_or("");
        let last = last.strip_suffix(".git").unwrap_or(last);
        let name: String = last
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let name = name.trim_start_matches(['.', '-']);
        if name.is_empty() {
            "repository".into()
        } else {
            name.to_string()
        }
    }
}

/// What a URL is once checked.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Url {
    /// The URL without credentials.
    pub(crate) repository: String,
    /// Whether git reaches it over ssh.
    pub(crate) ssh: bool,
    /// Its user information's parts, for redaction.
    pub(crate) secrets: Vec<String>,
}

/// Checks a repository URL; the error is a reason, phrased to follow
/// "... is not a git source:".
pub(crate) fn parse_url(url: &str) -> std::result::Result<Url, String> {
    if url.is_empty() {
        return Err("it names no repository: put its URL after `git+`".into());
    }
    if url.len() > MAX_URL {
        return Err(format!(
            "its URL has {} bytes; Keel takes at most {MAX_URL}",
            url.len()
        ));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return parse_scp(url);
    };
    let scheme = scheme.to_ascii_lowercase();
    if !matches!(scheme.as_str(), "https" | "http" | "ssh" | "file") {
        return Err(format!(
            "the scheme '{scheme}://' is not supported; use https://, http://, ssh://, file:// or the scp-like user@host:path"
        ));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (userinfo, host) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    if path.trim_matches('/').is_empty() {
        return Err("its URL names no repository path after the host".into());
    }
    if scheme == "file" {
        if userinfo.is_some() {
            return Err("a file:// URL has no user or password; remove the part before `@`".into());
        }
        if !(host.is_empty() || host.eq_ignore_ascii_case("localhost")) {
            return Err(format!(
                "a file:// URL names a path on this machine, not on the host '{host}'; write file:///absolute/path"
            ));
        }
        return Ok(Url {
            repository: url.to_string(),
            ssh: false,
            secrets: Vec::new(),
        });
    }
    if host.is_empty() {
        return Err("its URL names no host".into());
    }
    if scheme == "ssh" {
        if userinfo.is_some_and(|u| u.contains(':')) {
            return Err(
                "an ssh URL cannot carry a password; let ssh authenticate with a key (ssh-agent) instead"
                    .into(),
            );
        }
        return Ok(Url {
            repository: url.to_string(),
            ssh: true,
            secrets: Vec::new(),
        });
    }
    // An http(s) URL's user information is a credential (a token is often
    // the user name alone): git gets it, nothing records or shows it.
    let secrets = userinfo.map(secrets_of).unwrap_or_default();
    Ok(Url {
        repository: format!("{scheme}://{host}{path}"),
        ssh: false,
        secrets,
    })
}

/// The scp-like `user@host:path` that ssh users write.
fn parse_scp(url: &str) -> std::result::Result<Url, String> {
    let not_a_url = || {
        "it is not a URL; write https://..., ssh://..., file:///absolute/path or user@host:path (a local directory is git+file:///its/absolute/path)".to_string()
    };
    let (before, path) = url.split_once(':').ok_or_else(not_a_url)?;
    let (user, host) = before.split_once('@').ok_or_else(not_a_url)?;
    if before.contains('/') || user.is_empty() || host.is_empty() || host.contains('@') {
        return Err(not_a_url());
    }
    if path.trim_matches('/').is_empty() {
        return Err("its URL names no repository path after the host".into());
    }
    Ok(Url {
        repository: url.to_string(),
        ssh: true,
        secrets: Vec::new(),
    })
}

/// The user and password of a URL's user information, as written and
/// percent-decoded.
fn secrets_of(userinfo: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in userinfo.split(':').chain(std::iter::once(userinfo)) {
        for s in [part.to_string(), percent_decode(part)] {
            if !s.is_empty() && !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out
}

/// Decodes `%XX` escapes; anything malformed stays as it is.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// True for what can only be a commit id (or its abbreviation).
pub(crate) fn is_commitish(s: &str) -> bool {
    (4..=64).contains(&s.len()) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// True for a full commit id (SHA-1 or SHA-256).
pub(crate) fn is_full_commit(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && is_commitish(s)
}

/// Checks a reference as git's `check-ref-format` would, plus a length
/// bound; the error follows "... is not a git source:".
pub(crate) fn check_ref(r: &str) -> std::result::Result<(), String> {
    let bad = |why: &str| Err(format!("the reference '{r}' {why}"));
    if r.len() > MAX_REF {
        return bad(&format!("is longer than {MAX_REF} bytes"));
    }
    if r.starts_with('-') {
        return bad("starts with '-'");
    }
    if let Some(c) = r
        .chars()
        .find(|c| c.is_control() || c.is_whitespace() || " ~^:?*[\\".contains(*c))
    {
        return bad(&format!("holds {c:?}, which git ref names cannot hold"));
    }
    if r.contains("..") || r.contains("@{") || r == "@" || r.contains("//") {
        return bad("holds '..', '@{' or '//', which git ref names cannot hold");
    }
    if r.starts_with('/') || r.ends_with('/') || r.ends_with('.') || r.ends_with(".lock") {
        return bad("starts or ends with '/', or ends with '.' or '.lock'");
    }
    if r.split('/').any(|part| part.starts_with('.')) {
        return bad("has a part starting with '.'");
    }
    Ok(())
}

/// Checks a subdirectory and returns it without trailing slashes; the
/// error follows "... is not a git source:".
pub(crate) fn check_subdir(s: &str) -> std::result::Result<String, String> {
    let bad = |why: &str| Err(format!("the subdirectory '{s}' {why}"));
    if s.is_empty() {
        return Err(
            "the subdirectory after `:` is empty; drop the `:` for the repository's root".into(),
        );
    }
    if s.len() > MAX_SUBDIR {
        return bad(&format!("is longer than {MAX_SUBDIR} bytes"));
    }
    if s.starts_with('/') {
        return bad("is absolute; write it relative to the repository's root");
    }
    if s.contains('\\') || s.chars().any(char::is_control) {
        return bad("holds a backslash or a control character; separate directories with '/'");
    }
    let trimmed = s.trim_end_matches('/');
    for part in trimmed.split('/') {
        match part {
            "" => return bad("holds an empty part ('//')"),
            "." | ".." => return bad("holds '.' or '..'; it must stay inside the repository"),
            ".git" => return bad("names git's own directory"),
            _ => {}
        }
    }
    Ok(trimmed.to_string())
}

/// A source as an error message may show it: the user information of its
/// URL, if any, replaced, since a source that does not parse has no
/// recorded form to show instead.
fn shown(text: &str) -> String {
    let (prefix, body) = match text.strip_prefix("git+") {
        Some(b) => ("git+", b),
        None => ("", text),
    };
    let start = body.find("://").map(|i| i + 3).unwrap_or(0);
    let end = body[start..]
        .find(['/', '#'])
        .map(|i| start + i)
        .unwrap_or(body.len());
    match body[start..end].rfind('@') {
        Some(at) => format!("{prefix}{}***{}", &body[..start], &body[start + at..]),
        None => text.to_string(),
    }
}
