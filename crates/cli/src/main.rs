//! The `berth` binary: everything is in the library.

fn main() {
    std::process::exit(berth_cli::main_with_args(std::env::args_os()));
}
