//! The security groups: the load balancer open on its four ports, the nodes reachable from the
//! load balancer and from each other (and on the WebRTC UDP range), MongoDB from the nodes only
//! and SSH to it from the admin network only.

use super::deployed::cluster;
use super::security_group;

#[tokio::test(flavor = "multi_thread")]
async fn mongodb_from_the_nodes_only_ssh_from_the_admin_network_only_nodes_from_the_load_balancer()
{
    let ec2 = aws_sdk_ec2::Client::new(&cluster().moto.sdk().await);
    let (alb_sg, nodes_sg, mongodb_sg) = (
        security_group(&ec2, "load-balancer-sg").await,
        security_group(&ec2, "nodes-sg").await,
        security_group(&ec2, "mongodb-sg").await,
    );
    let mut alb_ports: Vec<i32> = alb_sg
        .ip_permissions()
        .iter()
        .filter_map(|p| p.from_port())
        .collect();
    alb_ports.sort();
    assert_eq!(alb_ports, [80, 443, 5080, 5443]);
    for permission in mongodb_sg.ip_permissions() {
        match permission.from_port() {
            Some(27017) => {
                assert!(permission.ip_ranges().is_empty(), "27017 open to a CIDR");
                assert_eq!(
                    permission.user_id_group_pairs()[0].group_id(),
                    nodes_sg.group_id()
                );
            }
            Some(22) => assert_eq!(permission.ip_ranges()[0].cidr_ip(), Some("192.0.2.0/24")),
            other => panic!("unexpected MongoDB port {other:?}"),
        }
    }
    let port = |p: i32| {
        nodes_sg
            .ip_permissions()
            .iter()
            .find(|x| x.from_port() == Some(p))
            .cloned()
            .expect("rule")
    };
    assert_eq!(
        port(5080).user_id_group_pairs()[0].group_id(),
        alb_sg.group_id()
    );
    assert_eq!(
        port(5000).user_id_group_pairs()[0].group_id(),
        nodes_sg.group_id()
    );
    assert_eq!(port(50000).to_port(), Some(60000));
    assert_eq!(port(50000).ip_protocol(), Some("udp"));
}
