//! IDX, the format MNIST ships in: two zero bytes, an element-type code, the
//! number of dimensions, each dimension as a big-endian u32, then the values
//! big-endian. The header alone gives a field's shape, so `dlc check` need
//! not decode 47 MB of pixels; it only counts them, to catch a truncated
//! download before training starts.

use std::path::Path;

use crate::sema::data::DataError;

use super::field::{RawArray, Values};
use super::read::Source;

/// An IDX element type, by its code in the third magic byte.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Elem {
    U8,
    I8,
    I16,
    I32,
    F32,
    F64,
}

impl Elem {
    fn from_code(code: u8) -> Option<Elem> {
        Some(match code {
            0x08 => Elem::U8,
            0x09 => Elem::I8,
            0x0B => Elem::I16,
            0x0C => Elem::I32,
            0x0D => Elem::F32,
            0x0E => Elem::F64,
            _ => return None,
        })
    }
    fn size(self) -> usize {
        match self {
            Elem::U8 | Elem::I8 => 1,
            Elem::I16 => 2,
            Elem::I32 | Elem::F32 => 4,
            Elem::F64 => 8,
        }
    }
    /// Whether every value is a whole number (an `i32` field needs no check).
    pub fn is_integer(self) -> bool {
        !matches!(self, Elem::F32 | Elem::F64)
    }
}

pub(crate) struct Header {
    pub elem: Elem,
    pub dims: Vec<usize>,
}

impl Header {
    /// Payload length in bytes, or `None` on overflow.
    fn payload_len(&self) -> Option<usize> {
        self.dims
            .iter()
            .try_fold(self.elem.size(), |acc, &d| acc.checked_mul(d))
    }
}

fn read_header(src: &mut Source) -> Result<Header, DataError> {
    let mut magic = [0u8; 4];
    if !src.read_exact_or_eof(&mut magic)? {
        return Err(src.malformed("not an IDX file: shorter than its 4-byte magic number"));
    }
    if magic[0] != 0 || magic[1] != 0 {
        return Err(src.malformed(format!(
            "not an IDX file: it starts with 0x{:02x} 0x{:02x}, not 0x00 0x00",
            magic[0], magic[1]
        )));
    }
    let elem = Elem::from_code(magic[2]).ok_or_else(|| {
        src.malformed(format!(
            "unknown IDX element type 0x{:02x} (expected 0x08, 0x09, 0x0b, 0x0c, 0x0d or 0x0e)",
            magic[2]
        ))
    })?;
    let ndims = usize::from(magic[3]);
    if ndims == 0 {
        return Err(src.malformed("IDX file with zero dimensions"));
    }
    let mut raw = vec![0u8; 4 * ndims];
    if !src.read_exact_or_eof(&mut raw)? {
        return Err(src.malformed(format!("truncated IDX header: expected {ndims} dimensions")));
    }
    let dims = raw
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    Ok(Header { elem, dims })
}

/// What kind of data a file of this rank holds, for the truncation message.
fn payload_noun(dims: &[usize]) -> &'static str {
    if dims.len() == 1 {
        "label data"
    } else {
        "pixel data"
    }
}

fn check_len(src: &Source, h: &Header, found: u64) -> Result<usize, DataError> {
    let expected = h
        .payload_len()
        .ok_or_else(|| src.malformed(format!("IDX dimensions {:?} are too large", h.dims)))?;
    if found != expected as u64 {
        return Err(src.malformed(format!(
            "expected {expected} bytes of {}, found {found}",
            payload_noun(&h.dims)
        )));
    }
    Ok(expected)
}

/// The header of `path`, after checking the payload has exactly the length
/// the header promises.
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
        Elem::U8 => Values::U8(bytes),
        Elem::I8 => Values::I8(bytes.iter().map(|&b| b as i8).collect()),
        Elem::I16 => Values::I16(
            bytes
                .chunks_exact(2)
                .map(|c| i16::from_be_bytes([c[0], c[1]]))
                .collect(),
        ),
        Elem::I32 => Values::I32(
            bytes
                .chunks_exact(4)
                .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        Elem::F32 => Values::F32(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        Elem::F64 => Values::F64(
            bytes
                .chunks_exact(8)
                .map(|c| f64::from_be_bytes(c.try_into().expect("internal: 8-byte chunk")))
                .collect(),
        ),
    };
    Ok(RawArray {
        shape: h.dims,
        values,
    })
}
