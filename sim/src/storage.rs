//! The remote storage behind repositories, which several simulated clusters may share.
//!
//! StarRocks keeps no snapshot list in the FE: `Repository.java` (fe/fe-core/src/main/java/com/
//! starrocks/backup/Repository.java, `assembleJobInfoFilePath`, `listSnapshots`) finds snapshots by
//! listing `<location>/__starrocks_repository_<name>/__ss_*` and their `__info_<timestamp>` files.
//! So a cluster sees another cluster's snapshots exactly when its repository has the same location
//! AND the same name; the key here is that root path.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::jobs::Snap;

/// Snapshot files by repository root path. Cloning gives another handle on the same storage: pass
/// it in [`crate::SimOptions::repository_store`] to make a second cluster share the first's.
#[derive(Clone, Default)]
pub struct RepositoryStore(Arc<Mutex<BTreeMap<String, Vec<Snap>>>>);

impl std::fmt::Debug for RepositoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let roots: Vec<String> = self
            .0
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        f.debug_tuple("RepositoryStore").field(&roots).finish()
    }
}

impl RepositoryStore {
    /// Empty storage (no repository directory exists yet).
    pub fn new() -> RepositoryStore {
        RepositoryStore::default()
    }

    /// Runs `f` on the snapshots under one repository root (created empty when absent).
    pub(crate) fn with<R>(&self, root: &str, f: impl FnOnce(&mut Vec<Snap>) -> R) -> R {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(m.entry(root.to_string()).or_default())
    }

    /// A copy of the snapshots under one root, in listing order.
    pub(crate) fn list(&self, root: &str) -> Vec<Snap> {
        self.with(root, |v| v.clone())
    }
}

/// `<location>/__starrocks_repository_<name>` (Repository.java `joinPrefix(prefixRepo, name)`).
pub(crate) fn repo_root(location: &str, name: &str) -> String {
    format!("{location}/__starrocks_repository_{name}")
}
