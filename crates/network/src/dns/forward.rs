//! Forwarding a query the records do not answer to the upstream resolvers, over the
//! transport the client used (a truncated UDP answer goes back truncated, and the client
//! retries over TCP, which is then forwarded over TCP).

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

/// How a query reached the server, and so how it is forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Transport {
    Udp,
    Tcp,
}

/// The first answer any upstream gives to `packet` (whose id the answer must carry), trying
/// them in order, each for at most `limit`; `None` if none answered.
pub(super) async fn forward(
    packet: &[u8],
    upstreams: &[SocketAddr],
    transport: Transport,
    limit: Duration,
) -> Option<Vec<u8>> {
    for &upstream in upstreams {
        let attempt = async {
            match transport {
                Transport::Udp => udp(packet, upstream).await,
                Transport::Tcp => tcp(packet, upstream).await,
            }
        };
        if let Ok(Ok(reply)) = timeout(limit, attempt).await {
            // The id is the first two bytes of both; a reply to something else is no answer.
            if reply.len() >= 12 && reply[..2] == packet[..2] {
                return Some(reply);
            }
        }
    }
    None
}

async fn udp(packet: &[u8], upstream: SocketAddr) -> io::Result<Vec<u8>> {
    let local: SocketAddr = match upstream {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(upstream).await?;
    socket.send(packet).await?;
    let mut buf = vec![0; 65535];
    loop {
        let n = socket.recv(&mut buf).await?;
        if n >= 2 && buf[..2] == packet[..2] {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn tcp(packet: &[u8], upstream: SocketAddr) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(upstream).await?;
    write_frame(&mut stream, packet).await?;
    read_frame(&mut stream).await
}

/// Writes one DNS-over-TCP message: a two-byte length, then the message.
pub(super) async fn write_frame(stream: &mut TcpStream, message: &[u8]) -> io::Result<()> {
    let len = u16::try_from(message.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "DNS message over 64 KiB"))?;
    let mut frame = Vec::with_capacity(message.len() + 2);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(message);
    stream.write_all(&frame).await
}

/// Reads one DNS-over-TCP message.
pub(super) async fn read_frame(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let mut message = vec![0; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut message).await?;
    Ok(message)
}
