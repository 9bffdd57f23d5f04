//! The one integration-test binary (it links once). Each stage's tests live
//! in their own module.

mod syntax;
mod syntax_fuzz;
mod ui;
