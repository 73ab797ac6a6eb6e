//! Configuration through the built binary: layering defaults < file < environment, every
//! validation error naming its key with exit code 2, and redaction.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use switchboard_tests::switchboard_binary;

fn config_check(dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(switchboard_binary());
    cmd.args(["config", "check"])
        .current_dir(dir)
        .env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn effective(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn defaults_then_file_then_environment() {
    let dir = tempfile::tempdir().unwrap();
    let defaults = effective(&config_check(dir.path(), &[]));
    assert_eq!(defaults["server"]["port"], 8080);
    assert_eq!(defaults["server"]["bind"], "127.0.0.1");
    assert_eq!(defaults["server"]["send_buffer"], 256);
    assert_eq!(defaults["auth"]["allow_anonymous"], true);
    assert_eq!(defaults["agents"]["main"]["kind"], "echo");
    assert_eq!(defaults["limits"]["chat_per_minute"], 60);

    std::fs::write(
        dir.path().join("switchboard.toml"),
        "[server]\nport = 9000\nsend_buffer = 64\n[limits]\nchat_burst = 3\n",
    )
    .unwrap();
    let from_file = effective(&config_check(dir.path(), &[]));
    assert_eq!(from_file["server"]["port"], 9000);
    assert_eq!(from_file["limits"]["chat_burst"], 3);

    let from_env = effective(&config_check(
        dir.path(),
        &[
            ("SWITCHBOARD__SERVER__PORT", "9100"),
            ("SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS", "5"),
        ],
    ));
    assert_eq!(from_env["server"]["port"], 9100);
    assert_eq!(
        from_env["server"]["send_buffer"], 64,
        "file values stay where env is silent"
    );
    assert_eq!(from_env["agents"]["main"]["chunk_delay_ms"], 5);
}

#[test]
fn an_explicit_config_file_is_used_and_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("other.toml");
    std::fs::write(&file, "[server]\nport = 7000\n").unwrap();
    let out = Command::new(switchboard_binary())
        .args(["config", "check", "--config"])
        .arg(&file)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(effective(&out)["server"]["port"], 7000);
    let missing = Command::new(switchboard_binary())
        .args(["config", "check", "--config", "nope.toml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.toml"));
}

#[test]
fn every_bad_value_names_its_key_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &str)] = &[
        ("SWITCHBOARD__SERVER__PORT", "70000", "server.port"),
        ("SWITCHBOARD__SERVER__PORT", "eighty", "server.port"),
        (
            "SWITCHBOARD__SERVER__PING_INTERVAL_MS",
            "soon",
            "server.ping_interval_ms",
        ),
        (
            "SWITCHBOARD__AUTH__TOKEN_CACHE_TTL_S",
            "1x",
            "auth.token_cache_ttl_s",
        ),
        ("SWITCHBOARD__STORAGE__URL", "mysql://x/y", "storage.url"),
        ("SWITCHBOARD__STORAGE__URL", "not a url", "storage.url"),
        (
            "SWITCHBOARD__AUTH__ANONYMOUS_ROLE",
            "root",
            "auth.anonymous_role",
        ),
        (
            "SWITCHBOARD__AUTH__ANONYMOUS_ROLE",
            "admin",
            "auth.anonymous_role",
        ),
        (
            "SWITCHBOARD__AGENTS__MAIN__KIND",
            "llama",
            "agents.main.kind",
        ),
        ("SWITCHBOARD__LOG__FORMAT", "xml", "log.format"),
        (
            "SWITCHBOARD__SERVER__SEND_BUFFER",
            "0",
            "server.send_buffer",
        ),
        ("SWITCHBOARD__SERVER__PROT", "1", "server.prot"),
    ];
    for (key, value, named) in cases {
        let out = config_check(dir.path(), &[(key, value)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{key}={value}: {stderr}");
        assert!(
            stderr.contains(named),
            "{key}={value} should name {named}: {stderr}"
        );
    }
    std::fs::write(
        dir.path().join("switchboard.toml"),
        "[agents.gpt]\nkind = \"openai\"\n",
    )
    .unwrap();
    let out = config_check(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("agents.gpt"));
}

#[test]
fn secrets_are_redacted_in_config_check() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "gateway-secret-value-123";
    let out = config_check(
        dir.path(),
        &[
            ("SWITCHBOARD__AUTH__ADMIN_TOKEN", secret),
            (
                "SWITCHBOARD__STORAGE__URL",
                "postgres://u:dbpass999@127.0.0.1/x",
            ),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        !text.contains(secret) && !text.contains("dbpass999"),
        "{text}"
    );
    assert_eq!(effective(&out)["auth"]["admin_token"], "<redacted>");
}

#[test]
fn the_example_file_is_valid() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../switchboard.example.toml");
    let out = Command::new(switchboard_binary())
        .args(["config", "check", "--config"])
        .arg(&example)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
