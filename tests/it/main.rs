//! The one integration-test binary (it links once): each module tests one
//! stage or one concern.

mod checkpoint;
mod data;
mod filetests;
mod gradcheck;
mod interp;
mod ir_props;
mod ir_text;
mod ir_verify;
mod layer_gradcheck;
mod optimizer;
mod rng;
