//! Data-set specifications as the checker resolves them: where each field
//! comes from and which transforms run, in order. `runtime` loads them; the
//! checker only asks a [`DataCatalog`] for the fields' types, so the compiler
//! core itself never opens a file.

use crate::ir::DType;

/// One file format and how to read it.
#[derive(Clone, Debug, PartialEq)]
pub enum FileFormat {
    /// Text rows. `delimiter: None` accepts commas or runs of whitespace;
    /// `skip_rows` drops header lines.
    Csv {
        delimiter: Option<char>,
        skip_rows: usize,
    },
    /// MNIST's IDX format (u8/i8/i16/i32/f32/f64 payloads).
    Idx,
    /// NumPy `.npy` (little-endian f4/f8/i4/i8/u1/b1, C order).
    Npy,
    /// UTF-8 text cut into tokens: one sample per token, an `i32` id into
    /// the vocabulary built from the file (see `runtime::data::Vocabulary`
    /// for the exact rules).
    Text(TextOptions),
}

/// How `text(path, level:, lowercase:, min_count:)` tokenizes a file and
/// builds its vocabulary.
#[derive(Clone, Debug, PartialEq)]
pub struct TextOptions {
    pub level: TextLevel,
    /// Lowercase the whole text before cutting it into tokens.
    pub lowercase: bool,
    /// Tokens seen fewer times become `<unk>` (id 0); with 1, every token
    /// is kept and there is no `<unk>`.
    pub min_count: usize,
}

/// What one token is: a character, or a word (whitespace separates words,
/// and every punctuation mark is a token of its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextLevel {
    Char,
    Word,
}

impl TextLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            TextLevel::Char => "char",
            TextLevel::Word => "word",
        }
    }
}

/// Which columns of a CSV file a field takes. Indices may be negative, from
/// the end (`-1` is the last column).
#[derive(Clone, Debug, PartialEq)]
pub enum Columns {
    All,
    AllBut(i64),
    Only(i64),
}

/// Where one field's values come from. Paths are as written in the program,
/// relative to the directory the program is run from. Any file may be gzipped
/// (detected by its magic bytes, not its name).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldSource {
    pub path: String,
    pub format: FileFormat,
    pub columns: Columns,
    /// The dtype the field is converted to (`i32` labels are checked to be
    /// whole numbers).
    pub dtype: DType,
}

/// A field of a data set: a name, a dtype and the shape of one sample
/// (`x: f32[64]`, `label: i32[]`).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldSchema {
    pub name: String,
    pub dtype: DType,
    pub sample_shape: Vec<usize>,
    pub samples: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Transform {
    /// Multiply every value of `field` by `factor`.
    Scale { field: String, factor: f64 },
    /// Zero mean and unit variance per feature; statistics come from the
    /// first split when applied after a split, else from the whole set.
    Standardize { field: String },
    /// Per-feature rescale to [0, 1], statistics as for `Standardize`.
    MinMax { field: String },
    /// A seeded permutation of the samples.
    Shuffle { seed: u64 },
    /// Keep the first `n` samples.
    Take { n: usize },
    /// Named parts by fractions (summing to at most 1), after a seeded
    /// shuffle; without it (`shuffle: false`) the parts keep the samples'
    /// order, so a forecast's test part holds the latest windows.
    Split {
        parts: Vec<(String, f64)>,
        seed: u64,
        shuffle: bool,
    },
    /// A token stream becomes next-token samples: `x` is tokens
    /// `t..t+length`, `y` is tokens `t+1..t+length+1`, for `t = 0, step,
    /// 2*step, ...` while the window fits.
    Sequences { length: usize, step: usize },
    /// A token stream becomes skip-gram samples (word2vec with negative
    /// sampling): for every token and every other token at most `window`
    /// away, `center` is the token, `context` the neighbour followed by
    /// `negatives` tokens drawn from the unigram distribution raised to the
    /// 3/4 power, and `label` is 1 then `negatives` zeros.
    SkipGrams {
        window: usize,
        negatives: usize,
        seed: u64,
    },
    /// A series (one sample a time step) becomes forecasting samples: `x` is
    /// `length` consecutive steps, `y` the step `horizon` after the last of
    /// them; windows start every `step` steps.
    Windows {
        field: String,
        length: usize,
        horizon: usize,
        step: usize,
    },
}

impl Transform {
    /// Whether the transform reads its samples as one ordered stream (a
    /// token stream, a series) and replaces the fields: it must come before
    /// anything that reorders or splits the samples.
    pub fn reads_a_stream(&self) -> bool {
        matches!(
            self,
            Transform::Sequences { .. } | Transform::SkipGrams { .. } | Transform::Windows { .. }
        )
    }
}

/// The name of a `text(...)` source's one field: the token ids, one per sample.
pub const TOKEN_FIELD: &str = "token";

/// How many windows of `span` consecutive steps, starting every `step`,
/// fit in `n` steps.
pub fn window_count(n: usize, span: usize, step: usize) -> usize {
    if n < span || step == 0 {
        0
    } else {
        (n - span) / step + 1
    }
}

/// How many skip-gram pairs `n` tokens give: every ordered pair of distinct
/// positions at most `window` apart.
pub fn skipgram_count(n: usize, window: usize) -> usize {
    (1..=window.min(n.saturating_sub(1)))
        .map(|d| 2 * (n - d))
        .sum()
}

/// A data set as declared: its fields' sources and its transforms.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetSpec {
    pub name: String,
    pub sources: Vec<(String, FieldSource)>,
    pub transforms: Vec<Transform>,
    /// The fields of one sample after every transform: as the catalog
    /// reported them, unless `sequences`, `skipgrams` or `windows` replaced
    /// them. `samples` counts before any split (after `take`).
    pub fields: Vec<FieldSchema>,
    /// The vocabulary size of a `text(...)` source (`<unk>` included), as
    /// the catalog reported it; `hamlet.vocab` in a program.
    pub vocab: Option<usize>,
    /// That vocabulary's tokens in id order, so the checker can tell a
    /// word a `nearest` or `sample` statement names is in it (empty when
    /// there is no text source).
    pub vocab_tokens: Vec<String>,
}

impl DatasetSpec {
    /// Names of the split parts (`train`, `test`), empty when never split.
    pub fn parts(&self) -> Vec<&str> {
        self.transforms
            .iter()
            .rev()
            .find_map(|t| match t {
                Transform::Split { parts, .. } => {
                    Some(parts.iter().map(|(n, _)| n.as_str()).collect())
                }
                _ => None,
            })
            .unwrap_or_default()
    }
}

/// Answers what fields a file holds, without loading all of it. The CLI
/// passes the runtime's file-backed catalog; tests may pass their own.
pub trait DataCatalog {
    /// The schema of the field that `source` describes, named `name`, or a
    /// message saying what is wrong with the file (missing, truncated, ...).
    fn field(&self, name: &str, source: &FieldSource) -> Result<FieldSchema, DataError>;

    /// The token field of a text source (`source.format` is
    /// [`FileFormat::Text`]) and its vocabulary size. Catalogs that serve
    /// no text (test catalogs of numeric fields) keep this default, which
    /// refuses.
    fn text(&self, name: &str, source: &FieldSource) -> Result<TextSchema, DataError> {
        let _ = name;
        Err(DataError {
            kind: DataErrorKind::Malformed,
            message: format!("{}: this catalog does not read text files", source.path),
        })
    }
}

/// What the catalog reports about a text file: the token stream as a field
/// (one `i32` sample per token) and how many distinct ids it uses.
#[derive(Clone, Debug, PartialEq)]
pub struct TextSchema {
    pub field: FieldSchema,
    pub vocab: usize,
    /// The tokens in id order (`vocab` of them).
    pub tokens: Vec<String>,
}

/// Why a data file could not be used; `kind` picks the diagnostic code.
#[derive(Clone, Debug, PartialEq)]
pub struct DataError {
    pub kind: DataErrorKind,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataErrorKind {
    NotFound,
    Malformed,
}

impl std::fmt::Display for DataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DataError {}
