//! A rule of an Application Load Balancer's listener: requests whose query string has one of
//! the given pairs go to a target group (Ant Media's template: `?target=origin` to the origins,
//! `?target=edge` to the edges, on the HTTPS 443 listener). Its conditions and target change in
//! place; its listener or its priority replace it.

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, QueryStringConditionConfig, QueryStringKeyValuePair, RuleCondition,
};
use serde::{Deserialize, Serialize};

use ams_engine::{Input, Kind, ProviderError};

use super::{elb_tags, first_arn, first_tagged};
use crate::call::OrError;
use crate::kind::{existing_each, AwsKind, Codes, Ctx, Current, Res};
use crate::outputs::ArnOutputs;
use crate::Aws;

#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:elbv2:ListenerRule", outputs = ArnOutputs)]
pub struct ListenerRule {
    #[kind(replace)]
    pub listener_arn: Input<String>,
    /// 1-50000, unique on the listener; lower is evaluated first.
    #[kind(replace)]
    pub priority: i32,
    /// The rule matches a request whose query string has any of these pairs.
    pub query_string: Vec<QueryPair>,
    /// Where matching requests go.
    pub target_group_arn: Input<String>,
}

/// `key=value` in a query string.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueryPair {
    pub key: String,
    pub value: String,
}

impl ListenerRule {
    /// The one `query-string` condition (its pairs are alternatives, as ELB reads them).
    fn conditions(&self) -> Result<Vec<RuleCondition>, ProviderError> {
        if self.query_string.is_empty() {
            return Err(ProviderError::new(
                "a listener rule needs at least one query-string pair",
            ));
        }
        let pairs = self
            .query_string
            .iter()
            .map(|p| {
                QueryStringKeyValuePair::builder()
                    .key(&p.key)
                    .value(&p.value)
                    .build()
            })
            .collect();
        Ok(vec![RuleCondition::builder()
            .field("query-string")
            .query_string_config(
                QueryStringConditionConfig::builder()
                    .set_values(Some(pairs))
                    .build(),
            )
            .build()])
    }

    fn actions(&self) -> Result<Vec<Action>, ProviderError> {
        Ok(vec![Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .target_group_arn(self.target_group_arn.get()?)
            .build()])
    }
}

impl AwsKind for ListenerRule {
    const NOT_FOUND: Codes = &["RuleNotFound", "ListenerNotFound"];
    const ALREADY_EXISTS: Codes = &["PriorityInUse"];
    const NOT_YET_VISIBLE: Codes = &["TargetGroupNotFound"];

    async fn create(&self, aws: &Aws, ctx: &Ctx) -> Res<String> {
        let create = aws
            .once
            .elbv2
            .create_rule()
            .listener_arn(self.listener_arn.get()?)
            .priority(self.priority)
            .set_conditions(Some(self.conditions()?))
            .set_actions(Some(self.actions()?))
            .set_tags(elb_tags(ctx));
        let out = create.send().await.or_error()?;
        first_arn(out.rules(), |made| made.rule_arn(), "listener rule")
    }

    /// The listener's rule that carries this step's tags.
    async fn find(&self, aws: &Aws, ctx: &Ctx) -> Res<Option<String>> {
        let rules = aws.elbv2.describe_rules();
        let Some(out) = rules
            .listener_arn(self.listener_arn.get()?)
            .send()
            .await
            .or_gone::<Self>()?
        else {
            return Ok(None);
        };
        let arns: Vec<String> = out
            .rules()
            .iter()
            .filter(|r| r.is_default() != Some(true))
            .filter_map(|r| r.rule_arn().map(String::from))
            .collect();
        first_tagged(aws, ctx, &arns).await
    }

    async fn finish(&self, _aws: &Aws, _ctx: &Ctx, arn: &str) -> Res<Self::Outputs> {
        Ok(ArnOutputs::of(arn))
    }

    async fn update(&self, aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<Self::Outputs> {
        aws.elbv2
            .modify_rule()
            .rule_arn(&current.id)
            .set_conditions(Some(self.conditions()?))
            .set_actions(Some(self.actions()?))
            .send()
            .await
            .or_error()?;
        Ok(current.outputs.clone())
    }

    async fn delete(aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        aws.elbv2
            .delete_rule()
            .rule_arn(&current.id)
            .send()
            .await
            .done_or_gone::<Self>()
    }

    /// One call for all of them; a `DescribeRules` naming a rule that is gone fails as a whole:
    /// then one call each, to tell which.
    async fn read(aws: &Aws, resources: Vec<Current<Self>>) -> Res<Vec<Option<Self>>> {
        let arns: Vec<String> = resources.iter().map(|r| r.id.clone()).collect();
        let all = aws
            .elbv2
            .describe_rules()
            .set_rule_arns(Some(arns))
            .send()
            .await
            .or_gone::<Self>()?;
        let listed = all.map_or(0, |out| out.rules().len());
        if listed == resources.len() {
            return Ok(resources.into_iter().map(|r| Some(r.args)).collect());
        }
        existing_each(resources, |arn| async move {
            aws.elbv2
                .describe_rules()
                .rule_arns(arn)
                .send()
                .await
                .exists::<Self>()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(pairs: serde_json::Value) -> ListenerRule {
        serde_json::from_value(json!({
            "listener_arn": "arn:listener",
            "priority": 1,
            "query_string": pairs,
            "target_group_arn": "arn:origin",
        }))
        .unwrap()
    }

    #[test]
    fn a_query_string_rule_is_one_condition_whose_pairs_are_alternatives() {
        let conditions = rule(json!([{"key": "target", "value": "origin"}]))
            .conditions()
            .unwrap();
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].field(), Some("query-string"));
        let values = conditions[0]
            .query_string_config()
            .expect("query string")
            .values();
        assert_eq!(
            (values[0].key(), values[0].value()),
            (Some("target"), Some("origin"))
        );
    }

    #[test]
    fn a_rule_forwards_to_its_target_group_and_needs_a_condition() {
        let actions = rule(json!([{"key": "target", "value": "edge"}]))
            .actions()
            .unwrap();
        assert_eq!(actions[0].r#type(), Some(&ActionTypeEnum::Forward));
        assert_eq!(actions[0].target_group_arn(), Some("arn:origin"));
        assert!(rule(json!([])).conditions().is_err());
    }

    #[test]
    fn the_listener_and_the_priority_replace_it() {
        assert_eq!(ListenerRule::replace_on(), ["listener_arn", "priority"]);
    }
}
