//! A monthly cost estimate of a stack and of a change, from the price table in `data/prices.toml`.
//!
//! An estimate, not a quote: on-demand prices, nodes counted at their group's minimum and
//! maximum size, no data transfer or load balancer capacity units; what is billed by use (the
//! NAT gateway's data, the S3 storage of the load balancer's access logs: a busy cluster writes
//! megabytes a day, kept `access_log_days`, cents a month) is named, not counted. A type without a price is
//! said to have none, never counted as free.

use std::collections::BTreeMap;

use ams_aws::autoscaling::Group;
use ams_aws::ec2::{ElasticIp, Instance, LaunchTemplate, Machine, NatGateway};
use ams_aws::elbv2::LoadBalancer;
use ams_engine::Input;
use serde::Deserialize;
use serde_json::Value as Json;

const TABLE: &str = include_str!("../data/prices.toml");

#[derive(Deserialize)]
struct Table {
    source: String,
    date: String,
    hours_per_month: f64,
    regions: BTreeMap<String, RegionPrices>,
}

#[derive(Deserialize)]
struct RegionPrices {
    alb_hour: f64,
    nlb_hour: f64,
    gp3_gb_month: f64,
    /// A NAT gateway: by the hour, and by the GB it processes.
    nat_hour: f64,
    nat_gb: f64,
    /// A public IPv4 address (an Elastic IP included), by the hour.
    public_ipv4_hour: f64,
    /// Detailed (one-minute) monitoring of one instance, a month (CloudWatch bills its 7
    /// metrics as custom metrics).
    detailed_monitoring_month: f64,
    instances: BTreeMap<String, f64>,
}

/// One resource as the estimate sees it: declared arguments (with references) or stored inputs.
pub struct Priced<'a> {
    pub name: &'a str,
    pub id: Option<&'a str>,
    pub type_name: &'a str,
    pub args: &'a Json,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Estimate {
    /// Monthly dollars with node groups at their minimum and maximum sizes.
    pub monthly_min: f64,
    pub monthly_max: f64,
    /// What has no price in the table, e.g. `c9.huge in ap-south-1`.
    pub unpriced: Vec<String>,
    /// What is billed by use and so not counted, with its price (the NAT gateway's data).
    pub by_use: Vec<String>,
}

/// The table's provenance, for the preview's footnote.
pub fn source() -> String {
    match toml::from_str::<Table>(TABLE) {
        Ok(table) => format!("{}, {}", table.source, table.date),
        Err(_) => "price table unreadable".into(),
    }
}

/// Estimates the monthly cost of `resources` in `region`.
pub fn estimate(resources: &[Priced<'_>], region: &str) -> Estimate {
    let Ok(table) = toml::from_str::<Table>(TABLE) else {
        return Estimate {
            unpriced: vec!["everything (the price table is unreadable)".into()],
            ..Estimate::default()
        };
    };
    let Some(prices) = table.regions.get(region) else {
        return Estimate {
            unpriced: vec![format!(
                "everything in {region} (no prices for that region)"
            )],
            ..Estimate::default()
        };
    };
    let hours = table.hours_per_month;
    let mut estimate = Estimate::default();
    let mut machine = |machine: &Machine, min: f64, max: f64| {
        let instance_type = &machine.instance_type;
        match prices.instances.get(instance_type) {
            Some(hourly) => {
                estimate.monthly_min += hourly * hours * min;
                estimate.monthly_max += hourly * hours * max;
            }
            None if min > 0.0 || max > 0.0 => {
                let what = format!("{instance_type} in {region}");
                if !estimate.unpriced.contains(&what) {
                    estimate.unpriced.push(what);
                }
            }
            None => {}
        }
        let gib = f64::from(machine.root_volume_gib);
        estimate.monthly_min += gib * prices.gp3_gb_month * min;
        estimate.monthly_max += gib * prices.gp3_gb_month * max;
        if machine.monitoring {
            estimate.monthly_min += prices.detailed_monitoring_month * min;
            estimate.monthly_max += prices.detailed_monitoring_month * max;
        }
    };
    let mut by_use = Vec::new();
    let mut fixed = 0.0;
    for resource in resources {
        if let Some(instance) = resource.view::<Instance>() {
            machine(&instance.machine, 1.0, 1.0);
        } else if let Some(balancer) = resource.view::<LoadBalancer>() {
            fixed += hours
                * if balancer.load_balancer_type == "network" {
                    prices.nlb_hour
                } else {
                    prices.alb_hour
                };
        } else if resource.view::<NatGateway>().is_some() {
            fixed += hours * prices.nat_hour;
            by_use.push(format!(
                "data through the NAT gateway ({}/GB)",
                dollars_exact(prices.nat_gb)
            ));
        } else if resource.view::<ElasticIp>().is_some() {
            fixed += hours * prices.public_ipv4_hour;
        } else if let Some(group) = resource.view::<Group>() {
            if let Some(template) = launch_template(resources, &group.launch_template_id) {
                machine(
                    &template.machine,
                    f64::from(group.min_size),
                    f64::from(group.max_size),
                );
            }
        }
    }
    estimate.monthly_min += fixed;
    estimate.monthly_max += fixed;
    estimate.by_use = by_use;
    estimate
}

/// `$0.056`: a unit price, to the tenth of a cent.
fn dollars_exact(amount: f64) -> String {
    format!("${amount:.3}")
}

impl Priced<'_> {
    fn view<K: ams_engine::Kind>(&self) -> Option<K> {
        ams_engine::view(self.type_name, self.args)
    }
}

/// The launch template a group uses: by reference (declared) or by id (stored).
fn launch_template(resources: &[Priced<'_>], reference: &Input<String>) -> Option<LaunchTemplate> {
    resources
        .iter()
        .find(|r| match reference {
            Input::Output(output) => r.name == output.resource(),
            Input::Value(id) => r.id == Some(id.as_str()),
            Input::Concat(_) => false,
        })
        .and_then(|r| r.view::<LaunchTemplate>())
}

/// `$1,234.56`.
pub fn dollars(amount: f64) -> String {
    let cents = (amount * 100.0).round() as i64;
    let (whole, fraction) = (cents.abs() / 100, cents.abs() % 100);
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!(
        "{}${grouped}.{fraction:02}",
        if cents < 0 { "-" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use ams_aws::autoscaling::Group;
    use ams_aws::ec2::{ElasticIp, Instance, LaunchTemplate, Machine, NatGateway};
    use ams_aws::elbv2::LoadBalancer;
    use ams_engine::{Input, Kind, Output};

    use super::*;

    fn machine(instance_type: &str, root_volume_gib: i32) -> Machine {
        Machine {
            image_id: "ami-1".into(),
            instance_type: instance_type.into(),
            key_name: None,
            security_group_ids: Vec::new(),
            user_data: "".into(),
            root_volume_gib,
            root_device: "/dev/sda1".into(),
            encrypted: true,
            http_tokens: "required".into(),
            hop_limit: 1,
            instance_profile_arn: None,
            public_ip: None,
            monitoring: true,
        }
    }

    fn load_balancer(load_balancer_type: &str) -> LoadBalancer {
        LoadBalancer {
            subnet_ids: Vec::new(),
            security_group_ids: Vec::new(),
            load_balancer_type: load_balancer_type.into(),
            deletion_protection: false,
            drop_invalid_header_fields: false,
            cross_zone: false,
            access_logs: None,
        }
    }

    fn json<K: Kind>(kind: &K) -> Json {
        serde_json::to_value(kind).expect("representable")
    }

    fn priced<'a, K: Kind>(name: &'a str, args: &'a Json) -> Priced<'a> {
        Priced {
            name,
            id: None,
            type_name: K::TYPE,
            args,
        }
    }

    #[test]
    fn counts_instances_groups_at_min_and_max_and_the_load_balancers() {
        let mongodb = json(&Instance {
            subnet_id: "subnet-1".into(),
            machine: machine("m5.xlarge", 50),
        });
        let template = json(&LaunchTemplate {
            machine: machine("c5.xlarge", 30),
        });
        let group = json(&Group {
            launch_template_id: Input::Output(Output::new("lt", "id")),
            launch_template_version: None,
            health_timeout_seconds: None,
            max_batch: None,
            min_size: 1,
            max_size: 10,
            subnet_ids: Vec::new(),
            target_group_arns: Vec::new(),
            health_check_grace_seconds: 300,
            launch_hook: None,
            suspended_processes: Vec::new(),
        });
        let alb = json(&load_balancer("application"));
        let nlb = json(&load_balancer("network"));
        let nat = json(&NatGateway {
            subnet_id: "subnet-1".into(),
            allocation_id: "eipalloc-1".into(),
        });
        let address = json(&ElasticIp {});
        let resources = [
            priced::<Instance>("mongodb", &mongodb),
            priced::<LaunchTemplate>("lt", &template),
            priced::<Group>("group", &group),
            priced::<LoadBalancer>("alb", &alb),
            priced::<LoadBalancer>("nlb", &nlb),
            priced::<NatGateway>("nat-gateway", &nat),
            priced::<ElasticIp>("nat-address", &address),
        ];
        let estimate = estimate(&resources, "ap-south-1");
        // Each machine with its detailed monitoring (2.10 a month); the NAT gateway and its
        // address by the hour.
        let expected_min = 0.202 * 730.0
            + 50.0 * 0.0912
            + 2.10
            + (0.170 * 730.0 + 30.0 * 0.0912 + 2.10)
            + 2.0 * 0.0239 * 730.0
            + 0.056 * 730.0
            + 0.005 * 730.0;
        assert!(
            (estimate.monthly_min - expected_min).abs() < 0.01,
            "{estimate:?}"
        );
        assert!(estimate.monthly_max > estimate.monthly_min);
        assert!(estimate.unpriced.is_empty());
        assert_eq!(
            estimate.by_use,
            ["data through the NAT gateway ($0.056/GB)"]
        );
    }

    #[test]
    fn an_unknown_type_has_no_price_rather_than_zero() {
        let instance = json(&Instance {
            subnet_id: "subnet-1".into(),
            machine: machine("c9.huge", 8),
        });
        let resources = [priced::<Instance>("x", &instance)];
        let estimate = estimate(&resources, "ap-south-1");
        assert_eq!(estimate.unpriced, ["c9.huge in ap-south-1"]);
    }

    #[test]
    fn dollars_are_grouped() {
        assert_eq!(dollars(1234.567), "$1,234.57");
        assert_eq!(dollars(-5.0), "-$5.00");
    }
}
