//! Strings capped as the bytes stream by, so no JSON value is ever held whole.

use std::io::{self, Read};

use crate::validate::MAX_FIELD_BYTES;

/// Caps every JSON string of the source as it streams by, before the parser buffers it: past
/// `MAX_FIELD_BYTES` (counting each character or escape as at least one byte) the rest of the
/// string is skipped. What is kept is still over the limit, so the value becomes the row error
/// `value_too_long` (a name that long fails the file), never a silent truncation; and a 300 MB
/// string costs what a 64 KB one does.
pub(super) struct CapStrings<R> {
    pub(super) inner: R,
    pub(super) lex: Lex,
    /// Bytes of the current string kept so far, at least.
    pub(super) kept: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Lex {
    Outside,
    InString,
    /// After a backslash.
    Escape,
    /// Hex digits of a `\u` escape left.
    Hex(u8),
    /// Past the cap: dropping the string up to its closing quote.
    Skip,
    SkipEscape,
}

/// The kept part of a capped string: one byte over the field limit.
pub(super) const STRING_CAP: usize = MAX_FIELD_BYTES + 1;

impl<R> CapStrings<R> {
    pub(super) fn new(inner: R) -> Self {
        Self { inner, lex: Lex::Outside, kept: 0 }
    }
}

impl<R: Read> Read for CapStrings<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.inner.read(buf)?;
            let mut out = 0;
            for i in 0..n {
                let b = buf[i];
                let (next, keep) = match (self.lex, b) {
                    (Lex::Outside, b'"') => {
                        self.kept = 0;
                        (Lex::InString, true)
                    }
                    (Lex::Outside, _) => (Lex::Outside, true),
                    (Lex::InString, b'"') => (Lex::Outside, true),
                    // Cut only where a character starts, outside any escape: what is kept stays
                    // valid UTF-8 and valid JSON.
                    (Lex::InString, _) if self.kept >= STRING_CAP && b & 0xC0 != 0x80 => match b {
                        b'\\' => (Lex::SkipEscape, false),
                        _ => (Lex::Skip, false),
                    },
                    (Lex::InString, b'\\') => {
                        self.kept += 1;
                        (Lex::Escape, true)
                    }
                    (Lex::InString, _) => {
                        self.kept += 1;
                        (Lex::InString, true)
                    }
                    (Lex::Escape, b'u') => (Lex::Hex(4), true),
                    (Lex::Escape, _) | (Lex::Hex(1), _) => (Lex::InString, true),
                    (Lex::Hex(left), _) => (Lex::Hex(left - 1), true),
                    (Lex::Skip, b'"') => (Lex::Outside, true),
                    (Lex::Skip, b'\\') => (Lex::SkipEscape, false),
                    (Lex::Skip, _) | (Lex::SkipEscape, _) => (Lex::Skip, false),
                };
                self.lex = next;
                if keep {
                    buf[out] = b;
                    out += 1;
                }
            }
            // All of a read skipped is not the end of the source.
            if out > 0 || n == 0 {
                return Ok(out);
            }
        }
    }
}
