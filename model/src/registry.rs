//! A model registry: numbered, immutable model versions and a pointer to the one in use.
//!
//! ```text
//! models/
//!   CURRENT              the published version's name, one line, replaced by rename
//!   versions/v0001/      a complete, calibrated checkpoint; never written again
//!   versions/v0002/
//!   candidates/v0003/    a retrain's candidate while it is built, or rejected (and why)
//!   retrain.lock         held by the one retrain that may run at a time
//! ```
//!
//! A version is built under `candidates/`, moved into `versions/` whole (a rename), and
//! only then named in `CURRENT` (written aside, then renamed over it), so a reader
//! either sees the previous version or the complete new one, never a partial model.
//! `cyberlm detect` rereads `CURRENT` between micro-batches and switches there.

use std::fs::{self, File, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file naming the published version.
pub const CURRENT: &str = "CURRENT";
const VERSIONS: &str = "versions";
const CANDIDATES: &str = "candidates";
const LOCK: &str = "retrain.lock";

/// Why the registry could not be read or changed. Every variant names the path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// A file or folder could not be read or written. (The I/O error is the source, so
    /// the binary's error chain prints it once.)
    #[error("cannot read or write {path}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No version has been published yet.
    #[error(
        "{path}: no model version is published yet; publish a calibrated model with `cyberlm publish <model dir> --registry {root}`",
        root = path.parent().map_or_else(|| ".".into(), |root| root.display().to_string())
    )]
    NothingPublished {
        /// The missing `CURRENT` file.
        path: PathBuf,
    },
    /// `CURRENT` names a version that is not there.
    #[error("{path} names version {name:?}, which is not in the registry; publish a version again")]
    Dangling {
        /// The `CURRENT` file.
        path: PathBuf,
        /// The name it holds.
        name: String,
    },
    /// Another process holds the retrain lock.
    #[error(
        "{path} is held by another retrain (pid {holder}); runs never overlap, try again when it ends"
    )]
    Busy {
        /// The lock file.
        path: PathBuf,
        /// What the holder wrote into it.
        holder: String,
    },
}

/// A registry folder.
#[derive(Debug, Clone)]
pub struct Registry {
    root: PathBuf,
}

/// The retrain lock, released when dropped (or when the process ends, however it ends).
#[derive(Debug)]
pub struct RetrainLock {
    _file: File,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Registry {
    /// The registry at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Registry { root: root.into() }
    }

    /// Whether `dir` is a registry rather than a single model's folder.
    pub fn is_registry(dir: &Path) -> bool {
        dir.join(CURRENT).is_file() || dir.join(VERSIONS).is_dir()
    }

    /// Its folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of version `name`.
    pub fn version_dir(&self, name: &str) -> PathBuf {
        self.root.join(VERSIONS).join(name)
    }

    /// The published version's name, `None` before the first.
    pub fn current(&self) -> Result<Option<String>, RegistryError> {
        let path = self.root.join(CURRENT);
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text.trim().to_string())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(RegistryError::Io { path, source }),
        }
    }

    /// The published version's name and folder.
    pub fn current_dir(&self) -> Result<(String, PathBuf), RegistryError> {
        let path = self.root.join(CURRENT);
        let name = self
            .current()?
            .ok_or_else(|| RegistryError::NothingPublished { path: path.clone() })?;
        let dir = self.version_dir(&name);
        if !dir.is_dir() {
            return Err(RegistryError::Dangling { path, name });
        }
        Ok((name, dir))
    }

    /// Published versions, oldest first.
    pub fn versions(&self) -> Result<Vec<String>, RegistryError> {
        list(&self.root.join(VERSIONS))
    }

    /// Takes the retrain lock, or says who holds it. The lock is the OS's (`flock`), so
    /// a run that crashes never leaves it stale.
    pub fn lock(&self) -> Result<RetrainLock, RegistryError> {
        fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let path = self.root.join(LOCK);
        let mut file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(&path).unwrap_or_default();
                return Err(RegistryError::Busy {
                    path,
                    holder: holder.trim().to_string(),
                });
            }
            Err(TryLockError::Error(source)) => return Err(RegistryError::Io { path, source }),
        }
        file.set_len(0).map_err(io(&path))?;
        write!(file, "{}", std::process::id()).map_err(io(&path))?;
        Ok(RetrainLock { _file: file })
    }

    /// A fresh candidate folder under the next version's name (one more than any
    /// version or candidate so far, so names never repeat).
    pub fn new_candidate(&self, _lock: &RetrainLock) -> Result<(String, PathBuf), RegistryError> {
        let taken = self
            .versions()?
            .into_iter()
            .chain(list(&self.root.join(CANDIDATES))?)
            .filter_map(|name| name.strip_prefix('v')?.parse::<u32>().ok())
            .max()
            .unwrap_or(0);
        let name = format!("v{:04}", taken + 1);
        let dir = self.root.join(CANDIDATES).join(&name);
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok((name, dir))
    }

    /// Publishes the candidate `name`: moves it into `versions/` and points `CURRENT`
    /// at it. Both steps are renames on one file system, so readers never see a part.
    pub fn publish(&self, name: &str, _lock: &RetrainLock) -> Result<PathBuf, RegistryError> {
        let from = self.root.join(CANDIDATES).join(name);
        let to = self.version_dir(name);
        let versions = self.root.join(VERSIONS);
        fs::create_dir_all(&versions).map_err(io(&versions))?;
        fs::rename(&from, &to).map_err(io(&from))?;
        self.point_at(name)?;
        Ok(to)
    }

    /// Points `CURRENT` at the published version `name` (a rollback, or after
    /// [`Registry::publish`]).
    pub fn point_at(&self, name: &str) -> Result<(), RegistryError> {
        let path = self.root.join(CURRENT);
        if !self.version_dir(name).is_dir() {
            return Err(RegistryError::Dangling {
                path,
                name: name.to_string(),
            });
        }
        let tmp = self.root.join(format!("{CURRENT}.tmp"));
        let mut file = File::create(&tmp).map_err(io(&tmp))?;
        writeln!(file, "{name}").map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))
    }

    /// Removes the oldest published versions beyond `keep`, never the current one, and
    /// the oldest candidates (rejected or crashed runs) beyond `keep`. Returns the names
    /// of the versions removed.
    pub fn prune(&self, keep: usize, _lock: &RetrainLock) -> Result<Vec<String>, RegistryError> {
        let keep = keep.max(1);
        let current = self.current()?;
        let versions = self.versions()?;
        let excess = versions.len().saturating_sub(keep);
        let mut removed = Vec::new();
        for name in versions.into_iter().take(excess) {
            if current.as_deref() == Some(name.as_str()) {
                continue;
            }
            let dir = self.version_dir(&name);
            fs::remove_dir_all(&dir).map_err(io(&dir))?;
            removed.push(name);
        }
        let candidates = list(&self.root.join(CANDIDATES))?;
        let excess = candidates.len().saturating_sub(keep);
        for name in candidates.into_iter().take(excess) {
            let dir = self.root.join(CANDIDATES).join(name);
            fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        Ok(removed)
    }
}

/// The folder a model is read from: a registry's published version, or `dir` itself.
pub fn resolve(dir: &Path) -> Result<PathBuf, RegistryError> {
    if Registry::is_registry(dir) {
        Ok(Registry::new(dir).current_dir()?.1)
    } else {
        Ok(dir.to_path_buf())
    }
}

/// Sub-folder names of `dir`, sorted; none when it does not exist.
fn list(dir: &Path) -> Result<Vec<String>, RegistryError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(RegistryError::Io {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io(dir))?;
        if entry.path().is_dir()
            && let Some(name) = entry.file_name().to_str()
        {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate_with(registry: &Registry, lock: &RetrainLock, text: &str) -> String {
        let (name, dir) = registry.new_candidate(lock).unwrap();
        fs::write(dir.join("manifest.json"), text).unwrap();
        name
    }

    #[test]
    fn versions_are_numbered_published_whole_and_pruned_but_never_the_current_one() {
        let root = tempfile::tempdir().unwrap();
        let registry = Registry::new(root.path());
        assert!(!Registry::is_registry(root.path()));
        assert_eq!(registry.current().unwrap(), None);
        let error = registry.current_dir().unwrap_err();
        assert!(error.to_string().contains("cyberlm publish"), "{error}");

        let lock = registry.lock().unwrap();
        let first = candidate_with(&registry, &lock, "one");
        assert_eq!(first, "v0001");
        assert_eq!(
            registry.current().unwrap(),
            None,
            "a candidate is not published"
        );
        registry.publish(&first, &lock).unwrap();
        assert!(Registry::is_registry(root.path()));
        let (name, dir) = registry.current_dir().unwrap();
        assert_eq!(name, "v0001");
        assert_eq!(
            fs::read_to_string(dir.join("manifest.json")).unwrap(),
            "one"
        );
        assert_eq!(resolve(root.path()).unwrap(), dir);

        // A rejected candidate keeps its number: the next one is v0003.
        let rejected = candidate_with(&registry, &lock, "two");
        assert_eq!(rejected, "v0002");
        let third = candidate_with(&registry, &lock, "three");
        assert_eq!(third, "v0003");
        registry.publish(&third, &lock).unwrap();
        assert_eq!(registry.versions().unwrap(), ["v0001", "v0003"]);

        // A rollback, then pruning to one version keeps the current one.
        registry.point_at("v0001").unwrap();
        assert_eq!(registry.prune(1, &lock).unwrap(), Vec::<String>::new());
        registry.point_at("v0003").unwrap();
        candidate_with(&registry, &lock, "four");
        assert_eq!(registry.prune(1, &lock).unwrap(), ["v0001"]);
        assert_eq!(registry.versions().unwrap(), ["v0003"]);
        assert_eq!(
            list(&root.path().join(CANDIDATES)).unwrap(),
            ["v0004"],
            "the newest candidate is kept for inspection, older ones go"
        );
        assert!(matches!(
            registry.point_at("v0001"),
            Err(RegistryError::Dangling { .. })
        ));
    }

    #[test]
    fn only_one_retrain_holds_the_lock_at_a_time() {
        let root = tempfile::tempdir().unwrap();
        let registry = Registry::new(root.path());
        let held = registry.lock().unwrap();
        let error = registry.lock().unwrap_err();
        assert!(matches!(error, RegistryError::Busy { .. }), "{error}");
        assert!(
            error.to_string().contains(&std::process::id().to_string()),
            "{error}"
        );
        drop(held);
        registry.lock().expect("released when dropped");
    }
}
