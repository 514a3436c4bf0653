//! A standalone EC2 instance (the MongoDB server): IMDSv2 only, encrypted gp3 root volume.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, HttpTokensState, IamInstanceProfileSpecification,
    InstanceMetadataEndpointState, InstanceMetadataOptionsRequest, InstanceStateName, InstanceType,
    ResourceType, VolumeType,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use ams_engine::state::ResourceState;
use ams_engine::{Input, Kind, Outputs, ProviderError, StepContext};

use super::{filter, own_tags, tag_spec, Machine};
use crate::call::{missing, OrError};
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

/// The instance `id` as EC2 describes it; `None` while EC2 does not know it (yet).
async fn describe(aws: &Aws, id: &str) -> Res<Option<aws_sdk_ec2::types::Instance>> {
    let out = aws
        .ec2
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .or_gone::<Instance>()?;
    Ok(out.and_then(|o| {
        o.reservations()
            .iter()
            .flat_map(|r| r.instances())
            .next()
            .cloned()
    }))
}

fn state(instance: &aws_sdk_ec2::types::Instance) -> Option<&InstanceStateName> {
    instance.state().and_then(|s| s.name())
}

#[async_trait::async_trait]
impl AwsKind for Instance {
    const NOT_FOUND: &'static [&'static str] = &["InvalidInstanceID.NotFound"];
    /// A new instance profile takes a few seconds to be usable in EC2; the subnet and the
    /// groups may have just been made.
    const NOT_YET_VISIBLE: &'static [&'static str] = &[
        "InvalidParameterValue:iamInstanceProfile",
        "InvalidGroup.NotFound",
        "InvalidSubnetID.NotFound",
    ];

    async fn create(&self, aws: &Aws, ctx: &StepContext) -> Result<String, ProviderError> {
        let machine = &self.machine;
        let out = aws
            .once
            .ec2
            .run_instances()
            .set_iam_instance_profile(
                machine
                    .profile()?
                    .map(|arn| IamInstanceProfileSpecification::builder().arn(arn).build()),
            )
            .image_id(machine.image_id.get()?)
            .instance_type(InstanceType::from(machine.instance_type.as_str()))
            .min_count(1)
            .max_count(1)
            .subnet_id(self.subnet_id.get()?)
            .set_security_group_ids(Some(machine.security_groups()?))
            .set_key_name(machine.key_name.clone())
            .user_data(machine.user_data_base64()?)
            .metadata_options(
                InstanceMetadataOptionsRequest::builder()
                    .http_tokens(HttpTokensState::from(machine.http_tokens.as_str()))
                    .http_endpoint(InstanceMetadataEndpointState::Enabled)
                    .http_put_response_hop_limit(machine.hop_limit)
                    .build(),
            )
            .block_device_mappings(
                BlockDeviceMapping::builder()
                    .device_name(&machine.root_device)
                    .ebs(
                        EbsBlockDevice::builder()
                            .volume_size(machine.root_volume_gib)
                            .volume_type(VolumeType::Gp3)
                            .encrypted(machine.encrypted)
                            .delete_on_termination(true)
                            .build(),
                    )
                    .build(),
            )
            .tag_specifications(tag_spec(ctx, ResourceType::Instance))
            .tag_specifications(tag_spec(ctx, ResourceType::Volume))
            .set_client_token(ctx.token.clone())
            .send()
            .await
            .or_error()?;
        out.instances()
            .first()
            .and_then(|i| i.instance_id())
            .map(String::from)
            .ok_or_else(|| missing("the new instance's id"))
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
        Ok(out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find_map(|i| i.instance_id())
            .map(String::from))
    }

    /// Waits for the instance to run; its addresses.
    async fn finish(&self, aws: &Aws, ctx: &Ctx, id: &str) -> Res<InstanceOutputs> {
        let what = format!("instance {id} to be running");
        let instance = aws
            .wait_for(ctx, &what, || async {
                let Some(instance) = describe(aws, id).await? else {
                    return Ok(None);
                };
                match state(&instance) {
                    Some(InstanceStateName::Running) => Ok(Some(instance)),
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
            private_ip: instance
                .private_ip_address()
                .map(String::from)
                .ok_or_else(|| missing(&format!("the private address of instance {id}")))?,
            public_ip: instance.public_ip_address().map(String::from),
        })
    }

    async fn delete(aws: &Aws, ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        aws.ec2
            .terminate_instances()
            .instance_ids(&current.id)
            .send()
            .await
            .or_gone::<Self>()?;
        let what = format!("instance {} to terminate", current.id);
        aws.wait_for(ctx, &what, || async {
            let instance = describe(aws, &current.id).await?;
            let state = instance.as_ref().and_then(state);
            Ok(matches!(state, None | Some(InstanceStateName::Terminated)).then_some(()))
        })
        .await
    }

    /// Which instances are still there (not terminated nor shutting down), with their live
    /// instance type.
    async fn read(aws: &Aws, resources: &[ResourceState]) -> Res<Vec<Option<Json>>> {
        let ids: Vec<&str> = resources.iter().map(|r| r.id.as_str()).collect();
        let mut live = BTreeMap::new();
        let mut pages = aws
            .ec2
            .describe_instances()
            .filters(filter("instance-id", &ids))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.or_error()?;
            for instance in page.reservations().iter().flat_map(|r| r.instances()) {
                let running = !matches!(
                    state(instance),
                    Some(InstanceStateName::Terminated | InstanceStateName::ShuttingDown)
                );
                if let (Some(id), true) = (instance.instance_id(), running) {
                    live.insert(
                        id.to_string(),
                        instance.instance_type().map(|t| t.as_str().to_string()),
                    );
                }
            }
        }
        Ok(resources
            .iter()
            .map(|r| {
                live.get(&r.id).map(|instance_type| {
                    let mut inputs = r.inputs.clone();
                    if let Some(instance_type) = instance_type {
                        inputs["instance_type"] = json!(instance_type);
                    }
                    inputs
                })
            })
            .collect())
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
