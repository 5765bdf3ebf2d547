//! The `arshjul` binary: everything is in the library's `cli` module.

fn main() -> std::process::ExitCode {
    arshjul::cli::main()
}
