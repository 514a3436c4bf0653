//! Checks made after planning and before anything is created: no record at the stack's names
//! belongs to someone else, every image the plan would launch can be launched by this account
//! (Marketplace terms accepted), and what a customer-managed EBS key asks of its policy.

use std::collections::BTreeSet;

use anyhow::Result;
use futures_util::future::join_all;

use ams_aws::ec2::{Instance, LaunchTemplate, Machine, Volume};
use ams_aws::iam::RoleOutputs;
use ams_aws::{lookup, Aws};
use ams_engine::state::State;
use ams_engine::{view, Input, Kind, Op, Plan, Program};

use crate::cluster;

/// A DNS record at one of the stack's names that this stack did not make (a user's record)
/// stops everything, naming the record and its value: it is never overwritten.
pub async fn foreign_records(aws: &Aws, program: &Program, state: &State) -> Result<()> {
    let conflicts = ams_aws::route53::conflicts(aws, program, state).await?;
    if conflicts.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = conflicts.iter().map(ToString::to_string).collect();
    anyhow::bail!("{}\n  (nothing was created)", lines.join("\n"))
}

/// The licence key's parameter (`[license] key_parameter`) is there, a SecureString: else
/// every new node would fail its boot on it and a roll stop. Said before anything changes.
pub async fn licence_parameter(aws: &Aws, config: &crate::config::StackConfig) -> Result<()> {
    let Some(name) = &config.node_settings.license_parameter else {
        return Ok(());
    };
    let at = config
        .lines
        .get("license.key_parameter")
        .map(|l| format!("{l}: "))
        .unwrap_or_default();
    let found = ams_aws::ssm::describe_parameter(aws, name).await?;
    let Some(found) = found else {
        anyhow::bail!(
            "{at}no SSM parameter {name} in {}: put the licence key there first (aws ssm put-parameter --type SecureString --name {name} --value ...); nothing was changed",
            config.region
        );
    };
    if found.kind != Some(ams_aws::ssm::ParameterType::SecureString) {
        anyhow::bail!(
            "{at}SSM parameter {name} is a {}: a licence key is kept as a SecureString (encrypted); nothing was changed",
            found.kind.as_ref().map_or("parameter of no type", |k| k.as_str())
        );
    }
    // The nodes' role may read the parameter, not decrypt with a key of the account's own.
    match found.key_id.as_deref() {
        None | Some("alias/aws/ssm") => Ok(()),
        Some(key) => anyhow::bail!(
            "{at}SSM parameter {name} is encrypted with KMS key {key}, which the nodes' role may not use: keep it under AWS's own key (aws/ssm, the default of put-parameter); nothing was changed"
        ),
    }
}

/// Every boot script the plan sends fits EC2's user-data limit (gzip-compressed when over, as
/// it is sent): what is known after apply counted at its placeholder's length. Over it, nothing
/// is created, and the message says by how much (a stack file with very many settings).
pub fn user_data_fits(plan: &Plan) -> Result<()> {
    for step in &plan.steps {
        if !matches!(step.op, Op::Create | Op::Replace | Op::Update) {
            continue;
        }
        let Some(user_data) = step.args.get("user_data") else {
            continue;
        };
        let text = user_data
            .as_str()
            .or_else(|| user_data["preview"].as_str())
            .unwrap_or_default();
        if let Err(e) = ams_aws::ec2::fitted_user_data(text) {
            anyhow::bail!(
                "{}: its boot script does not fit: {e} (fewer `[server]` or `[app.NAME]` settings in the stack file)",
                step.name
            );
        }
    }
    Ok(())
}

/// The images the plan launches (instances and templates it creates, replaces or changes),
/// each dry-run once; every refusal is reported, and nothing is created.
pub async fn images_launchable(aws: &Aws, plan: &Plan) -> Result<()> {
    let mut wanted = BTreeSet::new();
    for step in &plan.steps {
        if !matches!(step.op, Op::Create | Op::Replace | Op::Update) {
            continue;
        }
        let machine: Option<Machine> = view::<Instance>(&step.type_name, &step.args)
            .map(|instance| instance.machine)
            .or_else(|| view::<LaunchTemplate>(&step.type_name, &step.args).map(|t| t.machine));
        if let Some(Machine {
            image_id: Input::Value(image),
            instance_type,
            ..
        }) = machine
        {
            wanted.insert((image, instance_type));
        }
    }
    let checks = wanted
        .iter()
        .map(|(image, instance_type)| lookup::launchable(aws, image, instance_type));
    // A handful of dry runs, at once.
    let refusals: Vec<String> = join_all(checks)
        .await
        .into_iter()
        .filter_map(|result| result.err().map(|e| e.to_string()))
        .collect();
    if refusals.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{}", refusals.join("\n"))
    }
}

/// Where the plan launches or makes encrypted volumes and the account's default EBS key is a
/// customer-managed one: what its key policy must grant, or launches fail with
/// `Client.InternalError` long after `up` began (Auto Scaling user guide, "Required AWS KMS key
/// policy for use with encrypted volumes"), and DLM cannot snapshot MongoDB's data. A note: the
/// policy may grant it already, and only KMS can say (ams-stack does not read key policies).
/// A failed look-up is a note too: it never stops a plan.
pub async fn ebs_key_note(aws: &Aws, plan: &Plan, state: &State) -> Option<String> {
    let encrypts = plan.steps.iter().any(|step| {
        matches!(step.op, Op::Create | Op::Replace | Op::Update)
            && [
                <Instance as Kind>::TYPE,
                <LaunchTemplate as Kind>::TYPE,
                <Volume as Kind>::TYPE,
            ]
            .contains(&step.type_name.as_str())
    });
    if !encrypts {
        return None;
    }
    let (key, account) = match lookup::customer_ebs_key(aws).await {
        Ok(found) => found?,
        Err(e) => {
            return Some(format!(
                "Note: could not read the account's default EBS key ({e}): if it is a customer-managed key, its policy must let Auto Scaling and DLM use it"
            ))
        }
    };
    let partition = ams_aws::partition(&aws.region);
    let auto_scaling = format!(
        "arn:{partition}:iam::{account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    );
    let backup_role = state
        .resources
        .iter()
        .find(|r| r.name == cluster::BACKUP_ROLE)
        .and_then(|r| serde_json::from_value::<RoleOutputs>(r.outputs.clone()).ok())
        .map(|o| o.arn);
    let principals: Vec<&str> = std::iter::once(auto_scaling.as_str())
        .chain(backup_role.as_deref())
        .collect();
    let policy = serde_json::json!([
        {
            "Sid": "ams-stack: Auto Scaling and DLM use the key for encrypted volumes",
            "Effect": "Allow",
            "Principal": { "AWS": principals },
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
            "Resource": "*"
        },
        {
            "Sid": "ams-stack: Auto Scaling and DLM attach persistent resources",
            "Effect": "Allow",
            "Principal": { "AWS": principals },
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": { "Bool": { "kms:GrantIsForAWSResource": true } }
        }
    ]);
    let later = if backup_role.is_none() {
        "\n  The stack's DLM role (backup-role) is made by the first `up`: add its ARN as a principal too (a preview after it names it)."
    } else {
        ""
    };
    Some(format!(
        "Note: EBS encrypts new volumes in {region} with the customer-managed key {key} (GetEbsDefaultKmsKeyId).\n  Unless its key policy already grants it, Auto Scaling cannot launch the nodes (Client.InternalError, after `up` began)\n  and DLM cannot snapshot MongoDB's data. Add these statements to the key policy (Auto Scaling user guide,\n  \"Required AWS KMS key policy for use with encrypted volumes\"):\n{statements}{later}",
        region = aws.region,
        statements = serde_json::to_string_pretty(&policy).unwrap_or_default(),
    ))
}

#[cfg(test)]
mod tests {
    use ams_engine::{Op, Plan, Step};
    use serde_json::json;

    use super::user_data_fits;

    fn template(user_data: serde_json::Value) -> Plan {
        Plan {
            stack: "t".into(),
            steps: vec![Step {
                op: Op::Update,
                name: "origin-launch-template".into(),
                type_name: "aws:ec2:LaunchTemplate".into(),
                id: Some("lt-1".into()),
                changes: vec![],
                secret: vec![],
                args: json!({ "user_data": user_data }),
                dependencies: Default::default(),
                protected: None,
            }],
            pending_deletes: vec![],
            outputs: Default::default(),
        }
    }

    #[test]
    fn a_boot_script_over_the_user_data_limit_is_refused_before_anything_changes() {
        // Text that does not compress: settings lines no gzip can fold.
        let mut noise = String::new();
        let mut x: u64 = 88172645463325252;
        for _ in 0..40_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            noise.push(char::from(b'a' + (x % 26) as u8));
        }
        let refused = user_data_fits(&template(json!({ "$unknown": true, "preview": noise })))
            .expect_err("refused")
            .to_string();
        assert!(
            refused.starts_with("origin-launch-template: its boot script does not fit")
                && refused.contains("over EC2's limit of 16384"),
            "{refused}"
        );
        assert!(user_data_fits(&template(json!("#!/bin/bash\necho small\n"))).is_ok());
        // Text that compresses well fits though long.
        assert!(user_data_fits(&template(json!("echo same line\n".repeat(4000)))).is_ok());
    }
}
