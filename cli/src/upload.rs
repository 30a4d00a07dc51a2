//! Sending an import's file: to one signed PUT, or as the parts of a multipart upload (docs/api.md,
//! Uploads of any size), several at once, each tried again a few times. The parts the bucket
//! already holds are not sent again, so `importctl resume` after a failure is the same code and
//! sends only what is missing.

use std::future::ready;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{stream, Stream, TryStreamExt};
use indicatif::ProgressBar;
use reqwest::Method;
use serde_json::Value;

use crate::api::Api;
use crate::CliError;

/// Parts in flight at once: one connection rarely fills a link, and S3 takes parts in any order.
const IN_FLIGHT: usize = 4;
/// Part URLs asked a page at a time, the most the API gives.
const PAGE: u32 = 100;
/// Tries of one part before the upload fails (and `importctl resume` is the way on).
const TRIES: u32 = 4;
/// The wait before the second try, doubled before each next one.
const BACKOFF: Duration = Duration::from_secs(1);

/// Sends the `size` bytes of `file` to the import's upload link; the bar counts the bytes sent.
pub async fn send(api: &Api, link: &Value, file: &Path, size: u64, bar: &ProgressBar) -> Result<(), CliError> {
    if link["method"] != "MULTIPART" {
        let shown = bar.clone();
        return api.put(link, file, 0..size, move |n| shown.inc(n)).await;
    }
    let incomplete = || CliError::Usage(format!("the import's multipart upload link is incomplete: {link}"));
    let (Some(parts_url), Some(complete_url), Some(part_size)) =
        (link["parts_url"].as_str(), link["complete_url"].as_str(), link["part_size"].as_u64())
    else {
        return Err(incomplete());
    };
    parts(api, parts_url, size, part_size)
        .try_filter(|part| {
            // What the bucket holds counts at once.
            if part.uploaded {
                bar.inc(part.bytes.end - part.bytes.start);
            }
            ready(!part.uploaded)
        })
        .map_ok(|part| send_part(api, parts_url, file, part, bar))
        .try_buffer_unordered(IN_FLIGHT)
        .try_collect::<()>()
        .await?;
    api.call(Method::POST, complete_url, None).await?;
    Ok(())
}

/// One part of a multipart upload: its link as the API gave it, and the bytes of the file it holds.
struct Part {
    number: u64,
    bytes: Range<u64>,
    uploaded: bool,
    link: Value,
}

impl Part {
    fn of(link: Value, size: u64, part_size: u64) -> Result<Self, CliError> {
        let Some(number) = link["part_number"].as_u64().filter(|n| *n >= 1) else {
            return Err(CliError::Usage(format!("the API's answer is not a part of the upload: {link}")));
        };
        let start = (number - 1) * part_size;
        // Without a declared size every part is offered at the part size: the last holds the rest.
        let end = size.min(start + link["size"].as_u64().unwrap_or(part_size)).max(start);
        Ok(Self { number, bytes: start..end, uploaded: link["uploaded"] == true, link })
    }
}

/// The upload's parts that hold bytes of the file, a page at a time as they are needed: part
/// URLs expire, and an import created without a size is offered 10,000 parts.
fn parts<'a>(
    api: &'a Api,
    parts_url: &'a str,
    size: u64,
    part_size: u64,
) -> impl Stream<Item = Result<Part, CliError>> + 'a {
    let pages = stream::try_unfold(Some(1), move |from| async move {
        let Some(from) = from else { return Ok(None) };
        let page = api.get(&format!("{parts_url}?from={from}&count={PAGE}")).await?;
        let links = page["data"].as_array().cloned().unwrap_or_default();
        let links = links.into_iter().map(move |link| Part::of(link, size, part_size));
        Ok::<_, CliError>(Some((stream::iter(links), page["next_from"].as_u64())))
    });
    pages.try_flatten().try_take_while(move |part| ready(Ok(part.number == 1 || part.bytes.start < size)))
}

/// Sends one part, tried again a few times with backoff after a failed request or answer.
async fn send_part(api: &Api, parts_url: &str, file: &Path, part: Part, bar: &ProgressBar) -> Result<(), CliError> {
    let mut link = part.link;
    let mut tries = 1;
    loop {
        match put_counted(api, &link, file, part.bytes.clone(), bar).await {
            Err(e @ (CliError::Request(_) | CliError::Api { .. })) if tries < TRIES => {
                let shown = e.to_string();
                bar.suspend(|| eprintln!("importctl: part {} failed, trying again: {shown}", part.number));
            }
            done => return done,
        }
        tokio::time::sleep(BACKOFF * 2u32.pow(tries - 1)).await;
        tries += 1;
        // A part URL lives 15 minutes, and a PUT may have landed with only its answer lost:
        // asked again, the API gives a fresh URL and says whether the bucket holds the part.
        if let Some(again) = asked_again(api, parts_url, part.number).await {
            if again["uploaded"] == true {
                bar.inc(part.bytes.end - part.bytes.start);
                return Ok(());
            }
            link = again;
        }
    }
}

/// PUTs the part's bytes; the bar counts them as they go, and takes them back if the PUT fails.
async fn put_counted(
    api: &Api,
    link: &Value,
    file: &Path,
    bytes: Range<u64>,
    bar: &ProgressBar,
) -> Result<(), CliError> {
    let counted = Arc::new(AtomicU64::new(0));
    let (shown, count) = (bar.clone(), Arc::clone(&counted));
    let sent = move |n| {
        shown.inc(n);
        count.fetch_add(n, Ordering::Relaxed);
    };
    let put = api.put(link, file, bytes, sent).await;
    if put.is_err() {
        bar.dec(counted.load(Ordering::Relaxed));
    }
    put
}

/// Part `number`'s link as the API gives it now; none when asking failed (the next try tells).
async fn asked_again(api: &Api, parts_url: &str, number: u64) -> Option<Value> {
    let page = api.get(&format!("{parts_url}?from={number}&count=1")).await.ok()?;
    Some(page["data"][0].clone()).filter(|link| link["part_number"] == number)
}
