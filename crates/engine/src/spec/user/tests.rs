use std::fs;

use berth_testkit::TempDir;

use super::*;

fn root(passwd: &str, group: &str) -> TempDir {
    let dir = TempDir::new("spec-user");
    fs::create_dir_all(dir.join("etc")).unwrap();
    fs::write(dir.join("etc/passwd"), passwd).unwrap();
    fs::write(dir.join("etc/group"), group).unwrap();
    dir
}

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n# comment\nbroken line\n\
                      web:x:33:33:www:/var/www:/bin/false\n";
const GROUP: &str = "root:x:0:\nweb:x:33:\nlog:x:4:web,other\nstaff:x:50:\n";

#[test]
fn empty_user_is_root_with_home() {
    let dir = root(PASSWD, GROUP);
    let user = resolve_user(dir.path(), "", &[]).unwrap();
    assert_eq!((user.uid, user.gid, user.home.as_str()), (0, 0, "/root"));
    assert!(user.additional_gids.is_empty());
}

#[test]
fn name_gets_its_groups_and_group_add() {
    let dir = root(PASSWD, GROUP);
    let user = resolve_user(dir.path(), "web", &["staff".into(), "900".into()]).unwrap();
    assert_eq!(
        (user.uid, user.gid, user.home.as_str()),
        (33, 33, "/var/www")
    );
    assert_eq!(user.additional_gids, [4, 50, 900]);
}

#[test]
fn explicit_group_replaces_membership() {
    let dir = root(PASSWD, GROUP);
    let user = resolve_user(dir.path(), "web:staff", &[]).unwrap();
    assert_eq!((user.uid, user.gid), (33, 50));
    assert!(user.additional_gids.is_empty());
}

#[test]
fn numeric_ids_need_no_entry() {
    let dir = root(PASSWD, GROUP);
    let user = resolve_user(dir.path(), "4242", &[]).unwrap();
    assert_eq!((user.uid, user.gid, user.home.as_str()), (4242, 0, "/"));
    let user = resolve_user(dir.path(), "4242:4343", &[]).unwrap();
    assert_eq!((user.uid, user.gid), (4242, 4343));
    let user = resolve_user(dir.path(), "33", &[]).unwrap();
    assert_eq!((user.gid, user.home.as_str()), (33, "/var/www"));
}

#[test]
fn unknown_names_are_errors_naming_them() {
    let dir = root(PASSWD, GROUP);
    let err = resolve_user(dir.path(), "nobody", &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unable to find user nobody: no matching entries in passwd file"
    );
    let err = resolve_user(dir.path(), "web:wheel", &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unable to find group wheel: no matching entries in group file"
    );
    let err = resolve_user(dir.path(), "", &["wheel".into()]).unwrap_err();
    assert!(err.to_string().contains("group wheel"), "{err}");
    let err = resolve_user(dir.path(), "4294967295", &[]).unwrap_err();
    assert!(err.to_string().contains("range"), "{err}");
}

#[test]
fn missing_passwd_allows_only_numeric_users() {
    let dir = TempDir::new("spec-user-empty");
    assert_eq!(resolve_user(dir.path(), "7:8", &[]).unwrap().uid, 7);
    assert!(resolve_user(dir.path(), "root", &[]).is_err());
}

#[test]
fn passwd_symlink_cannot_reach_the_host() {
    let dir = TempDir::new("spec-user-escape");
    fs::create_dir_all(dir.join("etc")).unwrap();
    std::os::unix::fs::symlink(
        "../../../../../../../../../../etc/passwd",
        dir.join("etc/passwd"),
    )
    .unwrap();
    // The host's passwd has a `daemon`; inside the root the link leads back to itself.
    assert!(fs::read_to_string("/etc/passwd")
        .unwrap()
        .contains("daemon:"));
    assert!(resolve_user(dir.path(), "daemon", &[]).is_err());
}

#[test]
fn fifo_and_huge_passwd_are_refused() {
    let dir = TempDir::new("spec-user-fifo");
    fs::create_dir_all(dir.join("etc")).unwrap();
    nix::unistd::mkfifo(
        &dir.join("etc/passwd"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    let err = resolve_user(dir.path(), "root", &[]).unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
    fs::remove_file(dir.join("etc/passwd")).unwrap();
    fs::write(dir.join("etc/passwd"), vec![b'#'; 5 << 20]).unwrap();
    let err = resolve_user(dir.path(), "root", &[]).unwrap_err();
    assert!(err.to_string().contains("larger than"), "{err}");
}
