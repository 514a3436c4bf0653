//! The commands. Each parses its arguments, loads the stack and hands over to the engine.

mod adopt;
mod apply;
mod backup;
mod guard;
mod hints;
pub mod history;
mod history_view;
mod images;
mod inspect;
mod plans;
mod preflight;
mod preview;
mod rollback;
mod session;
mod workspace;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::render::{ColorChoice, Styles};
pub use hints::hint;
pub use workspace::Workspace;

#[derive(Parser)]
#[command(
    name = "ams-stack",
    version,
    about = "Stand up, change and tear down an Ant Media Server cluster on AWS"
)]
pub struct Cli {
    /// Directory holding `stacks/` and `state/`
    #[arg(long, global = true, default_value = ".", env = "AMS_STACK_ROOT")]
    pub root: PathBuf,
    /// When to colour the output (`NO_COLOR` turns `auto` off)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by the commands that plan.
#[derive(Args, Clone, Default)]
pub struct PlanArgs {
    /// The stack (`stacks/STACK.toml`); the selected one if omitted
    pub stack: Option<String>,
    /// Print JSON on stdout (schema: docs/JSON.md)
    #[arg(long)]
    pub json: bool,
    /// Limit the plan to this resource and what it depends on (can be repeated)
    #[arg(long = "target", value_name = "NAME")]
    pub targets: Vec<String>,
    /// Read the live state of every resource first and plan against it (repairs drift)
    #[arg(long)]
    pub refresh: bool,
}

/// Options of the commands that change a stack (and of `preview`, which shows what they would do).
#[derive(Args, Clone, Default)]
pub struct ChangeArgs {
    /// Resolve the images again (newest Ubuntu, newest AMS) instead of reusing the pinned ones
    #[arg(long)]
    pub update_images: bool,
    /// Let this run replace or delete what is protected: `mongodb` (its instance and data volume)
    #[arg(long = "allow-replace", value_name = "WHAT")]
    pub allow_replace: Vec<String>,
}

/// Options of the commands that apply a change.
#[derive(Args, Clone, Copy)]
pub struct ApplyArgs {
    /// Apply without asking for confirmation
    #[arg(long, short)]
    pub yes: bool,
    /// How many resources may change at once
    #[arg(long, default_value_t = 16)]
    pub parallel: usize,
}

#[derive(Subcommand)]
pub enum Command {
    /// Show what `up` would change, changing nothing
    Preview {
        #[command(flatten)]
        plan: PlanArgs,
        #[command(flatten)]
        change: ChangeArgs,
        /// Exit 0 when there are no changes, 2 when there are (1 on error)
        #[arg(long)]
        exit_code: bool,
        /// Also write the plan to PLAN (JSON, no secrets: docs/JSON.md), for `up --plan PLAN`
        #[arg(long, value_name = "PLAN")]
        out: Option<PathBuf>,
    },
    /// Create or update the stack's resources to match the program
    Up {
        #[command(flatten)]
        plan: PlanArgs,
        #[command(flatten)]
        change: ChangeArgs,
        #[command(flatten)]
        apply: ApplyArgs,
        /// Apply exactly the plan `preview --out PLAN` saved, or refuse before any change
        #[arg(long = "plan", value_name = "PLAN")]
        plan_file: Option<PathBuf>,
    },
    /// Delete everything the stack made, in reverse dependency order
    Destroy {
        #[command(flatten)]
        plan: PlanArgs,
        #[command(flatten)]
        apply: ApplyArgs,
        /// Delete MongoDB's data volume without the final snapshot destroy otherwise takes first
        #[arg(long)]
        skip_final_snapshot: bool,
        /// Deletes the recordings in the stack's recordings bucket (refused without it while
        /// there are any).
        #[arg(long)]
        delete_recordings: bool,
    },
    /// Snapshot MongoDB's data volume now; `--list`: the stack's snapshots
    Backup {
        stack: Option<String>,
        /// List the stack's snapshots (taken by `backup`, `destroy`, replacements, and daily)
        #[arg(long)]
        list: bool,
        #[arg(long)]
        json: bool,
    },
    /// Move MongoDB onto a new data volume made from one of the stack's snapshots:
    /// `restore [STACK] SNAPSHOT --allow-replace mongodb`
    Restore {
        #[arg(num_args = 1..=2, required = true, value_names = ["STACK", "SNAPSHOT"])]
        args: Vec<String>,
        #[command(flatten)]
        change: ChangeArgs,
        #[command(flatten)]
        apply: ApplyArgs,
    },
    /// Read every resource's live state and report drift; update the state with --yes
    Refresh {
        stack: Option<String>,
        /// Save the refreshed state without asking
        #[arg(long, short)]
        yes: bool,
        #[arg(long)]
        json: bool,
    },
    /// Print the stack's outputs (publish and play URLs, load balancer, MongoDB address)
    Outputs {
        stack: Option<String>,
        #[arg(long)]
        json: bool,
        /// Print secret outputs (the MongoDB password) instead of `[secret]`
        #[arg(long)]
        show_secrets: bool,
    },
    /// Move a stack's state between backends
    /// Brings a cluster made by hand (Ant Media's AWS guide or template) under a new stack,
    /// found from its domain; read only until you confirm, then writes the stack file and state.
    Adopt {
        stack: String,
        /// The name the cluster is served at (its record leads to everything else).
        #[arg(long)]
        domain: String,
        #[arg(long)]
        region: String,
        /// An emulator's endpoint (as the stack file's `endpoint`).
        #[arg(long)]
        endpoint: Option<String>,
        /// Where SSH and the web panel are allowed from; without it SSH is turned off and the
        /// panel stays reachable as found.
        #[arg(long, value_name = "CIDR")]
        admin_cidr: Option<String>,
        #[arg(long, short)]
        yes: bool,
        #[arg(long)]
        json: bool,
    },
    /// The stack's history: every up, destroy, refresh, restore, rollback, state import and
    /// force-unlock; `history STACK show N`, `history STACK diff N M`
    History {
        stack: Option<String>,
        #[command(subcommand)]
        view: Option<HistoryCommand>,
        #[arg(long, global = true)]
        json: bool,
    },
    /// Go back to the stack file and image pins of history entry N, through the normal plan
    /// (previewed, confirmed; nodes roll; MongoDB stays protected): `rollback [STACK] N`
    Rollback {
        #[arg(num_args = 1..=2, required = true, value_names = ["STACK", "N"])]
        args: Vec<String>,
        /// Let this run replace or delete what is protected: `mongodb`
        #[arg(long = "allow-replace", value_name = "WHAT")]
        allow_replace: Vec<String>,
        #[command(flatten)]
        apply: ApplyArgs,
        #[arg(long)]
        json: bool,
    },
    #[command(subcommand)]
    State(StateCommand),
    /// Print the resource graph as Graphviz DOT, grouped by tier
    Graph { stack: Option<String> },
    /// Remove a lock left by a run that is gone, if its id matches: `force-unlock [STACK] LOCK_ID`
    ForceUnlock {
        #[arg(num_args = 1..=2, required = true, value_names = ["STACK", "LOCK_ID"])]
        args: Vec<String>,
    },
    /// Manage stacks
    #[command(subcommand)]
    Stack(StackCommand),
    /// Print shell completions
    Completions { shell: clap_complete::Shell },
}

#[derive(Subcommand)]
pub enum HistoryCommand {
    /// One entry, with its plan's summary
    Show { number: u64 },
    /// What changed in the stack file and the image pins from entry N to entry M
    Diff { from: u64, to: u64 },
}

#[derive(Subcommand)]
pub enum StateCommand {
    /// Print the stack's state as JSON
    Export { stack: Option<String> },
    /// Replace the stack's state with FILE (validated first, under the lock)
    Import {
        /// `[STACK] FILE`
        #[arg(num_args = 1..=2, required = true, value_names = ["STACK", "FILE"])]
        args: Vec<String>,
    },
}

#[derive(Subcommand)]
pub enum StackCommand {
    /// Make STACK the one commands act on when none is named
    Select { name: String },
    /// List the stacks with their resource counts and last update
    Ls,
}

/// Runs a command; returns the process exit code, or the error for the user.
pub async fn run(cli: Cli) -> Result<u8> {
    let workspace = Workspace::new(&cli.root);
    let styles = Styles::for_stderr(cli.color);
    let done = match cli.command {
        Command::Preview {
            plan,
            change,
            exit_code,
            out,
        } => {
            let out = out.as_deref();
            return preview::preview(&workspace, &styles, plan, change, exit_code, out).await;
        }
        Command::Up {
            plan,
            change,
            apply,
            plan_file,
        } => {
            let (stack, file) = (plan.stack.clone(), plan_file.as_deref());
            let command = if file.is_some() { "up --plan" } else { "up" };
            let up = apply::up(&workspace, &styles, plan, change, apply, file);
            history::record(&workspace, stack, command, up).await
        }
        Command::Backup { stack, list, json } => {
            backup::backup(&apply::open(&workspace, stack).await?, list, json).await
        }
        Command::Restore {
            mut args,
            change,
            apply,
        } => {
            let snapshot = args.pop().unwrap_or_default();
            let stack = args.pop();
            let options = backup::restore_options(stack.clone(), change, apply);
            let restore = backup::restore(&workspace, &styles, stack.clone(), &snapshot, options);
            let command = format!("restore {snapshot}");
            history::record(&workspace, stack, &command, restore).await
        }
        Command::Refresh { stack, yes, json } => {
            let refresh = async {
                let opened = apply::open(&workspace, stack.clone()).await?;
                apply::refresh(&opened, &styles, yes, json).await
            };
            history::record(&workspace, stack.clone(), "refresh", refresh).await
        }
        Command::Destroy {
            plan,
            apply,
            skip_final_snapshot,
            delete_recordings,
        } => {
            let stack = plan.stack.clone();
            let losses = apply::Losses {
                skip_final_snapshot,
                delete_recordings,
            };
            let destroy = apply::destroy(&workspace, &styles, plan, apply, losses);
            history::record(&workspace, stack, "destroy", destroy).await
        }
        Command::Rollback {
            mut args,
            allow_replace,
            apply,
            json,
        } => {
            let number = args.pop().unwrap_or_default();
            let number: u64 = number.parse().map_err(|_| {
                anyhow::anyhow!(
                    "`{number}` is not a history entry number (see `ams-stack history`)"
                )
            })?;
            let stack = args.pop();
            let options = rollback::RollbackArgs {
                stack: stack.clone(),
                number,
                allow_replace,
                apply,
                json,
            };
            let command = format!("rollback {number}");
            let rollback = rollback::rollback(&workspace, &styles, options);
            history::record(&workspace, stack, &command, rollback).await
        }
        Command::History { stack, view, json } => {
            let view = match view {
                None => history_view::View::List,
                Some(HistoryCommand::Show { number }) => history_view::View::Show(number),
                Some(HistoryCommand::Diff { from, to }) => history_view::View::Diff(from, to),
            };
            history_view::history(&workspace, stack, view, json).await
        }
        Command::Outputs {
            stack,
            json,
            show_secrets,
        } => inspect::outputs(&workspace, stack, json, show_secrets).await,
        Command::Adopt {
            stack,
            domain,
            region,
            endpoint,
            admin_cidr,
            yes,
            json,
        } => {
            let args = adopt::AdoptArgs {
                stack,
                domain,
                region,
                endpoint,
                admin_cidr,
                yes,
                json,
            };
            adopt::adopt(&workspace, &styles, args).await
        }
        Command::State(StateCommand::Export { stack }) => inspect::export(&workspace, stack).await,
        Command::State(StateCommand::Import { mut args }) => {
            let file = PathBuf::from(args.pop().unwrap_or_default());
            let stack = args.pop();
            let import = inspect::import(&workspace, stack.clone(), &file);
            history::record(&workspace, stack, "state import", import).await
        }
        Command::Graph { stack } => inspect::graph(&workspace, stack),
        Command::ForceUnlock { mut args } => {
            let lock_id = args.pop().unwrap_or_default();
            let stack = args.pop();
            let unlock = workspace.force_unlock(stack.clone(), &lock_id);
            history::record(&workspace, stack, "force-unlock", unlock).await
        }
        Command::Stack(StackCommand::Select { name }) => workspace.select(&name),
        Command::Stack(StackCommand::Ls) => inspect::list(&workspace).await,
        Command::Completions { shell } => {
            let mut out = std::io::stdout();
            clap_complete::generate(shell, &mut Cli::command(), "ams-stack", &mut out);
            Ok(())
        }
    };
    // Every command but `preview --exit-code` exits 0 when it succeeds.
    done.map(|()| 0)
}
