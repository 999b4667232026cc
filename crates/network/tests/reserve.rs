//! Host-port reservations, in the test thread's own network namespace so that the host's
//! ports play no part.

mod common;

use std::net::{IpAddr, TcpListener, UdpSocket};

use berth_network::reserve::{PortReservation, Protocol, ReserveError};
use common::Host;

const LOOPBACK: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

#[test]
fn a_port_held_by_berth_is_already_allocated() {
    let _host = Host::new("res-berth");
    let first = PortReservation::bind(Protocol::Tcp, None, 18080).unwrap();
    assert_eq!(first.port(), 18080);
    let err = PortReservation::bind(Protocol::Tcp, None, 18080).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Bind for 0.0.0.0:18080 failed: port is already allocated"
    );
    // A specific address overlaps the wildcard.
    let err = PortReservation::bind(Protocol::Tcp, LOOPBACK, 18080).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Bind for 127.0.0.1:18080 failed: port is already allocated"
    );
    // The same number over UDP is another port.
    PortReservation::bind(Protocol::Udp, None, 18080).unwrap();
    // Released on drop.
    drop(first);
    PortReservation::bind(Protocol::Tcp, None, 18080).unwrap();
}

#[test]
fn a_port_used_by_a_host_process_is_already_in_use() {
    let _host = Host::new("res-host");
    let _listener = TcpListener::bind("127.0.0.1:18081").unwrap();
    let err = PortReservation::bind(Protocol::Tcp, None, 18081).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Bind for 0.0.0.0:18081 failed: address already in use"
    );
    let _socket = UdpSocket::bind("0.0.0.0:18082").unwrap();
    let err = PortReservation::bind(Protocol::Udp, LOOPBACK, 18082).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Bind for 127.0.0.1:18082 failed: address already in use"
    );
    // And the reservation keeps host processes off the port it holds.
    let held = PortReservation::bind(Protocol::Tcp, None, 18083).unwrap();
    assert!(TcpListener::bind("127.0.0.1:18083").is_err());
    drop(held);
}

#[test]
fn port_zero_and_ranges_pick_a_free_port() {
    let _host = Host::new("res-range");
    let chosen = PortReservation::bind(Protocol::Tcp, None, 0).unwrap();
    assert_ne!(chosen.port(), 0);
    assert_eq!(chosen.addr().port(), chosen.port());

    let _taken = TcpListener::bind("0.0.0.0:18090").unwrap();
    let _held = PortReservation::bind(Protocol::Tcp, None, 18091).unwrap();
    let picked = PortReservation::bind_range(Protocol::Tcp, None, 18090..=18095).unwrap();
    assert_eq!(picked.port(), 18092);

    let err = PortReservation::bind_range(Protocol::Tcp, None, 18090..=18091).unwrap_err();
    assert!(matches!(err, ReserveError::RangeExhausted { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "Bind for 0.0.0.0:18090-18091 failed: no free port in the range"
    );
}

#[test]
fn an_address_the_host_does_not_have_is_a_clear_error() {
    let _host = Host::new("res-addr");
    let err = PortReservation::bind(Protocol::Tcp, Some("192.0.2.7".parse().unwrap()), 18100)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Bind for 192.0.2.7:18100 failed: cannot assign requested address"
    );
}
