//! A standalone EC2 instance (the MongoDB server): IMDSv2 only, encrypted gp3 root volume.
//! Its type and metadata options change in place (a new type stops and starts it); its other
//! settings replace it. Also the stop and start that other steps need ([`stop`], [`start`]:
//! a volume attachment moves a data volume between instances).

use aws_sdk_ec2::types::{
    AttributeValue, HttpTokensState, Instance as Ec2Instance, InstanceMetadataEndpointState,
    InstanceStateName, MonitoringState, Reservation, ResourceType,
};
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use ams_engine::{Input, Kind, Outputs, ProviderError};

use super::listing::{find_live, read_listed};
use super::machine::with_machine;
use super::tag_spec;
use super::{answered, filter, new_id, Machine};
use crate::call::OrError;
use crate::kind::{AwsKind, Codes, Ctx, Current, Res};
use crate::Aws;

/// A standalone instance. Of its machine's settings, `instance_type`, `http_tokens`, `hop_limit`
/// and `monitoring` change in place; so do `user_data` and `public_ip`, which change nothing in
/// the cloud: EC2 runs user data only at first boot, and gives a public address only at launch,
/// so they are recorded in the state and used by the next replacement. Every other setting
/// replaces the instance.
#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:ec2:Instance", outputs = InstanceOutputs)]
pub struct Instance {
    #[kind(replace)]
    pub subnet_id: Input<String>,
    #[serde(flatten)]
    #[kind(
        replace,
        except(
            "instance_type",
            "user_data",
            "http_tokens",
            "hop_limit",
            "monitoring",
            "public_ip"
        )
    )]
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
pub(super) async fn describe(aws: &Aws, id: &str) -> Res<Option<Ec2Instance>> {
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

/// Whether detailed monitoring is on (or being turned on).
fn monitored(instance: &Ec2Instance) -> bool {
    matches!(
        instance.monitoring().and_then(|m| m.state()),
        Some(MonitoringState::Enabled | MonitoringState::Pending)
    )
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

/// The error when instance `id` ends (or is gone) while a step waits for it to run.
fn terminated(id: &str, while_: &str) -> ProviderError {
    ProviderError {
        code: Some("InstanceTerminated".into()),
        message: format!("instance {id} terminated while {while_}"),
    }
}

/// Waits until instance `id` runs; what EC2 then says of it. One that ends meanwhile is an
/// error; one EC2 does not know yet (just launched) is waited for.
async fn wait_running(aws: &Aws, ctx: &Ctx, id: &str) -> Res<Ec2Instance> {
    wait_until(aws, ctx, id, "be running", |instance| match &instance {
        Some(i) if state(i) == Some(&InstanceStateName::Running) => Ok(instance),
        Some(i) if ending(i) => Err(terminated(id, "starting")),
        _ => Ok(None),
    })
    .await
}

/// The outputs of instance `id` as EC2 describes it.
fn outputs_of(id: &str, instance: &Ec2Instance) -> Res<InstanceOutputs> {
    Ok(InstanceOutputs {
        id: id.to_string(),
        private_ip: answered(
            instance.private_ip_address(),
            &format!("the private address of instance {id}"),
        )?,
        public_ip: instance.public_ip_address().map(String::from),
    })
}

/// The state of instance `id` once it is not between two states (pending, stopping, shutting
/// down): running, stopped, terminated, or `None` when EC2 no longer knows it.
pub(super) async fn settled(aws: &Aws, ctx: &Ctx, id: &str) -> Res<Option<InstanceStateName>> {
    wait_until(
        aws,
        ctx,
        id,
        "settle (running, stopped or terminated)",
        |instance| {
            Ok(match instance.as_ref().map(state) {
                None => Some(None),
                Some(Some(
                    s @ (InstanceStateName::Running
                    | InstanceStateName::Stopped
                    | InstanceStateName::Terminated),
                )) => Some(Some(s.clone())),
                Some(_) => None,
            })
        },
    )
    .await
}

/// Stops instance `id` (the OS shuts down cleanly: mongod stops) and waits until it is stopped;
/// `why` is the progress line while it stops. One still starting is first waited for (EC2
/// stops no pending instance); one stopped, terminated or gone needs nothing.
pub(super) async fn stop(aws: &Aws, ctx: &Ctx, id: &str, why: &str) -> Res<()> {
    if settled(aws, ctx, id).await? != Some(InstanceStateName::Running) {
        return Ok(());
    }
    ctx.waiting(why);
    aws.ec2
        .stop_instances()
        .instance_ids(id)
        .send()
        .await
        .or_error()?;
    wait_until(aws, ctx, id, "be stopped", |instance| {
        match instance.as_ref().and_then(state) {
            Some(InstanceStateName::Stopped | InstanceStateName::Terminated) | None => Ok(Some(())),
            _ => Ok(None),
        }
    })
    .await
}

/// AWS's answer when it cannot start or launch an instance of a type in a zone for now.
const NO_CAPACITY: &str = "InsufficientInstanceCapacity";

/// Changes the type of stopped instance `id` to `instance_type`.
async fn set_instance_type(aws: &Aws, id: &str, instance_type: &str) -> Res<()> {
    aws.ec2
        .modify_instance_attribute()
        .instance_id(id)
        .instance_type(AttributeValue::builder().value(instance_type).build())
        .send()
        .await
        .or_error()?;
    Ok(())
}

/// Starts instance `id` (when it is not running) and waits until it runs; what EC2 then says of
/// it (its public address may be new).
pub(super) async fn start(aws: &Aws, ctx: &Ctx, id: &str) -> Res<Ec2Instance> {
    match settled(aws, ctx, id).await? {
        Some(InstanceStateName::Running) => {}
        Some(InstanceStateName::Stopped) => {
            ctx.waiting(format!("starting {id}"));
            aws.ec2
                .start_instances()
                .instance_ids(id)
                .send()
                .await
                .or_error()?;
        }
        _ => return Err(terminated(id, "it was to be started")),
    }
    wait_running(aws, ctx, id).await
}

impl Instance {
    /// Turns detailed monitoring on or off as the machine asks, where it differs (no stop).
    async fn set_monitoring(&self, aws: &Aws, id: &str, live: &Ec2Instance) -> Res<()> {
        let wanted = self.machine.monitoring;
        if monitored(live) == wanted {
            return Ok(());
        }
        if wanted {
            let call = aws.ec2.monitor_instances().instance_ids(id).send().await;
            call.or_error()?;
        } else {
            let call = aws.ec2.unmonitor_instances().instance_ids(id).send().await;
            call.or_error()?;
        }
        Ok(())
    }

    /// Sets the instance's metadata options as the machine asks, where they differ (no stop).
    async fn set_metadata(&self, aws: &Aws, id: &str, live: &Ec2Instance) -> Res<()> {
        let machine = &self.machine;
        let options = live.metadata_options();
        let tokens = options.and_then(|o| o.http_tokens()).map(|t| t.as_str());
        let hops = options.and_then(|o| o.http_put_response_hop_limit());
        if tokens == Some(machine.http_tokens.as_str()) && hops == Some(machine.hop_limit) {
            return Ok(());
        }
        aws.ec2
            .modify_instance_metadata_options()
            .instance_id(id)
            .http_tokens(HttpTokensState::from(machine.http_tokens.as_str()))
            .http_put_response_hop_limit(machine.hop_limit)
            .http_endpoint(InstanceMetadataEndpointState::Enabled)
            .send()
            .await
            .or_error()?;
        Ok(())
    }

    /// Gives instance `id` the machine's type: stop, change, start (EC2 changes the type only of
    /// a stopped instance). Also starts one that an interrupted change left stopped with the new
    /// type (`was`: the type last applied). The instance as it runs, or `None` if nothing was to
    /// be done.
    async fn set_type(
        &self,
        aws: &Aws,
        ctx: &Ctx,
        id: &str,
        live: &Ec2Instance,
        was: Option<&str>,
    ) -> Res<Option<Ec2Instance>> {
        let wanted = self.machine.instance_type.as_str();
        let now = live.instance_type().map(|t| t.as_str());
        let left_stopped = was != Some(wanted)
            && matches!(
                state(live),
                Some(InstanceStateName::Stopped | InstanceStateName::Stopping)
            );
        if now == Some(wanted) && !left_stopped {
            return Ok(None);
        }
        if now != Some(wanted) {
            let why =
                format!("stopping {id} to change its type (MongoDB is down until it runs again)");
            stop(aws, ctx, id, &why).await?;
            ctx.waiting(format!("changing the type of {id} to {wanted}"));
            let changed = set_instance_type(aws, id, wanted).await;
            if let Err(refused) = changed {
                // MongoDB must not stay down: started again with the type it had.
                start(aws, ctx, id).await?;
                return Err(refused);
            }
        }
        match start(aws, ctx, id).await {
            Ok(running) => Ok(Some(running)),
            // No capacity for the new type: the type it ran with goes back, and it runs again
            // as before; the step fails, so the next plan still shows the change.
            Err(refused) if refused.code.as_deref() == Some(NO_CAPACITY) => {
                let Some(before) = now.filter(|n| *n != wanted).or(was) else {
                    return Err(refused);
                };
                ctx.waiting(format!(
                    "no {wanted} capacity: changing {id} back to {before} and starting it"
                ));
                let stopped = |e: ProviderError| {
                    let message = format!(
                        "MongoDB's instance {id} is STOPPED: AWS has no {wanted} capacity for it now ({}), and going back to {before} failed too ({}); run `up` again, or start it by hand with its old type",
                        refused.message, e.message
                    );
                    ProviderError { message, ..e }
                };
                set_instance_type(aws, id, before).await.map_err(stopped)?;
                start(aws, ctx, id).await.map_err(stopped)?;
                Err(ProviderError {
                    code: refused.code.clone(),
                    message: format!(
                        "AWS has no {wanted} capacity for {id} now, so it was changed back to {before} and runs again as before; the change stays in the plan: try again later, or choose another type ({})",
                        refused.message
                    ),
                })
            }
            Err(refused) => Err(refused),
        }
    }
}

impl AwsKind for Instance {
    const NOT_FOUND: Codes = &["InvalidInstanceID.NotFound"];
    /// What the machine refers to may have just been made.
    const NOT_YET_VISIBLE: Codes = super::machine::NOT_YET_VISIBLE;

    async fn create(&self, aws: &Aws, ctx: &Ctx) -> Res<String> {
        let request = aws
            .once
            .ec2
            .run_instances()
            .min_count(1)
            .max_count(1)
            .set_client_token(ctx.token.clone());
        // The subnet goes in the interface when the machine asks for one (EC2 refuses both).
        let subnet = self.subnet_id.get()?.clone();
        let request = match self.machine.public_ip {
            None => request.subnet_id(subnet.clone()),
            Some(_) => request,
        };
        let request = with_machine!(request, &self.machine, instance_parts, Some(subnet));
        let out = request
            .tag_specifications(tag_spec(ctx, ResourceType::Instance))
            .tag_specifications(tag_spec(ctx, ResourceType::Volume))
            .send()
            .await
            .or_error()?;
        let id = out.instances().first().and_then(|i| i.instance_id());
        new_id(id, "instance")
    }

    async fn find(&self, aws: &Aws, ctx: &Ctx) -> Res<Option<String>> {
        let state = filter("instance-state-name", &["pending", "running"]);
        find_live::<Self>(aws, ctx, state).await
    }

    /// Waits for the instance to run; its addresses.
    async fn finish(&self, aws: &Aws, ctx: &Ctx, id: &str) -> Res<Self::Outputs> {
        let instance = wait_running(aws, ctx, id).await?;
        outputs_of(id, &instance)
    }

    /// Changes in place what can be: the metadata options (no stop), the type (stop, change,
    /// start: MongoDB is down meanwhile). A new `user_data` changes nothing in the cloud: EC2
    /// runs user data only at first boot, so the new script is only recorded, for the next
    /// replacement. Compared with what EC2 says, so a retry redoes only what is left.
    async fn update(&self, aws: &Aws, ctx: &Ctx, current: &Current<Self>) -> Res<Self::Outputs> {
        let id = &current.id;
        let live = describe(aws, id)
            .await?
            .ok_or_else(|| terminated(id, "it was to be changed"))?;
        self.set_metadata(aws, id, &live).await?;
        self.set_monitoring(aws, id, &live).await?;
        let was = Some(current.args.machine.instance_type.as_str());
        match self.set_type(aws, ctx, id, &live, was).await? {
            Some(restarted) => outputs_of(id, &restarted),
            None => outputs_of(id, &live),
        }
    }

    async fn delete(aws: &Aws, ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        aws.ec2
            .terminate_instances()
            .instance_ids(&current.id)
            .send()
            .await
            .done_or_gone::<Self>()?;
        wait_until(aws, ctx, &current.id, "terminate", |instance| {
            let state = instance.as_ref().and_then(state);
            Ok(matches!(state, None | Some(InstanceStateName::Terminated)).then_some(()))
        })
        .await
    }

    /// Which instances are still there (not terminated nor shutting down), with their live
    /// subnet, image, key, groups, profile, public address, root volume (one more call, for
    /// its size and encryption), instance type, metadata options and monitoring. The user data
    /// stays as stored: EC2 ran it once, at first boot.
    async fn read(aws: &Aws, resources: Vec<Current<Self>>) -> Res<Vec<Option<Self>>> {
        let ids: Vec<String> = resources.iter().map(|r| r.id.clone()).collect();
        let volumes = aws
            .ec2
            .describe_volumes()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("attachment.instance-id")
                    .set_values(Some(ids))
                    .build(),
            )
            .send()
            .await
            .or_error()?;
        // (instance, device) -> (size, encrypted)
        let disks: BTreeMap<(String, String), (Option<i32>, Option<bool>)> = volumes
            .volumes()
            .iter()
            .flat_map(|v| {
                v.attachments().iter().filter_map(move |a| {
                    Some((
                        (a.instance_id()?.to_string(), a.device()?.to_string()),
                        (v.size(), v.encrypted()),
                    ))
                })
            })
            .collect();
        read_listed::<Self>(aws, resources, "instance-id", ending, |args, instance| {
            if let Some(subnet) = instance.subnet_id() {
                args.subnet_id = Input::Value(subnet.to_string());
            }
            let machine = &mut args.machine;
            if let Some(image) = instance.image_id() {
                machine.image_id = Input::Value(image.to_string());
            }
            machine.key_name = instance.key_name().map(String::from);
            machine.security_group_ids = instance
                .security_groups()
                .iter()
                .filter_map(|g| g.group_id())
                .map(|g| Input::Value(g.to_string()))
                .collect();
            machine.instance_profile_arn = instance
                .iam_instance_profile()
                .and_then(|p| p.arn())
                .map(|arn| Input::Value(arn.to_string()));
            // Asked for where the subnet gives none; either way, what it has.
            if instance.public_ip_address().is_some() != (machine.public_ip == Some(true)) {
                machine.public_ip = instance.public_ip_address().map(|_| true);
            }
            if let Some(root) = instance.root_device_name() {
                machine.root_device = root.to_string();
                let key = (
                    instance.instance_id().unwrap_or_default().to_string(),
                    root.to_string(),
                );
                if let Some((size, encrypted)) = disks.get(&key) {
                    machine.root_volume_gib = size.unwrap_or(machine.root_volume_gib);
                    machine.encrypted = encrypted.unwrap_or(machine.encrypted);
                }
            }
            let machine = &mut args.machine;
            if let Some(instance_type) = instance.instance_type() {
                machine.instance_type = instance_type.as_str().to_string();
            }
            let options = instance.metadata_options();
            if let Some(tokens) = options.and_then(|o| o.http_tokens()) {
                machine.http_tokens = tokens.as_str().to_string();
            }
            if let Some(hops) = options.and_then(|o| o.http_put_response_hop_limit()) {
                machine.hop_limit = hops;
            }
            machine.monitoring = monitored(instance);
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn mongodb() -> Instance {
        Instance {
            subnet_id: "subnet-1".into(),
            machine: Machine {
                key_name: None,
                ..super::super::machine::tests::machine()
            },
        }
    }

    #[test]
    fn the_machine_is_flattened_and_its_settings_replace_but_type_script_and_metadata() {
        let json = serde_json::to_value(mongodb()).unwrap();
        assert_eq!(json["subnet_id"], "subnet-1");
        assert_eq!(json["instance_type"], "t3.medium");
        assert!(json.get("machine").is_none() && json.get("key_name").is_none());
        let replace = Instance::replace_on();
        let in_place = [
            "instance_type",
            "user_data",
            "http_tokens",
            "hop_limit",
            "monitoring",
            "public_ip",
        ];
        for name in <Machine as ams_engine::Fields>::NAMES {
            assert_eq!(replace.contains(name), !in_place.contains(name), "{name}");
        }
        for name in [
            "subnet_id",
            "image_id",
            "root_volume_gib",
            "instance_profile_arn",
        ] {
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
