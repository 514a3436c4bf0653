//! `adopt STACK --domain DOMAIN --region REGION`: a cluster made by hand brought under a new
//! stack without a rebuild. It shows what it found and why, what it did not, and the plan of the
//! first `up`; then (asked, or `--yes`) writes `stacks/STACK.toml` and the state. Read only in
//! the cloud.

use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;

use super::apply::confirm;
use super::session::{below_plan, connect_to, program, write_call_log};
use super::Workspace;
use crate::adopt::{self, stack_file, Adoption};
use crate::cluster::checks;
use crate::config;
use crate::render::{self, Styles};
use ams_aws::{Aws, AwsProvider};
use ams_engine::state::State;
use ams_engine::{Op, Plan};

/// What `adopt` is asked.
pub struct AdoptArgs {
    pub stack: String,
    pub domain: String,
    pub region: String,
    pub endpoint: Option<String>,
    pub admin_cidr: Option<String>,
    pub yes: bool,
    pub json: bool,
}

pub async fn adopt(workspace: &Workspace, styles: &Styles, args: AdoptArgs) -> Result<()> {
    let name = &args.stack;
    let path = workspace.stacks_dir().join(format!("{name}.toml"));
    if path.exists() {
        bail!(
            "stack `{name}` exists already ({}): adopt makes a new stack; give it another name",
            path.display()
        );
    }
    let aws = connect_to(&args.region, args.endpoint.as_deref()).await?;
    let result = adopted(workspace, styles, &args, &aws, &path).await;
    write_call_log(&aws);
    result
}

async fn adopted(
    workspace: &Workspace,
    styles: &Styles,
    args: &AdoptArgs,
    aws: &Arc<Aws>,
    path: &std::path::Path,
) -> Result<()> {
    let name = &args.stack;
    let adoption = adopt::discover(aws, &args.domain).await?;
    adopt::refuse_owned(aws, &adoption).await?;
    let date = ams_engine::state::now_rfc3339();
    let text = stack_file::text(
        &adoption.facts,
        &stack_file::Written {
            region: &args.region,
            endpoint: args.endpoint.as_deref(),
            admin_cidr: args.admin_cidr.as_deref(),
            date: date.get(..10).unwrap_or(&date),
        },
    );
    let config = config::parse(name, path, &text).map_err(|e| {
        anyhow!("the stack file adopt wrote does not load (please report this): {e}\n{text}")
    })?;
    let backend = workspace.backend(&config, Some(aws)).await?;
    if !backend.load().await?.is_empty() {
        bail!(
            "stack `{name}` has a state already ({}): adopt makes a new stack; give it another name",
            backend.location()
        );
    }
    let (program, images) = program(aws, &config, &State::empty(name), false).await?;
    let provider = AwsProvider::new(aws.clone());
    let events: ams_engine::EventSink = Arc::new(|_| {});
    let ids = adopt::ids(&adoption);
    let mut state = ams_engine::adopt(&program, name, &ids, &adoption.retired, &provider, events)
        .await
        .context("reading what was found into the state")?;
    images.pin(&mut state);
    let plan = ams_engine::plan(&program, &state)?;
    let replaced = replaced(&plan, &adoption);
    let findings = checks::check_planned(&program, Some(&plan), &config);
    if args.json {
        let mut object = json!({
            "stack": name,
            "found": adoption.found,
            "not_found": not_found(&plan),
            "left": adoption.left,
            "retiring": adoption.retiring,
            "facts": adoption.facts,
            "stack_file": text,
        });
        object["plan"] = render::plan_json(&plan);
        object["findings"] = serde_json::to_value(&findings).unwrap_or_default();
        println!("{}", serde_json::to_string_pretty(&object)?);
    } else {
        show(&adoption, &plan, styles);
        super::preview::show(&plan, styles, false);
        below_plan(&plan, &program, &findings, &state, &config.region, styles);
    }
    if !replaced.is_empty() {
        bail!(
            "refusing to adopt: the first `up` would replace what was found: {}\n  nothing was written",
            replaced.join("; ")
        );
    }
    confirm(
        &format!(
            "Write {} and the state of stack `{name}` ({} resources adopted)?",
            path.display(),
            state.resources.len()
        ),
        args.yes,
    )?;
    // The history entry (written first: a store that refuses it stops adopt before it writes),
    // then the state, then the stack file.
    let written = async {
        std::fs::create_dir_all(workspace.stacks_dir())
            .with_context(|| format!("cannot create {}", workspace.stacks_dir().display()))?;
        let lock = backend.lock("adopt").await?;
        let saved = async {
            // Written only if nothing is there yet: another adopt of the same name loses.
            if !backend.load().await?.is_empty() {
                bail!("stack `{name}` got a state while adopt ran: nothing was written");
            }
            backend.save(&state).await?;
            anyhow::Ok(())
        }
        .await;
        backend.unlock(&lock).await?;
        saved?;
        std::fs::write(path, &text).with_context(|| format!("cannot write {}", path.display()))
    };
    super::history::record_with(workspace, &config, "adopt", written).await?;
    render::err(&format!(
        "Adopted {} resources into stack `{name}` ({} and {}). Next: `ams-stack preview {name}`, then `ams-stack up {name}`.",
        state.resources.len(),
        path.display(),
        backend.location()
    ));
    Ok(())
}

/// What was found, why, and what was not, on stderr.
fn show(adoption: &Adoption, plan: &Plan, styles: &Styles) {
    render::err(&format!(
        "{}",
        styles.bold.apply_to(format!(
            "Found behind {} (following its traffic):",
            adoption.facts.domain
        ))
    ));
    for found in &adoption.found {
        render::err(&format!(
            "  {:<32} {} ({})\n  {:<32}   because {}",
            found.name, found.what, found.id, "", found.evidence
        ));
    }
    render::err(&format!(
        "  {:<32} {} {}, subnets {} (used, never owned)",
        "network",
        adoption.facts.vpc_id,
        adoption.facts.availability_zones.join(", "),
        adoption.facts.subnet_ids.join(", ")
    ));
    let missing = not_found(plan);
    if !missing.is_empty() {
        render::err(&format!(
            "{}",
            styles
                .bold
                .apply_to("Not found (the first `up` makes them):")
        ));
        render::err(&format!("  {}", missing.join(", ")));
    }
    if !adoption.retiring.is_empty() {
        render::err(&format!(
            "{}",
            styles
                .bold
                .apply_to("Retiring (adopted for the first `up` to delete once unused):")
        ));
        for found in &adoption.retiring {
            render::err(&format!(
                "  {:<32} {} ({})\n  {:<32}   because {}",
                found.name, found.what, found.id, "", found.evidence
            ));
        }
    }
    if !adoption.left.is_empty() {
        render::err(&format!("{}", styles.bold.apply_to("Left as it is:")));
        for line in &adoption.left {
            render::err(&format!("  {line}"));
        }
    }
    render::err("");
    render::err(&format!(
        "{}",
        styles.bold.apply_to("The first `up` after adoption:")
    ));
}

/// The resources of the stack that nothing found: the first `up` creates them.
fn not_found(plan: &Plan) -> Vec<String> {
    plan.steps
        .iter()
        .filter(|s| s.op == Op::Create)
        .map(|s| s.name.clone())
        .collect()
}

/// What the plan would replace or delete of what was found, with the arguments that force it.
fn replaced(plan: &Plan, adoption: &Adoption) -> Vec<String> {
    plan.steps
        .iter()
        .filter(|s| matches!(s.op, Op::Replace | Op::Delete))
        .filter(|s| adoption.found.iter().any(|f| f.name == s.name))
        .filter(|s| !adoption.retiring.iter().any(|f| f.name == s.name))
        .map(|s| {
            let forcing: Vec<String> = s
                .changes
                .iter()
                .filter(|c| c.forces_replace)
                .map(|c| {
                    format!(
                        "{} {} -> {}",
                        c.key,
                        c.old.as_ref().map_or("(none)".into(), |v| v.to_string()),
                        c.new.as_ref().map_or("(none)".into(), |v| v.to_string())
                    )
                })
                .collect();
            format!("{} ({})", s.name, forcing.join(", "))
        })
        .collect()
}
