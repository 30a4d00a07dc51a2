//! Import rules and update rules (`import_rule`, `update_rule`, `update_rule_by_field`)
//! on records with known prior values: every field and every stat.

use serde_json::{json, Value};
use tests::{download, host, record, stat, IMPORT_TIMEOUT};

const SEED: &str = "email,first_name,phone,city,Tier\n\
                    ann@example.com,Ann,+1 555 0100,,gold\n\
                    bob@example.com,Bob,,Berlin,\n";
/// One known record changed, one new; a null phone, a new city, a new tier.
const FILE: &str = "email,first_name,phone,city,Tier\n\
                    ann@example.com,Annie,,Köln,silver\n\
                    cy@example.com,Cy,+1 555 0102,Lyon,bronze\n";

/// A fresh tenant seeded with ann and bob, then `FILE` imported with `rules`.
async fn run(host: &local::LocalHost, tenant: &str, rules: Value) -> (Value, local::client::Client) {
    let client = host.client(tenant);
    let mappings = json!({"Tier": "custom.tier"});
    let seed = json!({"resource_type": "contact", "mappings": mappings});
    let seeded = client.import_file(&seed, SEED.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(stat(&seeded, "created"), 2, "{seeded}");
    let mut body = json!({"resource_type": "contact", "mappings": mappings});
    body.as_object_mut().unwrap().extend(rules.as_object().unwrap().clone());
    let import = client.import_file(&body, FILE.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(import["status"], "completed", "{import}");
    (import, client)
}

fn stats(import: &Value) -> [u64; 6] {
    ["created", "updated", "unchanged", "warnings", "errors", "processed"].map(|s| stat(import, s))
}

/// A record's fields that the rules touch.
async fn ann(client: &local::client::Client) -> Value {
    let r = record(client, "contact", "ann@example.com").await;
    json!({"first_name": r["first_name"], "phone": r["phone"], "city": r["city"], "tier": r["custom"]["tier"]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_rules_decide_each_field() {
    let host = host(|_| {}).await;

    let (always, client) = run(&host, "always", json!({"update_rule": "always"})).await;
    assert_eq!(stats(&always), [1, 1, 0, 0, 0, 2]);
    assert_eq!(ann(&client).await, json!({"first_name": "Annie", "phone": null, "city": "Köln", "tier": "silver"}));

    let (not_null, client) = run(&host, "not-null", json!({"update_rule": "if_new_is_not_null"})).await;
    assert_eq!(stats(&not_null), [1, 1, 0, 0, 0, 2]);
    let expected = json!({"first_name": "Annie", "phone": "+1 555 0100", "city": "Köln", "tier": "silver"});
    assert_eq!(ann(&client).await, expected);

    let (if_null, client) = run(&host, "if-null", json!({"update_rule": "if_existing_is_null"})).await;
    assert_eq!(stats(&if_null), [1, 1, 0, 0, 0, 2]);
    let expected = json!({"first_name": "Ann", "phone": "+1 555 0100", "city": "Köln", "tier": "gold"});
    assert_eq!(ann(&client).await, expected);

    let by_field = json!({
        "update_rule": "use_field_rule",
        "update_rule_by_field": {"first_name": "if_existing_is_null", "phone": "if_new_is_not_null"},
    });
    let (per_field, client) = run(&host, "by-field", by_field).await;
    assert_eq!(stats(&per_field), [1, 1, 0, 0, 0, 2]);
    let expected = json!({"first_name": "Ann", "phone": "+1 555 0100", "city": "Köln", "tier": "silver"});
    assert_eq!(ann(&client).await, expected, "unlisted fields follow always");
    assert_eq!(record(&client, "contact", "cy@example.com").await["city"], "Lyon", "new records get every value");

    // Rules that change nothing leave a row unchanged.
    let client = host.client("by-field");
    let again = client
        .import_file(
            &json!({"resource_type": "contact", "update_rule": "if_existing_is_null"}),
            FILE.into(),
            IMPORT_TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(stats(&again), [0, 0, 2, 0, 0, 2], "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_rules_choose_what_may_be_created_or_updated() {
    let host = host(|_| {}).await;

    let (create_only, client) = run(&host, "create-only", json!({"import_rule": "create_only"})).await;
    assert_eq!(stats(&create_only), [1, 0, 1, 0, 0, 2]);
    let expected = json!({"first_name": "Ann", "phone": "+1 555 0100", "city": null, "tier": "gold"});
    assert_eq!(ann(&client).await, expected, "existing records are untouched");
    assert_eq!(record(&client, "contact", "cy@example.com").await["first_name"], "Cy");

    let (update_only, client) = run(&host, "update-only", json!({"import_rule": "update_only"})).await;
    assert_eq!(stats(&update_only), [0, 1, 0, 1, 0, 2]);
    assert_eq!(ann(&client).await["first_name"], "Annie");
    assert_eq!(client.get("/v1/records/contact/cy@example.com").await.unwrap().0, 404, "nothing is created");
    let results = String::from_utf8(download(&update_only["links"]["results_csv"]).await).unwrap();
    assert!(results.ends_with("2,cy@example.com,skipped_unknown,cy@example.com\n"), "{results}");

    let (both, _) = run(&host, "both", json!({"import_rule": "create_and_update"})).await;
    assert_eq!(stats(&both), [1, 1, 0, 0, 0, 2]);

    let client = host.client("both");
    for (body, field) in [
        (json!({"resource_type": "contact", "import_rule": "upsert"}), "import_rule"),
        (json!({"resource_type": "contact", "update_rule": "sometimes"}), "update_rule"),
        (json!({"resource_type": "contact", "update_rule_by_field": {"phone": "always"}}), "update_rule_by_field"),
        (
            json!({"resource_type": "contact", "update_rule": "use_field_rule", "update_rule_by_field": {"shoe": "always"}}),
            "update_rule_by_field.shoe",
        ),
    ] {
        let (status, answer) = client.call(reqwest::Method::POST, "/v1/imports", Some(&body)).await.unwrap();
        assert_eq!((status, &answer["error"]["details"][0]["field"]), (400, &json!(field)), "{answer}");
    }
}
