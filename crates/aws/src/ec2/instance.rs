//! A standalone EC2 instance (the MongoDB server): IMDSv2 only, encrypted gp3 root volume.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Instance as Ec2Instance, InstanceStateName, Reservation};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use ams_engine::state::ResourceState;
use ams_engine::{Input, Kind, Outputs, ProviderError, StepContext};

use super::listing::list_by_filter;
use super::machine::{machine_not_yet_visible, with_machine};
use super::{answered, filter, id_filter, live_inputs, new_id, own_tags, Machine};
use crate::call::OrError;
use crate::kind::{AwsKind, Ctx, Current, Res};
use crate::Aws;

#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:ec2:Instance", outputs = InstanceOutputs)]
pub struct Instance {
    #[kind(replace)]
    pub subnet_id: Input<String>,
    #[serde(flatten)]
    #[kind(replace)]
    pub machine: Machine,
}

#[derive(Clone, Serialize, Deserialize, Outputs)]
pub struct InstanceOutputs {
    pub id: String,
    pub private_ip: String,
    /// None in a subnet that gives no public addresses.
    pub public_ip: Option<String>,
}

/// The instances a Describe answer lists, across its reservations.
fn listed(reservations: &[Reservation]) -> impl Iterator<Item = &Ec2Instance> {
    reservations.iter().flat_map(|r| r.instances())
}

/// The instance `id` as EC2 describes it; `None` while EC2 does not know it (yet).
async fn describe(aws: &Aws, id: &str) -> Res<Option<Ec2Instance>> {
    let out = aws
        .ec2
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .or_gone::<Instance>()?;
    Ok(out.and_then(|o| listed(o.reservations()).next().cloned()))
}

/// Polls the instance `id` until `done` makes something of what EC2 says of it (`None` while it
/// does not know it), saying in the progress line what it waits for (`until`).
async fn wait_until<T>(
    aws: &Aws,
    ctx: &Ctx,
    id: &str,
    until: &str,
    done: impl Fn(Option<Ec2Instance>) -> Res<Option<T>>,
) -> Res<T> {
    let what = format!("instance {id} to {until}");
    aws.wait_for(ctx, &what, || async { done(describe(aws, id).await?) })
        .await
}

fn state(instance: &Ec2Instance) -> Option<&InstanceStateName> {
    instance.state().and_then(|s| s.name())
}

/// Whether the instance is gone or going: terminated or shutting down.
fn ending(instance: &Ec2Instance) -> bool {
    matches!(
        state(instance),
        Some(InstanceStateName::Terminated | InstanceStateName::ShuttingDown)
    )
}

#[async_trait::async_trait]
impl AwsKind for Instance {
    const NOT_FOUND: &'static [&'static str] = &["InvalidInstanceID.NotFound"];
    /// What the machine refers to may have just been made.
    const NOT_YET_VISIBLE: &'static [&'static str] = machine_not_yet_visible!();

    async fn create(&self, aws: &Aws, ctx: &StepContext) -> Result<String, ProviderError> {
        let request = aws
            .once
            .ec2
            .run_instances()
            .min_count(1)
            .max_count(1)
            .subnet_id(self.subnet_id.get()?)
            .set_client_token(ctx.token.clone());
        let request = with_machine!(request, &self.machine, instance_parts);
        let out = create_tagged!(ctx, [Instance, Volume], request);
        let id = out.instances().first().and_then(|i| i.instance_id());
        new_id(id, "instance")
    }

    async fn find(&self, aws: &Aws, ctx: &StepContext) -> Result<Option<String>, ProviderError> {
        let mut filters = own_tags(ctx);
        filters.push(filter("instance-state-name", &["pending", "running"]));
        let out = aws
            .ec2
            .describe_instances()
            .set_filters(Some(filters))
            .send()
            .await
            .or_error()?;
        let id = listed(out.reservations()).find_map(|i| i.instance_id());
        Ok(id.map(String::from))
    }

    /// Waits for the instance to run; its addresses.
    async fn finish(&self, aws: &Aws, ctx: &Ctx, id: &str) -> Res<InstanceOutputs> {
        let instance = wait_until(aws, ctx, id, "be running", |instance| {
            match instance.as_ref().and_then(state) {
                Some(InstanceStateName::Running) => Ok(instance),
                Some(InstanceStateName::Terminated | InstanceStateName::ShuttingDown) => {
                    Err(ProviderError {
                        code: Some("InstanceTerminated".into()),
                        message: format!("instance {id} terminated while starting"),
                    })
                }
                _ => Ok(None),
            }
        })
        .await?;
        Ok(InstanceOutputs {
            id: id.to_string(),
            private_ip: answered(
                instance.private_ip_address(),
                &format!("the private address of instance {id}"),
            )?,
            public_ip: instance.public_ip_address().map(String::from),
        })
    }

    async fn delete(aws: &Aws, ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        delete_by_id!(aws, Self, terminate_instances, instance_ids, &current.id)?;
        wait_until(aws, ctx, &current.id, "terminate", |instance| {
            let state = instance.as_ref().and_then(state);
            Ok(matches!(state, None | Some(InstanceStateName::Terminated)).then_some(()))
        })
        .await
    }

    /// Which instances are still there (not terminated nor shutting down), with their live
    /// instance type.
    async fn read(aws: &Aws, resources: &[ResourceState]) -> Res<Vec<Option<Json>>> {
        let live: BTreeMap<String, Option<String>> = list_by_filter!(
            aws,
            describe_instances,
            id_filter("instance-id", resources),
            |page| listed(page.reservations()),
            |instance| {
                let id = instance.instance_id().filter(|_| !ending(instance))?;
                let instance_type = instance.instance_type().map(|t| t.as_str().to_string());
                Some((id.to_string(), instance_type))
            }
        )
        .into_iter()
        .collect();
        Ok(live_inputs(resources, &live, |inputs, _, instance_type| {
            if let Some(instance_type) = instance_type {
                inputs["instance_type"] = json!(instance_type);
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mongodb() -> Instance {
        Instance {
            subnet_id: "subnet-1".into(),
            machine: Machine {
                image_id: "ami-1".into(),
                instance_type: "t3.medium".into(),
                key_name: None,
                security_group_ids: vec!["sg-1".into()],
                user_data: "#!/bin/sh".into(),
                root_volume_gib: 20,
                root_device: "/dev/sda1".into(),
                encrypted: true,
                http_tokens: "required".into(),
                hop_limit: 1,
                instance_profile_arn: None,
            },
        }
    }

    #[test]
    fn the_machine_is_flattened_and_every_setting_of_it_replaces() {
        let json = serde_json::to_value(mongodb()).unwrap();
        assert_eq!(json["subnet_id"], "subnet-1");
        assert_eq!(json["instance_type"], "t3.medium");
        assert!(json.get("machine").is_none() && json.get("key_name").is_none());
        let replace = Instance::replace_on();
        for name in ["subnet_id", "image_id", "user_data", "instance_profile_arn"] {
            assert!(replace.contains(&name), "{name}");
        }
        assert!(super::super::LaunchTemplate::replace_on().is_empty());
    }

    #[test]
    fn the_outputs_keep_their_keys() {
        let outputs = InstanceOutputs {
            id: "i-1".into(),
            private_ip: "10.0.1.5".into(),
            public_ip: None,
        };
        assert_eq!(
            serde_json::to_value(outputs).unwrap(),
            json!({ "id": "i-1", "private_ip": "10.0.1.5", "public_ip": null })
        );
    }
}
