//! A headless Chromium driven through chromedriver (WebDriver, with `fantoccini`), as a person
//! at a browser would: open a page, wait for an element, read text, click, type, reload, take
//! screenshots. Each [`Browser`] starts its own `chromedriver` on a free port and its own
//! browser session (a fresh profile), and ends both when dropped.
//!
//! The browser's console is collected (WebDriver's `se/log`, `goog:loggingPrefs {browser:
//! ALL}`): [`Browser::console_errors`] gives every `SEVERE` or `WARNING` entry since the start,
//! CSP violations and failed loads included.
//!
//! Screenshots go to a temporary directory, kept (and its path printed) when the test panics
//! or `SWITCHBOARD_KEEP_SCREENSHOTS=1`; [`Browser::doc_screenshot`] also writes `docs/<name>`
//! when `SWITCHBOARD_UPDATE_SCREENSHOTS=1`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tempfile::TempDir;

/// How often a wait looks at the page.
const POLL: Duration = Duration::from_millis(40);

/// The window size of every session (the dashboard's desktop layout).
pub const WINDOW: (u32, u32) = (1280, 800);

/// Where chromedriver and Chromium are, or why a browser test cannot run here.
pub fn chromium() -> Result<(PathBuf, PathBuf), String> {
    let driver = which("chromedriver")
        .or_else(|| Some(PathBuf::from("/usr/bin/chromedriver")).filter(|p| p.is_file()))
        .ok_or("no chromedriver on PATH or at /usr/bin/chromedriver")?;
    let browser = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| which(name))
        .or_else(|| Some(PathBuf::from("/usr/bin/chromium")).filter(|p| p.is_file()))
        .ok_or("no chromium, chromium-browser or google-chrome on PATH")?;
    Ok((driver, browser))
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A headless Chromium session behind its own chromedriver.
#[derive(Debug)]
pub struct Browser {
    client: Client,
    driver: Child,
    driver_addr: SocketAddr,
    session_id: String,
    /// Every console entry read so far (reading the log drains it in the driver).
    console: Mutex<Vec<Value>>,
    shots: Option<TempDir>,
}

impl Browser {
    /// Starts chromedriver and a headless session; `None` (after printing
    /// `skipped: no Chromium/chromedriver …`) where they are not installed.
    pub async fn start() -> Option<Browser> {
        let (driver_path, browser_path) = match chromium() {
            Ok(found) => found,
            Err(why) => {
                println!(
                    "skipped: no Chromium/chromedriver ({why}); install chromium and chromium-driver"
                );
                return None;
            }
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver_addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", driver_path.display()));
        let deadline = Instant::now() + Duration::from_secs(15);
        while !driver_ready(driver_addr) {
            if let Ok(Some(status)) = driver.try_wait() {
                panic!("chromedriver exited at start: {status}");
            }
            if Instant::now() > deadline {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("chromedriver not ready in 15 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let options = json!({
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                format!("--window-size={},{}", WINDOW.0, WINDOW.1),
            ],
            "binary": browser_path.display().to_string(),
        });
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": options,
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = match ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://{driver_addr}"))
            .await
        {
            Ok(client) => client,
            Err(e) => {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("a Chromium session could not be started: {e}");
            }
        };
        let session_id = client
            .session_id()
            .await
            .unwrap()
            .expect("a new session has an id");
        // The window is sized so that the page's viewport is WINDOW (the browser's own frame
        // takes some of it, even headless).
        let inner = client
            .execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await
            .unwrap();
        let (width, height) = (
            inner[0].as_u64().unwrap_or(u64::from(WINDOW.0)),
            inner[1].as_u64().unwrap_or(u64::from(WINDOW.1)),
        );
        let extra = |want: u32, got: u64| want + want.saturating_sub(got as u32);
        if (width, height) != (u64::from(WINDOW.0), u64::from(WINDOW.1)) {
            client
                .set_window_size(extra(WINDOW.0, width), extra(WINDOW.1, height))
                .await
                .unwrap();
        }
        let shots = tempfile::Builder::new()
            .prefix("switchboard-dashboard-")
            .tempdir()
            .unwrap();
        Some(Browser {
            client,
            driver,
            driver_addr,
            session_id,
            console: Mutex::new(Vec::new()),
            shots: Some(shots),
        })
    }

    /// The WebDriver client, for what the helpers here do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens `url` (waits for the load event).
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// Reloads the page.
    pub async fn reload(&self) {
        self.client.refresh().await.unwrap();
    }

    /// The page's URL.
    pub async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    /// Runs `script` (a function body: `return …`) in the page; `arguments[i]` are `args`.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script {script:?}: {e}"))
    }

    /// The elements matching the CSS `selector` now.
    pub async fn all(&self, selector: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("find_all {selector}: {e}"))
    }

    /// How many elements match `selector` now.
    pub async fn count(&self, selector: &str) -> usize {
        self.all(selector).await.len()
    }

    /// Whether an element matching `selector` exists and is displayed now.
    pub async fn visible(&self, selector: &str) -> bool {
        for element in self.all(selector).await {
            if element.is_displayed().await.unwrap_or(false) {
                return true;
            }
        }
        false
    }

    /// Waits until an element matching `selector` is displayed; panics (with a screenshot
    /// and the page's state) after `timeout`.
    pub async fn wait_for(&self, selector: &str, timeout: Duration) -> Element {
        let deadline = Instant::now() + timeout;
        loop {
            for element in self.all(selector).await {
                if element.is_displayed().await.unwrap_or(false) {
                    return element;
                }
            }
            if Instant::now() > deadline {
                self.fail(&format!("no visible {selector} within {timeout:?}"))
                    .await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until an element matching `selector` is in the document (shown or not).
    pub async fn wait_present(&self, selector: &str, timeout: Duration) -> Element {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(element) = self.all(selector).await.into_iter().next() {
                return element;
            }
            if Instant::now() > deadline {
                self.fail(&format!("no {selector} within {timeout:?}"))
                    .await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until no element matching `selector` is displayed.
    pub async fn wait_gone(&self, selector: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.visible(selector).await {
            if Instant::now() > deadline {
                self.fail(&format!("{selector} still visible after {timeout:?}"))
                    .await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the JavaScript expression `expr` is truthy in the page; returns its value.
    pub async fn wait_js(&self, expr: &str, timeout: Duration) -> Value {
        match self.poll_js(expr, timeout).await {
            Some(value) => value,
            None => {
                self.fail(&format!("`{expr}` not true within {timeout:?}"))
                    .await
            }
        }
    }

    /// [`Browser::wait_js`] without failing: `None` when `expr` stayed falsy for `timeout`.
    pub async fn poll_js(&self, expr: &str, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        let script = format!("return ({expr});");
        loop {
            let value = self.js(&script, vec![]).await;
            let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                && value != json!(0)
                && value != json!("");
            if truthy {
                return Some(value);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The rendered text of the first element matching `selector` (empty when none).
    pub async fn text_of(&self, selector: &str) -> String {
        match self.all(selector).await.into_iter().next() {
            Some(element) => element.text().await.unwrap_or_default(),
            None => String::new(),
        }
    }

    /// The `textContent` of every element matching `selector`, in document order (hidden ones
    /// too).
    pub async fn texts(&self, selector: &str) -> Vec<String> {
        let value = self
            .js(
                "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.textContent);",
                vec![json!(selector)],
            )
            .await;
        serde_json::from_value(value).unwrap()
    }

    /// An attribute of the first element matching `selector`.
    pub async fn attr(&self, selector: &str, name: &str) -> Option<String> {
        let element = self.all(selector).await.into_iter().next()?;
        element.attr(name).await.unwrap()
    }

    /// Clicks the (visible) element matching `selector`, waiting up to 10 s for it.
    pub async fn click(&self, selector: &str) {
        let element = self.wait_for(selector, Duration::from_secs(10)).await;
        if let Err(e) = element.click().await {
            self.fail(&format!("click {selector}: {e}")).await;
        }
    }

    /// Types `text` into the (visible) element matching `selector`.
    pub async fn type_into(&self, selector: &str, text: &str) {
        let element = self.wait_for(selector, Duration::from_secs(10)).await;
        if let Err(e) = element.send_keys(text).await {
            self.fail(&format!("type into {selector}: {e}")).await;
        }
    }

    /// A PNG of the viewport, saved as `<temp dir>/<name>.png`; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        let path = self.shots_dir().join(format!("{name}.png"));
        std::fs::write(&path, &png).unwrap();
        path
    }

    /// [`Browser::screenshot`], and with `SWITCHBOARD_UPDATE_SCREENSHOTS=1` also a copy at
    /// `docs/<file>` in the repository.
    pub async fn doc_screenshot(&self, name: &str, file: &str) -> PathBuf {
        let path = self.screenshot(name).await;
        if std::env::var("SWITCHBOARD_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
            let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
            std::fs::create_dir_all(&docs).unwrap();
            std::fs::copy(&path, docs.join(file)).unwrap();
        }
        path
    }

    /// The directory the screenshots go to.
    pub fn shots_dir(&self) -> &Path {
        self.shots.as_ref().expect("kept until drop").path()
    }

    /// Every console entry so far (`{level, message, source, timestamp}`), oldest first.
    pub async fn console(&self) -> Vec<Value> {
        let (status, body) = driver_request(
            self.driver_addr,
            "POST",
            &format!("/session/{}/se/log", self.session_id),
            r#"{"type":"browser"}"#,
        )
        .await;
        assert_eq!(status, 200, "reading the browser log: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        let mut console = self.console.lock().unwrap();
        if let Some(entries) = body["value"].as_array() {
            console.extend(entries.iter().cloned());
        }
        console.clone()
    }

    /// The console's `SEVERE` and `WARNING` entries so far, as `LEVEL message`.
    pub async fn console_errors(&self) -> Vec<String> {
        self.console()
            .await
            .iter()
            .filter(|e| e["level"] == "SEVERE" || e["level"] == "WARNING")
            .map(|e| {
                format!(
                    "{} {}",
                    e["level"].as_str().unwrap_or("?"),
                    e["message"].as_str().unwrap_or("")
                )
            })
            .collect()
    }

    /// Panics with `why`, the page's URL, its `body` state and text, and the console; saves a
    /// screenshot `failure.png` first.
    pub async fn fail(&self, why: &str) -> ! {
        let shot = self.screenshot("failure").await;
        let url = self.client.current_url().await.map(|u| u.to_string());
        let state = self
            .client
            .execute(
                "return [document.body.dataset.state, document.body.dataset.role, document.body.innerText.slice(0, 2000)];",
                vec![],
            )
            .await
            .unwrap_or(Value::Null);
        let console = self.console().await;
        panic!(
            "{why}\n  url: {url:?}\n  body [state, role, text]: {state}\n  console: {console:#?}\n  screenshot: {}",
            shot.display()
        );
    }
}

/// Whether chromedriver answers `GET /status` with `ready: true`.
fn driver_ready(addr: SocketAddr) -> bool {
    let Ok((_, body)) = blocking_request(addr, "GET", "/status", "") else {
        return false;
    };
    body.contains("\"ready\":true") || body.contains("\"ready\": true")
}

/// One HTTP/1.1 request to chromedriver, blocking, with short timeouts: for the driver's
/// status at start and for ending the session in `drop`. (chromedriver keeps the connection
/// open after the response, so the body is read by its `Content-Length`.)
fn blocking_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(request_bytes(addr, method, path, body).as_bytes())?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(done) = parse_response(&raw) {
            return Ok(done);
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        raw.extend_from_slice(&buf[..n]);
    }
}

/// [`blocking_request`] on the runtime.
async fn driver_request(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(request_bytes(addr, method, path, body).as_bytes())
        .await
        .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(done) = parse_response(&raw) {
            return done;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("chromedriver answers within 10 s")
            .unwrap();
        assert!(
            n > 0,
            "chromedriver closed before answering {method} {path}"
        );
        raw.extend_from_slice(&buf[..n]);
    }
}

fn request_bytes(addr: SocketAddr, method: &str, path: &str, body: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// `(status, body)` once `raw` holds a whole response with a `Content-Length`.
fn parse_response(raw: &[u8]) -> Option<(u16, String)> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let body = raw.get(end + 4..end + 4 + length)?;
    Some((status, String::from_utf8_lossy(body).into_owned()))
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session makes chromedriver close Chromium; then the driver goes.
        let _ = blocking_request(
            self.driver_addr,
            "DELETE",
            &format!("/session/{}", self.session_id),
            "",
        );
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let keep = std::thread::panicking()
            || std::env::var("SWITCHBOARD_KEEP_SCREENSHOTS").as_deref() == Ok("1");
        if let Some(dir) = self.shots.take()
            && keep
        {
            let dir = dir.keep();
            eprintln!("browser screenshots kept in {}", dir.display());
        }
    }
}
