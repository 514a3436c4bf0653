//! The stored state of a stack: what exists in the cloud, as last seen, and where it is kept.
//!
//! Architecture invariant: only `state` reads and writes state files. Backends implement
//! [`StateBackend`]; the local file is one, a team backend (S3) another.

pub mod history;
mod journal;
mod local;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::op::Op;

pub use history::{HistoryStore, LocalHistory};
pub use journal::{Entry, Move};
pub use local::LocalBackend;

/// The state schema version this build reads and writes.
pub const STATE_VERSION: u32 = 1;

/// Everything a stack has made, as last recorded.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub version: u32,
    pub stack: String,
    /// Incremented by every write.
    pub serial: u64,
    /// When the state was last written (RFC 3339, UTC).
    #[serde(default)]
    pub updated: Option<String>,
    pub resources: Vec<ResourceState>,
    /// Resources replaced or removed from the program whose deletion has not completed yet.
    /// They are never forgotten: the next apply deletes them.
    #[serde(default)]
    pub pending_deletes: Vec<ResourceState>,
    /// Creates that were started and not seen to finish. Written before the cloud is asked, so
    /// that a crash between the cloud's answer and the next write leaves a trace: the next run
    /// looks the resource up (by its tags, or its idempotency token) and adopts it, or creates it.
    #[serde(default)]
    pub pending: Vec<PendingOperation>,
    #[serde(default)]
    pub outputs: BTreeMap<String, Json>,
    /// What the program looked up in the cloud once and reuses on every later plan (the
    /// images), so that a newer answer upstream changes nothing by itself; by the program's key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lookups: BTreeMap<String, Json>,
    /// The protected resources, by name, with the word that lets a run replace or delete them
    /// (see [`crate::Program::protect`]); recorded so that a resource the program no longer
    /// declares stays protected.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub protected: BTreeMap<String, String>,
}

/// A create in flight (or interrupted).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PendingOperation {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    /// `create` or `replace` (`create-replacement` in a state written before [`Op`] was one
    /// name): the apply step that was under way, as the events name it.
    pub operation: Op,
    /// The idempotency token sent with the create, where the API takes one.
    pub token: String,
    /// The resolved arguments of the create.
    pub inputs: Json,
    pub dependencies: Vec<String>,
    pub started: String,
}

/// One resource that exists in the cloud.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ResourceState {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    /// The cloud's identifier (instance id, ARN, ...).
    pub id: String,
    /// The arguments it was made or last updated with, resolved.
    pub inputs: Json,
    pub outputs: Json,
    /// Names of the resources it depended on when last applied; deletion runs in reverse.
    pub dependencies: Vec<String>,
}

impl State {
    pub fn empty(stack: &str) -> Self {
        State {
            version: STATE_VERSION,
            stack: stack.to_string(),
            serial: 0,
            updated: None,
            resources: Vec::new(),
            pending_deletes: Vec::new(),
            pending: Vec::new(),
            outputs: BTreeMap::new(),
            lookups: BTreeMap::new(),
            protected: BTreeMap::new(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&ResourceState> {
        self.resources.iter().find(|r| r.name == name)
    }

    /// Records `resource`, replacing the entry of the same name.
    pub fn upsert(&mut self, resource: ResourceState) {
        match self.resources.iter_mut().find(|r| r.name == resource.name) {
            Some(slot) => *slot = resource,
            None => self.resources.push(resource),
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<ResourceState> {
        let index = self.resources.iter().position(|r| r.name == name)?;
        Some(self.resources.remove(index))
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty() && self.pending_deletes.is_empty() && self.pending.is_empty()
    }
}

/// Who holds a stack's lock.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LockInfo {
    pub id: String,
    pub who: String,
    pub host: String,
    pub pid: u32,
    pub operation: String,
    pub created: String,
    /// Where `pid` names a process: the kernel's boot and the PID namespace of the holder
    /// (Linux). Only where it matches can the holder be proven gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_space: Option<String>,
}

impl LockInfo {
    /// Whether the holder is provably gone: a process of this host, of this boot and PID
    /// namespace, that no longer runs. Nothing else is proof: a lock is never refreshed, so
    /// its age says nothing, and another host's processes cannot be seen from here.
    pub fn is_stale(&self) -> bool {
        let here = gethostname::gethostname().to_string_lossy().into_owned();
        self.host == here
            && self.pid != 0
            && self.pid_space.is_some()
            && self.pid_space == pid_space()
            && process_gone(self.pid)
    }

    pub fn new(operation: &str) -> Self {
        LockInfo {
            id: format!("{:016x}", rand::random::<u64>()),
            who: std::env::var("USER")
                .or_else(|_| std::env::var("USERNAME"))
                .unwrap_or_else(|_| "unknown".into()),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            pid: std::process::id(),
            operation: operation.to_string(),
            created: now_rfc3339(),
            pid_space: pid_space(),
        }
    }

    /// What a lock whose content cannot be read is shown as; it is never taken over.
    pub fn unreadable() -> Self {
        LockInfo {
            id: "unreadable".into(),
            who: "unknown".into(),
            host: "unknown".into(),
            pid: 0,
            operation: "unknown".into(),
            created: "unknown".into(),
            pid_space: None,
        }
    }

    /// What a run says when it takes this stale lock over.
    pub fn takeover_message(&self, stack: &str) -> String {
        format!(
            "stack `{stack}`: taking over a lock left by pid {} on {} at {} (the process is gone)",
            self.pid, self.host, self.created
        )
    }
}

/// This process's boot and PID namespace, where the kernel says them (Linux).
fn pid_space() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let namespace = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!("{}/{}", boot.trim(), namespace.display()))
}

/// Whether process `pid` of this PID namespace has ended: no entry in `/proc`, or a zombie
/// (ended, not yet reaped). Anything unclear counts as running.
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the command name, which is in parentheses.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with(['Z', 'X'])),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// Where a backend says what it decided on its own (taking over a stale lock): stderr, unless
/// the caller gives another sink.
pub type Notice = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// The default [`Notice`]: a line on stderr.
pub fn notice_on_stderr() -> Notice {
    std::sync::Arc::new(|text: &str| {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "{text}");
    })
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("stack `{stack}` is locked by {} on {} (pid {}, {} since {}, lock id {}){}; {path}\n  if that run is gone, remove the lock with `ams-stack force-unlock {stack} {}`", .holder.who, .holder.host, .holder.pid, .holder.operation, .holder.created, .holder.id, if .holder.is_stale() { " — that process is gone: the lock is stale" } else { "" }, .holder.id)]
    Locked {
        stack: String,
        path: String,
        holder: Box<LockInfo>,
    },
    #[error("state file {path} is corrupt at line {line}, column {column}: {message}; it was left untouched")]
    Corrupt {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("state file {path} has version {found}, this build reads version {expected}")]
    Version {
        path: String,
        found: u32,
        expected: u32,
    },
    #[error("state file {path} belongs to stack `{found}`, not `{expected}`")]
    WrongStack {
        path: String,
        found: String,
        expected: String,
    },
    #[error("lock id `{given}` does not match the lock on {path} (held as `{actual}`)")]
    LockMismatch {
        path: String,
        given: String,
        actual: String,
    },
    #[error("stack `{stack}` is not locked")]
    NotLocked { stack: String },
    #[error("the journal at {location} does not follow its snapshot: the state is at serial {have}, the journal's next entry is serial {next}; nothing was replayed past it")]
    Gap {
        location: String,
        have: u64,
        next: u64,
    },
    #[error("{location}: {message}")]
    Backend { location: String, message: String },
    #[error("the state at {location} was changed by another run since this one read it; it was not overwritten, and no new step starts (run `preview` again to see the stack as it is now)")]
    Conflict { location: String },
    #[error("cannot {action} {path}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Parses a stored state: a newer version is refused, a corrupt text reported, never rewritten.
pub fn parse_state(text: &str, location: &str, stack: &str) -> Result<State, StateError> {
    let corrupt = |e: serde_json::Error| StateError::Corrupt {
        path: location.to_string(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    };
    // Check the version first, so that a newer schema is not reported as corruption.
    let raw: serde_json::Value = serde_json::from_str(text).map_err(corrupt)?;
    let found = raw.get("version").and_then(|v| v.as_u64()).unwrap_or(0) as u32;
    if found != STATE_VERSION {
        return Err(StateError::Version {
            path: location.to_string(),
            found,
            expected: STATE_VERSION,
        });
    }
    let state: State = serde_json::from_str(text).map_err(corrupt)?;
    if state.stack != stack {
        return Err(StateError::WrongStack {
            path: location.to_string(),
            found: state.stack,
            expected: stack.to_string(),
        });
    }
    Ok(state)
}

/// Where a stack's state lives, and its lock.
#[async_trait::async_trait]
pub trait StateBackend: Send + Sync {
    /// Where the state is, for messages.
    fn location(&self) -> String;
    /// Takes the stack's lock, or says who holds it.
    async fn lock(&self, operation: &str) -> Result<LockInfo, StateError>;
    /// Releases the lock this run took.
    async fn unlock(&self, lock: &LockInfo) -> Result<(), StateError>;
    /// Removes a lock left by another run, if its id is `lock_id`.
    async fn force_unlock(&self, lock_id: &str) -> Result<LockInfo, StateError>;
    /// The stored state, or an empty one for a stack never applied.
    async fn load(&self) -> Result<State, StateError>;
    /// Replaces the stored state (and any journal entries before it); a crash during the write
    /// leaves the previous state whole.
    async fn save(&self, state: &State) -> Result<(), StateError>;
    /// Records one change: `entry`, whose move `state` already holds. A backend that keeps a
    /// journal appends the entry (replayed by `load`) and folds its entries into a new snapshot
    /// when they outgrow the last one; one that keeps none saves `state` whole.
    async fn append(&self, state: &State, entry: &Entry) -> Result<(), StateError> {
        let _ = entry;
        self.save(state).await
    }
    /// Folds the journal's entries into a snapshot of `state` (which holds them all), so that
    /// the stored state reads whole without its journal: at the end of a run. Nothing to do
    /// for a backend that keeps no journal.
    async fn compact(&self, state: &State) -> Result<(), StateError> {
        let _ = state;
        Ok(())
    }
}

/// The current time as RFC 3339 UTC, to the second.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
