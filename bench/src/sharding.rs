//! A file sorted by identifier under DynamoDB's per-partition write limit (issue 20): the proxy
//! gives each partition key `LOCAL_PARTITION_WCU` write units a second, scaled down from AWS's
//! 1,000 to what the emulator reaches, and the same sorted file is imported into an empty type
//! with all of a type's records in one partition (one shard), then spread over the default
//! write shards. Each import runs on a stack of its own.

use local::proxy::{Faults, Proxy};
use local::{LocalHost, Options};
use serde::Serialize;

use crate::contacts;

/// Write units a second per partition when `LOCAL_PARTITION_WCU` is unset: a fifth of what one
/// record transaction a second at full size takes, so one partition is plainly the bound.
const DEFAULT_PARTITION_WCU: u64 = 200;

#[derive(Serialize)]
pub struct Figures {
    pub sorted_rows: u64,
    pub partition_wcu: u64,
    pub sorted_rows_s_one_shard: f64,
    pub sorted_rows_s_sharded: f64,
    pub record_shards: u32,
    /// Sharded over one shard: the sorted file's rows/s with the default shards over with one.
    pub sorted_sharding_speedup: f64,
}

impl Figures {
    pub fn print(&self) {
        let under = format!("sorted file, {} rows, {} WCU/s a partition", self.sorted_rows, self.partition_wcu);
        println!("{under}");
        println!("{:<44} {:>9.0} rows/s", "  one partition a type (no shards)", self.sorted_rows_s_one_shard);
        println!(
            "{:<44} {:>9.0} rows/s = {:.1}x",
            format!("  {} write shards", self.record_shards),
            self.sorted_rows_s_sharded,
            self.sorted_sharding_speedup
        );
    }
}

pub fn measure(rows: u64) -> Figures {
    let partition_wcu =
        local::proxy::partition_wcu_from_env().expect("LOCAL_PARTITION_WCU").unwrap_or(DEFAULT_PARTITION_WCU);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let mut file = Vec::new();
    contacts::write_sorted(&mut file, rows).expect("generate");
    let (one, _) = runtime.block_on(rows_per_second(&file, rows, partition_wcu, Some(1)));
    let (sharded, record_shards) = runtime.block_on(rows_per_second(&file, rows, partition_wcu, None));
    Figures {
        sorted_rows: rows,
        partition_wcu,
        sorted_rows_s_one_shard: one,
        sorted_rows_s_sharded: sharded,
        record_shards,
        sorted_sharding_speedup: sharded / one,
    }
}

/// The file's rows/s through a fresh stack whose DynamoDB calls go through a partition-limited
/// proxy, with `shards` write shards (none: the default), and the shards it had.
async fn rows_per_second(file: &[u8], rows: u64, partition_wcu: u64, shards: Option<u32>) -> (f64, u32) {
    let emulator = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL: `make bench` starts an emulator");
    let proxy = Proxy::start(&emulator, Faults { partition_wcu, ..Faults::default() }).await.expect("proxy");
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let mut options = Options::new(format!("shards{stamp}"), "127.0.0.1:0".parse().expect("address"));
    options.aws_endpoint = Some(proxy.url.clone());
    options.record_shards = shards;
    let host = LocalHost::start(options).await.expect("local host");
    let run = crate::e2e::import(&host, &proxy, file.to_vec(), rows, [rows, 0, 0]).await;
    println!("  {} writes throttled by the partition limit", run.counts.partition_throttles);
    (rows as f64 / run.seconds, host.settings.record_shards)
}
