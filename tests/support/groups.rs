//! The origin and edge groups as a test sees them from outside: their instances, how many
//! serve, the launch template version they launch.

/// The instances of the `tier` group (origin, edge): (id, launch template version, lifecycle state).
pub async fn instances(
    asg: &aws_sdk_autoscaling::Client,
    tier: &str,
) -> Vec<(String, String, String)> {
    let groups = asg
        .describe_auto_scaling_groups()
        .send()
        .await
        .expect("groups");
    let group = groups
        .auto_scaling_groups()
        .iter()
        .find(|g| {
            g.auto_scaling_group_name()
                .is_some_and(|n| n.contains(&format!("{tier}-group")))
        })
        .unwrap_or_else(|| panic!("{tier} group"));
    group
        .instances()
        .iter()
        .map(|i| {
            (
                i.instance_id().unwrap_or_default().to_string(),
                i.launch_template()
                    .and_then(|t| t.version())
                    .unwrap_or_default()
                    .to_string(),
                i.lifecycle_state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// How many of the `tier` group's instances are InService and healthy in its HTTP target group.
pub async fn serving(
    asg: &aws_sdk_autoscaling::Client,
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    tier: &str,
) -> usize {
    let instances = instances(asg, tier).await;
    let groups = elb.describe_target_groups().send().await.expect("tgs");
    let Some(arn) = groups
        .target_groups()
        .iter()
        .find(|t| {
            t.target_group_name()
                .is_some_and(|n| n.contains(&format!("{tier}-target")))
        })
        .and_then(|t| t.target_group_arn())
    else {
        return 0;
    };
    let health = elb
        .describe_target_health()
        .target_group_arn(arn)
        .send()
        .await
        .expect("health");
    instances
        .iter()
        .filter(|(id, _, state)| {
            state == "InService"
                && health.target_health_descriptions().iter().any(|d| {
                    d.target().and_then(|t| t.id()) == Some(id.as_str())
                        && d.target_health()
                            .and_then(|h| h.state())
                            .map(|s| s.as_str())
                            == Some("healthy")
                })
        })
        .count()
}

/// The launch template version the `tier` group launches.
pub async fn group_version(asg: &aws_sdk_autoscaling::Client, tier: &str) -> String {
    let groups = asg
        .describe_auto_scaling_groups()
        .send()
        .await
        .expect("groups");
    groups
        .auto_scaling_groups()
        .iter()
        .find(|g| {
            g.auto_scaling_group_name()
                .is_some_and(|n| n.contains(&format!("{tier}-group")))
        })
        .and_then(|g| g.launch_template())
        .and_then(|t| t.version())
        .unwrap_or_default()
        .to_string()
}

/// The name of the `tier` group (origin, edge).
pub async fn group_name(asg: &aws_sdk_autoscaling::Client, tier: &str) -> String {
    let groups = asg
        .describe_auto_scaling_groups()
        .send()
        .await
        .expect("groups");
    groups
        .auto_scaling_groups()
        .iter()
        .filter_map(|g| g.auto_scaling_group_name())
        .find(|n| n.contains(&format!("{tier}-group")))
        .unwrap_or_else(|| panic!("{tier} group"))
        .to_string()
}

/// Watches how many instances of the `tiers` groups serve (the fewest of any tier), every
/// 100 ms, until `stop`.
pub struct ServingWatch {
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    least: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    samples: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl ServingWatch {
    pub fn start(
        asg: &aws_sdk_autoscaling::Client,
        elb: &aws_sdk_elasticloadbalancingv2::Client,
        tiers: &'static [&'static str],
    ) -> ServingWatch {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        use std::sync::Arc;
        let done = Arc::new(AtomicBool::new(false));
        let least = Arc::new(AtomicUsize::new(usize::MAX));
        let samples = Arc::new(AtomicUsize::new(0));
        let task = {
            let (done, least, samples) = (done.clone(), least.clone(), samples.clone());
            let (asg, elb) = (asg.clone(), elb.clone());
            tokio::spawn(async move {
                while !done.load(Ordering::SeqCst) {
                    let mut now = usize::MAX;
                    for tier in tiers {
                        now = now.min(serving(&asg, &elb, tier).await);
                    }
                    least.fetch_min(now, Ordering::SeqCst);
                    samples.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            })
        };
        ServingWatch {
            done,
            least,
            samples,
            task,
        }
    }

    /// Stops watching: the fewest serving seen, and how many times it looked.
    pub async fn stop(self) -> (usize, usize) {
        use std::sync::atomic::Ordering;
        self.done.store(true, Ordering::SeqCst);
        self.task.await.expect("watcher");
        (
            self.least.load(Ordering::SeqCst),
            self.samples.load(Ordering::SeqCst),
        )
    }
}
