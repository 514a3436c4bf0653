//! State in a local file, `state/STACK.json`, with its journal and a lock file beside it.
//!
//! Every change an apply makes is one line appended to the journal, `state/STACK.journal`
//! (JSON Lines, each line flushed to disk before the call returns), and `load` replays the
//! journal over the snapshot. When the journal has grown larger than the snapshot, or at the
//! end of a run, the state is written whole (temp file, flush, rename) and the journal removed:
//! a step's cost is its own line, not the whole state. A last line torn by a crash was never
//! acknowledged: it is ignored, and cut off before the next line is written.
//!
//! The lock file names its holder and is moved into place whole, never replacing one. A lock
//! whose holder is provably gone ([`LockInfo::is_stale`]) is taken over, with a notice; of two
//! runs taking it over at once, only the one that first creates the claim
//! `STACK.json.lock.takeover-ID` removes it, so neither can remove the other's new lock.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    notice_on_stderr, parse_state, Entry, LockInfo, Notice, State, StateBackend, StateError,
};

/// How many times a run tries to take the lock when it finds one that is gone or going.
const LOCK_ATTEMPTS: u32 = 5;

/// `DIR/STACK.json`, `DIR/STACK.journal` and `DIR/STACK.json.lock`.
pub struct LocalBackend {
    stack: String,
    path: PathBuf,
    journal_path: PathBuf,
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
            journal_path: dir.join(format!("{stack}.journal")),
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
    /// Replays the journal's entries over `state`, the snapshot; a torn last line is ignored.
    fn replay_journal(&self, state: &mut State) -> Result<(), StateError> {
        let bytes = match fs::read(&self.journal_path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.io("read", &self.journal_path)(e)),
        };
        let location = self.journal_path.display().to_string();
        let whole = complete_lines(&bytes);
        for (index, line) in bytes[..whole].split(|b| *b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let entry: Entry = serde_json::from_slice(line).map_err(|e| StateError::Corrupt {
                path: location.clone(),
                line: index + 1,
                column: e.column(),
                message: e.to_string(),
            })?;
            state.replay(entry, &location)?;
        }
        Ok(())
    }

    /// Cuts off a last line that a crash tore: it was never acknowledged, and the next line
    /// must start on a line of its own.
    fn cut_torn_line(&self, journal: &mut File) -> Result<(), StateError> {
        let io = || self.io("repair", &self.journal_path);
        let length = journal.metadata().map_err(io())?.len();
        if length == 0 {
            return Ok(());
        }
        let mut last = [0u8];
        journal
            .seek(SeekFrom::End(-1))
            .and_then(|_| journal.read_exact(&mut last))
            .map_err(io())?;
        if last[0] == b'\n' {
            return Ok(());
        }
        let mut bytes = Vec::new();
        journal
            .seek(SeekFrom::Start(0))
            .and_then(|_| journal.read_to_end(&mut bytes))
            .map_err(io())?;
        journal.set_len(complete_lines(&bytes) as u64).map_err(io())
    }

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
        let mut state = match fs::read_to_string(&self.path) {
            Ok(text) => parse_state(&text, &self.path.display().to_string(), &self.stack)?,
            Err(e) if e.kind() == ErrorKind::NotFound => State::empty(&self.stack),
            Err(e) => return Err(self.io("read", &self.path)(e)),
        };
        self.replay_journal(&mut state)?;
        Ok(state)
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
        // The snapshot holds every entry now. Should the removal not last (a crash), the
        // entries left are older than the snapshot, and replay skips them.
        match fs::remove_file(&self.journal_path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io("remove", &self.journal_path)(e)),
        }
    }

    async fn append(&self, state: &State, entry: &Entry) -> Result<(), StateError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(self.io("create", dir))?;
        let mut line = serde_json::to_vec(entry).map_err(|e| StateError::Backend {
            location: self.journal_path.display().to_string(),
            message: format!("cannot write entry {} as JSON: {e}", entry.serial),
        })?;
        line.push(b'\n');
        let new = !self.journal_path.exists();
        let mut journal = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.journal_path)
            .map_err(self.io("open", &self.journal_path))?;
        self.cut_torn_line(&mut journal)?;
        journal
            .write_all(&line)
            .and_then(|()| journal.sync_data())
            .map_err(self.io("append to", &self.journal_path))?;
        if new {
            if let Ok(dir) = File::open(dir) {
                // Make the new file's name durable too.
                let _ = dir.sync_all();
            }
        }
        let journal_length = journal
            .metadata()
            .map_err(self.io("read", &self.journal_path))?
            .len();
        let snapshot_length = fs::metadata(&self.path).map_or(0, |m| m.len());
        if journal_length > snapshot_length {
            self.save(state).await?;
        }
        Ok(())
    }

    async fn compact(&self, state: &State) -> Result<(), StateError> {
        if self.journal_path.exists() {
            self.save(state).await?;
        }
        Ok(())
    }
}

/// The length of `bytes` up to and with its last newline: its whole lines.
fn complete_lines(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |end| end + 1)
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

    /// A state of `count` resources, each change made as a journal entry and appended.
    /// `prefix-0`, `prefix-1`, ...: `count` resource names.
    fn numbered(prefix: &str, count: usize) -> Vec<String> {
        (0..count).map(|i| format!("{prefix}-{i}")).collect()
    }

    async fn appended(backend: &LocalBackend, state: &mut State, names: &[impl AsRef<str>]) {
        for name in names.iter().map(AsRef::as_ref) {
            let entry = Entry {
                serial: state.serial + 1,
                at: crate::state::now_rfc3339(),
                change: crate::state::Move::Made {
                    op: crate::Op::Create,
                    resource: crate::state::ResourceState {
                        name: name.to_string(),
                        type_name: "test:Bucket".into(),
                        id: format!("{name}-id"),
                        inputs: serde_json::json!({ "region": "eu" }),
                        outputs: serde_json::json!({ "id": format!("{name}-id") }),
                        dependencies: Vec::new(),
                    },
                },
            };
            state.serial = entry.serial;
            state.updated = Some(entry.at.clone());
            state.make(entry.change.clone());
            backend.append(state, &entry).await.expect("appended");
        }
    }

    #[tokio::test]
    async fn a_step_appends_one_line_and_load_replays_the_journal_over_the_snapshot() {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend = LocalBackend::new(dir.path(), "dev");
        let mut state = State::empty("dev");
        // A snapshot larger than what follows, so that nothing is folded into it yet.
        let names = numbered("old", 40);
        appended(&backend, &mut state, &names).await;
        backend.compact(&state).await.expect("compacted");
        let snapshot = fs::read_to_string(dir.path().join("dev.json")).expect("snapshot");
        assert!(!dir.path().join("dev.journal").exists());

        appended(&backend, &mut state, &["a", "b", "c"]).await;
        let journal = fs::read_to_string(dir.path().join("dev.journal")).expect("journal");
        assert_eq!(journal.lines().count(), 3, "one line a step");
        assert_eq!(
            fs::read_to_string(dir.path().join("dev.json")).expect("snapshot"),
            snapshot,
            "the snapshot is not rewritten by a step"
        );
        assert_eq!(backend.load().await.expect("replayed"), state);

        backend.compact(&state).await.expect("compacted");
        assert!(!dir.path().join("dev.journal").exists());
        assert_eq!(backend.load().await.expect("whole"), state);
    }

    #[tokio::test]
    async fn a_journal_larger_than_its_snapshot_is_folded_into_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend = LocalBackend::new(dir.path(), "dev");
        let mut state = State::empty("dev");
        let names = numbered("r", 200);
        appended(&backend, &mut state, &names).await;
        let journal = fs::metadata(dir.path().join("dev.journal")).map_or(0, |m| m.len());
        let snapshot = fs::metadata(dir.path().join("dev.json"))
            .expect("snapshot")
            .len();
        assert!(
            journal <= snapshot,
            "{journal} bytes of journal, {snapshot} of snapshot"
        );
        let saved = parse_state(
            &fs::read_to_string(dir.path().join("dev.json")).expect("snapshot"),
            "dev.json",
            "dev",
        )
        .expect("a state");
        assert!(saved.resources.len() > 100, "folded as it grew");
        assert_eq!(backend.load().await.expect("replayed"), state);
    }

    #[tokio::test]
    async fn a_torn_last_line_is_ignored_and_cut_off_before_the_next_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend = LocalBackend::new(dir.path(), "dev");
        let mut state = State::empty("dev");
        let names = numbered("old", 10);
        appended(&backend, &mut state, &names).await;
        backend.compact(&state).await.expect("compacted");
        appended(&backend, &mut state, &["a"]).await;
        let before = state.clone();
        // A crash in the middle of writing the next line.
        let mut torn = State::clone(&state);
        appended(&backend, &mut torn, &["b"]).await;
        let path = dir.path().join("dev.journal");
        let text = fs::read(&path).expect("journal");
        fs::write(&path, &text[..text.len() - 20]).expect("torn");
        assert_eq!(backend.load().await.expect("the whole lines"), before);

        appended(&backend, &mut state, &["c"]).await;
        assert_eq!(backend.load().await.expect("replayed"), state);
        assert_eq!(
            fs::read_to_string(&path).expect("journal").lines().count(),
            2
        );
    }

    #[tokio::test]
    async fn entries_the_snapshot_already_holds_are_skipped_and_a_gap_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend = LocalBackend::new(dir.path(), "dev");
        let mut state = State::empty("dev");
        let names = numbered("old", 10);
        appended(&backend, &mut state, &names).await;
        backend.compact(&state).await.expect("compacted");
        appended(&backend, &mut state, &["a", "b"]).await;
        let journal = fs::read(dir.path().join("dev.journal")).expect("journal");
        // A crash after the snapshot was written and before the journal was removed.
        backend.save(&state).await.expect("saved");
        fs::write(dir.path().join("dev.journal"), &journal).expect("left over");
        assert_eq!(backend.load().await.expect("skipped"), state);

        let mut older = state.clone();
        older.serial -= 5;
        backend.save(&older).await.expect("saved");
        fs::write(dir.path().join("dev.journal"), &journal).expect("left over");
        let err = backend.load().await.expect_err("a gap");
        assert!(
            err.to_string().contains("does not follow its snapshot"),
            "{err}"
        );
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
