//! State on S3, shared by a team: `PREFIX/STACK.json`, its journal `PREFIX/STACK.journal/` and
//! the lock `PREFIX/STACK.json.lock`.
//!
//! Each change an apply makes is one object of the journal, `PREFIX/STACK.journal/SERIAL.json`
//! (the serial zero-padded, so that names sort as numbers), written only if absent
//! (`If-None-Match: *`): two runs can never both write one serial. `load` replays the entries
//! newer than the snapshot over it. When the entries outgrow the snapshot, and at the end of a
//! run, the state is written whole and the entries it holds deleted; entries a crash left
//! behind are older than the snapshot, skipped on load and deleted by the next save.
//!
//! No DynamoDB: S3 conditional writes do it all. The lock is a PutObject that must not overwrite
//! (`If-None-Match: *`) and is released by a delete of exactly the lock this run wrote
//! (`If-Match` on its ETag). Every state write is conditional on the version this run last read
//! or wrote (`If-Match`; `If-None-Match: *` for the first), so a run never overwrites a state that
//! someone else changed: it stops and says so.
//!
//! A lock whose holder is provably gone (a process of this host, boot and PID namespace that no
//! longer runs: [`LockInfo::is_stale`]) is taken over, with a notice: a delete of exactly the lock
//! read (`If-Match` on its ETag), then the usual create. Of two runs doing so at once, one
//! deletes and the other's delete fails its precondition, and only one create succeeds. A lock
//! from another host is never taken over, however old: it is not refreshed while its run lives,
//! so its age proves nothing; `force-unlock` removes it.

use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use ams_engine::state::{
    notice_on_stderr, parse_state, Entry, LockInfo, Notice, State, StateBackend, StateError,
};

/// How many times a run tries to take the lock when it finds one that is gone or going.
const LOCK_ATTEMPTS: u32 = 5;

pub struct S3Backend {
    client: aws_sdk_s3::Client,
    stack: String,
    bucket: String,
    key: String,
    lock_key: String,
    /// Where the journal's entries are: `PREFIX/STACK.journal/`.
    journal_prefix: String,
    /// The journal as this run knows it, to fold it into the snapshot once it outgrows it.
    journal: Mutex<Journal>,
    /// The ETag of the state as this run last read or wrote it; `Some(None)`: there was none.
    etag: Mutex<Option<Option<String>>>,
    /// The ETag of the lock this run wrote.
    lock_etag: Mutex<Option<String>>,
    notice: Notice,
}

/// The journal's entries this run has read or written, and their size against the snapshot's.
#[derive(Default)]
struct Journal {
    keys: Vec<String>,
    bytes: u64,
    snapshot_bytes: u64,
}

/// How many objects one DeleteObjects call takes.
const DELETE_BATCH: usize = 1000;

/// Whether an S3 error is a failed precondition (412), or the 409 S3 sends for a concurrent one.
fn precondition_failed<E: ProvideErrorMetadata>(error: &E) -> bool {
    matches!(
        error.code(),
        Some("PreconditionFailed" | "ConditionalRequestConflict")
    )
}

fn not_found<E: ProvideErrorMetadata>(error: &E) -> bool {
    matches!(error.code(), Some("NoSuchKey" | "NotFound" | "404"))
}

impl S3Backend {
    /// Checks that the bucket exists and can be reached before anything else happens.
    pub async fn connect(
        client: aws_sdk_s3::Client,
        bucket: &str,
        prefix: &str,
        stack: &str,
    ) -> Result<Self, StateError> {
        let key = if prefix.is_empty() {
            format!("{stack}.json")
        } else {
            format!("{prefix}/{stack}.json")
        };
        let journal_prefix = format!("{}.journal/", key.trim_end_matches(".json"));
        let backend = S3Backend {
            client,
            stack: stack.to_string(),
            bucket: bucket.to_string(),
            lock_key: format!("{key}.lock"),
            journal_prefix,
            journal: Mutex::new(Journal::default()),
            key,
            etag: Mutex::new(None),
            lock_etag: Mutex::new(None),
            notice: notice_on_stderr(),
        };
        if let Err(e) = backend.client.head_bucket().bucket(bucket).send().await {
            let code = e.code().unwrap_or("no answer");
            return Err(StateError::Backend {
                location: format!("s3://{bucket}"),
                message: format!(
                    "the state bucket is missing or not accessible (s3:HeadBucket: {code}); create it once, or fix `[state] bucket`"
                ),
            });
        }
        Ok(backend)
    }

    /// Says what the backend decides on its own (taking over a stale lock) to `notice`.
    pub fn with_notice(mut self, notice: Notice) -> Self {
        self.notice = notice;
        self
    }

    fn location_of(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn failed<E: ProvideErrorMetadata + std::fmt::Display>(
        &self,
        key: &str,
        operation: &str,
        error: &E,
    ) -> StateError {
        StateError::Backend {
            location: self.location_of(key),
            message: format!(
                "s3:{operation}: {}: {}",
                error.code().unwrap_or("error"),
                error
                    .message()
                    .map(String::from)
                    .unwrap_or_else(|| error.to_string())
            ),
        }
    }

    /// The object `key`'s bytes and ETag; `None` when there is no such object.
    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, Option<String>)>, StateError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let etag = out.e_tag().map(String::from);
                let bytes = out.body.collect().await.map_err(|e| StateError::Backend {
                    location: self.location_of(key),
                    message: format!("s3:GetObject: {e}"),
                })?;
                Ok(Some((bytes.to_vec(), etag)))
            }
            Err(e) if e.as_service_error().is_some_and(not_found) => Ok(None),
            Err(e) => Err(self.failed(key, "GetObject", &e)),
        }
    }

    /// The lock object and its ETag, if there is one.
    async fn read_lock(&self) -> Result<Option<(LockInfo, Option<String>)>, StateError> {
        Ok(self.get(&self.lock_key).await?.map(|(bytes, etag)| {
            let info = serde_json::from_slice(&bytes).unwrap_or_else(|_| LockInfo::unreadable());
            (info, etag)
        }))
    }

    /// Deletes the lock object (only if its ETag is still `etag`, when given); `true` when this
    /// call deleted it, `false` when it was gone or had changed.
    async fn delete_lock(&self, etag: Option<&str>) -> Result<bool, StateError> {
        let delete = self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(&self.lock_key)
            .set_if_match(etag.map(String::from));
        match delete.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| precondition_failed(s) || not_found(s)) =>
            {
                Ok(false)
            }
            Err(e) => Err(self.failed(&self.lock_key, "DeleteObject", &e)),
        }
    }

    fn locked(&self, holder: LockInfo) -> StateError {
        StateError::Locked {
            stack: self.stack.clone(),
            path: self.location_of(&self.lock_key),
            holder: Box::new(holder),
        }
    }

    /// The journal's entries, by key (in serial order), with their sizes.
    async fn journal_keys(&self) -> Result<Vec<(String, u64)>, StateError> {
        // S3's paginator gives pages (it names no items to list one by one).
        let pages: Vec<aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output> = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&self.journal_prefix)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| self.failed(&self.journal_prefix, "ListObjectsV2", &e))?;
        let objects = pages.iter().flat_map(|page| page.contents());
        let mut keys: Vec<(String, u64)> = objects
            .filter_map(|object| {
                let size = object.size().map_or(0, |s| u64::try_from(s).unwrap_or(0));
                object.key().map(|key| (key.to_string(), size))
            })
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// Replays the journal's entries newer than `state`, the snapshot, over it.
    async fn replay_journal(&self, state: &mut State) -> Result<(), StateError> {
        let mut seen = Journal::default();
        for (key, size) in self.journal_keys().await? {
            let serial = key
                .strip_prefix(&self.journal_prefix)
                .and_then(|name| name.strip_suffix(".json"))
                .and_then(|serial| serial.parse::<u64>().ok());
            if serial.is_some_and(|serial| serial > state.serial) {
                let Some((bytes, _)) = self.get(&key).await? else {
                    continue;
                };
                let entry: Entry =
                    serde_json::from_slice(&bytes).map_err(|e| StateError::Corrupt {
                        path: self.location_of(&key),
                        line: e.line(),
                        column: e.column(),
                        message: e.to_string(),
                    })?;
                state.replay(entry, &self.location_of(&key))?;
            }
            seen.keys.push(key);
            seen.bytes += size;
        }
        if let Ok(mut journal) = self.journal.lock() {
            seen.snapshot_bytes = journal.snapshot_bytes;
            *journal = seen;
        }
        Ok(())
    }

    /// Deletes the journal's entries `keys` (all held by the snapshot just written).
    async fn delete_entries(&self, keys: Vec<String>) -> Result<(), StateError> {
        for batch in keys.chunks(DELETE_BATCH) {
            let objects = batch
                .iter()
                .map(|key| ObjectIdentifier::builder().key(key).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StateError::Backend {
                    location: self.location_of(&self.journal_prefix),
                    message: format!("s3:DeleteObjects: {e}"),
                })?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| StateError::Backend {
                    location: self.location_of(&self.journal_prefix),
                    message: format!("s3:DeleteObjects: {e}"),
                })?;
            self.client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| self.failed(&self.journal_prefix, "DeleteObjects", &e))?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl StateBackend for S3Backend {
    fn location(&self) -> String {
        self.location_of(&self.key)
    }

    async fn lock(&self, operation: &str) -> Result<LockInfo, StateError> {
        let info = LockInfo::new(operation);
        let body = serde_json::to_vec_pretty(&info).unwrap_or_default();
        let mut last_seen = None;
        for _ in 0..LOCK_ATTEMPTS {
            let put = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(&self.lock_key)
                .if_none_match("*")
                .content_type("application/json")
                .body(ByteStream::from(body.clone()))
                .send()
                .await;
            match put {
                Ok(out) => {
                    if let Ok(mut etag) = self.lock_etag.lock() {
                        *etag = out.e_tag().map(String::from);
                    }
                    return Ok(info);
                }
                Err(e) if e.as_service_error().is_some_and(precondition_failed) => {}
                Err(e) => return Err(self.failed(&self.lock_key, "PutObject", &e)),
            }
            match self.read_lock().await? {
                // The SDK retried a put whose first attempt succeeded: the lock is ours.
                Some((held, etag)) if held.id == info.id => {
                    if let Ok(mut slot) = self.lock_etag.lock() {
                        *slot = etag;
                    }
                    return Ok(info);
                }
                Some((stale, Some(etag))) if stale.is_stale() => {
                    // Exactly the lock read: if another run took it over first, its lock stays.
                    if self.delete_lock(Some(&etag)).await? {
                        (self.notice)(&stale.takeover_message(&self.stack));
                    } else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    last_seen = Some(stale);
                }
                Some((holder, _)) => return Err(self.locked(holder)),
                // Released between the two calls: try again.
                None => {}
            }
        }
        Err(self.locked(last_seen.unwrap_or_else(LockInfo::unreadable)))
    }

    async fn unlock(&self, _lock: &LockInfo) -> Result<(), StateError> {
        let etag = self.lock_etag.lock().ok().and_then(|mut e| e.take());
        match etag {
            // Only the lock this run wrote: if someone forced it away and took it, theirs stays.
            Some(etag) => self.delete_lock(Some(&etag)).await.map(|_| ()),
            None => Ok(()),
        }
    }

    async fn force_unlock(&self, lock_id: &str) -> Result<LockInfo, StateError> {
        match self.read_lock().await? {
            None => Err(StateError::NotLocked {
                stack: self.stack.clone(),
            }),
            Some((held, etag)) if held.id == lock_id => {
                self.delete_lock(etag.as_deref()).await?;
                Ok(held)
            }
            Some((held, _)) => Err(StateError::LockMismatch {
                path: self.location_of(&self.lock_key),
                given: lock_id.to_string(),
                actual: held.id,
            }),
        }
    }

    async fn load(&self) -> Result<State, StateError> {
        let (mut state, etag, snapshot_bytes) = match self.get(&self.key).await? {
            Some((bytes, etag)) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let state = parse_state(&text, &self.location(), &self.stack)?;
                (state, etag, bytes.len() as u64)
            }
            None => (State::empty(&self.stack), None, 0),
        };
        if let Ok(mut slot) = self.etag.lock() {
            *slot = Some(etag);
        }
        if let Ok(mut journal) = self.journal.lock() {
            journal.snapshot_bytes = snapshot_bytes;
        }
        self.replay_journal(&mut state).await?;
        Ok(state)
    }

    async fn save(&self, state: &State) -> Result<(), StateError> {
        let mut text = serde_json::to_string_pretty(state).unwrap_or_default();
        text.push('\n');
        let written = text.len() as u64;
        let expected = self.etag.lock().ok().and_then(|e| e.clone()).flatten();
        let mut put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .content_type("application/json")
            .body(ByteStream::from(text.into_bytes()));
        put = match &expected {
            Some(etag) => put.if_match(etag),
            None => put.if_none_match("*"),
        };
        match put.send().await {
            Ok(out) => {
                if let Ok(mut slot) = self.etag.lock() {
                    *slot = Some(out.e_tag().map(String::from));
                }
                // The snapshot holds every entry now: they go. Entries that stay (a failed
                // delete) are older than the snapshot, skipped on load: the next save retries.
                let held = match self.journal.lock() {
                    Ok(mut journal) => {
                        journal.snapshot_bytes = written;
                        journal.bytes = 0;
                        std::mem::take(&mut journal.keys)
                    }
                    Err(_) => Vec::new(),
                };
                if self.delete_entries(held.clone()).await.is_err() {
                    if let Ok(mut journal) = self.journal.lock() {
                        journal.keys.extend(held);
                    }
                }
                Ok(())
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| precondition_failed(s) || not_found(s)) =>
            {
                Err(StateError::Conflict {
                    location: self.location(),
                })
            }
            Err(e) => Err(self.failed(&self.key, "PutObject", &e)),
        }
    }

    async fn append(&self, state: &State, entry: &Entry) -> Result<(), StateError> {
        let key = format!("{}{:020}.json", self.journal_prefix, entry.serial);
        let body = serde_json::to_vec(entry).map_err(|e| StateError::Backend {
            location: self.location_of(&key),
            message: format!("cannot write entry {} as JSON: {e}", entry.serial),
        })?;
        let size = body.len() as u64;
        let put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .if_none_match("*")
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await;
        match put {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(precondition_failed) => {
                return Err(StateError::Conflict {
                    location: self.location_of(&key),
                })
            }
            Err(e) => return Err(self.failed(&key, "PutObject", &e)),
        }
        let outgrown = match self.journal.lock() {
            Ok(mut journal) => {
                journal.keys.push(key);
                journal.bytes += size;
                journal.bytes > journal.snapshot_bytes
            }
            Err(_) => true,
        };
        if outgrown {
            self.save(state).await?;
        }
        Ok(())
    }

    async fn compact(&self, state: &State) -> Result<(), StateError> {
        let any = self.journal.lock().map_or(true, |j| !j.keys.is_empty());
        if any {
            self.save(state).await?;
        }
        Ok(())
    }
}
