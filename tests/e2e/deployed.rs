//! The cluster the read-only checks share: deployed once per test binary, through the strict
//! cloud, on the first [`cluster`] call; the first deploy's plan and apply are checked on the
//! way (the plan creates everything, a targeted plan only MongoDB and what it depends on, up
//! creates everything). Nothing may change it: a test that changes a cluster deploys its own.
//!
//! Each test reads it with SDK clients of its own (`cluster().moto.sdk().await`, in the test's
//! own runtime: a client is bound to the runtime it was first used in).

use std::sync::OnceLock;

use crate::support::census::resource_count;
use crate::support::{FaultProxy, Moto, Project};

pub struct Deployed {
    /// The emulator; `moto.sdk()` reads what it holds.
    pub moto: Moto,
    /// The strict cloud in front of it, where ams-stack's calls go.
    pub cloud: FaultProxy,
    pub project: Project,
    /// `ams-stack outputs local --json` after the first up.
    pub outputs: serde_json::Value,
}

impl Deployed {
    pub fn mongodb_ip(&self) -> &str {
        self.outputs["mongodb_private_ip"]
            .as_str()
            .expect("mongodb ip")
    }

    pub fn lb_dns(&self) -> &str {
        self.outputs["load_balancer_dns"].as_str().expect("lb dns")
    }

    pub fn nlb_dns(&self) -> &str {
        self.outputs["ingest_load_balancer_dns"]
            .as_str()
            .expect("ingest lb dns")
    }
}

static CLUSTER: OnceLock<Result<Deployed, String>> = OnceLock::new();

/// The shared cluster, deployed by the first test that asks (the others wait for it). A failed
/// deploy fails every test that asks, with its message, without deploying again.
pub fn cluster() -> &'static Deployed {
    let deployed = CLUSTER.get_or_init(|| {
        let deployed = std::panic::catch_unwind(deploy).map_err(|panic| {
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".to_string())
        });
        deployed
    });
    match deployed {
        Ok(deployed) => deployed,
        Err(panic) => panic!("the shared cluster did not deploy: {panic}"),
    }
}

fn deploy() -> Deployed {
    let moto = Moto::start();
    // Through the strict cloud: AWS's rules and clocks, not only moto's leniency.
    let cloud = FaultProxy::strict(&moto.endpoint, &[]);
    // A static is never dropped: the project lives in cargo's scratch directory for tests
    // (target/tmp), not in /tmp, and goes with `cargo clean`. Its emulators end with the binary.
    let project = Project::new_in(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")),
        Some(&cloud.endpoint),
    );

    // First deploy: the plan creates everything, up applies it and prints the outputs.
    let preview = project.run(&["preview", "local", "--json"]).ok().json();
    assert_eq!(preview["changes"]["create"], resource_count(), "{preview}");
    assert_eq!(
        project.run(&["preview", "local", "--exit-code"]).code,
        Some(2),
        "changes present"
    );
    let targeted = project
        .run(&["preview", "local", "--json", "--target", "mongodb"])
        .ok();
    assert_eq!(
        targeted.json()["changes"]["create"],
        20,
        "mongodb, its data volume (the boot script names it), four security groups (the nodes' admits the ingest load balancer's), the VPC, its gateway, both route tables and the four subnets they route, the NAT gateway and its address, both passwords (the role reads them), role, profile: {}",
        targeted.stdout
    );
    assert!(
        targeted
            .stderr
            .contains("warning: only mongodb and what they depend on"),
        "{}",
        targeted.stderr
    );
    up(&project);
    let outputs = project.run(&["outputs", "local", "--json"]).ok().json();
    Deployed {
        moto,
        cloud,
        project,
        outputs,
    }
}

/// A first `up` of the whole stack: everything created.
pub fn up(project: &Project) {
    let up = project.run(&["up", "local", "--yes"]).ok();
    assert!(
        up.stderr.contains(&format!("{} created", resource_count())),
        "{}",
        up.stderr
    );
}
