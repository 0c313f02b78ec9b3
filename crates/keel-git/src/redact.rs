//! Removing credentials from text before Keel shows or stores it: the user
//! information of every URL in it, and the literal user names and passwords
//! of the URL git was given, wherever else they appear (a git older than
//! 2.23 echoes URLs whole, and other tools may print them in pieces).

/// What replaces a credential.
const MASK: &str = "***";

/// Secrets shorter than this are not replaced outside URLs: masking every
/// "ab" in a message would make it unreadable, and a URL's user information
/// is removed whatever its length.
const MIN_LITERAL: usize = 6;

/// `text` with the user information of every `scheme://user:password@host`
/// URL removed and every secret of at least six characters masked.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = strip_userinfo(text);
    let mut secrets: Vec<&String> = secrets.iter().filter(|s| s.len() >= MIN_LITERAL).collect();
    // Longer secrets first, so a password containing the user name is
    // masked whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), MASK);
        }
    }
    out
}

/// Removes `user[:password]@` after every `://` in `text`.
fn strip_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends where a path, a quote or a space begins.
        let end = tail
            .find(|c: char| "/?#'\"`<>()[]{}".contains(c) || c.is_whitespace())
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => rest = &tail[at + 1..],
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}
