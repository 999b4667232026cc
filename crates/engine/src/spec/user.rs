//! Docker's `-u` and `--group-add`: names and ids resolved against the container's own
//! /etc/passwd and /etc/group, the way runc's `GetExecUser` does.

use std::collections::BTreeSet;
use std::path::Path;

use oci_spec::runtime::User;

use super::error::{Error, Result};
use super::rootfs;

/// The user a container's process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    /// The user id.
    pub uid: u32,
    /// The primary group id.
    pub gid: u32,
    /// Supplementary groups: those listing the user in /etc/group (when no group was given)
    /// and `--group-add`.
    pub additional_gids: Vec<u32>,
    /// The home directory from /etc/passwd, "/" when there is no entry.
    pub home: String,
}

impl ExecUser {
    /// The OCI `process.user`.
    pub fn to_oci(&self) -> User {
        let mut user = User::default();
        user.set_uid(self.uid);
        user.set_gid(self.gid);
        user.set_additional_gids(
            (!self.additional_gids.is_empty()).then(|| self.additional_gids.clone()),
        );
        user
    }
}

struct Passwd {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct Group {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Lines of a colon-separated file with at least `fields` fields; comments and short lines
/// are skipped, as libc does.
fn records(text: &str, fields: usize) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(move |f| f.len() >= fields)
}

fn passwd(text: &str) -> Vec<Passwd> {
    records(text, 6)
        .filter_map(|f| {
            Some(Passwd {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_string(),
            })
        })
        .collect()
}

fn groups(text: &str) -> Vec<Group> {
    records(text, 3)
        .filter_map(|f| {
            Some(Group {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| m.split(',').map(|s| s.trim().to_string()).collect())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// A numeric id, if `s` is one; ids above 2^31-1 are refused as Docker does.
fn numeric(s: &str, what: &str) -> Result<Option<u32>> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    match s.parse::<u32>() {
        Ok(id) if id <= i32::MAX as u32 => Ok(Some(id)),
        _ => Err(Error::invalid(
            what,
            format!("{s}: uids and gids must be in range 0-{}", i32::MAX),
        )),
    }
}

fn group_id(groups: &[Group], spec: &str) -> Result<u32> {
    if let Some(gid) = numeric(spec, "group")? {
        return Ok(gid);
    }
    groups
        .iter()
        .find(|g| g.name == spec)
        .map(|g| g.gid)
        .ok_or_else(|| Error::NoSuchEntry {
            kind: "group",
            name: spec.to_string(),
            file: "group",
        })
}

/// Resolves Docker's `-u` (`""`, `name`, `uid`, `name:group`, `uid:gid`) and `--group-add`
/// against `rootfs`'s /etc/passwd and /etc/group. Numeric ids need no entry; an unknown name
/// is an error ("unable to find user X: no matching entries in passwd file").
pub fn resolve_user(rootfs: &Path, user: &str, group_add: &[String]) -> Result<ExecUser> {
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let passwd_text = rootfs::read(rootfs, "/etc/passwd")?.unwrap_or_default();
    let entries = passwd(&passwd_text);
    let uid = numeric(user_part, "user")?;
    let found = entries.iter().find(|p| match uid {
        Some(uid) => p.uid == uid,
        None => p.name == user_part,
    });
    let (uid, mut gid, home, name) = match (found, uid) {
        (Some(p), _) => (p.uid, p.gid, p.home.clone(), Some(p.name.as_str())),
        (None, Some(uid)) => (uid, 0, "/".to_string(), None),
        (None, None) => {
            return Err(Error::NoSuchEntry {
                kind: "user",
                name: user_part.to_string(),
                file: "passwd",
            })
        }
    };
    let needs_groups = group_part.is_some_and(|g| numeric(g, "group").ok().flatten().is_none())
        || name.is_some()
        || !group_add.is_empty();
    let group_list = if needs_groups {
        groups(&rootfs::read(rootfs, "/etc/group")?.unwrap_or_default())
    } else {
        Vec::new()
    };
    let mut additional = BTreeSet::new();
    match group_part.filter(|g| !g.is_empty()) {
        Some(g) => gid = group_id(&group_list, g)?,
        None => {
            if let Some(name) = name {
                additional.extend(
                    group_list
                        .iter()
                        .filter(|g| g.members.iter().any(|m| m == name))
                        .map(|g| g.gid),
                );
            }
        }
    }
    for g in group_add {
        additional.insert(group_id(&group_list, g)?);
    }
    Ok(ExecUser {
        uid,
        gid,
        additional_gids: additional.into_iter().collect(),
        home,
    })
}

#[cfg(test)]
mod tests;
