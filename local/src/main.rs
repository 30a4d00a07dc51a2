//! `local serve`: the whole service on the local AWS stack. `local token`: a token for a tenant.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde_json::json;

#[derive(Parser)]
#[command(about = "Runs the bulk import service against the local AWS stack")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Provision the stack, serve the API and run the pipeline until stopped.
    Serve {
        #[arg(long, env = "LOCAL_API_PORT", default_value_t = 9000)]
        port: u16,
        #[arg(long, env = "LOCAL_PREFIX", default_value = "bulk-import")]
        prefix: String,
        /// A contacts CSV to import end to end once the host is up.
        #[arg(long)]
        sample: Option<PathBuf>,
    },
    /// Print a local bearer token for a tenant.
    Token {
        #[arg(long)]
        tenant: String,
        #[arg(long, default_value_t = 24)]
        hours: u64,
    },
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shared::logging::init();
    match Cli::parse().command {
        Command::Token { tenant, hours } => {
            let secret = std::env::var("LOCAL_JWT_SECRET").unwrap_or_else(|_| "local-dev-secret".into());
            println!("{}", local::jwt::mint(&secret, &tenant, hours * 3600));
        }
        Command::Serve { port, prefix, sample } => {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let host = local::LocalHost::start(local::Options::new(prefix, addr)).await?;
            eprintln!("API serving on {}", host.api_url);
            if let Some(path) = sample {
                let file = std::fs::read(&path)?;
                let client = host.client("demo");
                let import =
                    client.import_file(&json!({ "resource_type": "contact" }), file, Duration::from_secs(120)).await?;
                println!(
                    "sample import {} of {}: {}\n{}",
                    import["id"].as_str().unwrap_or_default(),
                    path.display(),
                    import["status"].as_str().unwrap_or_default(),
                    serde_json::to_string_pretty(
                        &json!({ "stats": import["stats"], "file": import["file"], "reason": import["reason"] })
                    )?
                );
                println!(
                    "try: curl -s -H \"Authorization: Bearer $(make -s token TENANT=demo)\" {}/v1/records/contact",
                    host.api_url
                );
            }
            eprintln!("serving until Ctrl-C");
            tokio::signal::ctrl_c().await?;
        }
    }
    Ok(())
}
