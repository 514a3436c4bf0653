//! A monthly cost estimate of a stack and of a change, from the price table in `data/prices.toml`.
//!
//! An estimate, not a quote: on-demand prices, nodes counted at their group's minimum and
//! maximum size, no data transfer or load balancer capacity units. A type without a price is
//! said to have none, never counted as free.

use std::collections::BTreeMap;

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
    gp3_gb_month: f64,
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
    let machine = |args: &Json, min: f64, max: f64, estimate: &mut Estimate| {
        let instance_type = args
            .get("instance_type")
            .and_then(Json::as_str)
            .unwrap_or("(unknown type)");
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
        let gib = args
            .get("root_volume_gib")
            .and_then(Json::as_f64)
            .unwrap_or(0.0);
        estimate.monthly_min += gib * prices.gp3_gb_month * min;
        estimate.monthly_max += gib * prices.gp3_gb_month * max;
    };
    for resource in resources {
        match resource.type_name {
            "aws:ec2:Instance" => machine(resource.args, 1.0, 1.0, &mut estimate),
            "aws:elbv2:LoadBalancer" => {
                estimate.monthly_min += prices.alb_hour * hours;
                estimate.monthly_max += prices.alb_hour * hours;
            }
            "aws:autoscaling:Group" => {
                let size = |key: &str| resource.args.get(key).and_then(Json::as_f64).unwrap_or(0.0);
                if let Some(template) =
                    launch_template(resources, resource.args.get("launch_template_id"))
                {
                    machine(
                        template.args,
                        size("min_size"),
                        size("max_size"),
                        &mut estimate,
                    );
                }
            }
            _ => {}
        }
    }
    estimate
}

/// The launch template a group uses: by reference (declared) or by id (stored).
fn launch_template<'a>(
    resources: &'a [Priced<'a>],
    reference: Option<&Json>,
) -> Option<&'a Priced<'a>> {
    let reference = reference?;
    let by_name = reference.pointer("/$ref/resource").and_then(Json::as_str);
    resources
        .iter()
        .find(|r| match (by_name, reference.as_str()) {
            (Some(name), _) => r.name == name,
            (None, Some(id)) => r.id == Some(id),
            _ => false,
        })
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
    use serde_json::json;

    use super::*;

    #[test]
    fn counts_instances_groups_at_min_and_max_and_the_load_balancer() {
        let mongodb = json!({"instance_type": "m5.xlarge", "root_volume_gib": 50});
        let template = json!({"instance_type": "c5.xlarge", "root_volume_gib": 30});
        let group = json!({"launch_template_id": {"$ref": {"resource": "lt", "output": "id"}}, "min_size": 1, "max_size": 10});
        let resources = [
            Priced {
                name: "mongodb",
                id: None,
                type_name: "aws:ec2:Instance",
                args: &mongodb,
            },
            Priced {
                name: "lt",
                id: None,
                type_name: "aws:ec2:LaunchTemplate",
                args: &template,
            },
            Priced {
                name: "group",
                id: None,
                type_name: "aws:autoscaling:Group",
                args: &group,
            },
            Priced {
                name: "alb",
                id: None,
                type_name: "aws:elbv2:LoadBalancer",
                args: &Json::Null,
            },
        ];
        let estimate = estimate(&resources, "ap-south-1");
        let expected_min =
            0.202 * 730.0 + 50.0 * 0.0912 + (0.170 * 730.0 + 30.0 * 0.0912) + 0.0239 * 730.0;
        assert!(
            (estimate.monthly_min - expected_min).abs() < 0.01,
            "{estimate:?}"
        );
        assert!(estimate.monthly_max > estimate.monthly_min);
        assert!(estimate.unpriced.is_empty());
    }

    #[test]
    fn an_unknown_type_has_no_price_rather_than_zero() {
        let instance = json!({"instance_type": "c9.huge"});
        let resources = [Priced {
            name: "x",
            id: None,
            type_name: "aws:ec2:Instance",
            args: &instance,
        }];
        let estimate = estimate(&resources, "ap-south-1");
        assert_eq!(estimate.unpriced, ["c9.huge in ap-south-1"]);
    }

    #[test]
    fn dollars_are_grouped() {
        assert_eq!(dollars(1234.567), "$1,234.57");
        assert_eq!(dollars(-5.0), "-$5.00");
    }
}
