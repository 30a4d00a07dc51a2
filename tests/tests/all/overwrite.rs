//! `action: overwrite` (docs/api.md, docs/architecture.md): merge, then remove every other record of the type, counted
//! in `stats.removed`; guarded by `max_removed_ratio` (over it nothing is removed and the import
//! fails with reason `overwrite_guard`); refused (409) while another import of the type runs.

use serde_json::{json, Value};
use tests::{all_records, emails, fields_only, host, receive_all, record, run_transform_queue, stat, IMPORT_TIMEOUT};

const SEED: &str = "email,external_id,first_name\n\
    ann@example.com,C-1,Ann\nbob@example.com,C-2,Bob\ncy@example.com,C-3,Cy\ndee@example.com,C-4,Dee\n";

async fn overwrite_removes_the_records_the_file_does_not_name(deliver_twice: bool) {
    let host = host(|o| {
        o.chunk_rows = Some(2);
        o.deliver_twice = deliver_twice;
    })
    .await;
    let client = host.client("acme");
    client.import_file(&json!({"resource_type": "contact"}), SEED.into(), IMPORT_TIMEOUT).await.unwrap();
    // Another tenant's and another type's records are not the overwrite's to remove.
    let other = host.client("globex");
    other.import_file(&json!({"resource_type": "contact"}), SEED.into(), IMPORT_TIMEOUT).await.unwrap();
    let group = json!({"resource_type": "group"});
    client.import_file(&group, "name\nDonors\n".into(), IMPORT_TIMEOUT).await.unwrap();

    // cy's row is an error (its phone), yet it names cy: cy stays as it was.
    let file = "email,first_name,phone\nann@example.com,Annie,\nbob@example.com,Bob,\n\
        eve@example.com,Eve,\ncy@example.com,Cyrus,not a phone\n";
    let body = json!({"resource_type": "contact", "action": "overwrite"});
    let import = client.import_file(&body, file.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!((&import["status"], &import["phase"]), (&json!("completed"), &json!("cleanup")), "{import}");
    let counts = ["rows", "processed", "created", "updated", "unchanged", "removed", "deleted", "errors"]
        .map(|s| stat(&import, s));
    assert_eq!(counts, [4, 4, 1, 1, 1, 1, 0, 1], "{import}");

    let left = all_records(&client, "contact").await;
    assert_eq!(emails(&left), ["ann@example.com", "bob@example.com", "cy@example.com", "eve@example.com"]);
    assert_eq!(left[2]["first_name"], "Cy");
    let ann = record(&client, "contact", "ann@example.com").await;
    assert_eq!(fields_only(&ann), json!({"email": "ann@example.com", "external_id": "C-1", "first_name": "Annie"}));
    assert_eq!(all_records(&other, "contact").await.len(), 4);
    assert_eq!(all_records(&client, "group").await.len(), 1);

    // The removed contact's external_id is free again.
    let again = "email,external_id\nfay@example.com,C-4\n";
    let taken = client.import_file(&json!({"resource_type": "contact"}), again.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!([stat(&taken, "created"), stat(&taken, "errors")], [1, 0], "{taken}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overwrite_merges_then_removes_the_rest() {
    overwrite_removes_the_records_the_file_does_not_name(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overwrite_counts_once_when_every_message_comes_twice() {
    overwrite_removes_the_records_the_file_does_not_name(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_refuses_to_remove_too_much() {
    let host = host(|o| o.chunk_rows = Some(2)).await;
    let client = host.client("acme");
    client.import_file(&json!({"resource_type": "contact"}), SEED.into(), IMPORT_TIMEOUT).await.unwrap();

    // One of four contacts: three would go, 0.75 of them, over the default 0.5.
    let file = "email\nann@example.com\n";
    let body = json!({"resource_type": "contact", "action": "overwrite"});
    let refused = client.import_file(&body, file.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(refused["status"], "failed", "{refused}");
    assert_eq!(refused["reason"], "overwrite_guard");
    assert_eq!(stat(&refused, "removed"), 0);
    assert_eq!(all_records(&client, "contact").await.len(), 4, "nothing removed");

    // Its own new records are not among the existing: three of four would still go.
    let initech = host.client("initech");
    initech.import_file(&json!({"resource_type": "contact"}), SEED.into(), IMPORT_TIMEOUT).await.unwrap();
    let with_new = "email\nann@example.com\nnew1@example.com\nnew2@example.com\nnew3@example.com\n";
    let refused = initech.import_file(&body, with_new.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(refused["reason"], "overwrite_guard", "{refused}");
    assert_eq!(all_records(&initech, "contact").await.len(), 7, "merged, nothing removed");

    let body = json!({"resource_type": "contact", "action": "overwrite", "max_removed_ratio": 0.75});
    let allowed = client.import_file(&body, file.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(allowed["status"], "completed", "{allowed}");
    assert_eq!(allowed["max_removed_ratio"], 0.75);
    assert_eq!([stat(&allowed, "removed"), stat(&allowed, "unchanged")], [3, 1], "{allowed}");
    assert_eq!(emails(&all_records(&client, "contact").await), ["ann@example.com"]);

    let (status, body) = client
        .call(
            reqwest::Method::POST,
            "/v1/imports",
            Some(&json!({"resource_type": "contact", "max_removed_ratio": 0.2})),
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "only an overwrite removes: {body}");
    assert_eq!(body["error"]["details"][0]["field"], "max_removed_ratio");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overwrite_is_refused_while_another_import_of_its_type_runs() {
    let host = host(|o| o.workers = 0).await;
    let svc = host.clients.services(host.settings.clone()).expect("services");
    let client = host.client("acme");
    let previewed_overwrite = {
        let body = json!({"resource_type": "contact", "action": "overwrite", "in_preview": true});
        let created = client.create_import(&body).await.unwrap();
        let id = created["id"].as_str().unwrap();
        client.upload(&created, "email\nann@example.com\n".into()).await.unwrap();
        service::pipeline::prevalidate::run(&svc, &domain::import::upload_key("acme", id)).await.unwrap();
        let (status, now) = client.get(&format!("/v1/imports/{id}")).await.unwrap();
        assert_eq!(now["status"], "preview_ready", "{now}");
        (status.max(201), now)
    };
    let running = client.create_import(&json!({"resource_type": "contact"})).await.unwrap();
    let id = running["id"].as_str().unwrap();
    client.upload(&running, "email\nann@example.com\n".into()).await.unwrap();
    service::pipeline::prevalidate::run(&svc, &domain::import::upload_key("acme", id)).await.unwrap();

    let overwrite = json!({"resource_type": "contact", "action": "overwrite"});
    let (status, body) = client.call(reqwest::Method::POST, "/v1/imports", Some(&overwrite)).await.unwrap();
    assert_eq!(status, 409, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains(id), "{body}");
    // Nor does a previewed overwrite start meanwhile.
    let (status, previewed) = previewed_overwrite.clone();
    assert_eq!(status, 201, "{previewed}");
    let preview_id = previewed["id"].as_str().unwrap();
    let start = format!("/v1/imports/{preview_id}");
    let (status, body) =
        client.call(reqwest::Method::PATCH, &start, Some(&json!({"in_preview": false}))).await.unwrap();
    assert_eq!(status, 409, "{body}");
    // Another type, or another tenant, is not in the way.
    let groups = json!({"resource_type": "group", "action": "overwrite"});
    assert_eq!(client.call(reqwest::Method::POST, "/v1/imports", Some(&groups)).await.unwrap().0, 201);
    let other = host.client("globex");
    assert_eq!(other.call(reqwest::Method::POST, "/v1/imports", Some(&overwrite)).await.unwrap().0, 201);

    run_transform_queue(&host, &svc).await;
    for batch in receive_all(&host, &host.settings.process_queue_url).await {
        service::pipeline::process::run(&svc, &batch).await.unwrap();
    }
    // The last batch asked for the import to be completed.
    run_transform_queue(&host, &svc).await;
    let (_, done) = client.get(&format!("/v1/imports/{id}")).await.unwrap();
    assert_eq!(done["status"], "completed", "{done}");
    let (status, body) = client.call(reqwest::Method::POST, "/v1/imports", Some(&overwrite)).await.unwrap();
    assert_eq!(status, 201, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_that_are_errors_still_keep_their_records() {
    let host = host(|o| o.chunk_rows = Some(2)).await;
    let client = host.client("acme");
    client.import_file(&json!({"resource_type": "contact"}), SEED.into(), IMPORT_TIMEOUT).await.unwrap();
    // ann twice under `duplicates: error`, bob taking cy's external_id (an error process finds).
    let file = "email,external_id\nann@example.com,C-1\nbob@example.com,C-3\nann@example.com,C-1\ncy@example.com,C-3\n";
    let body = json!({"resource_type": "contact", "action": "overwrite", "duplicates": "error"});
    let import = client.import_file(&body, file.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(import["status"], "completed", "{import}");
    assert_eq!(["errors", "unchanged", "removed"].map(|s| stat(&import, s)), [3, 1, 1], "{import}");
    let left = all_records(&client, "contact").await;
    assert_eq!(emails(&left), ["ann@example.com", "bob@example.com", "cy@example.com"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cleanup_pages_through_many_records() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let seed: String =
        std::iter::once("email\n".to_string()).chain((0..450).map(|i| format!("p{i:03}@example.com\n"))).collect();
    client.import_file(&json!({"resource_type": "contact"}), seed.into(), IMPORT_TIMEOUT).await.unwrap();
    let file = "email\np007@example.com\np300@example.com\nnew@example.com\n";
    let dry = json!({"resource_type": "contact", "action": "overwrite", "max_removed_ratio": 1.0, "dry_run": true});
    let rehearsal = client.import_file(&dry, file.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!([stat(&rehearsal, "removed"), stat(&rehearsal, "created")], [448, 1], "{rehearsal}");
    let body = json!({"resource_type": "contact", "action": "overwrite", "max_removed_ratio": 1.0});
    let file = "email\np007@example.com\np300@example.com\n";
    let import = client.import_file(&body, file.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!([stat(&import, "removed"), stat(&import, "unchanged")], [448, 2], "{import}");
    assert_eq!(emails(&all_records(&client, "contact").await), ["p007@example.com", "p300@example.com"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_overwrite_create_answers_with_its_import() {
    let host = host(|o| o.workers = 0).await;
    let svc = host.clients.services(host.settings.clone()).expect("services");
    let create = || async {
        let resp = reqwest::Client::new()
            .post(format!("{}/v1/imports", host.api_url))
            .bearer_auth(host.token("acme"))
            .header("Idempotency-Key", "nightly-1")
            .json(&json!({"resource_type": "contact", "action": "overwrite", "inputs": [{"email": "ann@example.com"}]}))
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
    };
    let (status, first) = create().await;
    assert_eq!(status, 201, "{first}");
    let id = first["id"].as_str().unwrap();
    service::pipeline::prevalidate::run(&svc, &domain::import::upload_key("acme", id)).await.unwrap();
    // It runs now; a retry of its own create is not "another import".
    let (status, again) = create().await;
    assert_eq!((status, &again["id"]), (201, &first["id"]), "{again}");
    assert_eq!(again["status"], "queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_counts_what_it_would_remove_and_removes_nothing() {
    let host = host(|o| o.chunk_rows = Some(2)).await;
    let client = host.client("acme");
    client.import_file(&json!({"resource_type": "contact"}), SEED.into(), IMPORT_TIMEOUT).await.unwrap();
    let before = all_records(&client, "contact").await;

    // cy's row is an error yet names cy; dee is the one the file does not name.
    let file = "email,phone\nann@example.com,\nbob@example.com,\neve@example.com,\ncy@example.com,not a phone\n";
    let body = json!({"resource_type": "contact", "action": "overwrite", "dry_run": true});
    let rehearsal = client.import_file(&body, file.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(rehearsal["status"], "completed", "{rehearsal}");
    let counts = ["created", "unchanged", "errors", "removed"].map(|s| stat(&rehearsal, s));
    assert_eq!(counts, [1, 2, 1, 1], "{rehearsal}");
    assert_eq!(all_records(&client, "contact").await, before, "a dry run changes no record");

    // Run for real from the same upload: the same counts, and now they happen.
    let id = rehearsal["id"].as_str().unwrap();
    let path = format!("/v1/imports/{id}");
    let (status, body) = client.call(reqwest::Method::PATCH, &path, Some(&json!({"dry_run": false}))).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let done = client.wait_final(id, IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(["created", "unchanged", "errors", "removed"].map(|s| stat(&done, s)), [1, 2, 1, 1], "{done}");
    let left = all_records(&client, "contact").await;
    assert_eq!(emails(&left), ["ann@example.com", "bob@example.com", "cy@example.com", "eve@example.com"]);

    // A dry run over the guard fails as the real one would, and removes nothing either.
    let body = json!({"resource_type": "contact", "action": "overwrite", "dry_run": true});
    let refused = client.import_file(&body, "email\nann@example.com\n".into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(refused["reason"], "overwrite_guard", "{refused}");
    assert_eq!(all_records(&client, "contact").await.len(), 4);
}

/// A dry run that passed the guard, run for real once more records exist: the guard is checked
/// again before the run writes anything, against the records there are now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_run_for_real_checks_the_guard_again_before_writing() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    client.import_file(&json!({"resource_type": "contact"}), SEED.into(), IMPORT_TIMEOUT).await.unwrap();

    // Names three of the four and a new one: one of four would go, under the default 0.5.
    let file = "email,first_name\nann@example.com,Ann\nbob@example.com,Bob\ncy@example.com,Cy\nnew@example.com,New\n";
    let body = json!({"resource_type": "contact", "action": "overwrite", "dry_run": true});
    let rehearsal = client.import_file(&body, file.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(rehearsal["status"], "completed", "{rehearsal}");
    assert_eq!([stat(&rehearsal, "created"), stat(&rehearsal, "removed")], [1, 1], "{rehearsal}");

    // Four more arrive meanwhile: five of eight would go now.
    let more = "email\ne1@example.com\ne2@example.com\ne3@example.com\ne4@example.com\n";
    client.import_file(&json!({"resource_type": "contact"}), more.into(), IMPORT_TIMEOUT).await.unwrap();
    let id = rehearsal["id"].as_str().unwrap();
    let path = format!("/v1/imports/{id}");
    let (status, body) = client.call(reqwest::Method::PATCH, &path, Some(&json!({"dry_run": false}))).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let refused = client.wait_final(id, IMPORT_TIMEOUT).await.unwrap();
    assert_eq!((&refused["status"], &refused["reason"]), (&json!("failed"), &json!("overwrite_guard")), "{refused}");
    assert_eq!([stat(&refused, "created"), stat(&refused, "removed")], [0, 0], "{refused}");
    let (status, _) = client.get("/v1/records/contact/new@example.com").await.unwrap();
    assert_eq!(status, 404, "the refused run wrote nothing");
    assert_eq!(all_records(&client, "contact").await.len(), 8);
}

/// An overwrite created while nothing ran, whose file arrives once another import of its type
/// runs: its run checks again when it starts, and fails naming that import, nothing queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overwrite_whose_run_starts_beside_another_import_fails() {
    let host = host(|o| o.workers = 0).await;
    let svc = host.clients.services(host.settings.clone()).expect("services");
    let client = host.client("acme");
    let overwrite = client.create_import(&json!({"resource_type": "contact", "action": "overwrite"})).await.unwrap();
    let overwrite_id = overwrite["id"].as_str().unwrap();
    let running = client.create_import(&json!({"resource_type": "contact"})).await.unwrap();
    let id = running["id"].as_str().unwrap();
    client.upload(&running, "email\nann@example.com\n".into()).await.unwrap();
    service::pipeline::prevalidate::run(&svc, &domain::import::upload_key("acme", id)).await.unwrap();

    client.upload(&overwrite, "email\nbob@example.com\n".into()).await.unwrap();
    service::pipeline::prevalidate::run(&svc, &domain::import::upload_key("acme", overwrite_id)).await.unwrap();
    let (_, failed) = client.get(&format!("/v1/imports/{overwrite_id}")).await.unwrap();
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(failed["reason"].as_str().unwrap().contains(id), "{failed}");
    let queued = receive_all(&host, &host.settings.transform_queue_url).await;
    assert!(!queued.is_empty() && queued.iter().all(|b| !b.contains(overwrite_id)), "{queued:?}");
}

/// Identifiers near DynamoDB's 1,024-byte sort key limit (an account's is its external_id): a dry
/// run notes the records its rows name under keys that would pass that limit with their prefix,
/// so those notes are keyed by a digest. Two such identifiers share their first 1,000 bytes: one
/// is named, one is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_over_identifiers_near_the_key_limit_counts_exactly() {
    let host = host(|o| o.chunk_rows = Some(2)).await;
    let client = host.client("acme");
    let stem = "k".repeat(1_000);
    let (named, unnamed) = (format!("{stem}{}", "n".repeat(20)), format!("{stem}{}", "u".repeat(20)));
    let body = |dry_run: bool| json!({"resource_type": "account", "action": "overwrite", "dry_run": dry_run, "max_removed_ratio": 1.0});
    let seed = format!("external_id,name\n{named},Long\n{unnamed},Other\nA-1,Acme\nA-2,Globex\n");
    let seeded = client.import_file(&json!({"resource_type": "account"}), seed.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(stat(&seeded, "created"), 4, "{seeded}");

    // Names the long one, A-1 and a new one: the other long one and A-2 would go.
    let file = format!("external_id,name\n{named},Long\nA-1,Acme\nA-3,Initech\n");
    let rehearsal = client.import_file(&body(true), file.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(rehearsal["status"], "completed", "{rehearsal}");
    let counts = |import: &Value| ["rows", "created", "unchanged", "errors", "removed"].map(|s| stat(import, s));
    assert_eq!(counts(&rehearsal), [3, 1, 2, 0, 2], "{rehearsal}");
    assert_eq!(all_records(&client, "account").await.len(), 4, "a dry run changes no record");

    let id = rehearsal["id"].as_str().unwrap();
    let path = format!("/v1/imports/{id}");
    let (status, answer) = client.call(reqwest::Method::PATCH, &path, Some(&json!({"dry_run": false}))).await.unwrap();
    assert_eq!(status, 200, "{answer}");
    let done = client.wait_final(id, IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(counts(&done), [3, 1, 2, 0, 2], "{done}");
    let left = all_records(&client, "account").await;
    let mut ids: Vec<&str> = left.iter().map(|r| r["external_id"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, ["A-1", "A-3", named.as_str()]);
}
