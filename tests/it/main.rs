//! The one integration-test binary: every test module links into it once.

mod filetests;
mod ir_props;
mod ir_text;
mod ir_verify;
