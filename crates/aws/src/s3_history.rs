//! A stack's history on S3, beside its state: `PREFIX/STACK.history/NNNNNN.json`, each entry
//! created only if absent (`If-None-Match: *`, as the journal's objects), so that of two runs
//! taking one number, one gets it and the other takes the next (`ams_engine::state::history`).

use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use ams_engine::state::history::{entry_name, entry_number};
use ams_engine::state::{HistoryStore, StateError};

pub struct S3History {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// `PREFIX/STACK.history/`.
    prefix: String,
}

impl S3History {
    pub fn new(client: aws_sdk_s3::Client, bucket: &str, prefix: &str, stack: &str) -> Self {
        let prefix = if prefix.is_empty() {
            format!("{stack}.history/")
        } else {
            format!("{prefix}/{stack}.history/")
        };
        S3History {
            client,
            bucket: bucket.to_string(),
            prefix,
        }
    }

    fn key(&self, number: u64) -> String {
        format!("{}{}", self.prefix, entry_name(number))
    }

    fn failed<E: ProvideErrorMetadata + std::fmt::Display>(
        &self,
        key: &str,
        operation: &str,
        error: &E,
    ) -> StateError {
        StateError::Backend {
            location: format!("s3://{}/{key}", self.bucket),
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
}

#[async_trait::async_trait]
impl HistoryStore for S3History {
    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    async fn numbers(&self) -> Result<Vec<u64>, StateError> {
        // S3's paginator gives pages (it names no items to list one by one).
        let pages: Vec<aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output> = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&self.prefix)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| self.failed(&self.prefix, "ListObjectsV2", &e))?;
        let objects = pages.iter().flat_map(|page| page.contents());
        let mut numbers: Vec<u64> = objects
            .filter_map(|o| o.key()?.strip_prefix(&self.prefix))
            .filter_map(entry_number)
            .collect();
        numbers.sort_unstable();
        Ok(numbers)
    }

    async fn create(&self, number: u64, text: &str) -> Result<bool, StateError> {
        let key = self.key(number);
        let put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .if_none_match("*")
            .content_type("application/json")
            .body(ByteStream::from(text.as_bytes().to_vec()));
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    matches!(
                        s.code(),
                        Some("PreconditionFailed" | "ConditionalRequestConflict")
                    )
                }) =>
            {
                // Taken, unless it is ours: the SDK retried a put whose first attempt landed.
                Ok(self.read(number).await?.as_deref() == Some(text))
            }
            Err(e) => Err(self.failed(&key, "PutObject", &e)),
        }
    }

    async fn replace(&self, number: u64, text: &str) -> Result<(), StateError> {
        let key = self.key(number);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(text.as_bytes().to_vec()))
            .send()
            .await
            .map_err(|e| self.failed(&key, "PutObject", &e))?;
        Ok(())
    }

    async fn read(&self, number: u64) -> Result<Option<String>, StateError> {
        let key = self.key(number);
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(out) => {
                let bytes = out.body.collect().await.map_err(|e| StateError::Backend {
                    location: format!("s3://{}/{key}", self.bucket),
                    message: format!("s3:GetObject: {e}"),
                })?;
                Ok(Some(String::from_utf8_lossy(&bytes.to_vec()).into_owned()))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| matches!(s.code(), Some("NoSuchKey" | "NotFound"))) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.failed(&key, "GetObject", &e)),
        }
    }

    async fn delete(&self, number: u64) -> Result<(), StateError> {
        let key = self.key(number);
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| self.failed(&key, "DeleteObject", &e))?;
        Ok(())
    }
}
