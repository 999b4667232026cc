//! Here-documents as BuildKit runs them. `RUN <<EOF` alone: the body is the shell's script,
//! or, when it starts with `#!`, an executable file mounted read-only at `/dev/pipes/EOF` and
//! run through the shell. Any other line (`RUN <<EOF bash`, `RUN cat <<A <<B`): the line and
//! the bodies, each followed by its delimiter, go to the shell, which reads them as its own
//! here-documents (so a quoted delimiter or `<<-` mean what they mean to `sh`). Variables in a
//! RUN body are the shell's business: the builder never expands them.
//!
//! `COPY <<EOF /dest` (and ADD): each body is a file named after its delimiter, mode 0664
//! unless `--chmod` says otherwise, copied to the destination like a file of the context.

use std::io::Write;

use berth_build::parser::{is_heredoc_word, CommandLine, Heredoc};
use berth_image::digest::{sha256, Algorithm, Hasher};
use berth_image::Digest;

use super::metadata::StageState;
use super::{io_error, BuildError, BuildResult};

/// Where BuildKit mounts the script of a `#!` heredoc.
pub const PIPES: &str = "/dev/pipes";

/// What a RUN executes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCommand {
    /// The container's command.
    pub argv: Vec<String>,
    /// A `#!` script: its file name under [`PIPES`] and its content.
    pub script: Option<(String, String)>,
}

/// The command of RUN `line` in a stage whose SHELL is `state.shell`.
pub fn run_command(state: &StageState, line: &CommandLine) -> BuildResult<RunCommand> {
    let Some(first) = line.heredocs.first() else {
        return Ok(RunCommand {
            argv: state.argv(line),
            script: None,
        });
    };
    let text = line.args.join(" ");
    if !line.prepend_shell || line.args.len() != 1 {
        return Err(BuildError::Invalid(format!(
            "parsing produced an invalid run command: {:?}",
            line.args
        )));
    }
    let with_shell = |command: String| {
        let mut argv = state.shell.clone();
        argv.push(command);
        argv
    };
    if !is_heredoc_word(text.trim()) {
        let mut full = text;
        for doc in &line.heredocs {
            full.push('\n');
            full.push_str(&doc.content);
            full.push_str(&doc.name);
        }
        return Ok(RunCommand {
            argv: with_shell(full),
            script: None,
        });
    }
    if first.content.starts_with("#!") {
        check_file_name(&first.name)?;
        return Ok(RunCommand {
            argv: with_shell(format!("{PIPES}/{}", first.name)),
            script: Some((first.name.clone(), first.content.clone())),
        });
    }
    Ok(RunCommand {
        argv: with_shell(first.content.clone()),
        script: None,
    })
}

/// A heredoc's delimiter names a file: one path component.
fn check_file_name(name: &str) -> BuildResult<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(BuildError::Invalid(format!(
            "invalid heredoc name {name:?}: it names a file, so it must be one path component"
        )));
    }
    Ok(())
}

/// The heredoc sources of a COPY or ADD, written as tar entries.
pub struct InlineFiles<'a> {
    pub docs: &'a [Heredoc],
    /// Absolute destination; a trailing `/` makes it a directory.
    pub dest: &'a str,
    pub owner: (u32, u32),
    pub mode: Option<u32>,
}

impl InlineFiles<'_> {
    /// Writes the files' tar (paths relative to `/`) to `out`; returns a hash over each file's
    /// path, mode, owner and content.
    pub fn write_tar(&self, out: impl Write) -> BuildResult<Digest> {
        let dest_is_dir = self.dest.ends_with('/');
        let dest = self.dest.trim_start_matches('/').trim_end_matches('/');
        let mode = self.mode.unwrap_or(0o664);
        let (uid, gid) = self.owner;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut tar = tar::Builder::new(out);
        let mut hasher = Hasher::new(Algorithm::Sha256);
        for doc in self.docs {
            check_file_name(&doc.name)?;
            let name = match (dest_is_dir, dest.is_empty()) {
                (true, true) => doc.name.clone(),
                (true, false) => format!("{dest}/{}", doc.name),
                (false, _) => dest.to_string(),
            };
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(mode);
            header.set_uid(uid.into());
            header.set_gid(gid.into());
            header.set_size(doc.content.len() as u64);
            header.set_mtime(now);
            tar.append_data(&mut header, &name, doc.content.as_bytes())
                .map_err(io_error(format!("write the heredoc {}", doc.name)))?;
            hasher.update(format!("{name}\0{mode:o}\0{uid}:{gid}\0").as_bytes());
            hasher.update(sha256(doc.content.as_bytes()).hex().as_bytes());
            hasher.update(b"\n");
        }
        tar.into_inner()
            .and_then(|mut out| out.flush())
            .map_err(io_error("finish the heredocs' tar"))?;
        Ok(hasher.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str, content: &str) -> Heredoc {
        Heredoc {
            name: name.into(),
            content: content.into(),
            expand: true,
            chomp: false,
            fd: None,
        }
    }

    fn state() -> StageState {
        let mut config = Default::default();
        StageState::from_base(&mut config)
    }

    fn line(text: &str, docs: Vec<Heredoc>) -> CommandLine {
        CommandLine {
            args: vec![text.into()],
            prepend_shell: true,
            heredocs: docs,
        }
    }

    #[test]
    fn a_lone_heredoc_is_the_script_and_a_shebang_makes_it_a_file() {
        let plain =
            run_command(&state(), &line("<<EOF", vec![doc("EOF", "echo $HOME\n")])).unwrap();
        assert_eq!(plain.argv, ["/bin/sh", "-c", "echo $HOME\n"]);
        assert_eq!(plain.script, None);
        let script = run_command(
            &state(),
            &line("<<'RUN'", vec![doc("RUN", "#!/bin/sh\necho hi\n")]),
        )
        .unwrap();
        assert_eq!(script.argv, ["/bin/sh", "-c", "/dev/pipes/RUN"]);
        assert_eq!(
            script.script,
            Some(("RUN".into(), "#!/bin/sh\necho hi\n".into()))
        );
    }

    #[test]
    fn other_lines_give_the_shell_its_own_heredocs() {
        let run = run_command(
            &state(),
            &line(
                "<<A cat - /dev/fd/3 3<<'B'",
                vec![doc("A", "a $X\n"), doc("B", "b\n")],
            ),
        )
        .unwrap();
        assert_eq!(
            run.argv,
            ["/bin/sh", "-c", "<<A cat - /dev/fd/3 3<<'B'\na $X\nA\nb\nB"]
        );
    }

    #[test]
    fn heredoc_files_go_to_the_destination_with_their_mode() {
        let docs = [doc("a.txt", "alpha\n"), doc("b", "beta\n")];
        let files = InlineFiles {
            docs: &docs,
            dest: "/etc/app/",
            owner: (1, 2),
            mode: None,
        };
        let mut tar = Vec::new();
        files.write_tar(&mut tar).unwrap();
        let mut archive = tar::Archive::new(&tar[..]);
        let entries: Vec<(String, u32, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("etc/app/a.txt".into(), 0o664, 1),
                ("etc/app/b".into(), 0o664, 1)
            ]
        );
        let one = [doc("../x", "")];
        let bad = InlineFiles {
            docs: &one,
            dest: "/x/",
            owner: (0, 0),
            mode: None,
        };
        assert!(bad.write_tar(Vec::new()).is_err());
    }
}
