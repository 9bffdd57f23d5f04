//! The runtime: data, training driver, checkpoints.
