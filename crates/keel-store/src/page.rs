//! Cursor pagination shared by every list of every backend: a page request,
//! a page of items, and opaque cursors that name the list they belong to.

use crate::error::{Error, Result};

/// Which page of a list to return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// How many items at most; clamped to 1..=1000.
    pub limit: u32,
    /// The `next_cursor` of the previous page, or `None` for the first page.
    pub after: Option<String>,
}

impl Page {
    /// The limit used when none is given.
    pub const DEFAULT_LIMIT: u32 = 100;
    /// The largest limit honoured.
    pub const MAX_LIMIT: u32 = 1000;

    /// The first page with this limit.
    pub fn first(limit: u32) -> Self {
        Self { limit, after: None }
    }

    /// The page after `cursor` with this limit.
    pub fn after(limit: u32, cursor: impl Into<String>) -> Self {
        Self {
            limit,
            after: Some(cursor.into()),
        }
    }

    /// The limit clamped to 1..=1000.
    pub fn effective_limit(&self) -> u32 {
        self.limit.clamp(1, Self::MAX_LIMIT)
    }
}

impl Default for Page {
    fn default() -> Self {
        Self::first(Self::DEFAULT_LIMIT)
    }
}

/// One page of a list.
#[derive(Clone, Debug, PartialEq)]
pub struct Paged<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass this as `Page::after` to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Encodes the sort key of the last item on a page as an opaque cursor. The
/// list name is part of the cursor so that a cursor from one list is refused by
/// another instead of silently returning the wrong page.
pub(crate) fn encode_cursor(list: &str, key: &str) -> String {
    let plain = format!("{list}:{key}");
    let mut out = String::with_capacity(plain.len() * 2);
    for b in plain.bytes() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Decodes a cursor made by [`encode_cursor`] for the list `list`.
pub(crate) fn decode_cursor(list: &str, cursor: &str) -> Result<String> {
    let bad = || {
        Error::InvalidArgument(format!(
            "The page cursor '{cursor}' is not valid for listing {list}; pass the next_cursor of the previous page of the same list, or leave it out to start from the first page."
        ))
    };
    if !cursor.len().is_multiple_of(2) || !cursor.is_ascii() {
        return Err(bad());
    }
    let mut bytes = Vec::with_capacity(cursor.len() / 2);
    for i in (0..cursor.len()).step_by(2) {
        let pair = cursor.get(i..i + 2).ok_or_else(bad)?;
        bytes.push(u8::from_str_radix(pair, 16).map_err(|_| bad())?);
    }
    let plain = String::from_utf8(bytes).map_err(|_| bad())?;
    let key = plain
        .strip_prefix(list)
        .and_then(|rest| rest.strip_prefix(':'))
        .ok_or_else(bad)?;
    Ok(key.to_string())
}

/// The time and id after which a newest-first page of `list` starts: the
/// `TIME|ID` cursor of its last item, or (for the first page) a time after
/// every stored one and no id.
pub(crate) fn decode_time_cursor(list: &str, page_after: Option<&str>) -> Result<(String, String)> {
    let Some(c) = page_after else {
        return Ok(("~".into(), String::new()));
    };
    let key = decode_cursor(list, c)?;
    let (t, id) = key.split_once('|').ok_or_else(|| {
        Error::InvalidArgument(format!(
            "The page cursor '{c}' is not valid for listing {list}; pass the next_cursor of the previous page."
        ))
    })?;
    Ok((t.to_string(), id.to_string()))
}

/// Splits `limit + 1` fetched items into a page and the cursor of its last
/// item; the extra item only tells whether another page exists.
pub(crate) fn paginate<T>(
    mut items: Vec<T>,
    limit: u32,
    list: &str,
    key: impl Fn(&T) -> String,
) -> Paged<T> {
    let limit = limit as usize;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|last| encode_cursor(list, &key(last)))
    } else {
        None
    };
    Paged { items, next_cursor }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_other_lists() {
        let c = encode_cursor("models", "fraud-ü");
        assert_eq!(decode_cursor("models", &c).unwrap(), "fraud-ü");
        assert!(decode_cursor("jobs", &c).is_err());
        assert!(decode_cursor("models", "zz").is_err());
        assert!(decode_cursor("models", "abc").is_err());
        let e = decode_cursor("models", "").unwrap_err();
        assert!(e.to_string().contains("next_cursor"), "{e}");
    }

    #[test]
    fn page_limits_are_clamped() {
        assert_eq!(Page::default().effective_limit(), 100);
        assert_eq!(Page::first(0).effective_limit(), 1);
        assert_eq!(Page::first(5000).effective_limit(), 1000);
    }
}
