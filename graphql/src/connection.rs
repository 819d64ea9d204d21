//! Relay cursor connections with opaque cursors and a page size of at most 100.

use async_graphql::SimpleObject;
use base64::Engine;
use crm_core::query::{ListArgs, Page};

pub const MAX_PAGE: u64 = 100;
/// Page size allowed to internal bulk readers (plugin input queries during rescoring).
pub const MAX_BULK_PAGE: u64 = 1000;

/// Request data that lifts the page limit to [`MAX_BULK_PAGE`]; only the host
/// adds it, for its own batched plugin input queries.
#[derive(Clone, Copy, Debug)]
pub struct BulkRead;
pub const DEFAULT_PAGE: u64 = 20;

#[derive(SimpleObject, Clone, Debug)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

pub fn encode_cursor(offset: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("crm:o:{offset}"))
}

pub fn decode_cursor(s: &str, arg: &str) -> async_graphql::Result<u64> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("crm:o:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| {
            crate::error::to_gql_error(crm_core::CoreError::invalid(
                arg,
                "INVALID_CURSOR",
                "not a cursor returned by this API",
            ))
        })
}

/// Pagination arguments as given by the client.
#[derive(Default, Clone, Debug)]
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

impl PageArgs {
    /// Offset/limit for the page. `last` without `before` needs the total, which
    /// the caller passes in when it has it.
    pub fn resolve(
        &self,
        total: impl FnOnce() -> Option<u64>,
    ) -> async_graphql::Result<(u64, u64)> {
        self.resolve_with_max(MAX_PAGE, total)
    }

    /// [`PageArgs::resolve`] with another page-size limit.
    pub fn resolve_with_max(
        &self,
        max: u64,
        total: impl FnOnce() -> Option<u64>,
    ) -> async_graphql::Result<(u64, u64)> {
        let check =
            |n: Option<i32>, name: &str| -> async_graphql::Result<Option<u64>> {
                match n {
                    Some(v) if v < 0 => Err(crate::error::to_gql_error(
                        crm_core::CoreError::invalid(name, "INVALID_VALUE", "must not be negative"),
                    )),
                    Some(v) if v as u64 > max => Err(crate::error::to_gql_error(
                        crm_core::CoreError::LimitExceeded(format!("{name} is at most {max}")),
                    )),
                    Some(v) => Ok(Some(v as u64)),
                    None => Ok(None),
                }
            };
        let first = check(self.first, "first")?;
        let last = check(self.last, "last")?;
        let after = self
            .after
            .as_deref()
            .map(|a| decode_cursor(a, "after"))
            .transpose()?;
        let before = self
            .before
            .as_deref()
            .map(|b| decode_cursor(b, "before"))
            .transpose()?;
        let start = after.map(|a| a + 1).unwrap_or(0);
        if let Some(l) = last {
            let end = match before {
                Some(b) => b,
                None => total().unwrap_or(0),
            };
            let off = end.saturating_sub(l).max(start);
            return Ok((off, end.saturating_sub(off)));
        }
        let mut limit = first.unwrap_or(DEFAULT_PAGE);
        if let Some(b) = before {
            limit = limit.min(b.saturating_sub(start));
        }
        Ok((start, limit))
    }

    pub fn needs_total(&self) -> bool {
        self.last.is_some() && self.before.is_none()
    }
}

/// Page info for a page read at `page.offset`.
pub fn page_info<T>(page: &Page<T>) -> PageInfo {
    let n = page.items.len() as u64;
    PageInfo {
        has_next_page: page.has_more,
        has_previous_page: page.offset > 0,
        start_cursor: (n > 0).then(|| encode_cursor(page.offset)),
        end_cursor: (n > 0).then(|| encode_cursor(page.offset + n - 1)),
    }
}

/// Build the list arguments for a connection field.
pub fn list_args(
    pa: &PageArgs,
    filter: Option<crm_core::query::Filter>,
    order: Vec<crm_core::query::OrderBy>,
    count: bool,
    total: Option<u64>,
    bulk: bool,
) -> async_graphql::Result<ListArgs> {
    let max = if bulk { MAX_BULK_PAGE } else { MAX_PAGE };
    let (offset, limit) = pa.resolve_with_max(max, || total)?;
    Ok(ListArgs {
        filter,
        order,
        offset,
        limit,
        count,
    })
}

/// Declare `XxxConnection` and `XxxEdge` for a node type.
#[macro_export]
macro_rules! connection_types {
    ($conn:ident, $edge:ident, $node:ty) => {
        #[derive(async_graphql::SimpleObject)]
        pub struct $edge {
            pub cursor: String,
            pub node: $node,
        }

        #[derive(async_graphql::SimpleObject)]
        pub struct $conn {
            pub edges: Vec<$edge>,
            pub page_info: $crate::connection::PageInfo,
            /// Number of records matching the filter (all pages).
            pub total_count: i64,
        }

        impl $conn {
            pub fn from_page<M>(page: crm_core::query::Page<M>, wrap: impl Fn(M) -> $node) -> Self {
                let info = $crate::connection::page_info(&page);
                let total = page.total.map(|t| t as i64).unwrap_or(-1);
                let offset = page.offset;
                $conn {
                    edges: page
                        .items
                        .into_iter()
                        .enumerate()
                        .map(|(i, m)| $edge {
                            cursor: $crate::connection::encode_cursor(offset + i as u64),
                            node: wrap(m),
                        })
                        .collect(),
                    page_info: info,
                    total_count: total,
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(41), "after").ok(), Some(41));
        assert!(decode_cursor("bm9wZQ", "after").is_err());
    }

    #[test]
    fn first_after_and_last_before_give_offsets() {
        let pa = PageArgs {
            first: Some(10),
            after: Some(encode_cursor(9)),
            ..Default::default()
        };
        assert_eq!(pa.resolve(|| None).ok(), Some((10, 10)));
        let pa = PageArgs {
            last: Some(5),
            before: Some(encode_cursor(20)),
            ..Default::default()
        };
        assert_eq!(pa.resolve(|| None).ok(), Some((15, 5)));
        let pa = PageArgs {
            last: Some(5),
            ..Default::default()
        };
        assert_eq!(pa.resolve(|| Some(12)).ok(), Some((7, 5)));
        let pa = PageArgs {
            first: Some(101),
            ..Default::default()
        };
        assert!(pa.resolve(|| None).is_err());
    }
}
