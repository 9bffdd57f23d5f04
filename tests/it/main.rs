//! The one integration-test binary (it links once): each module tests one
//! stage or one concern.

mod checkpoint;
mod cli;
mod common;
mod cpu_gemv;
mod cpu_library;
mod cpu_oracle;
mod cpu_oracle_in_place;
mod cpu_scan;
mod data;
mod data_order;
mod examples;
mod filetests;
mod fuse;
mod gradcheck;
mod interp;
mod interp_ops;
mod ir_props;
mod ir_text;
mod ir_verify;
mod layer_gradcheck;
mod layer_values;
mod optimizer;
mod random_ops;
mod recurrent;
mod rng;
mod scan;
mod sema;
mod shapes;
mod stages;
mod syntax;
mod syntax_fuzz;
mod textgen;
mod trainmode;
mod ui;
