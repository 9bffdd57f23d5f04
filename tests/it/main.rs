//! The one integration-test binary: every test module links into it once.

mod ir_text;
