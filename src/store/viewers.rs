//! Viewer versions: the per-viewer counter that revokes viewer links
//! (calendar feeds now, the overview later). A viewer token carries the
//! version it was made with; a token whose version is not the current one
//! is refused. Raising the version is the only change; nothing is deleted.
//! Kinds and viewers are plain text here (`link::ViewerKind::as_str`,
//! `link::Viewer::as_key`): the store does not know the token format.

use chrono::{DateTime, FixedOffset};
use rusqlite::{params, OptionalExtension};

use super::{codec, Store, StoreError};

impl Store {
    /// The current version of (`kind`, `viewer`): 0 until first revoked.
    pub fn viewer_version(&self, kind: &str, viewer: &str) -> Result<u32, StoreError> {
        self.read(|conn| {
            let v: Option<i64> = conn
                .query_row(
                    "SELECT version FROM viewer_versions WHERE kind = ?1 AND viewer = ?2",
                    params![kind, viewer],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(v.map_or(0, |v| u32::try_from(v).unwrap_or(u32::MAX)))
        })
    }

    /// Revokes every link of (`kind`, `viewer`) made so far: raises its
    /// version by one, recording when and by whom. Returns the new version.
    pub fn revoke_viewer(
        &mut self,
        kind: &str,
        viewer: &str,
        at: DateTime<FixedOffset>,
        by: &str,
    ) -> Result<u32, StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO viewer_versions (kind, viewer, version, revoked_at, revoked_by)
                 VALUES (?1, ?2, 1, ?3, ?4)
                 ON CONFLICT (kind, viewer) DO UPDATE SET
                     version = version + 1,
                     revoked_at = excluded.revoked_at,
                     revoked_by = excluded.revoked_by",
                params![kind, viewer, codec::time(&at), by],
            )?;
            let v: i64 = tx.query_row(
                "SELECT version FROM viewer_versions WHERE kind = ?1 AND viewer = ?2",
                params![kind, viewer],
                |r| r.get(0),
            )?;
            Ok(u32::try_from(v).unwrap_or(u32::MAX))
        })
    }
}
