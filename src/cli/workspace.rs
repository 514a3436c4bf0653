//! Where stacks and their state live, and which stack a command is about.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::config::{self, StackConfig, StateConfig};
use crate::render;
use ams_aws::Aws;
use ams_aws::{S3Backend, S3History};
use ams_engine::state::{HistoryStore, LocalBackend, LocalHistory, StateBackend};

pub struct Workspace {
    stacks: PathBuf,
    state: PathBuf,
}

impl Workspace {
    pub fn new(root: &Path) -> Self {
        Workspace {
            stacks: root.join("stacks"),
            state: root.join("state"),
        }
    }

    fn selected_file(&self) -> PathBuf {
        self.state.join(".selected-stack")
    }

    /// The stack named, or the selected one; with neither, an error listing the stacks.
    pub fn stack_name(&self, given: Option<String>) -> Result<String> {
        if let Some(name) = given {
            return Ok(name);
        }
        match std::fs::read_to_string(self.selected_file()) {
            Ok(name) if !name.trim().is_empty() => Ok(name.trim().to_string()),
            _ => bail!(
                "no stack named and none selected; name one or run `ams-stack stack select NAME` (stacks: {})",
                config::list_stacks(&self.stacks).join(", ")
            ),
        }
    }

    pub fn config(&self, name: &str) -> Result<StackConfig> {
        Ok(config::load(&self.stacks, name)?)
    }

    /// The stack's state backend: the local file, or S3 (which connects to AWS).
    pub async fn backend(
        &self,
        config: &StackConfig,
        aws: Option<&Aws>,
    ) -> Result<Box<dyn StateBackend>> {
        match &config.state {
            StateConfig::Local => Ok(Box::new(LocalBackend::new(&self.state, &config.name))),
            StateConfig::S3 {
                bucket,
                prefix,
                region,
            } => {
                let connected;
                let aws = match aws {
                    Some(aws) => aws,
                    None => {
                        connected = super::session::connect(config).await?;
                        &connected
                    }
                };
                let path_style =
                    config.endpoint.is_some() || std::env::var_os("AWS_ENDPOINT_URL").is_some();
                let client = aws.s3_client(region, path_style);
                Ok(Box::new(
                    S3Backend::connect(client, bucket, prefix, &config.name).await?,
                ))
            }
        }
    }

    /// The stack's history, beside its state: `state/STACK.history/`, or under the S3 state's
    /// prefix in its bucket.
    pub fn history(&self, config: &StackConfig, aws: &Aws) -> Box<dyn HistoryStore> {
        match &config.state {
            StateConfig::Local => Box::new(LocalHistory::new(&self.state, &config.name)),
            StateConfig::S3 {
                bucket,
                prefix,
                region,
            } => {
                let path_style =
                    config.endpoint.is_some() || std::env::var_os("AWS_ENDPOINT_URL").is_some();
                let client = aws.s3_client(region, path_style);
                Box::new(S3History::new(client, bucket, prefix, &config.name))
            }
        }
    }

    pub fn select(&self, name: &str) -> Result<()> {
        self.config(name)?;
        std::fs::create_dir_all(&self.state)
            .with_context(|| format!("cannot create {}", self.state.display()))?;
        std::fs::write(self.selected_file(), name)
            .with_context(|| format!("cannot write {}", self.selected_file().display()))?;
        render::err(&format!("Selected stack `{name}`."));
        Ok(())
    }

    pub fn stacks_dir(&self) -> &Path {
        &self.stacks
    }

    pub async fn force_unlock(&self, stack: Option<String>, lock_id: &str) -> Result<()> {
        let name = self.stack_name(stack)?;
        let config = self.config(&name)?;
        let held = self
            .backend(&config, None)
            .await?
            .force_unlock(lock_id)
            .await?;
        render::err(&format!(
            "Removed the lock of stack `{name}` held by {} on {} (pid {}) since {}.",
            held.who, held.host, held.pid, held.created
        ));
        Ok(())
    }
}
