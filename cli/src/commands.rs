//! Each subcommand as a function over the API; each returns the process's exit code.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::api::Api;
use crate::follow::{self, Follow, Until};
use crate::routes::{escape, import_path, with_query};
use crate::summary::{self, emit, Output};
use crate::CliError;
use crate::{outcome, preview, upload};

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
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Stop at preview_ready: `importctl preview ID` shows it, `importctl start ID` starts it.
    #[arg(long)]
    pub preview: bool,
    /// Run every phase without writing records (`importctl start ID` then runs it for real).
    #[arg(long)]
    pub dry_run: bool,
    /// Upload in parts, several at once, whatever the file's size (over 100 MiB it always is):
    /// a failed upload then resumes from the parts sent.
    #[arg(long)]
    pub multipart: bool,
    /// Print only the import's id (for scripts: ID=$(importctl import ... -q)).
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// The settings a run takes, at create or when a preview or dry run is started.
#[derive(Debug, Default, clap::Args)]
pub struct SettingsArgs {
    /// 'File Header=field'; 'File Header=' ignores the column. Repeatable.
    #[arg(long = "map")]
    pub maps: Vec<String>,
    /// 'field:file value=value': the value a field gets for a value of the file, e.g.
    /// 'status:Yes=subscribed'. Repeatable.
    #[arg(long = "value-map")]
    pub value_maps: Vec<String>,
    /// 'field=value' set on every record. Repeatable.
    #[arg(long = "constant")]
    pub constants: Vec<String>,
    /// A template whose settings are the defaults of these: its id (its latest version), or
    /// 'auto' (the tenant's template that best matches the file's headers, if any does).
    #[arg(long, value_name = "ID|auto")]
    pub template: Option<String>,
    /// That version of --template.
    #[arg(long, requires = "template", value_name = "N")]
    pub template_version: Option<u32>,
}

/// Following an import to its end.
#[derive(Debug, Default, clap::Args)]
pub struct WaitArgs {
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

/// What `importctl resume` is asked: the import whose upload failed, and its file again.
#[derive(Debug, clap::Args)]
pub struct ResumeArgs {
    pub id: String,
    /// The file the import was created for, unchanged.
    pub file: PathBuf,
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// What `importctl start` is asked: the preview or dry run to start, with corrected settings.
#[derive(Debug, clap::Args)]
pub struct StartArgs {
    pub id: String,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub wait: WaitArgs,
}

impl SettingsArgs {
    /// Adds `mappings`, `value_mappings`, `constants` and `template` to a body, each only when given.
    fn insert_into(&self, body: &mut Map<String, Value>) -> Result<(), CliError> {
        if !self.maps.is_empty() {
            // Headers may hold '=', field names never do; `Header=` ignores the column.
            let pairs = parse_each(&self.maps, "--map", "File Header=field", |m| m.rsplit_once('='))?;
            let field = |f: &str| if f.is_empty() { Value::Null } else { json!(f) };
            let mappings = pairs.into_iter().map(|(header, f)| (header.to_string(), field(f))).collect();
            body.insert("mappings".into(), Value::Object(mappings));
        }
        if !self.value_maps.is_empty() {
            // Field names hold no ':'; a file value may hold '=', a field's value rarely does.
            let triples = parse_each(&self.value_maps, "--value-map", "field:file value=value", |pair| {
                let (field, rest) = pair.split_once(':').filter(|(field, _)| !field.is_empty())?;
                Some((field, rest.rsplit_once('=')?))
            })?;
            let mut fields = Map::new();
            for (field, (from, to)) in triples {
                let pairs = fields.entry(field).or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(pairs) = pairs {
                    pairs.insert(from.into(), json!(to));
                }
            }
            body.insert("value_mappings".into(), Value::Object(fields));
        }
        if !self.constants.is_empty() {
            let pairs = parse_each(&self.constants, "--constant", "field=value", |c| c.split_once('='))?;
            let constants = pairs.into_iter().map(|(field, value)| (field.to_string(), json!(value))).collect();
            body.insert("constants".into(), Value::Object(constants));
        }
        if let Some(template) = &self.template {
            let named = match self.template_version {
                Some(version) => json!({"id": template, "version": version}),
                None => json!(template),
            };
            body.insert("template".into(), named);
        }
        Ok(())
    }
}

/// Each value of a repeatable flag as `parse` reads it, or the usage error that shows its shape.
fn parse_each<'a, T>(
    values: &'a [String],
    flag: &str,
    shape: &str,
    parse: impl Fn(&'a str) -> Option<T>,
) -> Result<Vec<T>, CliError> {
    let wrong = |value: &str| CliError::Usage(format!("{flag} {value:?}: expected '{shape}'"));
    values.iter().map(|value| parse(value).ok_or_else(|| wrong(value))).collect()
}

/// The create body the arguments describe, for a file of `size` bytes.
pub fn create_body(args: &ImportArgs, size: u64) -> Result<Value, CliError> {
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
    args.settings.insert_into(&mut body)?;
    if args.preview {
        body.insert("in_preview".into(), json!(true));
    }
    if args.dry_run {
        body.insert("dry_run".into(), json!(true));
    }
    // The size decides a multipart upload, and its parts.
    let mut upload = Map::new();
    upload.insert("size".into(), json!(size));
    if args.multipart {
        upload.insert("multipart".into(), json!(true));
    }
    body.insert("upload".into(), Value::Object(upload));
    Ok(Value::Object(body))
}

/// Creates the import, uploads the file, and with `--wait` follows it to its end.
pub async fn import(api: &Api, args: &ImportArgs, output: Output) -> Result<u8, CliError> {
    let drawn = follow::drawn() && !args.quiet;
    let size = file_size(&args.file)?;
    let created = api.call(Method::POST, "/v1/imports", Some(&create_body(args, size)?)).await?;
    let id =
        created["id"].as_str().ok_or_else(|| CliError::Usage(format!("the create answer has no id: {created}")))?;
    upload(api, id, &created["links"]["upload"], &args.file, size, drawn).await?;
    let until = if args.preview { Until::Preview } else { Until::Final };
    let import = after_upload(api, id, &args.wait, until, drawn).await?;
    if args.quiet {
        emit(format_args!("{id}\n"));
        // Saving the errors file and the exit code stay as without it.
        return conclude(api, &import, &args.wait, until, None).await;
    }
    conclude(api, &import, &args.wait, until, Some(output)).await
}

/// `resume`: finishes the upload of an import still awaiting its file (a multipart upload sends
/// only the parts the bucket does not hold, a single PUT the whole file again), then goes on as
/// `import` after its upload.
pub async fn resume(api: &Api, args: &ResumeArgs, output: Output) -> Result<u8, CliError> {
    let size = file_size(&args.file)?;
    let import = api.get(&import_path(&args.id)).await?;
    let status = import["status"].as_str().unwrap_or("unknown");
    if status != "awaiting_upload" {
        let why = "resume takes an import still awaiting its upload";
        return Err(CliError::Usage(format!("import {} is {status}: {why}", args.id)));
    }
    // Another file, or this one changed since: its parts would not make the file declared.
    if let Some(declared) = import["upload"]["size"].as_u64().filter(|declared| *declared != size) {
        return Err(CliError::Usage(format!(
            "{} is {size} bytes, but import {} was created for a file of {declared} bytes",
            args.file.display(),
            args.id
        )));
    }
    let drawn = follow::drawn();
    upload(api, &args.id, &import["links"]["upload"], &args.file, size, drawn).await?;
    let until = if import["in_preview"] == true { Until::Preview } else { Until::Final };
    let import = after_upload(api, &args.id, &args.wait, until, drawn).await?;
    conclude(api, &import, &args.wait, until, Some(output)).await
}

/// The length of the file to upload: an upload states it up front, and a pipe's is not known.
fn file_size(file: &Path) -> Result<u64, CliError> {
    let metadata = std::fs::metadata(file).map_err(CliError::io(file.display().to_string()))?;
    if !metadata.is_file() {
        return Err(CliError::Usage(format!("{} is not a regular file", file.display())));
    }
    Ok(metadata.len())
}

/// Uploads the file with a byte progress bar; a failure says how to finish the upload.
async fn upload(api: &Api, id: &str, link: &Value, file: &Path, size: u64, drawn: bool) -> Result<(), CliError> {
    let bar = follow::upload_bar(size, drawn);
    if let Err(e) = upload::send(api, link, file, size, &bar).await {
        eprintln!(
            "importctl: the upload of import {id} failed; `importctl resume {id} {}` finishes it",
            file.display()
        );
        return Err(e);
    }
    bar.finish();
    Ok(())
}

/// The import once its file is sent: followed to its end with `--wait`, or as the service took it.
async fn after_upload(api: &Api, id: &str, args: &WaitArgs, until: Until, drawn: bool) -> Result<Value, CliError> {
    if args.wait {
        wait(api, id, args, until, drawn).await
    } else {
        uploaded(api, id).await
    }
}

/// Starts a preview, or runs a completed dry run for real, with the settings given; with
/// `--wait` follows it to its end.
pub async fn start(api: &Api, args: &StartArgs, output: Output) -> Result<u8, CliError> {
    let path = import_path(&args.id);
    let import = api.get(&path).await?;
    let mut body = Map::new();
    match (import["status"].as_str(), import["dry_run"] == true) {
        (Some("preview_ready"), _) => body.insert("in_preview".into(), json!(false)),
        (Some("completed"), true) => body.insert("dry_run".into(), json!(false)),
        (status, _) => {
            let status = status.unwrap_or("unknown");
            return Err(CliError::Usage(format!(
                "import {} is {status}: start takes a preview (preview_ready) or a completed dry run",
                args.id
            )));
        }
    };
    args.settings.insert_into(&mut body)?;
    let started = api.call(Method::PATCH, &path, Some(&Value::Object(body))).await?;
    let import =
        if args.wait.wait { wait(api, &args.id, &args.wait, Until::Final, follow::drawn()).await? } else { started };
    conclude(api, &import, &args.wait, Until::Final, Some(output)).await
}

async fn wait(api: &Api, id: &str, args: &WaitArgs, until: Until, drawn: bool) -> Result<Value, CliError> {
    let how = Follow { until, timeout: args.timeout.map(Duration::from_secs), every: Duration::from_millis(500) };
    follow::follow(api, id, &how, drawn).await
}

/// Saves the errors file when asked, prints the import (unless `output` is none), and gives the
/// exit code of how it ended (without `--wait`, 0: the request was taken).
async fn conclude(
    api: &Api,
    import: &Value,
    args: &WaitArgs,
    until: Until,
    output: Option<Output>,
) -> Result<u8, CliError> {
    let status = import["status"].as_str().unwrap_or_default();
    // A failed download is told, not the import's outcome: the exit code stays the import's.
    let saved = match &args.errors {
        Some(path) => save_errors(api, import, path).await.unwrap_or_else(|e| {
            eprintln!("importctl: the errors file was not saved: {e}");
            None
        }),
        None => None,
    };
    match output {
        None => {}
        Some(Output::Json) => show(import, Output::Json),
        Some(Output::Table) => {
            emit(summary::import_table(import));
            if status == "preview_ready" {
                emit(preview::preview_tables(import));
            }
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
    Ok(outcome::of_status(status, until == Until::Preview))
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

/// `preview`: an import's mappings, sample records and distinct values, and how to start it.
pub async fn preview(api: &Api, id: &str, output: Output) -> Result<u8, CliError> {
    let import = api.get(&import_path(id)).await?;
    show(&import, output);
    if output == Output::Table {
        emit(preview::preview_tables(&import));
    }
    Ok(outcome::OK)
}

/// Which of an import's files `errors` and `results` download.
#[derive(Debug, Clone, Copy)]
pub enum Report {
    Errors,
    Results,
}

/// `errors` and `results`: the import's file, to `to` or to stdout.
pub async fn report(api: &Api, id: &str, which: Report, to: Option<&Path>) -> Result<u8, CliError> {
    let import = api.get(&import_path(id)).await?;
    let (link, what) = match which {
        Report::Errors => ("errors_csv", "errors file"),
        Report::Results => ("results_csv", "results file"),
    };
    let Some(url) = import["links"][link].as_str() else {
        let status = import["status"].as_str().unwrap_or("unknown");
        let why = match which {
            Report::Errors if import["stats"]["errors"] == 0 && outcome::is_final(status) => "it has no row errors",
            _ if outcome::is_final(status) => "it was not written, or went with the import's retention",
            _ => "it has none yet (the file is written when the import ends)",
        };
        return Err(CliError::Usage(format!("import {id} ({status}) has no {what}: {why}")));
    };
    match to {
        Some(path) => {
            let bytes = api.download(url, path).await?;
            eprintln!("{what} saved to {} ({bytes} bytes)", path.display());
        }
        None => {
            api.download_to_stdout(url).await?;
        }
    }
    Ok(outcome::OK)
}

/// `revert`: asks for the revert, and with `--wait` follows it to its end; the exit code is 0
/// once reverted, 3 if the revert failed.
pub async fn revert(api: &Api, id: &str, args: &WaitArgs, output: Output) -> Result<u8, CliError> {
    let asked = api.call(Method::POST, &format!("{}/revert", import_path(id)), None).await?;
    let import = if args.wait { wait(api, id, args, Until::Reverted, follow::drawn()).await? } else { asked };
    show(&import, output);
    Ok(match import["revert"]["status"].as_str() {
        _ if !args.wait => outcome::OK,
        Some("reverted") => outcome::OK,
        Some("failed") => outcome::FAILED,
        _ => outcome::STILL_RUNNING,
    })
}

/// One import as the output asks.
fn show(import: &Value, output: Output) {
    match output {
        Output::Json => emit(format_args!("{import}\n")),
        Output::Table => emit(summary::import_table(import)),
    }
}

/// `status` and `interrupt`: one import, as the API answers for it.
pub async fn one(api: &Api, method: Method, path: &str, body: Option<Value>, output: Output) -> Result<u8, CliError> {
    let import = api.call(method, path, body.as_ref()).await?;
    show(&import, output);
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
            settings: SettingsArgs::default(),
            preview: false,
            dry_run: false,
            multipart: false,
            quiet: false,
            wait: WaitArgs::default(),
        }
    }

    fn settings(maps: &[&str], value_maps: &[&str], constants: &[&str]) -> SettingsArgs {
        let owned = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        SettingsArgs {
            maps: owned(maps),
            value_maps: owned(value_maps),
            constants: owned(constants),
            ..Default::default()
        }
    }

    #[test]
    fn the_body_says_only_what_was_asked() {
        assert_eq!(create_body(&args(), 0).unwrap(), json!({"resource_type": "contact", "upload": {"size": 0}}));
        let asked = ImportArgs {
            file: "people.jsonl".into(),
            action: Some("overwrite".into()),
            settings: settings(
                &["E-mail=email", "a=b=c", "Notes="],
                &["status:Ja=subscribed", "status:a=b=unsubscribed", "country:Deutschland=DE"],
                &["status=subscribed", "custom.note=x=y"],
            ),
            preview: true,
            dry_run: true,
            ..args()
        };
        let body = create_body(&asked, 12_345).unwrap();
        assert_eq!(
            body,
            json!({"resource_type": "contact", "action": "overwrite", "format": "jsonl",
                "mappings": {"E-mail": "email", "a=b": "c", "Notes": null},
                "value_mappings": {"status": {"Ja": "subscribed", "a=b": "unsubscribed"}, "country": {"Deutschland": "DE"}},
                "constants": {"status": "subscribed", "custom.note": "x=y"},
                "in_preview": true, "dry_run": true, "upload": {"size": 12_345}})
        );
        let templated = |template: &str, template_version| {
            let settings = SettingsArgs { template: Some(template.into()), template_version, ..Default::default() };
            create_body(&ImportArgs { settings, ..args() }, 1).unwrap()["template"].clone()
        };
        assert_eq!(templated("auto", None), json!("auto"));
        assert_eq!(templated("tpl_1", Some(3)), json!({"id": "tpl_1", "version": 3}));
        let bad = ImportArgs { settings: settings(&["no equals sign"], &[], &[]), ..args() };
        assert!(matches!(create_body(&bad, 1), Err(CliError::Usage(m)) if m.contains("--map")));
        for wrong in ["status=Ja", ":Ja=subscribed", "status:Ja"] {
            let bad = ImportArgs { settings: settings(&[], &[wrong], &[]), ..args() };
            assert!(matches!(create_body(&bad, 1), Err(CliError::Usage(m)) if m.contains("--value-map")), "{wrong}");
        }
    }

    #[test]
    fn the_body_states_the_files_size_and_multipart_only_when_forced() {
        // Over 100 MiB the service makes the upload multipart by the size alone.
        let big = create_body(&args(), 3 << 30).unwrap();
        assert_eq!(big["upload"], json!({"size": 3u64 << 30}));
        let forced = create_body(&ImportArgs { multipart: true, ..args() }, 12).unwrap();
        assert_eq!(forced["upload"], json!({"size": 12, "multipart": true}));
    }
}
