//! Why a file cannot be imported at all, and the limits of a file it names.

/// The most a file may hold, uncompressed: one PUT takes 5 GiB (S3's limit), a multipart upload
/// or a pulled source up to this.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024 * 1024 * 1024;
pub const MAX_ROWS: u64 = 5_000_000_000;
pub const MAX_COLUMNS: usize = 500;
/// Past this many bytes out, a stream that expands more than [`MAX_EXPANSION`] times is a
/// decompression bomb: text compresses 3 to 20 times, a crafted stream a thousand.
pub const EXPANSION_GRACE: u64 = 16 * 1024 * 1024;
/// As Apache POI refuses zip entries (its `MIN_INFLATE_RATIO` of 0.01).
pub const MAX_EXPANSION: u64 = 100;
/// The most a workbook may be, as uploaded.
pub const MAX_WORKBOOK_BYTES: u64 = 200 * 1024 * 1024;

/// The header's share of a plan's budget (`budget::BUDGET`): its names, and the mappings that
/// name them again (200 survey questions of 150 characters take 69 KB).
pub const HEADER_BUDGET: usize = 80 * 1024;
/// A column name longer than this fails the file.
pub const MAX_HEADER_CELL_BYTES: usize = 1024;

/// Why a file cannot be imported at all; becomes the import's `reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadFile {
    #[error("the file is empty: no header row")]
    NoHeader,
    #[error("the header has an empty column name (column {0})")]
    EmptyHeader(usize),
    #[error("the header names `{0}` more than once")]
    DuplicateHeader(String),
    #[error("no column maps to the identifier field `{0}`")]
    NoIdentifierColumn(String),
    #[error("mappings: {0}")]
    Mapping(String),
    #[error("row {row}: {message}")]
    Unreadable { row: u64, message: String },
    #[error("row {0}: a quoted field is never closed (unterminated quote)")]
    UnterminatedQuote(u64),
    #[error("the file is {0} bytes; the limit is {MAX_FILE_BYTES}")]
    TooLarge(u64),
    #[error("the workbook is {0} bytes; the limit is {MAX_WORKBOOK_BYTES} (export a bigger sheet as CSV)")]
    WorkbookTooLarge(u64),
    #[error("the header has {0} columns; the limit is {MAX_COLUMNS}")]
    TooManyColumns(usize),
    #[error("the header's column {column} is a name of {bytes} bytes; the limit is {MAX_HEADER_CELL_BYTES}")]
    LongHeader { column: usize, bytes: usize },
    #[error("the header's names with their mappings take {0} bytes; the limit is {HEADER_BUDGET}")]
    HeaderTooLarge(usize),
    #[error("the file has more than {MAX_ROWS} rows")]
    TooManyRows,
    #[error("{0}")]
    Unsupported(String),
    /// A compressed file or a workbook that cannot be read to its end.
    #[error("{0}")]
    Compressed(String),
    #[error("decompressed, the file passes {limit} bytes, the limit")]
    Expanded { limit: u64 },
    #[error(
        "the file expands more than {MAX_EXPANSION} times ({compressed} compressed bytes gave {expanded}): a decompression bomb is refused; upload it uncompressed"
    )]
    Bomb { compressed: u64, expanded: u64 },
}
