//! `preview`: the plan, changing nothing.

use anyhow::{Context, Result};

use super::plans::{Made, SavedPlan};
use super::session::{
    below_plan, connect, left_suspended, program, refresh, resolve_pending, restrict,
    write_call_log,
};
use super::{guard, images, ChangeArgs, PlanArgs, Workspace};
use crate::cluster::{self, checks};
use crate::render::{self, Styles};
use ams_engine::{self, Plan};

/// Prints the plan; returns 2 under `--exit-code` when there are changes.
pub async fn preview(
    workspace: &Workspace,
    styles: &Styles,
    args: PlanArgs,
    change: ChangeArgs,
    exit_code: bool,
    out: Option<&std::path::Path>,
) -> Result<u8> {
    let name = workspace.stack_name(args.stack.clone())?;
    let config = workspace.config(&name)?;
    let aws = connect(&config).await?;
    let backend = workspace.backend(&config, Some(&aws)).await?;
    let mut state = backend.load().await?;
    let serial = state.serial;
    resolve_pending(&aws, &mut state, styles, true).await?;
    left_suspended(&aws, &mut state, styles).await?;
    if args.refresh {
        refresh(&aws, &mut state, styles, args.json).await?;
    }
    let planned = async {
        let (program, images) = program(&aws, &config, &state, change.update_images).await?;
        let mut plan = ams_engine::plan(&program, &state)?;
        images::show_updated(&images, change.update_images);
        restrict(&mut plan, &args.targets, false, styles)?;
        // What `up` would refuse before creating anything, the preview says too.
        super::preflight::foreign_records(&aws, &program, &state).await?;
        super::preflight::user_data_fits(&plan)?;
        super::preflight::licence_parameter(&aws, &config).await?;
        super::preflight::images_launchable(&aws, &plan).await?;
        let key_note = super::preflight::ebs_key_note(&aws, &plan, &state).await;
        anyhow::Ok((program, plan, key_note, images))
    }
    .await;
    write_call_log(&aws);
    let (program, plan, key_note, images) = planned?;
    let findings = checks::check_planned(&program, Some(&plan), &config);
    if args.json {
        let mut object = render::plan_json(&plan);
        object["findings"] = serde_json::to_value(&findings).unwrap_or_default();
        println!(
            "{}",
            serde_json::to_string_pretty(&object).unwrap_or_default()
        );
    } else {
        show(&plan, styles, false);
        below_plan(&plan, &program, &findings, &state, &config.region, styles);
    }
    if let Some(note) = key_note {
        crate::render::err(&note);
    }
    // What `up` would refuse, the preview refuses too, after showing the plan.
    guard::refuse(&plan, &change.allow_replace)?;
    if let Some(out) = out {
        let stack_text = std::fs::read_to_string(&config.path)
            .with_context(|| format!("cannot read {}", config.path.display()))?;
        let saved = SavedPlan::new(Made {
            plan: &plan,
            serial,
            state_location: backend.location(),
            state: &state,
            stack_file: &config.path,
            stack_text: &stack_text,
            images: &images,
            findings: serde_json::to_value(&findings).unwrap_or_default(),
            cost: super::session::cost_lines(Some(&program), &state, &config.region),
            refresh: args.refresh,
            update_images: change.update_images,
            targets: &args.targets,
        });
        saved.write(out)?;
        crate::render::err(&format!(
            "Saved the plan to {}: apply exactly it with `ams-stack up {name} --plan {}`.",
            out.display(),
            out.display()
        ));
    }
    Ok(if exit_code && plan.has_changes() {
        2
    } else {
        0
    })
}

/// The plan on stderr, or as JSON on stdout.
pub fn show(plan: &Plan, styles: &Styles, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&render::plan_json(plan)).unwrap_or_default()
        );
    } else {
        render::err(&render::plan_text(
            plan,
            styles,
            &|name| cluster::tier(name).to_string(),
            &cluster::TIERS,
        ));
    }
}
