//! The one way to call AWS: `.send().await.or_error()?` turns an SDK error into a provider error
//! that names the service, the operation and AWS's error code. The operation's name comes from
//! the SDK's own error type, so it is never typed by hand.

use aws_sdk_ec2::error::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use ams_engine::ProviderError;

use crate::kind::AwsKind;

/// What every SDK call's result gets: its error, named.
pub trait OrError<T> {
    /// The result, or an error naming the operation and AWS's code.
    fn or_error(self) -> Result<T, ProviderError>;
    /// `None` where AWS answers with one of kind `K`'s not-found codes (already gone).
    fn or_gone<K: AwsKind>(self) -> Result<Option<T>, ProviderError>;
    /// A delete's (or a detach's) answer: done, or gone already by kind `K`'s not-found codes.
    fn done_or_gone<K: AwsKind>(self) -> Result<(), ProviderError>;
    /// A describe's (or a head's) answer: whether the resource is there, `false` by kind `K`'s
    /// not-found codes.
    fn exists<K: AwsKind>(self) -> Result<bool, ProviderError>;
    /// Done, also where AWS refuses with `code`, which means that what the call asks is done
    /// already (a retry of a call whose answer was lost, an instance already leaving).
    fn done_already_if(self, code: &str) -> Result<(), ProviderError>;
}

impl<T, E> OrError<T> for Result<T, SdkError<E>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    fn or_error(self) -> Result<T, ProviderError> {
        self.map_err(aws_error)
    }

    fn or_gone<K: AwsKind>(self) -> Result<Option<T>, ProviderError> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(e) if e.code().is_some_and(|code| K::NOT_FOUND.contains(&code)) => Ok(None),
            Err(e) => Err(aws_error(e)),
        }
    }

    fn done_or_gone<K: AwsKind>(self) -> Result<(), ProviderError> {
        self.or_gone::<K>().map(|_| ())
    }

    fn exists<K: AwsKind>(self) -> Result<bool, ProviderError> {
        self.or_gone::<K>().map(|found| found.is_some())
    }

    fn done_already_if(self, code: &str) -> Result<(), ProviderError> {
        match self {
            Err(e) if e.code() == Some(code) => Ok(()),
            other => other.map(|_| ()).map_err(aws_error),
        }
    }
}

/// `ec2:RunInstances` for `aws_sdk_ec2::operation::run_instances::RunInstancesError`.
pub fn operation_name<E>() -> String {
    let path = std::any::type_name::<E>();
    let mut parts = path.split("::");
    let service = parts
        .next()
        .unwrap_or_default()
        .trim_start_matches("aws_sdk_")
        .replace("elasticloadbalancingv2", "elbv2");
    let operation = path
        .rsplit("::")
        .next()
        .unwrap_or_default()
        .trim_end_matches("Error");
    format!("{service}:{operation}")
}

/// An SDK error as a provider error naming the operation and AWS's error code.
pub fn aws_error<E>(error: SdkError<E>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let operation = operation_name::<E>();
    let code = error.code().map(String::from).or_else(|| {
        match &error {
            SdkError::TimeoutError(_) => Some("RequestTimeout"),
            SdkError::DispatchFailure(_) => Some("DispatchFailure"),
            SdkError::ResponseError(_) => Some("ResponseError"),
            SdkError::ServiceError(e) if e.raw().status().is_server_error() => Some("ServerError"),
            _ => None,
        }
        .map(String::from)
    });
    let message = match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{operation}: {code}: {message}"),
        (Some(code), None) => format!("{operation}: {code}"),
        _ => format!("{operation}: {}", first_line(&error)),
    };
    ProviderError { code, message }
}

/// A response without a field it must have.
pub fn missing(what: &str) -> ProviderError {
    ProviderError::new(format!("AWS answered without {what}"))
}

/// A text field a response must have (an id, an ARN, a name), owned; else the error saying
/// that AWS answered without `what`.
pub fn required(field: Option<&str>, what: &str) -> Result<String, ProviderError> {
    field.map(String::from).ok_or_else(|| missing(what))
}

/// An error and its sources on one line.
pub(crate) fn first_line(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text = format!("{text}: {inner}");
        source = inner.source();
    }
    text.lines().next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operation_is_named_by_the_sdk_error_type() {
        assert_eq!(
            operation_name::<aws_sdk_ec2::operation::run_instances::RunInstancesError>(),
            "ec2:RunInstances"
        );
        assert_eq!(
            operation_name::<
                aws_sdk_elasticloadbalancingv2::operation::create_listener::CreateListenerError,
            >(),
            "elbv2:CreateListener"
        );
        assert_eq!(
            operation_name::<aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsError>(),
            "route53:ChangeResourceRecordSets"
        );
    }

    #[test]
    fn a_required_field_is_owned_or_said_to_be_missing() {
        assert_eq!(required(Some("arn:x"), "the ARN").unwrap(), "arn:x");
        let error = required(None, "the role's ARN").unwrap_err();
        assert_eq!(error.message, "AWS answered without the role's ARN");
        assert_eq!(error.code, None);
    }
}
