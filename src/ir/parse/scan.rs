//! The parser's side of `scan`: four integer attributes, a parenthesized
//! list of result types, and the body, a nested `graph` read by the same
//! parser (with its own value names), as `print` writes them:
//!
//! ```text
//! %0 = scan %h0, %x, %w carries=1 sequences=1 axis=1 reverse=0 : (f32[N,4], f32[N,T,4])
//!   graph @cell(...) -> (...) {
//!     ...
//!   }
//! ```

use super::lex::{Tok, Token};
use super::{Attrs, ParseError, Parser};
use crate::ir::graph::{Graph, Value};
use crate::ir::op::Op;
use crate::ir::scan::Scan;
use crate::ir::types::{Dim, TensorType};

impl Parser {
    /// Everything of a scan statement after its attributes; `ot` is the
    /// `scan` token, where errors about the whole op point.
    pub(super) fn scan_rest(
        &mut self,
        g: &mut Graph,
        operands: &[Value],
        mut attrs: Attrs,
        ot: &Token,
    ) -> Result<Value, ParseError> {
        let carries = attrs.int("carries")?;
        let sequences = attrs.int("sequences")?;
        let axis = attrs.int("axis")?;
        let reverse = attrs.int("reverse")?;
        attrs.finish()?;
        if reverse > 1 {
            return Err(self.error_at(ot, "`reverse` of `scan` is 0 or 1".into()));
        }

        self.expect(Tok::Colon, "`:` before the result types")?;
        let open = self.expect(Tok::LParen, "`(` before the scan's result types")?;
        let written = self.comma_list(Tok::RParen, |p| {
            let t = p.peek();
            Ok((p.ty()?, t))
        })?;
        for (ty, t) in &written {
            for d in ty.shape.dims() {
                if let Dim::Sym(sym) = d {
                    if !g.inputs.iter().any(|&i| g.ty(i).shape.dims().contains(d)) {
                        return Err(self.error_at(
                            t,
                            format!(
                                "symbol `{sym}` appears in no input's type, so nothing binds it"
                            ),
                        ));
                    }
                }
            }
        }

        let body = self.graph()?;
        let scan = Scan {
            body,
            carries,
            sequences,
            axis,
            reverse: reverse == 1,
        };
        let v = g
            .try_push(Op::Scan(Box::new(scan)), operands, None)
            .map_err(|e| self.error_at(ot, e))?;
        let results = g.result_types(v).map_err(|e| self.error_at(ot, e))?;
        let written: Vec<TensorType> = written.into_iter().map(|(t, _)| t).collect();
        if results != written {
            let show = |tys: &[TensorType]| {
                let s: Vec<String> = tys.iter().map(|t| t.to_string()).collect();
                format!("({})", s.join(", "))
            };
            return Err(self.error_at(
                &open,
                format!(
                    "scan produces {}, but {} is written",
                    show(&results),
                    show(&written)
                ),
            ));
        }
        Ok(v)
    }
}
