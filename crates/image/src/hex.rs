//! Lowercase hex for `bytes` fields in `stasis show` output (XSAVE areas, siginfo, auxv),
//! which serde would otherwise print as long lists of numbers.

use std::fmt::Write as _;

use serde::Serializer;

/// `bytes` as lowercase hex, two digits a byte.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

pub(crate) fn serialize<B, S>(bytes: &B, serializer: S) -> Result<S::Ok, S::Error>
where
    B: AsRef<[u8]>,
    S: Serializer,
{
    serializer.serialize_str(&encode(bytes.as_ref()))
}

/// `repeated bytes` as a list of hex strings.
pub(crate) fn serialize_list<S>(list: &[Vec<u8>], serializer: S) -> Result<S::Ok, S::Error>
where
    S: Serializer,
{
    serializer.collect_seq(list.iter().map(|bytes| encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_lowercase_two_digits_per_byte() {
        assert_eq!(encode(&[]), "");
        assert_eq!(encode(&[0x00, 0x0f, 0xab, 0xff]), "000fabff");
    }
}
