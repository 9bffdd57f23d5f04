//! NumPy's `.npy` files (format versions 1, 2 and 3): the magic `\x93NUMPY`,
//! a version, a header length, then a Python dict literal such as
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (100, 3), }` and the
//! raw little-endian values. Only C order is read; a Fortran-order file is
//! refused with a hint rather than silently transposed.

use std::path::Path;

use crate::sema::data::DataError;

use super::field::{RawArray, Values};
use super::read::Source;

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// The element types dlc reads, by their `descr`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Elem {
    F4,
    F8,
    I4,
    I8,
    U1,
    B1,
}

impl Elem {
    fn from_descr(d: &str) -> Option<Elem> {
        Some(match d {
            "<f4" => Elem::F4,
            "<f8" => Elem::F8,
            "<i4" => Elem::I4,
            "<i8" => Elem::I8,
            "|u1" | "<u1" => Elem::U1,
            "|b1" => Elem::B1,
            _ => return None,
        })
    }
    fn size(self) -> usize {
        match self {
            Elem::U1 | Elem::B1 => 1,
            Elem::F4 | Elem::I4 => 4,
            Elem::F8 | Elem::I8 => 8,
        }
    }
    pub fn is_integer(self) -> bool {
        !matches!(self, Elem::F4 | Elem::F8)
    }
}

pub(crate) struct Header {
    pub elem: Elem,
    pub shape: Vec<usize>,
}

fn read_header(src: &mut Source) -> Result<Header, DataError> {
    let mut pre = [0u8; 8];
    if !src.read_exact_or_eof(&mut pre)? || &pre[..6] != MAGIC {
        return Err(src.malformed("not an NPY file: it does not start with \\x93NUMPY"));
    }
    let (major, minor) = (pre[6], pre[7]);
    let len = match major {
        1 => {
            let mut b = [0u8; 2];
            if !src.read_exact_or_eof(&mut b)? {
                return Err(src.malformed("truncated NPY header"));
            }
            usize::from(u16::from_le_bytes(b))
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            if !src.read_exact_or_eof(&mut b)? {
                return Err(src.malformed("truncated NPY header"));
            }
            u32::from_le_bytes(b) as usize
        }
        _ => {
            return Err(src.malformed(format!(
                "unsupported NPY format version {major}.{minor} (dlc reads 1.0, 2.0 and 3.0)"
            )))
        }
    };
    if len > 1 << 20 {
        return Err(src.malformed(format!("NPY header of {len} bytes is implausibly long")));
    }
    let mut text = vec![0u8; len];
    if !src.read_exact_or_eof(&mut text)? {
        return Err(src.malformed(format!("truncated NPY header: expected {len} bytes")));
    }
    let text = String::from_utf8(text).map_err(|_| src.malformed("NPY header is not text"))?;
    parse_header(&text).map_err(|why| src.malformed(why))
}

/// The three keys of the header dict; anything else is an error that quotes
/// the header, since it is short and the clearest evidence.
fn parse_header(text: &str) -> Result<Header, String> {
    let bad = |what: &str| format!("bad NPY header ({what}): {}", text.trim_end());
    let dict = Dict::parse(text).map_err(|w| bad(&w))?;
    let mut descr = None;
    let mut fortran = None;
    let mut shape = None;
    for (key, value) in dict.0 {
        match (key.as_str(), value) {
            ("descr", Value::Str(s)) => descr = Some(s),
            ("fortran_order", Value::Bool(b)) => fortran = Some(b),
            ("shape", Value::Tuple(t)) => shape = Some(t),
            (k, _) => return Err(bad(&format!("unexpected value for `{k}`"))),
        }
    }
    let descr = descr.ok_or_else(|| bad("no `descr`"))?;
    let fortran = fortran.ok_or_else(|| bad("no `fortran_order`"))?;
    let shape = shape.ok_or_else(|| bad("no `shape`"))?;
    if fortran {
        return Err(
            "the array is stored in Fortran order, which dlc does not read; \
             save it with np.save(path, np.ascontiguousarray(a))"
                .to_string(),
        );
    }
    let elem = Elem::from_descr(&descr).ok_or_else(|| {
        if descr.starts_with('>') {
            format!("big-endian data ('{descr}') is not supported; convert with a.astype(a.dtype.newbyteorder('<'))")
        } else {
            format!("element type '{descr}' is not supported (dlc reads <f4 <f8 <i4 <i8 |u1 |b1)")
        }
    })?;
    Ok(Header { elem, shape })
}

/// A header dict: `'key': value` pairs, in order.
struct Dict(Vec<(String, Value)>);

enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
}

impl Dict {
    fn parse(text: &str) -> Result<Dict, String> {
        let mut p = Cursor {
            s: text.as_bytes(),
            i: 0,
        };
        p.expect(b'{')?;
        let mut pairs = Vec::new();
        loop {
            p.skip_ws();
            if p.eat(b'}') {
                break;
            }
            let key = p.string()?;
            p.expect(b':')?;
            p.skip_ws();
            let value = match p.peek() {
                Some(b'\'') | Some(b'"') => Value::Str(p.string()?),
                Some(b'(') => Value::Tuple(p.tuple()?),
                _ if p.eat_word("True") => Value::Bool(true),
                _ if p.eat_word("False") => Value::Bool(false),
                _ => return Err(format!("cannot read the value of `{key}`")),
            };
            pairs.push((key, value));
            p.skip_ws();
            if !p.eat(b',') {
                p.expect(b'}')?;
                break;
            }
        }
        Ok(Dict(pairs))
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected `{}`", c as char))
        }
    }
    fn eat_word(&mut self, w: &str) -> bool {
        if self.s[self.i..].starts_with(w.as_bytes()) {
            self.i += w.len();
            true
        } else {
            false
        }
    }
    fn string(&mut self) -> Result<String, String> {
        self.skip_ws();
        let q = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => return Err("expected a quoted key".to_string()),
        };
        self.i += 1;
        let start = self.i;
        while self.peek().is_some_and(|c| c != q) {
            self.i += 1;
        }
        if self.peek().is_none() {
            return Err("unterminated string".to_string());
        }
        let s = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        self.i += 1;
        Ok(s)
    }
    fn tuple(&mut self) -> Result<Vec<usize>, String> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            if self.eat(b')') {
                return Ok(dims);
            }
            self.skip_ws();
            let start = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.i += 1;
            }
            let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
            // Python 2 era files write longs as `3L`.
            self.eat(b'L');
            let d = digits
                .parse()
                .map_err(|_| "shape is not a tuple of sizes".to_string())?;
            dims.push(d);
            if !self.eat(b',') {
                self.expect(b')')?;
                return Ok(dims);
            }
        }
    }
}

fn check_len(src: &Source, h: &Header, found: u64) -> Result<(), DataError> {
    let expected = h
        .shape
        .iter()
        .try_fold(h.elem.size(), |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| src.malformed(format!("NPY shape {:?} is too large", h.shape)))?;
    if found != expected as u64 {
        return Err(src.malformed(format!(
            "expected {expected} bytes of array data, found {found}"
        )));
    }
    Ok(())
}

/// The header of `path`, after checking the payload length matches it.
pub(crate) fn header(path: &Path, shown: &str) -> Result<Header, DataError> {
    let mut src = Source::open(path, shown)?;
    let h = read_header(&mut src)?;
    let found = src.count_rest()?;
    check_len(&src, &h, found)?;
    Ok(h)
}

/// The whole array in `path`.
pub(crate) fn load(path: &Path, shown: &str) -> Result<RawArray, DataError> {
    let mut src = Source::open(path, shown)?;
    let h = read_header(&mut src)?;
    let bytes = src.read_rest()?;
    check_len(&src, &h, bytes.len() as u64)?;
    let values = match h.elem {
        Elem::U1 => Values::U8(bytes),
        Elem::B1 => Values::Bool(bytes.iter().map(|&b| b != 0).collect()),
        Elem::I4 => Values::I32(
            bytes
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        Elem::F4 => Values::F32(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        Elem::I8 => Values::I64(
            bytes
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("internal: 8-byte chunk")))
                .collect(),
        ),
        Elem::F8 => Values::F64(
            bytes
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("internal: 8-byte chunk")))
                .collect(),
        ),
    };
    Ok(RawArray {
        shape: h.shape,
        values,
    })
}
