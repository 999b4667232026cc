//! Logging in to a real registry that requires a password (docker-registry with htpasswd):
//! credentials are checked before they are stored, kept the docker CLI's way (in config.json or
//! a credential helper), used by push and pull, and erased by logout. With token auth, bearer
//! tokens are fetched with the credentials for the scopes a push and a cross-repo mount need.

#[path = "../common/mod.rs"]
mod common;
mod token;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use berth_distribution::{login, logout, push, ClientConfig, Error};
use berth_image::archive::load_docker_archive;
use berth_image::layer::Compression;
use berth_image::progress::{Event, Silent, Status};
use berth_image::{ImageStore, Reference};
use berth_testkit::{LocalRegistry, Options};
use common::{busybox_archive, client_config, pull_quietly};
use token::TokenService;

const USER: &str = "berth";
const PASSWORD: &str = "s3cret pass:word";

fn registry_with_password() -> LocalRegistry {
    LocalRegistry::start_with(Options {
        user: Some((USER.into(), PASSWORD.into())),
        ..Options::default()
    })
}

/// Loads a busybox image named `<registry>/berth-test/busybox:1`.
fn load(registry: &LocalRegistry, store: &mut ImageStore) -> Reference {
    let name = format!("{}/berth-test/busybox:1", registry.address);
    let archive = registry.dir.join("image.tar");
    busybox_archive(&archive, Some(&name), &[]);
    load_docker_archive(store, fs::File::open(&archive).unwrap()).unwrap();
    name.parse().unwrap()
}

fn push_gzip(
    store: &mut ImageStore,
    reference: &Reference,
    config: &ClientConfig,
) -> Result<(), Error> {
    push(store, reference, config, Compression::Gzip, &Silent).map(drop)
}

fn config_json(config: &ClientConfig) -> serde_json::Value {
    serde_json::from_slice(&fs::read(config.config_dir().join("config.json")).unwrap()).unwrap()
}

#[test]
fn login_checks_stores_and_logout_erases_credentials_in_config_json() {
    let registry = registry_with_password();
    let config = client_config(&registry);
    let config_dir = config.config_dir();
    fs::create_dir_all(&config_dir).unwrap();
    let original = r#"{"psFormat": "table {{.ID}}", "auths": {"other.example": {"auth": "eDp5"}}}"#;
    fs::write(config_dir.join("config.json"), original).unwrap();
    let mut store = ImageStore::open(&registry.dir.join("store")).unwrap();
    let reference = load(&registry, &mut store);

    let err = push_gzip(&mut store, &reference, &config).unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
    assert!(err.to_string().contains("authentication required"), "{err}");

    let err = login(&registry.address, USER, "wrong", &config).unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
    assert!(err.to_string().contains("unauthorized"), "{err}");
    assert_eq!(
        fs::read_to_string(config_dir.join("config.json")).unwrap(),
        original,
        "a refused login stores nothing"
    );

    login(&registry.address, USER, PASSWORD, &config).unwrap();
    let saved = config_json(&config);
    assert_eq!(
        saved["psFormat"], "table {{.ID}}",
        "unknown fields are kept"
    );
    assert_eq!(saved["auths"]["other.example"]["auth"], "eDp5");
    // What `docker login` writes: base64 of user:password.
    let expected = std::process::Command::new("base64")
        .arg("-w0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("{USER}:{PASSWORD}").as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert_eq!(
        saved["auths"][&registry.address]["auth"],
        String::from_utf8(expected.stdout).unwrap()
    );
    let mode = fs::metadata(config_dir.join("config.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    push_gzip(&mut store, &reference, &config).unwrap();
    let mut fresh = ImageStore::open(&registry.dir.join("fresh")).unwrap();
    pull_quietly(
        &mut fresh,
        &registry.dir.join("fresh-snapshots"),
        &reference,
        &config,
    )
    .unwrap();

    assert!(logout(&registry.address, &config).unwrap());
    let saved = config_json(&config);
    assert!(saved["auths"].get(&registry.address).is_none(), "{saved}");
    assert_eq!(saved["psFormat"], "table {{.ID}}");
    let err = pull_quietly(
        &mut fresh,
        &registry.dir.join("fresh-snapshots"),
        &reference,
        &config,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
    assert!(
        !logout(&registry.address, &config).unwrap(),
        "not logged in any more"
    );
}

#[test]
fn a_credential_helper_holds_the_password() {
    let registry = registry_with_password();
    let config = client_config(&registry);
    let config_dir = config.config_dir();
    fs::create_dir_all(&config_dir).unwrap();
    fs::write(
        config_dir.join("config.json"),
        r#"{"credsStore": "berthtest"}"#,
    )
    .unwrap();

    // A helper speaking the docker-credential-helpers protocol, keeping one secret in a file.
    let bin = registry.dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let secret = registry.dir.join("helper-secret.json");
    let helper = bin.join("docker-credential-berthtest");
    fs::write(
        &helper,
        format!(
            "#!/bin/sh\nset -e\nsecret='{}'\ncase \"$1\" in\n\
             store) cat > \"$secret\" ;;\n\
             get|erase) url=$(cat)\n  if [ ! -f \"$secret\" ]; then echo 'credentials not found in native keychain'; exit 1; fi\n  \
             if [ \"$1\" = get ]; then cat \"$secret\"; else rm \"$secret\"; fi ;;\n\
             *) exit 2 ;;\nesac\n",
            secret.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::set_var("PATH", format!("{}:{path}", bin.display()));

    login(&registry.address, USER, PASSWORD, &config).unwrap();
    let stored: serde_json::Value = serde_json::from_slice(&fs::read(&secret).unwrap()).unwrap();
    assert_eq!(stored["ServerURL"], registry.address.as_str());
    assert_eq!(stored["Username"], USER);
    assert_eq!(stored["Secret"], PASSWORD);
    let saved = config_json(&config);
    assert_eq!(saved["auths"][&registry.address], serde_json::json!({}));
    assert_eq!(saved["credsStore"], "berthtest");

    let mut store = ImageStore::open(&registry.dir.join("store")).unwrap();
    let reference = load(&registry, &mut store);
    push_gzip(&mut store, &reference, &config).unwrap();

    assert!(logout(&registry.address, &config).unwrap());
    assert!(!secret.exists(), "the helper erased the secret");
    let err = push_gzip(&mut store, &reference, &config).unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
}

#[test]
fn bearer_tokens_carry_the_push_and_mount_scopes() {
    let tokens = TokenService::start(USER, PASSWORD);
    let registry = LocalRegistry::start_with(Options {
        auth: Some(tokens.registry_auth()),
        ..Options::default()
    });
    let config = client_config(&registry);
    let mut store = ImageStore::open(&registry.dir.join("store")).unwrap();
    let reference = load(&registry, &mut store);

    // Anonymous: the service gives a token that grants nothing.
    let err = push_gzip(&mut store, &reference, &config).unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
    let err = login(&registry.address, USER, "wrong", &config).unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
    assert!(!config.config_dir().join("config.json").exists());

    login(&registry.address, USER, PASSWORD, &config).unwrap();
    tokens.requests.lock().unwrap().clear();
    push_gzip(&mut store, &reference, &config).unwrap();
    let asked = tokens.requests.lock().unwrap().clone();
    assert!(
        asked.iter().all(|r| r.user.as_deref() == Some(USER)),
        "{asked:?}"
    );
    assert!(
        asked.iter().any(|r| r
            .scopes
            .contains(&"repository:berth-test/busybox:pull,push".to_string())),
        "{asked:?}"
    );

    // Another repository: the token also covers pulling from the first, so layers mount.
    let other: Reference = format!("{}/berth-test/mounted:1", registry.address)
        .parse()
        .unwrap();
    let record = store.get(&reference.to_string()).unwrap().clone();
    store.add(record, std::slice::from_ref(&other)).unwrap();
    tokens.requests.lock().unwrap().clear();
    let mounted = std::sync::Mutex::new(0);
    let observer = |e: Event| {
        if e.status == Status::Mounted {
            *mounted.lock().unwrap() += 1;
        }
    };
    push(&mut store, &other, &config, Compression::Gzip, &observer).unwrap();
    assert_eq!(*mounted.lock().unwrap(), 1, "the one layer is mounted");
    let asked = tokens.requests.lock().unwrap().clone();
    assert!(
        asked.iter().any(|r| {
            r.scopes
                .contains(&"repository:berth-test/mounted:pull,push".to_string())
                && r.scopes
                    .contains(&"repository:berth-test/busybox:pull".to_string())
        }),
        "{asked:?}"
    );

    let mut fresh = ImageStore::open(&registry.dir.join("fresh")).unwrap();
    pull_quietly(
        &mut fresh,
        &registry.dir.join("fresh-snapshots"),
        &other,
        &config,
    )
    .unwrap();
}
