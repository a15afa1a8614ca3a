//! Shorthand for the column declarations of the bundled manifests.

use shuyu_datasets::manifest::{
    Aggregation, ColumnClass, ColumnSpec, ColumnType, ColumnUse, IdentifierKind,
};

/// A column with no uses; chain the methods of [`ColumnExt`] to allow some.
pub(super) fn column(
    name: &str,
    data_type: ColumnType,
    class: ColumnClass,
    description: &str,
) -> ColumnSpec {
    ColumnSpec {
        name: name.to_string(),
        data_type,
        class,
        identifier_kind: None,
        uses: Vec::new(),
        aggregations: Vec::new(),
        clamp: None,
        nullable: false,
        description: description.to_string(),
    }
}

/// A text identifier column of the given kind with no uses.
pub(super) fn identifier(name: &str, kind: IdentifierKind, description: &str) -> ColumnSpec {
    let mut c = column(name, ColumnType::Utf8, ColumnClass::Identifier, description);
    c.identifier_kind = Some(kind);
    c
}

/// A text identifier column of the given kind that may only be joined on.
pub(super) fn join_key(name: &str, kind: IdentifierKind, description: &str) -> ColumnSpec {
    let mut c = identifier(name, kind, description);
    c.uses.push(ColumnUse::Join);
    c
}

/// Builder-style additions to a [`ColumnSpec`].
pub(super) trait ColumnExt {
    /// Allows grouping and filtering.
    fn dimension(self) -> Self;
    /// Allows count, sum and mean with contributions clamped to `[lo, hi]`.
    fn measure(self, lo: f64, hi: f64) -> Self;
    /// Marks the column nullable.
    fn nullable(self) -> Self;
}

impl ColumnExt for ColumnSpec {
    fn dimension(mut self) -> Self {
        self.uses.push(ColumnUse::Dimension);
        self
    }

    fn measure(mut self, lo: f64, hi: f64) -> Self {
        self.uses.push(ColumnUse::Measure);
        self.aggregations = vec![Aggregation::Count, Aggregation::Sum, Aggregation::Mean];
        self.clamp = Some([lo, hi]);
        self
    }

    fn nullable(mut self) -> Self {
        self.nullable = true;
        self
    }
}
