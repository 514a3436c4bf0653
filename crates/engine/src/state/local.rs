//! State in a local file, `state/STACK.json`, with a lock file beside it.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use super::{parse_state, LockInfo, State, StateBackend, StateError};

/// `DIR/STACK.json` and `DIR/STACK.json.lock`.
pub struct LocalBackend {
    stack: String,
    path: PathBuf,
    lock_path: PathBuf,
}

impl LocalBackend {
    pub fn new(dir: &Path, stack: &str) -> Self {
        let path = dir.join(format!("{stack}.json"));
        let lock_path = dir.join(format!("{stack}.json.lock"));
        LocalBackend {
            stack: stack.to_string(),
            path,
            lock_path,
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

    fn read_lock(&self) -> Result<Option<LockInfo>, StateError> {
        match fs::read_to_string(&self.lock_path) {
            Ok(text) => Ok(Some(serde_json::from_str(&text).unwrap_or_else(|_| {
                LockInfo {
                    id: "unreadable".into(),
                    who: "unknown".into(),
                    host: "unknown".into(),
                    pid: 0,
                    operation: "unknown".into(),
                    created: "unknown".into(),
                }
            }))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("read", &self.lock_path)(e)),
        }
    }
}

#[async_trait::async_trait]
impl StateBackend for LocalBackend {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    async fn lock(&self, operation: &str) -> Result<LockInfo, StateError> {
        if let Some(dir) = self.lock_path.parent() {
            fs::create_dir_all(dir).map_err(self.io("create", dir))?;
        }
        let info = LockInfo::new(operation);
        // `create_new` is the atomic test-and-set: exactly one run creates the file.
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&self.lock_path)
        {
            Ok(mut file) => {
                let text = serde_json::to_string_pretty(&info).unwrap_or_default();
                file.write_all(text.as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(self.io("write", &self.lock_path))?;
                Ok(info)
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => match self.read_lock()? {
                Some(holder) => Err(StateError::Locked {
                    stack: self.stack.clone(),
                    path: self.lock_path.display().to_string(),
                    holder,
                }),
                // Released between our two calls: the caller may simply try again.
                None => Box::pin(self.lock(operation)).await,
            },
            Err(e) => Err(self.io("create", &self.lock_path)(e)),
        }
    }

    async fn unlock(&self, lock: &LockInfo) -> Result<(), StateError> {
        match self.read_lock()? {
            Some(held) if held.id == lock.id => {
                fs::remove_file(&self.lock_path).map_err(self.io("remove", &self.lock_path))
            }
            // Someone forced our lock away; theirs is not ours to remove.
            _ => Ok(()),
        }
    }

    async fn force_unlock(&self, lock_id: &str) -> Result<LockInfo, StateError> {
        match self.read_lock()? {
            None => Err(StateError::NotLocked {
                stack: self.stack.clone(),
            }),
            Some(held) if held.id == lock_id => {
                fs::remove_file(&self.lock_path).map_err(self.io("remove", &self.lock_path))?;
                Ok(held)
            }
            Some(held) => Err(StateError::LockMismatch {
                path: self.lock_path.display().to_string(),
                given: lock_id.to_string(),
                actual: held.id,
            }),
        }
    }

    async fn load(&self) -> Result<State, StateError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(State::empty(&self.stack)),
            Err(e) => return Err(self.io("read", &self.path)(e)),
        };
        parse_state(&text, &self.path.display().to_string(), &self.stack)
    }

    async fn save(&self, state: &State) -> Result<(), StateError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(self.io("create", dir))?;
        let text = serde_json::to_string_pretty(state).unwrap_or_default();
        // Temp file in the same directory, flushed to disk, then renamed over the old file: a
        // crash at any point leaves either the old or the new state, never a torn one.
        let mut temp = tempfile::Builder::new()
            .prefix(&format!(".{}.", self.stack))
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(self.io("create a temporary file in", dir))?;
        temp.write_all(text.as_bytes())
            .and_then(|()| temp.write_all(b"\n"))
            .and_then(|()| temp.as_file().sync_all())
            .map_err(self.io("write", temp.path()))?;
        temp.persist(&self.path)
            .map_err(|e| self.io("replace", &self.path)(e.error))?;
        if let Ok(dir) = File::open(dir) {
            // Make the rename itself durable; not every file system supports this.
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn second_lock_names_the_holder_and_unlock_frees_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend = LocalBackend::new(dir.path(), "dev");
        let lock = backend.lock("up").await.expect("first lock");
        let err = backend.lock("up").await.expect_err("second lock refused");
        let message = err.to_string();
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        assert!(message.contains(&lock.id), "{message}");
        backend.unlock(&lock).await.expect("unlock");
        backend.lock("up").await.expect("lock again");
    }

    #[tokio::test]
    async fn corrupt_state_is_reported_and_left_untouched() {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend = LocalBackend::new(dir.path(), "dev");
        let path = dir.path().join("dev.json");
        fs::write(
            &path,
            "{\"version\": 1, \"stack\": \"dev\", \"serial\": 3,\n  \"resources\": [ }",
        )
        .expect("write");
        let err = backend.load().await.expect_err("corrupt");
        assert!(err.to_string().contains("line 2"), "{err}");
        assert_eq!(
            fs::read_to_string(&path).expect("read"),
            "{\"version\": 1, \"stack\": \"dev\", \"serial\": 3,\n  \"resources\": [ }"
        );
    }

    #[tokio::test]
    async fn a_newer_state_version_is_refused_not_called_corrupt() {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend = LocalBackend::new(dir.path(), "dev");
        fs::write(
            dir.path().join("dev.json"),
            r#"{"version": 9, "stack": "dev", "future": true}"#,
        )
        .expect("write");
        let err = backend.load().await.expect_err("newer");
        assert!(
            err.to_string()
                .ends_with("has version 9, this build reads version 1"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn save_then_load_round_trips_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend = LocalBackend::new(dir.path(), "dev");
        let mut state = State::empty("dev");
        state.serial = 7;
        backend.save(&state).await.expect("save");
        assert_eq!(backend.load().await.expect("load"), state);
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("dev.json")]);
    }
}
