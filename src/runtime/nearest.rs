//! Nearest neighbours in an embedding table, for the `nearest` statement:
//! the rows closest to a word's row by cosine similarity, the usual way to
//! look at what word vectors learned (`king` near `queen`).

use crate::tensor::Tensor;

use super::data::Vocabulary;

/// One query's neighbours: `(token, cosine similarity)`, most similar first.
#[derive(Clone, Debug, PartialEq)]
pub struct Neighbours {
    pub word: String,
    pub nearest: Vec<(String, f64)>,
}

impl Neighbours {
    /// `nearest to "king": queen 0.71, prince 0.64, ...`
    pub fn to_text(&self) -> String {
        let list: Vec<String> = self
            .nearest
            .iter()
            .map(|(w, s)| format!("{w} {s:.2}"))
            .collect();
        format!("nearest to {:?}: {}", self.word, list.join(", "))
    }
}

/// The `count` rows of `table` (`[vocab, dim]`) with the highest cosine
/// similarity to the row of `word`, the word itself left out; ties go to
/// the lower id. A row of zeros has similarity 0 to everything. `Err` when
/// the word is not in the vocabulary or the table has another row count.
pub fn nearest(
    table: &Tensor,
    vocab: &Vocabulary,
    word: &str,
    count: usize,
) -> Result<Neighbours, String> {
    let shape = table.shape();
    if shape.len() != 2 || shape[0] != vocab.len() {
        return Err(format!(
            "the table has shape {shape:?}, but the vocabulary has {} tokens",
            vocab.len()
        ));
    }
    let dim = shape[1];
    let values = table.to_f64_vec();
    let rows: Vec<&[f64]> = values.chunks(dim.max(1)).collect();
    let id = vocab
        .id(word)
        .ok_or_else(|| format!("{word:?} is not in the vocabulary"))? as usize;
    let norm = |r: &[f64]| r.iter().map(|x| x * x).sum::<f64>().sqrt();
    let q = rows[id];
    let qn = norm(q);
    let mut scored: Vec<(usize, f64)> = rows
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != id)
        .map(|(i, r)| {
            let d: f64 = q.iter().zip(*r).map(|(a, b)| a * b).sum();
            let n = qn * norm(r);
            (i, if n > 0.0 { d / n } else { 0.0 })
        })
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(Neighbours {
        word: word.to_string(),
        nearest: scored
            .into_iter()
            .take(count)
            .map(|(i, s)| (vocab.tokens[i].clone(), s))
            .collect(),
    })
}
