//! `MemoryDocuments` keeps the contract of `Documents` as the DynamoDB store does.

use testkit::documents::contract;
use testkit::MemoryDocuments;

#[tokio::test]
async fn each_version_is_stored_once_after_the_one_before_and_deleted_with_the_others() {
    contract::versions(&MemoryDocuments::default()).await;
}

#[tokio::test]
async fn a_listing_pages_through_the_latest_versions_in_id_order_of_one_tenant() {
    contract::listing(&MemoryDocuments::default()).await;
}

#[tokio::test]
async fn a_body_over_dynamodb_s_item_limit_is_refused() {
    contract::size_limit(&MemoryDocuments::default()).await;
}
