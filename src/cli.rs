//! The command line: `storelink [serve]`, `migrate`, `keygen`, `operator add/list/remove`.

use std::sync::Arc;

use clap::{Parser, Subcommand};
use secrecy::{ExposeSecret as _, SecretString};

use crate::{
    app::Application,
    clock::{Clock as _, SystemClock},
    config::Settings,
    crypto::MasterKey,
    db::{self, operators},
    password,
};

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
    /// Re-seal every stored credential under STORELINK_MASTER_KEY (the end of a key rotation:
    /// start with the new key and STORELINK_PREVIOUS_MASTER_KEYS, run this, then drop the old key).
    RotateKeys,
    /// Manage console operators.
    #[command(subcommand)]
    Operator(OperatorCommand),
}

/// `storelink operator ...`
#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Create an operator; the password is read from standard input (one line).
    Add {
        /// The operator's email, used to log in.
        email: String,
        /// Read the password from standard input (the only way: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List operators.
    List,
    /// Remove an operator; their sessions end at their next request.
    Remove {
        /// The operator's email.
        email: String,
    },
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
        Command::RotateKeys => {
            let settings = Settings::from_env()?;
            let keyring = crate::app::load_keyring(&settings)?;
            let pool = db::connect(&settings.database_url).await?;
            db::migrate(&pool).await?;
            let result = db::credentials::reseal_all(&pool, &keyring).await;
            pool.close().await;
            let count = result?;
            println!(
                "{count} value(s) re-sealed under key {}; the previous keys are no longer needed",
                keyring.current().id()
            );
            Ok(())
        }
        Command::Operator(command) => {
            let settings = Settings::from_env()?;
            let pool = db::connect(&settings.database_url).await?;
            db::migrate(&pool).await?;
            let result = operator(&pool, command).await;
            pool.close().await;
            result
        }
    }
}

async fn operator(pool: &db::Db, command: OperatorCommand) -> anyhow::Result<()> {
    match command {
        OperatorCommand::Add { email, .. } => {
            let email = operators::normalize_email(&email)?;
            let password = read_password_line()?;
            password::validate(&password)?;
            let hash = password::hash_async(password).await?;
            if !operators::add(pool, &email, &hash, SystemClock.unix()).await? {
                anyhow::bail!("an operator with the email {email} already exists");
            }
            println!("operator {email} added");
        }
        OperatorCommand::List => {
            for op in operators::list(pool).await? {
                let last = op
                    .last_login_at
                    .map(crate::web::console::fmt_time)
                    .unwrap_or_else(|| "never".into());
                println!("{}\tlast login: {last}", op.email);
            }
        }
        OperatorCommand::Remove { email } => {
            let email = operators::normalize_email(&email)?;
            if !operators::remove(pool, &email).await? {
                anyhow::bail!("no operator with the email {email}");
            }
            println!("operator {email} removed");
        }
    }
    Ok(())
}

/// One line from standard input, without its line ending.
fn read_password_line() -> anyhow::Result<SecretString> {
    let mut line = zeroize::Zeroizing::new(String::new());
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| anyhow::anyhow!("failed to read the password from standard input: {e}"))?;
    let password = line.trim_end_matches(['\n', '\r']);
    Ok(SecretString::from(password))
}
