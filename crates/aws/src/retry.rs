//! The one retry policy: which errors are worth another try, how long to keep trying, and how
//! long to wait between tries. Every kind's create, update and delete goes through it (in
//! [`crate::kind`]); the SDK's own retries cover single reads and idempotent calls.

use std::time::{Duration, Instant};

use ams_engine::ProviderError;

use crate::kind::AwsKind;
use crate::Aws;

/// What an error means for the step that got it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Throttling, a server error, a time-out: the call may or may not have happened.
    Transient,
    /// Something just made is not visible yet (AWS is eventually consistent).
    NotYetVisible,
    /// A create says the resource exists: an earlier attempt (or the SDK's retry) made it.
    AlreadyExists,
    /// A delete is refused while something still holds the resource (a deleted load balancer's
    /// network interfaces, an instance shutting down, a listener using a certificate).
    Busy,
    /// A mistake or a refusal that waiting does not mend.
    Final,
}

/// Codes of every service that mean "try again later".
const TRANSIENT: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "SlowDown",
    "PriorRequestNotComplete",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "RequestTimeout",
    "DispatchFailure",
    "ResponseError",
    "ServerError",
];

/// Codes by which AWS refuses to delete what something else still holds.
const BUSY: &[&str] = &[
    "DependencyViolation",
    "ResourceInUse",
    "ResourceInUseException",
];

/// Codes by which AWS refuses the caller, not the call: nothing was made.
const REFUSED_CALLER: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthFailure",
    "OptInRequired",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
];

/// Whether a create's final `error` may answer an SDK retry of a call that took effect (its
/// answer lost), so that what it made is worth looking for: an AWS refusal of the call, not an
/// error of ours (no code: bad arguments found before any call) nor a refusal of the caller.
pub fn may_follow_a_lost_answer(error: &ProviderError) -> bool {
    error
        .code
        .as_deref()
        .is_some_and(|code| !REFUSED_CALLER.contains(&code))
}

/// What `error` means for a step on a resource of kind `K`.
pub fn classify<K: AwsKind>(error: &ProviderError) -> Class {
    let code = error.code.as_deref().unwrap_or_default();
    let listed = |entries: &[&str]| {
        entries.iter().any(|entry| match entry.split_once(':') {
            // `Code:text`: that code, with a message that names `text`.
            Some((listed, text)) => listed == code && error.message.contains(text),
            None => *entry == code,
        })
    };
    if TRANSIENT.contains(&code) {
        Class::Transient
    } else if listed(K::NOT_YET_VISIBLE) {
        Class::NotYetVisible
    } else if listed(K::ALREADY_EXISTS) {
        Class::AlreadyExists
    } else if BUSY.contains(&code) || listed(K::BUSY) {
        Class::Busy
    } else {
        Class::Final
    }
}

/// How many times and how long one step keeps trying, by class.
pub struct Policy {
    started: Instant,
    attempts: u32,
    /// Transient errors: a few attempts, each after a longer backoff.
    transient_attempts: u32,
    /// Eventual consistency: until this long after the step began.
    visibility: Duration,
    /// Deletes refused while something holds the resource: until this long.
    patience: Duration,
    emulator: bool,
}

impl Policy {
    pub fn new(aws: &Aws) -> Self {
        Policy {
            started: Instant::now(),
            attempts: 0,
            transient_attempts: 6,
            visibility: if aws.is_emulator() {
                Duration::from_secs(90)
            } else {
                Duration::from_secs(5 * 60)
            },
            patience: aws.delete_patience(),
            emulator: aws.is_emulator(),
        }
    }

    /// How long to wait before trying again after an error of `class`, or `None` to give up.
    pub fn next(&mut self, class: Class) -> Option<Duration> {
        self.attempts += 1;
        let elapsed = self.started.elapsed();
        let go_on = match class {
            Class::Transient | Class::AlreadyExists => self.attempts <= self.transient_attempts,
            Class::NotYetVisible => elapsed < self.visibility,
            Class::Busy => elapsed < self.patience,
            Class::Final => false,
        };
        go_on.then(|| self.backoff())
    }

    /// Exponential backoff with full jitter, capped: 20 s on AWS, 2 s on an emulator.
    fn backoff(&self) -> Duration {
        let (base, cap) = if self.emulator {
            (50, 2_000)
        } else {
            (500, 20_000)
        };
        let ceiling = (base * 2u64.pow(self.attempts.min(8))).min(cap);
        Duration::from_millis(rand::random::<u64>() % ceiling.max(1) + base / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec2::{Instance, SecurityGroup};

    fn error(code: &str, message: &str) -> ProviderError {
        ProviderError {
            code: Some(code.into()),
            message: message.into(),
        }
    }

    #[test]
    fn only_an_aws_refusal_of_the_call_is_looked_behind() {
        let ours = ProviderError::new("role: \"x\" is not an AWS service principal");
        assert!(!may_follow_a_lost_answer(&ours));
        for (code, looked) in [
            ("AccessDenied", false),
            ("UnauthorizedOperation", false),
            ("Resource.AlreadyAssociated", true),
            ("IdempotentParameterMismatch", true),
        ] {
            assert_eq!(may_follow_a_lost_answer(&error(code, "")), looked, "{code}");
        }
    }

    #[test]
    fn errors_are_classified_by_kind_and_code() {
        let instance: fn(&ProviderError) -> Class = classify::<Instance>;
        let group: fn(&ProviderError) -> Class = classify::<SecurityGroup>;
        let cases = [
            (instance, "RequestLimitExceeded", "", Class::Transient),
            (group, "InvalidGroup.NotFound", "", Class::NotYetVisible),
            (
                instance,
                "InvalidParameterValue",
                "Value (x) for parameter iamInstanceProfile.name is invalid",
                Class::NotYetVisible,
            ),
            (group, "InvalidGroup.Duplicate", "", Class::AlreadyExists),
            (group, "DependencyViolation", "", Class::Busy),
            // A user's mistake is not retried.
            (instance, "InvalidKeyPair.NotFound", "", Class::Final),
            (instance, "InvalidAMIID.NotFound", "", Class::Final),
            (instance, "UnauthorizedOperation", "", Class::Final),
        ];
        for (classify, code, message, class) in cases {
            assert_eq!(classify(&error(code, message)), class, "{code}: {message}");
        }
    }
}
