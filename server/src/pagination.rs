//! `?limit=&after=` on list routes, checked here so that every list answers a bad page the same
//! way (400) before governance sees it.

use serde::Deserialize;

use super::error::ApiError;
use shuyu::governance::model::PageRequest;

/// The largest page a client may ask for.
pub(crate) const MAX_LIMIT: u32 = 500;
/// The page size when none is asked for.
pub(crate) const DEFAULT_LIMIT: u32 = 50;

/// The pagination query parameters. Unknown parameters are refused, so a typo such as `?limt=`
/// is a 400 rather than a silently ignored filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageParams {
    /// Page size, 1..=500 (default 50).
    pub limit: Option<u32>,
    /// The cursor: the previous page's `next`.
    pub after: Option<String>,
}

impl PageParams {
    /// The governance page request, or a 400 naming the bad parameter.
    pub(crate) fn to_request(&self) -> Result<PageRequest, ApiError> {
        let limit = check_limit(self.limit)?;
        let after = match self.after.as_deref() {
            Some("") => return Err(ApiError::bad_request("`after` must not be empty")),
            other => other.map(str::to_string),
        };
        Ok(PageRequest {
            limit: Some(limit),
            after,
        })
    }
}

/// `limit` within 1..=500, defaulting to 50.
pub(crate) fn check_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!(
            "`limit` must be between 1 and {MAX_LIMIT}, not {n}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use axum::extract::Query;
    use axum::http::Uri;

    use super::*;

    fn parse(query: &str) -> Result<PageRequest, String> {
        let uri: Uri = format!("/v1/datasets?{query}")
            .parse()
            .map_err(|e| format!("{e}"))?;
        let Query(params) =
            Query::<PageParams>::try_from_uri(&uri).map_err(|e| ApiError::from(e).message)?;
        params.to_request().map_err(|e| e.message)
    }

    #[test]
    fn defaults_apply() {
        assert_eq!(
            parse("").unwrap(),
            PageRequest {
                limit: Some(DEFAULT_LIMIT),
                after: None
            }
        );
    }

    #[test]
    fn limit_and_cursor_pass_through() {
        assert_eq!(
            parse("limit=10&after=ds-7").unwrap(),
            PageRequest {
                limit: Some(10),
                after: Some("ds-7".into())
            }
        );
        assert_eq!(parse("limit=500").unwrap().limit, Some(500));
    }

    #[test]
    fn bad_pages_are_refused_by_name() {
        for (query, needle) in [
            ("limit=0", "limit"),
            ("limit=501", "limit"),
            ("limit=-1", "limit"),
            ("limit=ten", "limit"),
            ("after=", "after"),
            ("limt=5", "limt"),
        ] {
            let err = parse(query).unwrap_err();
            assert!(err.contains(needle), "{query}: {err}");
        }
    }
}
