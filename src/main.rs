//! The `lathe` binary: a thin shell over the library.

fn main() -> std::process::ExitCode {
    lathe::cli::run()
}
