//! The real OpenClaw CLI against `/ws`: `openclaw gateway call health|status --json` must
//! succeed. Runs where `SWITCHBOARD_OPENCLAW` names a runner (`scripts/openclaw-setup.sh`
//! prints one; CI sets it); elsewhere it says "skipped" and passes.

use std::process::Command;

use switchboard_api::Role;
use switchboard_tests::TestServer;

#[tokio::test]
async fn the_real_openclaw_cli_calls_health_and_status() {
    let Some(runner) = std::env::var_os("SWITCHBOARD_OPENCLAW").filter(|r| !r.is_empty()) else {
        println!(
            "skipped: no OpenClaw CLI (set SWITCHBOARD_OPENCLAW to scripts/openclaw-setup.sh's runner; needs Node >= 24)"
        );
        return;
    };
    let server = TestServer::start(&[]).await;
    let token = server.token(Role::Operator).await;
    let url = format!("ws://{}/ws", server.addr);
    for method in ["health", "status"] {
        let runner = runner.clone();
        let (url, token) = (url.clone(), token.clone());
        let out = tokio::task::spawn_blocking(move || {
            Command::new(runner)
                .args([
                    "gateway", "call", method, "--url", &url, "--token", &token, "--json",
                ])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{method}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json_start = stdout
            .find('{')
            .unwrap_or_else(|| panic!("{method}: no JSON in {stdout}"));
        let payload: serde_json::Value = serde_json::from_str(stdout[json_start..].trim()).unwrap();
        match method {
            "health" => assert_eq!(payload["status"], "ok"),
            _ => assert_eq!(payload["store"], "sqlite"),
        }
    }
}
