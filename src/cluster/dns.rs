//! The DNS tier: the user's names for the service, in their hosted zone.

use ams_aws::elbv2::LoadBalancer;
use ams_aws::route53::Record;
use ams_engine::{Program, ProgramError, Ref};

/// `name` -> the load balancer's DNS name.
pub fn declare(
    p: &mut Program,
    resource: &str,
    hosted_zone_id: &str,
    name: &str,
    load_balancer: &Ref<LoadBalancer>,
) -> Result<(), ProgramError> {
    p.add(
        resource,
        Record {
            zone_id: hosted_zone_id.to_string(),
            name: name.to_string().into(),
            record_type: "CNAME".into(),
            ttl: 300,
            value: load_balancer.dns_name().into(),
            upsert: false,
        },
    )?;
    Ok(())
}
