//! Slow soak tests, run with BERTH_SOAK=1: foreground `run` must always reap its child and
//! return (youki hangs about once in 40 runs on this kind of machine).

mod common;

use std::time::{Duration, Instant};

use common::{unique, Bundle, Runtime};

#[test]
fn a_thousand_foreground_runs_never_hang() {
    if std::env::var_os("BERTH_SOAK").is_none() {
        eprintln!("skipped: set BERTH_SOAK=1 to run the soak tests");
        return;
    }
    let bundle = Bundle::busybox(&["true"]);
    let rt = Runtime::new();
    let mut hangs = 0;
    for i in 0..1000 {
        let mut child = rt
            .command()
            .args(["run", &unique("soak")])
            .current_dir(&bundle.dir)
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "run {i} failed: {status}");
                break;
            }
            if Instant::now() > deadline {
                hangs += 1;
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    assert_eq!(hangs, 0, "{hangs} of 1000 runs hung");
}
