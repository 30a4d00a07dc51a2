//! Templates and schemas as DynamoDB stores them (`testkit::documents::contract`, which the
//! in-memory adapter keeps too): each version a conditional transaction, the latest read from its
//! head, listings paged by an opaque cursor, deletes of every version, and the item size limit the
//! emulator does not enforce.

use std::sync::Arc;

use domain::Error;
use service::ports::{DocumentKind, Documents};
use testkit::documents::contract;
use tests::host;

/// The store over a fresh stack of its own.
async fn documents() -> Arc<dyn Documents> {
    let host = host(|o| o.workers = 0).await;
    host.clients.services(host.settings.clone()).expect("services").documents
}

#[tokio::test]
async fn each_version_is_stored_once_after_the_one_before_and_deleted_with_the_others() {
    contract::versions(documents().await.as_ref()).await;
}

#[tokio::test]
async fn a_listing_pages_through_the_latest_versions_in_id_order_of_one_tenant() {
    let docs = documents().await;
    contract::listing(docs.as_ref()).await;
    match docs.list(DocumentKind::Template, "t1", 2, Some("not a cursor!")).await {
        Err(Error::Invalid(errors)) => assert_eq!(errors[0].field, "cursor"),
        other => panic!("a bad cursor: {other:?}"),
    }
}

#[tokio::test]
async fn a_body_over_dynamodb_s_item_limit_is_refused() {
    contract::size_limit(documents().await.as_ref()).await;
}
