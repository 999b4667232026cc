//! `berth-runtime`: an OCI runtime with runc's command line.

mod cli;
mod log;
mod update;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let logger = log::Logger::new(cli.log.as_deref(), &cli.log_format);
    match cli::dispatch(cli) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(error) => {
            logger.error(&error.to_string());
            eprintln!("berth-runtime: {error}");
            failure_code(&error)
        }
    }
}

/// 127 when the program to run does not exist and 126 when it cannot be run, as shells and
/// docker report them (`exec` returns them as the process's exit code); 1 for anything else.
fn failure_code(error: &berth_runtime::Error) -> ExitCode {
    let berth_runtime::Error::Init(text) = error else {
        return ExitCode::FAILURE;
    };
    if text.contains("No such file or directory") || text.contains("executable file not found") {
        ExitCode::from(127)
    } else if text.contains("Permission denied") || text.contains("Is a directory") {
        ExitCode::from(126)
    } else {
        ExitCode::FAILURE
    }
}
