//! The `lifeboat` command: parses arguments, runs one subcommand from `cli/`, maps the outcome
//! to a named exit code. Everything else lives in the library.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
