//! Adopting a cluster made by hand (Ant Media's AWS guide) or by Ant Media's CloudFormation
//! template: found by following its traffic ([`discover`]), refused where someone else owns it
//! ([`refuse_owned`]), written down as a stack file that keeps what carries traffic or data
//! ([`stack_file`]), and brought into a new state by id (`ams_engine::adopt`). Read only: the
//! cloud changes at the first `up`, whose plan adopt shows first.

pub mod discover;
mod dns;
mod nodes;
pub mod stack_file;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use ams_aws::Aws;

pub use discover::{discover, CLOUDFORMATION_TAG};

/// Everything found behind a domain.
#[derive(Debug, Serialize)]
pub struct Adoption {
    /// What takes a role in the stack, with the evidence of the match.
    pub found: Vec<Found>,
    /// What was seen and is not adopted, and why.
    pub left: Vec<String>,
    /// What is adopted only for the first `up` to delete once nothing uses it (the edge
    /// template's own security group, when the edges move to the nodes' group), and why.
    pub retiring: Vec<Found>,
    /// The same, as the engine takes them.
    #[serde(skip)]
    pub retired: Vec<ams_engine::Retired>,
    /// The tags of what owns the cluster's traffic and data (load balancer, groups, MongoDB),
    /// by what they are on: who else may own it.
    #[serde(skip)]
    pub tagged: Vec<(String, Vec<(String, String)>)>,
    /// What the stack file is written from.
    pub facts: Facts,
}

/// One resource found for a role of the stack.
#[derive(Clone, Debug, Serialize)]
pub struct Found {
    /// The resource's name in the stack (`origin-group`).
    pub name: String,
    /// The cloud's id (an id, an ARN, a group's name).
    pub id: String,
    /// What it is, for people (`auto-scaling group Origin-Group`).
    pub what: String,
    /// Why it takes this role: which listener pointed at which group, which line of user data
    /// named MongoDB.
    pub evidence: String,
}

impl Found {
    fn new(name: &str, id: String, what: String, evidence: String) -> Found {
        Found {
            name: name.to_string(),
            id,
            what,
            evidence,
        }
    }
}

/// What the stack file says of the cluster, as found.
#[derive(Debug, Serialize)]
pub struct Facts {
    pub domain: String,
    /// The name of the certificate on 443 where it is not the domain (a wildcard over it).
    pub certificate_domain: Option<String>,
    pub hosted_zone: String,
    pub vpc_id: String,
    /// The load balancer's subnets, the nodes' first.
    pub subnet_ids: Vec<String>,
    pub availability_zones: Vec<String>,
    pub mongodb_subnet: String,
    pub mongodb: NodeFacts,
    pub public_mongodb: bool,
    /// Whether the nodes log in to MongoDB (a `mongodb://` URI with credentials).
    pub mongodb_auth: bool,
    pub origin: NodeFacts,
    pub edge: NodeFacts,
}

/// A machine as found, and for the groups their sizes and CPU target.
#[derive(Debug, Serialize)]
pub struct NodeFacts {
    pub instance_type: String,
    pub ami: String,
    pub key_name: Option<String>,
    pub root_volume_gib: Option<i32>,
    pub min_size: i32,
    pub max_size: i32,
    pub cpu_target: Option<f64>,
}

/// Refuses what another owner holds: a resource tagged by another ams-stack stack, or by a
/// CloudFormation stack that still exists (two owners fight; a deleted stack's tags stay on
/// what it retained, which is then no one's).
pub async fn refuse_owned(aws: &Aws, adoption: &Adoption) -> Result<()> {
    refuse_owned_of(aws, &adoption.tagged).await
}

/// [`refuse_owned`] for what `tagged` lists (what, its tags).
async fn refuse_owned_of(aws: &Aws, tagged: &[(String, Vec<(String, String)>)]) -> Result<()> {
    for (what, tags) in tagged {
        let tag = |key: &str| tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        if let Some(owner) = tag(ams_aws::TAG_STACK) {
            bail!(
                "{what} belongs to the ams-stack stack `{owner}` already (its {} tag): it is managed there, and nothing is adopted twice",
                ams_aws::TAG_STACK
            );
        }
        if let Some(stack) = tag(CLOUDFORMATION_TAG) {
            if cloudformation_stack_lives(aws, &stack).await? {
                bail!(
                    "{what} belongs to the CloudFormation stack `{stack}`, which still exists: two owners would fight over it.\n  \
                     Hand it over first: set `DeletionPolicy: Retain` on every resource of the stack's template (update the stack with it), \
                     delete the stack (its resources stay), then adopt"
                );
            }
        }
    }
    Ok(())
}

/// Whether the CloudFormation stack `name` exists (and is not deleted).
async fn cloudformation_stack_lives(aws: &Aws, name: &str) -> Result<bool> {
    match aws
        .cloudformation
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
    {
        Ok(out) => Ok(out.stacks().iter().any(|s| {
            s.stack_status()
                .is_none_or(|status| status.as_str() != "DELETE_COMPLETE")
        })),
        // AWS answers a stack that does not exist (any more) with ValidationError.
        Err(e)
            if e.as_service_error()
                .and_then(|s| aws_sdk_cloudformation::error::ProvideErrorMetadata::code(s))
                == Some("ValidationError") =>
        {
            Ok(false)
        }
        Err(e) => Err(anyhow::Error::new(e)).context(format!(
            "cloudformation:DescribeStacks (is the stack `{name}` that tagged the cluster still there?)"
        )),
    }
}

/// The cloud's ids by the stack's resource names.
pub fn ids(adoption: &Adoption) -> std::collections::BTreeMap<String, String> {
    adoption
        .found
        .iter()
        .map(|f| (f.name.clone(), f.id.clone()))
        .collect()
}
