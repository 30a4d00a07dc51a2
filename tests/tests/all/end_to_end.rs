//! A contacts CSV imported over real HTTP: create, PUT to the signed URL, poll, read records.

use serde_json::json;
use tests::{all_records, contacts_csv, host, stat, IMPORT_TIMEOUT};

const INVALID: &[usize] = &[3, 250, 251, 499, 500, 777, 1000];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_a_thousand_rows_and_again_creates_nothing() {
    // Small chunks, so the file fans out over several transforms and many process batches.
    let host = host(|o| o.chunk_rows = Some(250)).await;
    let client = host.client("acme");
    let file = contacts_csv(1000, INVALID);

    let created = client.create_import(&json!({"resource_type": "contact", "reference": "crm-42"})).await.unwrap();
    assert_eq!(created["status"], "awaiting_upload");
    assert_eq!(created["links"]["upload"]["method"], "PUT");
    assert_eq!(created["reference"], "crm-42");
    client.upload(&created, file.clone()).await.unwrap();
    let import = client.wait_final(created["id"].as_str().unwrap(), IMPORT_TIMEOUT).await.unwrap();

    assert_eq!(import["status"], "completed", "{import}");
    // The phase it ended in: a merge has no cleanup.
    assert_eq!(import["phase"], "processing", "{import}");
    assert_eq!(stat(&import, "rows"), 1000);
    assert_eq!(stat(&import, "processed"), 1000);
    assert_eq!(stat(&import, "created"), 1000 - INVALID.len() as u64);
    assert_eq!(stat(&import, "errors"), INVALID.len() as u64);
    assert_eq!(import["file"]["rows"], 1000);
    assert_eq!(import["file"]["line_ending"], "crlf");
    assert_eq!(import["mappings"]["Email Address"], "email");
    assert_eq!(import["unmapped_headers"], json!(["Notes"]));
    assert!(import["links"]["upload"].is_null(), "the upload link is gone once the file arrived");
    assert!(import["completed_at"].is_string() && import["started_at"].is_string());

    let records = all_records(&client, "contact").await;
    assert_eq!(records.len(), 1000 - INVALID.len());
    let (status, one) = client.get("/v1/records/contact/PERSON42@example.com").await.unwrap();
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["email"], "Person42@Example.com");
    assert_eq!(one["company"], "Company 0, Inc.");
    assert_eq!(one["last_import_id"], import["id"]);
    let (status, _) = client.get("/v1/records/contact/broken-3-at-example").await.unwrap();
    assert_eq!(status, 404, "an invalid row writes nothing");

    let again = client.import_file(&json!({"resource_type": "contact"}), file, IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(again["status"], "completed", "{again}");
    assert_eq!(stat(&again, "created"), 0);
    assert_eq!(stat(&again, "updated"), 0);
    assert_eq!(stat(&again, "unchanged"), 1000 - INVALID.len() as u64);
    assert_eq!(stat(&again, "errors"), INVALID.len() as u64);
    assert_eq!(all_records(&client, "contact").await.len(), 1000 - INVALID.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_rows_update_and_duplicates_keep_the_last_copy() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let first = "email,first_name\na@example.com,Ann\nb@example.com,Bob\n";
    let import = client.import_file(&json!({"resource_type": "contact"}), first.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(stat(&import, "created"), 2);

    let second = "email,first_name\nA@example.com,Anna\nb@example.com,Bob\nc@example.com,Cy\nc@example.com,Cyd\n";
    let import = client.import_file(&json!({"resource_type": "contact"}), second.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(import["status"], "completed", "{import}");
    assert_eq!(
        [stat(&import, "updated"), stat(&import, "unchanged"), stat(&import, "created"), stat(&import, "duplicates")],
        [1, 1, 1, 1]
    );
    assert_eq!(stat(&import, "processed"), 4);
    let (_, a) = client.get("/v1/records/contact/a@example.com").await.unwrap();
    assert_eq!(a["first_name"], "Anna");
    let (_, c) = client.get("/v1/records/contact/c@example.com").await.unwrap();
    assert_eq!(c["first_name"], "Cyd", "the last copy wins");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_files_fail_with_a_reason_and_write_nothing() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let cases: [(&[u8], &str); 4] = [
        (b"", "no header"),
        (b"email,notes\na@example.com,\"never closed\nb@example.com,x\n", "row 1: a quoted field is never closed"),
        (b"name,phone\nAnn,1\n", "identifier field `email`"),
        (b"\x1F\x8B\x08\x00\x00\x00\x00\x00", "gzip stream is corrupt or cut short"),
    ];
    for (file, reason) in cases {
        let import =
            client.import_file(&json!({"resource_type": "contact"}), file.to_vec(), IMPORT_TIMEOUT).await.unwrap();
        assert_eq!(import["status"], "failed", "{import}");
        let got = import["reason"].as_str().unwrap_or_default();
        assert!(got.contains(reason), "reason `{got}` should say `{reason}`");
    }
    assert!(all_records(&client, "contact").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_excel_export_with_semicolons_and_windows_1252_imports() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let file =
        b"E-mail;Vorname;Nachname;Firma\r\nj\xfcrgen@example.de;J\xfcrgen;M\xfcller;M\xfcller & S\xf6hne\r\n".to_vec();
    let mappings = json!({"Vorname": "first_name", "Nachname": "last_name", "Firma": "company"});
    let import = client
        .import_file(&json!({"resource_type": "contact", "mappings": mappings}), file, IMPORT_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(import["status"], "completed", "{import}");
    assert_eq!(import["file"]["detected_encoding"], "windows-1252");
    assert_eq!(import["file"]["delimiter"], ";");
    let (status, record) = client.get("/v1/records/contact/j%C3%BCrgen@example.de").await.unwrap();
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["last_name"], "Müller");
    assert_eq!(record["company"], "Müller & Söhne");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_and_groups_import_with_typed_and_normalized_fields() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let accounts = "Account ID,Account Name,Website,Number of Employees,Annual Revenue,Country,Tags\n\
                    A-1,Acme,https://www.acme.example/about,\"1,200\",\"2,500,000.50\",United States,\"b2b, enterprise\"\n\
                    A-2,Globex,globex.example,many,10,Atlantis,\n";
    let import =
        client.import_file(&json!({"resource_type": "account"}), accounts.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(import["status"], "completed", "{import}");
    assert_eq!([stat(&import, "created"), stat(&import, "errors")], [1, 1], "{import}");
    let (status, acme) = client.get("/v1/records/account/A-1").await.unwrap();
    assert_eq!(status, 200, "{acme}");
    assert_eq!(acme["domain"], "www.acme.example");
    assert_eq!(acme["employees"], 1200);
    assert_eq!(acme["annual_revenue"], "2500000.50");
    assert_eq!(acme["country"], "US");
    assert_eq!(acme["tags"], json!(["b2b", "enterprise"]));

    let groups = "Group Name,Description\nNewsletter,Monthly news\nVIP,\n";
    let import = client.import_file(&json!({"resource_type": "group"}), groups.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(stat(&import, "created"), 2, "{import}");
    let (status, vip) = client.get("/v1/records/group/VIP").await.unwrap();
    assert_eq!((status, &vip["name"]), (200, &json!("VIP")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_only_file_completes_with_no_rows() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let import = client
        .import_file(&json!({"resource_type": "contact"}), b"email,name\r\n".to_vec(), IMPORT_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(import["status"], "completed", "{import}");
    assert_eq!((stat(&import, "rows"), stat(&import, "processed")), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_create_is_a_400_naming_each_field_and_creates_nothing() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let (status, body) = client
        .call(
            reqwest::Method::POST,
            "/v1/imports",
            Some(&json!({"resource_type": "contact", "format": "xml", "colour": "red", "mappings": {"E": "shoe"}})),
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
    let mut fields: Vec<&str> =
        body["error"]["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    fields.sort();
    assert_eq!(fields, ["colour", "format", "mappings.E"]);
    let (_, list) = client.get("/v1/imports").await.unwrap();
    assert_eq!(list["data"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_list_newest_first_with_cursors() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(client.create_import(&json!({"resource_type": "contact"})).await.unwrap()["id"].clone());
    }
    ids.reverse();
    // Another tenant's imports are in neither listing (nor in the status index's partition).
    host.client("other").create_import(&json!({"resource_type": "contact"})).await.unwrap();
    for listing in ["/v1/imports?limit=2", "/v1/imports?status=awaiting_upload&limit=2"] {
        let mut seen = Vec::new();
        let mut path = listing.to_string();
        loop {
            let (status, page) = client.get(&path).await.unwrap();
            assert_eq!(status, 200, "{page}");
            seen.extend(page["data"].as_array().unwrap().iter().map(|i| i["id"].clone()));
            match page["next_cursor"].as_str() {
                Some(c) => path = format!("{listing}&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen, ids, "{listing}");
    }
    let (_, filtered) = client.get("/v1/imports?status=completed").await.unwrap();
    assert_eq!(filtered["data"], json!([]));
    // A status change moves the import to its new status's listing.
    let path = format!("/v1/imports/{}", ids[1].as_str().unwrap());
    let (status, _) = client.call(reqwest::Method::PATCH, &path, Some(&json!({"interrupt": true}))).await.unwrap();
    assert_eq!(status, 200);
    let listed = |status: &'static str| {
        let client = client.clone();
        async move {
            let (_, page) = client.get(&format!("/v1/imports?status={status}")).await.unwrap();
            page["data"].as_array().unwrap().iter().map(|i| i["id"].clone()).collect::<Vec<_>>()
        }
    };
    assert_eq!(listed("interrupted").await, [ids[1].clone()]);
    assert_eq!(listed("awaiting_upload").await.len(), 4);
    let (status, bad) = client.get("/v1/imports?status=done&limit=0").await.unwrap();
    assert_eq!(status, 400, "{bad}");
}
