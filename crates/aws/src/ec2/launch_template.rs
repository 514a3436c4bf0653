//! A launch template for auto-scaling nodes: IMDSv2 only, encrypted gp3 root volume.
//! Changing it makes a new version and makes that the default.

use aws_sdk_ec2::types::{
    InstanceType, LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateEbsBlockDeviceRequest,
    LaunchTemplateHttpTokensState, LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptionsRequest,
    LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData, ResourceType, VolumeType,
};
use serde::{Deserialize, Serialize};

use ams_engine::state::ResourceState;
use ams_engine::{Kind, Outputs, ProviderError, StepContext};

use super::{ec2_tags, filter, tag_spec, Machine};
use crate::call::{missing, OrError};
use crate::kind::{AwsKind, Ctx, Current, Res};
use crate::names::{physical_name, TAG_NAME};
use crate::Aws;

#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:ec2:LaunchTemplate", outputs = LaunchTemplateOutputs)]
pub struct LaunchTemplate {
    #[serde(flatten)]
    pub machine: Machine,
}

#[derive(Clone, Serialize, Deserialize, Outputs)]
pub struct LaunchTemplateOutputs {
    pub id: String,
    pub name: String,
    /// The default version: the latest one made.
    pub version: i64,
}

/// What every instance launched from the template gets.
fn template_data(
    ctx: &StepContext,
    machine: &Machine,
) -> Result<RequestLaunchTemplateData, ProviderError> {
    Ok(RequestLaunchTemplateData::builder()
        .image_id(machine.image_id.get()?)
        .instance_type(InstanceType::from(machine.instance_type.as_str()))
        .set_key_name(machine.key_name.clone())
        .set_security_group_ids(Some(machine.security_groups()?))
        .user_data(machine.user_data_base64()?)
        .set_iam_instance_profile(machine.profile()?.map(|arn| {
            LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                .arn(arn)
                .build()
        }))
        .metadata_options(
            LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .http_tokens(LaunchTemplateHttpTokensState::from(
                    machine.http_tokens.as_str(),
                ))
                .http_endpoint(LaunchTemplateInstanceMetadataEndpointState::Enabled)
                .http_put_response_hop_limit(machine.hop_limit)
                .build(),
        )
        .block_device_mappings(
            LaunchTemplateBlockDeviceMappingRequest::builder()
                .device_name(&machine.root_device)
                .ebs(
                    LaunchTemplateEbsBlockDeviceRequest::builder()
                        .volume_size(machine.root_volume_gib)
                        .volume_type(VolumeType::Gp3)
                        .encrypted(machine.encrypted)
                        .delete_on_termination(true)
                        .build(),
                )
                .build(),
        )
        .tag_specifications(
            LaunchTemplateTagSpecificationRequest::builder()
                .resource_type(ResourceType::Instance)
                .set_tags(Some(ec2_tags(ctx)))
                .build(),
        )
        .build())
}

#[async_trait::async_trait]
impl AwsKind for LaunchTemplate {
    const NOT_FOUND: &'static [&'static str] = &["InvalidLaunchTemplateId.NotFound"];
    /// A new instance profile takes a few seconds to be usable in EC2; the subnet and the
    /// groups, and the template itself right after its create, may not be visible yet.
    const NOT_YET_VISIBLE: &'static [&'static str] = &[
        "InvalidParameterValue:iamInstanceProfile",
        "InvalidGroup.NotFound",
        "InvalidSubnetID.NotFound",
        "InvalidLaunchTemplateId.NotFound",
    ];
    const ALREADY_EXISTS: &'static [&'static str] =
        &["InvalidLaunchTemplateName.AlreadyExistsException"];

    async fn create(&self, aws: &Aws, ctx: &StepContext) -> Result<String, ProviderError> {
        let out = aws
            .ec2
            .create_launch_template()
            .launch_template_name(physical_name(ctx, 128))
            .set_client_token(ctx.token.clone())
            .launch_template_data(template_data(ctx, &self.machine)?)
            .tag_specifications(tag_spec(ctx, ResourceType::LaunchTemplate))
            .send()
            .await
            .or_error()?;
        out.launch_template()
            .and_then(|t| t.launch_template_id())
            .map(String::from)
            .ok_or_else(|| missing("the new launch template's id"))
    }

    async fn find(&self, aws: &Aws, ctx: &StepContext) -> Result<Option<String>, ProviderError> {
        find_tagged!(
            aws,
            ctx,
            describe_launch_templates,
            launch_templates,
            launch_template_id
        )
    }

    /// Reads the template's name and latest version.
    async fn finish(&self, aws: &Aws, _ctx: &Ctx, id: &str) -> Res<LaunchTemplateOutputs> {
        let template = describe_by_id!(
            aws,
            describe_launch_templates,
            launch_template_ids,
            id,
            launch_templates,
            "launch template"
        );
        Ok(LaunchTemplateOutputs {
            id: id.to_string(),
            name: template
                .launch_template_name()
                .map(String::from)
                .ok_or_else(|| missing(&format!("the name of launch template {id}")))?,
            version: template.latest_version_number().unwrap_or(1),
        })
    }

    async fn update(
        &self,
        aws: &Aws,
        ctx: &StepContext,
        current: &Current<Self>,
    ) -> Result<LaunchTemplateOutputs, ProviderError> {
        let out = aws
            .ec2
            .create_launch_template_version()
            .launch_template_id(&current.id)
            .launch_template_data(template_data(ctx, &self.machine)?)
            .send()
            .await
            .or_error()?;
        let version = out
            .launch_template_version()
            .and_then(|v| v.version_number())
            .ok_or_else(|| missing("the new launch template version's number"))?;
        aws.ec2
            .modify_launch_template()
            .launch_template_id(&current.id)
            .default_version(version.to_string())
            .send()
            .await
            .or_error()?;
        Ok(LaunchTemplateOutputs {
            version,
            ..current.outputs.clone()
        })
    }

    async fn delete(aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        aws.ec2
            .delete_launch_template()
            .launch_template_id(&current.id)
            .send()
            .await
            .or_gone::<Self>()?;
        Ok(())
    }

    async fn read(aws: &Aws, resources: &[ResourceState]) -> Res<Vec<Option<serde_json::Value>>> {
        // By name tag, which every emulator filters on; the ids pick out ours.
        let names: Vec<&str> = resources.iter().map(|r| r.name.as_str()).collect();
        existing_by_filter!(
            aws,
            resources,
            describe_launch_templates,
            filter(&format!("tag:{TAG_NAME}"), &names),
            launch_templates,
            launch_template_id
        )
    }
}
