//! `switchboard token create | list | revoke`: manage tokens directly in the store.

use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;
use clap::Subcommand;
use switchboard_api::{Role, Scope};
use switchboard_auth::{CreatedToken, TokenGrant, TokenVerifier, VerifierOptions};
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
        /// Limit the token to this agent's sessions (repeatable; with --session, either
        /// suffices). The agent need not be configured yet. Not for admin tokens.
        #[arg(long = "agent", value_name = "ID")]
        agents: Vec<String>,
        /// Limit the token to this session (repeatable). The session need not exist yet. Not
        /// for admin tokens.
        #[arg(long = "session", value_name = "ID")]
        sessions: Vec<String>,
        /// Print a link to the session's dashboard view that signs in with the new token
        /// (`<base>/ui/#/sessions/<id>?token=…`) instead of the bare token. Needs one
        /// --session; without any, prints the token.
        #[arg(long)]
        share_url: bool,
        /// The address the link starts with (default: http://<server.bind>:<server.port>).
        #[arg(long, value_name = "URL", requires = "share_url")]
        base_url: Option<String>,
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
            agents,
            sessions,
            share_url,
            base_url,
        } => {
            let share = share_url.then(|| {
                base_url
                    .unwrap_or_else(|| default_base_url(&config.server.bind, config.server.port))
            });
            create(
                &verifier,
                role,
                &name,
                expires,
                scope_of(agents, sessions),
                share,
            )
            .await
        }
        TokenCommand::List => list(&store).await,
        TokenCommand::Revoke { id } => revoke(&verifier, &id, &config).await,
    };
    store.close().await.context("closing the store")?;
    result.map_err(CliError::from)
}

/// The scope the `--agent` and `--session` flags name; `None` when neither is given.
fn scope_of(agents: Vec<String>, sessions: Vec<String>) -> Option<Scope> {
    let list = |ids: Vec<String>| (!ids.is_empty()).then_some(ids);
    (!agents.is_empty() || !sessions.is_empty()).then(|| Scope {
        agents: list(agents),
        sessions: list(sessions),
    })
}

/// Creates the token and prints it, or (with `share` = the base URL) the link to its one
/// session's dashboard view carrying it.
async fn create(
    verifier: &TokenVerifier,
    role: Role,
    name: &str,
    expires: Option<Duration>,
    scope: Option<Scope>,
    share: Option<String>,
) -> anyhow::Result<()> {
    anyhow::ensure!(!name.trim().is_empty(), "--name must not be empty");
    let shared_session = match (&share, scope.as_ref().and_then(|s| s.sessions.as_deref())) {
        (Some(_), Some([one])) => Some(one.clone()),
        (Some(_), Some(_)) => anyhow::bail!("--share-url needs exactly one --session"),
        _ => None,
    };
    let grant = TokenGrant::new(role, scope)?;
    let created = verifier.create_granted(name, grant, expires).await?;
    match (&share, shared_session) {
        (Some(base), Some(session)) => println!("{}", share_url(base, &session, &created.token)),
        (Some(_), None) => {
            eprintln!("no --session to link to: printing the token");
            println!("{}", created.token);
        }
        (None, _) => println!("{}", created.token),
    }
    eprintln!(
        "created {} token {} ({name}){}, expires {}",
        created.role,
        created.id,
        scope_note(&created),
        format_time(created.expires_at)
    );
    Ok(())
}

/// ` for agent:a, session:s` for a scoped token, nothing otherwise.
fn scope_note(created: &CreatedToken) -> String {
    created
        .scope
        .as_ref()
        .map(|scope| format!(" for {}", describe_scope(scope).replace(',', ", ")))
        .unwrap_or_default()
}

/// The default start of a share link: the configured listen address, with an unspecified
/// address (`0.0.0.0`, `::`) read as this machine.
fn default_base_url(bind: &str, port: u16) -> String {
    let host = match bind {
        "0.0.0.0" | "" => "127.0.0.1",
        "::" | "[::]" => "[::1]",
        host if host.contains(':') && !host.starts_with('[') => {
            return format!("http://[{host}]:{port}");
        }
        host => host,
    };
    format!("http://{host}:{port}")
}

/// `<base>/ui/#/sessions/<id>?token=<token>`: the dashboard's session view, which reads the
/// token from the fragment (never sent to a server, so never in a log), keeps it and drops
/// it from the address bar.
fn share_url(base: &str, session: &str, token: &str) -> String {
    format!(
        "{}/ui/#/sessions/{}?token={token}",
        base.trim_end_matches('/'),
        percent_encode(session)
    )
}

/// Percent-encodes everything but RFC 3986's unreserved characters (as `encodeURIComponent`
/// does, less its few extra marks).
fn percent_encode(s: &str) -> String {
    s.bytes()
        .fold(String::with_capacity(s.len()), |mut out, b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
            out
        })
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

/// `agent:a,session:s` for a scope (its agents, then its sessions); `-` for none.
fn describe_scope(scope: &Scope) -> String {
    let agents = scope.agents.iter().flatten().map(|a| format!("agent:{a}"));
    let sessions = scope
        .sessions
        .iter()
        .flatten()
        .map(|s| format!("session:{s}"));
    let all: Vec<String> = agents.chain(sessions).collect();
    if all.is_empty() {
        "-".to_owned()
    } else {
        all.join(",")
    }
}

/// The `token list` table: id, name, role, scope, created, expires, last used, revoked.
fn token_table(tokens: &[TokenRecord], now: i64) -> String {
    let header = [
        "ID",
        "NAME",
        "ROLE",
        "SCOPE",
        "CREATED",
        "EXPIRES",
        "LAST USED",
        "REVOKED",
    ];
    let rows: Vec<[String; 8]> = tokens
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
                t.scope
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), describe_scope),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_link_opens_the_sessions_dashboard_view_with_the_token_in_the_fragment() {
        assert_eq!(
            share_url("http://127.0.0.1:8080/", "ses_1", "sb_a_b"),
            "http://127.0.0.1:8080/ui/#/sessions/ses_1?token=sb_a_b"
        );
        assert_eq!(
            share_url("https://gw.example", "a b/c?d", "t"),
            "https://gw.example/ui/#/sessions/a%20b%2Fc%3Fd?token=t"
        );
    }

    #[test]
    fn the_default_base_is_the_listen_address_with_an_unspecified_one_read_as_this_machine() {
        assert_eq!(default_base_url("127.0.0.1", 8080), "http://127.0.0.1:8080");
        assert_eq!(default_base_url("0.0.0.0", 80), "http://127.0.0.1:80");
        assert_eq!(default_base_url("::", 9000), "http://[::1]:9000");
        assert_eq!(default_base_url("::1", 9000), "http://[::1]:9000");
        assert_eq!(default_base_url("gw.local", 1), "http://gw.local:1");
    }

    #[test]
    fn a_scope_reads_as_its_agents_then_its_sessions() {
        let scope = scope_of(vec!["support".into()], vec!["ses_x".into(), "ses_y".into()]);
        assert_eq!(
            scope.as_ref().map(describe_scope).as_deref(),
            Some("agent:support,session:ses_x,session:ses_y")
        );
        assert_eq!(scope_of(Vec::new(), Vec::new()), None);
    }
}
