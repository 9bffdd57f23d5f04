//! What a session does with text beyond the loss: the `bigram_loss`
//! baseline of an evaluation, the `sample` and `nearest` statements run
//! after training, and the check, before training, that their prompts are
//! in the vocabulary.

use crate::sema::program::DataRef;

use super::super::bigram::Bigram;
use super::super::data::Vocabulary;
use super::super::nearest::nearest;
use super::super::rng::{derive, Rng};
use super::super::sample::generate;
use super::{fail, part, Report, Result, RunFailure, Session};

impl Session<'_> {
    /// The training data's vocabulary, when it is text.
    pub fn vocab(&self) -> Option<&Vocabulary> {
        self.data[self.train.data.dataset]
            .as_ref()
            .and_then(|d| d.vocab.as_ref())
    }

    /// Refuses, before any training, a `sample` prime or a `nearest` word
    /// the vocabulary lacks (the checker already refused characters; words
    /// need the tokenizer).
    pub(super) fn check_prompts(&self) -> Result<()> {
        let Some(vocab) = self.vocab() else {
            return Ok(());
        };
        for s in &self.train.samples {
            vocab.encode(&s.prime).map_err(|e| {
                RunFailure(format!("cannot sample from the prime {:?}: {e}", s.prime))
            })?;
        }
        for n in &self.train.nearest {
            if let Some(w) = n.words.iter().find(|w| vocab.id(w).is_none()) {
                return fail(format!("`nearest`: {w:?} is not in the vocabulary"));
            }
        }
        Ok(())
    }

    /// Runs the `sample` and `nearest` statements on the current weights.
    pub fn inspect(&mut self, report: &mut Report, verbose: bool) -> Result<()> {
        let Some(vocab) = self.vocab().cloned() else {
            return Ok(());
        };
        for n in &self.train.nearest {
            let table = self
                .resident(&n.param)
                .expect("internal: sema checked the parameter");
            for w in &n.words {
                let found = nearest(&table, &vocab, w, n.count).map_err(RunFailure)?;
                if verbose {
                    println!("{}", found.to_text());
                }
                report.neighbours.push(found);
            }
        }
        if !self.train.samples.is_empty() {
            self.load_eval();
        }
        for (i, s) in self.train.samples.iter().enumerate() {
            let mut rng = Rng::new(self.seed, derive(self.seed, &format!("sample/{i}")));
            let g = generate(self.eval.as_mut(), s, &vocab, &mut rng).map_err(RunFailure)?;
            if verbose {
                println!(
                    "sample ({} tokens, temperature {}):\n{}",
                    s.length, s.temperature, g.text
                );
            }
            report.samples.push(g);
        }
        Ok(())
    }

    /// The bigram baseline's loss on `r` (sema checked the data are
    /// `sequences` of the training set, fields `x` and `y`).
    pub(super) fn bigram_loss(&mut self, r: &DataRef) -> Result<f64> {
        if self.bigram.is_none() {
            let train = part(&self.data, &self.train.data);
            let vocab = self
                .vocab()
                .map(|v| v.len())
                .expect("internal: sema checked the data is text");
            let (x, y) = (train.field("x"), train.field("y"));
            let (Some(x), Some(y)) = (x, y) else {
                return fail("`bigram_loss` needs fields `x` and `y` of `sequences`");
            };
            self.bigram = Some(Bigram::fit(x, y, vocab));
        }
        let table = part(&self.data, r);
        let (Some(x), Some(y)) = (table.field("x"), table.field("y")) else {
            return fail("`bigram_loss` needs fields `x` and `y` of `sequences`");
        };
        Ok(self
            .bigram
            .as_ref()
            .expect("internal: fitted above")
            .loss(x, y))
    }
}
