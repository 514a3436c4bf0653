//! What every planning command does first: the stack, its AWS clients, its program.

use std::io::Write;
use std::sync::Arc;

use anyhow::Result;

use super::images::{self, Images};
use crate::cluster::checks::Finding;
use crate::cluster::{self, Found};
use crate::config::StackConfig;
use crate::cost::{self, Priced};
use crate::render::{self, Styles};
use ams_aws::{lookup, Aws};
use ams_engine::state::State;
use ams_engine::{Plan, Program};

pub async fn connect(config: &StackConfig) -> Result<Arc<Aws>> {
    connect_to(&config.region, config.endpoint.as_deref()).await
}

/// The AWS clients of `region`, at `endpoint` (an emulator) or `AWS_ENDPOINT_URL` if given.
pub async fn connect_to(region: &str, endpoint: Option<&str>) -> Result<Arc<Aws>> {
    let endpoint = endpoint
        .map(String::from)
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
    Ok(Arc::new(Aws::connect(region, endpoint.as_deref()).await?))
}

/// With `AMS_STACK_CALL_LOG=FILE`, appends every AWS operation this run called to FILE, one a
/// line: how tests prove that an unchanged stack gets no mutating call.
pub fn write_call_log(aws: &Aws) {
    if let Ok(path) = std::env::var("AMS_STACK_CALL_LOG") {
        let lines: String = aws.calls.calls().iter().map(|c| format!("{c}\n")).collect();
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(lines.as_bytes()));
        if let Err(e) = written {
            render::err(&format!("warning: cannot write the call log {path}: {e}"));
        }
    }
}

/// Looks up what the account already has (the hosted zone; the images, pinned in `state` unless
/// `update_images`), then declares the cluster.
pub async fn program(
    aws: &Aws,
    config: &StackConfig,
    state: &State,
    update_images: bool,
) -> Result<(Program, Images)> {
    let file = config.path.display().to_string();
    let (zone, images) = tokio::try_join!(
        async { Ok(lookup::hosted_zone(aws, &config.dns.hosted_zone, &file).await?) },
        images::resolve(aws, config, state, update_images),
    )?;
    let found = Found {
        hosted_zone_id: zone,
        mongodb_ami: images.mongodb.id.clone(),
        origin_ami: images.origin.id.clone(),
        edge_ami: images.edge.id.clone(),
        data_snapshot: data_snapshot(state),
        images: images.described(),
    };
    Ok((cluster::declare(config, &found)?, images))
}

/// The snapshot MongoDB's data volume was last restored from (`restore`), which every later
/// plan declares again, so that the restored volume stays.
pub fn data_snapshot(state: &State) -> Option<String> {
    state
        .lookups
        .get(DATA_SNAPSHOT)
        .and_then(|v| v.as_str())
        .map(String::from)
}

/// The state's lookup key of [`data_snapshot`].
pub const DATA_SNAPSHOT: &str = "mongodb.data_snapshot";

/// Applies `--target`s to a plan, with the warning that the rest is not checked.
pub fn restrict(
    plan: &mut Plan,
    targets: &[String],
    dependents: bool,
    styles: &Styles,
) -> Result<()> {
    if targets.is_empty() {
        return Ok(());
    }
    plan.restrict(targets, dependents)?;
    render::err(&format!(
        "{} only {} and {}: the rest of the stack is not checked",
        styles.warn.apply_to("warning:"),
        targets.join(", "),
        if dependents {
            "what depends on them"
        } else {
            "what they depend on"
        }
    ));
    Ok(())
}

/// The cost lines under a plan: the stack now, after the change, and the difference.
pub fn cost_lines(program: Option<&Program>, state: &State, region: &str) -> String {
    let before: Vec<Priced<'_>> = state
        .resources
        .iter()
        .map(|r| Priced {
            name: &r.name,
            id: Some(&r.id),
            type_name: &r.type_name,
            args: &r.inputs,
        })
        .collect();
    let after: Vec<Priced<'_>> = program
        .map(|p| {
            p.resources()
                .iter()
                .map(|r| Priced {
                    name: &r.name,
                    id: None,
                    type_name: &r.type_name,
                    args: &r.args,
                })
                .collect()
        })
        .unwrap_or_default();
    let (now, then) = (
        cost::estimate(&before, region),
        cost::estimate(&after, region),
    );
    let range = |e: &cost::Estimate| {
        if (e.monthly_max - e.monthly_min).abs() < 0.005 {
            cost::dollars(e.monthly_min)
        } else {
            format!(
                "{} (up to {} at maximum size)",
                cost::dollars(e.monthly_min),
                cost::dollars(e.monthly_max)
            )
        }
    };
    let change = then.monthly_min - now.monthly_min;
    let mut lines = vec![format!(
        "Estimated monthly cost (an estimate, on-demand in {region}, nodes at minimum size): {} now, {} after this change ({}{}).",
        range(&now),
        range(&then),
        if change >= 0.0 { "+" } else { "" },
        cost::dollars(change)
    )];
    let unpriced = both(&now.unpriced, &then.unpriced);
    if !unpriced.is_empty() {
        lines.push(format!("No price for {unpriced}: not included."));
    }
    let by_use = both(&now.by_use, &then.by_use);
    if !by_use.is_empty() {
        lines.push(format!("Billed by use, not included: {by_use}."));
    }
    lines.push(format!("Prices: {}.", cost::source()));
    lines.join("\n")
}

/// The names in `now` and in `then`, each once, in order, joined by commas.
fn both(now: &[String], then: &[String]) -> String {
    let mut names: Vec<&str> = now.iter().chain(then).map(String::as_str).collect();
    names.sort();
    names.dedup();
    names.join(", ")
}

/// What a plan's text is followed by: the notes on its in-place changes, the security findings
/// and the cost before and after.
pub fn below_plan(
    plan: &Plan,
    program: &Program,
    findings: &[Finding],
    state: &State,
    region: &str,
    styles: &Styles,
) {
    super::guard::show_notes(plan);
    render::err("");
    render::err(&findings_text(findings, styles));
    render::err("");
    render::err(&cost_lines(Some(program), state, region));
}

/// The security findings under a plan, one line each.
pub fn findings_text(findings: &[Finding], styles: &Styles) -> String {
    if findings.is_empty() {
        return "Security checks: no findings.".into();
    }
    let mut lines = vec!["Security checks (AWS Security Hub controls):".to_string()];
    for finding in findings {
        let (mark, style) = match (&finding.accepted, finding.blocks()) {
            (Some(_), _) => ("accepted", &styles.dim),
            (None, true) => ("BLOCKS UP", &styles.error),
            (None, false) => ("warning", &styles.warn),
        };
        let mut line = format!(
            "  {} {} [{}] {}: {}",
            style.apply_to(format!("{mark:>9}")),
            finding.control,
            finding.severity,
            finding.resource,
            finding.message
        );
        if let Some(location) = &finding.location {
            line.push_str(&format!(" ({location})"));
        }
        if let Some(reason) = &finding.accepted {
            line.push_str(&format!(" — {reason}"));
        }
        lines.push(line);
    }
    lines.join("\n")
}

/// Refuses to go on while a high-severity finding is not accepted.
pub fn refuse_blocking(findings: &[Finding]) -> Result<()> {
    let blocking: Vec<&Finding> = findings.iter().filter(|f| f.blocks()).collect();
    if blocking.is_empty() {
        return Ok(());
    }
    let controls: Vec<String> = blocking
        .iter()
        .map(|f| match &f.location {
            Some(location) => format!("{} ({}: {})", f.control, location, f.message),
            None => format!("{} ({}: {})", f.control, f.resource, f.message),
        })
        .collect();
    anyhow::bail!(
        "refusing to apply: {} high-severity security finding(s): {}\n  fix the stack file, or accept the control with `[security] accept = [\"{}\"]`",
        blocking.len(),
        controls.join("; "),
        blocking[0].control
    )
}

/// Resolves the creates an interrupted run left pending (adopting what exists), and says what
/// became of each. `up` and `destroy` save the result; `preview` only shows it.
pub async fn resolve_pending(
    aws: &Arc<Aws>,
    state: &mut State,
    styles: &Styles,
    read_only: bool,
) -> Result<()> {
    if state.pending.is_empty() {
        return Ok(());
    }
    let provider = ams_aws::AwsProvider::new(aws.clone());
    let events: ams_engine::EventSink = Arc::new(|_| {});
    // Long enough for a request sent just before a crash to have landed.
    let settle = if aws.is_emulator() {
        std::time::Duration::from_secs(2)
    } else {
        std::time::Duration::from_secs(20)
    };
    let resolutions = ams_engine::resolve_pending(state, &provider, events, read_only, settle)
        .await
        .map_err(|f| {
            anyhow::anyhow!(
                "cannot resolve the interrupted create of {} ({}): {}",
                f.name,
                f.type_name,
                f.error
            )
        })?;
    render::err(&format!(
        "{}",
        styles
            .bold
            .apply_to("Creates an interrupted run left unfinished:")
    ));
    for resolution in &resolutions {
        render::err(&match &resolution.adopted {
            Some(id) if read_only => {
                format!(
                    "  {} ({}): found {id}; `up` will adopt it",
                    resolution.name, resolution.type_name
                )
            }
            Some(id) => format!(
                "  {} ({}): found {id}, adopted into the state",
                resolution.name, resolution.type_name
            ),
            None => format!(
                "  {} ({}): not found in the cloud, it will be created",
                resolution.name, resolution.type_name
            ),
        });
    }
    render::err("");
    Ok(())
}

/// Groups that a roll which did not finish left with processes suspended (the CPU policy's
/// alarms, scheduled actions): their stored arguments get the live list, so the plan shows
/// them going and `up` resumes them; said on stderr.
pub async fn left_suspended(aws: &Aws, state: &mut State, styles: &Styles) -> Result<()> {
    let lines = match ams_aws::autoscaling::left_suspended(aws, state).await {
        Ok(lines) => lines,
        // Never a reason to stop a plan: what was left suspended shows with `--refresh`.
        Err(e) => vec![format!(
            "could not read the stack's auto-scaling groups ({e}): processes a roll left suspended are not shown"
        )],
    };
    if !lines.is_empty() {
        render::err(&format!(
            "{}",
            styles
                .bold
                .apply_to("Left suspended by an unfinished roll:")
        ));
        for line in lines {
            render::err(&format!("  {line}"));
        }
        render::err("");
    }
    Ok(())
}

/// Reads the live state of every resource into `state`; prints the drift unless `quiet`.
pub async fn refresh(
    aws: &Arc<Aws>,
    state: &mut State,
    styles: &Styles,
    quiet: bool,
) -> Result<ams_engine::Drift> {
    let provider = ams_aws::AwsProvider::new(aws.clone());
    let drift = ams_engine::refresh(state, &provider)
        .await
        .map_err(|e| anyhow::anyhow!("refresh failed: {e}"))?;
    if !quiet {
        render::err(&drift_text(&drift, styles));
        render::err("");
    }
    Ok(drift)
}

/// Drift as people read it.
pub fn drift_text(drift: &ams_engine::Drift, styles: &Styles) -> String {
    if drift.is_empty() {
        return "No drift: the cloud matches the state.".into();
    }
    let mut lines = vec![format!(
        "{}",
        styles.bold.apply_to("Drift (changed outside ams-stack):")
    )];
    for (name, type_name, changes) in &drift.changed {
        lines.push(format!(
            "  {} {name} ({type_name})",
            styles.update.apply_to("~")
        ));
        for change in changes {
            let show = |v: &Option<serde_json::Value>| {
                v.as_ref().map_or("(none)".to_string(), |v| v.to_string())
            };
            lines.push(format!(
                "      {}: {} -> {}",
                change.key,
                show(&change.old),
                show(&change.new)
            ));
        }
    }
    for (name, type_name) in &drift.deleted {
        lines.push(format!(
            "  {} {name} ({type_name}): deleted outside ams-stack",
            styles.delete.apply_to("-")
        ));
    }
    lines.join("\n")
}
