//! `switchboard token create | list | revoke`: manage tokens directly in the store.

use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;
use clap::Subcommand;
use switchboard_api::Role;
use switchboard_auth::{TokenVerifier, VerifierOptions};
use switchboard_config::Config;
use switchboard_storage::{Store, TokenRecord, now_ms};

use super::CliError;

/// `switchboard token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it alone on stdout (the only time it is shown).
    Create {
        /// viewer, operator or admin.
        #[arg(long)]
        role: Role,
        /// A name to recognise it by.
        #[arg(long)]
        name: String,
        /// Lifetime, e.g. 30d, 12h, 90m (default: never expires).
        #[arg(long, value_parser = humantime::parse_duration)]
        expires: Option<Duration>,
    },
    /// List tokens (never a secret or hash).
    List,
    /// Revoke a token by id. With many nodes (cluster.redis_url) every node is told at once;
    /// otherwise a running server honours it within auth.token_cache_ttl_s (the
    /// `tokens.revoke` method takes effect at once).
    Revoke {
        /// The token id (the part after `sb_`).
        id: String,
    },
}

pub(super) async fn run(config: Config, cmd: TokenCommand) -> Result<(), CliError> {
    let store = Store::connect(&config.storage_url())
        .await
        .context("opening the store")?;
    store.migrate().await.context("migrating the store")?;
    let verifier = TokenVerifier::new(store.clone(), VerifierOptions::default());
    let result = match cmd {
        TokenCommand::Create {
            role,
            name,
            expires,
        } => create(&verifier, role, &name, expires).await,
        TokenCommand::List => list(&store).await,
        TokenCommand::Revoke { id } => revoke(&verifier, &id, &config).await,
    };
    store.close().await.context("closing the store")?;
    result.map_err(CliError::from)
}

async fn create(
    verifier: &TokenVerifier,
    role: Role,
    name: &str,
    expires: Option<Duration>,
) -> anyhow::Result<()> {
    anyhow::ensure!(!name.trim().is_empty(), "--name must not be empty");
    let created = verifier.create(name, role, expires).await?;
    println!("{}", created.token);
    eprintln!(
        "created {} token {} ({name}), expires {}",
        created.role,
        created.id,
        format_time(created.expires_at)
    );
    Ok(())
}

async fn list(store: &Store) -> anyhow::Result<()> {
    let tokens = store.list_tokens().await?;
    print!("{}", token_table(&tokens, now_ms()));
    Ok(())
}

async fn revoke(verifier: &TokenVerifier, id: &str, config: &Config) -> anyhow::Result<()> {
    anyhow::ensure!(verifier.revoke(id).await?, "no token with id {id}");
    eprintln!("revoked token {id}");
    if let Some(url) = &config.cluster.redis_url {
        let told = crate::hub::broker::notify_once(
            url,
            &config.cluster.channel_prefix,
            "tokens.revoked",
            serde_json::json!({ "id": id }),
        )
        .await;
        match told {
            Ok(nodes) => eprintln!("told {nodes} running node(s); they close its connections"),
            Err(e) => eprintln!(
                "could not tell the running nodes ({e}); they honour it within \
                 auth.token_cache_ttl_s"
            ),
        }
    }
    Ok(())
}

/// The `token list` table: id, name, role, created, expires, last used, revoked.
fn token_table(tokens: &[TokenRecord], now: i64) -> String {
    let header = [
        "ID",
        "NAME",
        "ROLE",
        "CREATED",
        "EXPIRES",
        "LAST USED",
        "REVOKED",
    ];
    let rows: Vec<[String; 7]> = tokens
        .iter()
        .map(|t| {
            let revoked = match t.revoked_at {
                Some(at) => format_time(Some(at)),
                None if t.expires_at.is_some_and(|at| at <= now) => "no (expired)".to_owned(),
                None => "no".to_owned(),
            };
            [
                t.id.clone(),
                t.name.clone(),
                t.role.to_string(),
                format_time(Some(t.created_at)),
                format_time(t.expires_at),
                format_time(t.last_used_at),
                revoked,
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(&header);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    out
}

/// RFC 3339 (UTC, seconds) for a unix-ms time; `-` for none.
fn format_time(ms: Option<i64>) -> String {
    match ms.and_then(|ms| u64::try_from(ms).ok()) {
        Some(ms) => {
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
        }
        None => "-".to_owned(),
    }
}
