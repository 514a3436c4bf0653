//! The network tier: a VPC with public subnets in two zones and a route to the internet, and
//! (with `[network] private_database`, the default) private subnets whose way out is a NAT
//! gateway; or the VPC and subnets the stack file names.

use ams_aws::ec2::{
    DefaultSecurityGroupRules, ElasticIp, InternetGateway, NatGateway, RouteTable, Subnet, Vpc,
};
use ams_engine::{Input, Program, ProgramError};

use crate::config::{StackConfig, Vpc as VpcChoice};

/// Where everything else runs.
pub struct Network {
    pub vpc_id: Input<String>,
    /// One per availability zone, in the stack file's order.
    pub subnet_ids: Vec<Input<String>>,
    /// The private subnets, one per zone in the same order (none without `private_database`).
    pub private_subnet_ids: Vec<Input<String>>,
    /// What anything internet-facing must wait for: the route table that sends the subnets'
    /// traffic to the attached gateway (none for an existing VPC, which has its own).
    pub internet_route: Option<String>,
    /// What anything in a private subnet must wait for to reach the internet: the route table
    /// that sends their traffic to the NAT gateway, once it is available.
    pub private_route: Option<String>,
}

impl Network {
    /// Where MongoDB goes: the first private subnet, or else the first public one (the zone of
    /// its data volume either way).
    pub fn database_subnet(&self) -> Input<String> {
        self.private_subnet_ids
            .first()
            .or(self.subnet_ids.first())
            .cloned()
            .unwrap_or_else(|| Input::from(""))
    }

    /// What MongoDB waits for: the route it reaches the internet by.
    pub fn database_route(&self) -> Vec<&str> {
        self.private_route
            .as_deref()
            .or(self.internet_route.as_deref())
            .into_iter()
            .collect()
    }
}

pub fn declare(p: &mut Program, config: &StackConfig) -> Result<Network, ProgramError> {
    let (cidr, subnet_cidrs, private_cidrs) = match &config.network.vpc {
        VpcChoice::Existing { vpc_id, subnet_ids } => {
            return Ok(Network {
                vpc_id: vpc_id.clone().into(),
                subnet_ids: subnet_ids.iter().cloned().map(Input::from).collect(),
                private_subnet_ids: Vec::new(),
                internet_route: None,
                private_route: None,
            })
        }
        VpcChoice::New {
            cidr,
            subnet_cidrs,
            private_subnet_cidrs,
        } => (cidr, subnet_cidrs, private_subnet_cidrs),
    };
    let vpc = p.add(
        "vpc",
        Vpc {
            cidr_block: cidr.to_string().into(),
        },
    )?;
    // The default group keeps no rule (CIS, Security Hub EC2.2): nothing here uses it.
    p.add(
        "vpc-default-sg-rules",
        DefaultSecurityGroupRules {
            vpc_id: vpc.id().into(),
            rules: 0,
        },
    )?;
    let gateway = p.add(
        "internet-gateway",
        InternetGateway {
            vpc_id: vpc.id().into(),
        },
    )?;
    let zones = &config.network.availability_zones;
    let mut subnets = |prefix: &str, cidrs: &[ipnet::Ipv4Net]| {
        let mut ids = Vec::new();
        for (index, (cidr, zone)) in cidrs.iter().zip(zones).enumerate() {
            let subnet = p.add(
                &format!("{prefix}-{}", index + 1),
                Subnet {
                    vpc_id: vpc.id().into(),
                    cidr_block: cidr.to_string().into(),
                    availability_zone: zone.clone().into(),
                    // Nothing gets a public address unless it asks for one (Security Hub
                    // EC2.15): the nodes' launch templates do.
                    map_public_ip_on_launch: false,
                },
            )?;
            ids.push(Input::from(subnet.id()));
        }
        Ok::<_, ProgramError>(ids)
    };
    let subnet_ids = subnets("subnet", subnet_cidrs)?;
    let private_subnet_ids = subnets("private-subnet", private_cidrs)?;
    let route_table = p.add(
        "route-table",
        RouteTable {
            vpc_id: vpc.id().into(),
            internet_gateway_id: Some(gateway.id().into()),
            nat_gateway_id: None,
            subnet_ids: subnet_ids.clone(),
        },
    )?;
    let internet_route = route_table.logical_name().to_string();
    let mut private_route = None;
    if let Some(first_public) = subnet_ids
        .first()
        .filter(|_| !private_subnet_ids.is_empty())
    {
        let address = p.add("nat-address", ElasticIp {})?;
        // A NAT gateway is useless until its subnet routes to the internet gateway; its delete
        // (which waits until it is gone) then comes before the gateway's detach, which AWS
        // refuses while it maps a public address.
        let nat = p.add_after(
            "nat-gateway",
            NatGateway {
                subnet_id: first_public.clone(),
                allocation_id: address.id().into(),
            },
            &[&internet_route],
        )?;
        let private_table = p.add(
            "private-route-table",
            RouteTable {
                vpc_id: vpc.id().into(),
                internet_gateway_id: None,
                nat_gateway_id: Some(nat.id().into()),
                subnet_ids: private_subnet_ids.clone(),
            },
        )?;
        private_route = Some(private_table.logical_name().to_string());
    }
    Ok(Network {
        vpc_id: vpc.id().into(),
        subnet_ids,
        private_subnet_ids,
        internet_route: Some(internet_route),
        private_route,
    })
}
