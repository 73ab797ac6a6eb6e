//! The TCP socket under every endpoint: accepted with `TCP_NODELAY` and a bound on unsent
//! bytes, and closed with a *lingering close*.
//!
//! A server that closes a socket while the peer is still sending makes the kernel answer that
//! data with a reset, and a reset can destroy what the peer had not read yet — typically the
//! close frame (1009 `frame too large`, 1007 `invalid UTF-8`) or the HTTP 413 explaining why.
//! So when a socket is dropped while the peer may still be writing, it is first shut down for
//! writing (the peer reads everything sent, then end of stream) and what still arrives is
//! read and discarded — for at most [`LINGER_TIME`] and [`LINGER_BYTES`] — before the close.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Unsent bytes the kernel keeps for a socket, at most (`TCP_NOTSENT_LOWAT`; Linux). Without a
/// bound the send buffer autotunes to MiBs, and a reader that falls behind has its backlog
/// hidden there, where neither the log's pacing nor the slow-consumer close can see it; with
/// it, the backlog stays in the connection's bounded queue. Bytes in flight are not limited
/// (that is the congestion window's job), so throughput on a long path is unaffected.
const UNSENT_BYTES: u32 = 16 * 1024;

/// How long a closed socket keeps reading (and discarding) what the peer still sends.
pub const LINGER_TIME: Duration = Duration::from_secs(1);

/// How much a closed socket reads (and discards) at most before it closes anyway.
pub const LINGER_BYTES: u64 = 4 * 1024 * 1024;

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
        (Socket { tcp }, addr)
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
}

impl Connected<IncomingStream<'_, Listener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, Listener>) -> Peer {
        Peer {
            addr: *stream.remote_addr(),
        }
    }
}

/// An accepted TCP socket that closes with a lingering close (see the module docs).
#[derive(Debug)]
pub struct Socket {
    tcp: TcpStream,
}

impl Drop for Socket {
    fn drop(&mut self) {
        linger(&self.tcp);
    }
}

/// Shuts `tcp` down for writing and, on a task of its own, reads and discards what the peer
/// still sends until it closes too, [`LINGER_TIME`] passes or [`LINGER_BYTES`] arrived. A
/// peer that has already closed costs nothing.
fn linger(tcp: &TcpStream) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let mut probe = [0u8; 64];
    match tcp.try_read(&mut probe) {
        // The peer closed (or reset) already: nothing can be lost by closing now.
        Ok(0) => return,
        Err(e) if e.kind() != io::ErrorKind::WouldBlock => return,
        Ok(_) | Err(_) => {}
    }
    // A second handle on the same socket: the kernel closes it when the last one goes.
    let Ok(dup) = socket2::SockRef::from(tcp).try_clone() else {
        return;
    };
    let _ = dup.shutdown(std::net::Shutdown::Write);
    let _entered = runtime.enter();
    let Ok(dup) = TcpStream::from_std(std::net::TcpStream::from(dup)) else {
        return;
    };
    runtime.spawn(async move {
        let (mut rest, mut nowhere) = (dup.take(LINGER_BYTES), tokio::io::sink());
        let discard = tokio::io::copy(&mut rest, &mut nowhere);
        let _ = tokio::time::timeout(LINGER_TIME, discard).await;
    });
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}
