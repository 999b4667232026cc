//! Volumes through berthd: what a client sees of `-v` strings the daemon refuses.

mod common;
use common::Daemon;

#[test]
fn bad_volume_specs_are_refused_at_create_and_create_nothing() {
    let daemon = Daemon::start();
    daemon.load_busybox("busybox:latest");
    for (spec, wanted) in [
        (
            "a:/b:ro:extra",
            "invalid volume specification: \\\"a:/b:ro:extra\\\"",
        ),
        ("/srv:relative", "mount path must be absolute"),
        ("/srv:/", "destination can't be '/'"),
        ("/srv:/a/..", "destination can't be '/'"),
        ("/srv:/d:rx", "invalid mode: rx"),
        (
            "../etc:/d",
            "includes invalid characters for a local volume name",
        ),
    ] {
        let body =
            format!(r#"{{"Image":"busybox","Cmd":["true"],"HostConfig":{{"Binds":["{spec}"]}}}}"#);
        let (status, _, answer) = daemon.http("POST", "/containers/create", body.as_bytes());
        assert_eq!(status, 400, "{spec}: {answer}");
        assert!(answer.contains(wanted), "{spec}: {answer}");
    }
    assert!(
        daemon.docker_ok(&["ps", "-aq"]).is_empty(),
        "nothing was created"
    );
}
