//! What DynamoDB's refusals mean to the store: conditions that did not hold, cancelled
//! transactions, items a request's own data made too big.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;

use crate::keys;
use domain::error::{Error, Result};
use service::ports::Applied;

pub(super) fn ddb_err<E: std::error::Error + Send + Sync + 'static>(
    e: SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> Error {
    if let Some(too_long) = keys::refused(&e) {
        return Error::Internal(too_long.to_string());
    }
    Error::aws("dynamodb", aws_sdk_dynamodb::error::DisplayErrorContext(e))
}

pub(super) fn ser_err(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("item encoding: {e}"))
}

/// How a transaction whose first item is a ledger entry ended; None when it was cancelled only
/// because an item was throttled, and may be sent again as it is.
pub(super) fn transaction_outcome(
    result: Result<(), SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>>,
) -> Result<Option<Applied>> {
    let err = match result {
        Ok(()) => return Ok(Some(Applied::Now)),
        Err(e) => e,
    };
    let cancelled = match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => c,
        _ => return Err(ddb_err(err)),
    };
    let codes: Vec<&str> = cancelled.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None")).collect();
    // A failed condition says what happened whatever else was throttled alongside it.
    match codes.as_slice() {
        ["ConditionalCheckFailed", ..] => Ok(Some(Applied::Before)),
        [_, "ConditionalCheckFailed", ..] => Err(Error::NotFound),
        rest if rest.iter().any(|c| *c == "ConditionalCheckFailed" || *c == "TransactionConflict") => {
            Ok(Some(Applied::Conflict))
        }
        rest if rest.iter().any(|c| *c == "ThrottlingError" || *c == "ProvisionedThroughputExceeded") => Ok(None),
        _ => Err(ddb_err(err)),
    }
}

/// Whether a conditional write took effect: false when its condition did not hold.
pub(super) fn conditional<T, E>(
    result: std::result::Result<T, SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>>,
) -> Result<bool>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    held(result).map(|out| out.is_some())
}

/// A conditional write's output; None when its condition did not hold.
pub(super) fn held<T, E>(
    result: std::result::Result<T, SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>>,
) -> Result<Option<T>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(out) => Ok(Some(out)),
        Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(None),
        Err(e) => Err(ddb_err(e)),
    }
}

/// A write of an item made of a request's own data: DynamoDB refusing it (an item over 400 KB,
/// an attribute it will not hold) refuses the request for good, a 400, not a retry-later.
pub(super) fn refused_as_data<T, E>(
    result: std::result::Result<T, SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>>,
) -> std::result::Result<std::result::Result<T, SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>>, Error>
where
    E: ProvideErrorMetadata,
{
    match result {
        Err(e) if e.code() == Some("ValidationException") => {
            let why = e.message().unwrap_or("the store refused it").to_string();
            Err(Error::invalid("body", "rejected_by_storage", format!("the import cannot be stored: {why}")))
        }
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::error::TransactionCanceledException;
    use aws_sdk_dynamodb::types::CancellationReason;

    use super::*;

    fn cancelled(codes: &[&str]) -> Result<Option<Applied>> {
        let mut e = TransactionCanceledException::builder();
        for code in codes {
            e = e.cancellation_reasons(CancellationReason::builder().code(*code).build());
        }
        let response =
            aws_sdk_dynamodb::config::http::HttpResponse::new(400u16.try_into().expect("a status"), "".into());
        let err = TransactWriteItemsError::TransactionCanceledException(e.build());
        transaction_outcome(Err(SdkError::service_error(err, response)))
    }

    #[test]
    fn a_transaction_cancelled_for_throttling_is_sent_again_unless_a_condition_failed() {
        assert!(matches!(cancelled(&["None", "None", "ThrottlingError"]), Ok(None)));
        assert!(matches!(cancelled(&["ConditionalCheckFailed", "ThrottlingError"]), Ok(Some(Applied::Before))));
        assert!(matches!(
            cancelled(&["None", "ThrottlingError", "ConditionalCheckFailed"]),
            Ok(Some(Applied::Conflict))
        ));
        assert!(matches!(cancelled(&["None", "ConditionalCheckFailed"]), Err(Error::NotFound)));
        assert!(matches!(cancelled(&["None", "ValidationError"]), Err(Error::Aws { .. })));
    }
}
