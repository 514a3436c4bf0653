//! An AMS cluster built by hand, as Ant Media's AWS clustering guide ("Clustering with AWS") has
//! a user build it in the console, for the tests of `ams-stack adopt`. Each step of the guide is one function below, in the guide's
//! order; where the guide and Ant Media's current scripts (their CloudFormation template and
//! install script) disagree, the scripts win.
//!
//! What the console does for the user without being asked is done here too: the default VPC,
//! a `launch-wizard-N` security group, the Marketplace's auto-generated security group, console
//! defaults (policy name, warm-up, TLS policy). With `cloudformation_stack`, the same cluster
//! carries the names and `aws:cloudformation:*` tags Ant Media's template would give it.

use std::collections::BTreeMap;

use base64::Engine as _;

/// The Marketplace product of AMS Enterprise: what tells the genuine image from a lookalike.
const AMS_PRODUCT_CODE: &str = "4wh7rhpic3wfwamyp5905tsbt";
/// Canonical's account, owner of the Ubuntu images.
const CANONICAL: &str = "099720109477";
/// The account moto answers as.
const ACCOUNT: &str = "123456789012";
/// The key pair the guide creates in step 1 ("ant.pem").
const KEY_NAME: &str = "ant";

pub struct GuideOptions {
    /// e.g. "ap-south-1" (the project's local stack uses this region).
    pub region: String,
    /// e.g. "stream.ams-local.test".
    pub domain: String,
    /// e.g. "ams-local.test" (already exists: tests seed it).
    pub hosted_zone: String,
    /// Tag every resource as Ant Media's CloudFormation template would
    /// (aws:cloudformation:stack-name / stack-id / logical-id, with logical ids such as
    /// DBInstance, OriginGroup, LaunchTemplateOrigin, ALBTargetGroupOrigin,
    /// ApplicationLoadBalancer, ...), and name them as CloudFormation does. The cluster is still
    /// the guide's (default VPC, both groups in one subnet); the certificate stays untagged, as
    /// the template takes one by ARN (and moto's ACM refuses `aws:` tag keys).
    pub cloudformation_stack: Option<String>,
    /// User data names MongoDB by a mongodb:// URI (newer AMS) instead of a bare IP.
    pub mongodb_uri: bool,
    /// Make the DNS record (CNAME domain -> ALB DNS name). false: no record.
    pub record: bool,
}

impl GuideOptions {
    /// The local emulator's region and seeded zone; the guide's bare IP; with the record.
    pub fn local() -> Self {
        GuideOptions {
            region: "ap-south-1".to_string(),
            domain: "stream.ams-local.test".to_string(),
            hosted_zone: "ams-local.test".to_string(),
            cloudformation_stack: None,
            mongodb_uri: false,
            record: true,
        }
    }
}

/// Every id of what was built, so tests can check after adoption what was kept.
#[derive(Debug, Clone)]
pub struct GuideCluster {
    pub vpc_id: String,
    /// The default subnets, by availability zone (the first is the guide's "ap-south-1a").
    pub subnet_ids: Vec<String>,
    /// The hosted zone's id, without `/hostedzone/`.
    pub zone_id: String,
    pub key_name: String,
    pub mongodb_instance_id: String,
    pub mongodb_private_ip: String,
    pub mongodb_root_volume_id: String,
    pub mongodb_sg_id: String,
    pub nodes_sg_id: String,
    /// The edge template's group: its own from the console, the origins' from the template.
    pub edge_sg_id: String,
    pub alb_sg_id: String,
    pub origin_launch_template_id: String,
    pub edge_launch_template_id: String,
    pub origin_target_group_arn: String,
    pub edge_target_group_arn: String,
    pub origin_group_name: String,
    pub edge_group_name: String,
    pub alb_arn: String,
    pub alb_dns_name: String,
    /// By port: 80, 443, 5080, 5443.
    pub listener_arns: BTreeMap<i32, String>,
    /// The two rules on 443, by priority: `target=origin` (1), then `target=edge` (2).
    pub rule_arns: Vec<String>,
    pub certificate_arn: String,
}

/// Builds the cluster in `options.region` of the account `sdk` reaches.
pub async fn build(sdk: &aws_config::SdkConfig, options: &GuideOptions) -> GuideCluster {
    let guide = Guide::new(sdk, options);
    let (vpc_id, subnet_ids) = guide.default_network().await;
    let zone_id = guide.hosted_zone().await;

    // Step 1: Install MongoDB Server.
    let key_name = guide.step1_create_key_pair().await;
    let mongodb_sg_id = guide.step1_configure_security_group(&vpc_id).await;
    let mongodb = guide
        .step1_launch_mongodb_instance(&subnet_ids[0], &mongodb_sg_id, &key_name)
        .await;

    // Step 2: Install Scalable Origin Group.
    let ams_image = guide.step2_find_marketplace_image().await;
    let nodes_sg_id = guide
        .step2_marketplace_security_group(&vpc_id, &ams_image)
        .await;
    let origin = guide
        .step2_install_scalable_group(
            Role::Origin,
            &ams_image.id,
            &nodes_sg_id,
            &key_name,
            &mongodb.private_ip,
            &subnet_ids[0],
        )
        .await;

    // Step 3: Install Scalable Edge Group (step 2 again, named for the edges): the console
    // makes the edge template a group of its own; the template shares one.
    let edge_sg_id = match options.cloudformation_stack {
        Some(_) => nodes_sg_id.clone(),
        None => {
            guide
                .step2_marketplace_security_group_numbered(&vpc_id, &ams_image, 2)
                .await
        }
    };
    let edge = guide
        .step3_install_scalable_edge_group(
            &ams_image.id,
            &edge_sg_id,
            &key_name,
            &mongodb.private_ip,
            &subnet_ids[0],
        )
        .await;

    // Step 4: Install Load Balancer.
    let alb_sg_id = guide.step4_load_balancer_security_group(&vpc_id).await;
    let origin_target_group_arn = guide.step4_create_target_group(Role::Origin, &vpc_id).await;
    let edge_target_group_arn = guide.step4_create_target_group(Role::Edge, &vpc_id).await;
    guide.step4_change_algorithm(&origin_target_group_arn).await;
    guide.step4_change_algorithm(&edge_target_group_arn).await;
    let certificate_arn = guide.step4_request_certificate(&zone_id).await;
    let (alb_arn, alb_dns_name) = guide
        .step4_create_load_balancer(&subnet_ids[..2], &alb_sg_id)
        .await;
    let listener_arns = guide
        .step4_add_listeners(
            &alb_arn,
            &origin_target_group_arn,
            &edge_target_group_arn,
            &certificate_arn,
        )
        .await;
    guide
        .step4_attach_groups_to_load_balancer(&origin.group_name, &origin_target_group_arn)
        .await;
    guide
        .step4_attach_groups_to_load_balancer(&edge.group_name, &edge_target_group_arn)
        .await;
    let rule_arns = guide
        .step4_add_https_rules(
            &listener_arns[&443],
            &origin_target_group_arn,
            &edge_target_group_arn,
        )
        .await;
    if options.record {
        guide.step4_add_cname(&zone_id, &alb_dns_name).await;
    }

    GuideCluster {
        vpc_id,
        subnet_ids,
        zone_id,
        key_name,
        mongodb_instance_id: mongodb.instance_id,
        mongodb_private_ip: mongodb.private_ip,
        mongodb_root_volume_id: mongodb.root_volume_id,
        mongodb_sg_id,
        nodes_sg_id,
        edge_sg_id,
        alb_sg_id,
        origin_launch_template_id: origin.launch_template_id,
        edge_launch_template_id: edge.launch_template_id,
        origin_target_group_arn,
        edge_target_group_arn,
        origin_group_name: origin.group_name,
        edge_group_name: edge.group_name,
        alb_arn,
        alb_dns_name,
        listener_arns,
        rule_arns,
        certificate_arn,
    }
}

#[derive(Clone, Copy)]
enum Role {
    Origin,
    Edge,
}

impl Role {
    /// As in the logical ids of Ant Media's template (`OriginGroup`, `LaunchTemplateEdge`, ...).
    fn logical(self) -> &'static str {
        match self {
            Role::Origin => "Origin",
            Role::Edge => "Edge",
        }
    }
}

struct Mongodb {
    instance_id: String,
    private_ip: String,
    root_volume_id: String,
}

struct ScalableGroup {
    launch_template_id: String,
    group_name: String,
}

struct Image {
    id: String,
    /// From its name, e.g. "2.12.0".
    version: String,
}

/// The stack a CloudFormation-built cluster belongs to.
struct Stack {
    name: String,
    id: String,
}

/// The clients of one build, and how it names and tags what it makes.
struct Guide<'a> {
    options: &'a GuideOptions,
    stack: Option<Stack>,
    ec2: aws_sdk_ec2::Client,
    autoscaling: aws_sdk_autoscaling::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    acm: aws_sdk_acm::Client,
    route53: aws_sdk_route53::Client,
}

impl<'a> Guide<'a> {
    fn new(sdk: &aws_config::SdkConfig, options: &'a GuideOptions) -> Self {
        let region = aws_config::Region::new(options.region.clone());
        let ec2 = aws_sdk_ec2::config::Builder::from(sdk)
            .region(region.clone())
            .build();
        let autoscaling = aws_sdk_autoscaling::config::Builder::from(sdk)
            .region(region.clone())
            .build();
        let elb = aws_sdk_elasticloadbalancingv2::config::Builder::from(sdk)
            .region(region.clone())
            .build();
        // The certificate of an ALB lives in the ALB's region.
        let acm = aws_sdk_acm::config::Builder::from(sdk)
            .region(region)
            .build();
        let stack = options.cloudformation_stack.as_ref().map(|name| Stack {
            name: name.clone(),
            id: format!(
                "arn:aws:cloudformation:{}:{ACCOUNT}:stack/{name}/{}",
                options.region,
                pseudo_uuid(name)
            ),
        });
        Guide {
            options,
            stack,
            ec2: aws_sdk_ec2::Client::from_conf(ec2),
            autoscaling: aws_sdk_autoscaling::Client::from_conf(autoscaling),
            elb: aws_sdk_elasticloadbalancingv2::Client::from_conf(elb),
            acm: aws_sdk_acm::Client::from_conf(acm),
            route53: aws_sdk_route53::Client::new(sdk),
        }
    }

    // ---- naming and tagging ------------------------------------------------------------------

    /// The name a user following the guide gives, or the one CloudFormation would generate for
    /// `logical` (`STACK-LOGICAL-SUFFIX`, shortened to `max` characters as it does for load
    /// balancers and target groups).
    fn name(&self, guide: &str, logical: &str, max: usize) -> String {
        let Some(stack) = &self.stack else {
            return guide.to_string();
        };
        let suffix = pseudo_suffix(&stack.name, logical);
        let full = format!("{}-{logical}-{suffix}", stack.name);
        if full.len() <= max {
            return full;
        }
        // CloudFormation keeps the suffix and cuts the stack name and the logical id.
        let room = max.saturating_sub(suffix.len() + 2);
        let stack_part: String = stack.name.chars().take(room / 2).collect();
        let logical_part: String = logical.chars().take(room - stack_part.len()).collect();
        format!("{stack_part}-{logical_part}-{suffix}")
    }

    /// The `aws:cloudformation:*` tags of `logical` (none without a stack), then `extra`.
    fn tags(&self, logical: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut tags = Vec::new();
        if let Some(stack) = &self.stack {
            tags.push(("aws:cloudformation:stack-name".into(), stack.name.clone()));
            tags.push(("aws:cloudformation:stack-id".into(), stack.id.clone()));
            tags.push(("aws:cloudformation:logical-id".into(), logical.to_string()));
            tags.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        }
        tags
    }

    fn ec2_tag_specification(
        &self,
        resource: aws_sdk_ec2::types::ResourceType,
        logical: &str,
        extra: &[(&str, &str)],
    ) -> Option<Vec<aws_sdk_ec2::types::TagSpecification>> {
        let tags = self.tags(logical, extra);
        if tags.is_empty() {
            return None;
        }
        let mut specification =
            aws_sdk_ec2::types::TagSpecification::builder().resource_type(resource);
        for (key, value) in tags {
            specification = specification.tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key(key)
                    .value(value)
                    .build(),
            );
        }
        Some(vec![specification.build()])
    }

    fn elb_tags(&self, logical: &str) -> Option<Vec<aws_sdk_elasticloadbalancingv2::types::Tag>> {
        let tags = self.tags(logical, &[]);
        (!tags.is_empty()).then(|| {
            tags.into_iter()
                .map(|(key, value)| {
                    aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                        .key(key)
                        .value(value)
                        .build()
                })
                .collect()
        })
    }

    // ---- what exists before the guide starts -------------------------------------------------

    /// The account's default VPC and its default subnets, ordered by zone: the guide creates
    /// no network.
    async fn default_network(&self) -> (String, Vec<String>) {
        let vpcs = self
            .ec2
            .describe_vpcs()
            .filters(ec2_filter("isDefault", "true"))
            .send()
            .await
            .expect("describe the default VPC");
        let vpc_id = vpcs
            .vpcs()
            .first()
            .and_then(|v| v.vpc_id())
            .expect("the region has a default VPC")
            .to_string();
        let subnets = self
            .ec2
            .describe_subnets()
            .filters(ec2_filter("vpc-id", &vpc_id))
            .filters(ec2_filter("default-for-az", "true"))
            .send()
            .await
            .expect("describe the default subnets");
        let mut by_zone: Vec<(String, String)> = subnets
            .subnets()
            .iter()
            .map(|s| {
                (
                    s.availability_zone().expect("a subnet's zone").to_string(),
                    s.subnet_id().expect("a subnet's id").to_string(),
                )
            })
            .collect();
        by_zone.sort();
        assert!(
            by_zone.len() >= 2,
            "the default VPC has default subnets in two zones: {by_zone:?}"
        );
        (vpc_id, by_zone.into_iter().map(|(_, id)| id).collect())
    }

    /// The public hosted zone the domain lives in (tests seed it).
    async fn hosted_zone(&self) -> String {
        let wanted = format!("{}.", self.options.hosted_zone.trim_end_matches('.'));
        let zones = self
            .route53
            .list_hosted_zones_by_name()
            .dns_name(&wanted)
            .send()
            .await
            .expect("list the hosted zones");
        zones
            .hosted_zones()
            .iter()
            .find(|z| z.name() == wanted)
            .map(|z| z.id().trim_start_matches("/hostedzone/").to_string())
            .unwrap_or_else(|| panic!("hosted zone {wanted} exists"))
    }

    // ---- Step 1: Install MongoDB Server ------------------------------------------------------

    /// Step 1, "Create new key pair" in the launch dialog (the guide's is `ant.pem`); a key pair
    /// already there under that name is chosen instead.
    async fn step1_create_key_pair(&self) -> String {
        let existing = self
            .ec2
            .describe_key_pairs()
            .filters(ec2_filter("key-name", KEY_NAME))
            .send()
            .await
            .expect("describe key pairs");
        if existing.key_pairs().is_empty() {
            self.ec2
                .create_key_pair()
                .key_name(KEY_NAME)
                .key_type(aws_sdk_ec2::types::KeyType::Rsa)
                .key_format(aws_sdk_ec2::types::KeyFormat::Pem)
                .send()
                .await
                .expect("create the key pair");
        }
        KEY_NAME.to_string()
    }

    /// Step 1, "Configure Security Group": the launch wizard's new group, with 22 and 27017 open
    /// to anywhere (the guide means to restrict it "later").
    async fn step1_configure_security_group(&self, vpc_id: &str) -> String {
        let name = match &self.stack {
            Some(_) => self.name("", "DBEC2SecurityGroup", 255),
            None => self.next_launch_wizard_name(vpc_id).await,
        };
        let description = match &self.stack {
            Some(_) => "MongoDB SecurityGroup".to_string(),
            None => format!("{name} created 2025-01-15T10:00:00.000Z"),
        };
        let group_id = self
            .create_security_group(vpc_id, &name, &description, "DBEC2SecurityGroup")
            .await;
        self.open(&group_id, &[("tcp", 22, 22), ("tcp", 27017, 27017)])
            .await;
        group_id
    }

    /// The console numbers its wizard groups: `launch-wizard-N`, the first N free in the VPC.
    async fn next_launch_wizard_name(&self, vpc_id: &str) -> String {
        let groups = self
            .ec2
            .describe_security_groups()
            .filters(ec2_filter("vpc-id", vpc_id))
            .send()
            .await
            .expect("describe security groups");
        let taken: Vec<&str> = groups
            .security_groups()
            .iter()
            .filter_map(|g| g.group_name())
            .collect();
        (1..)
            .map(|n| format!("launch-wizard-{n}"))
            .find(|name| !taken.contains(&name.as_str()))
            .expect("a free wizard name")
    }

    /// Step 1, "Launch Instance" with Ubuntu and m5.xlarge, then "Install MongoDB to Your
    /// Instance" (here as user data, with Ant Media's install script and no `--auto-create`, so
    /// without authentication). The wizard's defaults: the image's root volume only,
    /// unencrypted; no instance profile.
    async fn step1_launch_mongodb_instance(
        &self,
        subnet_id: &str,
        security_group_id: &str,
        key_name: &str,
    ) -> Mongodb {
        let image = self.step1_find_ubuntu_image().await;
        let user_data = "#!/bin/bash\n\
            wget -O /tmp/install_mongodb.sh https://raw.githubusercontent.com/ant-media/Scripts/master/install_mongodb.sh\n\
            chmod +x /tmp/install_mongodb.sh\n\
            /tmp/install_mongodb.sh\n";
        let launched = self
            .ec2
            .run_instances()
            .image_id(&image)
            .instance_type(aws_sdk_ec2::types::InstanceType::M5Xlarge)
            .key_name(key_name)
            .subnet_id(subnet_id)
            .security_group_ids(security_group_id)
            .user_data(base64(user_data))
            .min_count(1)
            .max_count(1)
            .set_tag_specifications(self.ec2_tag_specification(
                aws_sdk_ec2::types::ResourceType::Instance,
                "DBInstance",
                &[("Name", "Antmedia-MongoDB")],
            ))
            .send()
            .await
            .expect("launch the MongoDB instance");
        let instance_id = launched
            .instances()
            .first()
            .and_then(|i| i.instance_id())
            .expect("the launched instance's id")
            .to_string();
        let instance = self.wait_until_running(&instance_id).await;
        let private_ip = instance
            .private_ip_address()
            .expect("MongoDB's private address")
            .to_string();
        let root_device = instance.root_device_name().expect("a root device name");
        let root_volume_id = instance
            .block_device_mappings()
            .iter()
            .find(|m| m.device_name() == Some(root_device))
            .and_then(|m| m.ebs())
            .and_then(|e| e.volume_id())
            .expect("MongoDB's root volume")
            .to_string();
        Mongodb {
            instance_id,
            private_ip,
            root_volume_id,
        }
    }

    /// Step 1, "Search for Ubuntu": the newest Ubuntu 24.04 from Canonical (the guide shows
    /// 20.04; Ant Media's install script supports 20.04 to 24.04).
    async fn step1_find_ubuntu_image(&self) -> String {
        let images = self
            .ec2
            .describe_images()
            .owners(CANONICAL)
            .filters(ec2_filter(
                "name",
                "ubuntu/images/hvm-ssd*/ubuntu-noble-24.04-amd64-server-*",
            ))
            .filters(ec2_filter("architecture", "x86_64"))
            .send()
            .await
            .expect("describe the Ubuntu images");
        images
            .images()
            .iter()
            .max_by(|a, b| a.creation_date().cmp(&b.creation_date()))
            .and_then(|i| i.image_id())
            .expect("an Ubuntu 24.04 image")
            .to_string()
    }

    async fn wait_until_running(&self, instance_id: &str) -> aws_sdk_ec2::types::Instance {
        for _ in 0..60 {
            let described = self
                .ec2
                .describe_instances()
                .instance_ids(instance_id)
                .send()
                .await
                .expect("describe the MongoDB instance");
            let instance = described
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
                .next()
                .expect("the MongoDB instance")
                .clone();
            let running = instance
                .state()
                .and_then(|s| s.name())
                .is_some_and(|n| *n == aws_sdk_ec2::types::InstanceStateName::Running);
            if running {
                return instance;
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        panic!("the MongoDB instance never ran");
    }

    // ---- Step 2: Install Scalable Origin Group -----------------------------------------------

    /// Step 2, "Browse more AMIs" > "AWS Marketplace AMIs" > "Ant Media Server Enterprise": the
    /// newest image of the product (its product code, as Ant Media's template looks it up; a
    /// lookalike by name without the code is not it).
    async fn step2_find_marketplace_image(&self) -> Image {
        let images = self
            .ec2
            .describe_images()
            .filters(ec2_filter("product-code", AMS_PRODUCT_CODE))
            .filters(ec2_filter("name", "AntMedia-AWS-Marketplace-EE-*"))
            .filters(ec2_filter("architecture", "x86_64"))
            .send()
            .await
            .expect("describe the Marketplace images");
        // The filter alone tells the product: moto answers with no ProductCodes on the images.
        let image = images
            .images()
            .iter()
            .max_by(|a, b| a.creation_date().cmp(&b.creation_date()))
            .expect("the AMS Enterprise Marketplace image");
        let name = image.name().expect("the image's name");
        let version = name
            .trim_start_matches("AntMedia-AWS-Marketplace-EE-")
            .split('-')
            .next()
            .unwrap_or_default()
            .to_string();
        Image {
            id: image.image_id().expect("the image's id").to_string(),
            version,
        }
    }

    /// Step 2, "Network Settings: the Security Group will be created automatically": the
    /// Marketplace's group for the product, with the seller's ports open to anywhere (the guide's
    /// note: UDP 50000-60000 for WebRTC, TCP 5000 for the cluster). Step 3 chooses it again.
    async fn step2_marketplace_security_group(&self, vpc_id: &str, image: &Image) -> String {
        self.step2_marketplace_security_group_numbered(vpc_id, image, 1)
            .await
    }

    /// The same group as the console makes it the `number`th time (step 3 makes a second).
    async fn step2_marketplace_security_group_numbered(
        &self,
        vpc_id: &str,
        image: &Image,
        number: u32,
    ) -> String {
        let guide_name = format!(
            "Ant Media Server Enterprise-{}-AutogenByAWSMP-{number}",
            image.version
        );
        let name = self.name(&guide_name, "InstanceSecurityGroup", 255);
        let description = format!(
            "This security group was generated by AWS Marketplace and is based on recommended \
             settings for Ant Media Server Enterprise version {} provided by Ant Media",
            image.version
        );
        let group_id = self
            .create_security_group(vpc_id, &name, &description, "InstanceSecurityGroup")
            .await;
        self.open(
            &group_id,
            &[
                ("tcp", 22, 22),
                ("tcp", 80, 80),
                ("tcp", 443, 443),
                ("tcp", 1935, 1935),
                ("tcp", 5000, 5000),
                ("tcp", 5080, 5080),
                ("tcp", 5443, 5443),
                ("udp", 50000, 60000),
            ],
        )
        .await;
        group_id
    }

    /// Step 2 as a whole for one role: the launch template, then the Auto Scaling group with
    /// its scaling policy (the load balancer is attached in step 4).
    async fn step2_install_scalable_group(
        &self,
        role: Role,
        image_id: &str,
        security_group_id: &str,
        key_name: &str,
        mongodb_ip: &str,
        subnet_id: &str,
    ) -> ScalableGroup {
        let launch_template_id = self
            .step2_create_launch_template(role, image_id, security_group_id, key_name, mongodb_ip)
            .await;
        let group_name = self
            .step2_create_auto_scaling_group(role, &launch_template_id, subnet_id)
            .await;
        self.step2_choose_scaling_policy(role, &group_name).await;
        ScalableGroup {
            launch_template_id,
            group_name,
        }
    }

    /// Step 2, "Create Launch Template": the Marketplace image, c5.xlarge, the key pair, the
    /// Marketplace's group, and the user data that puts the node in cluster mode with MongoDB.
    async fn step2_create_launch_template(
        &self,
        role: Role,
        image_id: &str,
        security_group_id: &str,
        key_name: &str,
        mongodb_ip: &str,
    ) -> String {
        let logical = format!("LaunchTemplate{}", role.logical());
        let name = match &self.stack {
            Some(stack) => format!("{}-AntMedia-{logical}", stack.name),
            None => format!("{}-Group", role.logical()),
        };
        let mongodb = if self.options.mongodb_uri {
            format!("mongodb://{mongodb_ip}:27017")
        } else {
            mongodb_ip.to_string()
        };
        let user_data = format!(
            "#!/bin/bash\ncd /usr/local/antmedia\n./change_server_mode.sh cluster {mongodb}\n"
        );
        let data = aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
            .image_id(image_id)
            .instance_type(aws_sdk_ec2::types::InstanceType::C5Xlarge)
            .key_name(key_name)
            .security_group_ids(security_group_id)
            .user_data(base64(&user_data))
            .build();
        let created = self
            .ec2
            .create_launch_template()
            .launch_template_name(&name)
            .version_description("1")
            .launch_template_data(data)
            .set_tag_specifications(self.ec2_tag_specification(
                aws_sdk_ec2::types::ResourceType::LaunchTemplate,
                &logical,
                &[("Name", &name)],
            ))
            .send()
            .await
            .expect("create the launch template");
        created
            .launch_template()
            .and_then(|t| t.launch_template_id())
            .expect("the launch template's id")
            .to_string()
    }

    /// Step 2, "create Auto Scaling Group": the launch template's default version, one subnet
    /// (the guide's "ap-south-1a"), one instance, up to 10.
    async fn step2_create_auto_scaling_group(
        &self,
        role: Role,
        launch_template_id: &str,
        subnet_id: &str,
    ) -> String {
        let logical = format!("{}Group", role.logical());
        let name = self.name(&format!("AMS-{}-Group", role.logical()), &logical, 255);
        let name_tag = format!("Antmedia-{}", role.logical());
        let tags: Vec<aws_sdk_autoscaling::types::Tag> = self
            .tags(&logical, &[("Name", &name_tag)])
            .into_iter()
            .map(|(key, value)| {
                aws_sdk_autoscaling::types::Tag::builder()
                    .resource_id(&name)
                    .resource_type("auto-scaling-group")
                    .key(key)
                    .value(value)
                    .propagate_at_launch(true)
                    .build()
            })
            .collect();
        self.autoscaling
            .create_auto_scaling_group()
            .auto_scaling_group_name(&name)
            .launch_template(
                aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                    .launch_template_id(launch_template_id)
                    .version("$Default")
                    .build(),
            )
            .min_size(1)
            .max_size(10)
            .desired_capacity(1)
            .vpc_zone_identifier(subnet_id)
            .set_tags((!tags.is_empty()).then_some(tags))
            .send()
            .await
            .expect("create the Auto Scaling group");
        name
    }

    /// Step 2, "Choose your scaling policy": target tracking on average CPU at 60 %, with the
    /// console's warm-up. The console names every group's policy "Target Tracking Policy";
    /// moto keeps policies by name across groups (the edge's would replace the origin's), so
    /// the group's name follows.
    async fn step2_choose_scaling_policy(&self, role: Role, group_name: &str) {
        let logical = format!("{}CPUPolicy", role.logical());
        let name = self.name(
            &format!("Target Tracking Policy {group_name}"),
            &logical,
            255,
        );
        self.autoscaling
            .put_scaling_policy()
            .auto_scaling_group_name(group_name)
            .policy_name(name)
            .policy_type("TargetTrackingScaling")
            .estimated_instance_warmup(300)
            .target_tracking_configuration(
                aws_sdk_autoscaling::types::TargetTrackingConfiguration::builder()
                    .predefined_metric_specification(
                        aws_sdk_autoscaling::types::PredefinedMetricSpecification::builder()
                            .predefined_metric_type(
                                aws_sdk_autoscaling::types::MetricType::AsgAverageCpuUtilization,
                            )
                            .build(),
                    )
                    .target_value(60.0)
                    .build(),
            )
            .send()
            .await
            .expect("put the target tracking policy");
    }

    // ---- Step 3: Install Scalable Edge Group -------------------------------------------------

    /// Step 3: step 2 again, named for the edges, with the same image, group and MongoDB.
    async fn step3_install_scalable_edge_group(
        &self,
        image_id: &str,
        security_group_id: &str,
        key_name: &str,
        mongodb_ip: &str,
        subnet_id: &str,
    ) -> ScalableGroup {
        self.step2_install_scalable_group(
            Role::Edge,
            image_id,
            security_group_id,
            key_name,
            mongodb_ip,
            subnet_id,
        )
        .await
    }

    // ---- Step 4: Install Load Balancer -------------------------------------------------------

    /// Step 4, "create new security group" for the load balancer: its four listener ports
    /// open to anywhere.
    async fn step4_load_balancer_security_group(&self, vpc_id: &str) -> String {
        let name = self.name("AMS-LoadBalancer-SG", "ELBSecurityGroup", 255);
        let group_id = self
            .create_security_group(vpc_id, &name, "Allows access", "ELBSecurityGroup")
            .await;
        self.open(
            &group_id,
            &[
                ("tcp", 80, 80),
                ("tcp", 443, 443),
                ("tcp", 5080, 5080),
                ("tcp", 5443, 5443),
            ],
        )
        .await;
        group_id
    }

    /// Step 4, "create target groups for both Origin & Edge": HTTP on 5080 in the default VPC,
    /// no targets (the groups register them). The health check is Ant Media's template's
    /// (the guide's screenshots are not in its text).
    async fn step4_create_target_group(&self, role: Role, vpc_id: &str) -> String {
        let logical = format!("ALBTargetGroup{}", role.logical());
        let name = self.name(&format!("AMS-{}-TargetGroup", role.logical()), &logical, 32);
        let created = self
            .elb
            .create_target_group()
            .name(&name)
            .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
            .port(5080)
            .vpc_id(vpc_id)
            .target_type(aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Instance)
            .health_check_protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
            .health_check_path("/")
            .health_check_port("traffic-port")
            .health_check_interval_seconds(30)
            .health_check_timeout_seconds(5)
            .healthy_threshold_count(3)
            .unhealthy_threshold_count(5)
            .set_tags(self.elb_tags(&logical))
            .send()
            .await
            .expect("create the target group");
        created
            .target_groups()
            .first()
            .and_then(|t| t.target_group_arn())
            .expect("the target group's ARN")
            .to_string()
    }

    /// Step 4, "Edit attributes and change the Load Balancing algorithm".
    async fn step4_change_algorithm(&self, target_group_arn: &str) {
        self.elb
            .modify_target_group_attributes()
            .target_group_arn(target_group_arn)
            .attributes(
                aws_sdk_elasticloadbalancingv2::types::TargetGroupAttribute::builder()
                    .key("load_balancing.algorithm.type")
                    .value("least_outstanding_requests")
                    .build(),
            )
            .send()
            .await
            .expect("change the target group's algorithm");
    }

    /// Step 4, "Choose your domain certificate" (created by ACM's guide): a certificate for the
    /// domain, validated by DNS with its CNAME written into the hosted zone, waited for until
    /// issued. moto issues it on its own clock (`MOTO_ACM_VALIDATION_WAIT` seconds after the
    /// request; the tests set 1) whether or not the record exists, and gives every
    /// certificate the same validation record name: the record is upserted, the wait accepts
    /// what moto gives.
    async fn step4_request_certificate(&self, zone_id: &str) -> String {
        let requested = self
            .acm
            .request_certificate()
            .domain_name(&self.options.domain)
            .validation_method(aws_sdk_acm::types::ValidationMethod::Dns)
            .send()
            .await
            .expect("request the certificate");
        let arn = requested
            .certificate_arn()
            .expect("the certificate's ARN")
            .to_string();
        let record = loop {
            let described = self
                .acm
                .describe_certificate()
                .certificate_arn(&arn)
                .send()
                .await
                .expect("describe the certificate");
            let record = described
                .certificate()
                .and_then(|c| c.domain_validation_options().first())
                .and_then(|o| o.resource_record())
                .map(|r| (r.name().to_string(), r.value().to_string()));
            if let Some(record) = record {
                break record;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        };
        self.change_record(
            zone_id,
            aws_sdk_route53::types::ChangeAction::Upsert,
            &record.0,
            &record.1,
        )
        .await;
        for _ in 0..240 {
            let described = self
                .acm
                .describe_certificate()
                .certificate_arn(&arn)
                .send()
                .await
                .expect("describe the certificate");
            let status = described.certificate().and_then(|c| c.status()).cloned();
            if status == Some(aws_sdk_acm::types::CertificateStatus::Issued) {
                return arn;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        panic!(
            "the certificate for {} was never issued",
            self.options.domain
        );
    }

    /// Step 4, "Create Application Load Balancer": internet-facing, IPv4, in two zones (the
    /// guide's ap-south-1a and -1b), with its own security group.
    async fn step4_create_load_balancer(
        &self,
        subnet_ids: &[String],
        security_group_id: &str,
    ) -> (String, String) {
        let name = self.name("AMS-Load-Balancer", "ApplicationLoadBalancer", 32);
        let created = self
            .elb
            .create_load_balancer()
            .name(&name)
            .r#type(aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum::Application)
            .scheme(aws_sdk_elasticloadbalancingv2::types::LoadBalancerSchemeEnum::InternetFacing)
            .ip_address_type(aws_sdk_elasticloadbalancingv2::types::IpAddressType::Ipv4)
            .set_subnets(Some(subnet_ids.to_vec()))
            .security_groups(security_group_id)
            .set_tags(self.elb_tags("ApplicationLoadBalancer"))
            .send()
            .await
            .expect("create the load balancer");
        let balancer = created
            .load_balancers()
            .first()
            .expect("the created load balancer");
        (
            balancer
                .load_balancer_arn()
                .expect("the load balancer's ARN")
                .to_string(),
            balancer
                .dns_name()
                .expect("the load balancer's DNS name")
                .to_string(),
        )
    }

    /// Step 4, "choose both HTTP and HTTPS by clicking Add listener": 80 and 443 to the
    /// origins (publish), 5080 and 5443 to the edges (play), the certificate on both HTTPS.
    async fn step4_add_listeners(
        &self,
        alb_arn: &str,
        origin_target_group_arn: &str,
        edge_target_group_arn: &str,
        certificate_arn: &str,
    ) -> BTreeMap<i32, String> {
        use aws_sdk_elasticloadbalancingv2::types::ProtocolEnum;
        let mut listeners = BTreeMap::new();
        for (port, protocol, target_group) in [
            (80, ProtocolEnum::Http, origin_target_group_arn),
            (443, ProtocolEnum::Https, origin_target_group_arn),
            (5080, ProtocolEnum::Http, edge_target_group_arn),
            (5443, ProtocolEnum::Https, edge_target_group_arn),
        ] {
            let https = protocol == ProtocolEnum::Https;
            let mut request = self
                .elb
                .create_listener()
                .load_balancer_arn(alb_arn)
                .port(port)
                .protocol(protocol)
                .default_actions(forward(target_group))
                .set_tags(self.elb_tags(&format!("ALBListener{port}")));
            if https {
                request = request.certificates(
                    aws_sdk_elasticloadbalancingv2::types::Certificate::builder()
                        .certificate_arn(certificate_arn)
                        .build(),
                );
                // The console's default policy; a template without one gets ELB's default.
                if self.stack.is_none() {
                    request = request.ssl_policy("ELBSecurityPolicy-TLS13-1-2-2021-06");
                }
            }
            let created = request.send().await.expect("create a listener");
            let arn = created
                .listeners()
                .first()
                .and_then(|l| l.listener_arn())
                .expect("the listener's ARN")
                .to_string();
            listeners.insert(port, arn);
        }
        listeners
    }

    /// Step 4, "in Auto scaling groups advance configuration please attach the created load
    /// balancer now": each group to its target group.
    async fn step4_attach_groups_to_load_balancer(&self, group_name: &str, target_group_arn: &str) {
        self.autoscaling
            .attach_load_balancer_target_groups()
            .auto_scaling_group_name(group_name)
            .target_group_arns(target_group_arn)
            .send()
            .await
            .expect("attach the group to its target group");
    }

    /// Step 4, "HTTPS: 443 > View/Edit Rules and add 2 rules": query string `target=origin`
    /// to the origins (priority 1), `target=edge` to the edges (priority 2).
    async fn step4_add_https_rules(
        &self,
        listener_arn: &str,
        origin_target_group_arn: &str,
        edge_target_group_arn: &str,
    ) -> Vec<String> {
        let mut rules = Vec::new();
        for (priority, value, target_group, logical) in [
            (1, "origin", origin_target_group_arn, "OriginRule"),
            (2, "edge", edge_target_group_arn, "EdgeRule"),
        ] {
            let condition = aws_sdk_elasticloadbalancingv2::types::RuleCondition::builder()
                .field("query-string")
                .query_string_config(
                    aws_sdk_elasticloadbalancingv2::types::QueryStringConditionConfig::builder()
                        .values(
                            aws_sdk_elasticloadbalancingv2::types::QueryStringKeyValuePair::builder()
                                .key("target")
                                .value(value)
                                .build(),
                        )
                        .build(),
                )
                .build();
            let created = self
                .elb
                .create_rule()
                .listener_arn(listener_arn)
                .priority(priority)
                .conditions(condition)
                .actions(forward(target_group))
                .set_tags(self.elb_tags(logical))
                .send()
                .await
                .expect("create a rule on 443");
            rules.push(
                created
                    .rules()
                    .first()
                    .and_then(|r| r.rule_arn())
                    .expect("the rule's ARN")
                    .to_string(),
            );
        }
        rules
    }

    /// Step 4, "don't forget to add CNAME for your load balancer".
    async fn step4_add_cname(&self, zone_id: &str, alb_dns_name: &str) {
        let domain = self.options.domain.clone();
        self.change_record(
            zone_id,
            aws_sdk_route53::types::ChangeAction::Create,
            &domain,
            alb_dns_name,
        )
        .await;
    }

    // ---- shared by the steps -----------------------------------------------------------------

    async fn create_security_group(
        &self,
        vpc_id: &str,
        name: &str,
        description: &str,
        logical: &str,
    ) -> String {
        let created = self
            .ec2
            .create_security_group()
            .group_name(name)
            .description(description)
            .vpc_id(vpc_id)
            .set_tag_specifications(self.ec2_tag_specification(
                aws_sdk_ec2::types::ResourceType::SecurityGroup,
                logical,
                &[],
            ))
            .send()
            .await
            .expect("create a security group");
        created.group_id().expect("the group's id").to_string()
    }

    /// Opens each `(protocol, from, to)` to 0.0.0.0/0 on `group_id`.
    async fn open(&self, group_id: &str, ports: &[(&str, i32, i32)]) {
        let permissions: Vec<aws_sdk_ec2::types::IpPermission> = ports
            .iter()
            .map(|(protocol, from, to)| {
                aws_sdk_ec2::types::IpPermission::builder()
                    .ip_protocol(*protocol)
                    .from_port(*from)
                    .to_port(*to)
                    .ip_ranges(
                        aws_sdk_ec2::types::IpRange::builder()
                            .cidr_ip("0.0.0.0/0")
                            .build(),
                    )
                    .build()
            })
            .collect();
        self.ec2
            .authorize_security_group_ingress()
            .group_id(group_id)
            .set_ip_permissions(Some(permissions))
            .send()
            .await
            .expect("open the group's ports");
    }

    /// A CNAME `name` -> `value` (TTL 300) in the zone.
    async fn change_record(
        &self,
        zone_id: &str,
        action: aws_sdk_route53::types::ChangeAction,
        name: &str,
        value: &str,
    ) {
        let record = aws_sdk_route53::types::ResourceRecordSet::builder()
            .name(name)
            .r#type(aws_sdk_route53::types::RrType::Cname)
            .ttl(300)
            .resource_records(
                aws_sdk_route53::types::ResourceRecord::builder()
                    .value(value)
                    .build()
                    .expect("a record value"),
            )
            .build()
            .expect("a record set");
        let batch = aws_sdk_route53::types::ChangeBatch::builder()
            .changes(
                aws_sdk_route53::types::Change::builder()
                    .action(action)
                    .resource_record_set(record)
                    .build()
                    .expect("a change"),
            )
            .build()
            .expect("a change batch");
        self.route53
            .change_resource_record_sets()
            .hosted_zone_id(zone_id)
            .change_batch(batch)
            .send()
            .await
            .expect("change a record in the hosted zone");
    }
}

/// A listener's or rule's action: forward to `target_group_arn`.
fn forward(target_group_arn: &str) -> aws_sdk_elasticloadbalancingv2::types::Action {
    aws_sdk_elasticloadbalancingv2::types::Action::builder()
        .r#type(aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum::Forward)
        .target_group_arn(target_group_arn)
        .build()
}

/// A filter of an EC2 describe call with one value.
fn ec2_filter(name: &str, value: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name(name)
        .values(value)
        .build()
}

/// Text as EC2 takes user data.
fn base64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A stable 12-character suffix, upper-case letters and digits, as CloudFormation appends.
fn pseudo_suffix(stack: &str, logical: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (stack, logical).hash(&mut hasher);
    let mut n = hasher.finish();
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..12)
        .map(|_| {
            let c = ALPHABET[(n % 36) as usize] as char;
            n /= 36;
            if n == 0 {
                n = 0x9e37_79b9_7f4a_7c15;
            }
            c
        })
        .collect()
}

/// A stable UUID-shaped string for the stack id.
fn pseudo_uuid(stack: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    stack.hash(&mut hasher);
    let a = hasher.finish();
    "stack-id".hash(&mut hasher);
    let b = hasher.finish();
    let hex = format!("{a:016x}{b:016x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
