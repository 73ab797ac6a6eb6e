//! The TCP socket under every endpoint. Plain until `/rpc` arms it for a JSON-RPC WebSocket;
//! from then on it pings the peer every `ping_interval` and fails its reads once nothing (no
//! frame, no pong) arrived for `read_timeout`, which ends jsonrpsee's connection.
//!
//! jsonrpsee has this built in (`enable_ws_ping`), but it creates and drops a timer for every
//! message it receives, which cost `/rpc` about a quarter of its calls per second. Here one
//! timer per connection fires once per ping interval, and a read only notes the time.
//!
//! The ping (an unmasked, empty WebSocket ping frame) is written only between frames: after a
//! flush and before the next write. jsonrpsee's WebSocket writer flushes after every message.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

/// A WebSocket ping frame from a server: FIN + opcode 0x9, unmasked, no payload.
const PING_FRAME: [u8; 2] = [0x89, 0x00];

/// Unsent bytes the kernel keeps for a socket, at most (`TCP_NOTSENT_LOWAT`; Linux). Without a
/// bound the send buffer autotunes to MiBs, and a reader that falls behind has its backlog
/// hidden there, where neither the log's pacing nor the slow-consumer close can see it; with
/// it, the backlog stays in the connection's bounded queue. Bytes in flight are not limited
/// (that is the congestion window's job), so throughput on a long path is unaffected.
const UNSENT_BYTES: u32 = 16 * 1024;

/// Accepts sockets with `TCP_NODELAY` (a small reply must not wait for the peer's delayed ACK)
/// and at most [`UNSENT_BYTES`] unsent in the kernel.
#[derive(Debug)]
pub struct Listener {
    inner: TcpListener,
}

impl Listener {
    /// Serves connections accepted by `inner`.
    pub fn new(inner: TcpListener) -> Listener {
        Listener { inner }
    }
}

impl axum::serve::Listener for Listener {
    type Io = Socket;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Socket, SocketAddr) {
        // axum's own accept loop, which also rides out transient errors (e.g. EMFILE).
        let (tcp, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        let _ = tcp.set_nodelay(true);
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let _ = socket2::SockRef::from(&tcp).set_tcp_notsent_lowat(UNSENT_BYTES);
        (Socket::new(tcp), addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// What a handler learns about the connection a request came on.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The remote address.
    pub addr: SocketAddr,
    /// Arms the socket's keepalive (once; later calls are ignored).
    pub keepalive: KeepaliveSwitch,
}

impl Connected<IncomingStream<'_, Listener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, Listener>) -> Peer {
        Peer {
            addr: *stream.remote_addr(),
            keepalive: KeepaliveSwitch(stream.io().armed.clone()),
        }
    }
}

/// Ping interval and read deadline of an armed socket.
#[derive(Debug, Clone, Copy)]
struct Keepalive {
    ping_interval: Duration,
    read_timeout: Duration,
}

/// The handle a handler arms a socket's keepalive with.
#[derive(Debug, Clone)]
pub struct KeepaliveSwitch(Arc<OnceLock<Keepalive>>);

impl KeepaliveSwitch {
    /// From now on the socket pings every `ping_interval` and fails reads after `read_timeout`
    /// without a byte from the peer. Call it only for a socket that becomes a WebSocket whose
    /// writer flushes after every frame.
    pub fn arm(&self, ping_interval: Duration, read_timeout: Duration) {
        let _ = self.0.set(Keepalive {
            ping_interval,
            read_timeout,
        });
    }
}

/// An accepted TCP socket with an optional keepalive.
#[derive(Debug)]
pub struct Socket {
    tcp: TcpStream,
    armed: Arc<OnceLock<Keepalive>>,
    live: Option<Box<Live>>,
}

/// The running keepalive of an armed socket.
#[derive(Debug)]
struct Live {
    config: Keepalive,
    /// Fires at the next ping (or at the read deadline, if that comes first).
    ticker: Pin<Box<Sleep>>,
    last_read: Instant,
    /// Bytes of the current frame went out and no flush followed yet.
    mid_frame: bool,
    /// A write and a flush have happened since arming: the upgrade response is out, so what
    /// follows is WebSocket frames and a ping may go between them.
    framing: bool,
    /// A ping is owed, or (`ping_sent` > 0) half written.
    ping_due: bool,
    ping_sent: usize,
}

impl Socket {
    fn new(tcp: TcpStream) -> Socket {
        Socket {
            tcp,
            armed: Arc::new(OnceLock::new()),
            live: None,
        }
    }

    /// Starts the keepalive on the first use after it was armed.
    fn sync_armed(&mut self) {
        if self.live.is_none()
            && let Some(config) = self.armed.get()
        {
            let now = Instant::now();
            self.live = Some(Box::new(Live {
                config: *config,
                ticker: Box::pin(tokio::time::sleep_until(now + config.ping_interval)),
                last_read: now,
                mid_frame: false,
                framing: false,
                ping_due: false,
                ping_sent: 0,
            }));
        }
    }

    /// Writes the owed ping if the stream is between frames; never blocks.
    fn try_ping(&mut self) {
        let Some(live) = self.live.as_deref_mut() else {
            return;
        };
        if !live.ping_due || !live.framing || (live.mid_frame && live.ping_sent == 0) {
            return;
        }
        // WouldBlock: the peer is not reading; the ping waits for the next flush or tick.
        // Other errors: the next read or write reports them.
        if let Ok(n) = self.tcp.try_write(&PING_FRAME[live.ping_sent..]) {
            live.ping_wrote(n);
        }
    }

    /// Finishes a half-written ping before any other byte goes out.
    fn poll_finish_ping(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(live) = self.live.as_deref_mut() else {
            return Poll::Ready(Ok(()));
        };
        while live.ping_sent > 0 {
            let n = ready!(Pin::new(&mut self.tcp).poll_write(cx, &PING_FRAME[live.ping_sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            live.ping_wrote(n);
        }
        Poll::Ready(Ok(()))
    }

    /// Runs the ticker while the read is pending: pings, or fails the read past the deadline.
    fn poll_keepalive(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let Some(live) = self.live.as_deref_mut() else {
                return Poll::Pending;
            };
            ready!(live.ticker.as_mut().poll(cx));
            let now = Instant::now();
            let deadline = live.last_read + live.config.read_timeout;
            if now >= deadline {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "read timeout")));
            }
            live.ping_due = true;
            let next = (now + live.config.ping_interval).min(deadline);
            live.ticker.as_mut().reset(next);
            self.try_ping();
        }
    }

    /// A write of frame bytes, after any half-written ping; marks the stream mid-frame.
    fn poll_write_with(
        &mut self,
        cx: &mut Context<'_>,
        write: impl FnOnce(Pin<&mut TcpStream>, &mut Context<'_>) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        self.sync_armed();
        ready!(self.poll_finish_ping(cx))?;
        let n = ready!(write(Pin::new(&mut self.tcp), cx))?;
        if n > 0
            && let Some(live) = self.live.as_deref_mut()
        {
            live.mid_frame = true;
        }
        Poll::Ready(Ok(n))
    }
}

impl Live {
    /// `n` more bytes of the owed ping went out.
    fn ping_wrote(&mut self, n: usize) {
        self.ping_sent += n;
        if self.ping_sent == PING_FRAME.len() {
            self.ping_due = false;
            self.ping_sent = 0;
        }
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.sync_armed();
        let before = buf.filled().len();
        match Pin::new(&mut this.tcp).poll_read(cx, buf) {
            Poll::Pending => this.poll_keepalive(cx),
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before
                    && let Some(live) = this.live.as_deref_mut()
                {
                    live.last_read = Instant::now();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_write_with(cx, |tcp, cx| tcp.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_write_with(cx, |tcp, cx| tcp.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.sync_armed();
        ready!(this.poll_finish_ping(cx))?;
        ready!(Pin::new(&mut this.tcp).poll_flush(cx))?;
        if let Some(live) = this.live.as_deref_mut()
            && live.mid_frame
        {
            live.mid_frame = false;
            live.framing = true;
        }
        this.try_ping();
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_finish_ping(cx))?;
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}
