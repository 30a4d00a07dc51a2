//! `identifier_field` (docs/api.md, Records and field rules): matching records on their alternate identifier, which
//! stays unique per tenant whichever import writes it.

use serde_json::{json, Value};
use tests::{download, host, record, stat, IMPORT_TIMEOUT};

fn error_codes(errors_json: &[u8]) -> Vec<(u64, String)> {
    let errors: Value = serde_json::from_slice(errors_json).unwrap();
    let mut codes: Vec<(u64, String)> = errors
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["row"].as_u64().unwrap(), e["errors"][0]["code"].as_str().unwrap().to_string()))
        .collect();
    codes.sort();
    codes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_match_on_external_id() {
    let host = host(|o| o.chunk_rows = Some(3)).await;
    let client = host.client("acme");
    let seed = "email,external_id,first_name\nann@example.com,C-1,Ann\nbob@example.com,,Bob\n";
    let seeded = client.import_file(&json!({"resource_type": "contact"}), seed.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(stat(&seeded, "created"), 2, "{seeded}");

    let file = "external_id,email,first_name\n\
                C-1,,Annie\n\
                C-2,bob@example.com,Bobby\n\
                C-3,cy@example.com,Cy\n\
                C-4,,Nobody\n\
                C-5,ann@example.com,Impostor\n\
                ,dee@example.com,Dee\n";
    let body = json!({"resource_type": "contact", "identifier_field": "external_id"});
    let import = client.import_file(&body, file.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(import["status"], "completed", "{import}");
    let counts = ["created", "updated", "errors", "processed"].map(|s| stat(&import, s));
    assert_eq!(counts, [1, 2, 3, 6], "{import}");

    let ann = record(&client, "contact", "ann@example.com").await;
    assert_eq!([&ann["first_name"], &ann["external_id"]], ["Annie", "C-1"], "matched without its email");
    let bob = record(&client, "contact", "bob@example.com").await;
    assert_eq!([&bob["first_name"], &bob["external_id"]], ["Bobby", "C-2"], "found by email, given its id");
    assert_eq!(record(&client, "contact", "cy@example.com").await["external_id"], "C-3");

    let codes = error_codes(&download(&import["links"]["errors_json"]).await);
    assert_eq!(
        codes,
        [(4, "no_match".to_string()), (5, "identifier_conflict".to_string()), (6, "missing_identifier".to_string())]
    );
    let results = String::from_utf8(download(&import["links"]["results_csv"]).await).unwrap();
    let outcomes: Vec<&str> = results.lines().skip(1).map(|l| l.split(',').nth(2).unwrap()).collect();
    assert_eq!(outcomes, ["updated", "updated", "created", "error", "error", "error"], "{results}");
    let errors_csv = String::from_utf8(download(&import["links"]["errors_csv"]).await).unwrap();
    assert!(errors_csv.contains("C-4,,Nobody,4,external_id,no_match,"), "{errors_csv}");

    // A default-identifier import cannot give a taken external_id to another contact, and
    // moving one frees the old value.
    let file = "email,external_id\ndee@example.com,C-3\nann@example.com,C-9\n";
    let again = client.import_file(&json!({"resource_type": "contact"}), file.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!([stat(&again, "created"), stat(&again, "updated"), stat(&again, "errors")], [0, 1, 1], "{again}");
    assert_eq!(error_codes(&download(&again["links"]["errors_json"]).await), [(1, "duplicate_value".to_string())]);
    let file = "external_id,first_name\nC-9,Ann again\nC-1,Nobody\n";
    let moved = client.import_file(&body, file.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!([stat(&moved, "updated"), stat(&moved, "errors")], [1, 1], "{moved}");
    assert_eq!(record(&client, "contact", "ann@example.com").await["first_name"], "Ann again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_match_on_domain_and_other_fields_are_refused() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let seed = "external_id,name,domain\nA-1,Acme,acme.example\n";
    client.import_file(&json!({"resource_type": "account"}), seed.into(), IMPORT_TIMEOUT).await.unwrap();
    let body = json!({"resource_type": "account", "identifier_field": "domain"});
    let file = "domain,employees\nACME.example,250\n";
    let import = client.import_file(&body, file.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(stat(&import, "updated"), 1, "{import}");
    assert_eq!(record(&client, "account", "A-1").await["employees"], 250);

    for (resource, field) in [("contact", "phone"), ("group", "description"), ("account", "name")] {
        let body = json!({"resource_type": resource, "identifier_field": field});
        let (status, answer) = client.call(reqwest::Method::POST, "/v1/imports", Some(&body)).await.unwrap();
        assert_eq!((status, &answer["error"]["details"][0]["field"]), (400, &json!("identifier_field")), "{answer}");
    }
}
