//! The command line: `storelink [serve]`, `migrate`, `keygen`, `rotate-keys`,
//! `operator add/list/remove`, `api-key create/list/revoke`, `endpoint add/list/remove`,
//! `backup PATH`, `doctor`.

use std::sync::Arc;

use clap::{Parser, Subcommand};
use secrecy::{ExposeSecret as _, SecretString};

use crate::{
    app::Application,
    clock::{Clock as _, SystemClock},
    config::Settings,
    crypto::MasterKey,
    db::{
        self, api_keys,
        endpoints::{self, Subscription},
        operators,
    },
    domain::{EndpointLimits, api_key::ApiKeySecret},
    notify::{self, NotifyContext},
    password,
    platforms::kit::outbound::Outbound,
};

/// storelink: connect merchants' stores to your add-on.
#[derive(Debug, Parser)]
#[command(name = "storelink", version = crate::version::LONG, about)]
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
    /// Manage keys for the vendor API.
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
    /// Manage where notifications to the vendor's backend go.
    #[command(subcommand)]
    Endpoint(EndpointCommand),
    /// Copy the live SQLite database to PATH (safe while `serve` runs; mode 0600; never
    /// overwrites). On PostgreSQL, use pg_dump.
    Backup {
        /// Where the copy goes: a file that does not exist yet.
        path: std::path::PathBuf,
    },
    /// Check the set-up: settings, sandbox mode, the database and its migrations, the master
    /// key against stored credentials, the public URL, file permissions and the platforms'
    /// token endpoints. One line per check (ok, warn or FAIL); exits 1 on any FAIL.
    Doctor,
}

/// `storelink endpoint ...`
#[derive(Debug, Subcommand)]
pub enum EndpointCommand {
    /// Add an endpoint; prints its signing secret (`whsec_...`) alone on one line of stdout,
    /// once.
    Add {
        /// The URL notifications are POSTed to (https).
        url: String,
        /// The event types to send, comma-separated (default: all).
        #[arg(long)]
        events: Option<String>,
        /// At most this many messages a second to it (default: no limit).
        #[arg(long)]
        rate_limit: Option<i64>,
        /// At most this many messages in flight to it at once.
        #[arg(long, default_value_t = i64::from(crate::domain::DEFAULT_MAX_IN_FLIGHT))]
        max_in_flight: i64,
    },
    /// List endpoints (never their secrets).
    List,
    /// Remove an endpoint, with its queued messages.
    Remove {
        /// The endpoint's URL, as listed.
        url: String,
    },
    /// Send again every message to the endpoint that failed since TIME, with the same
    /// `webhook-id`; prints how many.
    Recover {
        /// The endpoint's URL, as listed.
        url: String,
        /// RFC 3339, like 2026-12-07T08:00:00Z: messages created then or later.
        #[arg(long)]
        since: String,
    },
}

/// `storelink api-key ...`
#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key; it is printed once, alone on one line of standard output.
    Create {
        /// A name for the key (what the audit log and the console call it).
        name: String,
    },
    /// List keys: names, when created, when last used (never the keys).
    List,
    /// Revoke a key: its requests are refused from the next one on.
    Revoke {
        /// The key's name.
        name: String,
    },
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
            let keyring = crate::keys::load_keyring(&settings)?;
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
        Command::Endpoint(command) => {
            let settings = Settings::from_env()?;
            let keyring = crate::keys::load_keyring(&settings)?;
            let pool = db::connect(&settings.database_url).await?;
            db::migrate(&pool).await?;
            let ctx = NotifyContext {
                db: pool.clone(),
                keyring: Arc::new(keyring),
                clock: Arc::new(SystemClock),
                outbound: Outbound::new(settings.http_timeout, settings.allow_private_endpoints)?,
            };
            let result = endpoint(&ctx, command).await;
            pool.close().await;
            result
        }
        Command::Backup { path } => {
            let settings = Settings::from_env()?;
            let backup = crate::backup::run(&settings.database_url, &path).await?;
            println!("{}", crate::backup::report(&backup));
            Ok(())
        }
        Command::Doctor => {
            println!("storelink {}", crate::version::LONG);
            let report = crate::doctor::run(crate::config::Env::from_process()).await;
            let (fails, warns) = (
                report.count(crate::doctor::Status::Fail),
                report.count(crate::doctor::Status::Warn),
            );
            if fails > 0 {
                anyhow::bail!("doctor: {fails} check(s) FAIL, {warns} warn: see the FAIL lines");
            }
            println!("doctor: no FAIL, {warns} warn");
            Ok(())
        }
        Command::ApiKey(command) => {
            let settings = Settings::from_env()?;
            let pool = db::connect(&settings.database_url).await?;
            db::migrate(&pool).await?;
            let result = api_key(&pool, command).await;
            pool.close().await;
            result
        }
    }
}

/// Who the audit log says ran a command.
const CLI_ACTOR: &str = "cli";

async fn api_key(pool: &db::Db, command: ApiKeyCommand) -> anyhow::Result<()> {
    let now = SystemClock.unix();
    match command {
        ApiKeyCommand::Create { name } => {
            let name = api_keys::checked_name(&name)?;
            let key = ApiKeySecret::generate();
            api_keys::create(
                pool,
                &name,
                &key.hash(),
                &key.shown_prefix(),
                CLI_ACTOR,
                now,
            )
            .await?;
            eprintln!("API key {name} created. It is shown once, here; store it now:");
            println!("{}", key.expose());
        }
        ApiKeyCommand::List => {
            for key in api_keys::list(pool).await? {
                let last = key
                    .last_used_at
                    .map(crate::clock::fmt_time)
                    .unwrap_or_else(|| "never".into());
                let state = key
                    .revoked_at
                    .map(|at| format!("revoked {}", crate::clock::fmt_time(at)))
                    .unwrap_or_else(|| "live".into());
                println!(
                    "{}\t{}…\tcreated {}\tlast used: {last}\t{state}",
                    key.name,
                    key.prefix,
                    crate::clock::fmt_time(key.created_at)
                );
            }
        }
        ApiKeyCommand::Revoke { name } => {
            match api_keys::revoke(pool, name.trim(), CLI_ACTOR, now).await? {
                api_keys::Revoked::Now => println!("API key {} revoked", name.trim()),
                api_keys::Revoked::Missing => {
                    anyhow::bail!("no live API key is named {:?}", name.trim())
                }
            }
        }
    }
    Ok(())
}

async fn endpoint(ctx: &NotifyContext, command: EndpointCommand) -> anyhow::Result<()> {
    match command {
        EndpointCommand::Add {
            url,
            events,
            rate_limit,
            max_in_flight,
        } => {
            let subscription =
                Subscription::parse(events.as_deref().unwrap_or("")).map_err(anyhow::Error::msg)?;
            let limits = EndpointLimits::new(rate_limit, max_in_flight)
                .map_err(|(_, why)| anyhow::Error::msg(why.replace('_', "-")))?;
            let (endpoint, secret) =
                notify::endpoints::add(ctx, &url, &subscription, limits, true, CLI_ACTOR)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!(
                "Endpoint {} added for {}, {}. Its signing secret is shown once, here; store it now:",
                endpoint.url,
                subscription.describe(),
                limits.describe()
            );
            println!("{}", secret.expose_secret());
        }
        EndpointCommand::List => {
            for e in endpoints::list(&ctx.db).await? {
                let state = match (e.enabled, &e.disabled_reason) {
                    (true, _) => "enabled".to_owned(),
                    (false, Some(reason)) => format!("disabled: {reason}"),
                    (false, None) => "disabled".to_owned(),
                };
                let last = e
                    .last_success_at
                    .map(crate::clock::fmt_time)
                    .unwrap_or_else(|| "never".into());
                println!(
                    "{}\t{}\t{}\t{state}\tlast success: {last}",
                    e.url,
                    e.subscription().describe(),
                    e.limits().describe()
                );
            }
        }
        EndpointCommand::Remove { url } => {
            let found = endpoint_by_url(ctx, &url).await?;
            endpoints::remove(&ctx.db, &found.id, CLI_ACTOR, ctx.clock.unix()).await?;
            println!("endpoint {} removed", found.url);
        }
        EndpointCommand::Recover { url, since } => {
            let Some(since) = crate::domain::parse_rfc3339(&since) else {
                anyhow::bail!("--since must be an RFC 3339 time, like 2026-12-07T08:00:00Z");
            };
            let found = endpoint_by_url(ctx, &url).await?;
            let recovered = notify::endpoints::recover(ctx, &found, since, CLI_ACTOR).await?;
            println!("{recovered}");
            eprintln!(
                "{recovered} failed message(s) to {} queued again; a running storelink sends them",
                found.url
            );
        }
    }
    Ok(())
}

/// The endpoint with this URL, as typed or as stored.
async fn endpoint_by_url(ctx: &NotifyContext, url: &str) -> anyhow::Result<endpoints::Endpoint> {
    let url = url.trim();
    let found = match endpoints::find_by_url(&ctx.db, url).await? {
        Some(found) => Some(found),
        // As typed, it may lack the normalisation stored (a trailing slash).
        None => match url::Url::parse(url) {
            Ok(parsed) => endpoints::find_by_url(&ctx.db, parsed.as_str()).await?,
            Err(_) => None,
        },
    };
    found.ok_or_else(|| anyhow::anyhow!("no endpoint has the URL {url:?}"))
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
                    .map(crate::clock::fmt_time)
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
