//! Each subcommand as a function over the API; each returns the process's exit code.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::api::Api;
use crate::follow::{self, Follow};
use crate::outcome;
use crate::routes::{escape, import_path, with_query};
use crate::summary::{self, emit, Output};
use crate::CliError;

/// What `importctl import` is asked.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    pub file: PathBuf,
    /// contact, group or account.
    #[arg(long = "type", value_parser = ["contact", "group", "account"])]
    pub resource_type: String,
    /// merge (the default), overwrite or delete.
    #[arg(long, value_parser = ["merge", "overwrite", "delete"])]
    pub action: Option<String>,
    /// csv, json or jsonl; by default from the file's extension (csv otherwise).
    #[arg(long, value_parser = ["csv", "json", "jsonl"])]
    pub format: Option<String>,
    /// 'File Header=field'; 'File Header=' ignores the column. Repeatable.
    #[arg(long = "map")]
    pub maps: Vec<String>,
    /// 'field=value' set on every record. Repeatable.
    #[arg(long = "constant")]
    pub constants: Vec<String>,
    /// Stop at preview_ready (start it with PATCH {"in_preview": false}).
    #[arg(long)]
    pub preview: bool,
    /// Run every phase without writing records.
    #[arg(long)]
    pub dry_run: bool,
    /// Follow the import with a progress bar until it ends.
    #[arg(long)]
    pub wait: bool,
    /// Save the errors CSV here once the import ends.
    #[arg(long, requires = "wait")]
    pub errors: Option<PathBuf>,
    /// Stop waiting after this many seconds (exit code 7).
    #[arg(long, requires = "wait")]
    pub timeout: Option<u64>,
}

/// The create body the arguments describe.
pub fn create_body(args: &ImportArgs) -> Result<Value, CliError> {
    let mut body = Map::new();
    body.insert("resource_type".into(), json!(args.resource_type));
    if let Some(action) = &args.action {
        body.insert("action".into(), json!(action));
    }
    let format = args.format.clone().or_else(|| match args.file.extension().and_then(|e| e.to_str()) {
        Some("json") => Some("json".into()),
        Some("jsonl" | "ndjson") => Some("jsonl".into()),
        _ => None,
    });
    if let Some(format) = format {
        body.insert("format".into(), json!(format));
    }
    if !args.maps.is_empty() {
        let mut mappings = Map::new();
        for map in &args.maps {
            // Headers may hold '=', field names never do; `Header=` ignores the column.
            let (header, field) = map
                .rsplit_once('=')
                .ok_or_else(|| CliError::Usage(format!("--map {map:?}: expected 'File Header=field'")))?;
            let field = if field.is_empty() { Value::Null } else { json!(field) };
            mappings.insert(header.into(), field);
        }
        body.insert("mappings".into(), Value::Object(mappings));
    }
    if !args.constants.is_empty() {
        let mut constants = Map::new();
        for constant in &args.constants {
            let (field, value) = constant
                .split_once('=')
                .ok_or_else(|| CliError::Usage(format!("--constant {constant:?}: expected 'field=value'")))?;
            constants.insert(field.into(), json!(value));
        }
        body.insert("constants".into(), Value::Object(constants));
    }
    if args.preview {
        body.insert("in_preview".into(), json!(true));
    }
    if args.dry_run {
        body.insert("dry_run".into(), json!(true));
    }
    Ok(Value::Object(body))
}

/// Creates the import, uploads the file, and with `--wait` follows it to its end.
pub async fn import(api: &Api, args: &ImportArgs, output: Output) -> Result<u8, CliError> {
    let drawn = follow::drawn();
    let metadata = std::fs::metadata(&args.file).map_err(CliError::io(args.file.display().to_string()))?;
    // The upload states its length up front: a pipe's is not known.
    if !metadata.is_file() {
        return Err(CliError::Usage(format!("{} is not a regular file", args.file.display())));
    }
    let created = api.call(Method::POST, "/v1/imports", Some(&create_body(args)?)).await?;
    let id =
        created["id"].as_str().ok_or_else(|| CliError::Usage(format!("the create answer has no id: {created}")))?;
    let bar = follow::upload_bar(metadata.len(), drawn);
    let shown = bar.clone();
    if let Err(e) = api.upload(&created["links"]["upload"], &args.file, move |n| shown.inc(n)).await {
        eprintln!("importctl: import {id} was created, but its upload failed");
        return Err(e);
    }
    bar.finish();
    let import = if args.wait {
        let timeout = args.timeout.map(Duration::from_secs);
        let how = Follow { preview: args.preview, timeout, every: Duration::from_millis(500) };
        follow::follow(api, id, &how, drawn).await?
    } else {
        uploaded(api, id).await?
    };
    let status = import["status"].as_str().unwrap_or_default();
    // A failed download is told, not the import's outcome: the exit code stays the import's.
    let saved = match &args.errors {
        Some(path) => save_errors(api, &import, path).await.unwrap_or_else(|e| {
            eprintln!("importctl: the errors file was not saved: {e}");
            None
        }),
        None => None,
    };
    match output {
        Output::Json => emit(format_args!("{import}\n")),
        Output::Table => {
            emit(summary::import_table(&import));
            let row_errors = import["stats"]["errors"].as_u64().unwrap_or(0);
            match (saved, &args.errors) {
                (Some(bytes), Some(path)) => {
                    emit(format_args!("errors file saved to {} ({bytes} bytes)\n", path.display()))
                }
                (None, Some(_)) if outcome::is_final(status) && row_errors == 0 => {
                    emit(format_args!("no errors file: no row errors\n"))
                }
                _ => {}
            }
        }
    }
    if !args.wait {
        return Ok(outcome::OK);
    }
    Ok(outcome::of_status(status, args.preview))
}

/// The import once the service has taken its upload: the S3 notification that moves it on from
/// `awaiting_upload` comes a moment after the PUT, and showing that status after a good upload
/// reads as if the file were lost. Waits at most a few seconds, then shows what there is.
async fn uploaded(api: &Api, id: &str) -> Result<Value, CliError> {
    let started = std::time::Instant::now();
    loop {
        let import = api.get(&import_path(id)).await?;
        if import["status"] != "awaiting_upload" || started.elapsed() > Duration::from_secs(10) {
            return Ok(import);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Saves the import's errors CSV when it has one; the bytes saved.
async fn save_errors(api: &Api, import: &Value, to: &Path) -> Result<Option<u64>, CliError> {
    match import["links"]["errors_csv"].as_str() {
        Some(url) => Ok(Some(api.download(url, to).await?)),
        None => Ok(None),
    }
}

/// `status`, `interrupt` and `revert`: one import, as the API answers for it.
pub async fn one(api: &Api, method: Method, path: &str, body: Option<Value>, output: Output) -> Result<u8, CliError> {
    let import = api.call(method, path, body.as_ref()).await?;
    match output {
        Output::Json => emit(format_args!("{import}\n")),
        Output::Table => emit(summary::import_table(&import)),
    }
    Ok(outcome::OK)
}

pub async fn list(api: &Api, query: &[(&str, Option<String>)], output: Output) -> Result<u8, CliError> {
    let page = api.get(&with_query("/v1/imports", query)).await?;
    match output {
        Output::Json => emit(format_args!("{page}\n")),
        Output::Table => emit(summary::list_table(&page)),
    }
    Ok(outcome::OK)
}

/// Records are the tenant's own shapes: JSON either way, one record per line for a listing.
pub async fn records(
    api: &Api,
    resource_type: &str,
    identifier: Option<&str>,
    query: &[(&str, Option<String>)],
    output: Output,
) -> Result<u8, CliError> {
    let path = match identifier {
        Some(id) => format!("/v1/records/{resource_type}/{}", escape(id)),
        None => with_query(&format!("/v1/records/{resource_type}"), query),
    };
    let answer = api.get(&path).await?;
    match (output, identifier) {
        (Output::Table, None) => {
            for record in answer["data"].as_array().into_iter().flatten() {
                emit(format_args!("{record}\n"));
            }
            if let Some(cursor) = answer["next_cursor"].as_str() {
                eprintln!("more: --cursor {cursor}");
            }
        }
        (Output::Table, Some(_)) => {
            emit(format_args!("{}\n", serde_json::to_string_pretty(&answer).unwrap_or_default()))
        }
        (Output::Json, _) => emit(format_args!("{answer}\n")),
    }
    Ok(outcome::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ImportArgs {
        ImportArgs {
            file: "people.csv".into(),
            resource_type: "contact".into(),
            action: None,
            format: None,
            maps: vec![],
            constants: vec![],
            preview: false,
            dry_run: false,
            wait: false,
            errors: None,
            timeout: None,
        }
    }

    #[test]
    fn the_body_says_only_what_was_asked() {
        assert_eq!(create_body(&args()).unwrap(), json!({"resource_type": "contact"}));
        let asked = ImportArgs {
            file: "people.jsonl".into(),
            action: Some("overwrite".into()),
            maps: vec!["E-mail=email".into(), "a=b=c".into(), "Notes=".into()],
            constants: vec!["status=subscribed".into(), "custom.note=x=y".into()],
            preview: true,
            dry_run: true,
            ..args()
        };
        let body = create_body(&asked).unwrap();
        assert_eq!(
            body,
            json!({"resource_type": "contact", "action": "overwrite", "format": "jsonl",
                "mappings": {"E-mail": "email", "a=b": "c", "Notes": null},
                "constants": {"status": "subscribed", "custom.note": "x=y"},
                "in_preview": true, "dry_run": true})
        );
        let bad = ImportArgs { maps: vec!["no equals sign".into()], ..args() };
        assert!(matches!(create_body(&bad), Err(CliError::Usage(m)) if m.contains("--map")));
    }
}
