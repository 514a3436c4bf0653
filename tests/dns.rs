//! DNS records against the emulator behind the strict cloud's Route 53 rules (no CNAME at the
//! zone apex, no CREATE over an existing record): a user's record is never overwritten, the zone
//! apex is an alias A record, and a record that holds our value already is adopted.

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};

use crate::support::{FaultProxy, Moto, Project};

/// moto behind a proxy that enforces only the Route 53 rules moto forgives.
fn route53_strict(moto: &Moto) -> FaultProxy {
    FaultProxy::start(
        &moto.endpoint,
        &["--cloud", "strict", "--rules", "none,route53"],
    )
}

async fn client(moto: &Moto) -> aws_sdk_route53::Client {
    aws_sdk_route53::Client::new(&moto.sdk().await)
}

async fn zone_id(route53: &aws_sdk_route53::Client) -> String {
    let zones = route53
        .list_hosted_zones_by_name()
        .dns_name("ams-local.test")
        .send()
        .await
        .expect("zones");
    zones.hosted_zones()[0].id().to_string()
}

/// Every record set of the seeded zone.
async fn records(route53: &aws_sdk_route53::Client) -> Vec<ResourceRecordSet> {
    route53
        .list_resource_record_sets()
        .hosted_zone_id(zone_id(route53).await)
        .send()
        .await
        .expect("records")
        .resource_record_sets()
        .to_vec()
}

/// The record sets named `name`.
async fn at(route53: &aws_sdk_route53::Client, name: &str) -> Vec<ResourceRecordSet> {
    records(route53)
        .await
        .into_iter()
        .filter(|r| r.name() == name)
        .collect()
}

/// The values of `records`, as `TYPE value`.
fn shown(records: &[ResourceRecordSet]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            let values: Vec<&str> = r.resource_records().iter().map(|v| v.value()).collect();
            format!("{} {}", r.r#type().as_str(), values.join(","))
        })
        .collect()
}

/// The resources the state holds (none when no state was ever written).
fn state_names(project: &Project) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(project.path("state/local.json")) else {
        return Vec::new();
    };
    let state: serde_json::Value = serde_json::from_str(&text).expect("json");
    state["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["name"].as_str().map(String::from))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_users_record_at_the_domain_is_refused_and_never_overwritten() {
    let moto = Moto::start();
    let proxy = route53_strict(&moto);
    let project = Project::new(Some(&proxy.endpoint));
    let route53 = client(&moto).await;
    let theirs = ResourceRecordSet::builder()
        .name("stream.ams-local.test.")
        .r#type(RrType::Cname)
        .ttl(60)
        .resource_records(
            ResourceRecord::builder()
                .value("old.example.net.")
                .build()
                .expect("value"),
        )
        .build()
        .expect("record");
    route53
        .change_resource_record_sets()
        .hosted_zone_id(zone_id(&route53).await)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    Change::builder()
                        .action(ChangeAction::Create)
                        .resource_record_set(theirs)
                        .build()
                        .expect("change"),
                )
                .build()
                .expect("batch"),
        )
        .send()
        .await
        .expect("the user's record");

    // Found at preview time, before anything is created.
    let preview = project.run(&["preview", "local"]).fails();
    assert!(
        preview
            .stderr
            .contains("stream.ams-local.test. already has a CNAME record -> old.example.net."),
        "{}",
        preview.stderr
    );
    // Twice: the second run must not take the record over either.
    for _ in 0..2 {
        let up = project.run(&["up", "local", "--yes"]).fails();
        assert!(
            up.stderr.contains(
                "stream.ams-local.test. already has a CNAME record -> old.example.net. that this \
                 stack did not make"
            ),
            "{}",
            up.stderr
        );
        assert_eq!(
            shown(&at(&route53, "stream.ams-local.test.").await),
            ["CNAME old.example.net."],
            "the user's record is intact"
        );
        assert!(up.stderr.contains("nothing was created"), "{}", up.stderr);
        assert!(state_names(&project).is_empty(), "nothing was created");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_zone_apex_is_an_alias_to_the_load_balancer_and_destroys_cleanly() {
    let moto = Moto::start();
    let proxy = route53_strict(&moto);
    let project = Project::new(Some(&proxy.endpoint));
    project.edit(
        "stacks/local.toml",
        "domain = \"stream.ams-local.test\"",
        "domain = \"ams-local.test\"",
    );
    let route53 = client(&moto).await;
    project.run(&["up", "local", "--yes"]).ok();
    let outputs = project.run(&["outputs", "local", "--json"]).ok().json();
    assert_eq!(
        outputs["publish_url"],
        "https://ams-local.test/WebRTCAppEE/"
    );
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&moto.sdk().await);
    let balancers = elb.describe_load_balancers().send().await.expect("lbs");
    let alb = balancers
        .load_balancers()
        .iter()
        .find(|l| Some(outputs["load_balancer_dns"].as_str().expect("dns")) == l.dns_name())
        .expect("the load balancer");

    let apex: Vec<_> = at(&route53, "ams-local.test.")
        .await
        .into_iter()
        .filter(|r| r.r#type() == &RrType::A)
        .collect();
    assert_eq!(apex.len(), 1, "{apex:?}");
    let target = apex[0].alias_target().expect("an alias");
    assert_eq!(Some(target.dns_name()), alb.dns_name());
    assert_eq!(
        Some(target.hosted_zone_id()),
        alb.canonical_hosted_zone_id()
    );
    assert!(!target.evaluate_target_health());
    assert_eq!(
        shown(&at(&route53, "ingest.ams-local.test.").await),
        [format!(
            "CNAME {}",
            outputs["ingest_load_balancer_dns"].as_str().expect("dns")
        )],
        "ingest stays a CNAME"
    );

    // Read back, the alias shows no drift.
    let preview = project
        .run(&["preview", "local", "--json", "--refresh"])
        .ok()
        .json();
    let step = preview["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["name"] == "dns-record")
        .expect("the record's step");
    assert_eq!(step["op"], "same", "{step}");

    project.run(&["destroy", "local", "--yes"]).ok();
    let left: Vec<String> = records(&route53)
        .await
        .iter()
        .map(|r| r.r#type().as_str().to_string())
        .collect();
    assert!(
        left.iter().all(|k| k == "NS" || k == "SOA"),
        "records left: {left:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_that_holds_our_value_already_is_adopted() {
    let moto = Moto::start();
    let proxy = route53_strict(&moto);
    let project = Project::new(Some(&proxy.endpoint));
    let route53 = client(&moto).await;
    project.run(&["up", "local", "--yes"]).ok();
    let before = at(&route53, "stream.ams-local.test.").await;

    // The state forgets the record; the zone still holds it, with our value.
    let path = project.path("state/local.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("state")).expect("json");
    state["resources"]
        .as_array_mut()
        .expect("resources")
        .retain(|r| r["name"] != "dns-record");
    std::fs::write(&path, state.to_string()).expect("write state");

    let (up, calls) = project.run_logged(&["up", "local", "--yes"]);
    up.ok();
    assert!(
        !calls
            .iter()
            .any(|c| c.ends_with(":ChangeResourceRecordSets")),
        "adopted, not written: {calls:?}"
    );
    assert!(state_names(&project).contains(&"dns-record".to_string()));
    assert_eq!(at(&route53, "stream.ams-local.test.").await, before);
}
