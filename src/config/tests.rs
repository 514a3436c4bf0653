use std::path::Path;

use super::*;

fn shipped(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("stacks")
            .join(format!("{name}.toml")),
    )
    .expect("shipped stack file")
}

fn error_of(text: &str) -> String {
    parse("t", Path::new("stacks/t.toml"), text)
        .expect_err("must be rejected")
        .to_string()
}

#[test]
fn shipped_stacks_are_valid() {
    let prod = parse("prod", Path::new("stacks/prod.toml"), &shipped("prod")).expect("prod");
    assert_eq!(prod.region, "ap-south-1");
    assert_eq!(prod.mongodb.instance.instance_type, "m5.xlarge");
    assert_eq!((prod.origin.max_size, prod.origin.cpu_target), (10, 60.0));
    let local = parse("local", Path::new("stacks/local.toml"), &shipped("local")).expect("local");
    assert_eq!(local.endpoint.as_deref(), Some("http://127.0.0.1:4566"));
    match local.network.vpc {
        Vpc::New { subnet_cidrs, .. } => {
            assert_eq!(
                subnet_cidrs
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>(),
                ["10.0.0.0/20", "10.0.16.0/20"]
            )
        }
        Vpc::Existing { .. } => panic!("local makes its VPC"),
    }
}

#[test]
fn invalid_cidr_names_file_line_and_key() {
    let text = shipped("local").replace("vpc_cidr = \"10.0.0.0/16\"", "vpc_cidr = \"10.0.0/16\"");
    assert_eq!(
        error_of(&text),
        "stacks/t.toml:6:12: `network.vpc_cidr`: `10.0.0/16` is not an IPv4 CIDR block (like 10.0.0.0/16)"
    );
}

#[test]
fn unknown_key_is_rejected_with_its_position() {
    let text = shipped("local").replace("[mongodb]\n", "[mongodb]\ninstance_typ = \"m5.large\"\n");
    let message = error_of(&text);
    assert!(
        message.starts_with("stacks/t.toml:15:1: unknown field `instance_typ` in [mongodb], expected one of `instance_type`"),
        "{message}"
    );
    assert!(
        message.ends_with("(did you mean `instance_type`?)"),
        "{message}"
    );
}

#[test]
fn min_larger_than_max_is_rejected() {
    let text = shipped("local").replacen("min_size = 1", "min_size = 5", 1);
    assert_eq!(
        error_of(&text),
        "stacks/t.toml:19:12: `origin.min_size`: min_size (5) is larger than max_size (4)"
    );
}

#[test]
fn one_zone_is_not_enough() {
    let text = shipped("local").replace("[\"ap-south-1a\", \"ap-south-1b\"]", "[\"ap-south-1a\"]");
    let message = error_of(&text);
    assert!(message.contains("`network.availability_zones`: the load balancer needs at least two availability zones, found 1"), "{message}");
}

#[test]
fn malformed_toml_gives_line_and_column() {
    let message = error_of("region = \"ap-south-1\"\n[network\n");
    assert!(message.starts_with("stacks/t.toml:2:"), "{message}");
}

#[test]
fn domain_outside_the_zone_is_rejected() {
    let text = shipped("local").replace(
        "domain = \"stream.ams-local.test\"",
        "domain = \"stream.example.org\"",
    );
    assert!(error_of(&text).contains("is not inside the hosted zone `ams-local.test`"));
}

#[test]
fn missing_file_lists_the_stacks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks");
    let message = load(&dir, "nope").expect_err("missing").to_string();
    assert!(
        message.contains("nope.toml not found (stacks here: local, prod)"),
        "{message}"
    );
}

#[test]
fn a_wrong_region_is_rejected_with_the_nearest_one() {
    let text = shipped("local").replace("region = \"ap-south-1\"", "region = \"ap-south-9\"");
    assert_eq!(
        error_of(&text),
        "stacks/t.toml:2:10: `region`: `ap-south-9` is not an AWS region (did you mean `ap-south-1`?)"
    );
}

#[test]
fn a_vpc_too_small_for_the_subnets_is_rejected() {
    let text = shipped("local").replace("vpc_cidr = \"10.0.0.0/16\"", "vpc_cidr = \"10.0.0.0/26\"");
    assert!(error_of(&text).contains(
        "`network.vpc_cidr`: 10.0.0.0/26 is too small for 4 subnets (2 zones, public and private)"
    ));
}

#[test]
fn a_public_vpc_range_is_refused_as_the_panel_filter_would_refuse_everyone() {
    let text = shipped("local").replace("vpc_cidr = \"10.0.0.0/16\"", "vpc_cidr = \"8.8.0.0/16\"");
    assert!(error_of(&text)
        .contains("stacks/t.toml:6:12: `network.vpc_cidr`: 8.8.0.0/16 is not a private range"));
}

#[test]
fn a_wrong_type_at_the_top_level_names_the_key() {
    let text = shipped("local").replace("region = \"ap-south-1\"", "region = 5");
    assert_eq!(
        error_of(&text),
        "stacks/t.toml:2:10: `region`: expected a string, found an integer `5`"
    );
}

#[test]
fn a_wrong_type_in_a_section_names_the_section_and_the_key() {
    let text = shipped("local").replacen("instance_type = \"c5.xlarge\"", "instance_type = 5", 1);
    assert_eq!(
        error_of(&text),
        "stacks/t.toml:18:17: `origin.instance_type`: expected a string, found an integer `5`"
    );
    let text = shipped("local").replacen("min_size = 1", "min_size = \"two\"", 1);
    assert_eq!(
        error_of(&text),
        "stacks/t.toml:19:12: `origin.min_size`: expected a whole number (0 or more), found a string \"two\""
    );
    let text = shipped("local").replacen("cpu_target = 60", "cpu_target = -1", 2);
    let text = text.replacen("cpu_target = -1", "cpu_target = 60", 1);
    assert!(
        error_of(&text)
            .starts_with("stacks/t.toml:27:14: `edge.cpu_target`: cpu_target is a percentage"),
        "a valid type still reaches the validation"
    );
    let text = shipped("local").replacen("min_size = 1", "min_size = -1", 2);
    assert_eq!(
        error_of(&text),
        "stacks/t.toml:19:12: `origin.min_size`: expected a whole number (0 or more), found an integer `-1`"
    );
}

#[test]
fn a_wrong_type_in_a_nested_array_names_the_element() {
    let text =
        shipped("local").replace("[\"ap-south-1a\", \"ap-south-1b\"]", "[\"ap-south-1a\", 5]");
    assert_eq!(
        error_of(&text),
        "stacks/t.toml:7:38: `network.availability_zones[1]`: expected a string, found an integer `5`"
    );
    let text = format!(
        "{}\n[security]\naccept = [\"EC2.13\", [\"EC2.19\"]]\n",
        shipped("local")
    );
    let message = error_of(&text);
    assert!(
        message.ends_with(": `security.accept[1]`: expected a string, found an array"),
        "{message}"
    );
}

#[test]
fn a_wrong_type_for_a_section_and_a_missing_key_name_the_section() {
    let text = shipped("local")
        .replace("[ingest]\n", "[x]\n")
        .replace("endpoint = ", "ingest = 1\nendpoint = ");
    let message = error_of(&text);
    assert!(
        message.contains(": `ingest`: expected a table, found an integer `1`"),
        "{message}"
    );
    let text = shipped("local").replacen("min_size = 1\n", "", 1);
    assert_eq!(
        error_of(&text),
        "stacks/t.toml:17:1: `origin`: missing field `min_size`"
    );
}

#[test]
fn an_unknown_section_is_named_with_the_nearest_one() {
    let text = shipped("local").replace("[ingest]\n", "[ingset]\n");
    let message = error_of(&text);
    assert!(
        message.starts_with("stacks/t.toml:29:2: unknown field `ingset`, expected one of"),
        "{message}"
    );
    assert!(message.ends_with("(did you mean `ingest`?)"), "{message}");
}

#[test]
fn mongodb_data_volume_defaults_and_gp3_limits() {
    let local = parse("local", Path::new("stacks/local.toml"), &shipped("local")).expect("local");
    let expected = DataVolume {
        gib: 100,
        iops: None,
        throughput: None,
    };
    assert_eq!(local.mongodb.data_volume, expected);
    assert_eq!(local.mongodb.backup_keep, 7);
    let with =
        |keys: &str| shipped("local").replace("[mongodb]\n", &format!("[mongodb]\n{keys}\n"));
    let sized = parse(
        "t",
        Path::new("stacks/t.toml"),
        &with("data_volume_gib = 500\ndata_volume_iops = 6000\ndata_volume_throughput = 500\nbackup_keep = 0"),
    )
    .expect("valid");
    assert_eq!(
        (
            sized.mongodb.data_volume.iops,
            sized.mongodb.data_volume.throughput,
            sized.mongodb.backup_keep
        ),
        (Some(6000), Some(500), 0)
    );
    let message = error_of(&with("data_volume_gib = 0"));
    assert!(
        message.starts_with(
            "stacks/t.toml:15:19: `mongodb.data_volume_gib`: 0 is out of range: 1 to 65536"
        ),
        "{message}"
    );
    let message = error_of(&with("data_volume_gib = 10\ndata_volume_iops = 6000"));
    assert!(
        message.contains("data_volume_iops`: gp3 gives at most 500 IOPS per GiB"),
        "{message}"
    );
    let message = error_of(&with("data_volume_throughput = 1000"));
    assert!(
        message.contains("3000 IOPS take at most 750 MiB/s"),
        "{message}"
    );
    let message = error_of(&with("backup_keep = -1"));
    assert!(
        message.contains("backup_keep`: -1 is out of range"),
        "{message}"
    );
}

/// The subnets the local stack (a /16 in two zones) is carved into: public, then private.
fn carved(text: &str) -> (Vec<String>, Vec<String>, bool) {
    let config = parse("t", Path::new("stacks/t.toml"), text).expect("valid");
    let Vpc::New {
        subnet_cidrs,
        private_subnet_cidrs,
        ..
    } = config.network.vpc
    else {
        panic!("a new VPC");
    };
    let text = |cidrs: Vec<ipnet::Ipv4Net>| cidrs.iter().map(|c| c.to_string()).collect();
    (
        text(subnet_cidrs),
        text(private_subnet_cidrs),
        config.network.private_database,
    )
}

#[test]
fn private_subnets_are_carved_after_the_public_ones_by_default() {
    let (public, private, on) = carved(&shipped("local"));
    assert!(on, "private_database is on by default");
    assert_eq!(public, ["10.0.0.0/20", "10.0.16.0/20"], "as before");
    assert_eq!(private, ["10.0.32.0/20", "10.0.48.0/20"]);
}

#[test]
fn private_database_false_keeps_the_public_layout() {
    let text = shipped("local").replace(
        "admin_cidr = \"192.0.2.0/24\"",
        "admin_cidr = \"192.0.2.0/24\"\nprivate_database = false",
    );
    let (public, private, on) = carved(&text);
    assert!(!on);
    assert_eq!(public, ["10.0.0.0/20", "10.0.16.0/20"]);
    assert!(private.is_empty());
    let config = parse("t", Path::new("stacks/t.toml"), &text).expect("valid");
    assert_eq!(
        config.lines["network.private_database"].to_string(),
        "stacks/t.toml:9:20: `network.private_database`"
    );
}

#[test]
fn a_small_vpc_must_hold_the_private_subnets_too() {
    let zones = "availability_zones = [\"ap-south-1a\", \"ap-south-1b\", \"ap-south-1c\"]";
    let text = shipped("local")
        .replace("vpc_cidr = \"10.0.0.0/16\"", "vpc_cidr = \"10.0.0.0/24\"")
        .replace(
            "availability_zones = [\"ap-south-1a\", \"ap-south-1b\"]",
            zones,
        );
    // A /24 gives sixteen /28s: three zones, public and private, fit.
    let (public, private, _) = carved(&text);
    assert_eq!((public.len(), private.len()), (3, 3));
    assert_eq!(private[0], "10.0.0.48/28");
}

#[test]
fn private_database_needs_a_vpc_the_stack_makes() {
    let text = shipped("local").replace(
        "vpc_cidr = \"10.0.0.0/16\"",
        "vpc_id = \"vpc-1\"\nsubnet_ids = [\"subnet-1\", \"subnet-2\"]\nprivate_database = true",
    );
    let message = error_of(&text);
    assert!(
        message.starts_with("stacks/t.toml:8:20: `network.private_database`: ams-stack makes private subnets only in a VPC it makes"),
        "{message}"
    );
    let existing = text.replace("private_database = true", "");
    let config = parse("t", Path::new("stacks/t.toml"), &existing).expect("valid");
    assert!(!config.network.private_database);
}

#[test]
fn the_load_balancer_section_is_optional_and_its_defaults_are_the_safe_ones() {
    let local = parse("local", Path::new("stacks/t.toml"), &shipped("local")).expect("local");
    let lb = &local.load_balancer;
    assert_eq!(lb.plain_http, PlainHttp::Redirect);
    assert_eq!(lb.tls_policy, "ELBSecurityPolicy-TLS13-1-2-FIPS-PQ-2025-09");
    assert!(lb.deletion_protection);
    assert_eq!(lb.access_log_days, 30);
}

#[test]
fn load_balancer_settings_are_read_and_their_lines_kept() {
    let text = format!(
        "{}\n[load_balancer]\nplain_http = \"forward\"\ntls_policy = \"ELBSecurityPolicy-TLS13-1-2-PQ-2025-09\"\ndeletion_protection = false\naccess_log_days = 0\n",
        shipped("local")
    );
    let config = parse("t", Path::new("stacks/t.toml"), &text).expect("valid");
    let lb = &config.load_balancer;
    assert_eq!(lb.plain_http, PlainHttp::Forward);
    assert_eq!(lb.tls_policy, "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09");
    assert!(!lb.deletion_protection);
    assert_eq!(lb.access_log_days, 0);
    let line = |key: &str| config.lines.get(key).map(|l| l.line);
    let first = text
        .lines()
        .position(|l| l == "[load_balancer]")
        .expect("section")
        + 1;
    assert_eq!(line("load_balancer.plain_http"), Some(first + 1));
    assert_eq!(line("load_balancer.deletion_protection"), Some(first + 3));
    assert_eq!(line("load_balancer.access_log_days"), Some(first + 4));
}

fn with_load_balancer(key_value: &str) -> (String, usize) {
    let text = format!("{}\n[load_balancer]\n{key_value}\n", shipped("local"));
    let line = text.lines().count();
    (text, line)
}

#[test]
fn a_plain_http_mode_that_does_not_exist_names_the_two_that_do() {
    let (text, line) = with_load_balancer("plain_http = \"drop\"");
    assert_eq!(
        error_of(&text),
        format!("stacks/t.toml:{line}:14: `load_balancer.plain_http`: `drop` is not a plain_http mode (use \"redirect\" or \"forward\")")
    );
}

#[test]
fn an_unknown_tls_policy_is_refused_with_the_nearest_name() {
    let (text, line) = with_load_balancer("tls_policy = \"ELBSecurityPolicy-TLS13-1-2-PQ-2025\"");
    let message = error_of(&text);
    assert!(
        message.starts_with(&format!("stacks/t.toml:{line}:14: `load_balancer.tls_policy`: `ELBSecurityPolicy-TLS13-1-2-PQ-2025` is not an Application Load Balancer security policy (did you mean `ELBSecurityPolicy-TLS13-1-2-PQ-2025-09`?")),
        "{message}"
    );
}

#[test]
fn every_listed_tls_policy_is_accepted_and_a_near_miss_of_the_newest_names_it() {
    for policy in ams_aws::elbv2::TLS_POLICIES {
        let (text, _) = with_load_balancer(&format!("tls_policy = \"{}\"", policy.name));
        let config = parse("t", Path::new("stacks/t.toml"), &text).expect(policy.name);
        assert_eq!(config.load_balancer.tls_policy, policy.name);
    }
    let (text, line) =
        with_load_balancer("tls_policy = \"ELBSecurityPolicy-TLS13-1-0-FIPS-PQ-2025\"");
    let message = error_of(&text);
    assert!(
        message.starts_with(&format!("stacks/t.toml:{line}:14: `load_balancer.tls_policy`: `ELBSecurityPolicy-TLS13-1-0-FIPS-PQ-2025` is not an Application Load Balancer security policy (did you mean `ELBSecurityPolicy-TLS13-1-0-FIPS-PQ-2025-09`?")),
        "{message}"
    );
}

#[test]
fn a_tls_policy_alb_no_longer_takes_is_refused_with_what_to_use() {
    for retired in [
        "ELBSecurityPolicy-2015-05",
        "ELBSecurityPolicy-TLS-1-0-2015-04",
    ] {
        assert!(ams_aws::elbv2::tls_policy(retired).is_none(), "{retired}");
        let (text, line) = with_load_balancer(&format!("tls_policy = \"{retired}\""));
        assert_eq!(
            error_of(&text),
            format!("stacks/t.toml:{line}:14: `load_balancer.tls_policy`: `{retired}` is no longer accepted by Application Load Balancers; use the default `ELBSecurityPolicy-TLS13-1-2-FIPS-PQ-2025-09`, or `ELBSecurityPolicy-TLS13-1-0-PQ-2025-09` for clients that still need TLS 1.0")
        );
    }
}

#[test]
fn access_log_days_are_zero_to_ten_years() {
    let (text, line) = with_load_balancer("access_log_days = 3651");
    assert_eq!(
        error_of(&text),
        format!("stacks/t.toml:{line}:19: `load_balancer.access_log_days`: 3651 is out of range: 0 to 3650")
    );
    let (text, _) = with_load_balancer("access_log_days = 3650");
    assert!(parse("t", Path::new("stacks/t.toml"), &text).is_ok());
}

#[test]
fn an_unknown_load_balancer_key_is_refused_with_its_section() {
    let (text, _) = with_load_balancer("deletion_protect = true");
    let message = error_of(&text);
    assert!(
        message.contains("unknown field `deletion_protect` in [load_balancer]"),
        "{message}"
    );
    assert!(
        message.ends_with("(did you mean `deletion_protection`?)"),
        "{message}"
    );
}

#[test]
fn a_health_timeout_of_seconds_is_for_emulator_stacks_only() {
    let with = |stack: &str, timeout: &str| {
        shipped(stack).replacen(
            "[origin]\n",
            &format!("[origin]\nhealth_timeout = \"{timeout}\"\n"),
            1,
        )
    };
    let local = parse("t", Path::new("stacks/t.toml"), &with("local", "5s")).expect("emulator");
    assert_eq!(local.origin.health_timeout_seconds, Some(5));
    let message = error_of(&with("prod", "5s"));
    assert!(
        message.contains("`origin.health_timeout`: health_timeout is 1m to 2h"),
        "{message}"
    );
    let message = error_of(&with("local", "0s"));
    assert!(
        message.contains("health_timeout is 1s to 2h on an emulator stack"),
        "{message}"
    );
    let message = error_of(&with("local", "3h"));
    assert!(message.contains("health_timeout is 1s to 2h"), "{message}");
    // drain_timeout is a lifecycle hook's heartbeat, which AWS takes from 30 s: never seconds.
    let drain = shipped("local").replacen("[origin]\n", "[origin]\ndrain_timeout = \"5s\"\n", 1);
    assert!(error_of(&drain).contains("drain_timeout is 1m to 2h"));
}

#[test]
fn a_certificate_may_be_a_wildcard_one_level_above_the_domain_and_nothing_else() {
    let with = |name: &str| {
        shipped("prod").replace(
            "hosted_zone = \"example.com\"",
            &format!("hosted_zone = \"example.com\"\ncertificate_domain = \"{name}\""),
        )
    };
    let wildcard = parse(
        "prod",
        Path::new("stacks/prod.toml"),
        &with("*.example.com"),
    )
    .expect("a wildcard over the domain");
    assert_eq!(wildcard.dns.certificate_domain, "*.example.com");
    let default = parse("prod", Path::new("stacks/prod.toml"), &shipped("prod")).expect("prod");
    assert_eq!(default.dns.certificate_domain, "stream.example.com");
    for other in ["*.stream.example.com", "other.example.com", "*.example.org"] {
        let error = error_of(&with(other));
        assert!(
            error.contains("dns.certificate_domain") && error.contains("does not cover"),
            "{other}: {error}"
        );
    }
}
