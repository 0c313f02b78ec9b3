//! Turns away requests that a web page could make a user's browser send to
//! a Keel server: cross-site request forgery (a page on another origin
//! posting a model archive to `http://127.0.0.1:7878`) and DNS rebinding (a
//! name the attacker controls that resolves to the server's address).
//!
//! Three checks, before any handler runs:
//! - the `Host` a request names must be one the server answers to (by
//!   default the loopback names; an admin adds more);
//! - a request carrying an `Origin` (every browser `POST`, `PUT`, `DELETE`,
//!   and any cross-origin `fetch`) must come from the server's own origin or
//!   one an admin allowed, and a browser's `Sec-Fetch-Site: cross-site` is
//!   refused the same way;
//! - a request that changes something may not carry one of the three body
//!   types an HTML form (or a `fetch` without a CORS preflight) can send:
//!   `text/plain`, `application/x-www-form-urlencoded`, `multipart/form-data`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::Error;

/// Which hosts and web origins the server answers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    /// The host names (or addresses) a request's `Host` may name, with or
    /// without a port; `None` accepts any (a server on a public address
    /// whose admin lists no names).
    pub hosts: Option<Vec<String>>,
    /// Web origins (`https://ui.example.com`) that may call the API besides
    /// the server's own.
    pub origins: Vec<String>,
}

/// The names a server on a loopback address answers to.
pub const LOOPBACK_HOSTS: [&str; 4] = ["localhost", "127.0.0.1", "::1", "[::1]"];

impl Default for Guard {
    fn default() -> Self {
        Guard {
            hosts: Some(LOOPBACK_HOSTS.iter().map(|h| h.to_string()).collect()),
            origins: Vec::new(),
        }
    }
}

/// The body types an HTML form can send without a CORS preflight.
const FORM_TYPES: [&str; 3] = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
];

impl Guard {
    /// Why the request must be refused, if it must.
    fn refuse(&self, method: &Method, headers: &HeaderMap) -> Option<Error> {
        let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        let host = text(header::HOST);
        if let Some(allowed) = &self.hosts {
            let Some(host) = host else {
                return Some(Error::Forbidden(
                    "The request names no host (`Host` header); send it to the server's name or \
                     address."
                        .into(),
                ));
            };
            if !allowed.iter().any(|a| host_matches(a, host)) {
                return Some(Error::Forbidden(format!(
                    "This server does not answer to the host '{host}' (the `Host` header); it \
                     answers to {}. An admin adds names with KEEL_ALLOWED_HOSTS.",
                    allowed.join(", ")
                )));
            }
        }
        if let Some(origin) = text(header::ORIGIN) {
            let own = host.is_some_and(|h| origin_authority(origin) == Some(h));
            let listed = self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin));
            if !own && !listed {
                return Some(Error::Forbidden(format!(
                    "Requests from the web origin '{origin}' are refused: a page on another site \
                     may not call this server. An admin allows an origin with \
                     KEEL_ALLOWED_ORIGINS."
                )));
            }
        } else if text(header::HeaderName::from_static("sec-fetch-site")) == Some("cross-site") {
            return Some(Error::Forbidden(
                "Cross-site requests from a browser are refused (`Sec-Fetch-Site: cross-site`)."
                    .into(),
            ));
        }
        let changes = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if changes {
            let essence = media_type(headers);
            if FORM_TYPES.contains(&essence.as_str()) {
                return Some(Error::UnsupportedMediaType(format!(
                    "The body type '{essence}' is refused: an HTML form on any web page can send \
                     it. Send JSON as application/json, a model archive as application/gzip, \
                     application/x-tar or application/zip, and data as \
                     application/octet-stream (or no type)."
                )));
            }
        }
        None
    }
}

/// The request body's media type without its parameters, in lower case
/// (`text/plain; charset=utf-8` is `text/plain`); empty without one.
pub(crate) fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether the `Host` header value `host` names the allowed `name` (which
/// may carry a port; without one, any port matches).
fn host_matches(name: &str, host: &str) -> bool {
    if name.eq_ignore_ascii_case(host) {
        return true;
    }
    let bare = match host.rsplit_once(':') {
        // An IPv6 address in brackets keeps its colons inside them.
        Some((h, port)) if !port.contains(']') && port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    name.eq_ignore_ascii_case(bare)
}

/// The `host[:port]` of an origin such as `http://127.0.0.1:7878`.
fn origin_authority(origin: &str) -> Option<&str> {
    let (_, rest) = origin.split_once("://")?;
    Some(rest.trim_end_matches('/'))
}

/// The middleware: refuses what [`Guard::refuse`] refuses, before routing.
pub(crate) async fn check(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    match guard.refuse(req.method(), req.headers()) {
        Some(e) => e.into_response(),
        None => next.run(req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_hosts_origins_and_form_bodies_are_refused() {
        let guard = Guard {
            origins: vec!["https://ui.example.com".into()],
            ..Guard::default()
        };
        // (method, Host, Origin, Sec-Fetch-Site, Content-Type, refused with)
        type Case = (
            Method,
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
        );
        let cases: [Case; 16] = [
            (Method::GET, Some("127.0.0.1:7878"), None, None, None, None),
            (Method::GET, Some("localhost"), None, None, None, None),
            (Method::GET, Some("[::1]:7878"), None, None, None, None),
            (Method::GET, Some("LOCALHOST:1"), None, None, None, None),
            (
                Method::GET,
                Some("rebind.attacker.example:7878"),
                None,
                None,
                None,
                Some("FORBIDDEN"),
            ),
            (Method::GET, None, None, None, None, Some("FORBIDDEN")),
            (
                Method::POST,
                Some("127.0.0.1:7878"),
                Some("http://127.0.0.1:7878"),
                None,
                Some("application/json"),
                None,
            ),
            (
                Method::POST,
                Some("127.0.0.1:7878"),
                Some("https://ui.example.com"),
                None,
                Some("application/json"),
                None,
            ),
            (
                Method::POST,
                Some("127.0.0.1:7878"),
                Some("https://evil.example"),
                None,
                Some("application/json"),
                Some("FORBIDDEN"),
            ),
            (
                Method::POST,
                Some("127.0.0.1:7878"),
                Some("null"),
                None,
                None,
                Some("FORBIDDEN"),
            ),
            (
                Method::POST,
                Some("127.0.0.1:7878"),
                Some("http://localhost:7878"),
                None,
                None,
                Some("FORBIDDEN"),
            ),
            (
                Method::POST,
                Some("127.0.0.1:7878"),
                None,
                Some("cross-site"),
                None,
                Some("FORBIDDEN"),
            ),
            (
                Method::POST,
                Some("127.0.0.1:7878"),
                None,
                Some("same-origin"),
                Some("application/gzip"),
                None,
            ),
            (
                Method::POST,
                Some("127.0.0.1:7878"),
                None,
                None,
                Some("text/plain; charset=utf-8"),
                Some("UNSUPPORTED_MEDIA_TYPE"),
            ),
            (
                Method::DELETE,
                Some("127.0.0.1:7878"),
                None,
                None,
                Some("multipart/form-data; boundary=x"),
                Some("UNSUPPORTED_MEDIA_TYPE"),
            ),
            (
                Method::GET,
                Some("127.0.0.1:7878"),
                None,
                None,
                Some("text/plain"),
                None,
            ),
        ];
        for (method, host, origin, site, ct, want) in cases {
            let mut h = HeaderMap::new();
            for (name, value) in [
                (header::HOST, host),
                (header::ORIGIN, origin),
                (header::HeaderName::from_static("sec-fetch-site"), site),
                (header::CONTENT_TYPE, ct),
            ] {
                if let Some(v) = value {
                    h.insert(name, v.parse().unwrap());
                }
            }
            let got = guard.refuse(&method, &h).map(|e| e.code().as_str());
            assert_eq!(
                got, want,
                "{method} host {host:?} origin {origin:?} site {site:?} type {ct:?}"
            );
        }
        // A server whose admin named no hosts answers to any.
        let open = Guard {
            hosts: None,
            origins: Vec::new(),
        };
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "keel.internal:7878".parse().unwrap());
        assert!(open.refuse(&Method::GET, &h).is_none());
    }
}
