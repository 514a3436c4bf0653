//! Where stacks and their state live, and which stack a command is about.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::config::{self, StackConfig};
use crate::render;
use crate::state::{LocalBackend, StateBackend};

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

    pub fn backend(&self, name: &str) -> LocalBackend {
        LocalBackend::new(&self.state, name)
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
        let held = self.backend(&name).force_unlock(lock_id).await?;
        render::err(&format!(
            "Removed the lock of stack `{name}` held by {} on {} (pid {}) since {}.",
            held.who, held.host, held.pid, held.created
        ));
        Ok(())
    }
}
