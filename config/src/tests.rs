//! Loading, layering, validation and redaction, end to end through files and a given environment.

use std::io::Write;
use std::path::{Path, PathBuf};

use switchboard_api::Role;

use crate::{AgentKind, Config, ConfigError, LogFormat, Risk, Secret};

/// Loads `toml` as the configuration file with `env` as the environment.
fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    file.write_all(toml.as_bytes()).unwrap();
    Config::load_from(Some(file.path()), env.iter().copied())
}

/// The error of loading `toml`, as `(key, message)`.
fn invalid(toml: &str) -> (String, String) {
    invalid_with_env(toml, &[])
}

fn invalid_with_env(toml: &str, env: &[(&str, &str)]) -> (String, String) {
    let err = load(toml, env).expect_err("configuration should be refused");
    let key = err
        .key()
        .unwrap_or_else(|| panic!("error names no key: {err}"));
    (key.to_owned(), err.to_string())
}

#[test]
fn defaults_are_those_of_the_spec() {
    let config = load("", &[]).unwrap();
    assert_eq!(config, Config::default());

    let server = &config.server;
    assert_eq!(server.bind, "127.0.0.1");
    assert_eq!(server.port, 8080);
    assert_eq!(server.data_dir, PathBuf::from("./data"));
    assert_eq!(server.max_frame_bytes, 524_288);
    assert_eq!(server.send_buffer, 256);
    assert_eq!(server.ping_interval_ms, 30_000);
    assert_eq!(server.read_timeout_ms, 60_000);
    assert_eq!(server.write_timeout_ms, 10_000);
    assert_eq!(server.max_connections, 10_000);
    assert_eq!(server.drain_timeout_s, 30);
    assert_eq!(server.max_inflight_calls, 64);

    assert_eq!(config.auth.admin_token, None);
    assert_eq!(config.auth.allow_anonymous, None);
    assert_eq!(config.auth.token_cache_ttl_s, 60);
    assert_eq!(config.auth.failed_per_minute, 10);
    assert_eq!(config.anonymous_role(), Role::Viewer);

    assert_eq!(config.limits.chat_per_minute, 60);
    assert_eq!(config.limits.chat_burst, 10);
    assert_eq!(config.limits.max_subscriptions, 128);
    assert_eq!(config.limits.max_queued_runs, 16);
    assert_eq!(config.limits.max_message_bytes, 65_536);

    assert_eq!(config.storage.url, None);
    assert_eq!(
        config.storage_url(),
        "sqlite://./data/switchboard.db?mode=rwc"
    );

    assert_eq!(config.agents.run_timeout_s, 1800);
    let main = config.agents.get("main").unwrap();
    assert_eq!(main.kind, AgentKind::Echo);
    assert_eq!(main.chunk_delay_ms, 0);
    assert_eq!(main.request_timeout_s, 120);
    assert_eq!(main.max_steps, 8);
    assert_eq!(main.history_messages, 50);
    assert_eq!(config.agents.defs.len(), 1);

    assert_eq!(config.approvals.timeout_s, 300);
    assert!(config.tools.is_empty());
    assert!(config.pricing.is_empty());
    assert_eq!(config.log.format, LogFormat::Pretty);
    assert_eq!(config.log.level, "info");
    assert_eq!(config.metrics.token, None);
    assert!(config.metrics.loopback_only);
}

#[test]
fn the_default_configuration_validates() {
    Config::default().validate().unwrap();
}

#[test]
fn the_example_file_validates() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../switchboard.example.toml");
    let config = Config::load_from(Some(&example), std::iter::empty::<(String, String)>()).unwrap();
    assert_eq!(config.server, Config::default().server);
    let exec = &config.tools["exec"];
    assert_eq!(exec.risk, Some(Risk::High));
    assert_eq!(exec.require_approval, Some(true));
    assert_eq!(config.pricing["gpt-4o-mini"].input_per_million, 0.15);
    assert_eq!(config.agents.get("main").unwrap().kind, AgentKind::Echo);
}

#[test]
fn the_example_file_validates_with_its_openai_agent_uncommented() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../switchboard.example.toml");
    let text = std::fs::read_to_string(example).unwrap();
    let mut uncommented = String::new();
    let mut in_gpt = false;
    for line in text.lines() {
        if line.starts_with("# [agents.gpt]") {
            in_gpt = true;
        } else if !line.starts_with('#') {
            in_gpt = false;
        }
        let line = if in_gpt { &line[2..] } else { line };
        uncommented.push_str(line);
        uncommented.push('\n');
    }
    let config = load(&uncommented, &[]).unwrap();
    let gpt = config.agents.get("gpt").unwrap();
    assert_eq!(gpt.kind, AgentKind::Openai);
    assert_eq!(gpt.model.as_deref(), Some("gpt-4o-mini"));
    assert_eq!(gpt.tools, ["clock", "calc", "http.get"]);
}

#[test]
fn the_file_overrides_defaults() {
    let config = load(
        r#"
        [server]
        port = 9001
        bind = "0.0.0.0"
        [limits]
        chat_burst = 3
        [log]
        format = "json"
        "#,
        &[],
    )
    .unwrap();
    assert_eq!(config.server.port, 9001);
    assert_eq!(config.server.bind, "0.0.0.0");
    assert_eq!(config.limits.chat_burst, 3);
    assert_eq!(config.log.format, LogFormat::Json);
    // Keys the file leaves out keep their defaults.
    assert_eq!(config.server.send_buffer, 256);
    assert_eq!(config.limits.chat_per_minute, 60);
}

#[test]
fn the_environment_overrides_the_file() {
    let config = load(
        "[server]\nport = 9001\n[auth]\nadmin_token = \"from-file\"\n",
        &[
            ("SWITCHBOARD__SERVER__PORT", "9000"),
            ("SWITCHBOARD__AUTH__ADMIN_TOKEN", "from-env"),
            ("SWITCHBOARD__AUTH__ALLOW_ANONYMOUS", "false"),
            ("SWITCHBOARD__STORAGE__URL", "postgres://sb:pw@db/sb"),
            ("SWITCHBOARD__SERVER__DATA_DIR", "/var/lib/switchboard"),
            ("UNRELATED", "ignored"),
        ],
    )
    .unwrap();
    assert_eq!(config.server.port, 9000);
    assert_eq!(config.auth.admin_token, Some(Secret::new("from-env")));
    assert_eq!(config.auth.allow_anonymous, Some(false));
    assert_eq!(config.storage_url(), "postgres://sb:pw@db/sb");
    assert_eq!(
        config.server.data_dir,
        PathBuf::from("/var/lib/switchboard")
    );
}

#[test]
fn environment_secrets_stay_exact_strings() {
    let config = load("", &[("SWITCHBOARD__AUTH__ADMIN_TOKEN", "00123e4")]).unwrap();
    assert_eq!(config.auth.admin_token.unwrap().expose(), "00123e4");
}

#[test]
fn an_empty_environment_variable_counts_as_unset() {
    let config = load(
        "[auth]\nadmin_token = \"from-file\"\n",
        &[("SWITCHBOARD__AUTH__ADMIN_TOKEN", "")],
    )
    .unwrap();
    assert_eq!(config.auth.admin_token.unwrap().expose(), "from-file");
}

#[test]
fn the_environment_overrides_the_agents_section_and_its_agents() {
    let config = load(
        "[agents]\nrun_timeout_s = 60\n[agents.main]\nkind = \"echo\"\n",
        &[
            ("SWITCHBOARD__AGENTS__RUN_TIMEOUT_S", "5"),
            ("SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS", "3"),
        ],
    )
    .unwrap();
    assert_eq!(config.agents.run_timeout_s, 5);
    assert_eq!(config.agents.get("main").unwrap().chunk_delay_ms, 3);
}

#[test]
fn the_environment_alone_can_tune_the_default_main_agent() {
    let config = load("", &[("SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS", "3")]).unwrap();
    let main = config.agents.get("main").unwrap();
    assert_eq!(main.kind, AgentKind::Echo);
    assert_eq!(main.chunk_delay_ms, 3);
}

#[test]
fn the_environment_can_configure_an_openai_agent() {
    let config = load(
        "",
        &[
            ("SWITCHBOARD__AGENTS__GPT__KIND", "openai"),
            (
                "SWITCHBOARD__AGENTS__GPT__BASE_URL",
                "http://127.0.0.1:11434/v1",
            ),
            ("SWITCHBOARD__AGENTS__GPT__MODEL", "llama3"),
            ("SWITCHBOARD__AGENTS__GPT__MAX_TOKENS", "256"),
            ("SWITCHBOARD__AGENTS__GPT__TEMPERATURE", "0.5"),
            ("SWITCHBOARD__AGENTS__GPT__TOOLS", "clock, calc"),
        ],
    )
    .unwrap();
    let gpt = config.agents.get("gpt").unwrap();
    assert_eq!(gpt.kind, AgentKind::Openai);
    assert_eq!(gpt.max_tokens, Some(256));
    assert_eq!(gpt.temperature, Some(0.5));
    assert_eq!(gpt.tools, ["clock", "calc"]);
    assert!(config.agents.get("main").is_some(), "main stays beside gpt");
}

#[test]
fn main_can_be_reconfigured_as_an_openai_agent() {
    let config = load(
        r#"
        [agents.main]
        kind = "openai"
        base_url = "https://api.openai.com/v1"
        model = "gpt-4o-mini"
        "#,
        &[],
    )
    .unwrap();
    assert_eq!(config.agents.get("main").unwrap().kind, AgentKind::Openai);
}

#[test]
fn durations_accept_humantime_strings() {
    let config = load(
        r#"
        [server]
        ping_interval_ms = "15s"
        read_timeout_ms = "1m"
        drain_timeout_s = "2m"
        [agents]
        run_timeout_s = "1h"
        [tools.exec]
        timeout_s = "30s"
        "#,
        &[("SWITCHBOARD__APPROVALS__TIMEOUT_S", "10m")],
    )
    .unwrap();
    assert_eq!(config.server.ping_interval_ms, 15_000);
    assert_eq!(config.server.read_timeout_ms, 60_000);
    assert_eq!(config.server.drain_timeout_s, 120);
    assert_eq!(config.agents.run_timeout_s, 3600);
    assert_eq!(config.tools["exec"].timeout_s, Some(30));
    assert_eq!(config.approvals.timeout_s, 600);
}

#[test]
fn port_zero_is_allowed() {
    assert_eq!(load("[server]\nport = 0\n", &[]).unwrap().server.port, 0);
}

#[test]
fn pricing_accepts_model_names_with_dots() {
    let config = load(
        "[pricing.\"gpt-4.1\"]\ninput_per_million = 2.0\noutput_per_million = 8.0\n",
        &[],
    )
    .unwrap();
    assert_eq!(config.pricing["gpt-4.1"].output_per_million, 8.0);
    assert!((config.pricing["gpt-4.1"].cost(1_000_000, 500_000) - 6.0).abs() < 1e-9);
}

#[test]
fn a_missing_explicit_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.toml");
    let err = Config::load_from(Some(&path), std::iter::empty::<(String, String)>()).unwrap_err();
    assert!(
        matches!(&err, ConfigError::MissingFile(p) if p == &path),
        "{err:?}"
    );
    assert!(err.to_string().contains("nope.toml"), "{err}");
}

#[test]
fn a_file_that_is_not_toml_is_a_load_error() {
    let err = load("[server\nport = 1", &[]).unwrap_err();
    assert!(matches!(err, ConfigError::Load(_)), "{err:?}");
}

#[test]
fn from_toml_parses_text_without_a_file() {
    let config = Config::from_toml("[server]\nport = 0\n").unwrap();
    assert_eq!(config.server.port, 0);
}

// Every refusal names its key.

#[test]
fn an_out_of_range_port_is_refused() {
    let (key, message) = invalid("[server]\nport = 70000\n");
    assert_eq!(key, "server.port");
    assert_eq!(message, "server.port: 70000 is out of range (0–65535)");
    let (key, _) = invalid("[server]\nport = -1\n");
    assert_eq!(key, "server.port");
}

#[test]
fn an_out_of_range_port_from_the_environment_is_refused() {
    let (key, message) = invalid_with_env("", &[("SWITCHBOARD__SERVER__PORT", "70000")]);
    assert_eq!(key, "server.port");
    assert!(message.contains("out of range"), "{message}");
}

#[test]
fn a_port_that_is_not_a_number_is_refused() {
    let (key, _) = invalid_with_env("", &[("SWITCHBOARD__SERVER__PORT", "http")]);
    assert_eq!(key, "server.port");
}

#[test]
fn an_unparsable_duration_is_refused() {
    let (key, message) = invalid("[server]\nping_interval_ms = \"abc\"\n");
    assert_eq!(key, "server.ping_interval_ms");
    assert!(
        message.starts_with("server.ping_interval_ms: unparsable duration \"abc\": "),
        "{message}"
    );
}

#[test]
fn an_unparsable_agent_duration_names_the_agent() {
    let (key, _) = invalid("[agents.main]\nchunk_delay_ms = \"soon\"\n");
    assert_eq!(key, "agents.main.chunk_delay_ms");
    let (key, _) = invalid("[agents]\nrun_timeout_s = \"never\"\n");
    assert_eq!(key, "agents.run_timeout_s");
}

#[test]
fn a_bind_that_is_no_address_is_refused() {
    let (key, _) = invalid("[server]\nbind = \"not an address\"\n");
    assert_eq!(key, "server.bind");
}

#[test]
fn a_storage_url_of_another_database_is_refused() {
    let (key, message) = invalid("[storage]\nurl = \"mysql://db/sb\"\n");
    assert_eq!(key, "storage.url");
    assert!(message.contains("mysql"), "{message}");
    let (key, _) = invalid("[storage]\nurl = \"not a url\"\n");
    assert_eq!(key, "storage.url");
}

#[test]
fn an_openai_base_url_that_is_not_http_is_refused() {
    let (key, _) = invalid(
        "[agents.gpt]\nkind = \"openai\"\nmodel = \"m\"\nbase_url = \"api.openai.com/v1\"\n",
    );
    assert_eq!(key, "agents.gpt.base_url");
}

#[test]
fn an_unknown_anonymous_role_is_refused() {
    let (key, message) = invalid("[auth]\nanonymous_role = \"root\"\n");
    assert_eq!(key, "auth.anonymous_role");
    assert!(
        message.starts_with("auth.anonymous_role: unknown role \"root\""),
        "{message}"
    );
}

#[test]
fn an_anonymous_admin_is_refused() {
    let (key, message) = invalid("[auth]\nanonymous_role = \"admin\"\n");
    assert_eq!(key, "auth.anonymous_role");
    assert!(message.contains("cannot be admin"), "{message}");
}

#[test]
fn an_anonymous_operator_is_allowed() {
    let config = load("[auth]\nanonymous_role = \"operator\"\n", &[]).unwrap();
    assert_eq!(config.anonymous_role(), Role::Operator);
}

#[test]
fn an_unknown_agent_kind_is_refused() {
    let (key, message) = invalid("[agents.x]\nkind = \"claude\"\n");
    assert_eq!(key, "agents.x.kind");
    assert_eq!(
        message,
        "agents.x.kind: unknown agent kind \"claude\" (expected echo or openai)"
    );
}

#[test]
fn an_openai_agent_without_a_model_is_refused() {
    let (key, _) =
        invalid("[agents.gpt]\nkind = \"openai\"\nbase_url = \"https://api.openai.com/v1\"\n");
    assert_eq!(key, "agents.gpt.model");
}

#[test]
fn an_openai_agent_without_a_base_url_is_refused() {
    let (key, _) = invalid("[agents.gpt]\nkind = \"openai\"\nmodel = \"gpt-4o-mini\"\n");
    assert_eq!(key, "agents.gpt.base_url");
}

#[test]
fn an_openai_agent_may_only_name_known_tools() {
    let agent =
        "[agents.gpt]\nkind = \"openai\"\nmodel = \"m\"\nbase_url = \"http://localhost:8000/v1\"\n";
    let (key, message) = invalid(&format!("{agent}tools = [\"clock\", \"rm-rf\"]\n"));
    assert_eq!(key, "agents.gpt.tools");
    assert!(message.contains("\"rm-rf\""), "{message}");
    let config = load(
        &format!("{agent}tools = [\"clock\", \"search\"]\n[tools.search]\nrisk = \"low\"\n"),
        &[],
    )
    .unwrap();
    assert_eq!(config.tools["search"].risk, Some(Risk::Low));
}

#[test]
fn an_unknown_risk_is_refused() {
    let (key, message) = invalid("[tools.exec]\nrisk = \"extreme\"\n");
    assert_eq!(key, "tools.exec.risk");
    assert!(
        message.contains("expected low, medium or high"),
        "{message}"
    );
}

#[test]
fn an_unknown_log_format_is_refused() {
    let (key, message) = invalid("[log]\nformat = \"xml\"\n");
    assert_eq!(key, "log.format");
    assert!(message.contains("expected pretty or json"), "{message}");
}

#[test]
fn zero_where_zero_makes_no_sense_is_refused() {
    for (toml, expected) in [
        ("[server]\nsend_buffer = 0\n", "server.send_buffer"),
        ("[server]\nmax_frame_bytes = 0\n", "server.max_frame_bytes"),
        ("[server]\nmax_connections = 0\n", "server.max_connections"),
        (
            "[server]\nmax_inflight_calls = 0\n",
            "server.max_inflight_calls",
        ),
        (
            "[server]\nping_interval_ms = 0\n",
            "server.ping_interval_ms",
        ),
        ("[limits]\nchat_burst = 0\n", "limits.chat_burst"),
        ("[agents]\nrun_timeout_s = 0\n", "agents.run_timeout_s"),
        ("[approvals]\ntimeout_s = 0\n", "approvals.timeout_s"),
    ] {
        let (key, _) = invalid(toml);
        assert_eq!(key, expected, "{toml}");
    }
}

#[test]
fn a_read_timeout_shorter_than_the_ping_interval_is_refused() {
    let (key, _) = invalid("[server]\nping_interval_ms = \"1m\"\nread_timeout_ms = \"30s\"\n");
    assert_eq!(key, "server.read_timeout_ms");
}

#[test]
fn an_unknown_key_is_refused_by_name() {
    let (key, message) = invalid("[server]\nprot = 9000\n");
    assert_eq!(key, "server.prot");
    assert!(message.contains("unknown key"), "{message}");
    let (key, _) = invalid("[agents.main]\nmodle = \"x\"\n");
    assert_eq!(key, "agents.main.modle");
    let (key, _) = invalid("[serverr]\nport = 1\n");
    assert_eq!(key, "serverr");
    let (key, _) = invalid_with_env("", &[("SWITCHBOARD__LIMITS__CHAT_BRUST", "5")]);
    assert_eq!(key, "limits.chat_brust");
}

#[test]
fn a_value_of_the_wrong_type_is_refused_by_key() {
    let (key, _) = invalid("[limits]\nchat_burst = \"many\"\n");
    assert_eq!(key, "limits.chat_burst");
}

// Resolution and redaction.

#[test]
fn anonymous_access_defaults_to_on_for_loopback_binds_only() {
    let at = |bind: &str| {
        let mut config = Config::default();
        config.server.bind = bind.to_owned();
        config.allow_anonymous()
    };
    assert!(at("127.0.0.1"));
    assert!(at("::1"));
    assert!(at("localhost"));
    assert!(!at("0.0.0.0"));
    assert!(!at("::"));
    assert!(!at("gateway.example.com"));
}

#[test]
fn configured_anonymous_access_wins_over_the_bind_address() {
    let config = load(
        "[server]\nbind = \"0.0.0.0\"\n[auth]\nallow_anonymous = true\n",
        &[],
    )
    .unwrap();
    assert!(config.allow_anonymous());
    let config = load("[auth]\nallow_anonymous = false\n", &[]).unwrap();
    assert!(!config.allow_anonymous());
}

#[test]
fn redacted_hides_secrets_and_shows_resolved_values() {
    let config = load(
        "[auth]\nadmin_token = \"sb_admin_hunter2\"\n[metrics]\ntoken = \"metrics-hunter2\"\n\
         [storage]\nurl = \"postgres://sb:hunter2@db/sb\"\n",
        &[],
    )
    .unwrap();
    let value = config.redacted();
    assert_eq!(value["auth"]["admin_token"], "<redacted>");
    assert_eq!(value["metrics"]["token"], "<redacted>");
    assert_eq!(value["storage"]["url"], "postgres://sb:<redacted>@db/sb");
    assert_eq!(value["auth"]["allow_anonymous"], true);
    assert_eq!(value["auth"]["anonymous_role"], "viewer");
    assert_eq!(value["agents"]["main"]["kind"], "echo");
    assert_eq!(value["agents"]["run_timeout_s"], 1800);
    assert!(!value.to_string().contains("hunter2"), "{value}");
}

#[test]
fn redacted_leaves_absent_secrets_absent() {
    let value = Config::default().redacted();
    assert!(value["auth"]["admin_token"].is_null());
    assert!(value["metrics"]["token"].is_null());
    assert_eq!(
        value["storage"]["url"],
        "sqlite://./data/switchboard.db?mode=rwc"
    );
}

#[test]
fn debug_hides_secrets() {
    let config = load(
        "[auth]\nadmin_token = \"sb_admin_hunter2\"\n[storage]\nurl = \"postgres://sb:hunter2@db/sb\"\n",
        &[],
    )
    .unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
    assert_eq!(
        config.auth.admin_token.unwrap().expose(),
        "sb_admin_hunter2"
    );
}
