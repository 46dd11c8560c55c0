//! A reader for the header of a GGUF file: enough to name what is wrong with a bad file before
//! llama.cpp sees it, and to list a model's architecture, context length and chat template.
//!
//! llama.cpp reports a failed load only as a null pointer (the reason goes to its log), so the
//! checks a user most often needs — "not a GGUF", "truncated", "which architecture" — are made here.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

const MAGIC: &[u8; 4] = b"GGUF";
/// Upper bounds that no real model reaches; a header claiming more is corrupt, and reading it
/// as-is would allocate without limit.
const MAX_STRING_LEN: u64 = 64 << 20;
const MAX_ENTRIES: u64 = 1 << 24;

/// What the header of a GGUF file says about the model in it.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufInfo {
    /// GGUF format version (2 or 3).
    pub version: u32,
    /// `general.architecture`, e.g. `llama`, `gemma3`, `qwen3moe`.
    pub architecture: String,
    /// `general.name`, when present.
    pub name: Option<String>,
    /// `<arch>.context_length`: the context the model was trained for.
    pub context_length: Option<u64>,
    /// Whether `tokenizer.chat_template` is present.
    pub has_chat_template: bool,
    /// Number of tensors.
    pub tensor_count: u64,
    /// Size of the file in bytes.
    pub file_size: u64,
}

/// Why a file is not a usable GGUF.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GgufError {
    /// The file could not be opened or read.
    #[error("cannot read the file: {0}")]
    Io(String),
    /// The first four bytes are not `GGUF`.
    #[error("not a GGUF file (it does not start with the bytes `GGUF`)")]
    NotGguf,
    /// A version this reader does not know.
    #[error("GGUF version {0} is not supported (known: 2 and 3)")]
    Version(u32),
    /// The file ends before its header or tensor data does.
    #[error("the file is truncated: {0}")]
    Truncated(String),
    /// The header contradicts itself.
    #[error("the header is corrupt: {0}")]
    Corrupt(String),
    /// `general.architecture` is missing.
    #[error("the header has no `general.architecture` key")]
    NoArchitecture,
}

/// Reads and checks the header of the GGUF file at `path`.
pub fn inspect(path: &Path) -> Result<GgufInfo, GgufError> {
    let file = File::open(path).map_err(|e| GgufError::Io(e.to_string()))?;
    let file_size = file.metadata().map_err(|e| GgufError::Io(e.to_string()))?.len();
    let mut r = Reader { inner: BufReader::with_capacity(1 << 16, file), file_size };
    let mut magic = [0u8; 4];
    r.bytes(&mut magic, "the magic number")?;
    if &magic != MAGIC {
        return Err(GgufError::NotGguf);
    }
    let version = r.u32("the version")?;
    if !(2..=3).contains(&version) {
        return Err(GgufError::Version(version));
    }
    let tensor_count = r.count("the tensor count")?;
    let kv_count = r.count("the metadata count")?;

    let mut strings = BTreeMap::new();
    let mut numbers = BTreeMap::new();
    for _ in 0..kv_count {
        let key = r.string("a metadata key")?;
        let kind = r.u32("a metadata type")?;
        match kind {
            STRING => {
                let value = r.string(&key)?;
                strings.insert(key, value);
            }
            _ => {
                if let Some(n) = r.value(kind, &key)? {
                    numbers.insert(key, n);
                }
            }
        }
    }
    let alignment = numbers.get("general.alignment").copied().unwrap_or(32).max(1);

    let mut data_extent = 0u64;
    for _ in 0..tensor_count {
        let name = r.string("a tensor name")?;
        let dims = r.u32("a tensor's dimension count")?;
        if dims > 8 {
            return Err(GgufError::Corrupt(format!("tensor `{name}` claims {dims} dimensions")));
        }
        for _ in 0..dims {
            r.u64("a tensor dimension")?;
        }
        r.u32("a tensor type")?;
        let offset = r.u64("a tensor offset")?;
        data_extent = data_extent.max(offset);
    }
    let header_end = r.position()?;
    let data_start = header_end.div_ceil(alignment) * alignment;
    if tensor_count > 0 && data_start.saturating_add(data_extent) >= file_size {
        return Err(GgufError::Truncated(format!(
            "tensor data reaches past byte {} but the file has {file_size} bytes",
            data_start.saturating_add(data_extent)
        )));
    }

    let architecture = strings.get("general.architecture").cloned().ok_or(GgufError::NoArchitecture)?;
    let context_length = numbers.get(&format!("{architecture}.context_length")).copied();
    Ok(GgufInfo {
        version,
        name: strings.get("general.name").cloned(),
        has_chat_template: strings.contains_key("tokenizer.chat_template"),
        architecture,
        context_length,
        tensor_count,
        file_size,
    })
}

const U8: u32 = 0;
const I8: u32 = 1;
const U16: u32 = 2;
const I16: u32 = 3;
const U32: u32 = 4;
const I32: u32 = 5;
const F32: u32 = 6;
const BOOL: u32 = 7;
const STRING: u32 = 8;
const ARRAY: u32 = 9;
const U64: u32 = 10;
const I64: u32 = 11;
const F64: u32 = 12;

struct Reader {
    inner: BufReader<File>,
    file_size: u64,
}

impl Reader {
    fn bytes(&mut self, buf: &mut [u8], what: &str) -> Result<(), GgufError> {
        self.inner.read_exact(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => GgufError::Truncated(format!("the header ends while reading {what}")),
            _ => GgufError::Io(e.to_string()),
        })
    }

    fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        let mut b = [0u8; 4];
        self.bytes(&mut b, what)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        let mut b = [0u8; 8];
        self.bytes(&mut b, what)?;
        Ok(u64::from_le_bytes(b))
    }

    fn count(&mut self, what: &str) -> Result<u64, GgufError> {
        let n = self.u64(what)?;
        if n > MAX_ENTRIES {
            return Err(GgufError::Corrupt(format!("{what} is {n}")));
        }
        Ok(n)
    }

    fn string_len(&mut self, what: &str) -> Result<u64, GgufError> {
        let len = self.u64(what)?;
        if len > MAX_STRING_LEN || len > self.file_size {
            return Err(GgufError::Corrupt(format!("{what} claims a length of {len} bytes")));
        }
        Ok(len)
    }

    fn string(&mut self, what: &str) -> Result<String, GgufError> {
        let len = self.string_len(what)?;
        let mut buf = vec![0u8; usize::try_from(len).map_err(|_| GgufError::Corrupt(what.to_owned()))?];
        self.bytes(&mut buf, what)?;
        String::from_utf8(buf).map_err(|_| GgufError::Corrupt(format!("{what} is not UTF-8")))
    }

    fn skip(&mut self, n: u64, what: &str) -> Result<(), GgufError> {
        let here = self.position()?;
        if here.saturating_add(n) > self.file_size {
            return Err(GgufError::Truncated(format!("the header ends inside {what}")));
        }
        let n = i64::try_from(n).map_err(|_| GgufError::Corrupt(what.to_owned()))?;
        self.inner.seek_relative(n).map_err(|e| GgufError::Io(e.to_string()))
    }

    fn position(&mut self) -> Result<u64, GgufError> {
        self.inner.stream_position().map_err(|e| GgufError::Io(e.to_string()))
    }

    /// Reads one value of type `kind`; integers come back as `u64` (what the caller needs:
    /// lengths and alignment), everything else is skipped.
    fn value(&mut self, kind: u32, what: &str) -> Result<Option<u64>, GgufError> {
        match kind {
            U8 | I8 | BOOL => {
                let mut b = [0u8; 1];
                self.bytes(&mut b, what)?;
                Ok(Some(u64::from(b[0])))
            }
            U16 | I16 => {
                let mut b = [0u8; 2];
                self.bytes(&mut b, what)?;
                Ok(Some(u64::from(u16::from_le_bytes(b))))
            }
            U32 | I32 => Ok(Some(u64::from(self.u32(what)?))),
            F32 => self.skip(4, what).map(|()| None),
            U64 | I64 => Ok(Some(self.u64(what)?)),
            F64 => self.skip(8, what).map(|()| None),
            STRING => {
                let len = self.string_len(what)?;
                self.skip(len, what).map(|()| None)
            }
            ARRAY => {
                let item_kind = self.u32(what)?;
                let n = self.u64(what)?;
                let width = match item_kind {
                    U8 | I8 | BOOL => Some(1),
                    U16 | I16 => Some(2),
                    U32 | I32 | F32 => Some(4),
                    U64 | I64 | F64 => Some(8),
                    STRING => None,
                    other => return Err(GgufError::Corrupt(format!("array `{what}` has item type {other}"))),
                };
                match width {
                    Some(w) => self.skip(n.saturating_mul(w), what)?,
                    None => {
                        if n > self.file_size / 8 {
                            return Err(GgufError::Corrupt(format!("array `{what}` claims {n} strings")));
                        }
                        for _ in 0..n {
                            let len = self.string_len(what)?;
                            self.skip(len, what)?;
                        }
                    }
                }
                Ok(None)
            }
            other => Err(GgufError::Corrupt(format!("`{what}` has unknown type {other}"))),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A minimal GGUF writer for crafting good and bad headers.
    fn gguf(kvs: &[(&str, &str)], tensors: &[(&str, u64)], data_len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(kvs.len() as u64).to_le_bytes());
        let s = |out: &mut Vec<u8>, v: &str| {
            out.extend_from_slice(&(v.len() as u64).to_le_bytes());
            out.extend_from_slice(v.as_bytes());
        };
        for (k, v) in kvs {
            s(&mut out, k);
            out.extend_from_slice(&STRING.to_le_bytes());
            s(&mut out, v);
        }
        for (name, offset) in tensors {
            s(&mut out, name);
            out.extend_from_slice(&1u32.to_le_bytes());
            out.extend_from_slice(&4u64.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
        }
        while out.len() % 32 != 0 {
            out.push(0);
        }
        out.extend(std::iter::repeat_n(0u8, data_len));
        out
    }

    fn write(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    #[test]
    fn reads_architecture_and_name() {
        let f = write(&gguf(&[("general.architecture", "llama"), ("general.name", "tiny")], &[("w", 0)], 64));
        let info = inspect(f.path()).unwrap();
        assert_eq!(info.architecture, "llama");
        assert_eq!(info.name.as_deref(), Some("tiny"));
        assert!(!info.has_chat_template);
    }

    #[test]
    fn names_each_kind_of_bad_file() {
        let not = write(b"PK\x03\x04 this is a zip");
        assert_eq!(inspect(not.path()), Err(GgufError::NotGguf));
        let good = gguf(&[("general.architecture", "llama")], &[("w", 0), ("v", 4096)], 8192);
        let cut = write(&good[..good.len() - 5000]);
        assert!(matches!(inspect(cut.path()), Err(GgufError::Truncated(_))), "{:?}", inspect(cut.path()));
        let header_cut = write(&good[..30]);
        assert!(matches!(inspect(header_cut.path()), Err(GgufError::Truncated(_))));
        let no_arch = write(&gguf(&[("general.name", "x")], &[], 0));
        assert_eq!(inspect(no_arch.path()), Err(GgufError::NoArchitecture));
        let mut huge = gguf(&[("general.architecture", "llama")], &[], 0);
        huge[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
        let huge = write(&huge);
        assert!(matches!(inspect(huge.path()), Err(GgufError::Corrupt(_))));
        assert!(matches!(inspect(Path::new("/nonexistent/model.gguf")), Err(GgufError::Io(_))));
    }
}
