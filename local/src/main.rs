//! `local serve`: the whole service on the local AWS stack.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
        /// Write the Lambda functions' environment for this stack here, as KEY=VALUE lines, for
        /// `cargo lambda watch --env-file` (the AWS endpoint and credentials come from the shell).
        #[arg(long)]
        env_file: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    lambda_edge::logging::init();
    match Cli::parse().command {
        Command::Serve { port, prefix, env_file } => {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let mut options = local::Options::new(prefix, addr);
            // With a partition limit, the functions reach the emulator through a proxy that
            // throttles as DynamoDB does; set-up goes straight there.
            let _proxy = match local::proxy::partition_wcu_from_env()? {
                Some(partition_wcu) => {
                    let emulator = std::env::var("AWS_ENDPOINT_URL").map_err(|_| {
                        "LOCAL_PARTITION_WCU needs AWS_ENDPOINT_URL: the emulator to put the proxy before"
                    })?;
                    let faults = local::proxy::Faults { partition_wcu, ..Default::default() };
                    let proxy = local::proxy::Proxy::start(&emulator, faults).await?;
                    eprintln!("DynamoDB partitions limited to {partition_wcu} write units a second");
                    options.aws_endpoint = Some(proxy.url.clone());
                    Some(proxy)
                }
                None => None,
            };
            let host = local::LocalHost::start(options).await?;
            if let Some(path) = env_file {
                let lines: String = host.function_env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
                std::fs::write(&path, lines)?;
            }
            eprintln!("API serving on {} until Ctrl-C", host.api_url);
            tokio::signal::ctrl_c().await?;
        }
    }
    Ok(())
}
