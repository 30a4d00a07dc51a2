//! Request limits over the wire: a body over 256 KB is a 413, every count and length of
//! the create and PATCH bodies is a 400 naming its field, and no request, however large or odd
//! within them, answers 5xx (a storage rejection of the request's own data is a 400 too).

use serde_json::{json, Map, Value};
use tests::host;

const BODY_LIMIT: usize = 256 * 1024;

/// The fields a 400 names.
fn named(answer: &Value) -> Vec<String> {
    let details = answer["error"]["details"].as_array().cloned().unwrap_or_default();
    details.iter().filter_map(|d| d["field"].as_str().map(str::to_string)).collect()
}

/// POSTs raw bytes as a JSON body.
async fn post_raw(host: &local::LocalHost, path: &str, method: reqwest::Method, body: Vec<u8>) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .request(method, format!("{}{path}", host.api_url))
        .bearer_auth(host.token("acme"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// `n` pairs spread over `fields` custom fields with short keys, as compact as JSON allows.
fn value_mappings(fields: usize, n: usize) -> Value {
    let mut all = Map::new();
    for f in 0..fields {
        let pairs: Map<String, Value> = (0..n / fields).map(|i| (format!("{i:x}"), json!(""))).collect();
        all.insert(format!("custom.f{f}"), Value::Object(pairs));
    }
    Value::Object(all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_thousand_value_mappings_are_a_400_or_a_413_never_a_503() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    // The issue's repro: 30,000 pairs of one field, past the body limit.
    let pairs: Map<String, Value> = (0..30_000).map(|i| (format!("value {i}"), json!("subscribed"))).collect();
    let body = json!({"resource_type": "contact", "value_mappings": {"status": pairs}});
    let (status, answer) = client.call(reqwest::Method::POST, "/v1/imports", Some(&body)).await.unwrap();
    assert_eq!((status, &answer["error"]["code"]), (413, &json!("payload_too_large")), "{answer:.300}");

    // 30,000 pairs within the body limit: over the 10,000 pairs in all.
    let body = json!({"resource_type": "contact", "value_mappings": value_mappings(300, 30_000)});
    assert!(body.to_string().len() < BODY_LIMIT, "{}", body.to_string().len());
    let (status, answer) = client.call(reqwest::Method::POST, "/v1/imports", Some(&body)).await.unwrap();
    assert_eq!(status, 400, "{answer:.300}");
    assert_eq!(named(&answer), ["value_mappings"]);

    let body = json!({"resource_type": "contact", "value_mappings": value_mappings(100, 10_000)});
    let (status, answer) = client.call(reqwest::Method::POST, "/v1/imports", Some(&body)).await.unwrap();
    assert_eq!(status, 201, "10,000 pairs are allowed: {answer:.300}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_input_keys_are_a_400_naming_the_input() {
    let host = host(|_| {}).await;
    let bodies = [
        (r#"{"resource_type":"contact","inputs":[{"email":"a@x.io"},{"email":"b@x.io","a\u0000b":"x"}]}"#, "inputs[1]"),
        (r#"{"resource_type":"contact","mode":"sync","inputs":[{"email":"a@x.io","":"x"}]}"#, "inputs[0]"),
        (r#"{"resource_type":"contact","inputs":[{"email":"a@x.io","\ud800":"x"}]}"#, "body"),
        (r#"{"resource_type":"contact","mode":"sync","inputs":[{"email":"a@x.io","\udc00x":"x"}]}"#, "body"),
    ];
    for (body, field) in bodies {
        let (status, answer) = post_raw(&host, "/v1/imports", reqwest::Method::POST, body.into()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(named(&answer), [field], "{body}: {answer}");
    }
    // A key of 1,025 bytes is over a name's limit; 501 distinct keys are over a file's columns.
    let long = json!({"resource_type": "contact", "inputs": [{"email": "a@x.io", "k".repeat(1025): "x"}]});
    let wide: Map<String, Value> = (0..501).map(|i| (format!("c{i}"), json!("x"))).collect();
    let wide = json!({"resource_type": "contact", "inputs": [{"email": "a@x.io"}, wide]});
    for (body, field) in [(long, "inputs[0]"), (wide, "inputs")] {
        let (status, answer) = post_raw(&host, "/v1/imports", reqwest::Method::POST, body.to_string().into()).await;
        assert_eq!((status, named(&answer)), (400, vec![field.to_string()]), "{answer:.300}");
    }
    // Ordinary odd keys (spaces, unicode, punctuation) still import.
    let body = json!({"resource_type": "contact", "mode": "sync",
        "inputs": [{"email": "a@x.io", " First Name ": "Ann", "Ünïcode ✓": "y", "a.b": "z"}]});
    let (status, answer) = host.client("acme").call(reqwest::Method::POST, "/v1/imports", Some(&body)).await.unwrap();
    assert_eq!((status, &answer["status"]), (201, &json!("completed")), "{answer}");
    assert_eq!(tests::record(&host.client("acme"), "contact", "a@x.io").await["first_name"], "Ann");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_256_kb_answer_413_on_every_route() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let import = client.create_import(&json!({"resource_type": "contact", "in_preview": true})).await.unwrap();
    let id = import["id"].as_str().unwrap();
    let padded = |n: usize| {
        let mut body = json!({"resource_type": "contact", "reference": "r"}).to_string().into_bytes();
        body.pop();
        body.extend(format!(r#","pad":"{}"}}"#, " ".repeat(n)).into_bytes());
        body
    };
    let over = padded(BODY_LIMIT);
    for (method, path) in
        [(reqwest::Method::POST, "/v1/imports".to_string()), (reqwest::Method::PATCH, format!("/v1/imports/{id}"))]
    {
        let (status, answer) = post_raw(&host, &path, method.clone(), over.clone()).await;
        assert_eq!((status, &answer["error"]["code"]), (413, &json!("payload_too_large")), "{method} {answer}");
    }
    // Just under the limit is read and judged on its fields.
    let under = padded(BODY_LIMIT - 200);
    assert!(under.len() <= BODY_LIMIT);
    let (status, answer) = post_raw(&host, "/v1/imports", reqwest::Method::POST, under).await;
    assert_eq!((status, named(&answer)), (400, vec!["pad".to_string()]), "{answer:.300}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_count_and_length_is_a_400_naming_its_field() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let k1 = "k".repeat(1024);
    let k2 = "k".repeat(1025);
    let custom = |n: usize, value: Value| -> Value {
        Value::Object((0..n).map(|i| (format!("custom.c{i}"), value.clone())).collect())
    };
    let strings = |n: usize| -> Value { (0..n).map(|i| json!(format!("t{i}"))).collect() };
    let sync_actions: Value = (0..51).map(|i| json!({"action": "add", "group": format!("g{i}")})).collect();
    let contact = |extra: Value| {
        let mut body = json!({"resource_type": "contact"});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let over = [
        (json!({"constants": custom(501, json!("x"))}), "constants"),
        (json!({"constants": {"custom.a": k2}}), "constants.custom.a"),
        (json!({"constants": {format!("custom.{k2}"): "x"}}), "constants"),
        (json!({"mappings": custom(501, Value::Null)}), "mappings"),
        (json!({"mappings": {k2.clone(): null}}), "mappings"),
        (json!({"mappings": {"A": format!("custom.{k2}")}}), "mappings.A"),
        (
            json!({"update_rule": "use_field_rule", "update_rule_by_field": custom(501, json!("always"))}),
            "update_rule_by_field",
        ),
        (json!({"value_mappings": custom(501, json!({"a": "b"}))}), "value_mappings"),
        (json!({"value_mappings": {"status": {k2.clone(): "subscribed"}}}), "value_mappings.status"),
        (json!({"value_mappings": {"custom.a": {"a": k2}}}), "value_mappings.custom.a"),
        (json!({"tags": strings(51)}), "tags"),
        (json!({"tags": [k2]}), "tags"),
        (json!({"metadata": custom(51, json!("x"))}), "metadata"),
        (json!({"metadata": {"a": k2}}), "metadata.a"),
        (json!({"reference": k2}), "reference"),
        (json!({"reference_origin": k2}), "reference_origin"),
        (json!({"sync_actions": sync_actions}), "sync_actions"),
        (json!({"sync_actions": [{"action": "add", "group": k2}]}), "sync_actions[0]"),
        (json!({"inputs": (0..10_001).map(|_| json!({})).collect::<Value>()}), "inputs"),
    ];
    for (extra, field) in over {
        let body = contact(extra);
        let (status, answer) = client.call(reqwest::Method::POST, "/v1/imports", Some(&body)).await.unwrap();
        assert_eq!(status, 400, "{field}: {answer:.300}");
        assert!(named(&answer).iter().any(|f| f.starts_with(field)), "{field}: {answer:.300}");
    }
    // At the limits: accepted.
    let at = contact(json!({
        "constants": Value::Object((0..500).map(|i| (format!("custom.c{i}"), json!(if i == 0 { &k1 } else { "x" }))).collect()),
        "tags": [k1],
        "metadata": {k1.clone(): k1},
        "reference": k1,
        "mappings": {k1.clone(): null},
        "value_mappings": {"status": {k1.clone(): "subscribed"}},
        "sync_actions": [{"action": "add", "group": k1}],
    }));
    let (status, answer) = client.call(reqwest::Method::POST, "/v1/imports", Some(&at)).await.unwrap();
    assert_eq!(status, 201, "{answer:.300}");

    // PATCH: its mappings are bounded as a create's are, and by the settings' share of the item.
    let import = client.create_import(&json!({"resource_type": "contact", "in_preview": true})).await.unwrap();
    let path = format!("/v1/imports/{}", import["id"].as_str().unwrap());
    let heavy: Value =
        (0..500).map(|i| (format!("{i:04}{}", "h".repeat(456)), json!(format!("custom.c{i}")))).collect();
    for mappings in [custom(501, Value::Null), json!({k2: null}), heavy] {
        let body = json!({"in_preview": false, "mappings": mappings});
        let (status, answer) = client.call(reqwest::Method::PATCH, &path, Some(&body)).await.unwrap();
        assert_eq!((status, named(&answer)), (400, vec!["mappings".to_string()]), "{answer:.300}");
    }
}

/// The most a create can put on its item: every map at its count with long names, up to the
/// body limit. Mappings are stored twice (as requested and as resolved), so they weigh most; past
/// the settings' share of the item (200 KB) the largest setting is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_creates_fit_their_item_or_are_a_400() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let name = |i: usize, len: usize| format!("{i:04}{}", "n".repeat(len - 4));
    let custom = |len: usize, value: &dyn Fn(usize) -> Value| -> Value {
        Value::Object((0..500).map(|i| (format!("custom.{}", name(i, len)), value(i))).collect())
    };
    // ~240 KB of mappings: 500 headers of 460 bytes, each to a custom field of ~20.
    let mappings: Map<String, Value> =
        (0..500).map(|i| (name(i, 460), json!(format!("custom.{}", name(i, 12))))).collect();
    let heavy = [
        (json!({"resource_type": "contact", "mappings": mappings}), Some("mappings")),
        (
            json!({"resource_type": "contact", "value_mappings": value_mappings(100, 10_000),
                   "constants": custom(4, &|i| json!(name(i, 200)))}),
            None,
        ),
        (
            json!({"resource_type": "contact",
                   "metadata": (0..50).map(|i| (name(i, 1024), json!(name(i, 1024)))).collect::<Map<_, _>>(),
                   "tags": (0..50).map(|i| json!(name(i, 1024))).collect::<Value>(),
                   "update_rule": "use_field_rule",
                   "update_rule_by_field": custom(160, &|_| json!("always"))}),
            Some("metadata"),
        ),
    ];
    for (body, refused) in heavy {
        let len = body.to_string().len();
        assert!(len <= BODY_LIMIT, "{len}");
        let (status, answer) = client.call(reqwest::Method::POST, "/v1/imports", Some(&body)).await.unwrap();
        match refused {
            Some(field) => assert_eq!((status, named(&answer)), (400, vec![field.to_string()]), "{answer:.300}"),
            None => {
                assert_eq!(status, 201, "{len} bytes: {answer:.300}");
                let (status, got) =
                    client.get(&format!("/v1/imports/{}", answer["id"].as_str().unwrap())).await.unwrap();
                assert_eq!(
                    (status, &got["constants"], &got["value_mappings"]),
                    (200, &body["constants"], &body["value_mappings"])
                );
            }
        }
    }
}
