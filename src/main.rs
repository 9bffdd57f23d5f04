//! The `dlc` binary: everything is in the library's `cli` module.

fn main() {
    std::process::exit(dlc::cli::main());
}
