//! `switchboard bench`: `--help`, and a short smoke run of every scenario against a real
//! server (numbers are for the README's Performance section, not for tests).

use std::process::Command;

use serde_json::Value;
use switchboard_api::Role;
use switchboard_tests::{TestServer, switchboard_binary};

fn bench(args: Vec<String>) -> Vec<Value> {
    let out = Command::new(switchboard_binary())
        .arg("bench")
        .args(&args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn bench_help_names_every_scenario() {
    let out = Command::new(switchboard_binary())
        .args(["bench", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for scenario in [
        "rpc",
        "connect",
        "fanout",
        "idle",
        "chat",
        "--baseline",
        "--viewer-url",
        "current-thread",
    ] {
        assert!(help.contains(scenario), "{scenario} missing from:\n{help}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_scenario_runs_briefly() {
    let server = TestServer::start(&[
        ("SWITCHBOARD__LIMITS__CHAT_PER_MINUTE", "1000000"),
        ("SWITCHBOARD__LIMITS__CHAT_BURST", "100000"),
    ])
    .await;
    let token = server.token(Role::Operator).await;
    let ws = format!("ws://{}/ws", server.addr);
    let rpc = format!("ws://{}/rpc", server.addr);
    let pid = std::process::id().to_string();
    let runs: Vec<Vec<String>> = vec![
        vec![
            "rpc",
            "--url",
            &ws,
            "--token",
            &token,
            "--duration",
            "1s",
            "--connections",
            "2",
        ],
        vec![
            "rpc",
            "--url",
            &rpc,
            "--duration",
            "1s",
            "--connections",
            "2",
            "--baseline",
            "--rounds",
            "2",
            "--baseline-process",
        ],
        vec![
            "connect",
            "--url",
            &ws,
            "--token",
            &token,
            "--duration",
            "1s",
            "--connections",
            "2",
        ],
        vec![
            "fanout",
            "--url",
            &ws,
            "--viewer-url",
            &ws,
            "--token",
            &token,
            "--viewers",
            "5",
            "--words",
            "50",
        ],
        vec![
            "idle",
            "--url",
            &ws,
            "--token",
            &token,
            "--connections",
            "20",
            "--duration",
            "1s",
            "--server-pid",
            &pid,
        ],
        vec![
            "chat",
            "--url",
            &ws,
            "--token",
            &token,
            "--duration",
            "1s",
            "--operators",
            "2",
        ],
    ]
    .into_iter()
    .map(|v| v.into_iter().map(str::to_owned).collect())
    .collect();
    for args in runs {
        let a = args.clone();
        let reports = tokio::task::spawn_blocking(move || bench(a)).await.unwrap();
        let first = &reports[0];
        assert!(first["count"].as_u64().unwrap() > 0, "{args:?}: {first}");
        assert_eq!(first["errors"], 0, "{args:?}: {first}");
        if args[0] == "fanout" {
            assert_eq!(
                first["count"],
                5 * 53,
                "every viewer got every event: {first}"
            );
            assert_eq!(first["extra"]["viewer_url"], ws.as_str());
            // The true delay, from each event's `ts`: every event stamped, in a sane range.
            assert_eq!(first["extra"]["stamped"], 5 * 53, "{first}");
            let delay = &first["delay"];
            let p50 = delay["p50_ms"].as_f64().unwrap();
            let p99 = delay["p99_ms"].as_f64().unwrap();
            assert!(0.0 <= p50 && p50 <= p99 && p99 < 10_000.0, "{first}");
            let run = first["extra"]["run_seconds"].as_f64().unwrap();
            assert!(run <= first["seconds"].as_f64().unwrap(), "{first}");
        }
        if args.contains(&"--baseline".to_owned()) {
            assert_eq!(reports[1]["target"], "bare jsonrpsee");
            assert!(reports[1]["extra"]["ratio"].as_f64().unwrap() > 0.0);
            assert_eq!(reports[1]["extra"]["rounds"], 2);
        }
        if args[0] == "idle" {
            assert_eq!(first["extra"]["held"], 20);
            assert!(first["extra"]["kib_per_connection"].is_number());
        }
    }
    // `fanout`'s viewers connect to `--viewer-url`, not to `--url`: pointed at a closed port,
    // the run fails (the operator's side, on `--url`, is fine).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let viewer_url = format!("ws://{closed}/ws");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(switchboard_binary())
            .args(["bench", "fanout", "--url", &ws, "--token", &token])
            .args([
                "--viewer-url",
                &viewer_url,
                "--viewers",
                "1",
                "--words",
                "1",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refused"), "{stderr}");
}
