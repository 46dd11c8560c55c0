//! Kiwix ZIM archives (openZIM's format), read on the format's published description: the
//! header, the MIME type list, the path-ordered pointer list of directory entries ("dirents"),
//! the cluster pointer list and the clusters (uncompressed, XZ/LZMA2 or Zstandard) whose blobs
//! hold the entries' content. An archive split into parts (`x.zimaa`, `x.zimab`, …) is read as
//! the one file their concatenation is.
//!
//! Both layouts are read: the older one with namespaces (articles under `A/`, pictures under
//! `I/`, metadata under `M/`; major version 5, or 6.0) and the current one without (content
//! under `C/`, told from the article's MIME type; version 6.1 and later). An **article** is a
//! content entry of MIME type `text/html` in the articles' namespace; redirects, pictures,
//! scripts, style sheets, metadata and search indexes are not articles.
//!
//! # Bounds: a hostile or damaged archive gives an error, never a panic, a hang or a huge allocation
//! - Every table (the pointer lists, the MIME list) must lie inside the file before it is read,
//!   so what is allocated for it is bounded by the file's size; a dirent is at most
//!   [`MAX_DIRENT`] bytes; the MIME list has at most [`MAX_MIMES`] types.
//! - A compressed cluster is unpacked to at most [`MAX_CLUSTER`] bytes (a "zip bomb" is an
//!   error, not an allocation), with XZ's dictionary bounded too; an uncompressed cluster is not
//!   loaded at all: its offset table and the one blob wanted are read where they lie.
//! - The checksum must sit where the format says (16 bytes before the end), the dirents must be
//!   sorted by path (a reader that binary-searches relies on it), blob offsets must be ordered
//!   and inside their cluster, cluster and MIME numbers must exist.
//! - Every loop runs over a count read from the header, checked against the file's size.
//!
//! Not done: the MD5 checksum is not verified (it would mean reading the whole archive once
//! more; a damaged cluster still fails when it is unpacked); the title index and the full-text
//! (Xapian) index inside archives are not used (this crate indexes the text itself); the
//! deprecated zlib and bzip2 clusters are refused.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The magic number that opens every ZIM file (`ZIM\x04`, little-endian).
const MAGIC: u32 = 0x044D_495A;
const HEADER: u64 = 80;
/// The most a compressed cluster may unpack to (writers make clusters of 1 to 8 MiB).
pub const MAX_CLUSTER: u64 = 256 << 20;
/// The longest directory entry read (its path, title and parameters included).
pub const MAX_DIRENT: usize = 64 << 10;
/// The most MIME types an archive may declare.
pub const MAX_MIMES: usize = 4096;
/// XZ's dictionary may need at most this much memory (the strongest preset uses 64 MiB).
const XZ_MEMORY_KB: u32 = 256 << 10;

/// Why an archive could not be read; the caller adds the file's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZimError {
    /// Shorter than the 80-byte header.
    #[error("too small to be a ZIM archive ({0} bytes, the header alone is 80)")]
    TooSmall(u64),
    /// The magic number is wrong.
    #[error("not a ZIM archive (magic number {0:#010x}, expected 0x044d495a)")]
    NotZim(u32),
    /// A major version this reader does not know.
    #[error("ZIM major version {0} is not supported (5 and 6 are)")]
    Version(u16),
    /// The checksum is not where it must be.
    #[error("invalid checksum position {pos} (it must be 16 bytes before the end, at {expected})")]
    ChecksumPos {
        /// Where the header says it is.
        pos: u64,
        /// Where it must be.
        expected: u64,
    },
    /// A table the header points to is not (fully) inside the file.
    #[error("the {what} (at {at}, {len} bytes) is not inside the archive ({size} bytes before the checksum)")]
    OutOfBounds {
        /// Which table.
        what: &'static str,
        /// Where the header says it starts.
        at: u64,
        /// How long it must be.
        len: u64,
        /// The archive's length, up to the checksum.
        size: u64,
    },
    /// The MIME type list is malformed.
    #[error("malformed MIME type list ({0})")]
    Mimes(&'static str),
    /// Two dirents are out of order.
    #[error("the directory is not sorted by path: entry {index} ({after:?}) comes after {before:?}")]
    NotSorted {
        /// The later entry's number.
        index: u32,
        /// The earlier entry's path.
        before: String,
        /// The later entry's path.
        after: String,
    },
    /// A dirent is malformed.
    #[error("directory entry {index} is malformed ({why})")]
    Dirent {
        /// Its number.
        index: u32,
        /// What is wrong.
        why: String,
    },
    /// A cluster is malformed.
    #[error("cluster {cluster} is malformed ({why})")]
    Cluster {
        /// Its number.
        cluster: u32,
        /// What is wrong.
        why: String,
    },
    /// A part of the archive could not be read.
    #[error("unreadable ({0})")]
    Io(String),
}

type Result<T, E = ZimError> = std::result::Result<T, E>;

/// Positional reads from the bytes of an archive.
pub trait ReadAt {
    /// The length in bytes.
    fn size(&self) -> u64;
    /// Fills `buf` from `offset`; the caller has checked the range lies inside.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()>;
}

impl ReadAt for [u8] {
    fn size(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| std::io::ErrorKind::UnexpectedEof)?;
        let src = self.get(start..start.saturating_add(buf.len())).ok_or(std::io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

impl ReadAt for Vec<u8> {
    fn size(&self) -> u64 {
        self.as_slice().len() as u64
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.as_slice().read_at(buf, offset)
    }
}

/// The files of an archive, one after the other: one file, or the parts of a split one.
pub struct Parts {
    files: Vec<(File, u64, u64)>,
    len: u64,
}

impl Parts {
    /// Opens `paths`, in order.
    pub fn open(paths: &[PathBuf]) -> std::io::Result<Parts> {
        let mut files = Vec::with_capacity(paths.len());
        let mut len = 0u64;
        for path in paths {
            let file = File::open(path)?;
            let size = file.metadata()?.len();
            files.push((file, len, size));
            len = len.saturating_add(size);
        }
        Ok(Parts { files, len })
    }
}

impl ReadAt for Parts {
    fn size(&self) -> u64 {
        self.len
    }
    fn read_at(&self, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
        for (file, start, size) in &self.files {
            if buf.is_empty() {
                break;
            }
            let end = start.saturating_add(*size);
            if offset >= end {
                continue;
            }
            let within = offset - start;
            let n = usize::try_from((end - offset).min(buf.len() as u64)).unwrap_or(buf.len());
            let (now, rest) = buf.split_at_mut(n);
            file.read_exact_at(now, within)?;
            buf = rest;
            offset += n as u64;
        }
        if buf.is_empty() { Ok(()) } else { Err(std::io::ErrorKind::UnexpectedEof.into()) }
    }
}

/// The parts of the archive `path` names: itself, or for `x.zimaa` every `x.zimab`, `x.zimac`, …
/// that follows without a gap.
pub fn parts_of(path: &Path) -> Vec<PathBuf> {
    let mut parts = vec![path.to_owned()];
    let name = path.to_string_lossy();
    if let Some(stem) = name.strip_suffix("aa").filter(|s| s.ends_with(".zim")) {
        for first in b'a'..=b'z' {
            for second in b'a'..=b'z' {
                if (first, second) == (b'a', b'a') {
                    continue;
                }
                let next = PathBuf::from(format!("{stem}{}{}", first as char, second as char));
                if !next.is_file() {
                    return parts;
                }
                parts.push(next);
            }
        }
    }
    parts
}

/// Whether `path` is a part after the first of a split archive (`.zimab` … `.zimzz`): it is
/// read with its first part, never alone.
pub fn is_later_part(path: &Path) -> bool {
    let Some(ext) = path.extension().and_then(|e| e.to_str()) else { return false };
    let b = ext.as_bytes();
    b.len() == 5 && b.starts_with(b"zim") && b[3].is_ascii_lowercase() && b[4].is_ascii_lowercase() && &b[3..] != b"aa"
}

/// The header's fields this reader uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Major and minor version.
    pub version: (u16, u16),
    /// The archive's id.
    pub uuid: [u8; 16],
    /// Directory entries.
    pub entries: u32,
    /// Clusters.
    pub clusters: u32,
    path_ptr: u64,
    cluster_ptr: u64,
    mime_list: u64,
    /// Where the MD5 checksum is: the end of everything else.
    pub checksum_pos: u64,
}

impl Header {
    /// Whether the archive uses namespaces (`A/` for articles): the older layout.
    pub fn namespaced(&self) -> bool {
        self.version.0 < 6 || self.version == (6, 0)
    }
}

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirent {
    /// Its namespace (`A`, `C`, `M`, …).
    pub namespace: u8,
    /// Its path in the namespace.
    pub path: String,
    /// Its title (the path when the archive gives none).
    pub title: String,
    /// Where its content is, for a content entry (`None`: a redirect or a deleted entry).
    pub content: Option<(u32, u32)>,
    /// Its MIME type (empty for a redirect).
    pub mime: String,
}

/// Where an article is: its dirent's number, cluster and blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ArticleRef {
    /// The cluster (first: articles are read in cluster order, each cluster unpacked once).
    pub cluster: u32,
    /// The blob in it.
    pub blob: u32,
    /// The dirent's number (path order).
    pub index: u32,
}

/// An article: its path in the archive, title and HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Article {
    /// Its path as the archive's readers show it: `A/Page.html` in the namespaced layout,
    /// `Page.html` in the other.
    pub path: String,
    /// Its title.
    pub title: String,
    /// Its content.
    pub html: Vec<u8>,
}

/// An open archive.
pub struct Archive<R: ReadAt> {
    data: R,
    /// The header.
    pub header: Header,
    mimes: Vec<String>,
    clusters: Vec<u64>,
    cached: Option<(u32, Cluster)>,
}

/// An unpacked cluster's blobs, or where an uncompressed one lies.
enum Cluster {
    Unpacked { offsets: Vec<u64>, data: Vec<u8> },
    InPlace { offsets: Vec<u64>, data_at: u64 },
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    let mut x = [0u8; 2];
    x.copy_from_slice(&b[at..at + 2]);
    u16::from_le_bytes(x)
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// The header in the first 80 bytes `h` of an archive of `size` bytes, checked.
pub fn header(h: &[u8; 80], size: u64) -> Result<Header> {
    let magic = u32_at(h, 0);
    if magic != MAGIC {
        return Err(ZimError::NotZim(magic));
    }
    let version = (u16_at(h, 4), u16_at(h, 6));
    if !matches!(version.0, 5 | 6) {
        return Err(ZimError::Version(version.0));
    }
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&h[8..24]);
    let header = Header {
        version,
        uuid,
        entries: u32_at(h, 24),
        clusters: u32_at(h, 28),
        path_ptr: u64_at(h, 32),
        cluster_ptr: u64_at(h, 48),
        mime_list: u64_at(h, 56),
        checksum_pos: u64_at(h, 72),
    };
    let expected = size.saturating_sub(16);
    if header.checksum_pos != expected || expected < HEADER {
        return Err(ZimError::ChecksumPos { pos: header.checksum_pos, expected });
    }
    let end = header.checksum_pos;
    let inside = |what, at: u64, len: u64| {
        if at >= HEADER && at.checked_add(len).is_some_and(|e| e <= end) {
            Ok(())
        } else {
            Err(ZimError::OutOfBounds { what, at, len, size: end })
        }
    };
    inside("path pointer list", header.path_ptr, u64::from(header.entries) * 8)?;
    inside("cluster pointer list", header.cluster_ptr, u64::from(header.clusters) * 8)?;
    inside("MIME type list", header.mime_list, 1)?;
    Ok(header)
}

/// The MIME types in `list` (zero-terminated strings ending with an empty one).
pub fn mimes(list: &[u8]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = list;
    loop {
        let end = rest.iter().position(|&b| b == 0).ok_or(ZimError::Mimes("no empty string ends it"))?;
        if end == 0 {
            return Ok(out);
        }
        if out.len() >= MAX_MIMES {
            return Err(ZimError::Mimes("too many types"));
        }
        out.push(String::from_utf8_lossy(&rest[..end]).into_owned());
        rest = &rest[end + 1..];
    }
}

/// The dirent in `b` (which holds it and perhaps more), number `index`, given the MIME types.
pub fn dirent(b: &[u8], index: u32, mimes: &[String]) -> Result<Dirent, String> {
    if b.len() < 12 {
        return Err("shorter than a redirect entry".into());
    }
    let mime = u16_at(b, 0);
    let namespace = b[3];
    let (content, mime, strings) = match mime {
        // A redirect (its target's number follows), a link target or a deleted entry.
        0xffff => (None, String::new(), 12),
        0xfffe | 0xfffd => (None, String::new(), 8),
        m => {
            if b.len() < 16 {
                return Err("shorter than a content entry".into());
            }
            let mime =
                mimes.get(usize::from(m)).ok_or_else(|| format!("MIME type {m} of {} declared", mimes.len()))?.clone();
            (Some((u32_at(b, 8), u32_at(b, 12))), mime, 16)
        }
    };
    let rest = &b[strings..];
    let path_end = rest.iter().position(|&c| c == 0).ok_or("its path has no end")?;
    let after = &rest[path_end + 1..];
    let title_end = after.iter().position(|&c| c == 0).ok_or("its title has no end")?;
    let text = |s: &[u8]| String::from_utf8(s.to_vec()).map_err(|_| format!("entry {index}: path or title not UTF-8"));
    let path = text(&rest[..path_end])?;
    let title = if title_end == 0 { path.clone() } else { text(&after[..title_end])? };
    Ok(Dirent { namespace, path, title, content, mime })
}

impl Archive<Parts> {
    /// Opens the archive whose first part (or only file) is `path`.
    pub fn open_path(path: &Path) -> Result<Archive<Parts>> {
        let parts = Parts::open(&parts_of(path)).map_err(|e| ZimError::Io(e.to_string()))?;
        Archive::open(parts)
    }
}

impl<R: ReadAt> Archive<R> {
    /// Reads and checks the header and the tables of `data`.
    pub fn open(data: R) -> Result<Archive<R>> {
        let size = data.size();
        if size < HEADER {
            return Err(ZimError::TooSmall(size));
        }
        let mut h = [0u8; 80];
        data.read_at(&mut h, 0).map_err(|e| ZimError::Io(e.to_string()))?;
        let header = header(&h, size)?;
        // The MIME list ends before the next table; read at most 64 KiB of it.
        let list_len = (header.checksum_pos - header.mime_list).min(64 << 10);
        let mut list = vec![0u8; list_len as usize];
        data.read_at(&mut list, header.mime_list).map_err(|e| ZimError::Io(e.to_string()))?;
        let mimes = mimes(&list)?;
        let mut raw = vec![0u8; header.clusters as usize * 8];
        data.read_at(&mut raw, header.cluster_ptr).map_err(|e| ZimError::Io(e.to_string()))?;
        let clusters: Vec<u64> = raw.chunks_exact(8).map(|c| u64_at(c, 0)).collect();
        for (n, &at) in clusters.iter().enumerate() {
            if at < HEADER || at >= header.checksum_pos {
                return Err(ZimError::Cluster {
                    cluster: n as u32,
                    why: format!("it starts at {at}, outside the archive ({} bytes)", header.checksum_pos),
                });
            }
        }
        Ok(Archive { data, header, mimes, clusters, cached: None })
    }

    fn io(e: std::io::Error) -> ZimError {
        ZimError::Io(e.to_string())
    }

    /// The dirent pointers `from..from + count`.
    fn pointers(&self, from: u32, count: u32) -> Result<Vec<u64>> {
        let mut raw = vec![0u8; count as usize * 8];
        self.data.read_at(&mut raw, self.header.path_ptr + u64::from(from) * 8).map_err(Self::io)?;
        Ok(raw.chunks_exact(8).map(|c| u64_at(c, 0)).collect())
    }

    /// Dirent `index`, which starts at `at`.
    fn dirent_at(&self, index: u32, at: u64) -> Result<Dirent> {
        let bad = |why: String| ZimError::Dirent { index, why };
        let end = self.header.checksum_pos;
        if at < HEADER || at >= end {
            return Err(bad(format!("it is at {at}, outside the archive ({end} bytes)")));
        }
        // Most dirents are short: read 512 bytes, and up to MAX_DIRENT if that is not enough.
        let mut want = 512u64;
        loop {
            let len = want.min(end - at);
            let mut b = vec![0u8; len as usize];
            self.data.read_at(&mut b, at).map_err(Self::io)?;
            match dirent(&b, index, &self.mimes) {
                Ok(d) => return Ok(d),
                Err(_) if len == want && want < MAX_DIRENT as u64 => want = MAX_DIRENT as u64,
                Err(why) => return Err(bad(why)),
            }
        }
    }

    /// The MD5 checksum the archive ends with (not verified here).
    pub fn checksum(&self) -> Result<[u8; 16]> {
        let mut sum = [0u8; 16];
        self.data.read_at(&mut sum, self.header.checksum_pos).map_err(Self::io)?;
        Ok(sum)
    }

    /// Dirent `index` (path order).
    pub fn entry(&self, index: u32) -> Result<Dirent> {
        if index >= self.header.entries {
            return Err(ZimError::Dirent { index, why: format!("there are {} entries", self.header.entries) });
        }
        let at = self.pointers(index, 1)?;
        self.dirent_at(index, at.first().copied().unwrap_or(0))
    }

    /// Whether `d` is an article: HTML content in the articles' namespace.
    fn is_article(&self, d: &Dirent) -> bool {
        let namespace = if self.header.namespaced() { b'A' } else { b'C' };
        d.content.is_some()
            && d.namespace == namespace
            && d.mime.split(';').next().is_some_and(|m| m.trim() == "text/html")
    }

    /// Every article, in cluster order; checks on the way that the directory is sorted, and
    /// first that the blob offsets of every uncompressed cluster (pictures, mostly: read only
    /// their tables) are in order and inside it. A compressed cluster is checked when it is
    /// unpacked, which those without articles never are.
    pub fn articles(&self) -> Result<Vec<ArticleRef>> {
        for n in 0..self.header.clusters {
            let (start, end) = self.span(n);
            let mut info = [0u8; 1];
            self.data.read_at(&mut info, start).map_err(Self::io)?;
            if matches!(info[0] & 0x0f, 0 | 1) {
                let width = if info[0] & 0x10 != 0 { 8 } else { 4 };
                offsets_in(&self.data, start + 1, end.saturating_sub(start + 1), width)
                    .map_err(|why| ZimError::Cluster { cluster: n, why })?;
            }
        }
        let mut out = Vec::new();
        let mut previous: Option<(u8, String)> = None;
        const CHUNK: u32 = 8192;
        let mut from = 0u32;
        while from < self.header.entries {
            let count = CHUNK.min(self.header.entries - from);
            for (i, at) in self.pointers(from, count)?.into_iter().enumerate() {
                let index = from + i as u32;
                let d = self.dirent_at(index, at)?;
                if let Some((ns, path)) = &previous
                    && (*ns, path.as_bytes()) >= (d.namespace, d.path.as_bytes())
                {
                    return Err(ZimError::NotSorted {
                        index,
                        before: format!("{}/{path}", *ns as char),
                        after: format!("{}/{}", d.namespace as char, d.path),
                    });
                }
                if self.is_article(&d)
                    && let Some((cluster, blob)) = d.content
                {
                    if cluster >= self.header.clusters {
                        return Err(ZimError::Dirent {
                            index,
                            why: format!("cluster {cluster} of {} clusters", self.header.clusters),
                        });
                    }
                    out.push(ArticleRef { cluster, blob, index });
                }
                previous = Some((d.namespace, d.path));
            }
            from += count;
        }
        out.sort_unstable();
        Ok(out)
    }

    /// The article `r` (from [`Archive::articles`]).
    pub fn article(&mut self, r: ArticleRef) -> Result<Article> {
        let d = self.entry(r.index)?;
        let html = self.blob(r.cluster, r.blob)?;
        let path = if self.header.namespaced() { format!("{}/{}", d.namespace as char, d.path) } else { d.path };
        Ok(Article { path, title: d.title, html })
    }

    /// Blob `blob` of cluster `cluster`.
    pub fn blob(&mut self, cluster: u32, blob: u32) -> Result<Vec<u8>> {
        if self.cached.as_ref().is_none_or(|(n, _)| *n != cluster) {
            let loaded = self.load(cluster)?;
            self.cached = Some((cluster, loaded));
        }
        let bad = |why: String| ZimError::Cluster { cluster, why };
        let Some((_, loaded)) = &self.cached else { return Err(bad("not loaded".into())) };
        let offsets = match loaded {
            Cluster::Unpacked { offsets, .. } | Cluster::InPlace { offsets, .. } => offsets,
        };
        let (Some(&start), Some(&end)) = (offsets.get(blob as usize), offsets.get(blob as usize + 1)) else {
            return Err(bad(format!("blob {blob} asked, it holds {}", offsets.len().saturating_sub(1))));
        };
        match loaded {
            Cluster::Unpacked { data, .. } => Ok(data[start as usize..end as usize].to_vec()),
            Cluster::InPlace { data_at, .. } => {
                let len = usize::try_from(end - start).map_err(|_| bad("a blob too large".into()))?;
                let mut out = vec![0u8; len];
                self.data.read_at(&mut out, data_at + start).map_err(Self::io)?;
                Ok(out)
            }
        }
    }

    /// Where cluster `n` is: its first byte and its end (the next cluster, or the checksum).
    fn span(&self, n: u32) -> (u64, u64) {
        let start = self.clusters[n as usize];
        let next = self.clusters.get(n as usize + 1).copied().filter(|&e| e > start);
        (start, next.unwrap_or(self.header.checksum_pos).min(self.header.checksum_pos))
    }

    fn load(&self, n: u32) -> Result<Cluster> {
        let bad = |why: String| ZimError::Cluster { cluster: n, why };
        let (start, end) = self.span(n);
        if end <= start + 1 {
            return Err(bad("empty".into()));
        }
        let mut info = [0u8; 1];
        self.data.read_at(&mut info, start).map_err(Self::io)?;
        let wide = info[0] & 0x10 != 0;
        let width: u64 = if wide { 8 } else { 4 };
        let data_at = start + 1;
        let room = end - data_at;
        match info[0] & 0x0f {
            0 | 1 => {
                let offsets = offsets_in(&self.data, data_at, room, width).map_err(bad)?;
                Ok(Cluster::InPlace { offsets, data_at })
            }
            kind @ (4 | 5) => {
                let region = Region { data: &self.data, at: data_at, end };
                let reader = std::io::BufReader::with_capacity(64 << 10, region);
                let mut data = Vec::new();
                let read = if kind == 4 {
                    lzma_rust2::XzReader::new_mem_limit(reader, true, XZ_MEMORY_KB)
                        .take(MAX_CLUSTER + 1)
                        .read_to_end(&mut data)
                } else {
                    let decoder =
                        ruzstd::decoding::StreamingDecoder::new(reader).map_err(|e| bad(format!("Zstandard: {e}")))?;
                    decoder.take(MAX_CLUSTER + 1).read_to_end(&mut data)
                };
                read.map_err(|e| bad(format!("{}: {e}", if kind == 4 { "XZ" } else { "Zstandard" })))?;
                if data.len() as u64 > MAX_CLUSTER {
                    return Err(bad(format!("it unpacks to more than {} MiB", MAX_CLUSTER >> 20)));
                }
                let offsets = offsets_in(&data, 0, data.len() as u64, width).map_err(bad)?;
                Ok(Cluster::Unpacked { offsets, data })
            }
            2 | 3 => Err(bad("zlib and bzip2 clusters are deprecated and not read".into())),
            other => Err(bad(format!("unknown compression {other}"))),
        }
    }
}

/// The blob offsets at `at` of a cluster's data of `room` bytes, each `width` bytes, checked:
/// the first gives their number, all are in order and inside.
fn offsets_in<R: ReadAt + ?Sized>(data: &R, at: u64, room: u64, width: u64) -> Result<Vec<u64>, String> {
    if room < width {
        return Err("too short for its offset table".into());
    }
    let read = |buf: &mut [u8], off: u64| data.read_at(buf, at + off).map_err(|e| e.to_string());
    let mut first = vec![0u8; width as usize];
    read(&mut first, 0)?;
    let value = |b: &[u8]| if width == 8 { u64_at(b, 0) } else { u64::from(u32_at(b, 0)) };
    let first = value(&first);
    if first < width || first % width != 0 || first > room {
        return Err(format!("its first offset {first} is not a table of {width}-byte offsets inside its {room} bytes"));
    }
    let mut raw = vec![0u8; first as usize];
    read(&mut raw, 0)?;
    let offsets: Vec<u64> = raw.chunks_exact(width as usize).map(value).collect();
    for pair in offsets.windows(2) {
        if pair[1] < pair[0] || pair[1] > room {
            return Err(format!("blob offset {} after {} (its data is {room} bytes)", pair[1], pair[0]));
        }
    }
    Ok(offsets)
}

/// The bytes `at..end` of an archive, as a reader for the decoders.
struct Region<'a, R: ReadAt> {
    data: &'a R,
    at: u64,
    end: u64,
}

impl<R: ReadAt> Read for Region<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (self.end - self.at).min(buf.len() as u64) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.data.read_at(&mut buf[..n], self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A small archive in memory: `entries` of (namespace, path, title, mime, content), each its
    /// own blob of one uncompressed cluster, in the namespaced layout (5.0).
    fn build(entries: &[(u8, &str, &str, u16, &[u8])], mimes: &[&str]) -> Vec<u8> {
        let mut out = vec![0u8; 80];
        let mime_list = out.len() as u64;
        for m in mimes {
            out.extend_from_slice(m.as_bytes());
            out.push(0);
        }
        out.push(0);
        let mut dirent_at = Vec::new();
        for (n, (ns, path, title, mime, _)) in entries.iter().enumerate() {
            dirent_at.push(out.len() as u64);
            out.extend_from_slice(&mime.to_le_bytes());
            out.push(0);
            out.push(*ns);
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&(n as u32).to_le_bytes());
            out.extend_from_slice(path.as_bytes());
            out.push(0);
            out.extend_from_slice(title.as_bytes());
            out.push(0);
        }
        let path_ptr = out.len() as u64;
        for at in &dirent_at {
            out.extend_from_slice(&at.to_le_bytes());
        }
        let cluster_at = out.len() as u64;
        out.push(1);
        let table = 4 * (entries.len() as u32 + 1);
        let mut offset = table;
        for (.., content) in entries {
            out.extend_from_slice(&offset.to_le_bytes());
            offset += content.len() as u32;
        }
        out.extend_from_slice(&offset.to_le_bytes());
        for (.., content) in entries {
            out.extend_from_slice(content);
        }
        let cluster_ptr = out.len() as u64;
        out.extend_from_slice(&cluster_at.to_le_bytes());
        let checksum_pos = out.len() as u64;
        out.extend_from_slice(&[0u8; 16]);
        out[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        out[4..6].copy_from_slice(&5u16.to_le_bytes());
        out[24..28].copy_from_slice(&(entries.len() as u32).to_le_bytes());
        out[28..32].copy_from_slice(&1u32.to_le_bytes());
        out[32..40].copy_from_slice(&path_ptr.to_le_bytes());
        out[48..56].copy_from_slice(&cluster_ptr.to_le_bytes());
        out[56..64].copy_from_slice(&mime_list.to_le_bytes());
        out[72..80].copy_from_slice(&checksum_pos.to_le_bytes());
        out
    }

    fn sample() -> Vec<u8> {
        build(
            &[
                (b'A', "Bees.html", "Bees", 0, b"<p>Bees make honey.</p>"),
                (b'A', "Wasps.html", "", 0, b"<p>Wasps sting.</p>"),
                (b'I', "bee.png", "bee", 1, b"\x89PNG"),
                (b'M', "Title", "Title", 2, b"Insects"),
            ],
            &["text/html", "image/png", "text/plain"],
        )
    }

    #[test]
    fn articles_are_the_html_entries_of_the_article_namespace_with_their_titles() {
        let mut archive = Archive::open(sample()).unwrap();
        assert!(archive.header.namespaced());
        let refs = archive.articles().unwrap();
        assert_eq!(refs.len(), 2);
        let first = archive.article(refs[0]).unwrap();
        assert_eq!((first.path.as_str(), first.title.as_str()), ("A/Bees.html", "Bees"));
        assert_eq!(first.html, b"<p>Bees make honey.</p>");
        let second = archive.article(refs[1]).unwrap();
        assert_eq!((second.path.as_str(), second.title.as_str()), ("A/Wasps.html", "Wasps.html"));
    }

    #[test]
    fn damaged_archives_give_errors_not_panics() {
        let good = sample();
        // Every truncation, and every byte flipped, gives an error or a result: never a panic.
        for cut in 0..good.len() {
            if let Ok(a) = Archive::open(good[..cut].to_vec()) {
                let _ = a.articles();
            }
        }
        for at in 0..good.len() {
            for value in [0x00, 0xff, 0x7f] {
                let mut bad = good.clone();
                bad[at] = value;
                if let Ok(mut a) = Archive::open(bad)
                    && let Ok(refs) = a.articles()
                {
                    for r in refs {
                        let _ = a.article(r);
                    }
                }
            }
        }
        let mut huge = good.clone();
        huge[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(Archive::open(huge), Err(ZimError::OutOfBounds { what: "path pointer list", .. })));
        let mut moved = good.clone();
        moved[72..80].copy_from_slice(&0u64.to_le_bytes());
        let expected = good.len() as u64 - 16;
        assert_eq!(Archive::open(moved).err(), Some(ZimError::ChecksumPos { pos: 0, expected }));
        assert_eq!(Archive::open(good[..40].to_vec()).err(), Some(ZimError::TooSmall(40)));
    }

    #[test]
    fn an_unsorted_directory_and_bad_blob_offsets_are_named() {
        let unsorted = build(&[(b'A', "b.html", "", 0, b"b"), (b'A', "a.html", "", 0, b"a")], &["text/html"]);
        let err = Archive::open(unsorted).unwrap().articles().unwrap_err();
        assert_eq!(
            err.to_string(),
            "the directory is not sorted by path: entry 1 (\"A/a.html\") comes after \"A/b.html\""
        );
        let mut bad = build(&[(b'A', "a.html", "", 0, b"aaaa"), (b'A', "b.html", "", 0, b"b")], &["text/html"]);
        let cluster_ptr = u64_at(&bad, 48) as usize;
        let cluster = u64_at(&bad, cluster_ptr) as usize;
        bad[cluster + 1 + 4..cluster + 1 + 8].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = Archive::open(bad).unwrap().articles().unwrap_err();
        assert!(matches!(&err, ZimError::Cluster { cluster: 0, why } if why.contains("4294967295")), "{err}");
    }

    #[test]
    fn later_parts_of_split_archives_are_known_by_name() {
        assert!(is_later_part(Path::new("w.zimab")));
        assert!(is_later_part(Path::new("w.zimzz")));
        assert!(!is_later_part(Path::new("w.zimaa")));
        assert!(!is_later_part(Path::new("w.zim")));
        assert!(!is_later_part(Path::new("w.zimAB")));
    }
}
