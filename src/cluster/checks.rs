//! Security checks on the program, before anything is applied.
//!
//! Each finding names its AWS Security Hub control, its severity and the stack-file line that
//! causes it. `up` refuses a high or critical finding unless the stack file accepts its control
//! (`[security] accept = ["EC2.13"]`). Some findings are inherent to a streaming cluster (the
//! play ports and WebRTC media must be reachable by everyone): those are accepted by design,
//! with the reason, and still shown.

use std::fmt;

use serde::Serialize;
use serde_json::Value as Json;

use crate::config::{Location, StackConfig};
use crate::engine::Program;

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
const HIGH_RISK_PORTS: [i64; 14] = [
    20, 21, 22, 23, 25, 110, 135, 143, 445, 1433, 3306, 3389, 5000, 27017,
];
const WORLD: [&str; 2] = ["0.0.0.0/0", "::/0"];

fn covers(rule: &Json, port: i64) -> bool {
    let from = rule.get("from_port").and_then(Json::as_i64).unwrap_or(-1);
    let to = rule.get("to_port").and_then(Json::as_i64).unwrap_or(-1);
    from <= port && port <= to
}

fn at(config: &StackConfig, key: &str) -> Option<String> {
    config.lines.get(key).map(Location::to_string)
}

/// Every finding of `program`, accepted ones marked.
pub fn check(program: &Program, config: &StackConfig) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut add = |control, severity, resource: &str, message: String, location: Option<String>| {
        findings.push(Finding {
            control,
            severity,
            resource: resource.to_string(),
            message,
            location,
            accepted: None,
        });
    };
    for resource in program.resources() {
        let args = &resource.args;
        match resource.type_name.as_str() {
            "aws:ec2:SecurityGroup" => {
                for rule in args
                    .get("ingress")
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten()
                {
                    let Some(cidr) = rule
                        .get("cidr")
                        .and_then(Json::as_str)
                        .filter(|c| WORLD.contains(c))
                    else {
                        continue;
                    };
                    let protocol = rule.get("protocol").and_then(Json::as_str).unwrap_or("tcp");
                    let ports = format!(
                        "{protocol} {}-{}",
                        rule.get("from_port").and_then(Json::as_i64).unwrap_or(0),
                        rule.get("to_port").and_then(Json::as_i64).unwrap_or(0)
                    );
                    if protocol == "tcp" && covers(rule, 22) {
                        add(
                            "EC2.13",
                            Severity::High,
                            &resource.name,
                            format!("SSH (22) is open to {cidr}"),
                            at(config, "network.admin_cidr"),
                        );
                    } else if let Some(port) = HIGH_RISK_PORTS
                        .iter()
                        .find(|p| protocol == "tcp" && covers(rule, **p))
                    {
                        add(
                            "EC2.19",
                            Severity::Critical,
                            &resource.name,
                            format!("high-risk port {port} is open to {cidr}"),
                            None,
                        );
                    } else if !(protocol == "tcp"
                        && (covers(rule, 80) || covers(rule, 443))
                        && rule["from_port"] == rule["to_port"])
                    {
                        add(
                            "EC2.18",
                            Severity::Medium,
                            &resource.name,
                            format!("{ports} is open to {cidr}"),
                            None,
                        );
                    }
                }
            }
            kind @ ("aws:ec2:Instance" | "aws:ec2:LaunchTemplate") => {
                let template = kind == "aws:ec2:LaunchTemplate";
                if args.get("http_tokens").and_then(Json::as_str) != Some("required") {
                    let control = if template { "EC2.170" } else { "EC2.8" };
                    add(
                        control,
                        Severity::High,
                        &resource.name,
                        "instance metadata allows IMDSv1".into(),
                        None,
                    );
                }
                if args.get("encrypted").and_then(Json::as_bool) != Some(true) {
                    let control = if template { "EC2.181" } else { "EC2.3" };
                    add(
                        control,
                        Severity::Medium,
                        &resource.name,
                        "the root volume is not encrypted".into(),
                        None,
                    );
                }
                if let Some(secret) = secret_in(&args["user_data"]) {
                    add(
                        "AMS.1",
                        Severity::High,
                        &resource.name,
                        format!("user data holds a secret in clear ({secret})"),
                        None,
                    );
                }
            }
            _ => {}
        }
    }
    for finding in &mut findings {
        if config.security.accept.iter().any(|c| c == finding.control) {
            let line =
                at(config, &format!("security.accept.{}", finding.control)).unwrap_or_default();
            finding.accepted = Some(format!("accepted by the stack file ({line})"));
        } else if finding.control == "EC2.18" {
            finding.accepted = Some(
                "by design: players reach the load balancer on 5080/5443 and the nodes on WebRTC UDP 50000-60000".into(),
            );
        }
    }
    findings
}

/// A credential written literally into a script: `scheme://user:password@` whose password is not
/// a shell variable, or `password=...` with a literal value.
fn secret_in(user_data: &Json) -> Option<&'static str> {
    let text = match user_data {
        Json::String(text) => text.clone(),
        Json::Object(map) => map.get("$concat").map(|parts| {
            parts
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Json::as_str)
                .collect::<Vec<_>>()
                .join("\u{0}")
        })?,
        _ => return None,
    };
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
    use serde_json::json;

    use super::*;

    #[test]
    fn literal_passwords_are_found_and_variables_are_not() {
        assert!(secret_in(&json!("mongodb://antmedia:${PASSWORD}@10.0.0.5:27017")).is_none());
        assert!(secret_in(&json!("x=\"mongodb://antmedia:hunter2@10.0.0.5:27017\"")).is_some());
        assert!(secret_in(&json!("PASSWORD=hunter2")).is_some());
        assert!(secret_in(&json!("PASSWORD=$(aws ssm get-parameter)")).is_none());
    }
}
