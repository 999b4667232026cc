//! Real servers on 127.0.0.1: ours, and a stub upstream the tests start.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Instant;

use super::*;

static IDS: AtomicU16 = AtomicU16::new(1);

/// A UDP socket and a TCP listener on the same free port of 127.0.0.1.
fn bind_pair() -> (std::net::UdpSocket, std::net::TcpListener) {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        if let Ok(tcp) = std::net::TcpListener::bind(udp.local_addr().unwrap()) {
            return (udp, tcp);
        }
    }
}

fn query(name: &str, kind: RecordType) -> Message {
    let mut message = Message::new();
    message
        .set_id(IDS.fetch_add(1, Ordering::Relaxed))
        .set_recursion_desired(true)
        .add_query(Query::query(Name::from_ascii(name).unwrap(), kind));
    message
}

async fn ask_udp(server: SocketAddr, name: &str, kind: RecordType) -> Message {
    let q = query(name, kind);
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(&q.to_vec().unwrap(), server).await.unwrap();
    let mut buf = vec![0; 65535];
    let wait = Duration::from_secs(10);
    let n = tokio::time::timeout(wait, socket.recv(&mut buf))
        .await
        .expect("the server answers")
        .unwrap();
    let reply = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(reply.id(), q.id());
    reply
}

async fn ask_tcp(server: SocketAddr, name: &str, kind: RecordType) -> Message {
    let q = query(name, kind);
    let mut stream = TcpStream::connect(server).await.unwrap();
    write_frame(&mut stream, &q.to_vec().unwrap())
        .await
        .unwrap();
    let reply = Message::from_vec(&read_frame(&mut stream).await.unwrap()).unwrap();
    assert_eq!(reply.id(), q.id());
    reply
}

fn v4s(reply: &Message) -> Vec<Ipv4Addr> {
    reply
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

fn v6s(reply: &Message) -> Vec<Ipv6Addr> {
    reply
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::AAAA(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

/// A stub upstream: `nx.example.` does not exist, `big.example.` has 40 addresses (too many
/// for UDP: there it answers truncated), any other name is 192.0.2.1.
struct Stub {
    addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Stub {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn stub_answer(packet: &[u8], tcp: bool) -> Vec<u8> {
    let q = Message::from_vec(packet).unwrap();
    let question = q.queries()[0].clone();
    let name = question.name().to_ascii();
    let (code, answers) = match name.as_str() {
        "nx.example." => (ResponseCode::NXDomain, vec![]),
        "big.example." if !tcp => {
            let mut r = reply(&q, ResponseCode::NoError, vec![]);
            r.set_truncated(true);
            return r.to_vec().unwrap();
        }
        "big.example." => {
            let all = (1..=40).map(|i| Ipv4Addr::new(192, 0, 2, i));
            (ResponseCode::NoError, all.collect())
        }
        _ => (ResponseCode::NoError, vec![Ipv4Addr::new(192, 0, 2, 1)]),
    };
    let answers = answers
        .into_iter()
        .map(|ip| Record::from_rdata(question.name().clone(), 60, RData::A(A(ip))))
        .collect();
    reply(&q, code, answers).to_vec().unwrap()
}

fn start_stub() -> Stub {
    let (udp, tcp) = bind_pair();
    let addr = udp.local_addr().unwrap();
    udp.set_nonblocking(true).unwrap();
    tcp.set_nonblocking(true).unwrap();
    let udp = UdpSocket::from_std(udp).unwrap();
    let tcp = TcpListener::from_std(tcp).unwrap();
    let udp_task = tokio::spawn(async move {
        let mut buf = vec![0; 65535];
        while let Ok((n, peer)) = udp.recv_from(&mut buf).await {
            let _ = udp.send_to(&stub_answer(&buf[..n], false), peer).await;
        }
    });
    let tcp_task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = tcp.accept().await {
            let packet = read_frame(&mut stream).await.unwrap();
            write_frame(&mut stream, &stub_answer(&packet, true))
                .await
                .unwrap();
        }
    });
    Stub {
        addr,
        tasks: vec![udp_task, tcp_task],
    }
}

fn start(
    records: &Arc<Records>,
    upstreams: Vec<SocketAddr>,
    scope: &[&str],
) -> (Serving, SocketAddr) {
    let server = DnsServer::with_timeout(records.clone(), Duration::from_millis(300));
    let (udp, tcp) = bind_pair();
    let addr = udp.local_addr().unwrap();
    let scope = scope.iter().map(|s| s.to_string()).collect();
    (server.serve(udp, tcp, scope, upstreams).unwrap(), addr)
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn sample_records() -> Arc<Records> {
    let records = Arc::new(Records::new());
    let ids = ["web", "alias", "host1", "abcdef123456"];
    records.add(
        "n1",
        "n1",
        "e1",
        &names(&ids),
        Some([10, 1, 0, 2].into()),
        "fd00::2".parse().ok(),
    );
    records.add(
        "n1",
        "n1",
        "e2",
        &names(&["web2", "alias"]),
        Some([10, 1, 0, 3].into()),
        None,
    );
    records.add(
        "n2",
        "n2",
        "e3",
        &names(&["other"]),
        Some([10, 2, 0, 2].into()),
        None,
    );
    records
}

#[tokio::test]
async fn names_in_scope_resolve_case_insensitively() {
    let stub = start_stub();
    let records = sample_records();
    let (serving, server) = start(&records, vec![stub.addr], &["n1"]);
    let web: Ipv4Addr = [10, 1, 0, 2].into();
    for name in ["web.", "WeB.", "host1.", "abcdef123456."] {
        let reply = ask_udp(server, name, RecordType::A).await;
        assert_eq!(reply.response_code(), ResponseCode::NoError, "{name}");
        assert_eq!(v4s(&reply), [web], "{name}");
    }
    let reply = ask_tcp(server, "web.", RecordType::AAAA).await;
    assert_eq!(v6s(&reply), ["fd00::2".parse::<Ipv6Addr>().unwrap()]);
    // Our name without an address of the family asked: NOERROR and no answer, not NXDOMAIN.
    for (name, kind) in [("web2.", RecordType::AAAA), ("web.", RecordType::MX)] {
        let reply = ask_udp(server, name, kind).await;
        assert_eq!(reply.response_code(), ResponseCode::NoError);
        assert!(reply.answers().is_empty());
    }
    // Another network's container is not visible until the scope includes its network.
    let other = ask_udp(server, "other.", RecordType::A).await;
    assert_eq!(v4s(&other), [Ipv4Addr::new(192, 0, 2, 1)]);
    serving.set_scope(names(&["n1", "n2"]));
    let other = ask_udp(server, "other.", RecordType::A).await;
    assert_eq!(v4s(&other), [Ipv4Addr::new(10, 2, 0, 2)]);
    // Gone from the records, gone from the answers.
    records.remove("n1", "e1");
    let web = ask_udp(server, "web.", RecordType::A).await;
    assert_eq!(v4s(&web), [Ipv4Addr::new(192, 0, 2, 1)]);
}

#[tokio::test]
async fn an_alias_of_several_containers_answers_all_in_turn() {
    let records = sample_records();
    let (_serving, server) = start(&records, vec![], &["n1"]);
    let first = v4s(&ask_udp(server, "alias.", RecordType::A).await);
    let second = v4s(&ask_tcp(server, "alias.", RecordType::A).await);
    assert_eq!(first.len(), 2);
    assert_ne!(first[0], second[0]);
    let mut both = first.clone();
    both.sort();
    assert_eq!(
        both,
        [Ipv4Addr::new(10, 1, 0, 2), Ipv4Addr::new(10, 1, 0, 3)]
    );
}

#[tokio::test]
async fn addresses_resolve_back_to_names() {
    let records = sample_records();
    let (_serving, server) = start(&records, vec![], &["n1"]);
    let reply = ask_udp(server, "2.0.1.10.in-addr.arpa.", RecordType::PTR).await;
    let targets: Vec<String> = reply
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::PTR(p) => Some(p.0.to_ascii()),
            _ => None,
        })
        .collect();
    assert_eq!(targets, ["web.n1."]);
}

#[tokio::test]
async fn other_names_are_forwarded_over_the_clients_transport() {
    let stub = start_stub();
    let records = sample_records();
    let (_serving, server) = start(&records, vec![stub.addr], &["n1"]);
    let reply = ask_udp(server, "example.com.", RecordType::A).await;
    assert_eq!(v4s(&reply), [Ipv4Addr::new(192, 0, 2, 1)]);
    let reply = ask_tcp(server, "example.com.", RecordType::A).await;
    assert_eq!(v4s(&reply), [Ipv4Addr::new(192, 0, 2, 1)]);
    let reply = ask_udp(server, "nx.example.", RecordType::A).await;
    assert_eq!(reply.response_code(), ResponseCode::NXDomain);
    // Too big for UDP: truncated there, whole over TCP.
    let reply = ask_udp(server, "big.example.", RecordType::A).await;
    assert!(reply.truncated());
    let reply = ask_tcp(server, "big.example.", RecordType::A).await;
    assert_eq!(v4s(&reply).len(), 40);
}

#[tokio::test]
async fn each_container_forwards_to_its_own_upstreams() {
    let stub = start_stub();
    let server = DnsServer::with_timeout(sample_records(), Duration::from_millis(300));
    let serve = |upstreams| {
        let (udp, tcp) = bind_pair();
        let addr = udp.local_addr().unwrap();
        (
            server.serve(udp, tcp, names(&["n1"]), upstreams).unwrap(),
            addr,
        )
    };
    let (_with, with_stub) = serve(vec![stub.addr]);
    let (_without, without) = serve(vec![]);
    let reply = ask_udp(with_stub, "example.com.", RecordType::A).await;
    assert_eq!(v4s(&reply), [Ipv4Addr::new(192, 0, 2, 1)]);
    let reply = ask_udp(without, "example.com.", RecordType::A).await;
    assert_eq!(reply.response_code(), ResponseCode::ServFail);
    // Both still answer for their networks.
    let reply = ask_udp(without, "web.", RecordType::A).await;
    assert_eq!(v4s(&reply), [Ipv4Addr::new(10, 1, 0, 2)]);
}

#[tokio::test]
async fn our_own_big_answers_are_truncated_over_udp() {
    let records = Arc::new(Records::new());
    for i in 1..=60u8 {
        let ip = Some(Ipv4Addr::new(10, 3, 0, i));
        records.add("n", "n", &format!("e{i}"), &names(&["many"]), ip, None);
    }
    let (_serving, server) = start(&records, vec![], &["n"]);
    let reply = ask_udp(server, "many.", RecordType::A).await;
    assert!(reply.truncated());
    assert!(reply.answers().is_empty());
    let reply = ask_tcp(server, "many.", RecordType::A).await;
    assert_eq!(v4s(&reply).len(), 60);
}

#[tokio::test]
async fn servfail_when_no_upstream_answers() {
    // One upstream that never reads, one port nothing listens on, and none at all.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let closed = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let records = sample_records();
    for upstreams in [vec![silent.local_addr().unwrap()], vec![closed], vec![]] {
        let (_serving, server) = start(&records, upstreams.clone(), &["n1"]);
        let started = Instant::now();
        let reply = ask_udp(server, "example.com.", RecordType::A).await;
        assert_eq!(
            reply.response_code(),
            ResponseCode::ServFail,
            "{upstreams:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        let reply = ask_tcp(server, "example.com.", RecordType::A).await;
        assert_eq!(
            reply.response_code(),
            ResponseCode::ServFail,
            "{upstreams:?}"
        );
    }
}

#[tokio::test]
async fn garbage_gets_no_answer_and_the_server_keeps_serving() {
    let records = sample_records();
    let (_serving, server) = start(&records, vec![], &["n1"]);
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut response = query("web.", RecordType::A);
    response.set_message_type(MessageType::Response);
    let mut two_questions = query("web.", RecordType::A);
    two_questions.add_query(Query::query(
        Name::from_ascii("web2.").unwrap(),
        RecordType::A,
    ));
    for packet in [
        vec![],
        vec![0xff; 7],
        vec![0xff; 300],
        response.to_vec().unwrap(),
    ] {
        socket.send_to(&packet, server).await.unwrap();
    }
    let mut buf = vec![0; 65535];
    let wait = Duration::from_millis(300);
    let quiet = tokio::time::timeout(wait, socket.recv(&mut buf)).await;
    assert!(quiet.is_err(), "no reply to garbage or to responses");
    // A TCP frame that is not DNS closes that connection only.
    let mut stream = TcpStream::connect(server).await.unwrap();
    write_frame(&mut stream, &[1, 2, 3]).await.unwrap();
    assert!(read_frame(&mut stream).await.is_err());
    // Two questions in one query: FORMERR, as servers do.
    socket
        .send_to(&two_questions.to_vec().unwrap(), server)
        .await
        .unwrap();
    let n = socket.recv(&mut buf).await.unwrap();
    let reply = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(reply.response_code(), ResponseCode::FormErr);
    let reply = ask_udp(server, "web.", RecordType::A).await;
    assert_eq!(v4s(&reply), [Ipv4Addr::new(10, 1, 0, 2)]);
}

#[tokio::test]
async fn dropping_the_handle_closes_the_sockets() {
    let records = sample_records();
    let (serving, server) = start(&records, vec![], &["n1"]);
    assert_eq!(v4s(&ask_tcp(server, "web.", RecordType::A).await).len(), 1);
    drop(serving);
    // Aborted tasks drop their sockets at the runtime's next turn.
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(server).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "{server} still accepts connections"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    std::net::UdpSocket::bind(server).expect("the UDP port is free again");
}

#[test]
fn serving_needs_a_runtime() {
    let (udp, tcp) = bind_pair();
    let server = DnsServer::new(Arc::new(Records::new()));
    let err = server.serve(udp, tcp, vec![], vec![]).unwrap_err();
    assert_eq!(err.to_string(), "the DNS server needs a tokio runtime");
}
