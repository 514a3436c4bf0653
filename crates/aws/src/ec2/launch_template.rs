//! A launch template for auto-scaling nodes: IMDSv2 only, encrypted gp3 root volume.
//! Changing it makes a new version and makes that the default.

use aws_sdk_ec2::types::{
    LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData, ResourceType,
};
use serde::{Deserialize, Serialize};

use ams_engine::{Kind, Outputs, ProviderError};

use super::listing::{created, describe_one, existing_in, find_tagged};
use super::machine::with_machine;
use super::tag_spec;
use super::{answered, ec2_tags, filter, Machine};
use crate::call::{missing, OrError};
use crate::kind::{AwsKind, Codes, Ctx, Current, Res};
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
    /// The default version: the latest one made (an update makes a new one).
    #[kind(updated)]
    pub version: i64,
}

/// What every instance launched from the template gets.
fn template_data(ctx: &Ctx, machine: &Machine) -> Result<RequestLaunchTemplateData, ProviderError> {
    let tags = LaunchTemplateTagSpecificationRequest::builder()
        .resource_type(ResourceType::Instance)
        .set_tags(Some(ec2_tags(ctx)))
        .build();
    let data = RequestLaunchTemplateData::builder().tag_specifications(tags);
    Ok(with_machine!(data, machine, template_parts).build())
}

impl AwsKind for LaunchTemplate {
    const NOT_FOUND: Codes = &["InvalidLaunchTemplateId.NotFound"];
    /// What the machine refers to, and the template itself right after its create, may not be
    /// visible yet.
    const NOT_YET_VISIBLE: Codes = &[
        // A machine's (`machine::NOT_YET_VISIBLE`; a test holds that all are here), then the
        // template's own.
        "InvalidParameterValue:iamInstanceProfile",
        "InvalidGroup.NotFound",
        "InvalidSubnetID.NotFound",
        "InvalidLaunchTemplateId.NotFound",
    ];
    const ALREADY_EXISTS: Codes = &["InvalidLaunchTemplateName.AlreadyExistsException"];

    async fn create(&self, aws: &Aws, ctx: &Ctx) -> Res<String> {
        let request = aws
            .ec2
            .create_launch_template()
            .launch_template_name(physical_name(ctx, 128))
            .set_client_token(ctx.token.clone())
            .launch_template_data(template_data(ctx, &self.machine)?);
        let out = request
            .tag_specifications(tag_spec(ctx, ResourceType::LaunchTemplate))
            .send()
            .await
            .or_error()?;
        created::<Self>(out.launch_template(), "launch template")
    }

    async fn find(&self, aws: &Aws, ctx: &Ctx) -> Res<Option<String>> {
        find_tagged::<Self>(aws, ctx).await
    }

    /// Reads the template's name and latest version.
    async fn finish(&self, aws: &Aws, _ctx: &Ctx, id: &str) -> Res<Self::Outputs> {
        let template = describe_one::<Self>(aws, id, "launch template").await?;
        Ok(LaunchTemplateOutputs {
            id: id.to_string(),
            name: answered(
                template.launch_template_name(),
                &format!("the name of launch template {id}"),
            )?,
            version: template.latest_version_number().unwrap_or(1),
        })
    }

    async fn update(&self, aws: &Aws, ctx: &Ctx, current: &Current<Self>) -> Res<Self::Outputs> {
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
            .done_or_gone::<Self>()
    }

    async fn read(aws: &Aws, resources: Vec<Current<Self>>) -> Res<Vec<Option<Self>>> {
        // By name tag, which every emulator filters on; the ids pick out ours.
        let names: Vec<&str> = resources.iter().map(|r| r.name.as_str()).collect();
        let filter = filter(&format!("tag:{TAG_NAME}"), &names);
        existing_in::<Self>(aws, resources, filter).await
    }
}
