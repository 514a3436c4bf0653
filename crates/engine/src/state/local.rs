//! State in a local file, `state/STACK.json`, with a lock file beside it.
//!
//! The lock file names its holder and is moved into place whole, never replacing one. A lock
//! whose holder is provably gone ([`LockInfo::is_stale`]) is taken over, with a notice; of two
//! runs taking it over at once, only the one that first creates the claim
//! `STACK.json.lock.takeover-ID` removes it, so neither can remove the other's new lock.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{notice_on_stderr, parse_state, LockInfo, Notice, State, StateBackend, StateError};

/// How many times a run tries to take the lock when it finds one that is gone or going.
const LOCK_ATTEMPTS: u32 = 5;

/// `DIR/STACK.json` and `DIR/STACK.json.lock`.
pub struct LocalBackend {
    stack: String,
    path: PathBuf,
    lock_path: PathBuf,
    notice: Notice,
}

impl LocalBackend {
    pub fn new(dir: &Path, stack: &str) -> Self {
        let path = dir.join(format!("{stack}.json"));
        let lock_path = dir.join(format!("{stack}.json.lock"));
        LocalBackend {
            stack: stack.to_string(),
            path,
            lock_path,
            notice: notice_on_stderr(),
        }
    }

    /// Says what the backend decides on its own (taking over a stale lock) to `notice`.
    pub fn with_notice(mut self, notice: Notice) -> Self {
        self.notice = notice;
        self
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
            Ok(text) => Ok(Some(
                serde_json::from_str(&text).unwrap_or_else(|_| LockInfo::unreadable()),
            )),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("read", &self.lock_path)(e)),
        }
    }

    /// A temporary file in `dir` (named after the stack and `prefix`) holding `text`, flushed
    /// to disk: moved into place afterwards, nobody ever reads it half written.
    fn written_temp(
        &self,
        dir: &Path,
        prefix: &str,
        text: &str,
    ) -> Result<tempfile::NamedTempFile, StateError> {
        let mut temp = tempfile::Builder::new()
            .prefix(&format!(".{}.{prefix}", self.stack))
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(self.io("create a temporary file in", dir))?;
        temp.write_all(text.as_bytes())
            .and_then(|()| temp.as_file().sync_all())
            .map_err(self.io("write", temp.path()))?;
        Ok(temp)
    }

    /// Creates the lock file naming `info`; `false` when there is one already.
    fn create_lock(&self, info: &LockInfo) -> Result<bool, StateError> {
        let dir = self.lock_path.parent().unwrap_or(Path::new("."));
        let text = serde_json::to_string_pretty(info).unwrap_or_default();
        let temp = self.written_temp(dir, "lock.", &text)?;
        // Moving a whole file into place without replacing one is the atomic test-and-set:
        // exactly one run creates the lock, and nobody ever reads it half written.
        match temp.persist_noclobber(&self.lock_path) {
            Ok(_) => Ok(true),
            Err(e) if e.error.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(self.io("create", &self.lock_path)(e.error)),
        }
    }

    /// The file a run creates before it removes the stale lock `id`, so that of two runs taking
    /// it over at once only one removes it (the other could remove the first one's new lock).
    /// `None` for an id unlike the ones this build writes, as the id is part of a file name.
    fn claim_path(&self, id: &str) -> Option<PathBuf> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
        let mut name = self.lock_path.clone().into_os_string();
        name.push(format!(".takeover-{id}"));
        Some(PathBuf::from(name))
    }

    /// Removes the lock `stale` if it is still there, under a claim only one run can make;
    /// `true` when this run removed it.
    fn take_over(&self, stale: &LockInfo) -> Result<bool, StateError> {
        let Some(claim) = self.claim_path(&stale.id) else {
            return Ok(false);
        };
        match OpenOptions::new().write(true).create_new(true).open(&claim) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(false),
            Err(e) => return Err(self.io("create", &claim)(e)),
        }
        // Under the claim no other takeover removes this lock: it is still there, or it went
        // (a `force-unlock`), and then whatever is there now is not ours to remove.
        let removed = match self.read_lock() {
            Ok(Some(current)) if current.id == stale.id => match fs::remove_file(&self.lock_path) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
                Err(e) => Err(self.io("remove", &self.lock_path)(e)),
            },
            Ok(_) => Ok(false),
            Err(e) => Err(e),
        };
        let _ = fs::remove_file(&claim);
        removed
    }

    fn locked(&self, holder: LockInfo) -> StateError {
        StateError::Locked {
            stack: self.stack.clone(),
            path: self.lock_path.display().to_string(),
            holder: Box::new(holder),
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
        let mut last_seen = None;
        for _ in 0..LOCK_ATTEMPTS {
            if self.create_lock(&info)? {
                return Ok(info);
            }
            match self.read_lock()? {
                // Released between the two calls: try again.
                None => {}
                Some(stale) if stale.is_stale() => {
                    if self.take_over(&stale)? {
                        (self.notice)(&stale.takeover_message(&self.stack));
                    } else {
                        // Another run is taking it over: let it finish.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    last_seen = Some(stale);
                }
                Some(holder) => return Err(self.locked(holder)),
            }
        }
        Err(self.locked(last_seen.unwrap_or_else(LockInfo::unreadable)))
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
                // A takeover that crashed half way may have left its claim on this lock.
                if let Some(claim) = self.claim_path(&held.id) {
                    let _ = fs::remove_file(claim);
                }
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
        let text = serde_json::to_string_pretty(state).unwrap_or_default() + "\n";
        // Temp file in the same directory, flushed to disk, then renamed over the old file: a
        // crash at any point leaves either the old or the new state, never a torn one.
        let temp = self.written_temp(dir, "", &text)?;
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
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A backend whose notices are kept, and the notices.
    fn recording(dir: &Path) -> (LocalBackend, Arc<Mutex<Vec<String>>>) {
        let said = Arc::new(Mutex::new(Vec::new()));
        let sink = said.clone();
        let backend = LocalBackend::new(dir, "dev").with_notice(Arc::new(move |text: &str| {
            sink.lock().expect("notices").push(text.to_string())
        }));
        (backend, said)
    }

    #[test]
    fn a_pending_create_of_an_older_state_reads_back_as_the_step_it_was() {
        let stored = r#"{"version": VERSION, "stack": "dev", "serial": 3, "resources": [],
            "pending": [{"name": "vpc", "type": "aws:ec2:Vpc", "operation": "create-replacement",
            "token": "t", "inputs": {}, "dependencies": [], "started": "2026-12-07T00:00:00Z"}]}"#
            .replace("VERSION", &crate::state::STATE_VERSION.to_string());
        let state = parse_state(&stored, "dev.json", "dev").expect("a state");
        assert_eq!(state.pending[0].operation, crate::Op::Replace);
        let written = serde_json::to_value(&state.pending[0]).expect("json");
        assert_eq!(
            written["operation"], "replace",
            "written as the one name says it"
        );
        let rewritten = stored.replace("create-replacement", "replace");
        assert_eq!(
            parse_state(&rewritten, "dev.json", "dev").expect("a state"),
            state
        );
        let other = stored.replace("create-replacement", "launch");
        assert!(parse_state(&other, "dev.json", "dev").is_err());
    }

    /// The pid of a process of this host that has ended and been reaped.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        child.wait().expect("wait");
        child.id()
    }

    fn write_lock(dir: &Path, lock: &LockInfo) -> String {
        let text = serde_json::to_string_pretty(lock).expect("json");
        fs::write(dir.join("dev.json.lock"), &text).expect("write lock");
        text
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_lock_left_by_a_process_of_this_host_that_is_gone_is_taken_over_and_said() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (backend, said) = recording(dir.path());
        let left = LockInfo {
            pid: dead_pid(),
            ..LockInfo::new("up")
        };
        write_lock(dir.path(), &left);
        let lock = backend.lock("up").await.expect("taken over");
        assert_eq!(
            *said.lock().expect("notices"),
            [format!(
                "stack `dev`: taking over a lock left by pid {} on {} at {} (the process is gone)",
                left.pid, left.host, left.created
            )]
        );
        let held: LockInfo = serde_json::from_str(
            &fs::read_to_string(dir.path().join("dev.json.lock")).expect("lock"),
        )
        .expect("lock json");
        assert_eq!(held, lock);
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["dev.json.lock"], "no claim is left behind");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_lock_whose_process_runs_is_kept_until_the_process_ends() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (backend, said) = recording(dir.path());
        let mut holder = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .expect("spawn");
        let held = LockInfo {
            pid: holder.id(),
            ..LockInfo::new("up")
        };
        let text = write_lock(dir.path(), &held);
        let message = backend.lock("up").await.expect_err("held").to_string();
        assert!(message.contains(&held.id), "{message}");
        assert!(!message.contains("stale"), "{message}");
        assert_eq!(
            fs::read_to_string(dir.path().join("dev.json.lock")).expect("lock"),
            text
        );
        assert!(said.lock().expect("notices").is_empty());
        holder.kill().expect("kill");
        holder.wait().expect("wait");
        backend.lock("up").await.expect("taken over once it ended");
        assert_eq!(said.lock().expect("notices").len(), 1);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_lock_from_another_host_boot_or_namespace_is_never_taken_over() {
        let here = LockInfo::new("up");
        let elsewhere = [
            LockInfo {
                host: "build-7".into(),
                ..here.clone()
            },
            LockInfo {
                pid_space: Some("another-boot/pid:[4026531836]".into()),
                ..here.clone()
            },
            // Written by a build that did not record where its pid is.
            LockInfo {
                pid_space: None,
                ..here.clone()
            },
        ];
        for left in elsewhere {
            let dir = tempfile::tempdir().expect("temp dir");
            let (backend, said) = recording(dir.path());
            let left = LockInfo {
                pid: dead_pid(),
                ..left
            };
            let text = write_lock(dir.path(), &left);
            let message = backend.lock("up").await.expect_err("kept").to_string();
            assert!(
                message.contains(&format!("force-unlock dev {}", left.id)),
                "{message}"
            );
            assert_eq!(
                fs::read_to_string(dir.path().join("dev.json.lock")).expect("lock"),
                text
            );
            assert!(said.lock().expect("notices").is_empty());
        }
    }

    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_runs_taking_over_one_stale_lock_at_once_leave_one_holder() {
        for _ in 0..40 {
            let dir = tempfile::tempdir().expect("temp dir");
            let said = Arc::new(Mutex::new(Vec::new()));
            let backend = || {
                let sink = said.clone();
                Arc::new(LocalBackend::new(dir.path(), "dev").with_notice(Arc::new(
                    move |t: &str| sink.lock().expect("notices").push(t.to_string()),
                )))
            };
            write_lock(
                dir.path(),
                &LockInfo {
                    pid: dead_pid(),
                    ..LockInfo::new("up")
                },
            );
            let runs: Vec<_> = (0..2)
                .map(|_| {
                    let backend = backend();
                    tokio::spawn(async move { backend.lock("up").await })
                })
                .collect();
            let mut won = Vec::new();
            let mut refused = Vec::new();
            for run in runs {
                match run.await.expect("join") {
                    Ok(lock) => won.push(lock),
                    Err(StateError::Locked { holder, .. }) => refused.push(*holder),
                    Err(e) => panic!("{e}"),
                }
            }
            assert_eq!(won.len(), 1, "exactly one run holds the lock");
            assert_eq!(refused, [won[0].clone()], "the other names the winner");
            assert_eq!(said.lock().expect("notices").len(), 1);
            let held: LockInfo = serde_json::from_str(
                &fs::read_to_string(dir.path().join("dev.json.lock")).expect("lock"),
            )
            .expect("lock json");
            assert_eq!(held, won[0]);
        }
    }

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
