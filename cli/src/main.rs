//! `importctl`: wiring only. Arguments in, one command of the library, an exit code out.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use importctl::api::Api;
use importctl::commands::{self, ImportArgs, Report, ResumeArgs, StartArgs, WaitArgs};
use importctl::routes::import_path;
use importctl::summary::{emit, Output};
use importctl::templates::{self, TemplatesCommand};
use importctl::{outcome, token, CliError};
use reqwest::Method;
use serde_json::json;

/// Imports contacts, groups and accounts from files, and follows them.
///
/// A preview, corrected and imported, then undone:
///   ID=$(importctl import events/data/kontakte.csv --type contact --preview --wait -q)
///   importctl preview $ID
///   importctl start $ID --map Vorname=first_name --map Newsletter=status \
///     --value-map status:Ja=subscribed --wait
///   importctl errors $ID -o errors.csv; importctl revert $ID --wait
///
/// Its settings saved as a template, which the next file of its headers takes:
///   importctl templates save 'German CRM export' --from $ID
///   importctl import next-month.csv --type contact --template auto --wait
///
/// An upload that failed midway is finished with `importctl resume ID FILE`: over 100 MiB (or
/// with --multipart) a file goes in parts, and only the parts missing are sent again.
///
/// Exit codes: 0 completed (without --wait: the file was accepted; with --preview --wait: the
/// preview is ready; revert --wait: reverted), 1 a request, upload or file error, 2 a command
/// line that does not parse, 3 failed (or the revert failed), 4 timed out, 5 interrupted,
/// 6 expired, 7 still running when --timeout passed.
#[derive(Parser)]
#[command(name = "importctl", version, verbatim_doc_comment)]
struct Cli {
    /// The API's base URL.
    #[arg(long, global = true, env = "IMPORTCTL_ENDPOINT", default_value = "http://127.0.0.1:9000")]
    endpoint: String,
    /// A bearer token (`importctl token --tenant ID` mints one for the local host).
    #[arg(long, global = true, env = "IMPORTCTL_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// table for people; json (the API's answer as it came) for scripts.
    #[arg(long, global = true, value_enum, default_value = "table")]
    output: Output,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an import, upload FILE to it, and with --wait follow it to its end.
    Import(ImportArgs),
    /// Finish the upload of an import whose upload failed (FILE is the same file), then go on as
    /// import does: with --wait follow it to its end.
    Resume(ResumeArgs),
    /// Show a preview: each header's field, sample records with their errors, distinct values.
    Preview { id: String },
    /// Start a preview, or run a completed dry run for real, with corrected settings.
    Start(StartArgs),
    /// One import.
    Status { id: String },
    /// An import's errors file (the rows that failed, with why), to a file or stdout.
    Errors {
        id: String,
        /// Save it here instead of printing it.
        #[arg(short = 'o', long = "to")]
        to: Option<PathBuf>,
    },
    /// An import's results file (every row's outcome), to a file or stdout.
    Results {
        id: String,
        /// Save it here instead of printing it.
        #[arg(short = 'o', long = "to")]
        to: Option<PathBuf>,
    },
    /// The tenant's imports, newest first.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Stop an import that is not final; what was written stays.
    Interrupt { id: String },
    /// Undo a completed import; with --wait follow the revert to its end and show its counts.
    Revert {
        id: String,
        /// Follow the revert with a progress bar until it ends.
        #[arg(long)]
        wait: bool,
        /// Stop waiting after this many seconds (exit code 7).
        #[arg(long, requires = "wait")]
        timeout: Option<u64>,
    },
    /// The tenant's records of a type, or one of them.
    Records {
        #[arg(value_parser = ["contact", "group", "account"])]
        resource_type: String,
        identifier: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// The tenant's templates: saved import settings that `import --template` and `start
    /// --template` take.
    #[command(subcommand)]
    Templates(TemplatesCommand),
    /// Mint a token for the local host.
    Token {
        #[arg(long)]
        tenant: String,
        #[arg(long, default_value_t = 24)]
        hours: u64,
        #[arg(long, env = "LOCAL_JWT_SECRET", default_value = token::LOCAL_SECRET, hide_env_values = true)]
        secret: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("importctl: {e}");
            ExitCode::from(outcome::ERROR)
        }
    }
}

async fn run(cli: Cli) -> Result<u8, CliError> {
    let Cli { endpoint, token, output, command } = cli;
    let api = || {
        let no_token =
            || CliError::Usage("no token: pass --token or set IMPORTCTL_TOKEN (importctl token --tenant ID)".into());
        token.as_deref().map(|t| Api::new(&endpoint, t)).ok_or_else(no_token)
    };
    match command {
        Command::Token { tenant, hours, secret } => {
            emit(format_args!("{}\n", token::mint(&secret, &tenant, hours.saturating_mul(3600))));
            Ok(outcome::OK)
        }
        Command::Import(args) => commands::import(&api()?, &args, output).await,
        Command::Resume(args) => commands::resume(&api()?, &args, output).await,
        Command::Status { id } => commands::one(&api()?, Method::GET, &import_path(&id), None, output).await,
        Command::Interrupt { id } => {
            let body = Some(json!({"interrupt": true}));
            commands::one(&api()?, Method::PATCH, &import_path(&id), body, output).await
        }
        Command::Revert { id, wait, timeout } => {
            commands::revert(&api()?, &id, &WaitArgs { wait, errors: None, timeout }, output).await
        }
        Command::Preview { id } => commands::preview(&api()?, &id, output).await,
        Command::Start(args) => commands::start(&api()?, &args, output).await,
        Command::Errors { id, to } => commands::report(&api()?, &id, Report::Errors, to.as_deref()).await,
        Command::Results { id, to } => commands::report(&api()?, &id, Report::Results, to.as_deref()).await,
        Command::List { status, limit, cursor } => {
            let query = [("status", status), ("limit", limit.map(|l| l.to_string())), ("cursor", cursor)];
            commands::list(&api()?, &query, output).await
        }
        Command::Records { resource_type, identifier, limit, cursor } => {
            let query = [("limit", limit.map(|l| l.to_string())), ("cursor", cursor)];
            commands::records(&api()?, &resource_type, identifier.as_deref(), &query, output).await
        }
        Command::Templates(command) => templates::run(&api()?, &command, output).await,
    }
}
