//! A launch template for auto-scaling nodes: IMDSv2 only, encrypted gp3 root volume.
//! Changing it makes a new version and makes that the default.

use aws_sdk_ec2::types::{
    LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData, ResourceType,
    ResponseLaunchTemplateData,
};
use serde::{Deserialize, Serialize};

use ams_engine::{Input, Kind, Outputs, ProviderError};

use super::listing::{created, describe_one, find_tagged};
use super::machine::with_machine;
use super::tag_spec;
use super::{answered, ec2_tags, Machine};
use crate::call::{missing, OrError};
use crate::kind::{AwsKind, Codes, Ctx, Current, Res};
use crate::names::physical_name;
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

    /// One call per template: the machine its default version (the one its group launches)
    /// describes, each setting as it lives there (a template made by hand and adopted shows
    /// what its first update changes); `None` for a template that is gone.
    async fn read(aws: &Aws, resources: Vec<Current<Self>>) -> Res<Vec<Option<Self>>> {
        let mut live = Vec::with_capacity(resources.len());
        for resource in resources {
            let answer = aws
                .ec2
                .describe_launch_template_versions()
                .launch_template_id(&resource.id)
                .versions("$Default")
                .send()
                .await
                .or_gone::<Self>()?;
            let data = answer.as_ref().and_then(|out| {
                out.launch_template_versions()
                    .first()
                    .and_then(|v| v.launch_template_data())
            });
            live.push(match data {
                Some(data) => Some(LaunchTemplate {
                    machine: live_machine(resource.args.machine, data)?,
                }),
                None => None,
            });
        }
        Ok(live)
    }
}

/// The stored machine `stored` with what a template version's `data` says it is.
fn live_machine(stored: Machine, data: &ResponseLaunchTemplateData) -> Res<Machine> {
    let interface = data.network_interfaces().first();
    let groups: Vec<String> = if data.security_group_ids().is_empty() {
        interface.map(|i| i.groups().to_vec()).unwrap_or_default()
    } else {
        data.security_group_ids().to_vec()
    };
    let root = data.block_device_mappings().first();
    let ebs = root.and_then(|d| d.ebs());
    let metadata = data.metadata_options();
    let user_data = match data.user_data() {
        Some(encoded) => Input::Value(user_data_text(encoded)?),
        None => Input::Value(String::new()),
    };
    Ok(Machine {
        image_id: data
            .image_id()
            .map_or(stored.image_id, |i| Input::Value(i.to_string())),
        instance_type: data
            .instance_type()
            .map_or(stored.instance_type, |t| t.as_str().to_string()),
        key_name: data.key_name().map(String::from),
        security_group_ids: groups.into_iter().map(Input::Value).collect(),
        user_data,
        root_volume_gib: ebs
            .and_then(|e| e.volume_size())
            .unwrap_or(stored.root_volume_gib),
        root_device: root
            .and_then(|d| d.device_name())
            .map_or(stored.root_device, String::from),
        encrypted: ebs.and_then(|e| e.encrypted()).unwrap_or(false),
        http_tokens: metadata
            .and_then(|m| m.http_tokens())
            .map_or_else(|| "optional".to_string(), |t| t.as_str().to_string()),
        hop_limit: metadata
            .and_then(|m| m.http_put_response_hop_limit())
            .unwrap_or(stored.hop_limit),
        instance_profile_arn: data
            .iam_instance_profile()
            .and_then(|p| p.arn().or(p.name()))
            .map(|p| Input::Value(p.to_string())),
        public_ip: interface.and_then(|i| i.associate_public_ip_address()),
        monitoring: data.monitoring().and_then(|m| m.enabled()).unwrap_or(false),
    })
}

/// User data as EC2 holds it (base64, gzip-compressed when it was over the limit), as text.
fn user_data_text(encoded: &str) -> Res<String> {
    use base64::Engine as _;
    use std::io::Read as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| ProviderError::new(format!("user data that is not base64: {e}")))?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_string(&mut text)
            .map_err(|e| ProviderError::new(format!("gzip user data that does not unpack: {e}")))?;
        return Ok(text);
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
