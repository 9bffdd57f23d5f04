//! Opening data files: one place that turns a path into bytes, gunzips a
//! file that starts with the gzip magic (whatever its name), and phrases
//! every IO failure as "what, where": the path as the program wrote it and
//! the operating system's reason, without Rust's `(os error 2)` noise.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::sema::data::{DataError, DataErrorKind};

/// The first two bytes of every gzip stream (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A data file opened for reading, decompressing on the fly when gzipped.
pub(crate) struct Source {
    reader: Box<dyn Read>,
    gzipped: bool,
    /// The path as the program wrote it, for messages.
    pub shown: String,
}

impl Source {
    /// Opens `path`; messages name it as `shown`. A missing, unreadable or
    /// non-regular file is `NotFound`.
    pub fn open(path: &Path, shown: &str) -> Result<Source, DataError> {
        let cannot_open = |why: String| DataError {
            kind: DataErrorKind::NotFound,
            message: format!("cannot open {shown}: {why}"),
        };
        let file = File::open(path).map_err(|e| cannot_open(io_reason(&e)))?;
        let meta = file.metadata().map_err(|e| cannot_open(io_reason(&e)))?;
        if meta.is_dir() {
            return Err(cannot_open("it is a directory".into()));
        }
        let mut buf = BufReader::with_capacity(1 << 16, file);
        let head = buf.fill_buf().map_err(|e| cannot_open(io_reason(&e)))?;
        let gzipped = head.starts_with(&GZIP_MAGIC);
        let reader: Box<dyn Read> = if gzipped {
            Box::new(MultiGzDecoder::new(buf))
        } else {
            Box::new(buf)
        };
        Ok(Source {
            reader,
            gzipped,
            shown: shown.to_string(),
        })
    }

    /// Reads exactly `buf.len()` bytes; `Ok(false)` when the data ends
    /// first (a short file, not a broken one).
    pub fn read_exact_or_eof(&mut self, buf: &mut [u8]) -> Result<bool, DataError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.reader.read(&mut buf[filled..]) {
                Ok(0) => return Ok(false),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.read_error(&e)),
            }
        }
        Ok(true)
    }

    /// Everything not read yet.
    pub fn read_rest(&mut self) -> Result<Vec<u8>, DataError> {
        let mut out = Vec::new();
        self.reader
            .read_to_end(&mut out)
            .map_err(|e| self.read_error(&e))?;
        Ok(out)
    }

    /// How many bytes are left, reading (and decompressing) but not keeping
    /// them: lets the catalog check a payload's length cheaply.
    pub fn count_rest(&mut self) -> Result<u64, DataError> {
        io::copy(&mut self.reader, &mut io::sink()).map_err(|e| self.read_error(&e))
    }

    /// A malformed-file error about this file.
    pub fn malformed(&self, what: impl std::fmt::Display) -> DataError {
        malformed(format!("{}: {what}", self.shown))
    }

    fn read_error(&self, e: &io::Error) -> DataError {
        if self.gzipped {
            // flate2 reports a cut-off stream as an unexpected end of file.
            let why = match e.kind() {
                io::ErrorKind::UnexpectedEof => "the compressed data ends early".to_string(),
                _ => io_reason(e),
            };
            self.malformed(format!("truncated or corrupt gzip data ({why})"))
        } else {
            malformed(format!("cannot read {}: {}", self.shown, io_reason(e)))
        }
    }
}

/// Reads a whole file (gunzipped when needed).
pub(crate) fn read_all(path: &Path, shown: &str) -> Result<Vec<u8>, DataError> {
    Source::open(path, shown)?.read_rest()
}

pub(crate) fn malformed(message: String) -> DataError {
    DataError {
        kind: DataErrorKind::Malformed,
        message,
    }
}

/// The operating system's reason alone: "No such file or directory", not
/// "No such file or directory (os error 2)".
pub(crate) fn io_reason(e: &io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s,
    }
}
