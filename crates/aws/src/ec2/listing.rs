//! How EC2 lists each kind ([`Listed`], declared for all of them in one table by [`listed!`]),
//! and what the kinds do with their listings: find what an interrupted create made by its tags,
//! describe one by id, say which resources still exist.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter, Reservation};

use ams_engine::{Kind, StepContext};

use super::{id_filter, live_inputs, new_id, own_tags};
use super::{
    Instance, InternetGateway, LaunchTemplate, RouteTable, SecurityGroup, Subnet, Volume, Vpc,
};
use crate::call::{missing, OrError};
use crate::kind::{Current, Res};
use crate::Aws;

/// Declares how EC2 lists each kind named, one a row: `Kind: describe_call(setter of ids) ->
/// list[id of an item]`. The SDK names a listed item as the kind is named
/// (`aws_sdk_ec2::types::Vpc` for [`Vpc`]).
///
/// A macro because nothing else can say it as a table: each row names a different SDK call,
/// and the SDK's request and answer types share no trait. Written out, each row is the same
/// 25 lines; [`Instance`]'s, whose answer lists reservations, is written out below.
macro_rules! listed {
    ($($kind:ident: $call:ident($ids:ident) -> $items:ident[$id:ident];)+) => {$(
        #[async_trait::async_trait]
        impl Listed for $kind {
            type Item = aws_sdk_ec2::types::$kind;

            async fn describe(aws: &Aws, filters: Vec<Filter>) -> Res<Vec<Self::Item>> {
                let sent = aws.ec2.$call().set_filters(Some(filters)).send().await;
                Ok(sent.or_error()?.$items().to_vec())
            }

            async fn describe_all(aws: &Aws, filter: Filter) -> Res<Vec<Self::Item>> {
                let pages = aws.ec2.$call().filters(filter).into_paginator();
                pages.items().send().try_collect().await.or_error()
            }

            async fn describe_id(aws: &Aws, id: &str) -> Res<Vec<Self::Item>> {
                let sent = aws.ec2.$call().$ids(id).send().await;
                Ok(sent.or_error()?.$items().to_vec())
            }

            fn id(item: &Self::Item) -> Option<&str> {
                item.$id()
            }
        }
    )+};
}

listed! {
    Vpc: describe_vpcs(vpc_ids) -> vpcs[vpc_id];
    Subnet: describe_subnets(subnet_ids) -> subnets[subnet_id];
    InternetGateway: describe_internet_gateways(internet_gateway_ids)
        -> internet_gateways[internet_gateway_id];
    RouteTable: describe_route_tables(route_table_ids) -> route_tables[route_table_id];
    SecurityGroup: describe_security_groups(group_ids) -> security_groups[group_id];
    LaunchTemplate: describe_launch_templates(launch_template_ids)
        -> launch_templates[launch_template_id];
    Volume: describe_volumes(volume_ids) -> volumes[volume_id];
}

/// EC2 lists instances by reservation (the instances one RunInstances made): the instances
/// are those of every reservation listed.
#[async_trait::async_trait]
impl Listed for Instance {
    type Item = aws_sdk_ec2::types::Instance;

    async fn describe(aws: &Aws, filters: Vec<Filter>) -> Res<Vec<Self::Item>> {
        let sent = aws
            .ec2
            .describe_instances()
            .set_filters(Some(filters))
            .send()
            .await;
        Ok(instances(sent.or_error()?.reservations()))
    }

    async fn describe_all(aws: &Aws, filter: Filter) -> Res<Vec<Self::Item>> {
        let pages = aws
            .ec2
            .describe_instances()
            .filters(filter)
            .into_paginator();
        let reservations: Vec<Reservation> = pages.items().send().try_collect().await.or_error()?;
        Ok(instances(&reservations))
    }

    async fn describe_id(aws: &Aws, id: &str) -> Res<Vec<Self::Item>> {
        let sent = aws.ec2.describe_instances().instance_ids(id).send().await;
        Ok(instances(sent.or_error()?.reservations()))
    }

    fn id(item: &Self::Item) -> Option<&str> {
        item.instance_id()
    }
}

/// The instances of `reservations`.
fn instances(reservations: &[Reservation]) -> Vec<aws_sdk_ec2::types::Instance> {
    reservations
        .iter()
        .flat_map(|r| r.instances())
        .cloned()
        .collect()
}

/// How EC2 lists a kind; [`listed!`] implements it.
#[async_trait::async_trait]
pub(super) trait Listed {
    /// An item of the Describe call's list, as the SDK has it.
    type Item: Clone + Send + Sync + 'static;
    /// What one Describe call lists for `filters`.
    async fn describe(aws: &Aws, filters: Vec<Filter>) -> Res<Vec<Self::Item>>;
    /// What the Describe call lists for `filter`, following pagination.
    async fn describe_all(aws: &Aws, filter: Filter) -> Res<Vec<Self::Item>>;
    /// What one Describe call lists for the id `id`.
    async fn describe_id(aws: &Aws, id: &str) -> Res<Vec<Self::Item>>;
    /// The id of an item.
    fn id(item: &Self::Item) -> Option<&str>;
}

/// The id of the first `K` that EC2 lists among those tagged as this step's resource.
pub(super) async fn find_tagged<K: Listed>(aws: &Aws, ctx: &StepContext) -> Res<Option<String>> {
    let items = K::describe(aws, own_tags(ctx)).await?;
    Ok(items.iter().find_map(K::id).map(String::from))
}

/// The id of the first `K` that EC2 lists among those tagged as this step's resource and in a
/// state that `state` (a filter) keeps, that no replacement replaces: for kinds whose resources
/// are listed for a while after they end (terminated instances, deleted volumes), and carry the
/// same tags as their replacement.
pub(super) async fn find_live<K: Listed>(
    aws: &Aws,
    ctx: &StepContext,
    state: Filter,
) -> Res<Option<String>> {
    let mut filters = own_tags(ctx);
    filters.push(state);
    let items = K::describe(aws, filters).await?;
    let mut ids = items.iter().filter_map(K::id);
    Ok(ids.find(|id| !ctx.is_replaced(id)).map(String::from))
}

/// `read` for a kind that EC2 lists item by item: one Describe of the resources' ids (the
/// filter `name`, as "volume-id"); `None` for each resource not listed, or listed but gone or
/// going (`ending`), else its stored arguments as `merge` brings them up to date from the
/// listed item.
pub(super) async fn read_listed<K: Listed + Kind>(
    aws: &Aws,
    resources: Vec<Current<K>>,
    name: &str,
    ending: fn(&K::Item) -> bool,
    merge: impl Fn(&mut K, &K::Item),
) -> Res<Vec<Option<K>>> {
    let items = K::describe_all(aws, id_filter(name, &resources)).await?;
    let live: BTreeMap<String, K::Item> = items
        .into_iter()
        .filter(|item| !ending(item))
        .filter_map(|item| Some((K::id(&item)?.to_string(), item)))
        .collect();
    Ok(live_inputs(resources, &live, merge))
}

/// The id of the new `K` (a `what`) that a create's answer holds.
pub(super) fn created<K: Listed>(item: Option<&K::Item>, what: &str) -> Res<String> {
    new_id(item.and_then(K::id), what)
}

/// The `K` of id `id`, as EC2 describes it (`what` names one in the error when it does not).
pub(super) async fn describe_one<K: Listed>(aws: &Aws, id: &str, what: &str) -> Res<K::Item> {
    let items = K::describe_id(aws, id).await?;
    let first = items.into_iter().next();
    first.ok_or_else(|| missing(&format!("{what} {id}")))
}

/// Which of `resources` (of kind `K`) still exist, by one Describe of their ids (the filter
/// `name`, as "vpc-id").
pub(super) async fn existing<K: Listed + Kind>(
    aws: &Aws,
    resources: Vec<Current<K>>,
    name: &str,
) -> Res<Vec<Option<K>>> {
    let filter = id_filter(name, &resources);
    existing_in::<K>(aws, resources, filter).await
}

/// Which of `resources` (of kind `K`) are among those EC2 lists for `filter`.
pub(super) async fn existing_in<K: Listed + Kind>(
    aws: &Aws,
    resources: Vec<Current<K>>,
    filter: Filter,
) -> Res<Vec<Option<K>>> {
    let items = K::describe_all(aws, filter).await?;
    let live: BTreeSet<String> = items.iter().filter_map(K::id).map(String::from).collect();
    Ok(crate::kind::existing(resources, &live))
}
