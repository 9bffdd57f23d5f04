//! Text as a token stream: the one place that cuts a text file into tokens
//! and numbers them, so the checker's vocabulary size, the loaded ids, the
//! `vocab.json` written beside a checkpoint and the text decoded from a
//! model's samples all agree.
//!
//! The rules, exactly:
//! - The file is UTF-8 (gzipped or not). A leading byte-order mark is
//!   dropped and every `\r\n` becomes `\n`, so a Windows checkout of a file
//!   gives the same tokens. With `lowercase`, the whole text is then
//!   lowercased (Unicode `to_lowercase`).
//! - `level: char`: every character (Unicode scalar value) is a token,
//!   spaces and newlines included.
//! - `level: word`: whitespace (Unicode `White_Space`) separates chunks and
//!   is dropped. Inside a chunk, a word is a maximal run of letters and
//!   digits (Unicode alphanumeric); an apostrophe (`'` or `’`) with a letter
//!   or digit on both sides belongs to the word (`don't`, `o'er`,
//!   `Hamlet's`). Every other character is a token on its own: `Denmark.`
//!   is `Denmark` and `.`, `--` is `-` and `-`, `'Tis` is `'` and `Tis`.
//! - The vocabulary is sorted by descending count, ties by the token's text
//!   (code point order), and ids follow that order. With `min_count: 1`
//!   every token is kept and ids start at 0 with the most frequent token.
//!   With `min_count > 1`, id 0 is `<unk>` (always, even when no token is
//!   rare), tokens seen fewer than `min_count` times map to it, and its
//!   count is their total. A text cannot produce the token `<unk>` itself
//!   (at word level `<` and `>` are tokens of their own).

use std::collections::HashMap;
use std::path::Path;

use serde_json::{json, Value};

use crate::sema::data::{DataError, TextLevel, TextOptions};

use super::read::{io_reason, malformed, read_all};

/// The token that stands for every token below `min_count`.
pub const UNK: &str = "<unk>";

/// The format tag of `vocab.json`, checked when it is read back.
const FORMAT: &str = "dlc-vocab-1";

/// A text's tokens numbered: `tokens[id]` is the token with id `id`.
#[derive(Clone, Debug, PartialEq)]
pub struct Vocabulary {
    pub level: TextLevel,
    pub lowercase: bool,
    pub min_count: usize,
    /// Tokens in id order.
    pub tokens: Vec<String>,
    /// How often each token occurs in the text it was built from, in id
    /// order (`<unk>` counts every rare token).
    pub counts: Vec<usize>,
    index: HashMap<String, i32>,
}

impl Vocabulary {
    /// Builds the vocabulary of `text` and returns it with the text's ids.
    /// `shown` names the text in messages. Fails on a text with no tokens,
    /// or one where no token reaches `min_count`.
    pub fn build(
        text: &str,
        opts: &TextOptions,
        shown: &str,
    ) -> Result<(Vocabulary, Vec<i32>), DataError> {
        let text = normalize(text, opts.lowercase);
        let tokens = tokenize(&text, opts.level);
        if tokens.is_empty() {
            let why = if text.is_empty() {
                "the file is empty"
            } else {
                "the file holds only whitespace"
            };
            return Err(malformed(format!("{shown}: no tokens: {why}")));
        }
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for t in &tokens {
            *counts.entry(t).or_insert(0) += 1;
        }
        let mut by_count: Vec<(&str, usize)> = counts.into_iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let min_count = opts.min_count.max(1);
        let (kept, rare): (Vec<_>, Vec<_>) = by_count.iter().partition(|(_, c)| *c >= min_count);
        if kept.is_empty() {
            let (top, n) = by_count[0];
            return Err(malformed(format!(
                "{shown}: no token occurs at least {min_count} times (the most frequent, {top:?}, occurs {n} times)"
            )));
        }
        let mut vocab_tokens = Vec::with_capacity(kept.len() + 1);
        let mut vocab_counts = Vec::with_capacity(kept.len() + 1);
        if min_count > 1 {
            vocab_tokens.push(UNK.to_string());
            vocab_counts.push(rare.iter().map(|(_, c)| c).sum());
        }
        for (t, c) in kept {
            vocab_tokens.push(t.to_string());
            vocab_counts.push(c);
        }
        if i32::try_from(vocab_tokens.len()).is_err() {
            return Err(malformed(format!(
                "{shown}: {} distinct tokens do not fit in i32 ids",
                vocab_tokens.len()
            )));
        }
        let vocab = Vocabulary::new(
            opts.level,
            opts.lowercase,
            min_count,
            vocab_tokens,
            vocab_counts,
        );
        let unk = vocab.unk_id();
        let ids = tokens
            .iter()
            .map(|t| {
                vocab
                    .id(t)
                    .or(unk)
                    .expect("internal: a rare token maps to <unk>")
            })
            .collect();
        Ok((vocab, ids))
    }

    fn new(
        level: TextLevel,
        lowercase: bool,
        min_count: usize,
        tokens: Vec<String>,
        counts: Vec<usize>,
    ) -> Vocabulary {
        let index = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as i32))
            .collect();
        Vocabulary {
            level,
            lowercase,
            min_count,
            tokens,
            counts,
            index,
        }
    }

    /// The number of ids (`<unk>` included).
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The id of `token`, if it is in the vocabulary.
    pub fn id(&self, token: &str) -> Option<i32> {
        self.index.get(token).copied()
    }

    /// The id rare and unseen tokens map to: 0 when `min_count > 1`.
    pub fn unk_id(&self) -> Option<i32> {
        (self.min_count > 1).then_some(0)
    }

    /// The ids of `text`, cut into tokens by the same rules the vocabulary
    /// was built with (a prompt for sampling). A token the vocabulary does
    /// not hold becomes `<unk>`, or is an error when there is none.
    pub fn encode(&self, text: &str) -> Result<Vec<i32>, String> {
        let text = normalize(text, self.lowercase);
        tokenize(&text, self.level)
            .into_iter()
            .map(|t| {
                self.id(&t).or(self.unk_id()).ok_or_else(|| {
                    format!(
                        "{t:?} is not in the vocabulary, which has no `{UNK}` (built with min_count 1)"
                    )
                })
            })
            .collect()
    }

    /// The text of `ids`. Characters are concatenated; words are joined by
    /// one space, except before `. , ; : ! ?`. An id outside the vocabulary
    /// shows as U+FFFD, so a bad sample is visible rather than fatal.
    pub fn decode(&self, ids: &[i32]) -> String {
        let mut out = String::new();
        for (i, &id) in ids.iter().enumerate() {
            let token = usize::try_from(id)
                .ok()
                .and_then(|i| self.tokens.get(i))
                .map_or("\u{fffd}", String::as_str);
            let glued = matches!(token, "." | "," | ";" | ":" | "!" | "?");
            if self.level == TextLevel::Word && i > 0 && !glued {
                out.push(' ');
            }
            out.push_str(token);
        }
        out
    }

    /// The vocabulary as `vocab.json`: one key a line, in this order —
    /// `format`, `level`, `lowercase`, `min_count`, then `tokens` (in id
    /// order) and their `counts`, each list on one line.
    pub fn to_json(&self) -> String {
        let lines = [
            ("format", json!(FORMAT)),
            ("level", json!(self.level.as_str())),
            ("lowercase", json!(self.lowercase)),
            ("min_count", json!(self.min_count)),
            ("tokens", json!(self.tokens)),
            ("counts", json!(self.counts)),
        ];
        let body: Vec<String> = lines
            .iter()
            .map(|(k, v)| format!("  {}: {v}", json!(k)))
            .collect();
        format!("{{\n{}\n}}\n", body.join(",\n"))
    }

    /// Parses `vocab.json` text; `shown` names it in messages.
    pub fn from_json(text: &str, shown: &str) -> Result<Vocabulary, String> {
        let bad = |why: &str| format!("{shown} is not a dlc vocabulary: {why}");
        let v: Value = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
        if v.get("format").and_then(Value::as_str) != Some(FORMAT) {
            return Err(bad(&format!("expected \"format\": \"{FORMAT}\"")));
        }
        let level = match v.get("level").and_then(Value::as_str) {
            Some("char") => TextLevel::Char,
            Some("word") => TextLevel::Word,
            _ => return Err(bad("\"level\" must be \"char\" or \"word\"")),
        };
        let lowercase = v
            .get("lowercase")
            .and_then(Value::as_bool)
            .ok_or_else(|| bad("\"lowercase\" must be true or false"))?;
        let min_count = v
            .get("min_count")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n >= 1)
            .ok_or_else(|| bad("\"min_count\" must be a positive integer"))?;
        let tokens: Vec<String> = v
            .get("tokens")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(|t| t.as_str().map(String::from)).collect())
            .ok_or_else(|| bad("\"tokens\" must be a list of strings"))?;
        let counts: Vec<usize> = v
            .get("counts")
            .and_then(Value::as_array)
            .and_then(|a| {
                a.iter()
                    .map(|c| c.as_u64().and_then(|n| usize::try_from(n).ok()))
                    .collect()
            })
            .ok_or_else(|| bad("\"counts\" must be a list of counts"))?;
        if counts.len() != tokens.len() {
            return Err(bad(&format!(
                "{} tokens but {} counts",
                tokens.len(),
                counts.len()
            )));
        }
        let vocab = Vocabulary::new(level, lowercase, min_count, tokens, counts);
        if vocab.index.len() != vocab.tokens.len() {
            return Err(bad("a token is listed twice"));
        }
        if min_count > 1 && vocab.tokens.first().map(String::as_str) != Some(UNK) {
            return Err(bad(&format!("with min_count > 1, id 0 must be {UNK:?}")));
        }
        Ok(vocab)
    }

    /// Reads `vocab.json` at `path`.
    pub fn load(path: &Path) -> Result<Vocabulary, String> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot open {shown}: {}", io_reason(&e)))?;
        Vocabulary::from_json(&text, &shown)
    }

    /// Writes `vocab.json` at `path` atomically (a temporary file renamed
    /// over it), like a checkpoint.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        crate::runtime::checkpoint::write_atomically(path, self.to_json().as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

/// Reads the text file at `path` (`shown` in messages) and returns its
/// vocabulary and ids.
pub(crate) fn load(
    path: &Path,
    shown: &str,
    opts: &TextOptions,
) -> Result<(Vocabulary, Vec<i32>), DataError> {
    let bytes = read_all(path, shown)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        malformed(format!(
            "{shown}: not a UTF-8 text file (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    Vocabulary::build(text, opts, shown)
}

/// The text the tokens are cut from: no byte-order mark, `\n` line ends,
/// lowercased when asked.
fn normalize(text: &str, lowercase: bool) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.replace("\r\n", "\n");
    if lowercase {
        text.to_lowercase()
    } else {
        text
    }
}

/// The tokens of `text` at `level`, in order (the rules at the top).
pub fn tokenize(text: &str, level: TextLevel) -> Vec<String> {
    match level {
        TextLevel::Char => text.chars().map(String::from).collect(),
        TextLevel::Word => {
            let mut out = Vec::new();
            for chunk in text.split_whitespace() {
                let chars: Vec<char> = chunk.chars().collect();
                let mut word = String::new();
                for (i, &c) in chars.iter().enumerate() {
                    let inner_apostrophe = matches!(c, '\'' | '\u{2019}')
                        && !word.is_empty()
                        && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric());
                    if c.is_alphanumeric() || inner_apostrophe {
                        word.push(c);
                    } else {
                        if !word.is_empty() {
                            out.push(std::mem::take(&mut word));
                        }
                        out.push(c.to_string());
                    }
                }
                if !word.is_empty() {
                    out.push(word);
                }
            }
            out
        }
    }
}
