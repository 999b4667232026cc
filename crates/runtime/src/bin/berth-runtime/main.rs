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
            ExitCode::FAILURE
        }
    }
}
