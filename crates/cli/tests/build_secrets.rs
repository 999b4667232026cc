//! `berth build --secret` against berthd: `RUN --mount=type=secret` reads the secret (as a
//! file with its mode and owner, or as a variable), while the image, the build cache, the
//! daemon's roots and its log never hold it; a changed secret does not re-run a step; a
//! required secret that is missing fails the build; a malformed `--secret` is refused.

mod common;

use std::path::{Path, PathBuf};

use common::berthd::Berthd;

/// The files under `dir` whose bytes contain `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                todo.push(entry.path());
            } else if kind.is_file() {
                let bytes = std::fs::read(entry.path()).unwrap_or_default();
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    found.push(entry.path());
                }
            }
        }
    }
    found
}

#[test]
fn secrets_reach_run_and_nothing_else() {
    let daemon = Berthd::start("cli-secret");
    daemon.load_busybox("busybox:latest");
    let secret = format!("tok-{}-{:x}", std::process::id(), rand_suffix());
    let secret_file = daemon.dir.join("token.txt");
    std::fs::write(&secret_file, &secret).unwrap();
    let context = daemon.dir.join("context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        "FROM busybox
RUN --mount=type=secret,id=token,required wc -c < /run/secrets/token > /size && stat -c '%a %u' /run/secrets/token > /mode && echo visible-$((6*7)) > /marker
RUN --mount=type=secret,id=token,target=/etc/app/tok,uid=1000,mode=0440 stat -c '%a %u' /etc/app/tok > /mode2
RUN --mount=type=secret,id=token,env=TOKEN sh -c 'echo ${#TOKEN}' > /env-size
RUN --mount=type=secret,id=absent test ! -e /run/secrets/absent && touch /optional-ok
",
    )
    .unwrap();
    let src = format!("id=token,src={}", secret_file.display());
    let dir = context.to_str().unwrap();
    daemon.berth_ok(&["build", "--secret", &src, "-t", "sec", dir]);
    let length = secret.len().to_string();
    assert_eq!(
        daemon.berth_ok(&[
            "run",
            "--rm",
            "sec",
            "cat",
            "/size",
            "/mode",
            "/mode2",
            "/env-size",
            "/optional-ok"
        ]),
        format!("{length}\n400 0\n440 1000\n{length}\n")
    );
    assert_eq!(
        daemon.berth_ok(&[
            "run",
            "--rm",
            "sec",
            "sh",
            "-c",
            "ls -d /run /etc/app 2>&1; true"
        ]),
        "ls: /run: No such file or directory\nls: /etc/app: No such file or directory\n",
        "no secret mount point is left"
    );

    let saved = daemon.dir.join("sec.tar");
    daemon.berth_ok(&["save", "-o", saved.to_str().unwrap(), "sec"]);
    let image = std::fs::read(&saved).unwrap();
    let holds = |needle: &[u8]| image.windows(needle.len()).any(|w| w == needle);
    assert!(
        holds(b"visible-42"),
        "the saved layers are plain tars that can be searched"
    );
    assert!(!holds(secret.as_bytes()), "the image holds the secret");
    assert!(files_holding(&daemon.dir.join("data"), secret.as_bytes()).is_empty());
    assert!(files_holding(&daemon.dir.join("exec"), secret.as_bytes()).is_empty());
    assert!(!daemon.log().contains(&secret));
    assert_eq!(
        files_holding(daemon.dir.path(), secret.as_bytes()),
        std::slice::from_ref(&secret_file),
        "only the user's own file holds the secret"
    );

    std::fs::write(&secret_file, "another value").unwrap();
    let again = daemon.berth_ok(&["build", "--secret", &src, "-t", "sec", dir]);
    assert!(
        !again.contains("Running in"),
        "a secret's value is not part of the cache key: {again}"
    );

    std::fs::write(
        context.join("Dockerfile"),
        "FROM busybox\nRUN --mount=type=secret,id=nope,required true\n",
    )
    .unwrap();
    let missing = daemon.berth(&["build", dir]);
    assert!(!missing.success());
    assert!(
        missing.stderr.contains("secret nope: not found"),
        "{}",
        missing.describe()
    );

    let bad = daemon.berth(&["build", "--secret", "nonsense", dir]);
    assert_eq!(
        bad.status.and_then(|s| s.code()),
        Some(125),
        "{}",
        bad.describe()
    );
    assert!(
        bad.stderr.contains(
            "invalid argument \"nonsense\" for \"--secret\" flag: invalid field 'nonsense' must be a key=value pair"
        ),
        "{}",
        bad.describe()
    );
    let unreadable = daemon.berth(&["build", "--secret", "id=x,src=/nonexistent/file", dir]);
    assert!(!unreadable.success());
    assert!(
        unreadable
            .stderr
            .contains("read secret x from /nonexistent/file"),
        "{}",
        unreadable.describe()
    );
}

/// A few bits that differ between runs, so the secret is found nowhere by chance.
fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}
