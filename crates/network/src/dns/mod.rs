//! The embedded DNS server of user-defined networks, listening on 127.0.0.11:53 inside each
//! container's network namespace (the engine binds the sockets there and hands them over).
//!
//! It answers A and AAAA queries for the names of containers on the networks the container
//! is attached to (its scope), and PTR queries for their addresses, from shared [`Records`].
//! Everything else is forwarded to that container's upstream resolvers (its `--dns`
//! servers, else the host's), from the daemon's own namespace (so a host resolver on
//! 127.0.0.53 works), and a query no upstream answers in time gets SERVFAIL.

mod forward;
mod records;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::{JoinHandle, JoinSet};

use forward::{forward, read_frame, write_frame, Transport};
pub use records::{Addresses, Records};

/// The address containers are told to use (`nameserver 127.0.0.11`).
pub const EMBEDDED_DNS: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 11));

/// Time to live of the answers made from [`Records`], as Docker's.
const TTL: u32 = 600;

/// How long an idle TCP client connection is kept.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// [`DnsServer::serve`] was called outside a tokio runtime.
    #[error("the DNS server needs a tokio runtime")]
    NoRuntime,
    /// A handed-over socket could not be used.
    #[error("using the DNS {kind} socket {addr}")]
    Socket {
        /// `UDP` or `TCP`.
        kind: &'static str,
        /// The socket as its Debug form shows it (fd and local address).
        addr: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// The server's settings, shared by every container it serves.
#[derive(Debug, Clone)]
pub struct DnsServer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    records: Arc<Records>,
    timeout: Duration,
}

/// What one container's server answers from and forwards to.
#[derive(Debug)]
struct Client {
    /// The networks whose names the container sees.
    scope: RwLock<Vec<String>>,
    /// Where the queries the records do not answer go, in turn.
    upstreams: Vec<SocketAddr>,
}

/// One container's server; dropping it stops answering and closes its sockets.
#[derive(Debug)]
pub struct Serving {
    client: Arc<Client>,
    tasks: Vec<JoinHandle<()>>,
}

impl Serving {
    /// Replaces the networks whose names this container sees (after connect/disconnect).
    pub fn set_scope(&self, scope: Vec<String>) {
        *self.client.scope.write().unwrap_or_else(|e| e.into_inner()) = scope;
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl DnsServer {
    /// A server answering from `records`, waiting 2 s for each upstream it forwards to.
    pub fn new(records: Arc<Records>) -> DnsServer {
        DnsServer::with_timeout(records, Duration::from_secs(2))
    }

    /// As [`DnsServer::new`], waiting `timeout` for each upstream.
    pub fn with_timeout(records: Arc<Records>, timeout: Duration) -> DnsServer {
        DnsServer {
            inner: Arc::new(Inner { records, timeout }),
        }
    }

    /// Serves one container on its bound sockets, seeing the names of the networks in
    /// `scope` and forwarding other queries to `upstreams` (addresses with their port). Must
    /// be called within a tokio runtime, whose tasks do the work; forwarded queries leave
    /// from the namespace of the runtime's threads.
    pub fn serve(
        &self,
        udp: std::net::UdpSocket,
        tcp: std::net::TcpListener,
        scope: Vec<String>,
        upstreams: Vec<SocketAddr>,
    ) -> Result<Serving, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let _entered = runtime.enter();
        let udp = adopt("UDP", udp, |s| {
            s.set_nonblocking(true)?;
            UdpSocket::from_std(s)
        })?;
        let tcp = adopt("TCP", tcp, |s| {
            s.set_nonblocking(true)?;
            TcpListener::from_std(s)
        })?;
        let client = Arc::new(Client {
            scope: RwLock::new(scope),
            upstreams,
        });
        let tasks = vec![
            runtime.spawn(serve_udp(self.inner.clone(), client.clone(), udp)),
            runtime.spawn(serve_tcp(self.inner.clone(), client.clone(), tcp)),
        ];
        Ok(Serving { client, tasks })
    }
}

/// Turns a handed-over std socket into a tokio one, naming it on failure.
fn adopt<S: std::fmt::Debug, T>(
    kind: &'static str,
    socket: S,
    convert: impl FnOnce(S) -> io::Result<T>,
) -> Result<T, Error> {
    let addr = format!("{socket:?}");
    convert(socket).map_err(|source| Error::Socket { kind, addr, source })
}

/// Answers datagrams until aborted; the queries in flight go with it.
async fn serve_udp(inner: Arc<Inner>, client: Arc<Client>, socket: UdpSocket) {
    let socket = Arc::new(socket);
    let mut in_flight = JoinSet::new();
    let mut buf = vec![0u8; 65535];
    loop {
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                // An error here is about one datagram (e.g. an ICMP error from a client
                // gone away), not the socket: keep serving.
                let Ok((n, peer)) = received else { continue };
                let packet = buf[..n].to_vec();
                let (inner, client, socket) = (inner.clone(), client.clone(), socket.clone());
                in_flight.spawn(async move {
                    if let Some(reply) = inner.answer(&packet, &client, Transport::Udp).await {
                        let _ = socket.send_to(&reply, peer).await;
                    }
                });
            }
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
        }
    }
}

/// Accepts connections until aborted; their tasks go with it.
async fn serve_tcp(inner: Arc<Inner>, client: Arc<Client>, listener: TcpListener) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                connections.spawn(serve_connection(inner.clone(), client.clone(), stream));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Answers the queries of one TCP connection in turn until it closes or idles.
async fn serve_connection(inner: Arc<Inner>, client: Arc<Client>, mut stream: TcpStream) {
    while let Ok(Ok(packet)) = tokio::time::timeout(TCP_IDLE, read_frame(&mut stream)).await {
        let Some(reply) = inner.answer(&packet, &client, Transport::Tcp).await else {
            return;
        };
        if write_frame(&mut stream, &reply).await.is_err() {
            return;
        }
    }
}

impl Inner {
    /// The reply to one raw query; `None` for something that is not a query at all.
    async fn answer(
        &self,
        packet: &[u8],
        client: &Client,
        transport: Transport,
    ) -> Option<Vec<u8>> {
        let query = Message::from_vec(packet).ok()?;
        if query.message_type() != MessageType::Query {
            return None;
        }
        let reply = match (query.op_code(), query.queries()) {
            (OpCode::Query, [question]) => {
                let scope = client
                    .scope
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                match self.local(question, &scope) {
                    Some(answers) => reply(&query, ResponseCode::NoError, answers),
                    None => {
                        let upstream =
                            forward(packet, &client.upstreams, transport, self.timeout).await;
                        match upstream {
                            Some(bytes) => return Some(bytes),
                            None => reply(&query, ResponseCode::ServFail, Vec::new()),
                        }
                    }
                }
            }
            (OpCode::Query, _) => reply(&query, ResponseCode::FormErr, Vec::new()),
            _ => reply(&query, ResponseCode::NotImp, Vec::new()),
        };
        let mut bytes = reply.to_vec().ok()?;
        if transport == Transport::Udp && bytes.len() > usize::from(query.max_payload()) {
            bytes = reply.truncate().to_vec().ok()?;
        }
        Some(bytes)
    }

    /// The answers from our records, or `None` when the name is not ours (to forward).
    fn local(&self, question: &Query, scope: &[String]) -> Option<Vec<Record>> {
        let name = question.name();
        if question.query_type() == RecordType::PTR {
            let net = name.parse_arpa_name().ok()?;
            if net.prefix_len() != net.max_prefix_len() {
                return None;
            }
            let target = self.records.reverse(scope, net.addr())?;
            let target = Name::from_ascii(format!("{target}.")).ok()?;
            return Some(vec![Record::from_rdata(
                name.clone(),
                TTL,
                RData::PTR(PTR(target)),
            )]);
        }
        let found = self.records.lookup(scope, &name.to_ascii())?;
        let kind = question.query_type();
        let mut answers = Vec::new();
        if matches!(kind, RecordType::A | RecordType::ANY) {
            answers.extend(
                found
                    .ipv4
                    .into_iter()
                    .map(|ip| Record::from_rdata(name.clone(), TTL, RData::A(A(ip)))),
            );
        }
        if matches!(kind, RecordType::AAAA | RecordType::ANY) {
            answers.extend(
                found
                    .ipv6
                    .into_iter()
                    .map(|ip| Record::from_rdata(name.clone(), TTL, RData::AAAA(AAAA(ip)))),
            );
        }
        Some(answers)
    }
}

/// A response to `query` with its question, `code` and `answers`.
fn reply(query: &Message, code: ResponseCode, answers: Vec<Record>) -> Message {
    let mut message = Message::new();
    message
        .set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(query.op_code())
        .set_recursion_desired(query.recursion_desired())
        .set_recursion_available(true)
        .set_response_code(code)
        .add_queries(query.queries().iter().cloned())
        .add_answers(answers);
    message
}

#[cfg(test)]
mod tests;
