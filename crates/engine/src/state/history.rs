//! A stack's history: one entry per run that changed it or its state, numbered from 1, kept
//! beside the state in its backend. Entries are written only if absent, so two runs appending
//! at once never overwrite each other: the one that loses a number takes the next
//! ([`append`]). The entries' content is the CLI's; a store only keeps text.
//!
//! The local store is a directory, `state/STACK.history/NNNNNN.json` (the number zero-padded,
//! so that names sort as numbers); each entry is written to a temp file and linked into place,
//! which fails when the name exists.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use super::StateError;

/// Where a stack's history entries are kept.
#[async_trait::async_trait]
pub trait HistoryStore: Send + Sync {
    /// Where the entries are, for messages.
    fn location(&self) -> String;
    /// The entries' numbers, in order.
    async fn numbers(&self) -> Result<Vec<u64>, StateError>;
    /// Writes entry `number` if there is none of that number; `false` when there is.
    async fn create(&self, number: u64, text: &str) -> Result<bool, StateError>;
    /// Rewrites entry `number`, which this run created (to complete it).
    async fn replace(&self, number: u64, text: &str) -> Result<(), StateError>;
    /// Entry `number`'s text, `None` when there is none.
    async fn read(&self, number: u64) -> Result<Option<String>, StateError>;
    /// Removes entry `number` (bounding the history); nothing when it is gone.
    async fn delete(&self, number: u64) -> Result<(), StateError>;
}

/// How many numbers a run tries before it gives up: each loss means another run took one.
const APPEND_ATTEMPTS: u64 = 64;

/// Appends the entry `text(number)` after the last one; its number. A number another run takes
/// meanwhile is skipped, never overwritten.
pub async fn append(
    store: &dyn HistoryStore,
    text: &(dyn Fn(u64) -> String + Send + Sync),
) -> Result<u64, StateError> {
    let mut next = store.numbers().await?.last().copied().unwrap_or(0) + 1;
    for _ in 0..APPEND_ATTEMPTS {
        if store.create(next, &text(next)).await? {
            return Ok(next);
        }
        next += 1;
    }
    Err(StateError::Backend {
        location: store.location(),
        message: format!("{APPEND_ATTEMPTS} history entries were taken by other runs while this one tried to write its own"),
    })
}

/// The name of entry `number`: `NNNNNN.json`.
pub fn entry_name(number: u64) -> String {
    format!("{number:06}.json")
}

/// The number of an entry named `name`, if it is one.
pub fn entry_number(name: &str) -> Option<u64> {
    name.strip_suffix(".json")?.parse().ok()
}

/// `DIR/STACK.history/`.
pub struct LocalHistory {
    dir: PathBuf,
}

impl LocalHistory {
    pub fn new(state_dir: &Path, stack: &str) -> Self {
        LocalHistory {
            dir: state_dir.join(format!("{stack}.history")),
        }
    }

    fn io(&self, action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StateError {
        let path = path.display().to_string();
        move |source| StateError::Io {
            action,
            path,
            source,
        }
    }

    /// `text` in a temp file of the directory, flushed.
    fn temp(&self, text: &str) -> Result<tempfile::NamedTempFile, StateError> {
        fs::create_dir_all(&self.dir).map_err(self.io("create", &self.dir))?;
        let mut temp = tempfile::Builder::new()
            .prefix(".entry-")
            .tempfile_in(&self.dir)
            .map_err(self.io("create a file in", &self.dir))?;
        temp.write_all(text.as_bytes())
            .and_then(|()| temp.as_file().sync_all())
            .map_err(self.io("write", temp.path()))?;
        Ok(temp)
    }
}

#[async_trait::async_trait]
impl HistoryStore for LocalHistory {
    fn location(&self) -> String {
        self.dir.display().to_string()
    }

    async fn numbers(&self) -> Result<Vec<u64>, StateError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io("read", &self.dir)(e)),
        };
        let mut numbers: Vec<u64> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| entry_number(&e.file_name().to_string_lossy()))
            .collect();
        numbers.sort_unstable();
        Ok(numbers)
    }

    async fn create(&self, number: u64, text: &str) -> Result<bool, StateError> {
        let temp = self.temp(text)?;
        let path = self.dir.join(entry_name(number));
        // A hard link fails if the name exists: the entry appears whole, or not at all.
        match fs::hard_link(temp.path(), &path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(self.io("write", &path)(e)),
        }
    }

    async fn replace(&self, number: u64, text: &str) -> Result<(), StateError> {
        let path = self.dir.join(entry_name(number));
        self.temp(text)?
            .persist(&path)
            .map_err(|e| self.io("replace", &path)(e.error))?;
        Ok(())
    }

    async fn read(&self, number: u64) -> Result<Option<String>, StateError> {
        let path = self.dir.join(entry_name(number));
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("read", &path)(e)),
        }
    }

    async fn delete(&self, number: u64) -> Result<(), StateError> {
        let path = self.dir.join(entry_name(number));
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io("remove", &path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
    async fn runs_appending_at_once_lose_no_entry_and_each_number_is_taken_once() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Arc::new(LocalHistory::new(dir.path(), "dev"));
        let runs: Vec<_> = (0..16)
            .map(|run| {
                let store = store.clone();
                tokio::spawn(async move {
                    let text = move |n: u64| format!("{{\"number\": {n}, \"run\": {run}}}");
                    append(store.as_ref(), &text).await.expect("appended")
                })
            })
            .collect();
        let mut numbers = Vec::new();
        for run in runs {
            numbers.push(run.await.expect("run"));
        }
        numbers.sort_unstable();
        assert_eq!(numbers, (1..=16).collect::<Vec<_>>(), "no number twice");
        assert_eq!(store.numbers().await.expect("numbers"), numbers);
        let mut runs_seen: Vec<String> = Vec::new();
        for n in numbers {
            let text = store.read(n).await.expect("read").expect("entry");
            assert!(text.contains(&format!("\"number\": {n},")), "{text}");
            runs_seen.push(
                text.split("\"run\": ")
                    .nth(1)
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        runs_seen.sort();
        runs_seen.dedup();
        assert_eq!(runs_seen.len(), 16, "every run's entry is kept");
    }

    #[tokio::test]
    async fn a_taken_number_is_not_overwritten_and_replace_completes_an_entry() {
        let dir = tempfile::tempdir().expect("dir");
        let store = LocalHistory::new(dir.path(), "dev");
        assert!(store.create(1, "first").await.expect("create"));
        assert!(!store.create(1, "second").await.expect("create"));
        assert_eq!(store.read(1).await.expect("read").as_deref(), Some("first"));
        store.replace(1, "done").await.expect("replace");
        assert_eq!(store.read(1).await.expect("read").as_deref(), Some("done"));
        store.delete(1).await.expect("delete");
        assert!(store.numbers().await.expect("numbers").is_empty());
        assert_eq!(
            std::fs::read_dir(dir.path().join("dev.history"))
                .expect("dir")
                .count(),
            0,
            "no temp file left"
        );
    }
}
