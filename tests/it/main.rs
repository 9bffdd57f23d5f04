//! The one integration-test binary: each module tests one stage.

mod gradcheck;
mod interp;
mod optimizer;
