//! The command line: `storelink [serve]`, `storelink migrate`, `storelink keygen`.

use std::sync::Arc;

use clap::{Parser, Subcommand};
use secrecy::ExposeSecret as _;

use crate::{app::Application, clock::SystemClock, config::Settings, crypto::MasterKey, db};

/// storelink: connect merchants' stores to your add-on.
#[derive(Debug, Parser)]
#[command(name = "storelink", version, about)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply migrations, then serve HTTP until SIGINT/SIGTERM.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print a new random master key (base64 of 32 bytes) for STORELINK_MASTER_KEY.
    Keygen,
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let settings = Settings::from_env()?;
            Application::build(settings, Arc::new(SystemClock))
                .await?
                .run_until_stopped()
                .await
        }
        Command::Migrate => {
            let settings = Settings::from_env()?;
            let pool = db::connect(&settings.database_url).await?;
            db::migrate(&pool).await?;
            pool.close().await;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Keygen => {
            println!("{}", MasterKey::generate_base64().expose_secret());
            Ok(())
        }
    }
}
