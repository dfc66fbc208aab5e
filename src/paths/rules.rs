//! The rules of `paths`, over plain facts: which symlinks a config write may pass through,
//! and where a code folder may not be.

use std::path::{Component, Path, PathBuf};

/// Top-level system folders a code folder may never be (a checkout there would rewrite or
/// delete the system's own files).
pub const SYSTEM_FOLDERS: &[&str] = &[
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/root", "/run", "/sbin", "/sys",
    "/usr", "/var",
];

/// What `lstat` says about a symlink met on the way to a config `dst`, and its folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkFacts {
    /// Where the link is, with every folder before it already resolved.
    pub path: PathBuf,
    pub uid: u32,
    pub dir_uid: u32,
    pub dir_mode: u32,
    /// The code folder the link is inside, if any.
    pub in_code_folder: Option<PathBuf>,
    /// The link is the `dst` itself (replaced by the write, never followed).
    pub is_dst: bool,
}

/// Whether a config write may pass the link `l`, for an agent running as `agent_uid`:
/// - never a link inside a code folder (a code repo committed it), on the way or at `dst`;
/// - `dst` itself elsewhere is replaced, not followed: nothing to judge;
/// - on the way, the kernel's protected_symlinks rule: the link and its folder owned by root
///   or the agent's user, and its folder writable by nobody else.
pub fn may_follow(l: &LinkFacts, agent_uid: u32) -> Result<(), String> {
    let link = l.path.display();
    if let Some(folder) = &l.in_code_folder {
        let what = if l.is_dst {
            "is itself"
        } else {
            "goes through"
        };
        return Err(format!(
            "{what} the symlink {link} inside the code folder {}; config files are never written through a code repo's symlinks: name the real path as dst",
            folder.display()
        ));
    }
    if l.is_dst {
        return Ok(());
    }
    let trusted = |uid: u32| uid == 0 || uid == agent_uid;
    if !trusted(l.uid) {
        return Err(format!(
            "goes through the symlink {link}, owned by uid {}: only links owned by root or the agent's user are followed; name the real path as dst",
            l.uid
        ));
    }
    if !trusted(l.dir_uid) || l.dir_mode & 0o022 != 0 {
        return Err(format!(
            "goes through the symlink {link}, whose folder others may write (owner uid {}, mode {:04o}): anyone could have planted it; name the real path as dst",
            l.dir_uid,
            l.dir_mode & 0o7777
        ));
    }
    Ok(())
}

/// Whether a code folder may be at `path` (as written, and `physical`: with every symlink
/// resolved), given the agent's home `home` (and `home_physical`). Both spellings are
/// judged: `/var` on OpenWrt is a link to `/tmp`, and a link may lead into the home.
pub fn code_folder(
    path: &Path,
    physical: &Path,
    home: &Path,
    home_physical: &Path,
) -> Result<(), String> {
    let path = normalize(path);
    let home = normalize(home);
    for p in [&path, physical] {
        if p == Path::new("/") {
            return Err("is `/`; name the app's own folder, e.g. /srv/<app>".into());
        }
        if is_system_folder(p) {
            return Err(format!(
                "is the system folder {}; name the app's own folder, e.g. /srv/<app>",
                p.display()
            ));
        }
    }
    for p in [&path, physical] {
        for h in [&home, home_physical] {
            let why = if p == h {
                "is"
            } else if p.starts_with(h) {
                "is inside"
            } else if h.starts_with(p) {
                "holds"
            } else {
                continue;
            };
            return Err(format!(
                "{why} the agent's home $GITOPS_AGENT_HOME ({}), where its clones and records live; name the app's own folder, e.g. /srv/<app>",
                h.display()
            ));
        }
    }
    Ok(())
}

/// Whether `p` is one of [`SYSTEM_FOLDERS`] as `Path` equality sees it (component by
/// component: `/etc/`, `//etc` and `/etc/.` are `/etc`). One walk of `p`'s components
/// instead of one per folder: every app's check runs it twice per pass.
fn is_system_folder(p: &Path) -> bool {
    let mut parts = p.components();
    parts.next() == Some(Component::RootDir)
        && matches!(parts.next(), Some(Component::Normal(name))
            if SYSTEM_FOLDERS.iter().any(|s| s.strip_prefix('/').map(str::as_bytes) == Some(name.as_encoded_bytes())))
        && parts.next().is_none()
}

/// `path` without `.`, doubled or trailing `/`, with `..` applied lexically.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGENT: u32 = 0;

    fn link() -> LinkFacts {
        LinkFacts {
            path: "/var".into(),
            uid: 0,
            dir_uid: 0,
            dir_mode: 0o040755,
            in_code_folder: None,
            is_dst: false,
        }
    }

    #[test]
    fn a_root_link_in_a_root_only_folder_is_followed() {
        assert!(may_follow(&link(), AGENT).is_ok());
        let mine = LinkFacts {
            uid: 1000,
            dir_uid: 1000,
            ..link()
        };
        assert!(may_follow(&mine, 1000).is_ok());
    }

    #[test]
    fn a_link_inside_a_code_folder_is_never_followed_nor_replaced() {
        for is_dst in [false, true] {
            let l = LinkFacts {
                path: "/srv/web/conf".into(),
                in_code_folder: Some("/srv/web".into()),
                is_dst,
                ..link()
            };
            let why = may_follow(&l, AGENT).unwrap_err();
            assert!(
                why.contains("/srv/web/conf") && why.contains("code folder /srv/web"),
                "{why}"
            );
        }
    }

    #[test]
    fn a_dst_link_outside_code_folders_is_replaced_whoever_owns_it() {
        let l = LinkFacts {
            uid: 1000,
            dir_mode: 0o041777,
            is_dst: true,
            ..link()
        };
        assert!(may_follow(&l, AGENT).is_ok());
    }

    #[test]
    fn a_link_owned_by_someone_else_is_not_followed() {
        let l = LinkFacts {
            uid: 1000,
            ..link()
        };
        assert!(may_follow(&l, AGENT).unwrap_err().contains("uid 1000"));
    }

    #[test]
    fn a_link_in_a_folder_others_may_write_is_not_followed() {
        for (dir_uid, dir_mode) in [(1000, 0o040755), (0, 0o041777), (0, 0o040775)] {
            let l = LinkFacts {
                dir_uid,
                dir_mode,
                ..link()
            };
            let why = may_follow(&l, AGENT).unwrap_err();
            assert!(why.contains("others may write"), "{why}");
        }
    }

    fn folder(path: &str, physical: &str) -> Result<(), String> {
        code_folder(
            Path::new(path),
            Path::new(physical),
            Path::new("/opt/gitops-agent"),
            Path::new("/data/gitops-agent"),
        )
    }

    #[test]
    fn root_and_system_folders_are_refused_also_when_spelled_oddly() {
        for p in [
            "/",
            "//",
            "/etc",
            "/etc/",
            "/usr/./",
            "/srv/../var",
            "/lib64",
        ] {
            let why = folder(p, "/srv/ok").unwrap_err();
            assert!(why.contains("name the app's own folder"), "{p}: {why}");
        }
        // a link to a system folder
        assert!(folder("/srv/web", "/etc").is_err());
        // below a system folder is an app's own business
        assert!(folder("/etc/myapp", "/etc/myapp").is_ok());
        assert!(folder("/srv/web", "/srv/web").is_ok());
    }

    /// The one-walk check agrees with `Path` equality against each folder (the rule it
    /// replaced) on every spelling tried.
    #[test]
    fn a_system_folder_is_what_path_equality_says_it_is() {
        let mut spellings = vec![
            "/",
            "",
            "etc",
            "/etcx",
            "/et",
            "/etc/x",
            "/etc/..",
            "/./etc",
            "/etc/./",
            "//etc//",
            "/ETC",
            "/usr/lib",
            "/lib6",
            "/lib64/",
            "/srv",
            "/var/lib/..",
        ];
        spellings.extend(SYSTEM_FOLDERS);
        for p in spellings {
            let p = Path::new(p);
            let by_equality = SYSTEM_FOLDERS.iter().any(|s| p == Path::new(s));
            assert_eq!(is_system_folder(p), by_equality, "{}", p.display());
        }
        assert!(is_system_folder(Path::new("//etc//")));
        assert!(!is_system_folder(Path::new("/etc/x")));
    }

    #[test]
    fn the_agent_home_inside_it_or_holding_it_is_refused() {
        for (p, phys, word) in [
            ("/opt/gitops-agent", "/x", "is the"),
            ("/opt/gitops-agent/app-configs/x", "/x", "is inside"),
            ("/opt", "/x", "holds"),
            ("/srv/link", "/data/gitops-agent/state", "is inside"),
            ("/srv/link", "/data", "holds"),
        ] {
            let why = folder(p, phys).unwrap_err();
            assert!(why.starts_with(word), "{p}: {why}");
        }
        assert!(folder("/opt/gitops-agent-web", "/opt/gitops-agent-web").is_ok());
    }
}
