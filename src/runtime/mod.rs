//! The runtime: everything that happens once a program is compiled — data
//! files loaded into tensors, seeded random numbers and parameter
//! initialization, checkpoints on disk, the progress bar. With `cli`, it is
//! the only part of dlc that touches files, clocks and terminals; the
//! compiler core before it takes values and returns values.

pub mod bigram;
pub mod checkpoint;
pub mod data;
pub mod init;
pub mod metrics;
pub mod nearest;
pub mod progress;
pub mod rng;
pub mod sample;
pub mod schedule;
pub mod train;
