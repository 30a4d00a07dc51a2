//! Multipart uploads over the wire: a client that stops halfway asks which parts the bucket
//! holds, uploads the rest and completes; completing early names the missing parts; an aborted
//! upload interrupts its import. Files pulled from a URL and from another bucket import as
//! uploaded ones do.

use std::io::Write;

use reqwest::Method;
use serde_json::{json, Value};
use tests::{host, record, stat, IMPORT_TIMEOUT};

/// About 12 MiB of contacts: three parts of S3's smallest size, in rows of 4 KB so the rows stay
/// few (about 3,000).
fn big_csv() -> Vec<u8> {
    let mut csv = b"email,first_name,custom.notes\n".to_vec();
    let notes = "n".repeat(4000);
    let mut i = 0;
    while csv.len() < 12 * 1024 * 1024 {
        writeln!(csv, "user{i}@example.com,User {i},{notes}").unwrap();
        i += 1;
    }
    csv
}

async fn parts(client: &local::client::Client, import: &Value) -> Value {
    let url = import["links"]["upload"]["parts_url"].as_str().unwrap();
    let (status, page) = client.get(&format!("{url}?from=1&count=100")).await.unwrap();
    assert_eq!(status, 200, "{page}");
    page
}

async fn put_part(part: &Value, file: &[u8], part_size: usize) {
    let n = part["part_number"].as_u64().unwrap() as usize;
    let start = (n - 1) * part_size;
    let bytes = file[start..(start + part_size).min(file.len())].to_vec();
    assert_eq!(bytes.len() as u64, part["size"].as_u64().unwrap());
    let resp = reqwest::Client::new().put(part["url"].as_str().unwrap()).body(bytes).send().await.unwrap();
    assert!(resp.status().is_success(), "part {n}: {}", resp.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_upload_stopped_halfway_resumes_from_the_parts_held_and_imports_exactly() {
    let host = host(|o| o.chunk_rows = Some(20_000)).await;
    let client = host.client("acme");
    let file = big_csv();
    let rows = file.iter().filter(|b| **b == b'\n').count() as u64 - 1;
    let body = json!({"resource_type": "contact", "upload": {"size": file.len(), "multipart": true}});
    let import = client.create_import(&body).await.unwrap();
    let link = &import["links"]["upload"];
    assert_eq!(link["method"], "MULTIPART", "{import}");
    assert_eq!((link["part_size"].as_u64(), link["parts"].as_u64()), (Some(5 << 20), Some(3)), "{import}");
    assert_eq!(import["upload"], json!({"size": file.len(), "multipart": true}));
    let id = import["id"].as_str().unwrap();
    let part_size = link["part_size"].as_u64().unwrap() as usize;

    // The client uploads part 2 and stops.
    let page = parts(&client, &import).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 3);
    assert_eq!(page["next_from"], Value::Null);
    put_part(&page["data"][1], &file, part_size).await;
    let complete = link["complete_url"].as_str().unwrap();
    let (status, early) = client.call(Method::POST, complete, None).await.unwrap();
    assert_eq!(status, 409, "{early}");
    assert!(early["error"]["message"].as_str().unwrap().contains("parts missing: 1, 3"), "{early}");

    // Resumed: it asks again, and uploads what is not marked.
    let page = parts(&client, &import).await;
    let marked: Vec<bool> = page["data"].as_array().unwrap().iter().map(|p| p["uploaded"] == true).collect();
    assert_eq!(marked, [false, true, false]);
    assert!(page["data"][1]["etag"].is_string());
    for part in page["data"].as_array().unwrap().iter().filter(|p| p["uploaded"] == false) {
        put_part(part, &file, part_size).await;
    }
    let (status, completed) = client.call(Method::POST, complete, None).await.unwrap();
    assert_eq!(status, 200, "{completed}");
    let (status, again) = client.call(Method::POST, complete, None).await.unwrap();
    assert_eq!(status, 200, "asked again once complete: {again}");

    let import = client.wait_final(id, IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(import["status"], "completed", "{import}");
    assert_eq!([stat(&import, "rows"), stat(&import, "created"), stat(&import, "errors")], [rows, rows, 0]);
    assert_eq!(import["file"]["size"], file.len() as u64);
    let last = rows - 1;
    assert_eq!(
        record(&client, "contact", &format!("user{last}@example.com")).await["first_name"],
        format!("User {last}")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_multipart_upload_interrupts_its_import_and_a_single_put_has_no_parts() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let import =
        client.create_import(&json!({"resource_type": "contact", "upload": {"multipart": true}})).await.unwrap();
    let link = &import["links"]["upload"];
    assert_eq!(link["parts"], Value::Null, "no size: the part count is open");
    let id = import["id"].as_str().unwrap();
    let page = parts(&client, &import).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 100);
    assert_eq!(page["next_from"], 101);
    let (status, bad) = client.get(&format!("/v1/imports/{id}/upload/parts?count=101")).await.unwrap();
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["error"]["details"][0]["field"], "count");

    let (status, _) = client.call(Method::DELETE, &format!("/v1/imports/{id}/upload"), None).await.unwrap();
    assert_eq!(status, 204);
    let (_, import) = client.get(&format!("/v1/imports/{id}")).await.unwrap();
    assert_eq!(import["status"], "interrupted", "{import}");
    let (status, _) = client.get(&format!("/v1/imports/{id}/upload/parts")).await.unwrap();
    assert_eq!(status, 409);

    let small = client.create_import(&json!({"resource_type": "contact", "upload": {"size": 1000}})).await.unwrap();
    assert_eq!(small["links"]["upload"]["method"], "PUT", "{small}");
    let (status, _) = client.get(&format!("/v1/imports/{}/upload/parts", small["id"].as_str().unwrap())).await.unwrap();
    assert_eq!(status, 409);
    let big =
        client.create_import(&json!({"resource_type": "contact", "upload": {"size": 200u64 << 20}})).await.unwrap();
    assert_eq!(big["links"]["upload"]["method"], "MULTIPART", "over 100 MiB: {big}");
}

/// A file server on a free loopback port: `/contacts.csv` serves `file`, anything else 404.
async fn file_server(file: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/contacts.csv", axum::routing::get(move || async move { file }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_url_and_a_source_s3_object_are_pulled_and_import_exactly() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let csv = b"email,first_name\na@example.com,Ann\nb@example.com,Bob\nb@example.com,Bobby\nnot-an-email,X\n";
    let base = file_server(csv.to_vec()).await;
    let body = json!({"resource_type": "contact", "source": {"url": format!("{base}/contacts.csv")}});
    let import = client.create_import(&body).await.unwrap();
    assert!(import["links"]["upload"].is_null(), "a pulled source has no upload link: {import}");
    let import = client.wait_final(import["id"].as_str().unwrap(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(import["status"], "completed", "{import}");
    let stats = ["rows", "created", "duplicates", "errors"].map(|s| stat(&import, s));
    assert_eq!(stats, [4, 2, 1, 1], "{import}");
    assert_eq!(record(&client, "contact", "b@example.com").await["first_name"], "Bobby");

    // Another bucket of the emulator stands in for the tenant's, read as its role.
    let s3 = &host.clients.s3;
    let bucket = format!("tenant-{}", fastrand::u64(..));
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let gz = {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(b"email,first_name\nc@example.com,Cyd\nd@example.com,Dee\n").unwrap();
        encoder.finish().unwrap()
    };
    s3.put_object().bucket(&bucket).key("exports/contacts.csv.gz").body(gz.into()).send().await.unwrap();
    let role = "arn:aws:iam::123456789012:role/bulk-import-reader";
    let source = json!({"s3": {"bucket": bucket, "key": "exports/contacts.csv.gz", "role_arn": role, "external_id": "acme-7f3a"}});
    let import = pulled(&client, &json!({"resource_type": "contact", "source": source})).await;
    assert_eq!(import["status"], "completed", "{import}");
    assert_eq!([stat(&import, "rows"), stat(&import, "created")], [2, 2]);
    assert_eq!(import["file"]["compression"], "gzip");
    assert_eq!(import["source"]["s3"]["role_arn"], role);

    // What the source does not have fails the import with a reason.
    let missing =
        [json!({"url": format!("{base}/nope.csv")}), json!({"s3": {"bucket": bucket, "key": "exports/nope.csv"}})];
    for source in missing {
        let import = pulled(&client, &json!({"resource_type": "contact", "source": source})).await;
        assert_eq!(import["status"], "failed", "{import}");
        let reason = import["reason"].as_str().unwrap();
        assert!(reason.contains("404"), "{reason}");
    }
    // Another tenant's upload, through the service's own bucket: refused.
    let theirs = host.client("globex");
    let upload = theirs.create_import(&json!({"resource_type": "contact"})).await.unwrap();
    theirs.upload(&upload, csv.to_vec()).await.unwrap();
    let key = domain::import::upload_key("globex", upload["id"].as_str().unwrap());
    let source = json!({"s3": {"bucket": host.settings.uploads_bucket, "key": key}});
    let import = pulled(&client, &json!({"resource_type": "contact", "source": source})).await;
    assert_eq!(import["reason"], "source.s3: the service's own bucket is not a source", "{import}");
    let refused = json!({"resource_type": "contact", "source": {"url": "http://169.254.169.254/latest/meta-data/"}});
    let (status, answer) = client.call(Method::POST, "/v1/imports", Some(&refused)).await.unwrap();
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["details"][0]["field"], "source.url");
}

/// Creates an import of a pulled source and waits for its end.
async fn pulled(client: &local::client::Client, body: &Value) -> Value {
    let import = client.create_import(body).await.unwrap();
    client.wait_final(import["id"].as_str().unwrap(), IMPORT_TIMEOUT).await.unwrap()
}
