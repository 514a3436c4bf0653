//! The certificate and DNS: the stream domain's certificate issued (validated by DNS), and the
//! stream and ingest names pointing at their load balancers.

use super::deployed::cluster;

#[tokio::test(flavor = "multi_thread")]
async fn the_certificate_of_the_stream_domain_is_issued() {
    let acm = aws_sdk_acm::Client::new(&cluster().moto.sdk().await);
    let certificates = acm.list_certificates().send().await.expect("certs");
    assert_eq!(certificates.certificate_summary_list().len(), 1);
    let certificate = &certificates.certificate_summary_list()[0];
    assert_eq!(certificate.domain_name(), Some("stream.ams-local.test"));
    assert_eq!(certificate.status().map(|s| s.as_str()), Some("ISSUED"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stream_and_ingest_names_point_at_their_load_balancers_and_the_certificate_is_validated(
) {
    let cluster = cluster();
    let route53 = aws_sdk_route53::Client::new(&cluster.moto.sdk().await);
    let zones = route53.list_hosted_zones().send().await.expect("zones");
    let zone_id = zones.hosted_zones()[0].id().to_string();
    let records = route53
        .list_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .send()
        .await
        .expect("records");
    let cname = records
        .resource_record_sets()
        .iter()
        .find(|r| r.name() == "stream.ams-local.test.")
        .expect("cname");
    assert_eq!(cname.resource_records()[0].value(), cluster.lb_dns());
    let ingest_cname = records
        .resource_record_sets()
        .iter()
        .find(|r| r.name() == "ingest.stream.ams-local.test.")
        .expect("ingest cname");
    assert_eq!(
        ingest_cname.resource_records()[0].value(),
        cluster.nlb_dns()
    );
    assert!(records
        .resource_record_sets()
        .iter()
        .any(|r| r.name().starts_with('_') && r.r#type().as_str() == "CNAME"));
}
