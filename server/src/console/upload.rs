//! The console's file uploads: `multipart/form-data` bodies, parsed here because a form with a
//! file input is the one way a browser uploads without JavaScript.
//!
//! Only what the console's own forms send is accepted: parts with a `Content-Disposition:
//! form-data; name="..."` header (and, for a file, `filename="..."`), at most [`MAX_PARTS`] of
//! them. Anything else is an error naming the problem; the body's size is bounded by the route.

use memchr::memmem;

/// The most parts a console form has.
pub(crate) const MAX_PARTS: usize = 16;

/// One field of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    /// The field's name.
    pub name: String,
    /// The file's name, for a file input.
    pub filename: Option<String>,
    /// The value or the file's bytes.
    pub data: Vec<u8>,
}

/// The parts of a form.
#[derive(Debug, Default)]
pub(crate) struct Fields(Vec<Part>);

impl Fields {
    /// A text field's value ("" when absent).
    pub(crate) fn text(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|p| p.name == name)
            .map(|p| String::from_utf8_lossy(&p.data).into_owned())
            .unwrap_or_default()
    }

    /// A file field's bytes, `None` when absent or empty (no file chosen).
    pub(crate) fn file(&self, name: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|p| p.name == name && p.filename.is_some() && !p.data.is_empty())
            .map(|p| p.data.as_slice())
    }
}

/// Parses a body whose `Content-Type` is `content_type`.
pub(crate) fn parse(content_type: &str, body: &[u8]) -> Result<Fields, String> {
    let boundary = boundary(content_type)?;
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let finder = memmem::Finder::new(delimiter);
    let Some(first) = finder.find(body) else {
        return Err("the form has no part boundary".into());
    };
    let mut rest = &body[first + delimiter.len()..];
    let mut parts = Vec::new();
    // Each part ends at CRLF followed by the delimiter.
    let mut ending = Vec::with_capacity(delimiter.len() + 2);
    ending.extend_from_slice(b"\r\n");
    ending.extend_from_slice(delimiter);
    let end_finder = memmem::Finder::new(&ending);
    loop {
        if rest.starts_with(b"--") {
            return Ok(Fields(parts));
        }
        let Some(after_crlf) = rest.strip_prefix(b"\r\n") else {
            return Err("a part boundary is not followed by a line break".into());
        };
        let Some(header_end) = memmem::find(after_crlf, b"\r\n\r\n") else {
            return Err("a part has no end of headers".into());
        };
        let headers = std::str::from_utf8(&after_crlf[..header_end])
            .map_err(|_| "a part's headers are not UTF-8".to_string())?;
        let content = &after_crlf[header_end + 4..];
        let Some(end) = end_finder.find(content) else {
            return Err("the form ends inside a part".into());
        };
        if parts.len() == MAX_PARTS {
            return Err(format!("the form has more than {MAX_PARTS} parts"));
        }
        let (name, filename) = disposition(headers)?;
        parts.push(Part {
            name,
            filename,
            data: content[..end].to_vec(),
        });
        rest = &content[end + ending.len()..];
    }
}

/// The boundary parameter of a `multipart/form-data` content type.
fn boundary(content_type: &str) -> Result<String, String> {
    let mut pieces = content_type.split(';');
    let kind = pieces.next().unwrap_or_default().trim();
    if !kind.eq_ignore_ascii_case("multipart/form-data") {
        return Err(format!("expected a multipart/form-data form, not '{kind}'"));
    }
    for piece in pieces {
        if let Some((key, value)) = piece.split_once('=') {
            if key.trim().eq_ignore_ascii_case("boundary") {
                let value = value.trim().trim_matches('"');
                // RFC 2046: 1 to 70 characters.
                if !value.is_empty() && value.len() <= 70 {
                    return Ok(value.to_string());
                }
            }
        }
    }
    Err("the form's content type has no valid boundary".into())
}

/// The field name and file name of a part's `Content-Disposition`.
fn disposition(headers: &str) -> Result<(String, Option<String>), String> {
    for line in headers.split("\r\n") {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if !key.trim().eq_ignore_ascii_case("content-disposition") {
            continue;
        }
        let mut name = None;
        let mut filename = None;
        for param in value.split(';').skip(1) {
            if let Some((k, v)) = param.split_once('=') {
                let v = v.trim().trim_matches('"').to_string();
                match k.trim() {
                    "name" => name = Some(v),
                    "filename" => filename = Some(v),
                    _ => {}
                }
            }
        }
        return name
            .map(|n| (n, filename))
            .ok_or_else(|| "a part has no field name".to_string());
    }
    Err("a part has no Content-Disposition".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPE: &str = "multipart/form-data; boundary=----x1";

    fn body(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, file, data) in parts {
            out.extend_from_slice(b"------x1\r\n");
            match file {
                Some(f) => out.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/wasm\r\n\r\n").as_bytes(),
                ),
                None => out.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"------x1--\r\n");
        out
    }

    #[test]
    fn fields_and_files_come_out_as_sent_even_with_boundary_like_bytes_inside() {
        let wasm: &[u8] = b"\0asm\x01\0\0\0\r\n----x\r\n--";
        let fields = parse(
            TYPE,
            &body(&[("csrf", None, b"tok"), ("module", Some("m.wasm"), wasm)]),
        )
        .unwrap();
        assert_eq!(fields.text("csrf"), "tok");
        assert_eq!(fields.file("module"), Some(wasm));
        assert_eq!(fields.text("missing"), "");
        assert_eq!(fields.file("csrf"), None);
    }

    #[test]
    fn broken_forms_are_errors_that_name_the_problem() {
        assert!(parse("application/json", b"{}")
            .unwrap_err()
            .contains("multipart"));
        assert!(parse("multipart/form-data", b"")
            .unwrap_err()
            .contains("boundary"));
        assert!(parse(TYPE, b"nothing here")
            .unwrap_err()
            .contains("boundary"));
        let cut = &body(&[("a", None, b"1")])[..20];
        assert!(parse(TYPE, cut).is_err());
        let many: Vec<(&str, Option<&str>, &[u8])> =
            (0..=MAX_PARTS).map(|_| ("a", None, &b"1"[..])).collect();
        assert!(parse(TYPE, &body(&many)).unwrap_err().contains("more than"));
        let no_name = b"------x1\r\nContent-Disposition: form-data\r\n\r\nv\r\n------x1--";
        assert!(parse(TYPE, no_name).unwrap_err().contains("field name"));
    }
}
