//! Preview and dry run (docs/api.md, Change an import): an import that stops before writing, shows what it would do,
//! and then runs from the same upload with a PATCH.

use serde_json::{json, Value};
use tests::{all_records, download, host, stat, wait_for, IMPORT_TIMEOUT};

async fn patch(client: &local::client::Client, id: &str, body: Value) -> (u16, Value) {
    client.call(reqwest::Method::PATCH, &format!("/v1/imports/{id}"), Some(&body)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_shows_samples_and_starts_with_corrected_mappings() {
    let host = host(|o| o.chunk_rows = Some(2)).await;
    let client = host.client("acme");
    let mut file = String::from("E-mail,Vorname,Land,Opted In\n");
    file.push_str("ann@example.com,Ann,Germany,Yes\nbob@example.com,Bob,France,No\nnot-an-email,Cy,France,Yes\n");
    file.push_str("ANN@example.com,Annie,Germany,No\n");
    let import = client.create_import(&json!({"resource_type": "contact", "in_preview": true})).await.unwrap();
    let id = import["id"].as_str().unwrap();
    client.upload(&import, file.into_bytes()).await.unwrap();
    let preview = wait_for(&client, id, "preview_ready").await;

    assert_eq!(preview["file_headers"], json!(["E-mail", "Vorname", "Land", "Opted In"]));
    assert_eq!(preview["mappings"], json!({"E-mail": "email", "Vorname": null, "Land": null, "Opted In": null}));
    assert_eq!(preview["unmapped_headers"], json!(["Vorname", "Land", "Opted In"]));
    let samples = preview["sample_records"].as_array().unwrap();
    assert_eq!(samples.len(), 4, "{preview}");
    assert_eq!(samples[0]["row"], 1);
    assert_eq!(samples[0]["record"]["email"], "ann@example.com");
    assert_eq!(samples[2]["errors"][0]["code"], "invalid_email");
    assert!(samples[2]["record"].is_null());
    assert_eq!(preview["distinct_values"]["Opted In"], json!(["No", "Yes"]));
    assert_eq!(preview["distinct_values"]["Land"], json!(["France", "Germany"]));
    assert!(preview["distinct_values"].get("E-mail").is_none(), "unique values are not an enum");
    assert_eq!(stat(&preview, "rows"), 4);
    assert!(all_records(&client, "contact").await.is_empty(), "a preview writes nothing");

    // Wrong PATCHes are refused and change nothing.
    assert_eq!(patch(&client, id, json!({"dry_run": false})).await.0, 409);
    let (status, bad) = patch(&client, id, json!({"in_preview": false, "mappings": {"Vorname": "nickname"}})).await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["error"]["details"][0]["field"], "mappings.Vorname");
    // A header the file does not have would map nothing: named, with the headers it has.
    let (status, bad) = patch(&client, id, json!({"in_preview": false, "mappings": {"Vornam": "first_name"}})).await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["error"]["details"][0]["field"], "mappings.Vornam");
    assert_eq!(bad["error"]["details"][0]["code"], "unknown_header");
    assert!(
        bad["error"]["details"][0]["message"].as_str().unwrap().contains("E-mail, Vorname, Land, Opted In"),
        "{bad}"
    );

    // The distinct values are there to be mapped in the PATCH that starts the import.
    let mappings = json!({"Vorname": "first_name", "Land": "country", "Opted In": "status"});
    let body = json!({"in_preview": false, "mappings": mappings,
        "value_mappings": {"status": {"Yes": "subscribed", "No": "unsubscribed"}}, "constants": {"company": "Acme"}});
    let (status, started) = patch(&client, id, body).await;
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["status"], "queued");
    assert_eq!(started["value_mappings"]["status"]["Yes"], "subscribed", "the import shows what it runs with");
    assert_eq!(started["constants"], json!({"company": "Acme"}));
    let done = client.wait_final(id, IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        [stat(&done, "rows"), stat(&done, "created"), stat(&done, "errors"), stat(&done, "duplicates")],
        [4, 2, 1, 1],
        "{done}"
    );
    assert_eq!(done["mappings"]["Vorname"], "first_name");
    let (_, ann) = client.get("/v1/records/contact/ann@example.com").await.unwrap();
    assert_eq!([&ann["first_name"], &ann["country"]], ["Annie", "DE"], "the last copy wins");
    assert_eq!([&ann["status"], &ann["company"]], ["unsubscribed", "Acme"], "value mapped, constant set");
    let (_, bob) = client.get("/v1/records/contact/bob@example.com").await.unwrap();
    assert_eq!(bob["status"], "unsubscribed");
    assert_eq!(patch(&client, id, json!({"in_preview": false})).await.0, 409, "a started import starts once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_reports_what_would_happen_then_runs_for_real() {
    let host = host(|o| o.chunk_rows = Some(2)).await;
    let client = host.client("acme");
    let before = "email,first_name\nann@example.com,Ann\ncy@example.com,Cy\n";
    let first = client.import_file(&json!({"resource_type": "contact"}), before.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(stat(&first, "created"), 2, "{first}");

    let file = "email,first_name\nann@example.com,Anne\nbob@example.com,Bob\nbroken,X\ncy@example.com,Cy\n";
    let body = json!({"resource_type": "contact", "dry_run": true});
    let dry = client.import_file(&body, file.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(dry["status"], "completed", "{dry}");
    assert_eq!(dry["dry_run"], true);
    let counts = |i: &Value| ["created", "updated", "unchanged", "errors", "processed"].map(|s| stat(i, s));
    assert_eq!(counts(&dry), [1, 1, 1, 1, 4], "{dry}");
    let (_, ann) = client.get("/v1/records/contact/ann@example.com").await.unwrap();
    assert_eq!(ann["first_name"], "Ann", "a dry run writes no record");
    assert_eq!(client.get("/v1/records/contact/bob@example.com").await.unwrap().0, 404);
    let expected = "row,identifier,outcome,record_key\n\
                    1,ann@example.com,updated,ann@example.com\n\
                    2,bob@example.com,created,bob@example.com\n\
                    3,broken,error,\n\
                    4,cy@example.com,unchanged,cy@example.com\n";
    assert_eq!(String::from_utf8(download(&dry["links"]["results_csv"]).await).unwrap(), expected);

    let id = dry["id"].as_str().unwrap();
    let (status, started) = patch(&client, id, json!({"dry_run": false})).await;
    assert_eq!(status, 200, "{started}");
    assert_eq!((started["status"].as_str(), started["dry_run"].as_bool()), (Some("queued"), Some(false)));
    assert_eq!(stat(&started, "processed"), 0, "the real run counts from zero");
    let real = client.wait_final(id, IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(real["status"], "completed", "{real}");
    assert_eq!(counts(&real), [1, 1, 1, 1, 4], "{real}");
    let (_, ann) = client.get("/v1/records/contact/ann@example.com").await.unwrap();
    assert_eq!(ann["first_name"], "Anne");
    assert_eq!(client.get("/v1/records/contact/bob@example.com").await.unwrap().0, 200);
    assert_eq!(String::from_utf8(download(&real["links"]["results_csv"]).await).unwrap(), expected);
    assert_eq!(patch(&client, id, json!({"dry_run": false})).await.0, 409, "a real run runs once");
}
