//! Checks and extracts `.zip`, `.tar`, `.tar.gz` and `.tgz` archives safely:
//! no entry may leave the destination, be a link or a device, or make the
//! archive expand beyond the configured limits (zip bombs).
//!
//! Both checking and extracting stream every entry's bytes, so the limits hold
//! for what an archive really expands to, not only for what its headers claim.

use std::cell::Cell;
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::error::{Error, Result};

/// How far an archive may expand. Exceeding any limit fails with [`Error::UnsafeArchive`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// The most bytes all entries together may expand to (default 2 GiB).
    pub max_total_bytes: u64,
    /// The most entries (files and directories) an archive may hold (default 100,000).
    pub max_entries: u64,
    /// The most an archive may expand relative to its compressed size (default 200).
    /// Output below 1 MiB is never judged by ratio, since tiny files compress unevenly.
    pub max_ratio: u64,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        Self {
            max_total_bytes: 2 << 30,
            max_entries: 100_000,
            max_ratio: 200,
        }
    }
}

/// Expansion below this many bytes is never called a bomb, whatever its ratio.
const RATIO_FLOOR: u64 = 1 << 20;

/// Room for tar headers and padding in the decompressed stream, per entry.
const TAR_OVERHEAD_PER_ENTRY: u64 = 1536;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Zip,
    Tar,
    TarGz,
}

fn format_of(path: &str) -> Option<Format> {
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".zip") {
        Some(Format::Zip)
    } else if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") {
        Some(Format::TarGz)
    } else if lower.ends_with(".tar") {
        Some(Format::Tar)
    } else {
        None
    }
}

/// True when the file name says it is an archive Keel extracts: `.zip`, `.tar`, `.tar.gz`, `.tgz`.
pub fn is_archive(path: &str) -> bool {
    format_of(path).is_some()
}

/// Validates every entry of an archive (names, types, sizes, expansion) without writing anything.
pub fn check_archive(path: &Path, limits: &ArchiveLimits) -> Result<()> {
    check_archive_named(path, &path.display().to_string(), limits).map(|_| ())
}

/// Like [`check_archive`], naming the archive `name` in errors (a path
/// relative to the model directory); answers the files it would extract, as
/// normalised relative paths, sorted.
pub(crate) fn check_archive_named(
    path: &Path,
    name: &str,
    limits: &ArchiveLimits,
) -> Result<Vec<String>> {
    let mut walker = Walker::new(path, name, limits, None)?;
    walker.walk()?;
    let mut files: Vec<String> = walker.files.into_iter().collect();
    files.sort();
    Ok(files)
}

/// Extracts an archive's regular files and directories into `dest` (created if
/// missing), after checking the whole archive first. Returns the files written,
/// as paths under `dest`. Existing files are never overwritten and existing
/// links at the destination are never followed; either fails the extraction.
pub fn extract_archive(path: &Path, dest: &Path, limits: &ArchiveLimits) -> Result<Vec<PathBuf>> {
    extract_archive_named(path, &path.display().to_string(), dest, limits)
}

pub(crate) fn extract_archive_named(
    path: &Path,
    name: &str,
    dest: &Path,
    limits: &ArchiveLimits,
) -> Result<Vec<PathBuf>> {
    // Checking first means a bad archive leaves nothing half-extracted behind.
    Walker::new(path, name, limits, None)?.run()?;
    fs::create_dir_all(dest).map_err(|e| Error::io("create the directory", dest, e))?;
    Walker::new(path, name, limits, Some(dest))?.run()
}

/// Validates an entry name and returns it as a normalised relative path, or
/// `None` for names that mean the root itself (such as `./`).
pub(crate) fn entry_path(name: &str) -> std::result::Result<Option<String>, String> {
    let bytes = name.as_bytes();
    if name.contains('\0') {
        return Err("contains a NUL byte".into());
    }
    if name.contains('\\') {
        return Err("contains a backslash, which Windows reads as a directory separator".into());
    }
    if name.starts_with('/') {
        return Err("is an absolute path".into());
    }
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Err("starts with a Windows drive letter".into());
    }
    let parts: Vec<&str> = name
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return Err("climbs out of the destination with '..'".into());
    }
    if parts.is_empty() {
        return Ok(None);
    }
    Ok(Some(parts.join("/")))
}

/// The raw names in a zip's central directory starting at `start`, at most
/// `max` of them, read from the headers themselves (signature `PK\x01\x02`)
/// until the first record that is not one.
fn central_directory_names(file: &mut File, start: u64, max: u64) -> io::Result<Vec<Vec<u8>>> {
    use std::io::{Seek, SeekFrom};
    const SIGNATURE: [u8; 4] = [b'P', b'K', 1, 2];
    let mut reader = BufReader::new(file);
    reader.seek(SeekFrom::Start(start))?;
    let mut names = Vec::new();
    let mut header = [0u8; 46];
    while (names.len() as u64) < max {
        match reader.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
        if header[..4] != SIGNATURE {
            break;
        }
        let u16_at = |i: usize| u64::from(u16::from_le_bytes([header[i], header[i + 1]]));
        let (name_len, extra_len, comment_len) = (u16_at(28), u16_at(30), u16_at(32));
        let mut name = Vec::new();
        reader.by_ref().take(name_len).read_to_end(&mut name)?;
        let skip = i64::try_from(extra_len + comment_len).unwrap_or(0);
        reader.seek_relative(skip)?;
        names.push(name);
    }
    Ok(names)
}

/// Reads a decompressed tar stream while counting, failing once it passes `limit`.
struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
    limit: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.count.get() > self.limit {
            return Err(io::Error::other("the archive expands beyond Keel's limits"));
        }
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get().saturating_add(n as u64));
        if self.count.get() > self.limit {
            return Err(io::Error::other("the archive expands beyond Keel's limits"));
        }
        Ok(n)
    }
}

/// One pass over an archive: validation always, writing when `dest` is set.
struct Walker<'a> {
    path: &'a Path,
    name: &'a str,
    limits: &'a ArchiveLimits,
    dest: Option<&'a Path>,
    format: Format,
    archive_len: u64,
    entries: u64,
    total: u64,
    files: HashSet<String>,
    dirs: HashSet<String>,
    written: Vec<PathBuf>,
    /// For tar formats: bytes read from the (decompressed) stream so far, and its cap.
    stream: Option<(Rc<Cell<u64>>, u64)>,
}

impl<'a> Walker<'a> {
    fn new(
        path: &'a Path,
        name: &'a str,
        limits: &'a ArchiveLimits,
        dest: Option<&'a Path>,
    ) -> Result<Self> {
        let format = format_of(&path.to_string_lossy()).ok_or_else(|| Error::Archive {
            archive: name.to_string(),
            message: "its name does not end in .zip, .tar, .tar.gz or .tgz, so Keel does not know how to open it.".into(),
        })?;
        let archive_len = fs::metadata(path)
            .map_err(|e| Error::io("read", path, e))?
            .len();
        Ok(Self {
            path,
            name,
            limits,
            dest,
            format,
            archive_len,
            entries: 0,
            total: 0,
            files: HashSet::new(),
            dirs: HashSet::new(),
            written: Vec::new(),
            stream: None,
        })
    }

    fn run(mut self) -> Result<Vec<PathBuf>> {
        self.walk()?;
        Ok(self.written)
    }

    fn walk(&mut self) -> Result<()> {
        match self.format {
            Format::Zip => self.zip(),
            Format::Tar | Format::TarGz => self.tar(),
        }
    }

    /// Refuses a zip whose central directory lists one name twice: the zip
    /// reader keeps only the last, so the copy that wins would be silent.
    fn zip_duplicates(&self, zip: &zip::ZipArchive<BufReader<File>>) -> Result<()> {
        let mut file = File::open(self.path).map_err(|e| Error::io("open", self.path, e))?;
        let names = central_directory_names(
            &mut file,
            zip.central_directory_start(),
            self.limits.max_entries.saturating_add(1),
        )
        .map_err(|e| self.unreadable(e))?;
        let mut seen = HashSet::new();
        for name in names {
            if !seen.insert(name.clone()) {
                return Err(self.unsafe_entry(
                    &String::from_utf8_lossy(&name),
                    "appears twice in the archive's directory, and only one copy could be extracted",
                ));
            }
        }
        Ok(())
    }

    fn unsafe_entry(&self, entry: &str, reason: impl Into<String>) -> Error {
        Error::UnsafeArchive {
            archive: self.name.to_string(),
            entry: entry.to_string(),
            reason: reason.into(),
        }
    }

    fn unreadable(&self, message: impl std::fmt::Display) -> Error {
        Error::Archive {
            archive: self.name.to_string(),
            message: format!(
                "{message}. The file is damaged or not an archive of the kind its name says; rebuild it."
            ),
        }
    }

    fn ratio_limit(&self) -> u64 {
        self.limits
            .max_ratio
            .saturating_mul(self.archive_len.max(1))
            .max(RATIO_FLOOR)
    }

    fn too_much_ratio(&self) -> String {
        format!(
            "makes the archive expand more than {} times its size of {} bytes, as a zip bomb does",
            self.limits.max_ratio, self.archive_len
        )
    }

    fn too_large(&self) -> String {
        format!(
            "makes the archive expand beyond the limit of {} bytes",
            self.limits.max_total_bytes
        )
    }

    fn count_entry(&mut self, entry: &str) -> Result<()> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(self.unsafe_entry(
                entry,
                format!(
                    "is beyond the limit of {} entries per archive",
                    self.limits.max_entries
                ),
            ));
        }
        Ok(())
    }

    fn rel_path(&self, entry: &str) -> Result<Option<String>> {
        entry_path(entry).map_err(|reason| self.unsafe_entry(entry, reason))
    }

    /// Records an entry's path, rejecting duplicates and file/directory clashes,
    /// which would otherwise make extraction depend on entry order.
    fn register(&mut self, entry: &str, rel: &str, dir: bool) -> Result<()> {
        let mut ancestors = Vec::new();
        let mut at = 0;
        while let Some(i) = rel[at..].find('/') {
            ancestors.push(&rel[..at + i]);
            at += i + 1;
        }
        if let Some(file) = ancestors.iter().find(|a| self.files.contains(**a)) {
            return Err(self.unsafe_entry(
                entry,
                format!("lies below '{file}', which an earlier entry made a file"),
            ));
        }
        if self.files.contains(rel) {
            return Err(self.unsafe_entry(entry, "appears twice in the archive"));
        }
        if !dir && self.dirs.contains(rel) {
            return Err(self.unsafe_entry(
                entry,
                "names a file where an earlier entry made a directory",
            ));
        }
        for a in ancestors {
            self.dirs.insert(a.to_string());
        }
        if dir {
            self.dirs.insert(rel.to_string());
        } else {
            self.files.insert(rel.to_string());
        }
        Ok(())
    }

    /// Creates the directories above `rel` inside the destination, refusing to pass through links.
    fn prepare_parents(
        &self,
        dest: &Path,
        entry: &str,
        rel: &str,
        include_self: bool,
    ) -> Result<PathBuf> {
        let parts: Vec<&str> = rel.split('/').collect();
        let dirs = if include_self {
            parts.len()
        } else {
            parts.len().saturating_sub(1)
        };
        let mut at = dest.to_path_buf();
        for part in &parts[..dirs] {
            at.push(part);
            match fs::symlink_metadata(&at) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(self.unsafe_entry(
                        entry,
                        format!(
                            "would be written through the symbolic link {} in the destination",
                            at.display()
                        ),
                    ));
                }
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(self.unsafe_entry(
                        entry,
                        format!(
                            "needs the directory {}, but a file of that name exists in the destination",
                            at.display()
                        ),
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir(&at).map_err(|e| Error::io("create the directory", &at, e))?;
                }
                Err(e) => return Err(Error::io("inspect", &at, e)),
            }
        }
        if include_self {
            Ok(at)
        } else {
            Ok(at.join(parts[parts.len() - 1]))
        }
    }

    /// Handles a directory entry.
    fn directory(&mut self, entry: &str, rel: &str) -> Result<()> {
        self.register(entry, rel, true)?;
        if let Some(dest) = self.dest {
            self.prepare_parents(dest, entry, rel, true)?;
        }
        Ok(())
    }

    /// Streams a regular file's bytes, checking limits as they arrive and writing them when extracting.
    fn file(&mut self, entry: &str, rel: &str, reader: &mut dyn Read, declared: u64) -> Result<()> {
        self.register(entry, rel, false)?;
        let mut out = match self.dest {
            Some(dest) => {
                let target = self.prepare_parents(dest, entry, rel, false)?;
                // `create_new` fails on any existing name, links included, so nothing
                // outside the destination can be written through a planted link.
                let file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&target)
                    .map_err(|e| {
                        if e.kind() == io::ErrorKind::AlreadyExists {
                            self.unsafe_entry(
                                entry,
                                format!(
                                    "would overwrite {}, which already exists in the destination",
                                    target.display()
                                ),
                            )
                        } else {
                            Error::io("create", &target, e)
                        }
                    })?;
                Some((file, target))
            }
            None => None,
        };
        let ratio_limit = self.ratio_limit();
        let mut buf = vec![0u8; 64 * 1024];
        let mut entry_bytes = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.stream_error(entry, e)),
            };
            entry_bytes += n as u64;
            self.total += n as u64;
            if entry_bytes > declared {
                return Err(self.unsafe_entry(
                    entry,
                    format!("expands beyond its declared size of {declared} bytes"),
                ));
            }
            if self.total > self.limits.max_total_bytes {
                return Err(self.unsafe_entry(entry, self.too_large()));
            }
            if self.format == Format::TarGz && self.total > ratio_limit {
                return Err(self.unsafe_entry(entry, self.too_much_ratio()));
            }
            if let Some((file, target)) = out.as_mut() {
                file.write_all(&buf[..n])
                    .map_err(|e| Error::io("write", target, e))?;
            }
        }
        if let Some((file, target)) = out {
            file.sync_all()
                .map_err(|e| Error::io("write", &target, e))?;
            self.written.push(target);
        }
        Ok(())
    }

    /// Turns a read failure into the most telling error: a limit, or a damaged archive.
    fn stream_error(&self, entry: &str, e: io::Error) -> Error {
        match self.stream_limit_reason() {
            Some(reason) => self.unsafe_entry(entry, reason),
            None => self.unreadable(format!("reading the entry '{entry}' failed: {e}")),
        }
    }

    /// Why the tar stream was cut off, if the counting reader cut it off.
    fn stream_limit_reason(&self) -> Option<String> {
        let (count, limit) = self.stream.as_ref()?;
        let count = count.get();
        if count <= *limit {
            return None;
        }
        if self.format == Format::TarGz && count > self.ratio_limit() {
            Some(self.too_much_ratio())
        } else {
            Some(self.too_large())
        }
    }

    fn zip(&mut self) -> Result<()> {
        let file = File::open(self.path).map_err(|e| Error::io("open", self.path, e))?;
        let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| self.unreadable(e))?;
        self.zip_duplicates(&zip)?;
        // First pass: headers only, so a bomb or a bad name fails before any decompression.
        let mut declared_total = 0u64;
        for i in 0..zip.len() {
            let entry = zip.by_index_raw(i).map_err(|e| self.unreadable(e))?;
            let name = entry.name().to_string();
            let (size, compressed, mode, encrypted, is_dir) = (
                entry.size(),
                entry.compressed_size(),
                entry.unix_mode(),
                entry.encrypted(),
                entry.is_dir(),
            );
            drop(entry);
            self.count_entry(&name)?;
            self.rel_path(&name)?;
            if encrypted {
                return Err(Error::Archive {
                    archive: self.name.to_string(),
                    message: format!(
                        "its entry '{name}' is encrypted, so Keel cannot check it. Rebuild the archive without a password."
                    ),
                });
            }
            match mode.map(|m| m & 0o170000) {
                None | Some(0) | Some(0o100000) | Some(0o040000) => {}
                Some(0o120000) => return Err(self.unsafe_entry(&name, "is a symbolic link")),
                Some(_) => {
                    return Err(self.unsafe_entry(&name, "is a device file, FIFO or socket"));
                }
            }
            if is_dir {
                continue;
            }
            declared_total = declared_total.saturating_add(size);
            if declared_total > self.limits.max_total_bytes {
                return Err(self.unsafe_entry(&name, self.too_large()));
            }
            if size > RATIO_FLOOR && size / compressed.max(1) > self.limits.max_ratio {
                return Err(self.unsafe_entry(
                    &name,
                    format!(
                        "expands {} times (from {compressed} to {size} bytes), more than the limit of {}, as a zip bomb does",
                        size / compressed.max(1),
                        self.limits.max_ratio
                    ),
                ));
            }
            if declared_total > self.ratio_limit() {
                return Err(self.unsafe_entry(&name, self.too_much_ratio()));
            }
        }
        // Second pass: stream every entry, holding it to its declared size.
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i).map_err(|e| self.unreadable(e))?;
            let name = entry.name().to_string();
            let Some(rel) = self.rel_path(&name)? else {
                continue;
            };
            let is_dir =
                entry.is_dir() || entry.unix_mode().map(|m| m & 0o170000) == Some(0o040000);
            if is_dir {
                self.directory(&name, &rel)?;
            } else {
                let size = entry.size();
                self.file(&name, &rel, &mut entry, size)?;
            }
        }
        Ok(())
    }

    fn tar(&mut self) -> Result<()> {
        let file = File::open(self.path).map_err(|e| Error::io("open", self.path, e))?;
        let file = BufReader::new(file);
        let inner: Box<dyn Read> = match self.format {
            Format::TarGz => Box::new(flate2::read::GzDecoder::new(file)),
            _ => Box::new(file),
        };
        // The decompressed stream is capped too, because the tar reader buffers
        // long-name and PAX headers in memory before Keel sees the entry.
        let mut limit = self
            .limits
            .max_total_bytes
            .saturating_add(
                self.limits
                    .max_entries
                    .saturating_mul(TAR_OVERHEAD_PER_ENTRY),
            )
            .saturating_add(RATIO_FLOOR);
        if self.format == Format::TarGz {
            limit = limit.min(self.ratio_limit());
        }
        let count = Rc::new(Cell::new(0u64));
        self.stream = Some((Rc::clone(&count), limit));
        let reader = Counting {
            inner,
            count: Rc::clone(&count),
            limit,
        };
        let mut archive = tar::Archive::new(reader);
        let entries = archive.entries().map_err(|e| self.unreadable(e))?;
        let mut last = String::from("(the first entry)");
        for entry in entries {
            let mut entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    if let Some(reason) = self.stream_limit_reason() {
                        return Err(self.unsafe_entry(&format!("after {last}"), reason));
                    }
                    return Err(self.unreadable(e));
                }
            };
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            last.clone_from(&name);
            let kind = entry.header().entry_type();
            if kind.is_pax_global_extensions() {
                continue;
            }
            self.count_entry(&name)?;
            let Some(rel) = self.rel_path(&name)? else {
                continue;
            };
            use tar::EntryType as T;
            match kind {
                T::Regular | T::Continuous => {
                    let size = entry.size();
                    self.file(&name, &rel, &mut entry, size)?;
                }
                T::Directory => self.directory(&name, &rel)?,
                T::Symlink => return Err(self.unsafe_entry(&name, "is a symbolic link")),
                T::Link => return Err(self.unsafe_entry(&name, "is a hard link")),
                T::Char | T::Block | T::Fifo => {
                    return Err(self.unsafe_entry(&name, "is a device file or FIFO"));
                }
                T::GNUSparse => {
                    return Err(
                        self.unsafe_entry(&name, "is a sparse file, which Keel does not extract")
                    );
                }
                other => {
                    return Err(self.unsafe_entry(
                        &name,
                        format!(
                            "has the tar entry type '{}', which Keel does not extract",
                            other.as_byte() as char
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
