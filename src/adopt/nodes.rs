//! The node end of the traffic: the groups that feed the target groups, their launch templates,
//! and the MongoDB instance the templates' user data names.

use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_autoscaling::types::AutoScalingGroup;
use aws_sdk_ec2::types::{Filter, Instance};
use base64::Engine as _;

use ams_aws::Aws;

use super::{Found, NodeFacts};

/// Every auto-scaling group of the region.
pub(super) async fn all_groups(aws: &Aws) -> Result<Vec<AutoScalingGroup>> {
    let mut pages = aws
        .autoscaling
        .describe_auto_scaling_groups()
        .into_paginator()
        .send();
    let mut groups = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.context("autoscaling:DescribeAutoScalingGroups")?;
        groups.extend(page.auto_scaling_groups().iter().cloned());
    }
    Ok(groups)
}

/// What a role's group tells: its sizes and CPU target, and through its launch template the
/// machine and MongoDB's address.
pub(super) struct GroupFacts {
    pub(super) facts: NodeFacts,
    pub(super) mongodb_host: String,
    pub(super) mongodb_evidence: String,
    pub(super) mongodb_auth: bool,
    pub(super) security_group: Option<String>,
    pub(super) subnet: String,
    pub(super) tags: Vec<(String, Vec<(String, String)>)>,
}

pub(super) async fn group_facts(
    aws: &Aws,
    role: &str,
    group: &AutoScalingGroup,
    found: &mut Vec<Found>,
) -> Result<GroupFacts> {
    let name = group
        .auto_scaling_group_name()
        .unwrap_or_default()
        .to_string();
    found.push(Found::new(
        &format!("{role}-group"),
        name.clone(),
        format!("auto-scaling group {name}"),
        format!("it lists the {role} target group"),
    ));
    let template = group
        .launch_template()
        .or_else(|| {
            group
                .mixed_instances_policy()
                .and_then(|m| m.launch_template())
                .and_then(|l| l.launch_template_specification())
        })
        .ok_or_else(|| anyhow!("auto-scaling group {name} has no launch template (a launch configuration?): ams-stack adopts groups made from launch templates"))?;
    let template_id = match template.launch_template_id() {
        Some(id) => id.to_string(),
        None => {
            let by_name = template.launch_template_name().unwrap_or_default();
            aws.ec2
                .describe_launch_templates()
                .launch_template_names(by_name)
                .send()
                .await
                .context("ec2:DescribeLaunchTemplates")?
                .launch_templates()
                .first()
                .and_then(|t| t.launch_template_id())
                .map(String::from)
                .ok_or_else(|| anyhow!("no launch template {by_name}"))?
        }
    };
    let version = template.version().unwrap_or("$Default").to_string();
    let versions = aws
        .ec2
        .describe_launch_template_versions()
        .launch_template_id(&template_id)
        .versions(&version)
        .send()
        .await
        .context("ec2:DescribeLaunchTemplateVersions")?;
    let data = versions
        .launch_template_versions()
        .first()
        .and_then(|v| v.launch_template_data())
        .ok_or_else(|| anyhow!("launch template {template_id} has no version {version}"))?;
    found.push(Found::new(
        &format!("{role}-launch-template"),
        template_id.clone(),
        format!("launch template {template_id}"),
        format!("group {name} launches its version {version}"),
    ));
    let user_data = data
        .user_data()
        .and_then(|u| base64::engine::general_purpose::STANDARD.decode(u).ok())
        .map(|bytes| text_of(&bytes))
        .unwrap_or_default();
    let (mongodb_host, line, auth) = mongodb_in_user_data(&user_data).ok_or_else(|| {
        anyhow!("the user data of launch template {template_id} ({role}) names no MongoDB: no `change_server_mode.sh cluster ADDRESS` line")
    })?;
    let policies = aws
        .autoscaling
        .describe_policies()
        .auto_scaling_group_name(&name)
        .send()
        .await
        .context("autoscaling:DescribePolicies")?;
    let cpu = policies.scaling_policies().iter().find(|p| {
        p.target_tracking_configuration()
            .and_then(|t| t.predefined_metric_specification())
            .is_some_and(|m| {
                m.predefined_metric_type().map(|t| t.as_str()) == Some("ASGAverageCPUUtilization")
            })
    });
    let cpu_target = cpu
        .and_then(|p| p.target_tracking_configuration())
        .and_then(|t| t.target_value());
    if let Some(policy) = cpu {
        found.push(Found::new(
            &format!("{role}-cpu-policy"),
            policy.policy_arn().unwrap_or_default().to_string(),
            format!(
                "scaling policy {}",
                policy.policy_name().unwrap_or_default()
            ),
            format!(
                "it tracks group {name}'s average CPU at {}%",
                cpu_target.unwrap_or_default()
            ),
        ));
    }
    let root_volume_gib = data
        .block_device_mappings()
        .first()
        .and_then(|m| m.ebs())
        .and_then(|e| e.volume_size());
    let subnet = group
        .vpc_zone_identifier()
        .unwrap_or_default()
        .split(',')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let security_group = data.security_group_ids().first().cloned().or_else(|| {
        data.network_interfaces()
            .first()
            .and_then(|n| n.groups().first().cloned())
    });
    let group_tags = group
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().into(),
                t.value().unwrap_or_default().into(),
            )
        })
        .collect();
    Ok(GroupFacts {
        facts: NodeFacts {
            instance_type: data
                .instance_type()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            ami: data.image_id().unwrap_or_default().to_string(),
            key_name: data.key_name().map(String::from),
            root_volume_gib,
            min_size: group.min_size().unwrap_or(1),
            max_size: group.max_size().unwrap_or(1),
            cpu_target,
        },
        mongodb_host,
        mongodb_evidence: format!("launch template {template_id}: `{line}`"),
        mongodb_auth: auth,
        security_group,
        subnet,
        tags: vec![(format!("auto-scaling group {name}"), group_tags)],
    })
}

/// The MongoDB host a node's user data names, the line that names it (any password hidden),
/// and whether it logs in: `change_server_mode.sh cluster ADDRESS` with a bare address or a
/// `mongodb://` URI.
pub fn mongodb_in_user_data(user_data: &str) -> Option<(String, String, bool)> {
    for line in user_data.lines() {
        let Some(after) = line.split("change_server_mode.sh").nth(1) else {
            continue;
        };
        let mut words = after.split_whitespace();
        if words.next() != Some("cluster") {
            continue;
        }
        let address = words.next()?.trim_matches(|c| c == '"' || c == '\'');
        let (host, auth, shown) = match address.strip_prefix("mongodb://") {
            Some(rest) => {
                let (credentials, at) = match rest.rsplit_once('@') {
                    Some((credentials, at)) => (Some(credentials), at),
                    None => (None, rest),
                };
                let host = at.split(['/', '?', ',']).next()?;
                let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
                let shown = match credentials {
                    Some(c) => line.replace(c, "USER:[secret]"),
                    None => line.to_string(),
                };
                (host.to_string(), credentials.is_some(), shown)
            }
            None => {
                let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
                (host.to_string(), false, line.to_string())
            }
        };
        if host.is_empty() {
            return None;
        }
        return Some((host, shown.trim().to_string(), auth));
    }
    None
}

/// User data as text: gzip-compressed where it was (cloud-init unpacks it; ams-stack packs a
/// script over EC2's limit so).
fn text_of(bytes: &[u8]) -> String {
    use std::io::Read as _;
    let mut text = String::new();
    if bytes.starts_with(&[0x1f, 0x8b])
        && flate2::read::GzDecoder::new(bytes)
            .read_to_string(&mut text)
            .is_ok()
    {
        return text;
    }
    String::from_utf8_lossy(bytes).into_owned()
}

/// The running instance whose private address is `address`.
pub(super) async fn instance_at(aws: &Aws, address: &str) -> Result<Instance> {
    let described = aws
        .ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("private-ip-address")
                .values(address)
                .build(),
        )
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .values("running")
                .values("stopped")
                .build(),
        )
        .send()
        .await
        .context("ec2:DescribeInstances")?;
    let instances: Vec<&Instance> = described
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .collect();
    match instances.as_slice() {
        [instance] => Ok((*instance).clone()),
        [] => bail!("no instance has the private address {address} that the launch templates name as MongoDB's"),
        several => bail!(
            "{} instances have the private address {address}: {}",
            several.len(),
            several
                .iter()
                .filter_map(|i| i.instance_id())
                .collect::<Vec<_>>()
                .join(" and ")
        ),
    }
}

/// The size of an instance's root volume.
pub(super) async fn root_volume_gib(aws: &Aws, instance: &Instance) -> Result<Option<i32>> {
    let root = instance.root_device_name().unwrap_or("/dev/sda1");
    let Some(volume) = instance
        .block_device_mappings()
        .iter()
        .find(|m| m.device_name() == Some(root))
        .and_then(|m| m.ebs())
        .and_then(|e| e.volume_id())
    else {
        return Ok(None);
    };
    let described = aws
        .ec2
        .describe_volumes()
        .volume_ids(volume)
        .send()
        .await
        .context("ec2:DescribeVolumes")?;
    Ok(described.volumes().first().and_then(|v| v.size()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guide_s_bare_address_and_a_uri_both_name_mongodb() {
        let guide =
            "#!/bin/bash\ncd /usr/local/antmedia\n./change_server_mode.sh cluster 172.31.5.9\n";
        assert_eq!(
            mongodb_in_user_data(guide),
            Some((
                "172.31.5.9".into(),
                "./change_server_mode.sh cluster 172.31.5.9".into(),
                false
            ))
        );
        let uri = "sudo ./change_server_mode.sh cluster \"mongodb://10.0.1.4:27017/\"";
        assert_eq!(
            mongodb_in_user_data(uri).map(|m| (m.0, m.2)),
            Some(("10.0.1.4".into(), false))
        );
        let with_password =
            "./change_server_mode.sh cluster mongodb://antmedia:s3cret@10.0.1.4:27017/?authSource=admin";
        let (host, line, auth) = mongodb_in_user_data(with_password).expect("named");
        assert_eq!((host.as_str(), auth), ("10.0.1.4", true));
        assert!(!line.contains("s3cret"), "{line}");
    }

    #[test]
    fn user_data_without_the_mode_change_names_nothing() {
        assert_eq!(mongodb_in_user_data("#!/bin/bash\necho hello\n"), None);
        assert_eq!(
            mongodb_in_user_data("./change_server_mode.sh standalone"),
            None
        );
    }
}
