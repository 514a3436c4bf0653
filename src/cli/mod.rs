//! The commands. Each parses its arguments, loads the stack and hands over to the engine.

mod deploy;
mod workspace;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

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
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Show what `up` would change, changing nothing
    Preview {
        /// The stack (`stacks/STACK.toml`); the selected one if omitted
        stack: Option<String>,
        /// Print the plan as JSON on stdout
        #[arg(long)]
        json: bool,
    },
    /// Create or update the stack's resources to match the program
    Up {
        stack: Option<String>,
        /// Apply without asking for confirmation
        #[arg(long, short)]
        yes: bool,
        /// How many resources may change at once
        #[arg(long, default_value_t = 16)]
        parallel: usize,
    },
    /// Delete everything the stack made, in reverse dependency order
    Destroy {
        stack: Option<String>,
        #[arg(long, short)]
        yes: bool,
        #[arg(long, default_value_t = 16)]
        parallel: usize,
    },
    /// Print the stack's outputs (publish and play URLs, load balancer, MongoDB address)
    Outputs {
        stack: Option<String>,
        #[arg(long)]
        json: bool,
    },
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
}

#[derive(Subcommand)]
pub enum StackCommand {
    /// Make STACK the one commands act on when none is named
    Select { name: String },
    /// List the stacks in `stacks/`
    Ls,
}

/// Runs a command; the error, if any, is for the user.
pub async fn run(cli: Cli) -> Result<()> {
    let workspace = Workspace::new(&cli.root);
    match cli.command {
        Command::Preview { stack, json } => deploy::preview(&workspace, stack, json).await,
        Command::Up {
            stack,
            yes,
            parallel,
        } => deploy::up(&workspace, stack, yes, parallel).await,
        Command::Destroy {
            stack,
            yes,
            parallel,
        } => deploy::destroy(&workspace, stack, yes, parallel).await,
        Command::Outputs { stack, json } => deploy::outputs(&workspace, stack, json).await,
        Command::Graph { stack } => deploy::graph(&workspace, stack).await,
        Command::ForceUnlock { mut args } => {
            let lock_id = args.pop().unwrap_or_default();
            workspace.force_unlock(args.pop(), &lock_id).await
        }
        Command::Stack(StackCommand::Select { name }) => workspace.select(&name),
        Command::Stack(StackCommand::Ls) => workspace.list(),
    }
}
