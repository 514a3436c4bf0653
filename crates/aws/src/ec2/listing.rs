//! How EC2 lists each kind ([`Listed`], declared for all of them in one table by [`listed!`]),
//! and what the kinds do with their listings: find what an interrupted create made by its tags,
//! describe one by id, say which resources still exist.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::Filter;
use serde_json::Value as Json;

use ams_engine::state::ResourceState;
use ams_engine::StepContext;

use super::{id_filter, new_id, own_tags};
use super::{InternetGateway, LaunchTemplate, RouteTable, SecurityGroup, Subnet, Vpc};
use crate::call::{missing, OrError};
use crate::kind::Res;
use crate::Aws;

/// What a filtered Describe call lists (following pagination), as a `Vec`: the Describe call,
/// its filter, the items of a page, and what to keep of each item (kept where `Some`).
macro_rules! list_by_filter {
    (
        $aws:expr, $call:ident, $filter:expr,
        |$page:ident| $items:expr, |$item:ident| $keep:expr
    ) => {{
        let mut kept = Vec::new();
        let mut pages = $aws.ec2.$call().filters($filter).into_paginator().send();
        while let Some(page) = pages.next().await {
            let $page = $crate::call::OrError::or_error(page)?;
            kept.extend($items.into_iter().filter_map(|$item| $keep));
        }
        kept
    }};
}
pub(super) use list_by_filter;

/// `read` for a kind listed item by item: one filtered Describe (`$call`, following
/// pagination) of the resources' ids (the filter `$name`, as "volume-id"); `None` for each
/// resource not listed or listed but gone or going (`$ending`), else its stored arguments as
/// `$merge` (`|inputs, resource, item|`) updates them from what is listed. `$items` are the
/// items of a page, `$id` the id of an item.
macro_rules! read_live {
    (
        $aws:expr, $resources:expr, $call:ident($name:expr),
        |$page:ident| $items:expr, $id:expr, $ending:expr, $merge:expr
    ) => {{
        let live: std::collections::BTreeMap<String, _> = $crate::ec2::listing::list_by_filter!(
            $aws,
            $call,
            $crate::ec2::id_filter($name, $resources),
            |$page| $items,
            |item| {
                let id = $id(item).filter(|_| !$ending(item))?;
                Some((id.to_string(), item.clone()))
            }
        )
        .into_iter()
        .collect();
        Ok($crate::ec2::live_inputs($resources, &live, $merge))
    }};
}
pub(super) use read_live;

/// `find` for a kind whose resources live on after they end (terminated, deleted): the id of
/// the first that one Describe (`$call`) lists for this step's tags and `$state` (a filter that
/// keeps those not ending) and that no replacement replaces (it carries the same tags).
/// `|$out| $ids` are the ids the Describe's answer lists.
macro_rules! find_live_tagged {
    ($aws:expr, $ctx:expr, $call:ident, $state:expr, |$out:ident| $ids:expr) => {{
        let mut filters = $crate::ec2::own_tags($ctx);
        filters.push($state);
        let sent = $aws.ec2.$call().set_filters(Some(filters)).send().await;
        let $out = $crate::call::OrError::or_error(sent)?;
        let id = $ids.find(|id| !$ctx.is_replaced(id));
        Ok(id.map(String::from))
    }};
}
pub(super) use find_live_tagged;

/// Declares how EC2 lists each kind named, one a row: `Kind: describe_call(setter of ids) ->
/// list[id of an item]`. The SDK names a listed item as the kind is named
/// (`aws_sdk_ec2::types::Vpc` for [`Vpc`]).
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
                let items = list_by_filter!(
                    aws,
                    $call,
                    filter,
                    |page| page.$items(),
                    |item| Some(item.clone())
                );
                Ok(items)
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
pub(super) async fn existing<K: Listed>(
    aws: &Aws,
    resources: &[ResourceState],
    name: &str,
) -> Res<Vec<Option<Json>>> {
    existing_in::<K>(aws, resources, id_filter(name, resources)).await
}

/// Which of `resources` (of kind `K`) are among those EC2 lists for `filter`.
pub(super) async fn existing_in<K: Listed>(
    aws: &Aws,
    resources: &[ResourceState],
    filter: Filter,
) -> Res<Vec<Option<Json>>> {
    let items = K::describe_all(aws, filter).await?;
    let live: BTreeSet<String> = items.iter().filter_map(K::id).map(String::from).collect();
    Ok(crate::kind::existing(resources, &live))
}
