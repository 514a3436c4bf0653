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
use aws_sdk_elasticloadbalancingv2::types::{Action, Listener, LoadBalancer, Rule};

use ams_aws::Aws;

use super::dns::{record_at, record_exists, record_target};
use super::nodes::{all_groups, group_facts, instance_at, root_volume_gib};
use super::{Adoption, Facts, Found, NodeFacts};

/// The name in the state of the edge template's own security group, which the first `up`
/// deletes once the edges moved to the nodes' group.
const EDGE_SG: &str = "edge-nodes-sg";

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
        format!("it is in hosted zone {zone_name} ({zone_id}) and points at {target}"),
    ));

    let alb = load_balancer_named(aws, &domain, &target).await?;
    let alb_arn = alb.load_balancer_arn().unwrap_or_default().to_string();
    // Who owns the load balancer is the first thing to know: nothing else matters if another
    // stack does.
    let alb_tags = vec![(
        format!(
            "load balancer {}",
            alb.load_balancer_name().unwrap_or_default()
        ),
        elb_tags(aws, &alb_arn).await?,
    )];
    super::refuse_owned_of(aws, &alb_tags).await?;
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
            "the load balancer is in it".into(),
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
    let mut certificate_domain = None;
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
        let covered = detail
            .domain_name()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let wildcard_over = covered
            .strip_prefix("*.")
            .and_then(|parent| domain.strip_suffix(parent))
            .and_then(|label| label.strip_suffix('.'))
            .is_some_and(|label| !label.is_empty() && !label.contains('.'));
        if covered != domain && !wildcard_over {
            bail!("the certificate of listener 443 ({arn}) is for {covered}, which does not cover {domain}: ams-stack would make a new one and move the listeners to it; put a certificate for {domain} on 443 by hand, then adopt")
        }
        certificate_domain = Some(covered.clone());
        found.push(Found::new(
            "certificate",
            arn.clone(),
            format!("certificate for {covered}"),
            "listener 443 serves it".into(),
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
                "it is the certificate's DNS validation record, in the hosted zone".into(),
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
                    format!("listener 443 sends ?target={role} by it (priority {})", rule.priority().unwrap_or_default()),
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
            "MongoDB's instance is in it".into(),
        ));
    }
    let nodes_sg = origin.security_group.clone();
    if let Some(group) = &nodes_sg {
        found.push(Found::new(
            "nodes-sg",
            group.clone(),
            format!("security group {group}"),
            "the origin launch template puts its nodes in it".into(),
        ));
    }
    let left = Vec::new();
    let mut retiring = Vec::new();
    let mut retired = Vec::new();
    if let (Some(group), Some(nodes)) = (&edge.security_group, &nodes_sg) {
        // The console makes a group per launch template: the edges move to the origins' group
        // (ams-stack's one nodes group), and theirs goes once no instance is in it.
        if group != nodes {
            retiring.push(Found::new(
                EDGE_SG,
                group.clone(),
                format!("security group {group}"),
                format!("the edge launch template puts its nodes in it; they move to {nodes} (nodes-sg) and it is deleted after their roll"),
            ));
            retired.push(ams_engine::Retired {
                name: EDGE_SG.into(),
                type_name: "aws:ec2:SecurityGroup".into(),
                id: group.clone(),
                inputs: serde_json::json!({
                    "vpc_id": alb.vpc_id().unwrap_or_default(),
                    "description": "",
                    "ingress": [],
                }),
            });
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
    tagged.extend(alb_tags);
    let public_mongodb = mongodb.public_ip_address().is_some();
    let root_gib = root_volume_gib(aws, &mongodb).await?;
    Ok(Adoption {
        found,
        left,
        retiring,
        retired,
        tagged,
        facts: Facts {
            certificate_domain: certificate_domain.filter(|c| *c != domain),
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
        Some(tg) if tg == origin => format!("it forwards {protocol} to the origin target group"),
        Some(tg) if tg == edge => format!("it forwards {protocol} to the edge target group"),
        Some(tg) => format!("it forwards {protocol} to {tg}"),
        None => format!(
            "it answers {protocol} with {}",
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
