//! The catalogue of error codes. Each code is explained, with a bad and a good
//! example, in `docs/diagnostics.md`; `dlc explain CODE` prints that section.

/// A stable error code. The numbering groups codes by stage:
/// E00xx syntax, E01xx names, E02xx calls and arguments, E03xx shapes and
/// dtypes, E04xx data, E05xx training settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    /// The parser met something it did not expect.
    Syntax,
    /// A string literal has no closing quote.
    UnterminatedString,
    /// A number literal is malformed or out of range.
    BadNumber,
    /// A name is used but never defined.
    UnknownName,
    /// A name is defined twice in the same scope.
    Duplicate,
    /// A call names a function or layer that does not exist.
    UnknownFunction,
    /// A model block calls itself, directly or through others.
    Recursion,
    /// Too many or too few positional arguments.
    ArgCount,
    /// A named argument the callee does not take.
    UnknownArgument,
    /// An argument has the wrong kind (tensor, int, float, string, name).
    ArgType,
    /// A required argument is missing.
    MissingArgument,
    /// An argument value is out of range (a negative size, a rate above 1).
    BadValue,
    /// Two shapes that must agree do not.
    ShapeMismatch,
    /// Two dtypes that must agree do not, or an op got a dtype it cannot take.
    DTypeMismatch,
    /// A tensor has the wrong number of dimensions.
    RankMismatch,
    /// A tensor would not fit in memory.
    TooLarge,
    /// A dimension is not a positive integer, a model parameter or `N`.
    BadDim,
    /// A data file is missing or unreadable.
    DataNotFound,
    /// A data file is truncated or malformed.
    DataMalformed,
    /// A field or split that a data set does not have.
    UnknownField,
    /// A model input has no matching data-set field.
    UnboundInput,
    /// A training setting is missing (a loss, an optimizer).
    MissingSetting,
    /// A training setting is given twice.
    DuplicateSetting,
    /// A hyperparameter is invalid (a negative learning rate, a zero batch).
    BadHyperparameter,
    /// A model has no output.
    NoOutput,
    /// A loss is not a scalar-producing loss expression.
    BadLoss,
}

/// Every code, in catalogue order.
pub const CODES: &[Code] = &[
    Code::Syntax,
    Code::UnterminatedString,
    Code::BadNumber,
    Code::UnknownName,
    Code::Duplicate,
    Code::UnknownFunction,
    Code::Recursion,
    Code::ArgCount,
    Code::UnknownArgument,
    Code::ArgType,
    Code::MissingArgument,
    Code::BadValue,
    Code::ShapeMismatch,
    Code::DTypeMismatch,
    Code::RankMismatch,
    Code::TooLarge,
    Code::BadDim,
    Code::DataNotFound,
    Code::DataMalformed,
    Code::UnknownField,
    Code::UnboundInput,
    Code::MissingSetting,
    Code::DuplicateSetting,
    Code::BadHyperparameter,
    Code::NoOutput,
    Code::BadLoss,
];

impl Code {
    /// The printed form, `E0001`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Syntax => "E0001",
            Code::UnterminatedString => "E0002",
            Code::BadNumber => "E0003",
            Code::UnknownName => "E0101",
            Code::Duplicate => "E0102",
            Code::UnknownFunction => "E0103",
            Code::Recursion => "E0104",
            Code::ArgCount => "E0201",
            Code::UnknownArgument => "E0202",
            Code::ArgType => "E0203",
            Code::MissingArgument => "E0204",
            Code::BadValue => "E0205",
            Code::ShapeMismatch => "E0301",
            Code::DTypeMismatch => "E0302",
            Code::RankMismatch => "E0303",
            Code::TooLarge => "E0304",
            Code::BadDim => "E0305",
            Code::DataNotFound => "E0401",
            Code::DataMalformed => "E0402",
            Code::UnknownField => "E0403",
            Code::UnboundInput => "E0404",
            Code::MissingSetting => "E0501",
            Code::DuplicateSetting => "E0502",
            Code::BadHyperparameter => "E0503",
            Code::NoOutput => "E0504",
            Code::BadLoss => "E0505",
        }
    }

    pub fn parse(s: &str) -> Option<Code> {
        let s = s.trim().to_ascii_uppercase();
        CODES.iter().copied().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

const CATALOGUE: &str = include_str!("../../docs/diagnostics.md");

/// The section of `docs/diagnostics.md` for `code`: its heading down to the
/// next code's heading. `None` when the catalogue has no entry.
pub fn explain(code: Code) -> Option<&'static str> {
    let heading = format!("## {}", code.as_str());
    let start = CATALOGUE.find(&heading)?;
    let rest = &CATALOGUE[start..];
    let end = rest[heading.len()..]
        .find("\n## ")
        .map(|i| i + heading.len() + 1)
        .unwrap_or(rest.len());
    Some(rest[..end].trim_end())
}
