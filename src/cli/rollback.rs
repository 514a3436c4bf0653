//! `rollback STACK N`: back to the stack file and image pins of history entry N, through the
//! normal plan and apply (`apply::converge`): the plan is shown and confirmed first, a node
//! image goes back through the rolling upgrade, and a rollback that would replace or delete
//! MongoDB is refused unless `--allow-replace mongodb`, as everywhere. The stack file is
//! written back to `stacks/STACK.toml` only once the change was confirmed and applied (or
//! when there is nothing to apply); the pins are saved with the state, as `up` saves them.

use anyhow::{bail, Context, Result};

use super::apply::{converge, open, Converge};
use super::history::{self, Entry, Outcome};
use super::{ApplyArgs, ChangeArgs, PlanArgs, Workspace};
use crate::config;
use crate::render::{self, Styles};

/// What `rollback` was asked.
pub struct RollbackArgs {
    pub stack: Option<String>,
    pub number: u64,
    pub allow_replace: Vec<String>,
    pub apply: ApplyArgs,
    pub json: bool,
}

pub async fn rollback(workspace: &Workspace, styles: &Styles, args: RollbackArgs) -> Result<()> {
    let (name, current, aws, backend) = open(workspace, args.stack.clone()).await?;
    let store = history::store(workspace, &current, &aws).await;
    if history::this_run().is_some_and(|own| args.number >= own) {
        bail!(
            "no history entry {} before this rollback (`ams-stack history {name}` lists them)",
            args.number
        );
    }
    let entry = history::entry(store.as_ref(), args.number).await?;
    check_target(&entry, &name)?;
    let file = current.path.clone();
    let target = config::parse(&name, &file, &entry.stack_file).with_context(|| {
        format!(
            "the stack file of history entry {} no longer reads as a stack",
            entry.number
        )
    })?;
    if target.state != current.state {
        bail!(
            "history entry {} keeps the state of `{name}` elsewhere ([state] differs from {}): move the state first, then roll back",
            entry.number,
            file.display()
        );
    }
    render::err(&format!(
        "Rolling `{name}` back to history entry {} (`{}` of {}): its stack file and image pins.",
        entry.number, entry.command, entry.started
    ));
    for (key, value) in &entry.images {
        let id = value.get("id").and_then(|v| v.as_str()).unwrap_or("?");
        render::err(&format!("  {key}: {id}"));
    }
    let opened = (name, target, aws, backend);
    let options = Converge {
        args: PlanArgs {
            stack: args.stack,
            json: args.json,
            ..PlanArgs::default()
        },
        change: ChangeArgs {
            update_images: false,
            allow_replace: args.allow_replace,
        },
        apply: args.apply,
        saved: None,
    };
    let pins = entry.images.clone();
    let result = converge(&opened, styles, "rollback", options, move |state| {
        for (key, value) in pins {
            state.lookups.insert(key, value);
        }
    })
    .await;
    // Confirmed and applied (even in part: the cloud is then partly at entry N), or nothing
    // to apply: the stack file says what the stack now is.
    if result.is_ok() || history::applied() {
        history::note_stack_text(&entry.stack_file);
        std::fs::write(&file, &entry.stack_file).with_context(|| {
            format!(
                "the rollback was applied, but {} could not be written back; write entry {}'s stack file there (`ams-stack history {} show {} --json`)",
                file.display(),
                entry.number,
                opened.0,
                entry.number
            )
        })?;
        render::err(&format!(
            "Wrote history entry {}'s stack file back to {}.",
            entry.number,
            file.display()
        ));
    }
    result
}

/// Only a version that was applied and worked is one to go back to.
fn check_target(entry: &Entry, stack: &str) -> Result<()> {
    if entry.stack != stack {
        bail!(
            "history entry {} is of stack `{}`, not `{stack}`",
            entry.number,
            entry.stack
        );
    }
    if entry.result != Outcome::Succeeded {
        bail!(
            "history entry {} (`{}`) {}: roll back to an entry that succeeded (`ams-stack history {stack}`)",
            entry.number,
            entry.command,
            entry.shown_result()
        );
    }
    if entry.command == "destroy" || entry.command.starts_with("destroy ") {
        bail!(
            "history entry {} is a destroy: there is no version of the stack to go back to in it",
            entry.number
        );
    }
    Ok(())
}
