mod checkpoint;
mod data;
mod rng;
