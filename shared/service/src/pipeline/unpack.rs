//! What prevalidation reads the upload through, from blocking code: the file store, a seekable
//! view of an object (ranged GETs, for a zip's central directory and a workbook's parts), and the
//! unwrapping of a compressed upload into the stream of its data.

use std::cell::Cell;
use std::io::{Read, Seek, SeekFrom, Write};

use tokio::runtime::Handle;
use tokio_util::io::SyncIoBridge;

use crate::ports::ObjectWriter;
use crate::services::Services;
use domain::bad_file::{BadFile, MAX_FILE_BYTES};
use domain::chunking::ScanError;
use domain::compression::{self, Fault, ZipEntry};
use domain::error::Error;
use domain::import::Compression;

pub(super) type Reader = SyncIoBridge<crate::ports::ByteStream>;

/// The file store, from blocking code.
pub(super) struct Files<'a> {
    svc: &'a Services,
    handle: Handle,
    /// A read through [`Seekable`] failed: what a parser then says of the file is not the file's
    /// fault, and the read is retried.
    seek_failed: Cell<bool>,
}

impl<'a> Files<'a> {
    pub fn new(svc: &'a Services) -> Self {
        Self { svc, handle: Handle::current(), seek_failed: Cell::new(false) }
    }

    /// Whether a read through [`Seekable`] failed (zip and workbook parsers wrap the error).
    pub fn seek_failed(&self) -> bool {
        self.seek_failed.get()
    }
}

impl Files<'_> {
    pub fn open(&self, key: &str, if_match: Option<&str>) -> Result<(Reader, u64, Option<String>), ScanError> {
        self.open_range(key, None, if_match)
    }

    pub fn open_range(
        &self,
        key: &str,
        range: Option<(u64, u64)>,
        if_match: Option<&str>,
    ) -> Result<(Reader, u64, Option<String>), ScanError> {
        let opened = self.handle.block_on(self.svc.files.open(key, range, if_match)).map_err(read_error)?;
        Ok((SyncIoBridge::new_with_handle(opened.stream, self.handle.clone()), opened.size, opened.etag))
    }

    /// Writes an object from a function that writes to `std::io::Write`.
    pub fn write<T>(
        &self,
        key: &str,
        fill: impl FnOnce(&mut dyn Write) -> Result<T, ScanError>,
    ) -> Result<T, ScanError> {
        let writer = self.handle.block_on(self.svc.files.create(key)).map_err(read_error)?;
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, BlockingWriter { handle: &self.handle, writer });
        let value = fill(&mut out)?;
        let inner = out.into_inner().map_err(|e| ScanError::Read(e.into_error()))?;
        self.handle.block_on(inner.writer.finish()).map_err(read_error)?;
        Ok(value)
    }

    /// Puts a small object unless the key holds one: false when it did.
    pub fn put_new(&self, key: &str, bytes: Vec<u8>) -> Result<bool, ScanError> {
        self.handle.block_on(self.svc.files.put_new(key, bytes)).map_err(read_error)
    }

    /// A small object, whole.
    pub fn read(&self, key: &str) -> Result<Vec<u8>, ScanError> {
        self.handle.block_on(self.svc.files.read(key)).map_err(read_error)
    }

    /// The object as `Read + Seek`; each seek that leaves the bytes being streamed starts a
    /// ranged GET there.
    pub fn seekable(&self, key: &str, size: u64, etag: Option<&str>) -> Seekable<'_> {
        Seekable { files: self, key: key.into(), etag: etag.map(str::to_string), size, pos: 0, stream: None }
    }
}

struct BlockingWriter<'a> {
    handle: &'a Handle,
    writer: Box<dyn ObjectWriter>,
}

impl Write for BlockingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.handle.block_on(self.writer.write(buf)).map_err(std::io::Error::other)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A store failure while scanning is retried, like a failed read; one that says the upload
/// changed is told apart (`source_changed`), since no retry reads the planned object again.
pub(super) fn read_error(e: Error) -> ScanError {
    ScanError::Read(std::io::Error::other(e))
}

/// Forward seeks shorter than this read through instead of starting another GET.
const SKIP_BYTES: u64 = 256 * 1024;

pub(super) struct Seekable<'a> {
    files: &'a Files<'a>,
    key: String,
    etag: Option<String>,
    size: u64,
    pos: u64,
    /// The open GET and the offset it has reached.
    stream: Option<(Reader, u64)>,
}

impl Read for Seekable<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.read_at_pos(buf);
        if read.is_err() {
            self.files.seek_failed.set(true);
        }
        read
    }
}

impl Seekable<'_> {
    fn read_at_pos(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.size || buf.is_empty() {
            return Ok(0);
        }
        if let Some((stream, at)) = self.stream.as_mut() {
            if *at < self.pos && self.pos - *at <= SKIP_BYTES {
                std::io::copy(&mut stream.by_ref().take(self.pos - *at), &mut std::io::sink())?;
                *at = self.pos;
            }
        }
        if self.stream.as_ref().is_none_or(|(_, at)| *at != self.pos) {
            let (stream, _, _) = self
                .files
                .open_range(&self.key, Some((self.pos, self.size)), self.etag.as_deref())
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            self.stream = Some((stream, self.pos));
        }
        let (stream, at) = self.stream.as_mut().expect("opened above");
        let n = stream.read(buf)?;
        *at += n as u64;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Seekable<'_> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::End(by) => self.size.checked_add_signed(by),
            SeekFrom::Current(by) => self.pos.checked_add_signed(by),
        };
        self.pos = pos.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

/// What the upload is, once its first bytes and (for a zip) its directory are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Wrapped {
    /// Data, compressed with `Compression` (`None`: as it is).
    Stream(Compression),
    /// One entry of a zip, whose data starts at `start`.
    ZipEntry { start: u64, compressed: u64, size: u64, method: zip::CompressionMethod },
    /// A workbook of this kind (`xlsx`, `xls`, `xlsb`, `ods`).
    Workbook(&'static str),
}

/// Tells what the upload is from its first bytes (`head`) and what the client said.
pub(super) fn wrapped(
    files: &Files,
    key: &str,
    (size, etag): (u64, Option<&str>),
    head: &[u8],
    requested: Compression,
    zip_entry: Option<&str>,
) -> Result<Wrapped, ScanError> {
    if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        return Ok(Wrapped::Workbook("xls"));
    }
    let compression = compression::resolve(requested, head)?;
    // A workbook is a zip whatever `compression` says: the zip is its format, not a wrapping.
    if compression::magic(head) != Some(Compression::Zip) {
        return Ok(Wrapped::Stream(compression));
    }
    let bad = |e: zip::result::ZipError| ScanError::from(BadFile::Compressed(format!("the zip cannot be read: {e}")));
    let mut archive = zip::ZipArchive::new(files.seekable(key, size, etag)).map_err(bad)?;
    let entries = (0..archive.len())
        .map(|i| {
            let entry = archive.by_index_data(i).map_err(bad)?;
            let name = entry.name().map_err(bad)?.into_owned();
            Ok(ZipEntry { name, is_dir: entry.is_dir(), size: entry.size() })
        })
        .collect::<Result<Vec<_>, ScanError>>()?;
    let declared: u64 = entries.iter().map(|e| e.size).fold(0, u64::saturating_add);
    if declared > size.saturating_mul(compression::MAX_EXPANSION).max(compression::EXPANSION_GRACE) {
        return Err(BadFile::Bomb { compressed: size, expanded: declared }.into());
    }
    if let Some(kind) = compression::workbook_kind(&entries) {
        return Ok(Wrapped::Workbook(kind));
    }
    if compression != Compression::Zip {
        return Ok(Wrapped::Stream(compression));
    }
    let index = compression::pick_entry(&entries, zip_entry)?;
    let entry = archive.by_index_raw(index).map_err(bad)?;
    if entry.encrypted() {
        return Err(BadFile::Compressed("the zip entry is encrypted".into()).into());
    }
    if entry.size() > MAX_FILE_BYTES {
        return Err(BadFile::Expanded { limit: MAX_FILE_BYTES }.into());
    }
    let start = entry.data_start().ok_or_else(|| BadFile::Compressed("the zip entry has no data".into()))?;
    Ok(Wrapped::ZipEntry {
        start,
        compressed: entry.compressed_size(),
        size: entry.size(),
        method: entry.compression(),
    })
}

impl Wrapped {
    /// The upload's data as a stream, decompressed and held to the limits (`fault` says why it
    /// stopped when that was the file's fault).
    pub fn open(
        &self,
        files: &Files,
        key: &str,
        etag: Option<&str>,
        fault: &Fault,
    ) -> Result<Box<dyn Read + Send>, ScanError> {
        let decoding = |e: std::io::Error| BadFile::Compressed(format!("the file cannot be decompressed: {e}"));
        Ok(match *self {
            Wrapped::Stream(Compression::None) | Wrapped::Workbook(_) => Box::new(files.open(key, etag)?.0),
            Wrapped::Stream(compression) => {
                let (raw, _, _) = files.open(key, etag)?;
                let what = compression.as_str();
                Box::new(compression::inflate(raw, what, MAX_FILE_BYTES, None, fault, |raw| {
                    compression::decoder(compression, raw).map_err(decoding)
                })?)
            }
            Wrapped::ZipEntry { compressed: 0, .. } => Box::new(std::io::empty()),
            Wrapped::ZipEntry { start, compressed, size, method } => {
                let (raw, _, _) = files.open_range(key, Some((start, start + compressed)), etag)?;
                Box::new(compression::inflate(raw, "zip", MAX_FILE_BYTES, Some(size), fault, |raw| {
                    compression::entry_decoder(method, raw)
                })?)
            }
        })
    }

    /// `file.compression`.
    pub fn compression(&self) -> Compression {
        match self {
            Wrapped::Stream(compression) => *compression,
            Wrapped::ZipEntry { .. } => Compression::Zip,
            Wrapped::Workbook(_) => Compression::None,
        }
    }
}
