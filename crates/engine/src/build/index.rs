//! The entries of a received build context as a tree of names, built from the tar's headers
//! without writing a file. The tar is hostile input: names are cleaned (`..` stops at the
//! top, as the layer unpacker does), a name may not pass through a non-directory, a hard
//! link must name a file already in the context, and symbolic links are only ever followed
//! inside the tree.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use berth_image::Digest;

use super::files::{Kind, Meta};

/// Where a regular file's bytes are in the spool, and their digest.
#[derive(Debug, Clone)]
pub struct Content {
    pub offset: u64,
    pub size: u64,
    pub digest: Digest,
}

/// One name in the context.
#[derive(Debug)]
pub struct Node {
    pub meta: Meta,
    /// A regular file's bytes.
    pub content: Option<Content>,
    children: BTreeMap<String, Node>,
}

impl Node {
    fn directory(mode: u32, mtime: u64) -> Node {
        Node {
            meta: Meta {
                kind: Kind::Dir,
                mode,
                mtime,
            },
            content: None,
            children: BTreeMap::new(),
        }
    }

    /// The entries of a directory, by name.
    pub fn children(&self) -> impl Iterator<Item = (&String, &Node)> {
        self.children.iter()
    }
}

/// The context's tree.
#[derive(Debug)]
pub struct Index {
    root: Node,
}

/// A tar entry's name as components under the top: `.`, `/` and empty parts dropped, `..`
/// stopping at the top.
pub fn components(name: &Path) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    for component in name.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    parts
}

/// How many symbolic links one lookup may follow, as Linux allows.
const MAX_LINKS: usize = 40;

impl Index {
    /// An empty context.
    pub fn new() -> Index {
        Index {
            root: Node::directory(0o755, 0),
        }
    }

    /// Adds the entry `name` (a raw tar name); a later entry replaces an earlier one of the
    /// same name, as unpacking would. Missing parents are made as directories (0755).
    pub fn insert(
        &mut self,
        name: &Path,
        meta: Meta,
        content: Option<Content>,
    ) -> Result<(), String> {
        let parts = components(name);
        let Some((last, parents)) = parts.split_last() else {
            return Ok(()); // The top itself (`./`): it stays a directory.
        };
        let mut dir = &mut self.root;
        for (i, part) in parents.iter().enumerate() {
            let child = dir
                .children
                .entry(part.clone())
                .or_insert_with(|| Node::directory(0o755, 0));
            if child.meta.kind != Kind::Dir {
                return Err(format!(
                    "{}: {} is not a directory",
                    name.display(),
                    parts[..=i].join("/")
                ));
            }
            dir = child;
        }
        match dir.children.get_mut(last) {
            Some(existing) if existing.meta.kind == Kind::Dir && meta.kind == Kind::Dir => {
                existing.meta = meta;
            }
            _ => {
                dir.children.insert(
                    last.clone(),
                    Node {
                        meta,
                        content,
                        children: BTreeMap::new(),
                    },
                );
            }
        }
        Ok(())
    }

    /// Adds `name` as a hard link to `target`, a regular file already in the context (reached
    /// without following symbolic links): the same bytes, mode and time.
    pub fn hard_link(&mut self, name: &Path, target: &Path) -> Result<(), String> {
        let refused = || {
            format!(
                "{}: a hard link to {}, which is not a file of the context",
                name.display(),
                target.display()
            )
        };
        let node = self.get(&components(target)).ok_or_else(refused)?;
        let content = node.content.clone().ok_or_else(refused)?;
        let meta = node.meta.clone();
        self.insert(name, meta, Some(content))
    }

    /// The node at `parts` (already resolved: no component is a symbolic link).
    fn get(&self, parts: &[String]) -> Option<&Node> {
        let mut node = &self.root;
        for part in parts {
            if node.meta.kind != Kind::Dir {
                return None;
            }
            node = node.children.get(part)?;
        }
        Some(node)
    }

    /// `parts` (a cleaned path) without following a final symbolic link; `Err` names the
    /// first component on the way that is a symbolic link (the caller refuses the path).
    pub fn lookup(&self, parts: &[String]) -> Result<Option<&Node>, usize> {
        let mut node = &self.root;
        for (i, part) in parts.iter().enumerate() {
            match &node.meta.kind {
                Kind::Dir => {}
                Kind::Symlink(_) => return Err(i - 1),
                _ => return Ok(None),
            }
            let Some(child) = node.children.get(part) else {
                return Ok(None);
            };
            node = child;
        }
        Ok(Some(node))
    }

    /// `rel` with every symbolic link on the way (the last one too) followed inside the
    /// context: an absolute target starts again at the top, `..` stops there. None when it
    /// does not exist or the links loop.
    pub fn follow(&self, rel: &str) -> Option<&Node> {
        let mut todo: Vec<String> = components(Path::new(rel));
        todo.reverse();
        let mut path: Vec<String> = Vec::new();
        let mut links = 0;
        while let Some(part) = todo.pop() {
            path.push(part);
            let node = self.get(&path)?;
            if let Kind::Symlink(target) = &node.meta.kind {
                links += 1;
                if links > MAX_LINKS {
                    return None;
                }
                path.pop();
                if target.has_root() {
                    path.clear();
                }
                for component in target.components().rev() {
                    match component {
                        Component::Normal(p) => todo.push(p.to_string_lossy().into_owned()),
                        Component::ParentDir => todo.push("..".into()),
                        _ => {}
                    }
                }
            }
            while todo.last().is_some_and(|p| p == "..") {
                todo.pop();
                path.pop();
            }
        }
        self.get(&path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn file(mode: u32) -> Meta {
        Meta {
            kind: Kind::File { size: 1 },
            mode,
            mtime: 0,
        }
    }

    fn content(offset: u64) -> Option<Content> {
        Some(Content {
            offset,
            size: 1,
            digest: berth_image::digest::sha256(&offset.to_be_bytes()),
        })
    }

    fn link(target: &str) -> Meta {
        Meta {
            kind: Kind::Symlink(PathBuf::from(target)),
            mode: 0o777,
            mtime: 0,
        }
    }

    fn parts(rel: &str) -> Vec<String> {
        components(Path::new(rel))
    }

    #[test]
    fn names_cannot_leave_the_top_or_pass_through_a_file() {
        let mut index = Index::new();
        index
            .insert(Path::new("../../etc/passwd"), file(0o644), content(1))
            .unwrap();
        index
            .insert(Path::new("/abs/./x"), file(0o600), content(2))
            .unwrap();
        let found = index.lookup(&parts("etc/passwd")).unwrap().unwrap();
        assert_eq!(found.content.as_ref().unwrap().offset, 1);
        assert_eq!(
            index.lookup(&parts("abs")).unwrap().unwrap().meta.mode,
            0o755
        );
        let err = index
            .insert(Path::new("etc/passwd/inner"), file(0o644), content(3))
            .unwrap_err();
        assert_eq!(err, "etc/passwd/inner: etc/passwd is not a directory");
        assert!(index.lookup(&parts("etc/passwd/inner")).unwrap().is_none());
    }

    #[test]
    fn symbolic_links_are_refused_on_the_way_and_followed_only_inside() {
        let mut index = Index::new();
        index
            .insert(Path::new("dir/real"), file(0o644), content(1))
            .unwrap();
        index.insert(Path::new("out"), link("/etc"), None).unwrap();
        index
            .insert(Path::new("up"), link("../../../dir"), None)
            .unwrap();
        index.insert(Path::new("loop"), link("loop"), None).unwrap();
        index
            .insert(Path::new("Dockerfile"), link("up/real"), None)
            .unwrap();
        assert_eq!(index.lookup(&parts("out/passwd")).unwrap_err(), 0);
        assert_eq!(index.lookup(&parts("up/real")).unwrap_err(), 0);
        assert!(matches!(
            index.lookup(&parts("out")).unwrap().unwrap().meta.kind,
            Kind::Symlink(_)
        ));
        // `/etc` is the context's own (missing) `etc`, `..` stops at the top.
        assert!(index.follow("out/passwd").is_none());
        let followed = index.follow("Dockerfile").unwrap();
        assert_eq!(followed.content.as_ref().unwrap().offset, 1);
        assert!(index.follow("loop").is_none());
    }

    #[test]
    fn hard_links_must_name_a_file_of_the_context() {
        let mut index = Index::new();
        index
            .insert(Path::new("a"), file(0o640), content(7))
            .unwrap();
        index
            .insert(
                Path::new("d/"),
                Meta {
                    kind: Kind::Dir,
                    mode: 0o700,
                    mtime: 0,
                },
                None,
            )
            .unwrap();
        index
            .hard_link(Path::new("twin"), Path::new("./a"))
            .unwrap();
        let twin = index.lookup(&parts("twin")).unwrap().unwrap();
        assert_eq!(
            (twin.meta.mode, twin.content.as_ref().unwrap().offset),
            (0o640, 7)
        );
        for target in ["/etc/passwd", "../../etc/shadow", "d", "missing"] {
            let err = index
                .hard_link(Path::new("bad"), Path::new(target))
                .unwrap_err();
            assert!(err.contains("not a file of the context"), "{err}");
        }
        // `..` stops at the top, so this names the context's own `a`.
        index.hard_link(Path::new("up"), Path::new("../a")).unwrap();
    }
}
