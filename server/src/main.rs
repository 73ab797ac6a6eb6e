//! The `switchboard` binary: parses the command line and hands over to [`switchboard::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    switchboard::cli::main()
}
