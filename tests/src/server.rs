//! An in-process server on `127.0.0.1:0` with its own data directory.

use std::net::SocketAddr;

use switchboard::{AppState, Server, run};
use switchboard_config::Config;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server. Dropping it stops the server.
#[derive(Debug)]
pub struct TestServer {
    pub addr: SocketAddr,
    pub state: AppState,
    /// The admin token created at first start.
    pub admin_token: String,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
    _dir: Option<TempDir>,
}

impl TestServer {
    /// A server on a fresh SQLite store with `env` as `SWITCHBOARD__…` overrides.
    pub async fn start(env: &[(&str, &str)]) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Self::start_in(dir.path(), env).await;
        server._dir = Some(dir);
        server
    }

    /// A server whose data directory is `dir` (kept by the caller, e.g. across restarts).
    pub async fn start_in(dir: &std::path::Path, env: &[(&str, &str)]) -> TestServer {
        let mut vars = vec![
            ("SWITCHBOARD__SERVER__PORT".to_owned(), "0".to_owned()),
            (
                "SWITCHBOARD__SERVER__DATA_DIR".to_owned(),
                dir.display().to_string(),
            ),
        ];
        vars.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let config = Config::load_from(None, vars).expect("test configuration is valid");
        let server = Server::start(config).await.expect("server starts");
        let admin_token = match &server.bootstrap_admin {
            Some(created) => created.token.clone(),
            None => String::new(),
        };
        let listener = server.bind().await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel();
        let state = server.state.clone();
        let handle = tokio::spawn(run(listener, server.state, async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            state,
            admin_token,
            stop: Some(stop),
            handle: Some(handle),
            _dir: None,
        }
    }

    /// `http://ADDR`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A token with `role`, created through the verifier (as `tokens.create` would).
    pub async fn token(&self, role: switchboard_api::Role) -> String {
        self.state
            .verifier
            .create(&format!("test-{role}"), role, None)
            .await
            .unwrap()
            .token
    }

    /// `ws://ADDR/rpc`.
    pub fn rpc_ws_url(&self) -> String {
        format!("ws://{}/rpc", self.addr)
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.unwrap().unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
