//! Sizes known up to the batch symbols. A shape's element count, a stride
//! and a buffer's bytes are all monomials (`256·N`); an arena, a sum of
//! buffers, is a polynomial (`1024 + 1536·N`). Both print deterministically.

use std::fmt;

use crate::ir::Dim;

/// `coeff × sym₁ × sym₂ …` with the symbols sorted.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Size {
    pub coeff: u64,
    pub syms: Vec<String>,
}

impl Size {
    pub fn fixed(n: u64) -> Size {
        Size {
            coeff: n,
            syms: Vec::new(),
        }
    }
    pub fn one() -> Size {
        Size::fixed(1)
    }
    pub fn zero() -> Size {
        Size::fixed(0)
    }
    pub fn is_zero(&self) -> bool {
        self.coeff == 0
    }
    pub fn of_dim(d: &Dim) -> Size {
        match d {
            Dim::Fixed(n) => Size::fixed(*n as u64),
            Dim::Sym(s) => Size {
                coeff: 1,
                syms: vec![s.clone()],
            },
        }
    }
    pub fn of_dims(dims: &[Dim]) -> Size {
        dims.iter()
            .fold(Size::one(), |acc, d| acc.mul(&Size::of_dim(d)))
    }
    pub fn mul(&self, o: &Size) -> Size {
        if self.is_zero() || o.is_zero() {
            return Size::zero();
        }
        let mut syms = self.syms.clone();
        syms.extend(o.syms.iter().cloned());
        syms.sort();
        Size {
            coeff: self.coeff * o.coeff,
            syms,
        }
    }
    pub fn scale(&self, k: u64) -> Size {
        self.mul(&Size::fixed(k))
    }
    /// The value once every symbol is bound; `None` if one is not.
    pub fn eval(&self, bindings: &[(String, usize)]) -> Option<usize> {
        let mut v = self.coeff as usize;
        for s in &self.syms {
            v = v.checked_mul(bindings.iter().find(|(k, _)| k == s)?.1)?;
        }
        Some(v)
    }
    /// Whether `self >= o` for every binding of the symbols to sizes ≥ 1.
    pub fn dominates(&self, o: &Size) -> bool {
        if o.is_zero() {
            return true;
        }
        let mut rest = self.syms.clone();
        for s in &o.syms {
            match rest.iter().position(|x| x == s) {
                Some(i) => {
                    rest.remove(i);
                }
                None => return false,
            }
        }
        self.coeff >= o.coeff
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.syms.is_empty() || self.coeff == 0 {
            return write!(f, "{}", self.coeff);
        }
        if self.coeff != 1 {
            write!(f, "{}·", self.coeff)?;
        }
        f.write_str(&self.syms.join("·"))
    }
}

/// A sum of monomials, like terms combined, constant first.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Poly(pub Vec<Size>);

impl Poly {
    pub fn sum<'a>(terms: impl Iterator<Item = &'a Size>) -> Poly {
        let mut out: Vec<Size> = Vec::new();
        for t in terms {
            if t.is_zero() {
                continue;
            }
            match out.iter_mut().find(|x| x.syms == t.syms) {
                Some(x) => x.coeff += t.coeff,
                None => out.push(t.clone()),
            }
        }
        out.sort_by(|a, b| (a.syms.len(), &a.syms).cmp(&(b.syms.len(), &b.syms)));
        Poly(out)
    }
    pub fn eval(&self, bindings: &[(String, usize)]) -> Option<usize> {
        self.0
            .iter()
            .try_fold(0usize, |acc, t| acc.checked_add(t.eval(bindings)?))
    }
}

impl fmt::Display for Poly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("0");
        }
        let terms: Vec<String> = self.0.iter().map(|t| t.to_string()).collect();
        f.write_str(&terms.join(" + "))
    }
}
