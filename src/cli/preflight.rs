//! Checks made after planning and before anything is created: no record at the stack's names
//! belongs to someone else, and every image the plan would launch can be launched by this
//! account (Marketplace terms accepted).

use std::collections::BTreeSet;

use anyhow::Result;
use futures_util::future::join_all;

use ams_aws::ec2::{Instance, LaunchTemplate, Machine};
use ams_aws::{lookup, Aws};
use ams_engine::state::State;
use ams_engine::{view, Input, Op, Plan, Program};

/// A DNS record at one of the stack's names that this stack did not make (a user's record)
/// stops everything, naming the record and its value: it is never overwritten.
pub async fn foreign_records(aws: &Aws, program: &Program, state: &State) -> Result<()> {
    let conflicts = ams_aws::route53::conflicts(aws, program, state).await?;
    if conflicts.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = conflicts.iter().map(ToString::to_string).collect();
    anyhow::bail!("{}\n  (nothing was created)", lines.join("\n"))
}

/// The images the plan launches (instances and templates it creates, replaces or changes),
/// each dry-run once; every refusal is reported, and nothing is created.
pub async fn images_launchable(aws: &Aws, plan: &Plan) -> Result<()> {
    let mut wanted = BTreeSet::new();
    for step in &plan.steps {
        if !matches!(step.op, Op::Create | Op::Replace | Op::Update) {
            continue;
        }
        let machine: Option<Machine> = view::<Instance>(&step.type_name, &step.args)
            .map(|instance| instance.machine)
            .or_else(|| view::<LaunchTemplate>(&step.type_name, &step.args).map(|t| t.machine));
        if let Some(Machine {
            image_id: Input::Value(image),
            instance_type,
            ..
        }) = machine
        {
            wanted.insert((image, instance_type));
        }
    }
    let checks = wanted
        .iter()
        .map(|(image, instance_type)| lookup::launchable(aws, image, instance_type));
    // A handful of dry runs, at once.
    let refusals: Vec<String> = join_all(checks)
        .await
        .into_iter()
        .filter_map(|result| result.err().map(|e| e.to_string()))
        .collect();
    if refusals.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{}", refusals.join("\n"))
    }
}
