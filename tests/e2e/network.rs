//! The network: one VPC with a public and a private subnet in each zone, the public ones routed
//! to the internet gateway, the private ones through the NAT gateway; no subnet hands out public
//! addresses and the VPC's default security group has no rule.

use super::deployed::cluster;
use super::{filter, subnet_id, tagged};

/// The stack's VPC's id.
async fn vpc_id(ec2: &aws_sdk_ec2::Client) -> String {
    ec2.describe_vpcs()
        .filters(tagged("vpc"))
        .send()
        .await
        .expect("vpcs")
        .vpcs()[0]
        .vpc_id()
        .expect("id")
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_vpc_with_a_public_and_a_private_subnet_in_each_zone_and_a_route_to_the_internet() {
    let ec2 = aws_sdk_ec2::Client::new(&cluster().moto.sdk().await);
    let vpcs = ec2
        .describe_vpcs()
        .filters(tagged("vpc"))
        .send()
        .await
        .expect("vpcs");
    assert_eq!(vpcs.vpcs().len(), 1);
    let vpc = &vpcs.vpcs()[0];
    assert_eq!(vpc.cidr_block(), Some("10.0.0.0/16"));
    let vpc_id = vpc.vpc_id().expect("id");
    let subnets = ec2
        .describe_subnets()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(vpc_id)
                .build(),
        )
        .send()
        .await
        .expect("subnets");
    let mut zones: Vec<_> = subnets
        .subnets()
        .iter()
        .filter_map(|s| s.availability_zone())
        .collect();
    zones.sort();
    assert_eq!(
        zones,
        ["ap-south-1a", "ap-south-1a", "ap-south-1b", "ap-south-1b"],
        "a public and a private subnet in each zone"
    );
    let gateways = ec2
        .describe_internet_gateways()
        .filters(tagged("internet-gateway"))
        .send()
        .await
        .expect("igw");
    assert_eq!(
        gateways.internet_gateways()[0].attachments()[0].vpc_id(),
        Some(vpc_id)
    );
    let tables = ec2
        .describe_route_tables()
        .filters(tagged("route-table"))
        .send()
        .await
        .expect("rt");
    let table = &tables.route_tables()[0];
    assert!(table
        .routes()
        .iter()
        .any(|r| r.destination_cidr_block() == Some("0.0.0.0/0")
            && r.gateway_id().is_some_and(|g| g.starts_with("igw-"))));
    assert_eq!(table.associations().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_subnet_hands_out_public_addresses_and_the_default_security_group_has_no_rule() {
    let ec2 = aws_sdk_ec2::Client::new(&cluster().moto.sdk().await);
    let vpc_id = vpc_id(&ec2).await;
    let subnets = ec2
        .describe_subnets()
        .filters(filter("vpc-id", &vpc_id))
        .send()
        .await
        .expect("subnets");
    for subnet in subnets.subnets() {
        assert_eq!(subnet.map_public_ip_on_launch(), Some(false), "{subnet:?}");
    }
    assert_eq!(
        subnets.subnets().len(),
        4,
        "a public and a private subnet per zone"
    );
    let default_sg = ec2
        .describe_security_groups()
        .filters(filter("vpc-id", &vpc_id))
        .filters(filter("group-name", "default"))
        .send()
        .await
        .expect("default sg");
    let default_sg = &default_sg.security_groups()[0];
    assert!(default_sg.ip_permissions().is_empty(), "{default_sg:?}");
    assert!(
        default_sg.ip_permissions_egress().is_empty(),
        "{default_sg:?}"
    );
}

/// The private subnets go out through the NAT gateway, in the first public subnet with its own
/// address.
#[tokio::test(flavor = "multi_thread")]
async fn the_private_subnets_go_out_through_the_nat_gateway_in_the_first_public_subnet() {
    let ec2 = aws_sdk_ec2::Client::new(&cluster().moto.sdk().await);
    let nat = ec2
        .describe_nat_gateways()
        .filter(tagged("nat-gateway"))
        .send()
        .await
        .expect("nat");
    let nat = &nat.nat_gateways()[0];
    assert_eq!(nat.state().map(|s| s.as_str()), Some("available"));
    assert_eq!(
        nat.subnet_id(),
        Some(subnet_id(&ec2, "subnet-1").await.as_str())
    );
    assert!(nat.nat_gateway_addresses()[0].public_ip().is_some());
    let private = ec2
        .describe_route_tables()
        .filters(tagged("private-route-table"))
        .send()
        .await
        .expect("private rt");
    let private = &private.route_tables()[0];
    assert!(private
        .routes()
        .iter()
        .any(|r| r.destination_cidr_block() == Some("0.0.0.0/0")
            && r.nat_gateway_id() == nat.nat_gateway_id()));
    let mut routed: Vec<String> = private
        .associations()
        .iter()
        .filter_map(|a| a.subnet_id().map(String::from))
        .collect();
    routed.sort();
    let mut private_subnets = vec![
        subnet_id(&ec2, "private-subnet-1").await,
        subnet_id(&ec2, "private-subnet-2").await,
    ];
    private_subnets.sort();
    assert_eq!(routed, private_subnets);
}
