//! The network tier: a VPC with public subnets in two zones and a route to the internet, or the
//! VPC and subnets the stack file names.

use ams_aws::ec2::{InternetGateway, RouteTable, Subnet, Vpc};
use ams_engine::{Input, Program, ProgramError};

use crate::config::{StackConfig, Vpc as VpcChoice};

/// Where everything else runs.
pub struct Network {
    pub vpc_id: Input<String>,
    /// One per availability zone, in the stack file's order.
    pub subnet_ids: Vec<Input<String>>,
    /// What anything internet-facing must wait for: the route table that sends the subnets'
    /// traffic to the attached gateway (none for an existing VPC, which has its own).
    pub internet_route: Option<String>,
}

pub fn declare(p: &mut Program, config: &StackConfig) -> Result<Network, ProgramError> {
    let (cidr, subnet_cidrs) = match &config.network.vpc {
        VpcChoice::Existing { vpc_id, subnet_ids } => {
            return Ok(Network {
                vpc_id: vpc_id.clone().into(),
                subnet_ids: subnet_ids.iter().cloned().map(Input::from).collect(),
                internet_route: None,
            })
        }
        VpcChoice::New { cidr, subnet_cidrs } => (cidr, subnet_cidrs),
    };
    let vpc = p.add(
        "vpc",
        Vpc {
            cidr_block: cidr.to_string().into(),
        },
    )?;
    let gateway = p.add(
        "internet-gateway",
        InternetGateway {
            vpc_id: vpc.id().into(),
        },
    )?;
    let mut subnet_ids = Vec::new();
    for (index, (cidr, zone)) in subnet_cidrs
        .iter()
        .zip(&config.network.availability_zones)
        .enumerate()
    {
        let subnet = p.add(
            &format!("subnet-{}", index + 1),
            Subnet {
                vpc_id: vpc.id().into(),
                cidr_block: cidr.to_string().into(),
                availability_zone: zone.clone().into(),
                map_public_ip_on_launch: true,
            },
        )?;
        subnet_ids.push(Input::from(subnet.id()));
    }
    let route_table = p.add(
        "route-table",
        RouteTable {
            vpc_id: vpc.id().into(),
            internet_gateway_id: gateway.id().into(),
            subnet_ids: subnet_ids.clone(),
        },
    )?;
    Ok(Network {
        vpc_id: vpc.id().into(),
        subnet_ids,
        internet_route: Some(route_table.logical_name().to_string()),
    })
}
