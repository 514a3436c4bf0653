//! The stack file of an adopted cluster: what runs, written down so that the first `up` keeps
//! everything that carries traffic or data, and moves the rest to ams-stack's safe settings in
//! place (each change shown in its preview).

use std::fmt::Write as _;

use super::{Facts, NodeFacts};

/// What the stack file is written for.
pub struct Written<'a> {
    pub region: &'a str,
    pub endpoint: Option<&'a str>,
    /// Where SSH and the web panel are allowed from; `None`: SSH off, the panel as found (open).
    pub admin_cidr: Option<&'a str>,
    /// When, for the header (a date).
    pub date: &'a str,
}

/// A TOML string (quoted and escaped).
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| quoted(i)).collect();
    format!("[{}]", quoted.join(", "))
}

/// The stack file's text.
pub fn text(facts: &Facts, written: &Written<'_>) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "# Adopted by `ams-stack adopt` on {} from the cluster behind {}.",
        written.date, facts.domain
    );
    let _ = writeln!(
        w,
        "# Written as found wherever a change would replace what carries traffic or data (the load\n\
         # balancer, its target groups and certificate, the record, the two groups, MongoDB); the first\n\
         # `up` moves the rest to ams-stack's settings in place, each change in its preview\n\
         # (docs/OPERATIONS.md, \"Bring an existing cluster\")."
    );
    let _ = writeln!(w, "region = {}", quoted(written.region));
    if let Some(endpoint) = written.endpoint {
        let _ = writeln!(w, "endpoint = {}", quoted(endpoint));
    }
    let _ = writeln!(w, "\n[network]");
    let _ = writeln!(
        w,
        "# The VPC and subnets the cluster runs in: used, never owned (`destroy` leaves them)."
    );
    let _ = writeln!(w, "vpc_id = {}", quoted(&facts.vpc_id));
    let _ = writeln!(w, "subnet_ids = {}", list(&facts.subnet_ids));
    let _ = writeln!(
        w,
        "availability_zones = {}",
        list(&facts.availability_zones)
    );
    match written.admin_cidr {
        Some(cidr) => {
            let _ = writeln!(
                w,
                "# SSH (22) and the web panel are allowed from here only."
            );
            let _ = writeln!(w, "admin_cidr = {}", quoted(cidr));
        }
        None => {
            let _ = writeln!(
                w,
                "# The web panel is reachable from anywhere, as found (its password protects it); SSH is\n\
                 # off below. Set your office or VPN range here, and `ssh = true`, to reach both from it."
            );
            let _ = writeln!(w, "admin_cidr = \"0.0.0.0/0\"");
        }
    }
    let _ = writeln!(w, "\n[dns]");
    let _ = writeln!(w, "domain = {}", quoted(&facts.domain));
    let _ = writeln!(w, "hosted_zone = {}", quoted(&facts.hosted_zone));
    if let Some(name) = &facts.certificate_domain {
        let _ = writeln!(
            w,
            "# The certificate on 443 is for this name, which covers the domain: kept."
        );
        let _ = writeln!(w, "certificate_domain = {}", quoted(name));
    }

    let _ = writeln!(w, "\n[mongodb]");
    let _ = writeln!(
        w,
        "# Made before ams-stack: kept as found where a change would replace it (image, subnet,\n\
         # disks, key, groups, role, user data); its data stays on its root volume, without a data\n\
         # volume or daily snapshots until it is moved (docs/OPERATIONS.md)."
    );
    let _ = writeln!(w, "adopted = true");
    if !facts.mongodb_auth {
        let _ = writeln!(
            w,
            "# It takes no password, as found: the nodes reach it without one. Turning auth on is its\n\
             # own previewed step (docs/OPERATIONS.md, \"Turn MongoDB's auth on\")."
        );
        let _ = writeln!(w, "auth = false");
    }
    machine(w, &facts.mongodb, written.admin_cidr.is_some(), false);
    for (role, group) in [("origin", &facts.origin), ("edge", &facts.edge)] {
        let _ = writeln!(w, "\n[{role}]");
        machine(w, group, written.admin_cidr.is_some(), true);
        let _ = writeln!(w, "min_size = {}", group.min_size.max(0));
        let _ = writeln!(w, "max_size = {}", group.max_size.max(1));
        if let Some(target) = group.cpu_target {
            let _ = writeln!(w, "cpu_target = {target}");
        }
    }
    let _ = writeln!(w, "\n[ingest]");
    let _ = writeln!(
        w,
        "# No ingest load balancer was found: none is made. `rtmp = true` makes one (RTMP on 1935 at\n\
         # ingest.{}).",
        facts.domain
    );
    let _ = writeln!(w, "rtmp = false\nsrt = false");
    if written.admin_cidr.is_none() {
        let _ = writeln!(w, "\n[security]");
        let _ = writeln!(
            w,
            "# SSH was open to the world: off until `admin_cidr` says who may use it. Session Manager\n\
             # reaches the instances without it."
        );
        let _ = writeln!(w, "ssh = false\nsession_manager = true");
    }
    out
}

/// A machine's keys: its type and image as found (the image pinned: a new one is `ami` changed,
/// rolled), its key pair where SSH stays, its root volume where the stack file can say it.
fn machine(w: &mut String, machine: &NodeFacts, ssh: bool, root_volume: bool) {
    let _ = writeln!(w, "instance_type = {}", quoted(&machine.instance_type));
    let _ = writeln!(w, "ami = {}", quoted(&machine.ami));
    if let Some(key) = machine.key_name.as_ref().filter(|_| ssh) {
        let _ = writeln!(w, "key_name = {}", quoted(key));
    }
    if let Some(gib) = machine
        .root_volume_gib
        .filter(|g| root_volume && (8..=16384).contains(g))
    {
        let _ = writeln!(w, "root_volume_gib = {gib}");
    }
}
