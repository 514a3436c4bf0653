//! `[network]`: a new VPC carved into public subnets (and private ones for MongoDB), or the VPC
//! and subnets the stack file names.

use ipnet::Ipv4Net;

use super::raw::RawNetwork;
use super::{ConfigError, SourceFile};

#[derive(Clone, Debug)]
pub struct Network {
    pub vpc: Vpc,
    pub availability_zones: Vec<String>,
    pub admin_cidr: Ipv4Net,
    /// MongoDB in a private subnet, out through a NAT gateway (default on, for a new VPC only).
    pub private_database: bool,
}

#[derive(Clone, Debug)]
pub enum Vpc {
    /// The stack makes the VPC; one public subnet per zone, carved from `cidr`, then (with
    /// `private_database`) one private subnet per zone, carved after them.
    New {
        cidr: Ipv4Net,
        subnet_cidrs: Vec<Ipv4Net>,
        private_subnet_cidrs: Vec<Ipv4Net>,
    },
    /// The stack uses a VPC and subnets that exist (one subnet per zone, same order).
    Existing {
        vpc_id: String,
        subnet_ids: Vec<String>,
    },
}

impl SourceFile<'_> {
    /// `[network]`: a new VPC carved into one public subnet per zone (and one private one per
    /// zone with `private_database`, the default), or an existing one; whether MongoDB is in a
    /// private subnet.
    pub(super) fn network(
        &self,
        raw: &RawNetwork,
    ) -> Result<(Vpc, Vec<String>, bool), ConfigError> {
        let zones = raw.availability_zones.get_ref().clone();
        if zones.len() < 2 {
            return Err(self.error(
                "network.availability_zones",
                &raw.availability_zones,
                format!(
                    "the load balancer needs at least two availability zones, found {}",
                    zones.len()
                ),
            ));
        }
        let vpc = match (&raw.vpc_id, &raw.subnet_ids, &raw.vpc_cidr) {
            (Some(vpc_id), Some(subnets), _) => {
                if let Some(private) = raw.private_database.as_ref().filter(|p| *p.get_ref()) {
                    return Err(self.error(
                        "network.private_database",
                        private,
                        "ams-stack makes private subnets only in a VPC it makes: with `vpc_id`, \
                         remove `private_database` (MongoDB then goes in the first of `subnet_ids`, \
                         which may be private already)",
                    ));
                }
                if subnets.get_ref().len() != zones.len() {
                    return Err(self.error(
                        "network.subnet_ids",
                        subnets,
                        format!(
                            "give one subnet per availability zone ({} zones, {} subnets)",
                            zones.len(),
                            subnets.get_ref().len()
                        ),
                    ));
                }
                Vpc::Existing {
                    vpc_id: vpc_id.get_ref().clone(),
                    subnet_ids: subnets.get_ref().clone(),
                }
            }
            (Some(vpc_id), None, _) => {
                return Err(self.error(
                    "network.vpc_id",
                    vpc_id,
                    "an existing VPC needs `subnet_ids` too",
                ))
            }
            (None, _, Some(cidr_text)) => {
                let cidr = self.cidr("network.vpc_cidr", cidr_text)?;
                // AMS trusts the load balancer's X-Forwarded-For (its dashboard IP filter) only
                // from private addresses: elsewhere the panel would refuse everyone.
                let private_ranges = [
                    "10.0.0.0/8",
                    "172.16.0.0/12",
                    "192.168.0.0/16",
                    "100.64.0.0/10",
                ];
                if !private_ranges
                    .iter()
                    .filter_map(|p| p.parse::<Ipv4Net>().ok())
                    .any(|p| p.contains(&cidr))
                {
                    return Err(self.error(
                        "network.vpc_cidr",
                        cidr_text,
                        format!("{cidr} is not a private range: use one inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10"),
                    ));
                }
                let private = raw.private_database.as_ref().is_none_or(|p| *p.get_ref());
                let wanted = if private {
                    2 * zones.len()
                } else {
                    zones.len()
                };
                let new_prefix = (cidr.prefix_len() + 4).min(28);
                let carved: Vec<Ipv4Net> = cidr
                    .subnets(new_prefix)
                    .map(|s| s.take(wanted).collect())
                    .unwrap_or_default();
                if cidr.prefix_len() > 24 || carved.len() < wanted {
                    return Err(self.error(
                        "network.vpc_cidr",
                        cidr_text,
                        format!(
                            "{cidr} is too small for {wanted} subnets ({} zones{}); use a /24 or larger",
                            zones.len(),
                            if private { ", public and private" } else { "" }
                        ),
                    ));
                }
                // The public subnets first, as before private ones existed: their blocks stay.
                let (public, private_cidrs) = carved.split_at(zones.len());
                Vpc::New {
                    cidr,
                    subnet_cidrs: public.to_vec(),
                    private_subnet_cidrs: private_cidrs.to_vec(),
                }
            }
            (None, _, None) => return Err(self.error(
                "network",
                &raw.availability_zones,
                "give `vpc_cidr` for a new VPC, or `vpc_id` and `subnet_ids` for an existing one",
            )),
        };
        let private_database = matches!(&vpc, Vpc::New { private_subnet_cidrs, .. } if !private_subnet_cidrs.is_empty());
        Ok((vpc, zones, private_database))
    }
}
