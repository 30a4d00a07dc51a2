//! Compressed uploads: gzip, zstd and zip are told by their first bytes (`compression: auto`) and
//! decompressed as they stream. The limits count the bytes that come out, and a stream that is
//! corrupt or cut short fails the file with a reason instead of importing what came before.
//!
//! A zip is read through its central directory (it sits at the end): prevalidation picks the one
//! data entry, or `zip_entry`, and streams that entry's bytes from where they start. A zip that is
//! a workbook (xlsx, xlsb, ods) is not a compressed file but a format (`staging::workbook`).

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::bad_file::BadFile;
pub use crate::bad_file::{EXPANSION_GRACE, MAX_EXPANSION};
use crate::import::Compression;

/// The compression its first bytes say a file has, if any.
pub fn magic(head: &[u8]) -> Option<Compression> {
    match head {
        [0x1F, 0x8B, ..] => Some(Compression::Gzip),
        [0x28, 0xB5, 0x2F, 0xFD, ..] => Some(Compression::Zstd),
        [b'P', b'K', 3, 4, ..] | [b'P', b'K', 5, 6, ..] => Some(Compression::Zip),
        _ => None,
    }
}

/// What the upload is wrapped in: what the client said, checked against the first bytes, or with
/// `auto` what the first bytes say. Never `Auto`.
pub fn resolve(requested: Compression, head: &[u8]) -> Result<Compression, BadFile> {
    let found = magic(head);
    match requested {
        Compression::Auto => Ok(found.unwrap_or(Compression::None)),
        Compression::None => Ok(Compression::None),
        wanted if found == Some(wanted) => Ok(wanted),
        wanted => Err(BadFile::Compressed(format!(
            "compression is {} but the file does not start as a {} file does",
            wanted.as_str(),
            wanted.as_str()
        ))),
    }
}

/// A decompressing reader of a gzip (several members, as `pigz` writes, are one stream) or zstd
/// stream; `None` reads the bytes as they are.
pub fn decoder<'a>(compression: Compression, raw: impl Read + Send + 'a) -> io::Result<Box<dyn Read + Send + 'a>> {
    Ok(match compression {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(raw)?),
        _ => Box::new(raw),
    })
}

/// An entry of a zip, as its central directory describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipEntry {
    pub name: String,
    pub is_dir: bool,
    pub size: u64,
}

/// What a zip holds: a workbook's parts, or data files.
pub fn workbook_kind(names: &[ZipEntry]) -> Option<&'static str> {
    let has = |name: &str| names.iter().any(|e| e.name == name);
    if has("xl/workbook.xml") {
        Some("xlsx")
    } else if has("xl/workbook.bin") {
        Some("xlsb")
    } else if has("mimetype") && has("content.xml") {
        Some("ods")
    } else {
        None
    }
}

/// The entry that imports: the one named `wanted`, or the only data file (folders, macOS's
/// `__MACOSX/` forks and hidden files are not data).
pub fn pick_entry(entries: &[ZipEntry], wanted: Option<&str>) -> Result<usize, BadFile> {
    if let Some(wanted) = wanted {
        return entries.iter().position(|e| e.name == wanted && !e.is_dir).ok_or_else(|| {
            BadFile::Compressed(format!("the zip has no file named `{wanted}`; it holds {}", listing(entries)))
        });
    }
    let data: Vec<usize> = (0..entries.len()).filter(|&i| is_data(&entries[i])).collect();
    match data.as_slice() {
        [one] => Ok(*one),
        [] => Err(BadFile::Compressed("the zip holds no file".into())),
        _ => Err(BadFile::Compressed(format!(
            "the zip holds {} files ({}): name the one to import in zip_entry",
            data.len(),
            listing(entries)
        ))),
    }
}

fn is_data(entry: &ZipEntry) -> bool {
    let base = entry.name.rsplit('/').next().unwrap_or_default();
    !entry.is_dir && !entry.name.starts_with("__MACOSX/") && !base.starts_with('.') && !base.is_empty()
}

fn listing(entries: &[ZipEntry]) -> String {
    let names: Vec<&str> = entries.iter().filter(|e| is_data(e)).map(|e| e.name.as_str()).take(10).collect();
    let more = entries.iter().filter(|e| is_data(e)).count().saturating_sub(names.len());
    let mut text = names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    if text.is_empty() {
        text.push_str("no file");
    }
    text
}

/// A zip entry's data as stored, by its method (stored, deflated or zstd).
pub fn entry_decoder<'a>(
    method: zip::CompressionMethod,
    raw: impl Read + Send + 'a,
) -> Result<Box<dyn Read + Send + 'a>, BadFile> {
    Ok(match method {
        zip::CompressionMethod::Stored => Box::new(raw),
        zip::CompressionMethod::Deflated => Box::new(flate2::read::DeflateDecoder::new(raw)),
        other => {
            return Err(BadFile::Compressed(format!(
                "the zip entry is compressed with {other}; stored and deflated entries are read"
            )))
        }
    })
}

/// Why the decompressed stream stopped, when it was the file's fault; read by whoever got the
/// error, however it was wrapped on its way up.
#[derive(Debug, Clone, Default)]
pub struct Fault(Arc<Mutex<Option<BadFile>>>);

impl Fault {
    pub fn take(&self) -> Option<BadFile> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }

    fn set(&self, bad: BadFile) -> io::Error {
        let error = io::Error::other(bad.to_string());
        if let Ok(mut slot) = self.0.lock() {
            slot.get_or_insert(bad);
        }
        error
    }
}

/// Counts the compressed bytes read and remembers whether the store failed a read (retried),
/// which a decoder's error does not say.
pub struct Counted<R> {
    inner: R,
    read: Arc<AtomicU64>,
    failed: Arc<AtomicBool>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.read.fetch_add(n as u64, Ordering::Relaxed);
                Ok(n)
            }
            Err(e) => {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.failed.store(true, Ordering::Relaxed);
                }
                Err(e)
            }
        }
    }
}

/// The bytes that come out of a decoder, held to the limits.
pub struct Inflated<R> {
    inner: R,
    what: &'static str,
    read: Arc<AtomicU64>,
    failed: Arc<AtomicBool>,
    out: u64,
    limit: u64,
    /// A zip entry's declared size: its data must come out to exactly that.
    expected: Option<u64>,
    fault: Fault,
}

/// Wraps the compressed bytes (`raw`) for `decode`, and the decoder's output for the limits:
/// past `limit` bytes out, or past [`MAX_EXPANSION`] times the bytes in, or a decoder error
/// that was not the store's, the stream stops and `fault` says why.
pub fn inflate<'a, R: Read + Send + 'a>(
    raw: R,
    what: &'static str,
    limit: u64,
    expected: Option<u64>,
    fault: &Fault,
    decode: impl FnOnce(Counted<R>) -> Result<Box<dyn Read + Send + 'a>, BadFile>,
) -> Result<Inflated<Box<dyn Read + Send + 'a>>, BadFile> {
    let (read, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
    let counted = Counted { inner: raw, read: read.clone(), failed: failed.clone() };
    let inner = decode(counted)?;
    Ok(Inflated { inner, what, read, failed, out: 0, limit, expected, fault: fault.clone() })
}

impl<R: Read> Read for Inflated<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted || self.failed.load(Ordering::Relaxed) => return Err(e),
            Err(e) => {
                return Err(self.fault.set(BadFile::Compressed(format!(
                    "the {} stream is corrupt or cut short after {} bytes decompressed: {e}",
                    self.what, self.out
                ))))
            }
        };
        self.out += n as u64;
        if self.out > self.limit {
            return Err(self.fault.set(BadFile::Expanded { limit: self.limit }));
        }
        let compressed = self.read.load(Ordering::Relaxed).max(1);
        if self.out > EXPANSION_GRACE && self.out / compressed > MAX_EXPANSION {
            return Err(self.fault.set(BadFile::Bomb { compressed, expanded: self.out }));
        }
        match self.expected {
            Some(size) if n == 0 && self.out != size => Err(self
                .fault
                .set(BadFile::Compressed(format!("the zip entry's data ends after {} of its {size} bytes", self.out)))),
            _ => Ok(n),
        }
    }
}

/// How many bytes went through a reader (`tally`).
#[derive(Debug, Clone, Default)]
pub struct Tally(Arc<AtomicU64>);

impl Tally {
    pub fn bytes(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counts the bytes read through `reader`.
pub fn tally<R: Read>(reader: R) -> (Counted<R>, Tally) {
    let tally = Tally::default();
    (Counted { inner: reader, read: tally.0.clone(), failed: Arc::default() }, tally)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn read_all(compression: Compression, bytes: &[u8], limit: u64) -> (io::Result<Vec<u8>>, Option<BadFile>) {
        let fault = Fault::default();
        let what = compression.as_str();
        let mut reader = inflate(bytes, what, limit, None, &fault, |raw| {
            decoder(compression, raw).map_err(|e| BadFile::Compressed(e.to_string()))
        })
        .unwrap();
        let mut out = Vec::new();
        let result = reader.read_to_end(&mut out).map(|_| out);
        (result, fault.take())
    }

    #[test]
    fn the_first_bytes_tell_the_compression_and_a_stated_one_must_match_them() {
        let gz = gzip(b"email\na@b.co\n");
        assert_eq!(resolve(Compression::Auto, &gz).unwrap(), Compression::Gzip);
        assert_eq!(resolve(Compression::Auto, &zstd::encode_all(&b"x"[..], 3).unwrap()).unwrap(), Compression::Zstd);
        assert_eq!(resolve(Compression::Auto, b"PK\x03\x04rest").unwrap(), Compression::Zip);
        assert_eq!(resolve(Compression::Auto, b"email\n").unwrap(), Compression::None);
        assert_eq!(resolve(Compression::None, &gz).unwrap(), Compression::None);
        let err = resolve(Compression::Zstd, &gz).unwrap_err();
        assert!(err.to_string().contains("compression is zstd"), "{err}");
    }

    #[test]
    fn gzip_members_and_zstd_frames_decompress_and_a_cut_stream_fails_with_a_reason() {
        let mut two = gzip(b"email\na@b.co\n");
        two.extend(gzip(b"c@d.co\n"));
        let (out, fault) = read_all(Compression::Gzip, &two, 1 << 20);
        assert_eq!(out.unwrap(), b"email\na@b.co\nc@d.co\n");
        assert!(fault.is_none());
        let zst = zstd::encode_all(&b"email\na@b.co\n"[..], 3).unwrap();
        assert_eq!(read_all(Compression::Zstd, &zst, 1 << 20).0.unwrap(), b"email\na@b.co\n");

        let rows: Vec<u8> = (0..20_000).flat_map(|i| format!("user{i}@example.com\n").into_bytes()).collect();
        for (compression, whole) in
            [(Compression::Gzip, gzip(&rows)), (Compression::Zstd, zstd::encode_all(&rows[..], 3).unwrap())]
        {
            let (out, fault) = read_all(compression, &whole[..whole.len() / 2], 1 << 30);
            assert!(out.is_err(), "{compression:?}: a cut stream is an error");
            let fault = fault.expect("the file's fault");
            assert!(fault.to_string().contains("corrupt or cut short"), "{fault}");
        }
    }

    #[test]
    fn the_limit_counts_decompressed_bytes_and_a_bomb_stops_early() {
        let rows: Vec<u8> = b"a@b.co\n".repeat(100_000);
        let (out, fault) = read_all(Compression::Gzip, &gzip(&rows), 10_000);
        assert!(out.is_err());
        assert_eq!(fault, Some(BadFile::Expanded { limit: 10_000 }));

        let bomb = gzip(&vec![b'a'; 64 * 1024 * 1024]);
        let (out, fault) = read_all(Compression::Gzip, &bomb, u64::MAX);
        assert!(out.is_err());
        assert!(matches!(fault, Some(BadFile::Bomb { .. })), "{fault:?}");
    }

    #[test]
    fn a_zip_imports_its_only_data_file_or_the_named_one() {
        let entry = |name: &str, is_dir| ZipEntry { name: name.into(), is_dir, size: 1 };
        let entries = [entry("data/", true), entry("__MACOSX/data/._a.csv", false), entry("data/a.csv", false)];
        assert_eq!(pick_entry(&entries, None).unwrap(), 2);
        let two = [entry("a.csv", false), entry("b.csv", false)];
        let err = pick_entry(&two, None).unwrap_err().to_string();
        assert!(err.contains("2 files") && err.contains("zip_entry") && err.contains("`b.csv`"), "{err}");
        assert_eq!(pick_entry(&two, Some("b.csv")).unwrap(), 1);
        assert!(pick_entry(&two, Some("c.csv")).unwrap_err().to_string().contains("no file named `c.csv`"));
        let xlsx = [entry("[Content_Types].xml", false), entry("xl/workbook.xml", false)];
        assert_eq!(workbook_kind(&xlsx), Some("xlsx"));
        assert_eq!(workbook_kind(&two), None);
    }
}
