//! Contribution rows: the compact encoding `contribute_rows` takes (docs/abi.md, "Contribution
//! rows").
//!
//! An entity run usually hands over one or two rows. As an Arrow IPC stream those need a schema
//! message, a record batch message and their flatbuffers, built by the module and verified by
//! the host, per run: most of what a small run costs. This encoding is the same rows with
//! nothing around them but the column names, so the host can check them against the contract:
//!
//! ```text
//! magic      "SYR1"
//! u16        D dimensions, u16 M measures
//! D + M      names, contract order: u16 length, UTF-8 bytes
//! u32        N rows
//! N rows     D dimension values: u32 length + UTF-8 bytes, or u32 0xFFFF_FFFF for null
//!            M measure values:   u8 0 (null) or u8 1 followed by an f64
//! ```
//!
//! Integers are little-endian, `f64` is its IEEE 754 bits little-endian. Nothing may follow
//! the last row. [`Encoder`] writes it (the SDK); [`parse`] reads it (the host), checking every
//! length against the bytes there are before it is used, so a hostile chunk costs at most one
//! pass over its own bytes.

extern crate alloc;

use alloc::vec::Vec;
use core::fmt;

use crate::reader::Reader;

/// The first four bytes of a chunk.
pub const MAGIC: [u8; 4] = *b"SYR1";

/// The length that marks a null dimension value.
const NULL: u32 = u32::MAX;

/// Why a chunk was refused. Messages name the place, never a value from the chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowsError {
    /// The chunk does not start with [`MAGIC`].
    Magic,
    /// The chunk ends inside its header, a name or a row.
    Truncated,
    /// The numbers of dimensions and measures are not the contract's.
    Arity {
        /// Dimensions and measures the contract has.
        expected: (usize, usize),
        /// Dimensions and measures the chunk declares.
        found: (usize, usize),
    },
    /// Column `index` (dimensions first) is not named as the contract names it.
    Name {
        /// The column's position, dimensions first, from 0.
        index: usize,
    },
    /// The row count is larger than the rest of the chunk could hold.
    RowCount,
    /// A dimension value of row `row` is not UTF-8.
    Utf8 {
        /// The row, from 0.
        row: usize,
    },
    /// A measure of row `row` has a tag other than 0 or 1.
    Tag {
        /// The row, from 0.
        row: usize,
    },
    /// Bytes follow the last row.
    Trailing,
}

impl fmt::Display for RowsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowsError::Magic => write!(f, "the chunk does not start with the magic SYR1"),
            RowsError::Truncated => write!(f, "the chunk ends inside a header, name or row"),
            RowsError::Arity { expected, found } => write!(
                f,
                "the chunk has {} dimensions and {} measures; the contract has {} and {}",
                found.0, found.1, expected.0, expected.1
            ),
            RowsError::Name { index } => write!(
                f,
                "column {index} (dimensions first, from 0) is not named as in the contract"
            ),
            RowsError::RowCount => {
                write!(f, "the row count is more than the chunk's bytes can hold")
            }
            RowsError::Utf8 { row } => write!(f, "row {row}: a dimension value is not UTF-8"),
            RowsError::Tag { row } => {
                write!(f, "row {row}: a measure's tag is neither 0 (null) nor 1")
            }
            RowsError::Trailing => write!(f, "bytes follow the last row"),
        }
    }
}

/// Whether a dimension value's length can be written: below the null marker.
fn fits_length(value: &str) -> bool {
    u32::try_from(value.len()).is_ok_and(|n| n < NULL)
}

/// Writes a chunk: [`Encoder::new`] with the names, then [`Encoder::push`] per row.
#[derive(Debug, Clone)]
pub struct Encoder {
    bytes: Vec<u8>,
    dimensions: usize,
    measures: usize,
    rows: u32,
    /// Where the row count sits.
    count_at: usize,
}

impl Encoder {
    /// A chunk without rows for these column names (contract order). `None` when there are more
    /// than 65,535 of either or a name is longer than 65,535 bytes.
    pub fn new(dimensions: &[&str], measures: &[&str]) -> Option<Encoder> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&MAGIC);
        bytes.extend_from_slice(&u16::try_from(dimensions.len()).ok()?.to_le_bytes());
        bytes.extend_from_slice(&u16::try_from(measures.len()).ok()?.to_le_bytes());
        for name in dimensions.iter().chain(measures) {
            bytes.extend_from_slice(&u16::try_from(name.len()).ok()?.to_le_bytes());
            bytes.extend_from_slice(name.as_bytes());
        }
        let count_at = bytes.len();
        bytes.extend_from_slice(&0u32.to_le_bytes());
        Some(Encoder {
            bytes,
            dimensions: dimensions.len(),
            measures: measures.len(),
            rows: 0,
            count_at,
        })
    }

    /// Appends one row. `false` (nothing appended) when the numbers of values are not the
    /// names', a value is longer than 4 GiB - 2, or the chunk already has `u32::MAX` rows.
    pub fn push(&mut self, dimensions: &[Option<&str>], measures: &[Option<f64>]) -> bool {
        let fits = dimensions.len() == self.dimensions
            && measures.len() == self.measures
            && self.rows < u32::MAX
            && dimensions.iter().all(|d| d.is_none_or(fits_length));
        if !fits {
            return false;
        }
        for value in dimensions {
            self.text(*value);
        }
        for value in measures {
            self.number(*value);
        }
        self.count_row();
        true
    }

    /// [`Encoder::push`] of a row without nulls whose dimensions are `first` then `rest` (a
    /// release's entity, then the contract's dimensions), without building slices of options
    /// for every row.
    pub fn push_values(&mut self, first: &str, rest: &[&str], measures: &[f64]) -> bool {
        let fits = 1 + rest.len() == self.dimensions
            && measures.len() == self.measures
            && self.rows < u32::MAX
            && fits_length(first)
            && rest.iter().all(|v| fits_length(v));
        if !fits {
            return false;
        }
        self.text(Some(first));
        for value in rest {
            self.text(Some(value));
        }
        for value in measures {
            self.number(Some(*value));
        }
        self.count_row();
        true
    }

    /// Writes a dimension value whose length [`fits_length`] accepted, or a null.
    fn text(&mut self, value: Option<&str>) {
        match value {
            Some(v) => {
                self.bytes
                    .extend_from_slice(&(v.len() as u32).to_le_bytes());
                self.bytes.extend_from_slice(v.as_bytes());
            }
            None => self.bytes.extend_from_slice(&NULL.to_le_bytes()),
        }
    }

    /// Writes a measure value or a null.
    fn number(&mut self, value: Option<f64>) {
        match value {
            Some(v) => {
                self.bytes.push(1);
                self.bytes.extend_from_slice(&v.to_le_bytes());
            }
            None => self.bytes.push(0),
        }
    }

    /// Counts the row just written, in the header too.
    fn count_row(&mut self) {
        self.rows += 1;
        self.bytes[self.count_at..self.count_at + 4].copy_from_slice(&self.rows.to_le_bytes());
    }

    /// Drops the rows pushed so far and keeps the header, so a writer can send a chunk and go
    /// on with the next one.
    pub fn clear(&mut self) {
        self.bytes.truncate(self.count_at + 4);
        self.rows = 0;
        self.bytes[self.count_at..].copy_from_slice(&0u32.to_le_bytes());
    }

    /// Rows pushed so far.
    pub fn rows(&self) -> u32 {
        self.rows
    }

    /// The chunk's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// A checked chunk's rows, read one at a time (see [`parse`]).
#[derive(Debug, Clone)]
pub struct Rows<'a> {
    rest: &'a [u8],
    dimensions: usize,
    measures: usize,
    left: u32,
    row: usize,
}

/// One row: its dimension values, then its measure values, in contract order.
#[derive(Debug, Clone, PartialEq)]
pub struct Row<'a> {
    /// Dimension values (`None` for null).
    pub dimensions: Vec<Option<&'a str>>,
    /// Measure values (`None` for null).
    pub measures: Vec<Option<f64>>,
}

/// Checks a chunk's header against the contract's column names and returns its rows, each
/// checked when it is read: a chunk is accepted only if every row reads without error and
/// nothing follows ([`Rows`] ends with [`RowsError::Trailing`] otherwise).
pub fn parse<'a, S: AsRef<str>>(
    chunk: &'a [u8],
    dimensions: &[S],
    measures: &[S],
) -> Result<Rows<'a>, RowsError> {
    let mut r = Reader::new(chunk, RowsError::Truncated);
    if r.take(4)? != MAGIC {
        return Err(RowsError::Magic);
    }
    let found = (usize::from(r.u16()?), usize::from(r.u16()?));
    let expected = (dimensions.len(), measures.len());
    if found != expected {
        return Err(RowsError::Arity { expected, found });
    }
    for (index, name) in dimensions.iter().chain(measures).enumerate() {
        let len = usize::from(r.u16()?);
        if r.take(len)? != name.as_ref().as_bytes() {
            return Err(RowsError::Name { index });
        }
    }
    let left = r.u32()?;
    // Every row takes at least 4 bytes per dimension and 1 per measure.
    let least = 4 * expected.0 + expected.1;
    if (left as usize).saturating_mul(least.max(1)) > r.rest.len() {
        return Err(RowsError::RowCount);
    }
    Ok(Rows {
        rest: r.rest,
        dimensions: expected.0,
        measures: expected.1,
        left,
        row: 0,
    })
}

/// Reads a chunk's header as it comes, for a reader that matches columns by name (a service's
/// answer): the dimension names, the measure names, and the rows, each checked when it is read
/// as [`parse`]'s are. A name that is not UTF-8 is refused as [`RowsError::Name`].
pub fn parse_named(chunk: &[u8]) -> Result<(Vec<&str>, Vec<&str>, Rows<'_>), RowsError> {
    let mut r = Reader::new(chunk, RowsError::Truncated);
    if r.take(4)? != MAGIC {
        return Err(RowsError::Magic);
    }
    let counts = (usize::from(r.u16()?), usize::from(r.u16()?));
    let mut names = Vec::with_capacity(counts.0 + counts.1);
    for index in 0..counts.0 + counts.1 {
        let len = usize::from(r.u16()?);
        let name = core::str::from_utf8(r.take(len)?).map_err(|_| RowsError::Name { index })?;
        names.push(name);
    }
    let left = r.u32()?;
    let least = 4 * counts.0 + counts.1;
    if (left as usize).saturating_mul(least.max(1)) > r.rest.len() {
        return Err(RowsError::RowCount);
    }
    let measures = names.split_off(counts.0);
    let rows = Rows {
        rest: r.rest,
        dimensions: counts.0,
        measures: counts.1,
        left,
        row: 0,
    };
    Ok((names, measures, rows))
}

impl<'a> Iterator for Rows<'a> {
    type Item = Result<Row<'a>, RowsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            if self.rest.is_empty() {
                return None;
            }
            // Once: the error ends the chunk.
            self.rest = &[];
            return Some(Err(RowsError::Trailing));
        }
        let row = self.read_row();
        match row {
            Ok(_) => {
                self.left -= 1;
                self.row += 1;
            }
            Err(_) => {
                self.left = 0;
                self.rest = &[];
            }
        }
        Some(row)
    }
}

impl<'a> Rows<'a> {
    fn read_row(&mut self) -> Result<Row<'a>, RowsError> {
        let mut r = Reader::new(self.rest, RowsError::Truncated);
        let row = self.row;
        let mut dimensions = Vec::with_capacity(self.dimensions);
        for _ in 0..self.dimensions {
            let len = r.u32()?;
            if len == NULL {
                dimensions.push(None);
                continue;
            }
            let bytes = r.take(len as usize)?;
            let text = core::str::from_utf8(bytes).map_err(|_| RowsError::Utf8 { row })?;
            dimensions.push(Some(text));
        }
        let mut measures = Vec::with_capacity(self.measures);
        for _ in 0..self.measures {
            match r.take(1)? {
                [0] => measures.push(None),
                [1] => {
                    let bits: [u8; 8] = r.take(8)?.try_into().map_err(|_| RowsError::Truncated)?;
                    measures.push(Some(f64::from_le_bytes(bits)));
                }
                _ => return Err(RowsError::Tag { row }),
            }
        }
        self.rest = r.rest;
        Ok(Row {
            dimensions,
            measures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIMS: [&str; 2] = ["district", "industry"];
    const MEASURES: [&str; 2] = ["capital", "tax"];

    fn all(chunk: &[u8]) -> Result<Vec<Row<'_>>, RowsError> {
        parse(chunk, &DIMS, &MEASURES)?.collect()
    }

    fn sample() -> Encoder {
        let mut e = Encoder::new(&DIMS, &MEASURES).expect("names fit");
        assert!(e.push(&[Some("西湖区"), Some("")], &[Some(1.5), None]));
        assert!(e.push(&[None, Some("制造业")], &[Some(f64::NAN), Some(-0.0)]));
        e
    }

    #[test]
    fn values_pushed_without_options_are_the_rows_pushed_with_them() {
        let mut with = Encoder::new(&DIMS, &MEASURES).expect("names fit");
        let mut without = with.clone();
        assert!(with.push(&[Some("西湖区"), Some("")], &[Some(1.5), Some(-0.0)]));
        assert!(without.push_values("西湖区", &[""], &[1.5, -0.0]));
        assert_eq!(with.bytes(), without.bytes());
        assert!(
            !without.push_values("西湖区", &[], &[1.5, 2.0]),
            "a dimension short"
        );
        assert!(
            !without.push_values("西湖区", &[""], &[1.5]),
            "a measure short"
        );
        assert_eq!(without.rows(), 1);
        assert_eq!(
            with.bytes(),
            without.bytes(),
            "nothing written for a refused row"
        );
    }

    #[test]
    fn a_cleared_encoder_starts_a_new_chunk_with_the_same_names() {
        let mut e = sample();
        e.clear();
        assert_eq!(e.rows(), 0);
        assert_eq!(all(e.bytes()).expect("valid"), []);
        assert!(e.push(&[Some("上城区"), None], &[None, Some(2.0)]));
        let rows = all(e.bytes()).expect("valid");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].dimensions, [Some("上城区"), None]);
        assert_eq!(rows[0].measures, [None, Some(2.0)]);
    }

    #[test]
    fn rows_round_trip_with_nulls_empty_strings_and_any_f64() {
        let e = sample();
        assert_eq!(e.rows(), 2);
        let rows = all(e.bytes()).expect("valid");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].dimensions, [Some("西湖区"), Some("")]);
        assert_eq!(rows[0].measures, [Some(1.5), None]);
        assert_eq!(rows[1].dimensions, [None, Some("制造业")]);
        assert!(rows[1].measures[0].is_some_and(f64::is_nan));
        assert!(rows[1].measures[1].is_some_and(|v| v == 0.0 && v.is_sign_negative()));
        let empty = Encoder::new(&DIMS, &MEASURES).expect("names fit");
        assert_eq!(all(empty.bytes()), Ok(Vec::new()));
    }

    #[test]
    fn a_row_of_the_wrong_arity_is_not_pushed() {
        let mut e = Encoder::new(&DIMS, &MEASURES).expect("names fit");
        assert!(!e.push(&[Some("a")], &[Some(1.0), Some(2.0)]));
        assert!(!e.push(&[Some("a"), Some("b")], &[Some(1.0)]));
        assert_eq!(e.rows(), 0);
        assert_eq!(all(e.bytes()), Ok(Vec::new()));
    }

    #[test]
    fn headers_that_are_not_the_contracts_are_refused() {
        let bytes = sample().bytes().to_vec();
        let mut wrong = bytes.clone();
        wrong[0] = b'X';
        assert_eq!(all(&wrong).err(), Some(RowsError::Magic));
        let other = Encoder::new(&["district"], &MEASURES).expect("fits");
        assert_eq!(
            all(other.bytes()).err(),
            Some(RowsError::Arity {
                expected: (2, 2),
                found: (1, 2)
            })
        );
        let renamed = Encoder::new(&DIMS, &["capital", "taxes"]).expect("fits");
        assert_eq!(
            all(renamed.bytes()).err(),
            Some(RowsError::Name { index: 3 })
        );
        let swapped = Encoder::new(&["industry", "district"], &MEASURES).expect("fits");
        assert_eq!(
            all(swapped.bytes()).err(),
            Some(RowsError::Name { index: 0 })
        );
    }

    #[test]
    fn a_header_read_as_it_comes_gives_its_names_and_the_same_rows() {
        let bytes = sample().bytes().to_vec();
        let (dims, measures, rows) = parse_named(&bytes).expect("parses");
        assert_eq!((dims, measures), (DIMS.to_vec(), MEASURES.to_vec()));
        let rows: Vec<Row<'_>> = rows.collect::<Result<_, _>>().expect("rows");
        let want = all(&bytes).expect("rows");
        assert_eq!(rows.len(), want.len());
        let bits = |m: &[Option<f64>]| m.iter().map(|v| v.map(f64::to_bits)).collect::<Vec<_>>();
        for (got, want) in rows.iter().zip(&want) {
            assert_eq!(got.dimensions, want.dimensions);
            assert_eq!(bits(&got.measures), bits(&want.measures));
        }
        for cut in 0..bytes.len() {
            let read =
                parse_named(&bytes[..cut]).and_then(|(_, _, r)| r.collect::<Result<Vec<_>, _>>());
            assert!(read.is_err(), "cut at {cut} accepted");
        }
        let mut bad_name = bytes.clone();
        bad_name[10] = 0xff;
        assert_eq!(
            parse_named(&bad_name).err(),
            Some(RowsError::Name { index: 0 })
        );
    }

    #[test]
    fn every_cut_of_a_valid_chunk_is_refused_and_nothing_may_follow_it() {
        let bytes = sample().bytes().to_vec();
        for cut in 0..bytes.len() {
            assert!(all(&bytes[..cut]).is_err(), "cut at {cut} accepted");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(all(&longer).err(), Some(RowsError::Trailing));
    }

    #[test]
    fn lying_counts_lengths_tags_and_text_are_refused() {
        let header = Encoder::new(&DIMS, &MEASURES)
            .expect("fits")
            .bytes()
            .to_vec();
        let count_at = header.len() - 4;
        // A row count far beyond the bytes: refused before any row is read.
        let mut huge = header.clone();
        huge[count_at..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(all(&huge).err(), Some(RowsError::RowCount));
        // One row whose first value claims 2 GiB.
        let mut long = header.clone();
        long[count_at..].copy_from_slice(&1u32.to_le_bytes());
        long.extend_from_slice(&0x8000_0000u32.to_le_bytes());
        long.extend_from_slice(&[0; 16]);
        assert_eq!(all(&long).err(), Some(RowsError::Truncated));
        // Invalid UTF-8 and a bad tag, each in a row of the right length.
        let row = |first: &[u8], tag: u8| {
            let mut b = header.clone();
            b[count_at..].copy_from_slice(&1u32.to_le_bytes());
            b.extend_from_slice(&(first.len() as u32).to_le_bytes());
            b.extend_from_slice(first);
            b.extend_from_slice(&NULL.to_le_bytes());
            b.push(tag);
            b.extend_from_slice(&1.0f64.to_le_bytes());
            b.push(0);
            b
        };
        assert!(all(&row(b"ok", 1)).is_ok());
        assert_eq!(
            all(&row(&[0xff, 0xfe], 1)).err(),
            Some(RowsError::Utf8 { row: 0 })
        );
        assert_eq!(all(&row(b"ok", 2)).err(), Some(RowsError::Tag { row: 0 }));
    }
}
