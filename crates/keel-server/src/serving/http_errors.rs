//! Problem documents for the answers hyper writes by itself, before any
//! handler or middleware runs: a request line or head it cannot parse (400),
//! a head beyond its buffer (431), a URI beyond its limit (414), a version it
//! does not speak (505). Hyper writes these with an empty body and closes the
//! connection; [`ProblemIo`] sits under hyper on each connection and
//! rewrites exactly those heads into problem+json answers.
//!
//! An answer is one of hyper's own when its status is 4xx or 5xx, it says
//! `content-length: 0` and it has no `content-type`: every error answer a
//! handler makes goes through the problem middleware, which gives it a body
//! and a type, so it never matches.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection whose empty error answers from hyper become problem documents.
pub(crate) struct ProblemIo<T> {
    inner: T,
    /// A rewritten answer not yet fully written, and how much of it was.
    pending: Vec<u8>,
    sent: usize,
}

impl<T> ProblemIo<T> {
    pub(crate) fn new(inner: T) -> Self {
        ProblemIo {
            inner,
            pending: Vec::new(),
            sent: 0,
        }
    }
}

impl<T: AsyncWrite + Unpin> ProblemIo<T> {
    /// Writes what is pending of a rewritten answer.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.pending.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ProblemIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ProblemIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.drain(cx))?;
        if let Some(answer) = rewrite(buf) {
            this.pending = answer;
            this.sent = 0;
            // The caller's bytes are taken; the rewrite goes out now or
            // with the next write or flush.
            if let Poll::Ready(Err(e)) = this.drain(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    // Hyper then hands each answer's head over in one piece, which is what
    // the rewrite recognises.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

/// The problem answer for `buf` when it is exactly one of hyper's own empty
/// error answers (a head and nothing after it); `None` for anything else.
fn rewrite(buf: &[u8]) -> Option<Vec<u8>> {
    let end = find(buf, b"\r\n\r\n")? + 4;
    if end != buf.len() {
        return None;
    }
    let head = std::str::from_utf8(buf).ok()?;
    let mut lines = head[..end - 4].split("\r\n");
    let status_line = lines.next()?;
    let code: u16 = status_line
        .strip_prefix("HTTP/1.1 ")?
        .get(..3)?
        .parse()
        .ok()?;
    let status = StatusCode::from_u16(code).ok()?;
    if !(status.is_client_error() || status.is_server_error()) {
        return None;
    }
    let mut kept = Vec::new();
    let mut empty = false;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-type" => return None,
            "content-length" => empty = value.trim() == "0",
            "connection" => {}
            _ => kept.push(line),
        }
    }
    if !empty {
        return None;
    }
    let body = super::problem_body(status);
    let mut answer = format!("{status_line}\r\n");
    for line in kept {
        answer.push_str(line);
        answer.push_str("\r\n");
    }
    answer.push_str(&format!(
        "content-type: application/problem+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let mut bytes = answer.into_bytes();
    bytes.extend_from_slice(&body);
    Some(bytes)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::rewrite;

    #[test]
    fn only_hypers_empty_error_heads_are_rewritten() {
        let date = "date: Wed, 02 Dec 2026 17:00:00 GMT";
        let cases: Vec<(String, Option<u16>)> = vec![
            (
                format!("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n{date}\r\n\r\n"),
                Some(400),
            ),
            (
                format!("HTTP/1.1 431 Request Header Fields Too Large\r\n{date}\r\ncontent-length: 0\r\n\r\n"),
                Some(431),
            ),
            ("HTTP/1.1 414 URI Too Long\r\nContent-Length: 0\r\n\r\n".into(), Some(414)),
            // A handler's problem, an answer with a body, a success, half a
            // head, not HTTP: untouched.
            (
                "HTTP/1.1 404 Not Found\r\ncontent-type: application/problem+json\r\ncontent-length: 0\r\n\r\n".into(),
                None,
            ),
            ("HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}".into(), None),
            ("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nextra".into(), None),
            ("HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n".into(), None),
            ("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n".into(), None),
            ("not http at all\r\n\r\n".into(), None),
        ];
        for (head, want) in cases {
            let got = rewrite(head.as_bytes()).map(|a| String::from_utf8(a).unwrap());
            match (want, got) {
                (None, None) => {}
                (Some(code), Some(answer)) => {
                    assert!(answer.starts_with(&format!("HTTP/1.1 {code} ")), "{answer}");
                    assert!(answer.contains("content-type: application/problem+json\r\n"));
                    assert!(answer.contains("connection: close\r\n"), "{answer}");
                    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
                    assert!(head.contains(&format!("content-length: {}\r\n", body.len())));
                    let doc: serde_json::Value = serde_json::from_str(body).unwrap();
                    assert_eq!(doc["status"], code, "{body}");
                }
                (want, got) => panic!("{head:?}: wanted {want:?}, got {got:?}"),
            }
        }
    }
}
