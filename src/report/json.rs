//! The report as JSON, written byte for byte as Python's `json.dumps` writes it
//! (`ensure_ascii`, its separators, its indentation), so the document reads the same as
//! when the binding went through Python's `json`.

use std::io;

use serde::Serialize;
use serde_json::ser::{Formatter, Serializer};

/// `json.dumps(value, indent=indent)`: compact with `", "` and `": "` when `indent` is
/// None, else one value a line indented by `indent` spaces.
pub fn to_python_json<T: Serialize + ?Sized>(
    value: &T,
    indent: Option<usize>,
) -> serde_json::Result<String> {
    let indent = indent.map(|width| " ".repeat(width).into_bytes());
    let formatter = PythonFormatter {
        indent: indent.as_deref(),
        level: 0,
        has_value: false,
    };
    let mut out = Vec::new();
    value.serialize(&mut Serializer::with_formatter(&mut out, formatter))?;
    Ok(String::from_utf8(out).expect("ASCII only"))
}

struct PythonFormatter<'a> {
    /// None: one line.
    indent: Option<&'a [u8]>,
    level: usize,
    has_value: bool,
}

impl PythonFormatter<'_> {
    fn separate<W: ?Sized + io::Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        match self.indent {
            None if !first => writer.write_all(b", "),
            None => Ok(()),
            Some(indent) => {
                writer.write_all(if first { b"\n" } else { b",\n" })?;
                (0..self.level).try_for_each(|_| writer.write_all(indent))
            }
        }
    }

    fn close<W: ?Sized + io::Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.level -= 1;
        if let (Some(indent), true) = (self.indent, self.has_value) {
            writer.write_all(b"\n")?;
            (0..self.level).try_for_each(|_| writer.write_all(indent))?;
        }
        writer.write_all(bracket)
    }
}

impl Formatter for PythonFormatter<'_> {
    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.level += 1;
        self.has_value = false;
        writer.write_all(b"[")
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"]")
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.separate(writer, first)
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.level += 1;
        self.has_value = false;
        writer.write_all(b"{")
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"}")
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.separate(writer, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    /// Floats as Python's `repr` writes them: the same shortest digits as serde_json's,
    /// but `1e-05` and `1e+16` where serde_json writes `1e-5` and `1e16`. (Non-finite
    /// values cannot occur: every float of a report is a duration.)
    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        writer.write_all(python_float(value).as_bytes())
    }

    /// Everything outside printable ASCII as `\uXXXX` (UTF-16, surrogate pairs), as
    /// `ensure_ascii` does. serde_json escapes quotes, backslashes and control characters
    /// itself, the way Python does (short escapes, else `\u00XX` in lower case).
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (at, c) in fragment.char_indices() {
            if (' '..='~').contains(&c) {
                continue;
            }
            writer.write_all(&fragment.as_bytes()[start..at])?;
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            start = at + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// `repr(value)` for a finite float.
fn python_float(value: f64) -> String {
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0.0"
        } else {
            "0.0"
        }
        .to_owned();
    }
    // Rust's `{:e}` writes the same shortest digits: `1.23e-5`.
    let scientific = format!("{:e}", value.abs());
    let (mantissa, exponent) = scientific.split_once('e').expect("an exponent");
    let exponent: i32 = exponent.parse().expect("an integer exponent");
    let digits = mantissa.replace('.', "");
    // Python's `decpt`: the value is 0.{digits} x 10^decpt.
    let decpt = exponent + 1;
    let sign = if value < 0.0 { "-" } else { "" };
    let n = digits.len() as i32;
    let text = if !(-4..16).contains(&exponent) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{first}{dot}e{sign}{:02}", exponent.abs())
    } else if decpt <= 0 {
        format!("0.{}{digits}", "0".repeat((-decpt) as usize))
    } else if decpt >= n {
        format!("{digits}{}.0", "0".repeat((decpt - n) as usize))
    } else {
        let (int, frac) = digits.split_at(decpt as usize);
        format!("{int}.{frac}")
    };
    format!("{sign}{text}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compact_uses_pythons_separators() {
        let value = json!({"a": [1, 2], "b": {}, "c": [], "d": null});
        assert_eq!(
            to_python_json(&value, None).unwrap(),
            r#"{"a": [1, 2], "b": {}, "c": [], "d": null}"#
        );
    }

    #[test]
    fn indented_like_json_dumps() {
        let value = json!({"a": [1, {"b": []}], "c": {}});
        assert_eq!(
            to_python_json(&value, Some(2)).unwrap(),
            "{\n  \"a\": [\n    1,\n    {\n      \"b\": []\n    }\n  ],\n  \"c\": {}\n}"
        );
    }

    #[test]
    fn escapes_like_ensure_ascii() {
        // json.dumps("é\u{7f}\"\n\u{1}😀") in Python.
        let text = "é\u{7f}\"\n\u{1}😀";
        assert_eq!(
            to_python_json(text, None).unwrap(),
            r#""\u00e9\u007f\"\n\u0001\ud83d\ude00""#
        );
    }

    #[test]
    fn floats_read_as_python_repr_writes_them() {
        // repr() of each, in Python.
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (123.0, "123.0"),
            (0.1, "0.1"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.0000123, "1.23e-05"),
            (1.5e-300, "1.5e-300"),
            (12.345678, "12.345678"),
            (9999999999999998.0, "9999999999999998.0"),
            (1e16, "1e+16"),
            (1.25e17, "1.25e+17"),
            (-2.5, "-2.5"),
            (0.30000000000000004, "0.30000000000000004"),
        ];
        for (value, python) in cases {
            assert_eq!(python_float(value), python, "{value:e}");
        }
    }
}
