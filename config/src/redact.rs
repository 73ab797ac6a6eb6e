//! The effective configuration as shown to people (`config check`, `config.get`): defaults
//! resolved, secrets replaced by `"<redacted>"`.

use serde_json::Value;

use crate::model::Config;
use crate::secret::REDACTED;

impl Config {
    /// The effective configuration as JSON, safe to print or serve: `auth.admin_token` and
    /// `metrics.token` read `"<redacted>"` (an absent one stays `null`), a password in the store's
    /// URL is redacted, and resolved values are filled in (`auth.allow_anonymous`,
    /// `auth.anonymous_role`, `storage.url`).
    pub fn redacted(&self) -> Value {
        let mut value = match serde_json::to_value(self) {
            Ok(value) => value,
            Err(e) => return Value::String(format!("unserializable configuration: {e}")),
        };
        // `Secret` already serializes as "<redacted>"; set it again so that this function alone
        // guarantees it.
        redact_if_present(&mut value, "auth", "admin_token");
        redact_if_present(&mut value, "metrics", "token");
        if let Some(auth) = value.get_mut("auth").and_then(Value::as_object_mut) {
            auth.insert(
                "allow_anonymous".into(),
                Value::Bool(self.allow_anonymous()),
            );
            auth.insert(
                "anonymous_role".into(),
                Value::String(self.anonymous_role().as_str().to_owned()),
            );
        }
        if let Some(storage) = value.get_mut("storage").and_then(Value::as_object_mut) {
            storage.insert(
                "url".into(),
                Value::String(redact_url_password(&self.storage_url())),
            );
        }
        if let Some(cluster) = value.get_mut("cluster").and_then(Value::as_object_mut)
            && let Some(url) = &self.cluster.redis_url
        {
            cluster.insert("redis_url".into(), Value::String(redact_url_password(url)));
        }
        value
    }
}

/// Replaces `value[section][key]` with `"<redacted>"` unless it is absent or null.
fn redact_if_present(value: &mut Value, section: &str, key: &str) {
    if let Some(slot) = value.get_mut(section).and_then(|s| s.get_mut(key))
        && !slot.is_null()
    {
        *slot = Value::String(REDACTED.to_owned());
    }
}

/// `scheme://user:<redacted>@host/…` for a URL that carries a password; any other text unchanged.
pub(crate) fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let Some((user, _password)) = authority[..at].split_once(':') else {
        return url.to_owned();
    };
    format!("{scheme}://{user}:{REDACTED}{}", &rest[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_redacted() {
        assert_eq!(
            redact_url_password("postgres://sb:hunter2@db:5432/sb?sslmode=require"),
            "postgres://sb:<redacted>@db:5432/sb?sslmode=require"
        );
        assert_eq!(
            redact_url_password("postgres://sb@db/sb"),
            "postgres://sb@db/sb"
        );
        assert_eq!(
            redact_url_password("sqlite://./data/switchboard.db?mode=rwc"),
            "sqlite://./data/switchboard.db?mode=rwc"
        );
    }
}
