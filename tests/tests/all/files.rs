//! The files an import offers (docs/api.md, Files an import offers): the source and the errors files as signed GET
//! links, downloaded and checked, and the errors CSV imported again once fixed.

use serde_json::{json, Value};
use tests::{download, host, stat, IMPORT_TIMEOUT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_errors_csv_is_downloaded_fixed_and_imported_again() {
    let host = host(|o| o.chunk_rows = Some(2)).await;
    let client = host.client("acme");
    let file = "Email,Phone,Note\n\
                ann@example.com,+1 555 0100,ok\n\
                bob(at)example.com,+1 555 0101,=HYPERLINK(\"http://evil\")\n\
                cy@example.com,not a phone,ok\n\
                dee@example.com,,ok\n\
                ,+1 555 0104,no email\n";
    let import = client.import_file(&json!({"resource_type": "contact"}), file.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(import["status"], "completed", "{import}");
    assert_eq!([stat(&import, "created"), stat(&import, "errors")], [2, 3]);
    assert_eq!(import["has_errors_file"], true);
    assert_eq!(import["has_upload_file"], true);

    assert_eq!(download(&import["links"]["source"]).await, file.as_bytes());

    // One line per input row, across chunks of two rows, with the outcome and the record key.
    let results = String::from_utf8(download(&import["links"]["results_csv"]).await).unwrap();
    assert_eq!(
        results,
        "row,identifier,outcome,record_key\n\
         1,ann@example.com,created,ann@example.com\n\
         2,bob(at)example.com,error,\n\
         3,cy@example.com,error,\n\
         4,dee@example.com,created,dee@example.com\n\
         5,,error,\n"
    );

    let errors_csv = String::from_utf8(download(&import["links"]["errors_csv"]).await).unwrap();
    let lines: Vec<&str> = errors_csv.lines().collect();
    assert_eq!(lines[0], "Email,Phone,Note,error_row,error_field,error_code,error_message");
    assert_eq!(lines.len(), 4, "{errors_csv}");
    assert!(lines[1].starts_with("bob(at)example.com,'+1 555 0101,\"'=HYPERLINK("), "{}", lines[1]);
    assert!(lines[1].contains(",2,email,invalid_email,"), "{}", lines[1]);
    assert!(lines[2].contains(",3,phone,invalid_phone,"), "{}", lines[2]);
    assert!(lines[3].contains(",5,email,missing_identifier,"), "{}", lines[3]);

    let errors_json: Value = serde_json::from_slice(&download(&import["links"]["errors_json"]).await).unwrap();
    let rows: Vec<u64> = errors_json.as_array().unwrap().iter().map(|e| e["row"].as_u64().unwrap()).collect();
    assert_eq!(rows, [2, 3, 5]);
    assert_eq!(errors_json[0]["values"]["Note"], "=HYPERLINK(\"http://evil\")");

    // The user fixes the cells in place and uploads the file as it is.
    let fixed = errors_csv
        .replace("bob(at)example.com", "bob@example.com")
        .replace("not a phone", "+1 555 0102")
        .replace("\n,'+1 555 0104", "\neve@example.com,'+1 555 0104");
    let again = client.import_file(&json!({"resource_type": "contact"}), fixed.into(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(again["status"], "completed", "{again}");
    assert_eq!([stat(&again, "created"), stat(&again, "errors")], [3, 0], "{again}");
    assert_eq!(again["has_errors_file"], false);
    assert!(again["links"]["errors_csv"].is_null());
    let (_, bob) = client.get("/v1/records/contact/bob@example.com").await.unwrap();
    assert_eq!(bob["phone"], "+1 555 0101", "the neutralizing apostrophe is gone again");
}

/// A tenant's file is never served as a page: whatever it holds and whatever type it was
/// uploaded with, each signed link answers as an attachment of a fixed type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_links_download_as_attachments_of_a_fixed_type() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let file = "Email,Note\n<html><script>alert(1)</script></html>,x\nann@example.com,<b>hi</b>\n";
    let created = client.create_import(&json!({"resource_type": "contact"})).await.unwrap();
    let id = created["id"].as_str().unwrap();
    let upload = created["links"]["upload"]["url"].as_str().unwrap();
    let put = reqwest::Client::new().put(upload).header("content-type", "text/html").body(file).send().await.unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    let import = client.wait_final(id, IMPORT_TIMEOUT).await.unwrap();
    assert_eq!([stat(&import, "created"), stat(&import, "errors")], [1, 1], "{import}");

    for (link, suffix, content_type) in [
        ("source", "-source.csv", "application/octet-stream"),
        ("errors_csv", "-errors.csv", "text/csv"),
        ("errors_json", "-errors.json", "application/json"),
        ("results_csv", "-results.csv", "text/csv"),
    ] {
        let url = import["links"][link].as_str().unwrap_or_else(|| panic!("no {link} in {import}"));
        let resp = reqwest::get(url).await.unwrap();
        assert_eq!(resp.status(), 200, "{link}");
        let header = |name: &str| resp.headers().get(name).map(|v| v.to_str().unwrap().to_string());
        let disposition = format!("attachment; filename=\"{id}{suffix}\"");
        assert_eq!(header("content-disposition").as_deref(), Some(disposition.as_str()), "{link}");
        assert_eq!(header("content-type").as_deref(), Some(content_type), "{link}");
    }
}
