//! `http.get`: fetches a URL from an allowed host, within a time and size limit.
//!
//! Every hop is checked before it is requested: the scheme (http or https), the host against
//! `allowed_hosts` (the name itself or a subdomain of it), and every address the host resolves
//! to — one loopback, private, link-local, unique-local, CGNAT, multicast, unspecified or
//! otherwise non-public address refuses the hop unless `allow_private` is set. The connection is
//! then pinned to the checked addresses (no second DNS lookup, so no DNS-rebinding window; TLS
//! still verifies the host name), no proxy is used, and redirects are not followed by the HTTP
//! client: up to [`MAX_REDIRECTS`] are followed here, each hop checked the same way.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use reqwest::Url;
use reqwest::header::LOCATION;
use serde_json::{Value, json};

/// Redirects followed at most; one more fails the call.
pub(super) const MAX_REDIRECTS: usize = 5;

/// What an `http.get` tool may reach.
#[derive(Debug, Clone, Default)]
pub(super) struct HttpPolicy {
    /// Hosts it may reach (each with its subdomains).
    pub(super) allowed_hosts: Vec<String>,
    /// Whether non-public addresses are allowed (`tools."http.get".allow_private`).
    pub(super) allow_private: bool,
}

/// Runs `http.get` on `{url}`; `timeout` bounds the whole call, redirects included.
pub(super) async fn run(
    input: &Value,
    policy: &HttpPolicy,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Value, String> {
    let url = input.get("url").and_then(Value::as_str).unwrap_or_default();
    let url = Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    match tokio::time::timeout(timeout, follow(url, policy, max_bytes)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} s", timeout.as_secs())),
    }
}

/// Fetches `url`, following redirects hop by hop, each checked.
async fn follow(mut url: Url, policy: &HttpPolicy, max_bytes: usize) -> Result<Value, String> {
    for hop in 0..=MAX_REDIRECTS {
        let addrs = check(&url, policy).await.map_err(|e| match hop {
            0 => e,
            _ => format!("redirect {hop} to {url} refused: {e}"),
        })?;
        let response = fetch_pinned(&url, &addrs).await?;
        let status = response.status();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok());
        if let (true, Some(location)) = (is_followed(status), location) {
            if hop == MAX_REDIRECTS {
                return Err(format!("more than {MAX_REDIRECTS} redirects"));
            }
            url = url
                .join(location)
                .map_err(|e| format!("redirect {} to a bad URL: {e}", hop + 1))?;
            continue;
        }
        return read_body(response, max_bytes).await;
    }
    Err(format!("more than {MAX_REDIRECTS} redirects"))
}

/// The redirect statuses that carry a `Location` to follow with a GET.
fn is_followed(status: reqwest::StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// Checks one hop — scheme, host, and every address the host resolves to — and returns the
/// addresses to connect to.
async fn check(url: &Url, policy: &HttpPolicy) -> Result<Vec<SocketAddr>, String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err("only http and https URLs are allowed".to_owned());
    }
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let allowed = policy.allowed_hosts.iter().any(|h| {
        let h = h.to_ascii_lowercase();
        host == h || host.ends_with(&format!(".{h}"))
    });
    if !allowed {
        return Err(format!(
            "host {host} is not in tools.\"http.get\".allowed_hosts"
        ));
    }
    let port = url.port_or_known_default().unwrap_or(80);
    if host.is_empty() {
        return Err("the URL has no host".to_owned());
    }
    let addrs: Vec<SocketAddr> = match literal_ip(url) {
        Some(ip) => vec![SocketAddr::new(ip, port)],
        None => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    if !policy.allow_private {
        for addr in &addrs {
            if let Some(kind) = non_public(addr.ip()) {
                return Err(format!(
                    "refused: {} is {kind} address (tools.\"http.get\".allow_private is false)",
                    addr.ip()
                ));
            }
        }
    }
    Ok(addrs)
}

/// The URL's host when it is an IP address (the URL parser has already normalised forms such
/// as `0x7f.1` to `127.0.0.1`; IPv6 comes in brackets).
fn literal_ip(url: &Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

/// One GET of `url` on a connection to one of `addrs` (never a fresh DNS answer), without
/// following redirects and without a proxy.
async fn fetch_pinned(url: &Url, addrs: &[SocketAddr]) -> Result<reqwest::Response, String> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy();
    if let (None, Some(name)) = (literal_ip(url), url.host_str()) {
        builder = builder.resolve_to_addrs(name, addrs);
    }
    let client = builder
        .build()
        .map_err(|e| format!("request failed: {e}"))?;
    client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| describe(&e))
}

async fn read_body(mut response: reqwest::Response, max_bytes: usize) -> Result<Value, String> {
    let status = response.status().as_u16();
    let mut body = Vec::new();
    let mut truncated = false;
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        let room = max_bytes.saturating_sub(body.len());
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(json!({ "status": status, "body": String::from_utf8_lossy(&body), "truncated": truncated }))
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_connect() {
        "could not connect".to_owned()
    } else {
        format!("request failed: {e}")
    }
}

/// What kind of non-public address `ip` is ("a loopback", "a private", …), or `None` for a
/// public one. IPv4 addresses embedded in IPv6 (mapped, compatible, NAT64, 6to4) are judged
/// by the IPv4 address inside.
pub(super) fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_unspecified() => "an unspecified",
        (0, _, _) => "a \"this network\" (0.0.0.0/8)",
        (127, _, _) => "a loopback",
        (10, _, _) => "a private",
        (172, 16..=31, _) => "a private",
        (192, 168, _) => "a private",
        (169, 254, _) => "a link-local",
        (100, 64..=127, _) => "a shared (CGNAT, 100.64.0.0/10)",
        (192, 0, 0) => "an IETF protocol-assignment (192.0.0.0/24)",
        (198, 18..=19, _) => "a benchmarking (198.18.0.0/15)",
        _ if ip.is_broadcast() => "a broadcast",
        (224..=239, _, _) => "a multicast",
        (240..=255, _, _) => "a reserved (240.0.0.0/4)",
        _ => return None,
    })
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if ip.is_unspecified() {
        return Some("an unspecified");
    }
    if ip.is_loopback() {
        return Some("a loopback");
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return non_public_v4(v4);
    }
    Some(match s {
        // ::a.b.c.d (IPv4-compatible, deprecated): judged by the address inside, and refused
        // anyway when public (nothing should use it).
        [0, 0, 0, 0, 0, 0, hi, lo] => {
            non_public_v4(embedded(hi, lo)).unwrap_or("an IPv4-compatible")
        }
        // NAT64 (64:ff9b::/96) reaches the IPv4 address inside.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => return non_public_v4(embedded(hi, lo)),
        [0x64, 0xff9b, 1, ..] => "a local-use NAT64 (64:ff9b:1::/48)",
        [0x100, 0, 0, 0, ..] => "a discard-only (100::/64)",
        // 6to4 (2002::/16) carries the IPv4 address in its next 32 bits.
        [0x2002, hi, lo, ..] => return non_public_v4(embedded(hi, lo)),
        [0x2001, 0, ..] => "a Teredo (2001::/32)",
        [0x2001, 0xdb8, ..] => "a documentation (2001:db8::/32)",
        [first, ..] if first & 0xfe00 == 0xfc00 => "a unique-local (fc00::/7)",
        [first, ..] if first & 0xffc0 == 0xfe80 => "a link-local (fe80::/10)",
        [first, ..] if first & 0xffc0 == 0xfec0 => "a site-local (fec0::/10)",
        [first, ..] if first & 0xff00 == 0xff00 => "a multicast",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(ip: &str) -> Option<&'static str> {
        non_public(ip.parse().unwrap())
    }

    #[test]
    fn every_non_public_ipv4_range_is_refused() {
        let cases = [
            ("0.0.0.0", "an unspecified"),
            ("0.1.2.3", "a \"this network\" (0.0.0.0/8)"),
            ("127.0.0.1", "a loopback"),
            ("127.255.255.254", "a loopback"),
            ("10.0.0.1", "a private"),
            ("10.255.255.255", "a private"),
            ("172.16.0.1", "a private"),
            ("172.31.255.255", "a private"),
            ("192.168.1.1", "a private"),
            ("169.254.169.254", "a link-local"),
            ("100.64.0.1", "a shared (CGNAT, 100.64.0.0/10)"),
            ("100.127.255.255", "a shared (CGNAT, 100.64.0.0/10)"),
            ("192.0.0.8", "an IETF protocol-assignment (192.0.0.0/24)"),
            ("198.18.0.1", "a benchmarking (198.18.0.0/15)"),
            ("198.19.255.255", "a benchmarking (198.18.0.0/15)"),
            ("224.0.0.1", "a multicast"),
            ("239.255.255.250", "a multicast"),
            ("240.0.0.1", "a reserved (240.0.0.0/4)"),
            ("255.255.255.255", "a broadcast"),
        ];
        for (ip, expected) in cases {
            assert_eq!(kind(ip), Some(expected), "{ip}");
        }
    }

    #[test]
    fn public_ipv4_edges_are_allowed() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "192.0.1.1",
        ] {
            assert_eq!(kind(ip), None, "{ip}");
        }
    }

    #[test]
    fn every_non_public_ipv6_range_is_refused() {
        let cases = [
            ("::", "an unspecified"),
            ("::1", "a loopback"),
            ("::ffff:127.0.0.1", "a loopback"),
            ("::ffff:10.1.2.3", "a private"),
            ("::ffff:169.254.169.254", "a link-local"),
            ("::ffff:0.0.0.0", "an unspecified"),
            ("::127.0.0.1", "a loopback"),
            ("::8.8.8.8", "an IPv4-compatible"),
            ("64:ff9b::127.0.0.1", "a loopback"),
            ("64:ff9b::192.168.0.1", "a private"),
            ("64:ff9b:1::1", "a local-use NAT64 (64:ff9b:1::/48)"),
            ("100::1", "a discard-only (100::/64)"),
            ("2002:7f00:1::1", "a loopback"),
            ("2002:a9fe:a9fe::1", "a link-local"),
            ("2001::1", "a Teredo (2001::/32)"),
            ("2001:db8::1", "a documentation (2001:db8::/32)"),
            ("fc00::1", "a unique-local (fc00::/7)"),
            ("fd12:3456::1", "a unique-local (fc00::/7)"),
            ("fe80::1", "a link-local (fe80::/10)"),
            ("febf::1", "a link-local (fe80::/10)"),
            ("fec0::1", "a site-local (fec0::/10)"),
            ("ff02::1", "a multicast"),
            ("ff0e::1", "a multicast"),
        ];
        for (ip, expected) in cases {
            assert_eq!(kind(ip), Some(expected), "{ip}");
        }
    }

    #[test]
    fn public_ipv6_is_allowed() {
        for ip in [
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:0808:0808::1",
            "2001:4860::8888",
            "fbff::1",
            "fe7f::1",
        ] {
            assert_eq!(kind(ip), None, "{ip}");
        }
    }

    /// The connection goes to the checked address even when the name resolves elsewhere (or
    /// nowhere): no second lookup between the check and the connect.
    #[tokio::test]
    async fn the_connection_is_pinned_to_the_checked_address() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = vec![0u8; 4096];
            let n = socket.read(&mut request).await.unwrap();
            socket
                .write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\npinned",
                )
                .await
                .unwrap();
            String::from_utf8_lossy(&request[..n]).into_owned()
        });
        let url = Url::parse(&format!("http://pinned.invalid:{}/x", addr.port())).unwrap();
        let response = fetch_pinned(&url, &[addr]).await.unwrap();
        let body = read_body(response, 100).await.unwrap();
        assert_eq!(body["body"], "pinned");
        let request = server.await.unwrap();
        assert!(
            request
                .to_ascii_lowercase()
                .contains("host: pinned.invalid:"),
            "the Host header keeps the name: {request}"
        );
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused_by_default() {
        let policy = HttpPolicy {
            allowed_hosts: vec!["localhost".to_owned()],
            allow_private: false,
        };
        let url = Url::parse("http://localhost:9/").unwrap();
        let err = check(&url, &policy).await.unwrap_err();
        assert!(
            err.starts_with("refused: ") && err.contains("loopback"),
            "{err}"
        );
        let allowed = HttpPolicy {
            allow_private: true,
            ..policy
        };
        assert!(!check(&url, &allowed).await.unwrap().is_empty());
    }
}
