//! One pass at a time on a database: `arshjul tick` and the daemon (or two
//! ticks) each plan from the history, record and deliver. Two at once
//! would both read the same pending message and both send it (delivery
//! marks a message sent after the server took it), so a pass holds an
//! exclusive `flock` on a file beside the database, `<database>-pass`,
//! from planning to the end of delivery. The kernel drops the lock when
//! the process ends, killed or not, so a crash never leaves it held.
//!
//! The lock is a file of its own, never the database: SQLite's POSIX locks
//! on the database file are dropped when the process closes any
//! descriptor of that file.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};

use super::StoreError;

/// Held while a pass runs; dropping it lets the next pass in.
#[derive(Debug)]
pub struct PassLock {
    _file: File,
}

/// The lock file beside `database`.
pub fn pass_lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-pass");
    PathBuf::from(name)
}

impl PassLock {
    /// Takes the pass lock of `database` if no other pass holds it:
    /// `Ok(None)` while one does.
    pub fn try_acquire(database: &Path) -> Result<Option<PassLock>, StoreError> {
        let path = pass_lock_path(database);
        let io = |e: std::io::Error| StoreError::Io {
            path: path.display().to_string(),
            reason: format!("cannot take the pass lock: {e}"),
        };
        // Opened for reading (flock needs no more), so that a lock file
        // root made (`sudo arshjul tick` before the service's first pass)
        // opens for the service's user too; made empty and 0644 when
        // missing: it holds nothing.
        // Never through a symbolic link: a link planted at the lock's name
        // would have root (`sudo arshjul tick`) create a file where it
        // points.
        let nofollow = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(nofollow)
            .open(&path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .custom_flags(nofollow)
                .open(&path)
                .map_err(io)?,
            Err(e) => return Err(io(e)),
        };
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(PassLock { _file: file })),
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(None),
            Err(e) => Err(io(e.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_pass_waits_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("arshjul.db");
        let first = PassLock::try_acquire(&db).unwrap().expect("free");
        assert!(PassLock::try_acquire(&db).unwrap().is_none());
        drop(first);
        assert!(PassLock::try_acquire(&db).unwrap().is_some());
        assert_eq!(pass_lock_path(&db), dir.path().join("arshjul.db-pass"));
        // A lock file another user made, which this one may only read,
        // still locks.
        let path = pass_lock_path(&db);
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o444))
            .unwrap();
        assert!(PassLock::try_acquire(&db).unwrap().is_some());
    }

    #[test]
    fn a_symbolic_link_at_the_lock_name_is_refused_and_its_target_not_made() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("arshjul.db");
        let target = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&target, pass_lock_path(&db)).unwrap();
        let e = PassLock::try_acquire(&db).unwrap_err().to_string();
        assert!(e.contains("cannot take the pass lock"), "{e}");
        assert!(!target.exists());
    }
}
