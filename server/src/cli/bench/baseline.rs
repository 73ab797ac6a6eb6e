//! `--baseline`: a bare jsonrpsee server, started in this process on its own two-thread runtime
//! (or, with `--baseline-process`, in a child process), with the same `health` method and the
//! same limits, for the ratio of the `rpc` scenario.

use std::time::Instant;

use jsonrpsee::RpcModule;
use jsonrpsee::server::{Server, ServerConfig};
use serde_json::json;

/// Starts the bare server; returns its `ws://` URL.
pub(super) fn start() -> anyhow::Result<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                let _ = tx.send(Err(anyhow::anyhow!("runtime: {e}")));
                return;
            }
        };
        runtime.block_on(async move {
            let started = Instant::now();
            let mut module = RpcModule::new(());
            let registered = module.register_method("health", move |_, _, _| {
                json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION"), "uptime_s": started.elapsed().as_secs() })
            });
            if let Err(e) = registered {
                let _ = tx.send(Err(anyhow::anyhow!("{e}")));
                return;
            }
            let config = ServerConfig::builder()
                .max_connections(10_000)
                .max_request_body_size(512 * 1024)
                .set_message_buffer_capacity(256)
                .build();
            let server = match Server::builder().set_config(config).build("127.0.0.1:0").await {
                Ok(server) => server,
                Err(e) => {
                    let _ = tx.send(Err(anyhow::anyhow!("{e}")));
                    return;
                }
            };
            let addr = server.local_addr();
            let handle = server.start(module);
            let _ = tx.send(addr.map(|a| format!("ws://{a}")).map_err(anyhow::Error::from));
            handle.stopped().await;
        });
    });
    rx.recv()?
}

/// Starts the bare server in a child process (this binary with `bench --serve-baseline`);
/// returns the child (killed when dropped) and the server's URL.
pub(super) async fn spawn() -> anyhow::Result<(tokio::process::Child, String)> {
    use tokio::io::AsyncBufReadExt;

    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args(["bench", "rpc", "--serve-baseline"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut line = String::new();
    tokio::io::BufReader::new(stdout)
        .read_line(&mut line)
        .await?;
    let url = line.trim();
    anyhow::ensure!(
        url.starts_with("ws://"),
        "the baseline process said {url:?}"
    );
    Ok((child, url.to_owned()))
}

/// Serves the bare server, prints its URL, and runs until stdin closes (the parent ended).
pub(super) async fn serve_until_stdin_closes() -> anyhow::Result<()> {
    use std::io::{Read, Write};

    let url = start()?;
    println!("{url}");
    std::io::stdout().flush()?;
    // The server runs on its own runtime: this thread only waits.
    std::io::stdin().read_to_end(&mut Vec::new())?;
    Ok(())
}
