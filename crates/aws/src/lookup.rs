//! Read-only lookups made before planning: what a real account already has.

use super::ec2::filter;
use crate::call::OrError;
use crate::Aws;
use ams_engine::ProviderError;

/// Canonical's account, owner of the official Ubuntu images.
pub const UBUNTU_OWNER: &str = "099720109477";
/// Ubuntu 24.04 LTS (noble), the MongoDB host (20.04 left standard support in May 2025).
pub const UBUNTU_2404_NAME: &str = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*";
/// The AWS Marketplace account that owns Marketplace images, and the AMS Enterprise image name.
pub const MARKETPLACE_OWNER: &str = "679593333241";
pub const AMS_ENTERPRISE_NAME: &str = "AntMedia-AWS-Marketplace-EE-*";
/// Ant Media Server Enterprise's AWS Marketplace product code: a public image merely named like
/// AMS is not AMS.
pub const AMS_PRODUCT_CODE: &str = "4wh7rhpic3wfwamyp5905tsbt";

/// The KMS key EBS encrypts this account's new volumes with in the region when a call names
/// none (GetEbsDefaultKmsKeyId), where it is a customer-managed key rather than AWS's managed
/// `aws/ebs` key; with the account's id, for the key policy's principals.
pub async fn customer_ebs_key(aws: &Aws) -> Result<Option<(String, String)>, ProviderError> {
    let out = aws
        .ec2
        .get_ebs_default_kms_key_id()
        .send()
        .await
        .or_error()?;
    let Some(key) = out
        .kms_key_id()
        .filter(|k| *k != AWS_EBS_KEY && !k.ends_with(&format!(":{AWS_EBS_KEY}")))
    else {
        return Ok(None);
    };
    let caller = aws.sts.get_caller_identity().send().await.or_error()?;
    let account = crate::call::required(caller.account(), "the caller's account")?;
    Ok(Some((key.to_string(), account)))
}

/// Who this run acts as: the caller's ARN and account (STS GetCallerIdentity).
pub async fn caller(aws: &Aws) -> Result<(String, String), ProviderError> {
    let caller = aws.sts.get_caller_identity().send().await.or_error()?;
    let arn = crate::call::required(caller.arn(), "the caller's ARN")?;
    let account = crate::call::required(caller.account(), "the caller's account")?;
    Ok((arn, account))
}

/// AWS's managed key for EBS, the default until an account names another.
const AWS_EBS_KEY: &str = "alias/aws/ebs";

/// Where an account accepts a Marketplace product's terms.
pub fn subscription_link(product_code: &str) -> String {
    format!("https://aws.amazon.com/marketplace/pp?sku={product_code}")
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("hosted zone `{zone}` not found in this account (Route 53); create it or fix `dns.hosted_zone` in {file}")]
    ZoneNotFound { zone: String, file: String },
    #[error("no image named `{pattern}` owned by {owner} in {region}{hint}; set `ami` in [{section}] of {file}")]
    ImageNotFound {
        pattern: String,
        owner: String,
        region: String,
        section: String,
        hint: String,
        file: String,
    },
    #[error("image {image} ({instance_type}) cannot be launched by this account: {message}\n  accept the AWS Marketplace terms first: {link}\n  (nothing was created)")]
    NotSubscribed {
        image: String,
        instance_type: String,
        message: String,
        link: String,
    },
    #[error("image {image} (`ami` in [{section}] of {file}) does not exist in {region}")]
    ImageGone {
        image: String,
        region: String,
        section: String,
        file: String,
    },
    #[error("{0}")]
    Aws(#[from] ProviderError),
}

/// An image as the stack pins it: its id, and its name and creation date where AWS says them.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Image {
    pub id: String,
    pub name: Option<String>,
    pub created: Option<String>,
}

impl Image {
    /// An image known only by its id.
    pub fn id(id: &str) -> Image {
        Image {
            id: id.to_string(),
            name: None,
            created: None,
        }
    }

    fn from_sdk(image: &aws_sdk_ec2::types::Image) -> Option<Image> {
        Some(Image {
            id: image.image_id()?.to_string(),
            name: image.name().map(String::from),
            created: image.creation_date().map(String::from),
        })
    }
}

impl std::fmt::Display for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.id)?;
        match (&self.name, &self.created) {
            (Some(name), Some(created)) => write!(f, " ({name}, {created})"),
            (Some(name), None) => write!(f, " ({name})"),
            _ => Ok(()),
        }
    }
}

/// The image `id` as AWS describes it (for an `ami` the stack file pins).
pub async fn image(aws: &Aws, id: &str, section: &str, file: &str) -> Result<Image, LookupError> {
    let out = aws
        .ec2
        .describe_images()
        .image_ids(id)
        .send()
        .await
        .or_error();
    let gone = || LookupError::ImageGone {
        image: id.to_string(),
        region: aws.region.clone(),
        section: section.to_string(),
        file: file.to_string(),
    };
    match out {
        Ok(out) => out
            .images()
            .iter()
            .find_map(Image::from_sdk)
            .ok_or_else(gone),
        // InvalidAMIID.NotFound, .Malformed, .Unavailable.
        Err(e)
            if e.code
                .as_deref()
                .is_some_and(|c| c.starts_with("InvalidAMIID")) =>
        {
            Err(gone())
        }
        Err(e) => Err(e.into()),
    }
}

/// The id of the public hosted zone named `zone`.
pub async fn hosted_zone(aws: &Aws, zone: &str, file: &str) -> Result<String, LookupError> {
    let wanted = format!("{}.", zone.trim_end_matches('.'));
    let out = aws
        .route53
        .list_hosted_zones_by_name()
        .dns_name(&wanted)
        .send()
        .await
        .or_error()?;
    out.hosted_zones()
        .iter()
        .find(|z| z.name() == wanted && !z.config().is_some_and(|c| c.private_zone()))
        .map(|z| z.id().trim_start_matches("/hostedzone/").to_string())
        .ok_or_else(|| LookupError::ZoneNotFound {
            zone: zone.to_string(),
            file: file.to_string(),
        })
}

/// The newest available x86_64 image matching `pattern` owned by `owner`, and carrying
/// `product_code` where one is given (Marketplace images).
pub async fn newest_image(
    aws: &Aws,
    owner: &str,
    pattern: &str,
    product_code: Option<&str>,
    section: &str,
    file: &str,
) -> Result<Image, LookupError> {
    let out = aws
        .ec2
        .describe_images()
        .owners(owner)
        .filters(filter("name", &[pattern]))
        .filters(filter("architecture", &["x86_64"]))
        .filters(filter("state", &["available"]))
        .set_filters(product_code.map(|code| vec![filter("product-code", &[code])]))
        .send()
        .await
        .or_error()?;
    out.images()
        .iter()
        .filter(|i| i.image_id().is_some())
        .max_by(|a, b| a.creation_date().cmp(&b.creation_date()))
        .and_then(Image::from_sdk)
        .ok_or_else(|| LookupError::ImageNotFound {
            pattern: pattern.to_string(),
            owner: owner.to_string(),
            region: aws.region.clone(),
            section: section.to_string(),
            hint: if owner == MARKETPLACE_OWNER {
                " (subscribe to \"Ant Media Server Enterprise\" in the AWS Marketplace first)"
                    .into()
            } else {
                String::new()
            },
            file: file.to_string(),
        })
}

/// Whether this account may launch `image` as `instance_type`: a RunInstances dry run, as
/// Karpenter validates launch permissions. Marketplace images are public, so a lookup finds them
/// even when the account never accepted their terms; AWS refuses only at launch
/// (`OptInRequired`), which this says before anything is created. Other refusals of the dry run
/// (no default VPC, no permission to dry-run) are not about the image and pass: the real launch
/// names them.
pub async fn launchable(aws: &Aws, image: &str, instance_type: &str) -> Result<(), LookupError> {
    let answer = aws
        .ec2
        .run_instances()
        .dry_run(true)
        .image_id(image)
        .instance_type(aws_sdk_ec2::types::InstanceType::from(instance_type))
        .min_count(1)
        .max_count(1)
        .send()
        .await;
    let Err(error) = answer else {
        return Ok(());
    };
    use aws_smithy_types::error::metadata::ProvideErrorMetadata;
    if error.code() != Some("OptInRequired") {
        return Ok(());
    }
    let message = error.message().unwrap_or("OptInRequired").to_string();
    let link = message
        .split_whitespace()
        .find(|word| word.starts_with("https://aws.amazon.com/marketplace/"))
        .map(|word| word.trim_end_matches(['.', ',']).to_string())
        .unwrap_or_else(|| subscription_link(AMS_PRODUCT_CODE));
    Err(LookupError::NotSubscribed {
        image: image.to_string(),
        instance_type: instance_type.to_string(),
        message,
        link,
    })
}
