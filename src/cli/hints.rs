//! What to do about an AWS error, by its code.

/// A hint for the AWS error `code`, where there is something to say.
pub fn hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "UnauthorizedAccess" => {
            "the credentials in use may not perform this action; grant it to the user or role (the action is named above)"
        }
        "InstanceLimitExceeded" | "VcpuLimitExceeded" | "TooManyLoadBalancers" | "TooManyTargetGroups"
        | "LimitExceeded" | "LimitExceededException" | "VpcLimitExceeded" | "AddressLimitExceeded" => {
            "an account quota is reached: raise it in the Service Quotas console or remove unused resources"
        }
        "InvalidKeyPair.NotFound" => "the key pair named in the stack file does not exist in this region",
        "InvalidAMIID.NotFound" | "InvalidAMIID.Malformed" => {
            "the image id is wrong for this region: fix `ami` in the stack file or remove it to look the image up"
        }
        "OptInRequired" => "the account is not subscribed to this product: subscribe in the AWS Marketplace",
        "InsufficientInstanceCapacity" => "AWS has no capacity for this instance type in this zone now: retry later or pick another type",
        "RequestExpired" | "AuthFailure" | "InvalidClientTokenId" | "ExpiredToken" | "ExpiredTokenException" => {
            "the credentials are invalid or expired: refresh them (e.g. `aws sso login`)"
        }
        "RecordExists" => {
            "a DNS record at this name belongs to someone else and is never overwritten: delete it, or choose another [dns] domain"
        }
        "WaitTimeout" => "the cloud did not reach the state in time; `up` again resumes from where this stopped",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_denied_and_quotas_have_hints() {
        assert!(hint("UnauthorizedOperation")
            .is_some_and(|h| h.contains("may not perform this action")));
        assert!(hint("VcpuLimitExceeded").is_some_and(|h| h.contains("quota")));
        assert!(hint("SomethingElse").is_none());
    }
}
