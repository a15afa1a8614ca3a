//! Pagination of governance lists: the page size rules, and cutting rows fetched in key order
//! (by the `store::governance` list functions) into pages.

use super::model::{Page, PageRequest};
use super::GovError;

/// Default page size.
const DEFAULT_LIMIT: u32 = 50;
/// Largest page size.
const MAX_LIMIT: u32 = 500;

/// A validated page request: the page size and the cursor.
#[derive(Debug, Clone)]
pub(crate) struct PageSpec {
    /// Items per page.
    pub limit: u32,
    /// Items with a key greater than this one.
    pub after: Option<String>,
}

impl PageSpec {
    /// Checks the requested limit (1..=500, default 50).
    pub(super) fn new(page: &PageRequest) -> Result<Self, GovError> {
        let limit = page.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(GovError::Invalid(format!(
                "limit must be between 1 and {MAX_LIMIT}, not {limit}"
            )));
        }
        Ok(Self {
            limit,
            after: page.after.clone(),
        })
    }

    /// The cursor to compare keys with (the empty string sorts before every key).
    pub(super) fn after(&self) -> &str {
        self.after.as_deref().unwrap_or("")
    }

    /// The SQL `LIMIT`: one more than the page, to learn whether another page follows.
    pub(super) fn fetch(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// Cuts `keys` (fetched in key order, up to [`PageSpec::fetch`]) into a page.
    pub(super) fn finish<T>(&self, mut items: Vec<(String, T)>) -> Page<T> {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|(key, _)| key.clone())
        } else {
            None
        };
        Page {
            items: items.into_iter().map(|(_, item)| item).collect(),
            next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_limits_are_checked() {
        let spec = |limit| PageSpec::new(&PageRequest { limit, after: None });
        assert_eq!(spec(None).unwrap().limit, 50);
        assert!(spec(Some(500)).is_ok());
        assert!(matches!(spec(Some(0)), Err(GovError::Invalid(_))));
        assert!(matches!(spec(Some(501)), Err(GovError::Invalid(_))));
        let page = spec(Some(2)).unwrap().finish(vec![
            ("a".to_string(), 1),
            ("b".to_string(), 2),
            ("c".to_string(), 3),
        ]);
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next.as_deref(), Some("b"));
    }
}
