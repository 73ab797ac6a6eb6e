//! Checks that span keys or that types cannot express: addresses, URLs, zero limits, what an
//! `openai` agent needs. The first problem found is reported, naming its key.

use std::net::IpAddr;

use switchboard_api::Role;

use crate::agents::AgentConfig;
use crate::defaults::BUILTIN_TOOLS;
use crate::error::ConfigError;
use crate::model::Config;
use crate::names::{AgentKind, one_of};

impl Config {
    /// Checks every value that deserialization alone cannot; [`Config::load`] calls it.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the first key at fault and why.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_server()?;
        self.validate_auth()?;
        self.validate_limits()?;
        self.validate_storage()?;
        self.validate_cluster()?;
        self.validate_agents()?;
        positive("approvals.timeout_s", self.approvals.timeout_s)?;
        self.validate_tools()?;
        self.validate_log_and_metrics()
    }

    fn validate_server(&self) -> Result<(), ConfigError> {
        let server = &self.server;
        if !is_ip_or_hostname(&server.bind) {
            return Err(ConfigError::invalid(
                "server.bind",
                format!("{:?} is not an IP address or hostname", server.bind),
            ));
        }
        if server.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::invalid("server.data_dir", "must not be empty"));
        }
        positive("server.max_frame_bytes", server.max_frame_bytes)?;
        positive("server.send_buffer", server.send_buffer)?;
        positive("server.ping_interval_ms", server.ping_interval_ms)?;
        positive("server.read_timeout_ms", server.read_timeout_ms)?;
        positive("server.write_timeout_ms", server.write_timeout_ms)?;
        positive("server.max_connections", server.max_connections)?;
        positive("server.max_inflight_calls", server.max_inflight_calls)?;
        if server.read_timeout_ms <= server.ping_interval_ms {
            return Err(ConfigError::invalid(
                "server.read_timeout_ms",
                format!(
                    "{} must be greater than server.ping_interval_ms ({}), or idle connections \
                     are closed before they are pinged",
                    server.read_timeout_ms, server.ping_interval_ms
                ),
            ));
        }
        Ok(())
    }

    fn validate_auth(&self) -> Result<(), ConfigError> {
        let auth = &self.auth;
        if let Some(token) = &auth.admin_token {
            not_blank("auth.admin_token", token.expose())?;
        }
        if auth.anonymous_role == Some(Role::Admin) {
            return Err(ConfigError::invalid(
                "auth.anonymous_role",
                "anonymous callers cannot be admin (expected viewer or operator)",
            ));
        }
        positive("auth.failed_per_minute", auth.failed_per_minute)
    }

    fn validate_limits(&self) -> Result<(), ConfigError> {
        let limits = &self.limits;
        positive("limits.chat_per_minute", limits.chat_per_minute)?;
        positive("limits.chat_burst", limits.chat_burst)?;
        positive("limits.max_subscriptions", limits.max_subscriptions)?;
        positive("limits.max_message_bytes", limits.max_message_bytes)
    }

    fn validate_storage(&self) -> Result<(), ConfigError> {
        match &self.storage.url {
            Some(url) => {
                check_storage_url(url).map_err(|reason| ConfigError::invalid("storage.url", reason))
            }
            None => Ok(()),
        }
    }

    fn validate_cluster(&self) -> Result<(), ConfigError> {
        let cluster = &self.cluster;
        let Some(url) = &cluster.redis_url else {
            return Ok(());
        };
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) || url.len() <= 10 {
            return Err(ConfigError::invalid(
                "cluster.redis_url",
                "expected redis://HOST[:PORT][/DB] or rediss://…",
            ));
        }
        let url_is_postgres = self
            .storage
            .url
            .as_deref()
            .is_some_and(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"));
        if !url_is_postgres {
            return Err(ConfigError::invalid(
                "storage.url",
                "many nodes (cluster.redis_url is set) share one PostgreSQL store: set \
                 storage.url to postgres://…",
            ));
        }
        positive("cluster.lease_s", cluster.lease_s)?;
        if let Some(id) = &cluster.node_id
            && (id.is_empty()
                || id.len() > 64
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
        {
            return Err(ConfigError::invalid(
                "cluster.node_id",
                "1–64 characters of A–Z, a–z, 0–9, `-`, `_`, `.`",
            ));
        }
        let prefix = &cluster.channel_prefix;
        if prefix.is_empty() || prefix.len() > 64 || prefix.contains(char::is_whitespace) {
            return Err(ConfigError::invalid(
                "cluster.channel_prefix",
                "1–64 characters without spaces",
            ));
        }
        Ok(())
    }

    fn validate_agents(&self) -> Result<(), ConfigError> {
        positive("agents.run_timeout_s", self.agents.run_timeout_s)?;
        for (id, agent) in self.agents.iter() {
            check_agent_id(id)?;
            self.validate_agent(id, agent)?;
        }
        Ok(())
    }

    fn validate_agent(&self, id: &str, agent: &AgentConfig) -> Result<(), ConfigError> {
        let key = |field: &str| entry_key("agents", id, field);
        positive(&key("request_timeout_s"), agent.request_timeout_s)?;
        positive(&key("max_steps"), agent.max_steps)?;
        positive(&key("history_messages"), agent.history_messages)?;
        if let Some(url) = &agent.base_url {
            check_http_url(url).map_err(|reason| ConfigError::invalid(key("base_url"), reason))?;
        }
        if let Some(temperature) = agent.temperature
            && !(0.0..=2.0).contains(&temperature)
        {
            return Err(ConfigError::invalid(
                key("temperature"),
                format!("{temperature} is out of range (0–2)"),
            ));
        }
        if agent.max_tokens == Some(0) {
            return Err(ConfigError::invalid(
                key("max_tokens"),
                "must be at least 1",
            ));
        }
        if let Some(var) = &agent.api_key_env {
            not_blank(&key("api_key_env"), var)?;
        }
        if agent.kind != AgentKind::Openai {
            return Ok(());
        }
        if agent.base_url.is_none() {
            return Err(ConfigError::invalid(
                key("base_url"),
                "an openai agent needs a base_url (e.g. \"https://api.openai.com/v1\")",
            ));
        }
        match &agent.model {
            None => {
                return Err(ConfigError::invalid(
                    key("model"),
                    "an openai agent needs a model",
                ));
            }
            Some(model) => not_blank(&key("model"), model)?,
        }
        for tool in &agent.tools {
            if !BUILTIN_TOOLS.contains(&tool.as_str()) && !self.tools.contains_key(tool) {
                return Err(ConfigError::invalid(
                    key("tools"),
                    format!(
                        "unknown tool {tool:?} (expected {} or a [tools.<name>] table)",
                        one_of(&BUILTIN_TOOLS)
                    ),
                ));
            }
        }
        Ok(())
    }

    fn validate_tools(&self) -> Result<(), ConfigError> {
        for (name, tool) in &self.tools {
            let key = |field: &str| entry_key("tools", name, field);
            if name.trim().is_empty() {
                return Err(ConfigError::invalid(
                    "tools",
                    "a tool name must not be empty",
                ));
            }
            if tool.timeout_s == Some(0) {
                return Err(ConfigError::invalid(key("timeout_s"), "must be at least 1"));
            }
            if tool.max_output_bytes == Some(0) {
                return Err(ConfigError::invalid(
                    key("max_output_bytes"),
                    "must be at least 1",
                ));
            }
            for host in &tool.allowed_hosts {
                not_blank(&key("allowed_hosts"), host)?;
            }
            for command in &tool.allowed_commands {
                not_blank(&key("allowed_commands"), command)?;
            }
            let http_get = matches!(name.as_str(), "http.get" | "http_get");
            if tool.allow_private && !http_get {
                return Err(ConfigError::invalid(
                    key("allow_private"),
                    "only http.get reaches the network",
                ));
            }
            if (tool.env.is_some() || tool.workdir.is_some()) && name != "exec" {
                let field = if tool.env.is_some() { "env" } else { "workdir" };
                return Err(ConfigError::invalid(key(field), "only exec runs programs"));
            }
            for var in tool.env.iter().flatten() {
                not_blank(&key("env"), var)?;
                if var.contains(['=', '\0']) {
                    return Err(ConfigError::invalid(
                        key("env"),
                        format!("{var:?} is not an environment variable name"),
                    ));
                }
            }
            if let Some(dir) = &tool.workdir {
                not_blank(&key("workdir"), &dir.to_string_lossy())?;
            }
        }
        for (model, pricing) in &self.pricing {
            let prices = [
                ("input_per_million", pricing.input_per_million),
                ("output_per_million", pricing.output_per_million),
            ];
            for (field, price) in prices {
                if !price.is_finite() || price < 0.0 {
                    return Err(ConfigError::invalid(
                        entry_key("pricing", model, field),
                        format!("{price} is not a price (expected a number ≥ 0)"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_log_and_metrics(&self) -> Result<(), ConfigError> {
        not_blank("log.level", &self.log.level)?;
        if let Some(token) = &self.metrics.token {
            not_blank("metrics.token", token.expose())?;
        }
        Ok(())
    }
}

/// Zero makes no sense for this key.
fn positive<N: PartialEq + Default>(key: &str, value: N) -> Result<(), ConfigError> {
    if value == N::default() {
        Err(ConfigError::invalid(key, "must be at least 1"))
    } else {
        Ok(())
    }
}

/// An empty or whitespace-only string makes no sense for this key.
fn not_blank(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        Err(ConfigError::invalid(key, "must not be empty"))
    } else {
        Ok(())
    }
}

/// `section.name.field`, quoting a name that is not a bare TOML key (`tools."http.get".risk`).
fn entry_key(section: &str, name: &str, field: &str) -> String {
    let bare = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        format!("{section}.{name}.{field}")
    } else {
        format!("{section}.{name:?}.{field}")
    }
}

/// Agent ids appear in topics (`agent:<id>`) and URLs: letters, digits, `_` and `-`.
fn check_agent_id(id: &str) -> Result<(), ConfigError> {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            format!("agents.{id:?}"),
            "an agent id is 1–64 letters, digits, `_` or `-`",
        ))
    }
}

/// An IP address, or a hostname of dot-separated labels (letters, digits, inner `-`).
pub(crate) fn is_ip_or_hostname(host: &str) -> bool {
    if host.parse::<IpAddr>().is_ok() {
        return true;
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    let labels_ok = name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    // An all-digit last label is a mistyped IPv4 address (`300.1.1.1`), not a name.
    let last_is_numeric = name
        .rsplit('.')
        .next()
        .is_some_and(|label| label.bytes().all(|b| b.is_ascii_digit()));
    labels_ok && !last_is_numeric
}

/// `sqlite:…` (`sqlite://path`, `sqlite::memory:`) or `postgres://…` / `postgresql://…`.
fn check_storage_url(url: &str) -> Result<(), String> {
    let Some((scheme, rest)) = url.split_once(':') else {
        return Err(format!(
            "{url:?} is not a URL (expected sqlite://… or postgres://…)"
        ));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" if !rest.is_empty() && rest != "//" => Ok(()),
        "postgres" | "postgresql" if rest.len() > 2 && rest.starts_with("//") => Ok(()),
        "sqlite" | "postgres" | "postgresql" => Err(format!("{url:?} names no database")),
        other => Err(format!(
            "unsupported scheme {other:?} (expected sqlite, postgres or postgresql)"
        )),
    }
}

/// An `http://` or `https://` URL with a host and, if any, a numeric port.
fn check_http_url(url: &str) -> Result<(), String> {
    if url.chars().any(char::is_whitespace) {
        return Err(format!("{url:?} contains whitespace"));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "{url:?} is not a URL (expected http://… or https://…)"
        ));
    };
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
        return Err(format!(
            "unsupported scheme {scheme:?} (expected http or https)"
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let Some((ip, after)) = bracketed.split_once(']') else {
            return Err(format!("{url:?} has an unclosed [IPv6] host"));
        };
        if ip.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("{url:?} has an invalid IPv6 host"));
        }
        (ip, after.strip_prefix(':'))
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    if !host.contains(':') && !is_ip_or_hostname(host) {
        return Err(format!("{url:?} has an invalid host {host:?}"));
    }
    if let Some(port) = port
        && port.parse::<u16>().is_err()
    {
        return Err(format!("{url:?} has an invalid port {port:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_ips_or_names() {
        for ok in [
            "127.0.0.1",
            "0.0.0.0",
            "::",
            "::1",
            "localhost",
            "gw.example.com",
            "a-b",
        ] {
            assert!(is_ip_or_hostname(ok), "{ok}");
        }
        for bad in [
            "",
            "300.1.1.1",
            "-a",
            "a_b",
            "a b",
            "[::1]",
            "exa..mple",
            "http://x",
        ] {
            assert!(!is_ip_or_hostname(bad), "{bad}");
        }
    }

    #[test]
    fn http_urls_need_a_scheme_and_a_host() {
        for ok in [
            "https://api.openai.com/v1",
            "http://127.0.0.1:11434/v1",
            "http://[::1]:8000/v1",
            "http://localhost",
        ] {
            assert_eq!(check_http_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "api.openai.com/v1",
            "ftp://x",
            "http://",
            "http://:80",
            "http://h:port",
        ] {
            assert!(check_http_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn storage_urls_are_sqlite_or_postgres() {
        for ok in [
            "sqlite://./data/switchboard.db?mode=rwc",
            "sqlite::memory:",
            "postgres://sb:pw@db/sb",
            "postgresql://db/sb",
        ] {
            assert_eq!(check_storage_url(ok), Ok(()), "{ok}");
        }
        assert!(
            check_storage_url("mysql://db/sb")
                .unwrap_err()
                .contains("mysql")
        );
        assert!(check_storage_url("nonsense").is_err());
        assert!(check_storage_url("postgres://").is_err());
    }
}
