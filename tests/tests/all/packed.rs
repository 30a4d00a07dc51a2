//! Files as users have them: gzip, zstd and zip CSVs, Excel workbooks, and JSON sent without a
//! format, all told from their bytes; a cut stream and a decompression bomb fail with reasons.

use std::io::Write;

use rust_xlsxwriter::{ExcelDateTime, Format as CellFormat, Formula, Workbook};
use serde_json::{json, Value};
use tests::{all_records, host, record, stat, IMPORT_TIMEOUT};

fn rows(n: usize) -> Vec<u8> {
    let mut csv = b"Email,First Name\n".to_vec();
    for i in 0..n {
        writeln!(csv, "user{i}@example.com,User {i}").unwrap();
    }
    writeln!(csv, "user0@example.com,Again").unwrap();
    writeln!(csv, "not-an-email,Bad").unwrap();
    csv
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in files {
        writer.start_file(*name, options).unwrap();
        writer.write_all(data).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_zstd_and_zip_csvs_import_exactly_and_say_how_they_were_packed() {
    let host = host(|o| o.chunk_rows = Some(40)).await;
    let client = host.client("acme");
    let csv = rows(100);
    let packed = [
        ("gzip", gzip(&csv)),
        ("zstd", zstd::encode_all(&csv[..], 3).unwrap()),
        ("zip", zip(&[("__MACOSX/._contacts.csv", b"junk"), ("export/contacts.csv", &csv)])),
    ];
    for (i, (compression, file)) in packed.into_iter().enumerate() {
        let compressed = file.len() as u64;
        let import = client.import_file(&json!({"resource_type": "contact"}), file, IMPORT_TIMEOUT).await.unwrap();
        assert_eq!(import["status"], "completed", "{compression}: {import}");
        let stats = ["rows", "created", "unchanged", "duplicates", "errors"].map(|s| stat(&import, s));
        let (created, unchanged) = if i == 0 { (100, 0) } else { (0, 100) };
        assert_eq!(stats, [102, created, unchanged, 1, 1], "{compression}: {import}");
        let file = &import["file"];
        assert_eq!(file["compression"], compression, "{import}");
        assert_eq!(file["format"], "csv");
        assert_eq!(file["size"], csv.len() as u64, "the size counts the data, decompressed");
        assert_eq!(file["compressed_size"], compressed);
        assert_eq!(file["rows"], 102);
    }
    assert_eq!(all_records(&client, "contact").await.len(), 100);
    assert_eq!(record(&client, "contact", "user0@example.com").await["first_name"], "Again");
    assert_eq!(record(&client, "contact", "user99@example.com").await["first_name"], "User 99");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zip_of_several_files_imports_the_one_named_and_otherwise_says_which_it_holds() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let file = zip(&[("a.csv", b"email\na@example.com\n"), ("b.csv", b"email\nb@example.com\nc@example.com\n")]);
    let import = client.import_file(&json!({"resource_type": "contact"}), file.clone(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(import["status"], "failed");
    let reason = import["reason"].as_str().unwrap();
    assert!(reason.contains("`a.csv`, `b.csv`") && reason.contains("zip_entry"), "{reason}");

    let body = json!({"resource_type": "contact", "zip_entry": "b.csv"});
    let import = client.import_file(&body, file, IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(import["status"], "completed", "{import}");
    assert_eq!(stat(&import, "created"), 2);
    assert_eq!(import["zip_entry"], "b.csv");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_gzip_a_corrupt_zstd_and_a_zip_bomb_fail_with_reasons_and_write_nothing() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let whole = gzip(&rows(20_000));
    let mut corrupt = zstd::encode_all(&rows(20_000)[..], 3).unwrap();
    let middle = corrupt.len() / 2;
    corrupt[middle..middle + 64].fill(0xA5);
    // 200 MB of rows deflate to about 200 KB: more than a hundred times.
    let line = b"bomb@example.com,Bomb\n";
    let mut bomb_csv = b"email,first_name\n".to_vec();
    bomb_csv.extend(line.repeat(200 * 1024 * 1024 / line.len()));
    let bomb = zip(&[("contacts.csv", &bomb_csv)]);
    drop(bomb_csv);
    let cases = [
        (whole[..whole.len() / 2].to_vec(), "the gzip stream is corrupt or cut short"),
        (corrupt, "the zstd stream is corrupt or cut short"),
        (bomb, "decompression bomb"),
        (b"\x1F\x8B\x08\x00\x00\x00\x00\x00".to_vec(), "gzip stream is corrupt or cut short"),
    ];
    for (file, reason) in cases {
        let import = client.import_file(&json!({"resource_type": "contact"}), file, IMPORT_TIMEOUT).await.unwrap();
        assert_eq!(import["status"], "failed", "{import}");
        let got = import["reason"].as_str().unwrap_or_default();
        assert!(got.contains(reason), "reason `{got}` should say `{reason}`");
    }
    let body = json!({"resource_type": "contact", "compression": "zstd"});
    let import = client.import_file(&body, gzip(b"email\na@example.com\n"), IMPORT_TIMEOUT).await.unwrap();
    assert!(import["reason"].as_str().unwrap().contains("compression is zstd"), "{import}");
    assert!(all_records(&client, "contact").await.is_empty());
}

/// A workbook as Excel saves one: a header, typed cells, a formula with its cached value, an
/// empty row in the middle and a styled empty row and column after the data.
fn workbook() -> Vec<u8> {
    let mut book = Workbook::new();
    let notes = book.add_worksheet();
    notes.set_name("Notes").unwrap();
    notes.write(0, 0, "email").unwrap();
    notes.write(1, 0, "notes@example.com").unwrap();
    let sheet = book.add_worksheet();
    sheet.set_name("Contacts").unwrap();
    let date = CellFormat::new().set_num_format("yyyy-mm-dd");
    let stamp = CellFormat::new().set_num_format("yyyy-mm-dd hh:mm");
    let header = [
        "Email",
        "First Name",
        "custom.joined",
        "custom.seen",
        "custom.seats",
        "custom.score",
        "custom.active",
        "custom.total",
    ];
    for (col, name) in header.iter().enumerate() {
        sheet.write(0, col as u16, *name).unwrap();
    }
    sheet.write(1, 0, "ada@example.com").unwrap();
    sheet.write(1, 1, "Ada").unwrap();
    sheet.write_with_format(1, 2, ExcelDateTime::from_ymd(2024, 3, 1).unwrap(), &date).unwrap();
    let seen = ExcelDateTime::from_ymd(2024, 3, 1).unwrap().and_hms(13, 45, 0).unwrap();
    sheet.write_with_format(1, 3, &seen, &stamp).unwrap();
    sheet.write(1, 4, 12).unwrap();
    sheet.write(1, 5, 0.25).unwrap();
    sheet.write(1, 6, true).unwrap();
    sheet.write_formula(1, 7, Formula::new("=E2*2").set_result("24")).unwrap();
    // Row 3 is empty; row 4 is Bob.
    sheet.write(3, 0, "bob@example.com").unwrap();
    sheet.write(3, 1, "Bob").unwrap();
    sheet.write(3, 4, 3.0).unwrap();
    sheet.write(3, 6, false).unwrap();
    sheet.write_formula(3, 7, Formula::new("=E4*2").set_result("6")).unwrap();
    let blank = CellFormat::new().set_bold();
    sheet.write_blank(5, 0, &blank).unwrap();
    sheet.write_blank(1, 10, &blank).unwrap();
    book.save_to_buffer().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_xlsx_sheet_imports_its_cells_as_a_user_reads_them() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let body = json!({"resource_type": "contact", "xlsx": {"sheet": "Contacts"}});
    let import = client.import_file(&body, workbook(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(import["status"], "completed", "{import}");
    assert_eq!([stat(&import, "rows"), stat(&import, "created"), stat(&import, "errors")], [2, 2, 0], "{import}");
    let file = &import["file"];
    assert_eq!(file["format"], "xlsx", "{import}");
    assert_eq!(file["sheet"], "Contacts");
    assert_eq!(file["sheets"], json!(["Notes", "Contacts"]));
    assert_eq!(file["rows"], 2);
    let ada = record(&client, "contact", "ada@example.com").await;
    assert_eq!(ada["first_name"], "Ada");
    let custom = |r: &Value, k: &str| r["custom"][k].clone();
    assert_eq!(custom(&ada, "joined"), "2024-03-01");
    assert_eq!(custom(&ada, "seen"), "2024-03-01T13:45:00");
    assert_eq!(custom(&ada, "seats"), "12", "a whole number has no fraction");
    assert_eq!(custom(&ada, "score"), "0.25");
    assert_eq!(custom(&ada, "active"), "true");
    assert_eq!(custom(&ada, "total"), "24", "a formula imports its cached value");
    let bob = record(&client, "contact", "bob@example.com").await;
    assert_eq!(
        [custom(&bob, "seats"), custom(&bob, "active"), custom(&bob, "total")],
        [json!("3"), json!("false"), json!("6")]
    );

    // Without a sheet the first imports: `Notes`, by index 0.
    let import = client
        .import_file(&json!({"resource_type": "contact", "format": "xlsx"}), workbook(), IMPORT_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(import["file"]["sheet"], "Notes", "{import}");
    assert_eq!(stat(&import, "created"), 1);
    let body = json!({"resource_type": "contact", "xlsx": {"sheet": 5}});
    let import = client.import_file(&body, workbook(), IMPORT_TIMEOUT).await.unwrap();
    let reason = import["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("no sheet at index 5") && reason.contains("`Contacts`"), "{import}");
    let body = json!({"resource_type": "contact", "format": "csv"});
    let import = client.import_file(&body, workbook(), IMPORT_TIMEOUT).await.unwrap();
    assert!(import["reason"].as_str().unwrap_or_default().contains("send format xlsx or auto"), "{import}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_and_json_lines_sent_without_a_format_are_told_by_their_first_byte() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let array =
        b"\xEF\xBB\xBF\n  [{\"email\": \"a@example.com\", \"first_name\": \"Ann\"}, {\"email\": \"b@example.com\"}]";
    let import =
        client.import_file(&json!({"resource_type": "contact"}), array.to_vec(), IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(import["status"], "completed", "{import}");
    assert_eq!(import["format"], "auto");
    assert_eq!(import["file"]["format"], "json");
    assert_eq!(stat(&import, "created"), 2);
    let lines = gzip(b"{\"email\": \"c@example.com\"}\n{\"email\": \"d@example.com\"}\n");
    let import = client.import_file(&json!({"resource_type": "contact"}), lines, IMPORT_TIMEOUT).await.unwrap();
    assert_eq!(import["status"], "completed", "{import}");
    assert_eq!([&import["file"]["format"], &import["file"]["compression"]], ["jsonl", "gzip"]);
    assert_eq!(stat(&import, "created"), 2);
    assert_eq!(record(&client, "contact", "a@example.com").await["first_name"], "Ann");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packing_options_are_checked_when_the_import_is_created() {
    let host = host(|_| {}).await;
    let client = host.client("acme");
    let cases = [
        (json!({"resource_type": "contact", "compression": "rar"}), "compression"),
        (json!({"resource_type": "contact", "compression": "gzip", "zip_entry": "a.csv"}), "zip_entry"),
        (json!({"resource_type": "contact", "format": "csv", "xlsx": {"sheet": 1}}), "xlsx"),
        (json!({"resource_type": "contact", "xlsx": {"sheet": [1]}}), "xlsx.sheet"),
        (json!({"resource_type": "contact", "xlsx": {"tab": 1}}), "xlsx.tab"),
        (json!({"resource_type": "contact", "format": "xls"}), "format"),
        (
            json!({"resource_type": "contact", "inputs": [{"email": "a@example.com"}], "compression": "gzip"}),
            "compression",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = client.call(reqwest::Method::POST, "/v1/imports", Some(&body)).await.unwrap();
        assert_eq!(status, 400, "{body}: {answer}");
        let fields: Vec<&str> =
            answer["error"]["details"].as_array().unwrap().iter().filter_map(|d| d["field"].as_str()).collect();
        assert_eq!(fields, [field], "{body}: {answer}");
    }
}
