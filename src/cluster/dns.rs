//! The DNS tier: the user's names for the service, in their hosted zone. A name inside the zone
//! is a CNAME to the load balancer; the zone's own name (its apex), where Route 53 allows no
//! CNAME, is an A record aliased to the load balancer.

use ams_aws::elbv2::LoadBalancer;
use ams_aws::route53::{Record, Target};
use ams_engine::{Program, ProgramError, Ref};

/// `name` -> the load balancer's DNS name, in the zone `hosted_zone` (its id and its name).
pub fn declare(
    p: &mut Program,
    resource: &str,
    (hosted_zone_id, hosted_zone): (&str, &str),
    name: &str,
    load_balancer: &Ref<LoadBalancer>,
) -> Result<(), ProgramError> {
    let apex = name
        .trim_end_matches('.')
        .eq_ignore_ascii_case(hosted_zone.trim_end_matches('.'));
    let (record_type, value) = if apex {
        (
            "A",
            Target::alias(load_balancer.dns_name(), load_balancer.zone_id()),
        )
    } else {
        ("CNAME", load_balancer.dns_name().into())
    };
    p.add(
        resource,
        Record {
            zone_id: hosted_zone_id.to_string(),
            name: name.to_string().into(),
            record_type: record_type.into(),
            ttl: 300,
            value,
            upsert: false,
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The record declared for `name` in zone `example.com`, as JSON.
    fn declared(name: &str) -> serde_json::Value {
        let mut p = Program::new();
        let alb = p
            .add(
                "alb",
                LoadBalancer {
                    subnet_ids: vec![],
                    security_group_ids: vec![],
                    load_balancer_type: "application".into(),
                    deletion_protection: false,
                    drop_invalid_header_fields: false,
                    cross_zone: false,
                    access_logs: None,
                },
            )
            .expect("declared");
        declare(&mut p, "dns-record", ("Z1", "example.com"), name, &alb).expect("declared");
        p.get("dns-record").expect("record").args.clone()
    }

    #[test]
    fn a_name_inside_the_zone_is_a_cname_as_it_always_was() {
        assert_eq!(
            declared("stream.example.com"),
            json!({"zone_id": "Z1", "name": "stream.example.com", "type": "CNAME", "ttl": 300,
                   "value": {"$ref": {"resource": "alb", "output": "dns_name"}},
                   "upsert": false})
        );
    }

    #[test]
    fn the_zone_apex_is_an_alias_a_record_to_the_load_balancer() {
        let record = declared("Example.com.");
        assert_eq!(record["type"], "A");
        assert_eq!(
            record["value"],
            json!({"alias": {
                "dns_name": {"$ref": {"resource": "alb", "output": "dns_name"}},
                "zone_id": {"$ref": {"resource": "alb", "output": "zone_id"}}}})
        );
    }
}
