//! What an adopted cluster needs beyond the guide's tiers: the stack's tags on what was made by
//! hand (`[mongodb] adopted`), so that another `adopt` finds it owned, and what acts on the
//! stack's own (the nodes' role, the snapshots) finds it.

use ams_aws::acm::CertificateValidation;
use ams_aws::ec2::Instance;
use ams_aws::elbv2::LoadBalancer;
use ams_aws::tagging::{StackTags, Tagged};
use ams_engine::{Input, Program, ProgramError, Ref};

use super::nodes::Nodes;
use super::security::Security;

/// One resource of the stack, by its name and id.
fn tagged(name: &str, id: Input<String>) -> Tagged {
    Tagged {
        name: name.to_string(),
        id,
    }
}

pub fn declare(
    p: &mut Program,
    security: &Security,
    mongodb: &Ref<Instance>,
    (origin, edge): (&Nodes, &Nodes),
    alb: &Ref<LoadBalancer>,
    issued: &Ref<CertificateValidation>,
) -> Result<(), ProgramError> {
    let mut ec2 = vec![
        tagged(mongodb.logical_name(), mongodb.id().into()),
        tagged(
            security.load_balancer_sg.logical_name(),
            security.load_balancer_sg.id().into(),
        ),
        tagged(
            security.nodes_sg.logical_name(),
            security.nodes_sg.id().into(),
        ),
        tagged(
            security.mongodb_sg.logical_name(),
            security.mongodb_sg.id().into(),
        ),
    ];
    let mut elb = vec![tagged(alb.logical_name(), alb.arn().into())];
    for nodes in [origin, edge] {
        ec2.push(tagged(
            nodes.launch_template.logical_name(),
            nodes.launch_template.id().into(),
        ));
        elb.push(tagged(
            nodes.target_group.logical_name(),
            nodes.target_group.arn().into(),
        ));
    }
    p.add(
        "stack-tags",
        StackTags {
            ec2,
            elb,
            certificates: vec![tagged("certificate", issued.certificate_arn().into())],
        },
    )?;
    Ok(())
}
