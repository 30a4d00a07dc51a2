//! `retention`: `expires_at` says when the import lapses; the sweeper's first round
//! after it deletes the import with its files, and DynamoDB's TTL is a backstop some time later.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};
use service::pipeline::sweep;
use tests::{backdate, host, objects, IMPORT_TIMEOUT};
use time::{Duration, OffsetDateTime};

fn instant(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(v.as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expires_at_follows_retention_and_the_ttl_follows_it() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    for (retention, days) in [(None, 7), (Some("P1D"), 1), (Some("P2W"), 14), (Some("P90D"), 90)] {
        let mut body = json!({"resource_type": "contact"});
        if let Some(r) = retention {
            body["retention"] = json!(r);
        }
        let import = client.create_import(&body).await.unwrap();
        assert_eq!(import["retention"], retention.unwrap_or("P7D"));
        let (created, expires) = (instant(&import["created_at"]), instant(&import["expires_at"]));
        assert_eq!(expires - created, Duration::days(days), "{import}");

        let item = host
            .clients
            .dynamo
            .get_item()
            .table_name(&host.settings.imports_table)
            .key("pk", AttributeValue::S("acme".into()))
            .key("sk", AttributeValue::S(import["id"].as_str().unwrap().into()))
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        let ttl: i64 = item["ttl"].as_n().unwrap().parse().unwrap();
        // The sweeper deletes the import and its files at expires_at; the TTL, two days later
        // (past the longest max_idle), only removes an item the sweeper has not, without
        // its files, which the bucket's lifecycle rule removes in the end.
        assert_eq!(ttl, (expires + Duration::days(2)).unix_timestamp(), "the TTL is two days after expires_at");
    }
    let ttl =
        host.clients.dynamo.describe_time_to_live().table_name(&host.settings.imports_table).send().await.unwrap();
    let spec = ttl.time_to_live_description().unwrap();
    assert_eq!(spec.attribute_name(), Some("ttl"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_deletes_lapsed_imports_with_their_files() {
    let host = host(|o| o.chunk_rows = Some(2)).await;
    let svc = host.clients.services(host.settings.clone()).expect("services");
    let client = host.client("acme");
    let file = "email\nann@example.com\nbad\ncy@example.com\n";
    let body = |retention: &str| json!({"resource_type": "contact", "retention": retention});
    let lapsing = client.import_file(&body("P1D"), file.into(), IMPORT_TIMEOUT).await.unwrap();
    let kept = client.import_file(&body("P7D"), file.into(), IMPORT_TIMEOUT).await.unwrap();
    let never_uploaded = client.create_import(&body("P1D")).await.unwrap();
    let files = |import: &Value| {
        let id = import["id"].as_str().unwrap().to_string();
        let host = &host;
        async move {
            [objects(host, &format!("uploads/acme/{id}/")).await, objects(host, &format!("results/acme/{id}/")).await]
        }
    };
    for import in [&lapsing, &kept] {
        assert_eq!(import["status"], "completed", "{import}");
        for has in ["has_upload_file", "has_errors_file", "has_results_file"] {
            assert_eq!(import[has], true, "{has}: {import}");
        }
    }
    let [uploads, results] = files(&lapsing).await;
    assert!(!uploads.is_empty() && results.iter().any(|k| k.ends_with("/results.csv")), "{uploads:?} {results:?}");
    let kept_files = files(&kept).await;

    let expiries = [&lapsing, &never_uploaded].map(|import| instant(&import["expires_at"]));
    let (first, last) = (expiries[0].min(expiries[1]), expiries[0].max(expiries[1]));
    // Just before: the import that never got its upload expires, and nothing is deleted.
    let swept = sweep::run(&svc, first - Duration::seconds(1)).await.unwrap();
    assert_eq!((swept.expired, swept.timed_out, swept.deleted), (1, 0, 0));
    let path = |import: &Value| format!("/v1/imports/{}", import["id"].as_str().unwrap());
    assert_eq!(client.get(&path(&lapsing)).await.unwrap().0, 200);

    let swept = sweep::run(&svc, last + Duration::seconds(1)).await.unwrap();
    assert_eq!((swept.expired, swept.timed_out, swept.deleted), (0, 0, 2));
    for gone in [&lapsing, &never_uploaded] {
        assert_eq!(client.get(&path(gone)).await.unwrap().0, 404);
        assert_eq!(files(gone).await, [Vec::<String>::new(), vec![]], "its files are gone");
    }
    let (status, after) = client.get(&path(&kept)).await.unwrap();
    assert_eq!((status, after["status"].as_str()), (200, Some("completed")), "{after}");
    assert_eq!(files(&kept).await, kept_files, "an import on time keeps its files");
    assert_eq!(client.get("/v1/records/contact/ann@example.com").await.unwrap().0, 200, "records stay");

    let swept = sweep::run(&svc, last + Duration::seconds(1)).await.unwrap();
    assert_eq!(swept.deleted, 0, "each import is deleted once");
}

/// An import still running at its expiry is not deleted under its own batches: it goes in the
/// round that times it out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_import_is_deleted_once_it_has_timed_out() {
    let host = host(|o| o.workers = 0).await;
    let svc = host.clients.services(host.settings.clone()).expect("services");
    let client = host.client("acme");
    let import = client.create_import(&json!({"resource_type": "contact", "retention": "P1D"})).await.unwrap();
    let id = import["id"].as_str().unwrap();
    client.upload(&import, b"email\na@example.com\n".to_vec()).await.unwrap();
    service::pipeline::prevalidate::run(&svc, &domain::import::upload_key("acme", id)).await.unwrap();
    // As if it had last made progress just before it lapsed (a preview started late).
    let expires = instant(&import["expires_at"]);
    backdate(&host, "acme", id, "SET updated_at = :t", expires).await;

    let swept = sweep::run(&svc, expires + Duration::minutes(5)).await.unwrap();
    assert_eq!((swept.timed_out, swept.deleted), (0, 0), "running, and on time");
    let (status, now) = client.get(&format!("/v1/imports/{id}")).await.unwrap();
    assert_eq!((status, now["status"].as_str()), (200, Some("queued")), "{now}");

    let swept = sweep::run(&svc, expires + Duration::minutes(61)).await.unwrap();
    assert_eq!((swept.timed_out, swept.deleted), (1, 1));
    assert_eq!(client.get(&format!("/v1/imports/{id}")).await.unwrap().0, 404);
    assert_eq!(objects(&host, &format!("uploads/acme/{id}/")).await, Vec::<String>::new());
}
