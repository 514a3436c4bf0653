//! Snapshots of the rendered plan: what users read before they say yes.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value as Json};

use super::{plan_text, Styles};
use crate::cluster::{self, Found};
use ams_engine::state::{ResourceState, State};
use ams_engine::{destroy_plan, plan, Plan, Program};

fn program(edit: &dyn Fn(String) -> String) -> Program {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/prod.toml");
    let text = edit(std::fs::read_to_string(&path).expect("prod stack"));
    let config = crate::config::parse("prod", Path::new("stacks/prod.toml"), &text).expect("valid");
    let found = Found {
        hosted_zone_id: "Z0EXAMPLE".into(),
        mongodb_ami: "ami-0ubuntu".into(),
        origin_ami: "ami-0ams".into(),
        edge_ami: "ami-0ams".into(),
        data_snapshot: None,
        images: Vec::new(),
    };
    cluster::declare(&config, &found).expect("declared")
}

/// The state an apply of `program` would leave, with every output `RESOURCE.OUTPUT`.
fn applied(program: &Program) -> State {
    let mut state = State::empty("prod");
    let wanted: RefCell<BTreeMap<String, BTreeMap<String, Json>>> = RefCell::default();
    let fake = |resource: &str, output: &str| {
        let value = json!(format!("{resource}.{output}"));
        wanted
            .borrow_mut()
            .entry(resource.to_string())
            .or_default()
            .insert(output.to_string(), value.clone());
        Some(value)
    };
    let inputs: Vec<Json> = program
        .resources()
        .iter()
        .map(|r| ams_engine::resolve_with(&r.args, &fake))
        .collect();
    for (declared, inputs) in program.resources().iter().zip(inputs) {
        let outputs = wanted
            .borrow()
            .get(&declared.name)
            .cloned()
            .unwrap_or_default();
        state.resources.push(ResourceState {
            name: declared.name.clone(),
            type_name: declared.type_name.clone(),
            id: format!("{}-id", declared.name),
            inputs,
            outputs: json!(outputs),
            dependencies: declared.dependencies.iter().cloned().collect(),
        });
    }
    state
}

fn render(plan: &Plan) -> String {
    plan_text(
        plan,
        &Styles::plain(),
        &|name| cluster::tier(name).to_string(),
        &cluster::TIERS,
    )
}

fn same(text: String) -> String {
    text
}

#[test]
fn first_deploy() {
    let plan = plan(&program(&same), &State::empty("prod")).expect("plan");
    insta::assert_snapshot!(render(&plan));
}

#[test]
fn no_change() {
    let program = program(&same);
    let plan = plan(&program, &applied(&program)).expect("plan");
    insta::assert_snapshot!(render(&plan));
}

#[test]
fn in_place_update() {
    let state = applied(&program(&same));
    let bigger = program(&|text| text.replacen("max_size = 10", "max_size = 12", 1));
    insta::assert_snapshot!(render(&plan(&bigger, &state).expect("plan")));
}

#[test]
fn replacement() {
    let state = applied(&program(&same));
    let larger_root =
        program(&|text| text.replace("[mongodb]\n", "[mongodb]\nroot_volume_gib = 80\n"));
    insta::assert_snapshot!(render(&plan(&larger_root, &state).expect("plan")));
}

#[test]
fn instance_type_in_place() {
    let state = applied(&program(&same));
    let larger = program(&|text| {
        text.replace(
            "instance_type = \"m5.xlarge\"",
            "instance_type = \"m5.2xlarge\"",
        )
    });
    insta::assert_snapshot!(render(&plan(&larger, &state).expect("plan")));
}

#[test]
fn destroy() {
    let state = applied(&program(&same));
    insta::assert_snapshot!(render(&destroy_plan(&state).expect("plan")));
}

#[test]
fn secret_values_are_never_printed() {
    use ams_engine::{Op, PropertyChange, Step};
    let step = Step {
        op: Op::Update,
        name: "password".into(),
        type_name: "test:Secret".into(),
        id: Some("p-1".into()),
        changes: vec![PropertyChange {
            key: "value".into(),
            old: Some(json!("hunter2-old")),
            new: Some(json!("hunter2-new")),
            forces_replace: false,
        }],
        secret: vec!["value".into()],
        args: Json::Null,
        dependencies: Default::default(),
        protected: None,
    };
    let plan = Plan {
        stack: "prod".into(),
        steps: vec![step],
        pending_deletes: vec![],
        outputs: Default::default(),
    };
    let text = render(&plan);
    let json = super::plan_json(&plan).to_string();
    for shown in [&text, &json] {
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("[secret]"), "{shown}");
    }
}
