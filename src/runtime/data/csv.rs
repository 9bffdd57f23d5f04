//! Numeric text tables: one sample a line, cells separated by a delimiter
//! (or, by default, by a comma or by runs of whitespace, which covers both
//! `1,2,3` and scikit-learn's space-separated files). Every cell must be a
//! finite number and every row as long as the first; a mistake is reported
//! with its line (and column), because a ragged row is the usual way a
//! hand-edited CSV breaks.

use crate::sema::data::DataError;

use super::field::{RawArray, Values};
use super::read::malformed;

/// A parsed table: `rows × cols` values, row-major, and the 1-based file
/// line each row came from (for messages about its values later).
pub(crate) struct CsvTable {
    pub array: RawArray,
    pub lines: Vec<usize>,
}

/// Parses `bytes` (the file `shown`), skipping `skip_rows` header lines.
/// Empty lines may only trail the data.
pub(crate) fn parse(
    bytes: &[u8],
    shown: &str,
    delimiter: Option<char>,
    skip_rows: usize,
) -> Result<CsvTable, DataError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        malformed(format!(
            "{shown}: not a text file (invalid UTF-8 at byte {})",
            e.valid_up_to()
        ))
    })?;
    let mut values = Vec::new();
    let mut lines = Vec::new();
    let mut cols: Option<usize> = None;
    let mut first_blank: Option<usize> = None;
    for (i, line) in text.lines().enumerate().skip(skip_rows) {
        let lineno = i + 1;
        if line.trim().is_empty() {
            first_blank.get_or_insert(lineno);
            continue;
        }
        if let Some(blank) = first_blank {
            return Err(malformed(format!(
                "{shown}:{blank}: empty line inside the data (only trailing empty lines are allowed)"
            )));
        }
        let before = values.len();
        for (c, cell) in cells(line, delimiter).enumerate() {
            values.push(number(cell, shown, lineno, c + 1)?);
        }
        let found = values.len() - before;
        match cols {
            None => cols = Some(found),
            Some(expected) if expected != found => {
                return Err(malformed(format!(
                    "{shown}:{lineno}: expected {expected} columns, found {found}"
                )));
            }
            Some(_) => {}
        }
        lines.push(lineno);
    }
    let Some(cols) = cols else {
        let skipped = if skip_rows > 0 {
            format!(" after skipping {skip_rows} header rows")
        } else {
            String::new()
        };
        return Err(malformed(format!("{shown}: no data rows{skipped}")));
    };
    Ok(CsvTable {
        array: RawArray {
            shape: vec![lines.len(), cols],
            values: Values::F64(values),
        },
        lines,
    })
}

/// The cells of one line, trimmed and unquoted.
fn cells(line: &str, delimiter: Option<char>) -> Box<dyn Iterator<Item = &str> + '_> {
    match delimiter {
        Some(d) if d.is_whitespace() => {
            Box::new(line.split(d).filter(|c| !c.is_empty()).map(clean))
        }
        Some(d) => Box::new(line.split(d).map(clean)),
        None if line.contains(',') => Box::new(line.split(',').map(clean)),
        None => Box::new(line.split_whitespace().map(clean)),
    }
}

fn clean(c: &str) -> &str {
    let c = c.trim();
    c.strip_prefix('"')
        .and_then(|c| c.strip_suffix('"'))
        .unwrap_or(c)
}

fn number(cell: &str, shown: &str, line: usize, col: usize) -> Result<f64, DataError> {
    let at = format!("{shown}:{line}: column {col}");
    if cell.is_empty() {
        return Err(malformed(format!("{at} is empty")));
    }
    match cell.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(malformed(format!("{at}: `{cell}` is not a finite number"))),
        Err(_) => Err(malformed(format!("{at}: `{cell}` is not a number"))),
    }
}
