//! The one integration-test binary (it links once): each module tests one
//! stage or one concern.

mod checkpoint;
mod data;
mod interp;
mod rng;
