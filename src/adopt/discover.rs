//! Discovery: the cluster behind a domain, found by following its traffic, read only.
//!
//! The record at the domain -> the load balancer it names -> its listeners, rules and
//! certificate -> the target groups they forward to -> the auto-scaling groups that feed them ->
//! their launch templates -> the MongoDB address their user data names -> the instance at that
//! private address -> its security groups and subnet. Names only describe: roles come from what
//! a resource does (the origin group is the one the publish port forwards to).

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_autoscaling::types::AutoScalingGroup;
use aws_sdk_ec2::types::{Filter, Instance};
use aws_sdk_elasticloadbalancingv2::types::{Action, Listener, LoadBalancer, Rule};
use aws_sdk_route53::types::ResourceRecordSet;
use base64::Engine as _;

use ams_aws::Aws;

use super::{Adoption, Facts, Found, NodeFacts};

/// The tag CloudFormation puts on everything a stack makes.
pub const CLOUDFORMATION_TAG: &str = "aws:cloudformation:stack-name";

/// Follows the traffic from `domain` in `region` to everything the cluster is made of.
pub async fn discover(aws: &Aws, domain: &str) -> Result<Adoption> {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let mut found = Vec::new();
    let (zone_id, zone_name, record) = record_at(aws, &domain).await?;
    let target = record_target(&record).ok_or_else(|| {
        anyhow!(
            "the record at {domain} is neither a CNAME nor an alias: no load balancer behind it"
        )
    })?;
    found.push(Found::new(
        "dns-record",
        format!("{zone_id}/{domain}./{}", record.r#type().as_str()),
        format!("{} record {domain}", record.r#type().as_str()),
        format!("in hosted zone {zone_name} ({zone_id}), pointing at {target}"),
    ));

    let alb = load_balancer_named(aws, &domain, &target).await?;
    let alb_arn = alb.load_balancer_arn().unwrap_or_default().to_string();
    found.push(Found::new(
        "load-balancer",
        alb_arn.clone(),
        format!(
            "load balancer {}",
            alb.load_balancer_name().unwrap_or_default()
        ),
        format!(
            "its DNS name {} is what {domain} points at",
            alb.dns_name().unwrap_or_default()
        ),
    ));
    let alb_sg = alb.security_groups().first().cloned();
    if let Some(group) = &alb_sg {
        found.push(Found::new(
            "load-balancer-sg",
            group.clone(),
            format!("security group {group}"),
            "the load balancer's security group".into(),
        ));
    }

    let listeners = aws
        .elbv2
        .describe_listeners()
        .load_balancer_arn(&alb_arn)
        .send()
        .await
        .context("elasticloadbalancing:DescribeListeners")?
        .listeners()
        .to_vec();
    let at = |port: i32| listeners.iter().find(|l| l.port() == Some(port));
    let origin_tg = [443, 80]
        .into_iter()
        .find_map(|port| at(port).and_then(forwards_to))
        .ok_or_else(|| {
            anyhow!("the load balancer behind {domain} forwards neither 443 nor 80 to a target group: no origin group to adopt")
        })?;
    let edge_tg = [5443, 5080]
        .into_iter()
        .find_map(|port| at(port).and_then(forwards_to))
        .ok_or_else(|| {
            anyhow!("the load balancer behind {domain} forwards neither 5443 nor 5080 to a target group: no edge group to adopt")
        })?;
    if origin_tg == edge_tg {
        bail!("the load balancer behind {domain} forwards publish (443) and play (5443) to the same target group {origin_tg}: ams-stack adopts an origin group and an edge group")
    }
    for (port, name, tls) in [
        (80, "listener-http-80", false),
        (443, "listener-https-443", true),
        (5080, "listener-http-5080", false),
        (5443, "listener-https-5443", true),
    ] {
        if let Some(listener) = at(port) {
            if tls && listener.protocol().map(|p| p.as_str()) != Some("HTTPS") {
                bail!(
                    "the load balancer's listener on {port} is {} (ams-stack's is HTTPS): change it by hand to HTTPS or remove it, then adopt",
                    listener.protocol().map(|p| p.as_str()).unwrap_or("of no protocol")
                );
            }
            found.push(Found::new(
                name,
                listener.listener_arn().unwrap_or_default().to_string(),
                format!("listener {port}"),
                listener_evidence(listener, &origin_tg, &edge_tg),
            ));
        }
    }

    // The certificate of the publish port, and ACM's validation of it.
    let certificate = at(443)
        .and_then(|l| l.certificates().first())
        .and_then(|c| c.certificate_arn())
        .map(String::from);
    let mut validation_record = None;
    if let Some(arn) = &certificate {
        let described = aws
            .acm
            .describe_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .context("acm:DescribeCertificate")?;
        let detail = described
            .certificate()
            .ok_or_else(|| anyhow!("ACM describes no certificate {arn}"))?;
        let covered = detail.domain_name().unwrap_or_default().to_string();
        if !covered.eq_ignore_ascii_case(&domain) {
            bail!("the certificate of listener 443 ({arn}) is for {covered}, not {domain}: ams-stack's is for the domain itself (a new one would be made and the listeners moved to it); adopt with the certificate for {domain} on 443")
        }
        found.push(Found::new(
            "certificate",
            arn.clone(),
            format!("certificate for {covered}"),
            "listener 443's certificate".into(),
        ));
        if detail.status().map(|s| s.as_str()) == Some("ISSUED") {
            found.push(Found::new(
                "certificate-validation",
                arn.clone(),
                "its validation".into(),
                "ACM says it is issued".into(),
            ));
        }
        validation_record = detail
            .domain_validation_options()
            .iter()
            .find_map(|o| o.resource_record())
            .map(|r| (r.name().to_string(), r.r#type().as_str().to_string()));
    }
    if let Some((name, kind)) = validation_record {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if record_exists(aws, &zone_id, &name, &kind).await? {
            found.push(Found::new(
                "certificate-validation-record",
                format!("{zone_id}/{name}./{kind}"),
                format!("{kind} record {name}"),
                "the certificate's DNS validation record, in the hosted zone".into(),
            ));
        }
    }

    // The two rules of Ant Media's template on 443: ?target=origin and ?target=edge.
    if let Some(listener) = at(443) {
        let rules = aws
            .elbv2
            .describe_rules()
            .listener_arn(listener.listener_arn().unwrap_or_default())
            .send()
            .await
            .context("elasticloadbalancing:DescribeRules")?
            .rules()
            .to_vec();
        for role in ["origin", "edge"] {
            let matching: Vec<&Rule> = rules
                .iter()
                .filter(|r| query_target(r).as_deref() == Some(role))
                .collect();
            match matching.as_slice() {
                [] => {}
                [rule] => found.push(Found::new(
                    &format!("listener-rule-443-{role}"),
                    rule.rule_arn().unwrap_or_default().to_string(),
                    format!("rule ?target={role} on 443"),
                    format!("priority {}", rule.priority().unwrap_or_default()),
                )),
                several => bail!(
                    "listener 443 has {} rules for ?target={role}: {}; keep one by hand, then adopt",
                    several.len(),
                    several
                        .iter()
                        .filter_map(|r| r.rule_arn())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
    }

    // The target groups, and the auto-scaling groups that feed them.
    let groups = all_groups(aws).await?;
    let mut nodes = BTreeMap::new();
    for (role, tg) in [("origin", &origin_tg), ("edge", &edge_tg)] {
        let described = aws
            .elbv2
            .describe_target_groups()
            .target_group_arns(tg.as_str())
            .send()
            .await
            .context("elasticloadbalancing:DescribeTargetGroups")?;
        let group_of_tg = described
            .target_groups()
            .first()
            .ok_or_else(|| anyhow!("no target group {tg}"))?;
        if group_of_tg.port() != Some(5080)
            || group_of_tg.protocol().map(|p| p.as_str()) != Some("HTTP")
        {
            bail!(
                "the {role} target group {tg} is {} {}: ams-stack's are HTTP 5080, and changing that replaces it",
                group_of_tg.protocol().map(|p| p.as_str()).unwrap_or("?"),
                group_of_tg.port().unwrap_or_default()
            )
        }
        found.push(Found::new(
            &format!("{role}-target-group"),
            tg.clone(),
            format!(
                "target group {}",
                group_of_tg.target_group_name().unwrap_or_default()
            ),
            format!(
                "{} forwards to it",
                if role == "origin" {
                    "publish (443)"
                } else {
                    "play (5443)"
                }
            ),
        ));
        let feeding: Vec<&AutoScalingGroup> = groups
            .iter()
            .filter(|g| g.target_group_arns().iter().any(|a| a == tg))
            .collect();
        let group = match feeding.as_slice() {
            [group] => *group,
            [] => bail!("no auto-scaling group feeds the {role} target group {tg}: ams-stack adopts a cluster whose nodes are in auto-scaling groups"),
            several => bail!(
                "{} auto-scaling groups feed the {role} target group {tg}: {}; ams-stack adopts one per role",
                several.len(),
                several
                    .iter()
                    .map(|g| g.auto_scaling_group_name().unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        };
        nodes.insert(role, group_facts(aws, role, group, &mut found).await?);
    }
    let origin = nodes.remove("origin").ok_or_else(|| anyhow!("no origin"))?;
    let edge = nodes.remove("edge").ok_or_else(|| anyhow!("no edge"))?;

    // MongoDB: the instance at the private address the user data names.
    let address = &origin.mongodb_host;
    if edge.mongodb_host != *address {
        bail!(
            "the origin and edge launch templates name two MongoDB addresses ({address} and {}): ams-stack adopts one MongoDB",
            edge.mongodb_host
        )
    }
    let mongodb = instance_at(aws, address).await?;
    let mongodb_id = mongodb.instance_id().unwrap_or_default().to_string();
    found.push(Found::new(
        "mongodb",
        mongodb_id.clone(),
        format!("instance {mongodb_id}"),
        format!(
            "its private address {address} is the one the launch templates' user data names ({})",
            origin.mongodb_evidence
        ),
    ));
    let mongodb_sg = mongodb
        .security_groups()
        .first()
        .and_then(|g| g.group_id())
        .map(String::from);
    if let Some(group) = &mongodb_sg {
        found.push(Found::new(
            "mongodb-sg",
            group.clone(),
            format!("security group {group}"),
            "MongoDB's security group".into(),
        ));
    }
    let nodes_sg = origin.security_group.clone();
    if let Some(group) = &nodes_sg {
        found.push(Found::new(
            "nodes-sg",
            group.clone(),
            format!("security group {group}"),
            "the origin launch template's security group".into(),
        ));
    }
    let mut left = Vec::new();
    if edge.security_group != nodes_sg {
        if let Some(group) = &edge.security_group {
            left.push(format!(
                "security group {group} of the edge launch template: not adopted (the edges move to the origins' group, {})",
                nodes_sg.as_deref().unwrap_or("none")
            ));
        }
    }
    for (a, b, what) in [
        (&alb_sg, &nodes_sg, "the load balancer and the nodes"),
        (&alb_sg, &mongodb_sg, "the load balancer and MongoDB"),
        (&nodes_sg, &mongodb_sg, "the nodes and MongoDB"),
    ] {
        if let (Some(a), Some(b)) = (a, b) {
            if a == b {
                bail!("{what} share security group {a}: ams-stack gives each its own; give them their own groups by hand, then adopt")
            }
        }
    }

    // The network: the VPC of the load balancer, the nodes' subnet first.
    let vpc_id = alb.vpc_id().unwrap_or_default().to_string();
    let mut subnets: Vec<(String, String)> = alb
        .availability_zones()
        .iter()
        .filter_map(|z| Some((z.subnet_id()?.to_string(), z.zone_name()?.to_string())))
        .collect();
    let nodes_subnet = origin.subnet.clone();
    if edge.subnet != nodes_subnet {
        bail!(
            "the origin and edge groups are in different subnets ({} and {}): ams-stack keeps both in one",
            nodes_subnet,
            edge.subnet
        )
    }
    match subnets.iter().position(|(s, _)| *s == nodes_subnet) {
        Some(index) => subnets.swap(0, index),
        None => bail!("the groups' subnet {nodes_subnet} is not one of the load balancer's ({}): ams-stack puts the nodes in the load balancer's first zone", subnets.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>().join(", ")),
    }
    let mongodb_subnet = mongodb.subnet_id().unwrap_or_default().to_string();
    let tags = |what: &str, pairs: Vec<(String, String)>| (what.to_string(), pairs);
    let mut tagged = vec![tags(
        &format!("instance {mongodb_id} (MongoDB)"),
        mongodb
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().into(),
                    t.value().unwrap_or_default().into(),
                )
            })
            .collect(),
    )];
    tagged.extend(origin.tags.clone());
    tagged.extend(edge.tags.clone());
    tagged.push(tags(
        &format!(
            "load balancer {}",
            alb.load_balancer_name().unwrap_or_default()
        ),
        elb_tags(aws, &alb_arn).await?,
    ));
    let public_mongodb = mongodb.public_ip_address().is_some();
    let root_gib = root_volume_gib(aws, &mongodb).await?;
    Ok(Adoption {
        found,
        left,
        tagged,
        facts: Facts {
            domain,
            hosted_zone: zone_name.trim_end_matches('.').to_string(),
            vpc_id,
            subnet_ids: subnets.iter().map(|(s, _)| s.clone()).collect(),
            availability_zones: subnets.iter().map(|(_, z)| z.clone()).collect(),
            mongodb_subnet,
            mongodb: NodeFacts {
                instance_type: mongodb
                    .instance_type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                ami: mongodb.image_id().unwrap_or_default().to_string(),
                key_name: mongodb.key_name().map(String::from),
                root_volume_gib: root_gib,
                min_size: 0,
                max_size: 0,
                cpu_target: None,
            },
            public_mongodb,
            mongodb_auth: origin.mongodb_auth,
            origin: origin.facts,
            edge: edge.facts,
        },
    })
}

/// The record at `domain`, in the public hosted zone with the longest name it ends with.
async fn record_at(aws: &Aws, domain: &str) -> Result<(String, String, ResourceRecordSet)> {
    let zones = aws
        .route53
        .list_hosted_zones()
        .send()
        .await
        .context("route53:ListHostedZones")?;
    let zone = zones
        .hosted_zones()
        .iter()
        .filter(|z| !z.config().is_some_and(|c| c.private_zone()))
        .filter(|z| {
            let name = z.name().trim_end_matches('.').to_ascii_lowercase();
            domain == name || domain.ends_with(&format!(".{name}"))
        })
        .max_by_key(|z| z.name().len())
        .ok_or_else(|| {
            anyhow!("no public hosted zone holds {domain}: nothing to follow from it")
        })?;
    let zone_id = zone.id().trim_start_matches("/hostedzone/").to_string();
    let wanted = format!("{domain}.");
    let listed = aws
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .start_record_name(&wanted)
        .send()
        .await
        .context("route53:ListResourceRecordSets")?;
    let at_domain: Vec<&ResourceRecordSet> = listed
        .resource_record_sets()
        .iter()
        .filter(|r| r.name().eq_ignore_ascii_case(&wanted))
        .filter(|r| matches!(r.r#type().as_str(), "CNAME" | "A" | "AAAA"))
        .filter(|r| r.r#type().as_str() == "CNAME" || r.alias_target().is_some())
        .collect();
    match at_domain.as_slice() {
        [] => bail!(
            "no record at {domain} in hosted zone {} ({zone_id}) points at a load balancer: nothing to adopt (is the domain right?)",
            zone.name()
        ),
        [record] => Ok((zone_id, zone.name().to_string(), (*record).clone())),
        several => {
            // An alias A and its AAAA twin name the same load balancer: take the A.
            let a = several.iter().find(|r| r.r#type().as_str() == "A");
            let cname = several.iter().find(|r| r.r#type().as_str() == "CNAME");
            Ok((
                zone_id,
                zone.name().to_string(),
                (*cname.or(a).unwrap_or(&several[0])).clone(),
            ))
        }
    }
}

/// Whether the zone holds a record `name` of type `kind`.
async fn record_exists(aws: &Aws, zone_id: &str, name: &str, kind: &str) -> Result<bool> {
    let wanted = format!("{name}.");
    let listed = aws
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(zone_id)
        .start_record_name(&wanted)
        .send()
        .await
        .context("route53:ListResourceRecordSets")?;
    Ok(listed
        .resource_record_sets()
        .iter()
        .any(|r| r.name().eq_ignore_ascii_case(&wanted) && r.r#type().as_str() == kind))
}

/// The DNS name a record points at: a CNAME's value, or an alias's target.
fn record_target(record: &ResourceRecordSet) -> Option<String> {
    let name = match record.alias_target() {
        Some(alias) => alias.dns_name().to_string(),
        None => record.resource_records().first()?.value().to_string(),
    };
    Some(name.trim_end_matches('.').to_ascii_lowercase())
}

/// The load balancer whose DNS name is `target` (an alias may add `dualstack.`).
async fn load_balancer_named(aws: &Aws, domain: &str, target: &str) -> Result<LoadBalancer> {
    let target = target.trim_start_matches("dualstack.");
    let mut pages = aws.elbv2.describe_load_balancers().into_paginator().send();
    let mut matching = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.context("elasticloadbalancing:DescribeLoadBalancers")?;
        matching.extend(
            page.load_balancers()
                .iter()
                .filter(|lb| {
                    lb.dns_name()
                        .is_some_and(|d| d.trim_end_matches('.').eq_ignore_ascii_case(target))
                })
                .cloned(),
        );
    }
    match matching.as_slice() {
        [lb] if lb.r#type().map(|t| t.as_str()) == Some("application") => Ok(lb.clone()),
        [lb] => bail!(
            "{domain} points at {target}, a {} load balancer: ams-stack adopts a cluster behind an Application Load Balancer",
            lb.r#type().map(|t| t.as_str()).unwrap_or("non-application")
        ),
        [] => bail!("{domain} points at {target}, which is no load balancer in this region: nothing to adopt (is the region right?)"),
        several => bail!(
            "{domain} points at {target}, the DNS name of {} load balancers: {}",
            several.len(),
            several
                .iter()
                .filter_map(|l| l.load_balancer_arn())
                .collect::<Vec<_>>()
                .join(" and ")
        ),
    }
}

/// The target group a listener's default action forwards to.
fn forwards_to(listener: &Listener) -> Option<String> {
    listener.default_actions().first().and_then(action_target)
}

fn action_target(action: &Action) -> Option<String> {
    action.target_group_arn().map(String::from).or_else(|| {
        action
            .forward_config()
            .and_then(|f| f.target_groups().first())
            .and_then(|t| t.target_group_arn())
            .map(String::from)
    })
}

/// What a listener does, for people: where it forwards or redirects.
fn listener_evidence(listener: &Listener, origin: &str, edge: &str) -> String {
    let protocol = listener.protocol().map(|p| p.as_str()).unwrap_or("?");
    match forwards_to(listener) {
        Some(tg) if tg == origin => format!("{protocol}, forwards to the origin target group"),
        Some(tg) if tg == edge => format!("{protocol}, forwards to the edge target group"),
        Some(tg) => format!("{protocol}, forwards to {tg}"),
        None => format!(
            "{protocol}, {}",
            listener
                .default_actions()
                .first()
                .and_then(|a| a.r#type())
                .map_or("no action".to_string(), |t| format!(
                    "{} action",
                    t.as_str()
                ))
        ),
    }
}

/// The value of a rule's `target` query-string condition.
fn query_target(rule: &Rule) -> Option<String> {
    rule.conditions()
        .iter()
        .filter_map(|c| c.query_string_config())
        .flat_map(|q| q.values())
        .find(|v| v.key() == Some("target"))
        .and_then(|v| v.value())
        .map(String::from)
}

/// Every auto-scaling group of the region.
async fn all_groups(aws: &Aws) -> Result<Vec<AutoScalingGroup>> {
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
struct GroupFacts {
    facts: NodeFacts,
    mongodb_host: String,
    mongodb_evidence: String,
    mongodb_auth: bool,
    security_group: Option<String>,
    subnet: String,
    tags: Vec<(String, Vec<(String, String)>)>,
}

async fn group_facts(
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
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
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
                "target tracking of group {name}'s average CPU at {}%",
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

/// The running instance whose private address is `address`.
async fn instance_at(aws: &Aws, address: &str) -> Result<Instance> {
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
async fn root_volume_gib(aws: &Aws, instance: &Instance) -> Result<Option<i32>> {
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

/// The tags of an Elastic Load Balancing resource.
async fn elb_tags(aws: &Aws, arn: &str) -> Result<Vec<(String, String)>> {
    let described = aws
        .elbv2
        .describe_tags()
        .resource_arns(arn)
        .send()
        .await
        .context("elasticloadbalancing:DescribeTags")?;
    Ok(described
        .tag_descriptions()
        .iter()
        .flat_map(|d| d.tags())
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect())
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
