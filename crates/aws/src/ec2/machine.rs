//! What a standalone instance and a launch template share: the machine they describe, and
//! how a request that describes one is given its settings.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use ams_engine::{Fields, Input, ProviderError};

use crate::kind::Codes;
use crate::names::resolved;

/// Settings shared by a standalone instance and a launch template (flattened into both).
#[serde_with::skip_serializing_none]
#[derive(Clone, Serialize, Deserialize, Fields)]
pub struct Machine {
    pub image_id: Input<String>,
    pub instance_type: String,
    pub key_name: Option<String>,
    pub security_group_ids: Vec<Input<String>>,
    /// The boot script, as text; base64 is the provider's business.
    pub user_data: Input<String>,
    pub root_volume_gib: i32,
    /// The root device name of the image (`/dev/sda1` on Ubuntu and the AMS images).
    pub root_device: String,
    /// Whether the root volume is encrypted (the cluster always asks for it; checks verify it).
    pub encrypted: bool,
    /// Instance metadata: `required` (IMDSv2 only) or `optional`.
    pub http_tokens: String,
    pub hop_limit: i32,
    /// The instance profile the machine runs with.
    pub instance_profile_arn: Option<Input<String>>,
    /// Whether the machine's first network interface gets a public address: asked for
    /// explicitly (its security groups then go in that interface's spec, as EC2 refuses them at
    /// the top level beside an interface), or, when `None`, as its subnet says.
    pub public_ip: Option<bool>,
    /// Detailed (one-minute) CloudWatch monitoring.
    #[serde(default, skip_serializing_if = "is_false")]
    pub monitoring: bool,
}

fn is_false(value: &bool) -> bool {
    !value
}

/// EC2's limit on user data, in bytes before base64.
pub const USER_DATA_MAX: usize = 16 * 1024;

/// The user data as sent: the text itself while it fits EC2's limit, else its gzip (which
/// cloud-init recognises by its magic bytes); an error naming both sizes when even that is over.
pub fn fitted_user_data(text: &str) -> Result<Vec<u8>, ProviderError> {
    use std::io::Write as _;
    if text.len() <= USER_DATA_MAX {
        return Ok(text.as_bytes().to_vec());
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let packed = encoder
        .write_all(text.as_bytes())
        .and_then(|()| encoder.finish())
        .map_err(|e| ProviderError::new(format!("could not gzip the user data: {e}")))?;
    if packed.len() > USER_DATA_MAX {
        return Err(ProviderError::new(format!(
            "the user data is {} bytes ({} gzip-compressed): over EC2's limit of {USER_DATA_MAX}",
            text.len(),
            packed.len()
        )));
    }
    Ok(packed)
}

impl Machine {
    /// The ids of the machine's security groups.
    pub(super) fn security_groups(&self) -> Result<Vec<String>, ProviderError> {
        resolved(&self.security_group_ids)
    }

    /// The boot script, base64-encoded as EC2 takes it; gzip-compressed first when the text is
    /// over EC2's limit (cloud-init unpacks it).
    pub(super) fn user_data_base64(&self) -> Result<String, ProviderError> {
        let bytes = fitted_user_data(self.user_data.get()?)?;
        Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    /// The ARN of the instance profile, if the machine has one.
    pub(super) fn profile(&self) -> Result<Option<String>, ProviderError> {
        Ok(match &self.instance_profile_arn {
            Some(arn) => Some(arn.get()?.clone()),
            None => None,
        })
    }
}

/// The codes by which a create of a machine says that what the machine refers to was just made
/// (a new instance profile takes a few seconds to be usable in EC2; the subnet and the groups
/// may be new): an instance's `NOT_YET_VISIBLE`, and a launch template's with its own.
pub(super) const NOT_YET_VISIBLE: Codes = &[
    "InvalidParameterValue:iamInstanceProfile",
    "InvalidGroup.NotFound",
    "InvalidSubnetID.NotFound",
];

/// The SDK's types for the parts of a `RunInstances` request.
pub(super) mod instance_parts {
    pub use aws_sdk_ec2::types::{
        BlockDeviceMapping as Device, EbsBlockDevice as Ebs, HttpTokensState as Tokens,
        IamInstanceProfileSpecification as Profile, InstanceMetadataEndpointState as Endpoint,
        InstanceMetadataOptionsRequest as Metadata,
        InstanceNetworkInterfaceSpecification as Interface,
        RunInstancesMonitoringEnabled as Monitoring,
    };
}

/// The SDK's types for the parts of a launch template's data: the same parts, named otherwise.
pub(super) mod template_parts {
    pub use aws_sdk_ec2::types::{
        LaunchTemplateBlockDeviceMappingRequest as Device,
        LaunchTemplateEbsBlockDeviceRequest as Ebs, LaunchTemplateHttpTokensState as Tokens,
        LaunchTemplateIamInstanceProfileSpecificationRequest as Profile,
        LaunchTemplateInstanceMetadataEndpointState as Endpoint,
        LaunchTemplateInstanceMetadataOptionsRequest as Metadata,
        LaunchTemplateInstanceNetworkInterfaceSpecificationRequest as Interface,
        LaunchTemplatesMonitoringRequest as Monitoring,
    };
}

/// Gives a request that describes a machine every setting of `$machine`: `run_instances`, whose
/// parts are [`instance_parts`], or a launch template's data, whose parts are [`template_parts`].
/// `$subnet` is the subnet an instance's interface is in, when the machine asks for one (a
/// launch template names none: its group does); without an interface, the security groups go
/// at the top level.
///
/// A macro because nothing else can do it once: the two requests are unrelated SDK types whose
/// setters share names but no trait, and so are their parts (`instance_parts`,
/// `template_parts`). Every call inside is a setter; nothing is sent here.
macro_rules! with_machine {
    ($request:expr, $machine:expr, $parts:ident) => {
        with_machine!($request, $machine, $parts, None::<String>)
    };
    ($request:expr, $machine:expr, $parts:ident, $subnet:expr) => {{
        use $crate::ec2::machine::$parts::{
            Device, Ebs, Endpoint, Interface, Metadata, Monitoring, Profile, Tokens,
        };
        let machine: &$crate::ec2::Machine = $machine;
        let profile = machine.profile()?;
        let groups = Some(machine.security_groups()?);
        let request = match machine.public_ip {
            None => $request.set_security_group_ids(groups),
            Some(public) => $request.network_interfaces(
                Interface::builder()
                    .device_index(0)
                    .associate_public_ip_address(public)
                    .set_groups(groups)
                    .set_subnet_id($subnet)
                    .build(),
            ),
        };
        request
            .monitoring(Monitoring::builder().enabled(machine.monitoring).build())
            .image_id(machine.image_id.get()?)
            .instance_type(aws_sdk_ec2::types::InstanceType::from(
                machine.instance_type.as_str(),
            ))
            .set_key_name(machine.key_name.clone())
            .user_data(machine.user_data_base64()?)
            .set_iam_instance_profile(profile.map(|arn| Profile::builder().arn(arn).build()))
            .metadata_options(
                Metadata::builder()
                    .http_tokens(Tokens::from(machine.http_tokens.as_str()))
                    .http_endpoint(Endpoint::Enabled)
                    .http_put_response_hop_limit(machine.hop_limit)
                    .build(),
            )
            .block_device_mappings(
                Device::builder()
                    .device_name(&machine.root_device)
                    .ebs(
                        Ebs::builder()
                            .volume_size(machine.root_volume_gib)
                            .volume_type(aws_sdk_ec2::types::VolumeType::Gp3)
                            .encrypted(machine.encrypted)
                            .delete_on_termination(true)
                            .build(),
                    )
                    .build(),
            )
    }};
}
pub(super) use with_machine;

#[cfg(test)]
pub(super) mod tests {
    use aws_sdk_ec2::config::{BehaviorVersion, Region};
    use aws_sdk_ec2::types::RequestLaunchTemplateData;

    use super::*;

    #[test]
    fn both_kinds_that_hold_a_machine_wait_for_what_it_refers_to() {
        use crate::kind::AwsKind;
        for code in NOT_YET_VISIBLE {
            assert!(
                super::super::Instance::NOT_YET_VISIBLE.contains(code),
                "{code}"
            );
            assert!(
                super::super::LaunchTemplate::NOT_YET_VISIBLE.contains(code),
                "{code}"
            );
        }
    }

    /// A machine with every setting given, for the tests of the kinds that hold one.
    pub(in crate::ec2) fn machine() -> Machine {
        Machine {
            image_id: "ami-1".into(),
            instance_type: "t3.medium".into(),
            key_name: Some("key".into()),
            security_group_ids: vec!["sg-1".into(), "sg-2".into()],
            user_data: "#!/bin/sh".into(),
            root_volume_gib: 20,
            root_device: "/dev/sda1".into(),
            encrypted: true,
            http_tokens: "required".into(),
            hop_limit: 2,
            instance_profile_arn: Some("arn:aws:iam::1:instance-profile/p".into()),
            public_ip: None,
            monitoring: true,
        }
    }

    #[test]
    fn user_data_over_the_limit_is_sent_gzipped_and_unpacks_to_the_script() {
        use std::io::Read as _;
        let small = "#!/bin/bash\necho hi\n";
        assert_eq!(fitted_user_data(small).unwrap(), small.as_bytes());
        let script: String = (0..2000).map(|i| format!("echo line {i}\n")).collect();
        assert!(script.len() > USER_DATA_MAX);
        let packed = fitted_user_data(&script).unwrap();
        assert!(packed.len() <= USER_DATA_MAX);
        assert_eq!(
            &packed[..2],
            &[0x1f, 0x8b],
            "gzip's magic, which cloud-init looks for"
        );
        let mut unpacked = String::new();
        flate2::read::GzDecoder::new(&packed[..])
            .read_to_string(&mut unpacked)
            .unwrap();
        assert_eq!(unpacked, script);
        let noise: String = (0..40_000)
            .map(|_| char::from(b'!' + rand::random::<u8>() % 90))
            .collect();
        let error = fitted_user_data(&noise).unwrap_err().message;
        assert!(error.contains("over EC2's limit of 16384"), "{error}");
    }

    /// The machine a request describes, as text: both requests name their settings alike.
    /// A macro for the reason `with_machine!` is one: two unrelated SDK types, one reading.
    macro_rules! settings {
        ($request:expr) => {{
            let r = $request;
            let metadata = r.metadata_options().expect("metadata options");
            let device = &r.block_device_mappings()[0];
            let ebs = device.ebs().expect("ebs");
            let instance_type = r.instance_type().map(|t| t.as_str().to_string());
            let profile = r.iam_instance_profile().and_then(|p| p.arn());
            let tokens = metadata.http_tokens().map(|t| t.as_str().to_string());
            let endpoint = metadata.http_endpoint().map(|e| e.as_str().to_string());
            let volume_type = ebs.volume_type().map(|v| v.as_str().to_string());
            format!(
                "{:?} {:?}",
                (
                    r.image_id(),
                    instance_type,
                    r.key_name(),
                    r.security_group_ids()
                ),
                (
                    r.user_data(),
                    profile,
                    tokens,
                    endpoint,
                    metadata.http_put_response_hop_limit(),
                    device.device_name(),
                    ebs.volume_size(),
                    volume_type,
                    ebs.encrypted(),
                    ebs.delete_on_termination()
                ),
            )
        }};
    }

    fn instance_settings() -> Result<String, ProviderError> {
        let config = aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .build();
        let request = aws_sdk_ec2::Client::from_conf(config).run_instances();
        let request = with_machine!(request, &machine(), instance_parts);
        let input = request.as_input().clone().build().expect("input");
        Ok(settings!(input))
    }

    fn template_settings() -> Result<String, ProviderError> {
        let data = with_machine!(
            RequestLaunchTemplateData::builder(),
            &machine(),
            template_parts
        );
        Ok(settings!(data.build()))
    }

    #[test]
    fn an_instance_and_a_launch_template_describe_the_same_machine() {
        let instance = instance_settings().unwrap();
        assert_eq!(instance, template_settings().unwrap());
        for setting in [
            "ami-1",
            "t3.medium",
            "\"key\"",
            "sg-2",
            "instance-profile/p",
        ] {
            assert!(instance.contains(setting), "{setting} in {instance}");
        }
        for setting in [
            "required",
            "enabled",
            "Some(2)",
            "/dev/sda1",
            "Some(20)",
            "gp3",
        ] {
            assert!(instance.contains(setting), "{setting} in {instance}");
        }
        assert!(instance.ends_with("Some(true), Some(true))"), "{instance}");
    }

    fn public_template() -> Result<RequestLaunchTemplateData, ProviderError> {
        let machine = Machine {
            public_ip: Some(true),
            ..machine()
        };
        let data = RequestLaunchTemplateData::builder();
        Ok(with_machine!(data, &machine, template_parts).build())
    }

    fn public_instance(
    ) -> Result<aws_sdk_ec2::operation::run_instances::RunInstancesInput, ProviderError> {
        let config = aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .build();
        let machine = Machine {
            public_ip: Some(false),
            monitoring: false,
            ..machine()
        };
        let request = aws_sdk_ec2::Client::from_conf(config).run_instances();
        let request = with_machine!(request, &machine, instance_parts, Some("subnet-1".into()));
        Ok(request.as_input().clone().build().expect("input"))
    }

    #[test]
    fn an_asked_for_public_address_puts_the_groups_in_the_interface() {
        let data = public_template().unwrap();
        assert!(data.security_group_ids().is_empty(), "{data:?}");
        let interface = &data.network_interfaces()[0];
        assert_eq!(
            (
                interface.device_index(),
                interface.associate_public_ip_address(),
                interface.subnet_id()
            ),
            (Some(0), Some(true), None)
        );
        assert_eq!(interface.groups(), ["sg-1", "sg-2"]);
        assert_eq!(data.monitoring().and_then(|m| m.enabled()), Some(true));

        let input = public_instance().unwrap();
        assert!(input.security_group_ids().is_empty());
        let interface = &input.network_interfaces()[0];
        assert_eq!(
            (
                interface.associate_public_ip_address(),
                interface.subnet_id()
            ),
            (Some(false), Some("subnet-1"))
        );
        assert_eq!(input.monitoring().and_then(|m| m.enabled()), Some(false));
    }
}
