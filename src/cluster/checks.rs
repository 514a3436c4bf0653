//! Security checks on the program, before anything is applied.
//!
//! Each finding names its AWS Security Hub control, its severity and the stack-file line that
//! causes it. `up` refuses a high or critical finding unless the stack file accepts its control
//! (`[security] accept = ["EC2.13"]`). Some findings are inherent to a streaming cluster (the
//! play ports and WebRTC media must be reachable by everyone): those are accepted by design,
//! with the reason, and still shown.

use std::fmt;

use ams_aws::ec2::{
    DefaultSecurityGroupRules, Instance, LaunchTemplate, Machine, Rule, SecurityGroup, Subnet, Vpc,
};
use ams_aws::elbv2::{tls_policy, Listener, LoadBalancer};
use ams_engine::{Declared, Input, Piece, Plan, Program};
use serde::Serialize;

use super::ports::{RTMPS_PORT, RTMP_PORT};
use crate::config::{Location, StackConfig};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        })
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub control: &'static str,
    pub severity: Severity,
    pub resource: String,
    pub message: String,
    /// The stack-file line that causes it, where one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Why it is accepted: by the stack file, or by design.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<String>,
}

impl Finding {
    /// Whether `up` must refuse because of it.
    pub fn blocks(&self) -> bool {
        self.severity >= Severity::High && self.accepted.is_none()
    }
}

/// Ports that must never be open to the world (Security Hub EC2.19's list, plus MongoDB).
const HIGH_RISK_PORTS: [i32; 14] = [
    20, 21, 22, 23, 25, 110, 135, 143, 445, 1433, 3306, 3389, 5000, 27017,
];
const WORLD: [&str; 2] = ["0.0.0.0/0", "::/0"];

fn covers(rule: &Rule, port: i32) -> bool {
    rule.from_port <= port && port <= rule.to_port
}

fn at(config: &StackConfig, key: &str) -> Option<String> {
    config.lines.get(key).map(Location::to_string)
}

/// ams-stack's own control (Security Hub has none for MongoDB on EC2): MongoDB asks a password.
const MONGODB_AUTH: &str = "AMS.3";
/// ams-stack's own control (Security Hub has none; Prowler's `elbv2_nlb_tls_termination_enabled`):
/// the ingest load balancer takes RTMP in clear, stream keys included.
const PLAIN_RTMP: &str = "AMS.4";

/// What one check found, before the stack file's acceptances are applied.
type Found = (&'static str, Severity, String, Option<String>);

/// Every finding of `program`, accepted ones marked.
pub fn check(program: &Program, config: &StackConfig) -> Vec<Finding> {
    check_planned(program, None, config)
}

/// Every finding of what `plan` leaves in place: the program's arguments, except those a
/// resource keeps as the state holds them ([`Program::keep`]: an adopted MongoDB's disks and
/// address are what runs, not what a new one would get).
pub fn check_planned(program: &Program, plan: Option<&Plan>, config: &StackConfig) -> Vec<Finding> {
    let mut findings = Vec::new();
    for declared in program.resources() {
        let planned = plan
            .and_then(|p| p.steps.iter().find(|s| s.name == declared.name))
            .filter(|s| s.args.is_object());
        let resource = &Declared {
            args: planned.map_or_else(|| declared.args.clone(), |s| s.args.clone()),
            ..declared.clone()
        };
        let found = if let Some(mut group) = resource.view::<SecurityGroup>() {
            if resource.name == super::turn::SECURITY_GROUP {
                // TURN's listening port and relay range are open to the world by design.
                group
                    .ingress
                    .retain(|rule| !super::turn::is_open_by_design(rule));
            }
            security_group(&group, config)
        } else if let Some(instance) = resource.view::<Instance>() {
            machine(&instance.machine, false, config)
        } else if let Some(template) = resource.view::<LaunchTemplate>() {
            machine(&template.machine, true, config)
        } else if let Some(balancer) = resource.view::<LoadBalancer>() {
            load_balancer(&balancer, config)
        } else if let Some(listener) = resource.view::<Listener>() {
            self::listener(&listener, config)
        } else if let Some(subnet) = resource.view::<Subnet>() {
            self::subnet(&subnet)
        } else if resource.view::<Vpc>().is_some() {
            default_security_group(program)
        } else {
            Vec::new()
        };
        findings.extend(
            found
                .into_iter()
                .map(|(control, severity, message, location)| Finding {
                    control,
                    severity,
                    resource: resource.name.clone(),
                    message,
                    location,
                    accepted: None,
                }),
        );
    }
    if !config.mongodb.auth {
        findings.push(Finding {
            control: MONGODB_AUTH,
            severity: Severity::High,
            resource: super::MONGODB.into(),
            message: "MongoDB takes no password: anything that reaches port 27017 reads and writes every stream and setting".into(),
            location: at(config, "mongodb.auth"),
            accepted: None,
        });
    }
    for finding in &mut findings {
        if finding.control == MONGODB_AUTH
            && config.security.accept.iter().all(|c| c != MONGODB_AUTH)
        {
            finding.accepted = Some(
                "as found, adopted; only the nodes reach it. Turn auth on: docs/OPERATIONS.md, \"Turn MongoDB's auth on\"".into(),
            );
        } else if config.security.accept.iter().any(|c| c == finding.control) {
            let line =
                at(config, &format!("security.accept.{}", finding.control)).unwrap_or_default();
            finding.accepted = Some(format!("accepted by the stack file ({line})"));
        } else if let Some(line) = finding
            .location
            .as_ref()
            .filter(|l| finding.control.starts_with("ELB.") && l.contains("load_balancer."))
        {
            // A `[load_balancer]` setting the stack file turned off: the user's choice.
            finding.accepted = Some(format!("by the stack file's choice ({line})"));
        } else if finding.control == PLAIN_RTMP {
            finding.accepted = Some(match &finding.location {
                Some(line) => format!("by the stack file's choice ({line})"),
                // Plain RTMP is made only where the stack file writes it.
                None => "by the stack file's choice (`[ingest] rtmp_plain = true`)".into(),
            });
        } else if finding.control == "EC2.18" {
            finding.accepted = Some(
                "by design: players reach the load balancer on 5080/5443, encoders the ingest load balancer on RTMP 1935 and SRT 4200, and everyone the nodes on WebRTC UDP 50000-60000".into(),
            );
        } else if finding.control == "EC2.25" && finding.resource == super::turn::LAUNCH_TEMPLATE {
            finding.accepted = Some(
                "by design: a TURN relay is reached at a public address (it takes one of the stack's Elastic IPs at boot, its own until then)".into(),
            );
        } else if finding.control == "EC2.25" {
            finding.accepted = Some(
                "by design: players and publishers exchange WebRTC media with the nodes directly (UDP 50000-60000), which needs a public address on each node".into(),
            );
        } else if finding.control == "EC2.9" && config.mongodb.adopted {
            finding.accepted = Some(
                "as found, adopted: MongoDB keeps its subnet and address (moving it replaces it: docs/OPERATIONS.md); only the nodes reach its port".into(),
            );
        } else if finding.control == "EC2.9" {
            let line = at(config, "network.private_database").unwrap_or_default();
            finding.accepted = Some(format!(
                "accepted by the stack file: `[network] private_database = false` ({line}) keeps MongoDB in a public subnet"
            ));
        }
    }
    findings
}

/// Inbound rules open to the world: SSH (EC2.13), high-risk ports (EC2.19), anything but
/// single-port HTTP/HTTPS (EC2.18).
fn security_group(group: &SecurityGroup, config: &StackConfig) -> Vec<Found> {
    let mut found = Vec::new();
    for rule in &group.ingress {
        let Some(cidr) = rule.cidr.as_deref().filter(|c| WORLD.contains(c)) else {
            continue;
        };
        let tcp = rule.protocol == "tcp";
        if tcp && covers(rule, 22) {
            found.push((
                "EC2.13",
                Severity::High,
                format!("SSH (22) is open to {cidr}"),
                at(config, "network.admin_cidr"),
            ));
        } else if let Some(port) = HIGH_RISK_PORTS.iter().find(|p| tcp && covers(rule, **p)) {
            found.push((
                "EC2.19",
                Severity::Critical,
                format!("high-risk port {port} is open to {cidr}"),
                None,
            ));
        } else if !(tcp
            && (covers(rule, 80) || covers(rule, 443))
            && rule.from_port == rule.to_port)
        {
            found.push((
                "EC2.18",
                Severity::Medium,
                format!(
                    "{} {}-{} is open to {cidr}",
                    rule.protocol, rule.from_port, rule.to_port
                ),
                None,
            ));
        }
    }
    found
}

/// A subnet that gives every instance launched in it a public address (EC2.15): the nodes'
/// templates ask for one explicitly; nothing else needs one.
fn subnet(subnet: &Subnet) -> Vec<Found> {
    if !subnet.map_public_ip_on_launch {
        return Vec::new();
    }
    vec![(
        "EC2.15",
        Severity::Medium,
        "the subnet gives every instance launched in it a public address".into(),
        None,
    )]
}

/// A VPC the stack makes whose default security group keeps AWS's rules (EC2.2): anything
/// launched without a group would talk to everything else so launched.
fn default_security_group(program: &Program) -> Vec<Found> {
    if program
        .resources()
        .iter()
        .any(|r| r.view::<DefaultSecurityGroupRules>().is_some())
    {
        return Vec::new();
    }
    vec![(
        "EC2.2",
        Severity::Medium,
        "the VPC's default security group keeps AWS's rules (all traffic within the group, all outbound)".into(),
        None,
    )]
}

/// Deletion protection (ELB.6), invalid headers dropped (ELB.4), access logs (ELB.5), and for
/// the Network Load Balancer cross-zone balancing (AMS.2: Security Hub's ELB.9 covers Classic
/// Load Balancers only).
fn load_balancer(balancer: &LoadBalancer, config: &StackConfig) -> Vec<Found> {
    let mut found = Vec::new();
    if !balancer.deletion_protection {
        found.push((
            "ELB.6",
            Severity::Medium,
            "deletion protection is off: anyone with the rights can delete it outside ams-stack"
                .into(),
            at(config, "load_balancer.deletion_protection"),
        ));
    }
    if balancer.load_balancer_type == "network" {
        // Its access logs record TLS listeners only: it has one with RTMPS.
        if balancer.access_logs.is_none() && config.ingest.rtmp {
            found.push((
                "ELB.5",
                Severity::Medium,
                "no access logs: RTMPS connections to the ingest load balancer leave no record"
                    .into(),
                at(config, "load_balancer.access_log_days"),
            ));
        }
        if !balancer.cross_zone {
            found.push((
                "AMS.2",
                Severity::Medium,
                "cross-zone load balancing is off: a zone without origins drops what encoders send to it".into(),
                None,
            ));
        }
        return found;
    }
    if !balancer.drop_invalid_header_fields {
        found.push((
            "ELB.4",
            Severity::Medium,
            "requests with invalid HTTP headers reach the nodes".into(),
            None,
        ));
    }
    if balancer.access_logs.is_none() {
        found.push((
            "ELB.5",
            Severity::Medium,
            "no access logs: requests to the load balancer leave no record".into(),
            at(config, "load_balancer.access_log_days"),
        ));
    }
    found
}

/// Plain HTTP forwarded in clear (ELB.1); plain RTMP (AMS.4); an HTTPS or TLS listener whose
/// TLS policy lacks what the default has (ELB.17: TLS 1.2 or newer; also post-quantum key
/// exchange and FIPS).
fn listener(listener: &Listener, config: &StackConfig) -> Vec<Found> {
    let mut found = Vec::new();
    if listener.protocol == "HTTP" && listener.target_group_arn.is_some() {
        found.push((
            "ELB.1",
            Severity::Medium,
            format!(
                "HTTP {} forwards in clear instead of redirecting to HTTPS",
                listener.port
            ),
            at(config, "load_balancer.plain_http"),
        ));
    }
    if listener.protocol == "TCP" && listener.port == RTMP_PORT {
        found.push((
            PLAIN_RTMP,
            Severity::Medium,
            format!(
                "TCP {} takes plain RTMP: stream keys and media cross the internet in clear (RTMPS on {RTMPS_PORT} encrypts them)",
                listener.port
            ),
            at(config, "ingest.rtmp_plain"),
        ));
    }
    if let Some(name) = &listener.ssl_policy {
        let weaknesses = tls_policy(name).map_or_else(
            || vec!["not a known ELB security policy"],
            |policy| policy.weaknesses(),
        );
        if !weaknesses.is_empty() {
            found.push((
                "ELB.17",
                Severity::Medium,
                format!(
                    "{} {} uses {name}: {}",
                    listener.protocol,
                    listener.port,
                    weaknesses.join(", ")
                ),
                at(config, "load_balancer.tls_policy"),
            ));
        }
    }
    found
}

/// IMDSv2 (EC2.8 / EC2.170), encrypted root volumes (EC2.3 / EC2.181), no secret in user data,
/// public addresses (EC2.9 on an instance, EC2.25 on a launch template).
fn machine(machine: &Machine, template: bool, config: &StackConfig) -> Vec<Found> {
    let mut found = Vec::new();
    if machine.public_ip == Some(true) {
        found.push(if template {
            (
                "EC2.25",
                Severity::High,
                "the launch template gives its instances a public address".into(),
                None,
            )
        } else {
            (
                "EC2.9",
                Severity::Medium,
                "the instance has a public address (in a public subnet)".into(),
                at(config, "network.private_database"),
            )
        });
    }
    if machine.http_tokens != "required" {
        let control = if template { "EC2.170" } else { "EC2.8" };
        found.push((
            control,
            Severity::High,
            "instance metadata allows IMDSv1".into(),
            None,
        ));
    }
    if !machine.encrypted {
        let control = if template { "EC2.181" } else { "EC2.3" };
        found.push((
            control,
            Severity::Medium,
            "the root volume is not encrypted".into(),
            None,
        ));
    }
    if let Some(secret) = secret_in(&literal_text(&machine.user_data)) {
        found.push((
            "AMS.1",
            Severity::High,
            format!("user data holds a secret in clear ({secret})"),
            None,
        ));
    }
    found
}

/// The literal text of a script, its references left out (each marked by a NUL).
fn literal_text(script: &Input<String>) -> String {
    match script {
        Input::Value(text) => text.clone(),
        Input::Concat(pieces) => pieces
            .iter()
            .map(|piece| match piece {
                Piece::Text(text) => text.as_str(),
                Piece::Output(_) => "\u{0}",
            })
            .collect(),
        Input::Output(_) => String::new(),
    }
}

/// A credential written literally into a script: `scheme://user:password@` whose password is not
/// a shell variable, or `password=...` with a literal value.
fn secret_in(text: &str) -> Option<&'static str> {
    for line in text.lines() {
        if let Some(rest) = line.split("://").nth(1) {
            if let Some((credentials, _)) = rest.split_once('@') {
                if let Some((_, password)) = credentials.split_once(':') {
                    if !password.is_empty() && !password.starts_with('$') {
                        return Some("a password in a connection URI");
                    }
                }
            }
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.split("password=").nth(1) {
            let value = value.trim_start_matches(['"', '\'']);
            if !value.is_empty() && !value.starts_with('$') {
                return Some("a password assignment");
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_passwords_are_found_and_variables_are_not() {
        assert!(secret_in("mongodb://antmedia:${PASSWORD}@10.0.0.5:27017").is_none());
        assert!(secret_in("x=\"mongodb://antmedia:hunter2@10.0.0.5:27017\"").is_some());
        assert!(secret_in("PASSWORD=hunter2").is_some());
        assert!(secret_in("PASSWORD=$(aws ssm get-parameter)").is_none());
    }
}
