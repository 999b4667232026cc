//! The busybox root file system and image archives the engines run.

use super::*;

/// A root file system with a static busybox and a link for each of its applets in /bin.
pub(super) fn build_busybox_rootfs(sb: &Sandbox, rootfs: &Path) -> PathBuf {
    for dir in ["bin", "dev", "etc", "proc", "root", "sys", "tmp"] {
        fs::create_dir_all(rootfs.join(dir)).expect("create rootfs directory");
    }
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777))
        .expect("chmod /tmp");
    let busybox = rootfs.join("bin/busybox");
    fs::copy(BUSYBOX, &busybox).expect("copy busybox");
    fs::set_permissions(&busybox, fs::Permissions::from_mode(0o755)).expect("chmod busybox");
    let out = sb.expect_ok(run_command(Command::new(BUSYBOX).arg("--list"), &sb.dir));
    for applet in out.stdout.lines().map(str::trim) {
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        match symlink("busybox", rootfs.join("bin").join(applet)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => panic!("symlink busybox applet {applet}: {e}"),
        }
    }
    fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("write passwd");
    fs::write(rootfs.join("etc/group"), "root:x:0:\n").expect("write group");
    rootfs.to_path_buf()
}

pub(super) fn tar_dir(sb: &Sandbox, dir: &Path, tar: &Path) -> PathBuf {
    sb.expect_ok(run_command(
        Command::new(tool("tar"))
            .arg("--numeric-owner")
            .arg("-C")
            .arg(dir)
            .arg("-cf")
            .arg(tar)
            .arg("."),
        &sb.dir,
    ));
    tar.to_path_buf()
}

/// A `docker save`-style archive (manifest.json, config, one layer) that `ctr images import`
/// understands, made without docker.
pub(super) fn build_image_archive(sb: &Sandbox, layer: &Path, dir: &Path) -> PathBuf {
    fs::create_dir_all(dir).expect("create image directory");
    fs::copy(layer, dir.join("layer.tar")).expect("copy layer");
    let out = sb.expect_ok(run_command(
        Command::new(tool("sha256sum")).arg(dir.join("layer.tar")),
        &sb.dir,
    ));
    let digest = out
        .stdout
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    sb.check(
        digest.len() == 64,
        "sha256sum prints the layer digest",
        &out,
    );
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    let config = format!(
        r#"{{"architecture":"{arch}","os":"linux","config":{{"Env":["PATH=/bin:/sbin"],"Cmd":["sh"]}},"rootfs":{{"type":"layers","diff_ids":["sha256:{digest}"]}}}}"#
    );
    fs::write(dir.join("config.json"), config).expect("write image config");
    let manifest = format!(
        r#"[{{"Config":"config.json","RepoTags":["{CTR_IMAGE_TAG}"],"Layers":["layer.tar"]}}]"#
    );
    fs::write(dir.join("manifest.json"), manifest).expect("write image manifest");
    let archive = dir.with_extension("tar");
    sb.expect_ok(run_command(
        Command::new(tool("tar"))
            .arg("-C")
            .arg(dir)
            .arg("-cf")
            .arg(&archive)
            .args(["manifest.json", "config.json", "layer.tar"]),
        &sb.dir,
    ));
    archive
}

// ---------------------------------------------------------------------------------------------
// Daemons and the cleanup guard
