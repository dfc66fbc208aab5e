//! What an app ran before a health-checked update (SPEC §12), kept until the update is done:
//! the code folder's commit, the previous bytes and mode of every config `dst` the update
//! may write (or that it did not exist), and the section applied then.
//!
//! Crash safety: the file copies are written first, each atomically, then `manifest.toml`
//! is renamed into place last. A snapshot exists exactly when its manifest does; a folder
//! without one is the debris of a save cut short and is cleared by the next save. The
//! manifest is removed first when the snapshot is discarded, so a SIGKILL at any moment
//! leaves either a whole snapshot or none.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{private_dir, remove_file, sha256_hex};
use crate::error::{Context, Error, Result};

/// One config `dst` as it was before the update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Before {
    /// It did not exist: a rollback removes it.
    Absent,
    Present {
        bytes: Vec<u8>,
        mode: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The code folder and its HEAD (full id) before the update.
    pub code_dir: PathBuf,
    pub commit: String,
    /// The section applied then (its pre/post run for the rollback).
    pub section: String,
    pub files: Vec<(PathBuf, Before)>,
}

fn dir(state: &Path, app: &str) -> PathBuf {
    state.join("snapshots").join(app)
}

const MANIFEST: &str = "manifest.toml";

/// Read what `dsts` hold now and `code_dir`'s commit into a snapshot (not yet saved).
pub fn capture(
    code_dir: &Path,
    commit: String,
    section: String,
    dsts: impl IntoIterator<Item = PathBuf>,
) -> Result<Snapshot> {
    let mut files = Vec::new();
    for dst in dsts {
        let before = match std::fs::symlink_metadata(&dst) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Before::Absent,
            Err(e) => return Err(Error::msg(format!("inspect {}: {e}", dst.display()))),
            Ok(_) => {
                let meta = std::fs::metadata(&dst)
                    .with_context(|| format!("inspect {}", dst.display()))?;
                Before::Present {
                    bytes: std::fs::read(&dst)
                        .with_context(|| format!("read {}", dst.display()))?,
                    mode: meta.permissions().mode() & 0o7777,
                }
            }
        };
        files.push((dst, before));
    }
    Ok(Snapshot {
        code_dir: code_dir.to_path_buf(),
        commit,
        section,
        files,
    })
}

/// Save `snap` for `app`: copies first, the manifest last.
pub fn save(state: &Path, app: &str, snap: &Snapshot) -> Result<()> {
    let d = dir(state, app);
    if d.exists() {
        std::fs::remove_dir_all(&d).with_context(|| format!("clear {}", d.display()))?;
    }
    private_dir(&d)?;
    let mut files = Vec::new();
    for (i, (dst, before)) in snap.files.iter().enumerate() {
        let mut f = toml::Table::new();
        f.insert("dst".into(), dst.display().to_string().into());
        if let Before::Present { bytes, mode } = before {
            let blob = format!("file-{i}");
            crate::atomic::write(&d.join(&blob), bytes, Some(0o600))?;
            f.insert("blob".into(), blob.into());
            f.insert("sha256".into(), sha256_hex(bytes).into());
            f.insert("mode".into(), i64::from(*mode).into());
        }
        files.push(toml::Value::Table(f));
    }
    let mut m = toml::Table::new();
    m.insert(
        "code_dir".into(),
        snap.code_dir.display().to_string().into(),
    );
    m.insert("commit".into(), snap.commit.clone().into());
    m.insert("section".into(), snap.section.clone().into());
    m.insert("files".into(), toml::Value::Array(files));
    let text = toml::to_string(&m).unwrap_or_default();
    crate::atomic::write(&d.join(MANIFEST), text.as_bytes(), Some(0o600))
}

/// Whether `app` has a whole snapshot (an update of it was not finished).
pub fn exists(state: &Path, app: &str) -> bool {
    dir(state, app).join(MANIFEST).is_file()
}

/// The snapshot of `app`; `Ok(None)` when there is none. A copy that does not match its
/// digest is an error (the snapshot cannot be trusted to put anything back).
pub fn load(state: &Path, app: &str) -> Result<Option<Snapshot>> {
    let d = dir(state, app);
    let text = match std::fs::read_to_string(d.join(MANIFEST)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::msg(format!("read {}: {e}", d.display()))),
    };
    let bad = |what: &str| Error::msg(format!("{}: {what}", d.join(MANIFEST).display()));
    let m: toml::Table = text.parse().map_err(|_| bad("not valid TOML"))?;
    let field = |k: &str| {
        m.get(k)
            .and_then(toml::Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| bad(&format!("`{k}` missing")))
    };
    let mut files = Vec::new();
    for f in m
        .get("files")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
    {
        let dst = f
            .get("dst")
            .and_then(toml::Value::as_str)
            .ok_or_else(|| bad("a file without `dst`"))?;
        let before = match f.get("blob").and_then(toml::Value::as_str) {
            None => Before::Absent,
            Some(blob) => {
                let bytes = std::fs::read(d.join(blob))
                    .with_context(|| format!("read {}", d.join(blob).display()))?;
                let want = f.get("sha256").and_then(toml::Value::as_str);
                if want != Some(sha256_hex(&bytes).as_str()) {
                    return Err(bad(&format!("the copy of {dst} does not match its digest")));
                }
                let mode = f
                    .get("mode")
                    .and_then(toml::Value::as_integer)
                    .unwrap_or(0o644);
                Before::Present {
                    bytes,
                    mode: u32::try_from(mode).unwrap_or(0o644) & 0o7777,
                }
            }
        };
        files.push((PathBuf::from(dst), before));
    }
    Ok(Some(Snapshot {
        code_dir: PathBuf::from(field("code_dir")?),
        commit: field("commit")?,
        section: field("section")?,
        files,
    }))
}

/// Forget `app`'s snapshot: the manifest first (from then on there is none), then the copies.
pub fn discard(state: &Path, app: &str) -> Result<()> {
    let d = dir(state, app);
    remove_file(&d.join(MANIFEST))?;
    if d.exists() {
        std::fs::remove_dir_all(&d).with_context(|| format!("remove {}", d.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "gitops-snapshot-{tag}-{}-{:x}",
            std::process::id(),
            crate::atomic::random_u64()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn capture_save_load_discard() {
        let d = tmp("rt");
        let present = d.join("a.env");
        std::fs::write(&present, "A=1").unwrap();
        std::fs::set_permissions(&present, std::fs::Permissions::from_mode(0o640)).unwrap();
        let absent = d.join("b.env");
        let snap = capture(
            Path::new("/srv/web"),
            "c".repeat(40),
            "s".into(),
            [present.clone(), absent.clone()],
        )
        .unwrap();
        assert_eq!(
            snap.files,
            vec![
                (
                    present,
                    Before::Present {
                        bytes: b"A=1".to_vec(),
                        mode: 0o640
                    }
                ),
                (absent, Before::Absent)
            ]
        );
        let state = d.join("state");
        save(&state, "web", &snap).unwrap();
        assert!(exists(&state, "web"));
        assert_eq!(load(&state, "web").unwrap(), Some(snap));
        discard(&state, "web").unwrap();
        assert!(!exists(&state, "web"));
        assert_eq!(load(&state, "web").unwrap(), None);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_save_cut_short_is_no_snapshot() {
        let d = tmp("cut");
        // copies written, manifest never renamed into place
        let folder = dir(&d, "web");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("file-0"), "x").unwrap();
        assert!(!exists(&d, "web"));
        assert_eq!(load(&d, "web").unwrap(), None);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_damaged_copy_is_refused() {
        let d = tmp("bad");
        let f = d.join("a.env");
        std::fs::write(&f, "A=1").unwrap();
        let snap = capture(Path::new("/srv"), "c".into(), "s".into(), [f]).unwrap();
        save(&d, "web", &snap).unwrap();
        std::fs::write(dir(&d, "web").join("file-0"), "A=2").unwrap();
        let e = load(&d, "web").unwrap_err().to_string();
        assert!(e.contains("does not match its digest"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
