//! Templates (docs/api.md, Templates): saved settings used by id, versioned and pinned, chosen
//! by a file's headers, and a tenant's own.

use serde_json::{json, Value};
use tests::{host, stat, wait_for, IMPORT_TIMEOUT};

async fn send(client: &local::client::Client, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    client.call(method, path, Some(&body)).await.unwrap()
}

async fn save(client: &local::client::Client, body: Value) -> Value {
    let (status, template) = send(client, reqwest::Method::POST, "/v1/templates", body).await;
    assert_eq!(status, 201, "{template}");
    template
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_is_used_by_id_versioned_pinned_and_the_tenants_own() {
    let host = host(|_| {}).await;
    let (client, other) = (host.client("acme"), host.client("globex"));
    let v1 = save(
        &client,
        json!({"name": "CRM export", "resource_type": "contact", "mappings": {"Mail": "email", "Given": "first_name",
            "Tier": "custom.tier"}, "constants": {"company": "V1"}, "tags": ["crm"],
            "value_mappings": {"custom.tier": {"G": "gold"}}}),
    )
    .await;
    let id = v1["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("tpl_"), "{v1}");
    assert_eq!((&v1["version"], &v1["name"], &v1["tags"]), (&json!(1), &json!("CRM export"), &json!(["crm"])));
    let file = || b"Mail,Given,Tier\nann@example.com,Ann,G\n".to_vec();

    let done = client.import_file(&json!({"template": id}), file(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["template"], json!({"id": id, "version": 1}), "the import records what it ran with");
    assert_eq!(done["resource_type"], "contact", "the template's type");
    let (_, ann) = client.get("/v1/records/contact/ann@example.com").await.unwrap();
    assert_eq!([&ann["first_name"], &ann["company"], &ann["custom"]["tier"]], ["Ann", "V1", "gold"], "{ann}");
    assert_eq!(ann["tags"], json!(["crm"]));

    // The next version; the first stays readable, and an import pinned to it gets it.
    let body = json!({"name": "CRM export", "resource_type": "contact", "mappings": {"Mail": "email",
        "Given": "first_name"}, "constants": {"company": "V2"}});
    let (status, v2) = send(&client, reqwest::Method::PUT, &format!("/v1/templates/{id}"), body).await;
    assert_eq!((status, &v2["version"], &v2["created_at"]), (200, &json!(2), &v1["created_at"]), "{v2}");
    let (_, read) = client.get(&format!("/v1/templates/{id}?version=1")).await.unwrap();
    assert_eq!((&read["version"], &read["constants"]["company"]), (&json!(1), &json!("V1")));
    let (_, latest) = client.get(&format!("/v1/templates/{id}")).await.unwrap();
    assert_eq!(latest["constants"]["company"], "V2");
    // What a GET answers goes back with a PUT.
    let (status, v3) = send(&client, reqwest::Method::PUT, &format!("/v1/templates/{id}"), latest.clone()).await;
    assert_eq!((status, &v3["version"], &v3["constants"]), (200, &json!(3), &latest["constants"]), "{v3}");
    assert_eq!(client.get(&format!("/v1/templates/{id}?version=4")).await.unwrap().0, 404);
    assert_eq!(client.get(&format!("/v1/templates/{id}?version=x")).await.unwrap().0, 400);

    let body = json!({"template": {"id": id, "version": 1}, "tags": ["own"]});
    let pinned =
        client.import_file(&body, b"Mail,Given\nbob@example.com,Bob\n".to_vec(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(pinned["template"], json!({"id": id, "version": 1}), "{pinned}");
    let (_, bob) = client.get("/v1/records/contact/bob@example.com").await.unwrap();
    assert_eq!((&bob["company"], &bob["tags"]), (&json!("V1"), &json!(["own"])), "the body's own tags win: {bob}");
    let body = json!({"template": id, "constants": {"city": "Oslo"}});
    let newest = client.import_file(&body, b"Mail,Given\ncy@example.com,Cy\n".to_vec(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(newest["template"]["version"], 3);
    let (_, cy) = client.get("/v1/records/contact/cy@example.com").await.unwrap();
    assert_eq!((&cy["company"], &cy["city"]), (&Value::Null, &json!("Oslo")), "constants replaced whole: {cy}");

    let (_, listed) = client.get("/v1/templates").await.unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["data"][0]["version"], 3);

    // Another tenant's template is not there.
    assert_eq!(other.get(&format!("/v1/templates/{id}")).await.unwrap().0, 404);
    assert_eq!(other.get("/v1/templates").await.unwrap().1["data"], json!([]));
    let (status, refused) = send(&other, reqwest::Method::POST, "/v1/imports", json!({"template": id})).await;
    assert_eq!((status, &refused["error"]["details"][0]["field"]), (400, &json!("template")), "{refused}");
    let body = json!({"name": "x", "resource_type": "contact"});
    assert_eq!(send(&other, reqwest::Method::PUT, &format!("/v1/templates/{id}"), body).await.0, 404);
    assert_eq!(other.call(reqwest::Method::DELETE, &format!("/v1/templates/{id}"), None).await.unwrap().0, 404);

    // Bad templates are a 400 naming each field; a type never changes.
    let bad = json!({"name": "", "resource_type": "contact", "mappings": {"A": "nope"}, "retention": "P1D"});
    let (status, refused) = send(&client, reqwest::Method::POST, "/v1/templates", bad).await;
    let fields: Vec<&str> =
        refused["error"]["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    assert_eq!((status, fields), (400, vec!["mappings.A", "name", "retention"]), "{refused}");
    let body = json!({"name": "x", "resource_type": "account"});
    let (status, refused) = send(&client, reqwest::Method::PUT, &format!("/v1/templates/{id}"), body).await;
    assert_eq!((status, &refused["error"]["details"][0]["field"]), (400, &json!("resource_type")), "{refused}");

    assert_eq!(client.call(reqwest::Method::DELETE, &format!("/v1/templates/{id}"), None).await.unwrap().0, 204);
    assert_eq!(client.get(&format!("/v1/templates/{id}?version=1")).await.unwrap().0, 404, "every version is gone");
    let (status, _) = send(&client, reqwest::Method::POST, "/v1/imports", json!({"template": id})).await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_and_the_suggestion_pick_the_closest_of_three_templates() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let mapping = |headers: &[&str]| -> Value {
        headers.iter().map(|h| (h.to_string(), json!(format!("custom.{}", h.to_lowercase())))).collect()
    };
    let mut ids = vec![];
    for (name, headers) in [
        ("basic", &["Email", "First", "Last"][..]),
        ("crm", &["Email", "First", "Last", "Plan", "Seats"][..]),
        ("events", &["Email", "Event", "Ticket"][..]),
    ] {
        let mut mappings = mapping(headers);
        mappings["Email"] = json!("email");
        let body =
            json!({"name": name, "resource_type": "contact", "mappings": mappings, "constants": {"title": name}});
        ids.push(save(&client, body).await["id"].as_str().unwrap().to_string());
    }
    // Not the type of the import: never chosen.
    save(&client, json!({"name": "accounts", "resource_type": "account", "mappings": mapping(&["Email", "First", "Last", "Plan", "Seats"])})).await;

    // The preview names the best match; `auto` applies it.
    let preview = client.create_import(&json!({"resource_type": "contact", "in_preview": true})).await.unwrap();
    let id = preview["id"].as_str().unwrap();
    client.upload(&preview, b"email,first,last,plan,seats\nann@example.com,Ann,A,pro,3\n".to_vec()).await.unwrap();
    let preview = wait_for(&client, id, "preview_ready").await;
    assert_eq!(preview["suggested_template"]["id"], ids[1], "{preview}");
    assert_eq!(
        (&preview["suggested_template"]["name"], &preview["suggested_template"]["matched"]),
        (&json!("crm"), &json!(1.0))
    );
    assert!(preview.get("template").is_none(), "a suggestion is not applied: {preview}");
    // The PATCH that starts it may take it.
    let body = json!({"in_preview": false, "template": "auto", "tags": ["patched"]});
    let (status, started) = send(&client, reqwest::Method::PATCH, &format!("/v1/imports/{id}"), body).await;
    assert_eq!(status, 200, "{started}");
    assert_eq!(
        (&started["template"]["id"], &started["mappings"]["plan"]),
        (&json!(ids[1]), &json!("custom.plan")),
        "{started}"
    );
    let done = client.wait_final(id, IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(done["status"], "completed", "{done}");
    let (_, ann) = client.get("/v1/records/contact/ann@example.com").await.unwrap();
    assert_eq!(
        (&ann["title"], &ann["custom"]["seats"], &ann["tags"]),
        (&json!("crm"), &json!("3"), &json!(["patched"])),
        "{ann}"
    );

    let auto = |file: &'static [u8], body: Value| {
        let client = &client;
        async move { client.import_file(&body, file.to_vec(), IMPORT_TIMEOUT).await.unwrap() }
    };
    let done =
        auto(b"Email,First,Last\nbob@example.com,Bob,B\n", json!({"resource_type": "contact", "template": "auto"}))
            .await;
    assert_eq!(done["template"], json!({"id": ids[0], "version": 1}), "an exact match beats a superset: {done}");
    let (_, bob) = client.get("/v1/records/contact/bob@example.com").await.unwrap();
    assert_eq!((&bob["title"], &bob["custom"]["first"]), (&json!("basic"), &json!("Bob")), "{bob}");
    // The body's own settings stay.
    let body = json!({"resource_type": "contact", "template": "auto", "constants": {"city": "Oslo"}});
    let done = auto(b"EMAIL,event,ticket\ncy@example.com,Expo,T1\n", body).await;
    assert_eq!(done["template"]["id"], ids[2], "{done}");
    let (_, cy) = client.get("/v1/records/contact/cy@example.com").await.unwrap();
    assert_eq!(
        (&cy["title"], &cy["city"], &cy["custom"]["ticket"]),
        (&Value::Null, &json!("Oslo"), &json!("T1")),
        "{cy}"
    );
    // Under 80 % of the headers: no template, imported as it is.
    let done = auto(
        b"email,event,seat,row\ndi@example.com,Expo,1,2\n",
        json!({"resource_type": "contact", "template": "auto"}),
    )
    .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(done.get("template").is_none(), "{done}");
    assert_eq!(stat(&done, "created"), 1);
}
