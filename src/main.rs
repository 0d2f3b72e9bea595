//! The `storelink` binary: parse the command line, then call into the library.

use clap::Parser as _;
use storelink::{cli, telemetry};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    if let Err(e) = load_dotenv() {
        eprintln!("storelink: .env: {e}");
        return std::process::ExitCode::FAILURE;
    }
    match telemetry::LogFormat::from_env() {
        Ok(format) => telemetry::init_with(format),
        Err(e) => {
            eprintln!("storelink: {e}");
            return std::process::ExitCode::FAILURE;
        }
    }
    match cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes, outermost first.
            eprintln!("storelink: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Reads `.env` from the working directory if there is one; a malformed file is an error.
fn load_dotenv() -> Result<(), dotenvy::Error> {
    // Only the working directory's file: `dotenvy::dotenv()` would also search parent folders.
    match dotenvy::from_path(".env") {
        Ok(()) => Ok(()),
        Err(e) if e.not_found() => Ok(()),
        Err(e) => Err(e),
    }
}
