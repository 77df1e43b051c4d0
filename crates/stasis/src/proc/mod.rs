//! Pure parsers of /proc text and binary files. They take `&str`/`&[u8]` and
//! know nothing about ptrace; reading the files is the caller's business.

pub mod fdinfo;
pub mod limits;
pub mod maps;
pub mod pagemap;
pub mod stat;
pub mod status;
pub mod timers;

/// Why a /proc file could not be understood.
#[derive(Debug, thiserror::Error)]
#[error("cannot parse {file}: {what}")]
pub struct ParseError {
    pub file: &'static str,
    pub what: String,
}

impl ParseError {
    pub(crate) fn new(file: &'static str, what: impl Into<String>) -> Self {
        ParseError {
            file,
            what: what.into(),
        }
    }
}
