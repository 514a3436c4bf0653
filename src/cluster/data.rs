//! The data tier: the MongoDB server AMS keeps its applications, streams and node list in.

use ams_aws::ec2::{Instance, Machine};
use ams_engine::{Input, Program, ProgramError, Ref};

use super::network::Network;
use super::security::Security;
use super::{after, fill, ROOT_DEVICE};
use crate::config::StackConfig;

pub fn declare(
    p: &mut Program,
    config: &StackConfig,
    network: &Network,
    security: &Security,
    image: &str,
) -> Result<Ref<Instance>, ProgramError> {
    let machine = &security.machine;
    p.add_after(
        "mongodb",
        Instance {
            subnet_id: first_subnet(network),
            machine: Machine {
                image_id: image.to_string().into(),
                instance_type: config.mongodb.instance_type.clone(),
                key_name: config.mongodb.key_name.clone(),
                security_group_ids: vec![security.mongodb_sg.id().into()],
                user_data: fill(
                    include_str!("user_data/mongodb.sh"),
                    &[
                        ("{REGION}", config.region.clone().into()),
                        ("{PARAMETER}", machine.parameter.clone()),
                    ],
                ),
                root_volume_gib: config.mongodb.root_volume_gib,
                root_device: ROOT_DEVICE.into(),
                encrypted: true,
                http_tokens: "required".into(),
                hop_limit: machine.hop_limit,
                instance_profile_arn: Some(machine.profile_arn.clone()),
            },
        },
        // It installs MongoDB from the internet at first boot: the route must exist first.
        &after(network),
    )
}

/// Instances go in the first zone, as the guide says: origins and edges talk over 5000.
pub fn first_subnet(network: &Network) -> Input<String> {
    network
        .subnet_ids
        .first()
        .cloned()
        .unwrap_or_else(|| Input::from(""))
}
