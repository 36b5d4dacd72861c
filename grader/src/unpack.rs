//! Unpacking a student's `.zip`, `.tar.gz` or `.tgz` archive into a scratch folder, so a whole
//! class can be graded from the archives it handed in.
//!
//! Archives come from students and are treated as hostile. Only what the grader reads is ever
//! written: regular files at `…/src/lib.rs` (which [`crate::source`] then reads under its own
//! rules), so `target/` folders and other junk never reach the disk. Anything that could reach
//! outside the folder or exhaust the machine refuses the whole archive: names that are absolute,
//! carry a drive or climb with `..`, links of either kind, the same file twice, more entries or
//! bytes than [`Limits`] allow. Sizes an archive declares are never trusted: every read of
//! decompressed data goes through [`Read::take`].

use std::collections::HashSet;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use crate::source::MAX_SOURCE_BYTES;

const MIB: u64 = 1 << 20;

/// Caps on what one archive may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The archive file's own size, checked before anything is read.
    pub archive_bytes: u64,
    /// Entries of any kind (folders and skipped junk included).
    pub entries: u64,
    /// Decompressed bytes read in total, skipped entries included: a tar.gz must be read
    /// through to reach its next entry, so junk costs as much as source here.
    pub read_bytes: u64,
    /// Bytes written to the folder in total.
    pub written_bytes: u64,
}

impl Default for Limits {
    /// Generous for a course workspace (a few hundred source lines per exercise, even zipped
    /// with its `target/` folder), small next to the machine.
    fn default() -> Self {
        Limits {
            archive_bytes: 64 * MIB,
            entries: 20_000,
            read_bytes: 512 * MIB,
            written_bytes: 32 * MIB,
        }
    }
}

/// The archive formats students hand in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Zip,
    TarGz,
}

/// By file name: `.zip`, `.tar.gz`, `.tgz` (case-insensitive); None otherwise.
pub fn kind_of(path: &Path) -> Option<Kind> {
    let name = path.file_name()?.to_string_lossy().to_lowercase();
    if name.ends_with(".zip") {
        Some(Kind::Zip)
    } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        Some(Kind::TarGz)
    } else {
        None
    }
}

/// What was unpacked.
#[derive(Debug)]
pub struct Unpacked {
    /// Source files written.
    pub files: usize,
    /// Entries not written: folders, files other than `src/lib.rs`, devices and FIFOs.
    pub skipped: usize,
}

/// Unpacks the source files of `archive` into the existing empty folder `into`.
///
/// Err is a one-line reason for a learner or instructor. On Err, `into` may hold part of the
/// archive's source files: the caller discards the folder.
pub fn unpack(archive: &Path, into: &Path, limits: &Limits) -> Result<Unpacked, String> {
    let kind = kind_of(archive)
        .ok_or_else(|| format!("{} is not a .zip, .tar.gz or .tgz file", archive.display()))?;
    check_empty_folder(into)?;
    // O_NONBLOCK: a FIFO named like an archive cannot hang the open; it is refused below.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(archive)
        .map_err(|error| format!("cannot open {}: {error}", archive.display()))?;
    let meta = file
        .metadata()
        .map_err(|error| format!("cannot read {}: {error}", archive.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", archive.display()));
    }
    if meta.len() > limits.archive_bytes {
        return Err(format!(
            "the archive is {} bytes, more than the {} allowed",
            meta.len(),
            limits.archive_bytes
        ));
    }
    let mut out = Out {
        into,
        limits,
        entries: 0,
        read: 0,
        written: 0,
        files: 0,
        skipped: 0,
        seen: HashSet::new(),
    };
    match kind {
        Kind::Zip => unpack_zip(&file, &mut out),
        Kind::TarGz => unpack_tar_gz(file, &mut out),
    }
    // Library messages are shown on one line of a report.
    .map_err(|why| why.replace(['\n', '\r'], " "))?;
    Ok(Unpacked {
        files: out.files,
        skipped: out.skipped,
    })
}

/// A folder already holding something could hold a link that a written path would follow.
fn check_empty_folder(into: &Path) -> Result<(), String> {
    let cannot = |why: String| format!("cannot unpack into {}: {why}", into.display());
    let meta = std::fs::metadata(into).map_err(|error| cannot(error.to_string()))?;
    if !meta.is_dir() {
        return Err(cannot("it is not a folder".into()));
    }
    let mut entries = std::fs::read_dir(into).map_err(|error| cannot(error.to_string()))?;
    if entries.next().is_some() {
        return Err(cannot("the folder is not empty".into()));
    }
    Ok(())
}

/// What an entry is, as far as unpacking cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    File,
    Dir,
    Symlink,
    HardLink,
    /// Devices, FIFOs, sparse files, tar's global headers: never written.
    Other,
}

/// Where files go, and what has been spent of the limits.
struct Out<'a> {
    into: &'a Path,
    limits: &'a Limits,
    entries: u64,
    /// Decompressed bytes read from a zip (a tar.gz counts its stream as a whole).
    read: u64,
    written: u64,
    files: usize,
    skipped: usize,
    /// Normalized paths of the regular files met so far.
    seen: HashSet<String>,
}

impl Out<'_> {
    /// Counts one more entry.
    fn count(&mut self) -> Result<(), String> {
        self.entries += 1;
        if self.entries > self.limits.entries {
            return Err(too_many_entries(self.limits.entries));
        }
        Ok(())
    }

    /// Judges one entry by its raw name and kind: the path components to write it at, None to
    /// skip it, or why the whole archive is refused.
    fn admit(&mut self, raw_name: &[u8], kind: EntryKind) -> Result<Option<Vec<String>>, String> {
        let components = normalize(raw_name)?;
        let shown_name = || shown(&String::from_utf8_lossy(raw_name));
        match kind {
            // A link is refused wherever it is: a later entry could be written through it, and
            // another tool unpacking the same archive would follow it.
            EntryKind::Symlink => {
                return Err(format!(
                    "the archive holds a symbolic link: {}",
                    shown_name()
                ))
            }
            EntryKind::HardLink => {
                return Err(format!("the archive holds a hard link: {}", shown_name()))
            }
            EntryKind::File if !components.is_empty() => {
                // Two files at one path: which one is graded would depend on the tool.
                let key = components.join("/");
                if !self.seen.insert(key.clone()) {
                    return Err(format!("the archive holds {} twice", shown(&key)));
                }
                if is_source(&components) {
                    return Ok(Some(components));
                }
            }
            EntryKind::File | EntryKind::Dir | EntryKind::Other => {}
        }
        self.skipped += 1;
        Ok(None)
    }

    /// Counts `bytes` read from a zip entry.
    fn spend_read(&mut self, bytes: usize) -> Result<(), String> {
        self.read += bytes as u64;
        if self.read > self.limits.read_bytes {
            return Err(too_many_bytes(self.limits.read_bytes));
        }
        Ok(())
    }

    /// Writes one source file at `components` below `into`, creating its folders.
    fn write(&mut self, components: &[String], bytes: &[u8]) -> Result<(), String> {
        self.written += bytes.len() as u64;
        if self.written > self.limits.written_bytes {
            return Err(format!(
                "the archive's source files add up to more than {} bytes",
                self.limits.written_bytes
            ));
        }
        let Some((file_name, folders)) = components.split_last() else {
            return Err("the archive holds a file without a name".into());
        };
        let mut path = self.into.to_path_buf();
        for folder in folders {
            path.push(folder);
            match DirBuilder::new().mode(0o755).create(&path) {
                Ok(()) => {}
                // Made for an earlier file (never a link: only this function writes here).
                Err(error)
                    if error.kind() == io::ErrorKind::AlreadyExists
                        && std::fs::symlink_metadata(&path).is_ok_and(|meta| meta.is_dir()) => {}
                Err(error) => {
                    return Err(format!(
                        "cannot create the folder for {}: {error}",
                        shown(&components.join("/"))
                    ))
                }
            }
        }
        path.push(file_name);
        // create_new: never through a link, never over a file.
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .and_then(|mut file| file.write_all(bytes));
        if let Err(error) = written {
            return Err(format!(
                "cannot write {}: {error}",
                shown(&components.join("/"))
            ));
        }
        self.files += 1;
        Ok(())
    }
}

/// A file the grader reads: `…/src/lib.rs`.
fn is_source(components: &[String]) -> bool {
    matches!(components, [.., src, lib] if src == "src" && lib == "lib.rs")
}

/// An entry's path as plain components, or why the whole archive is refused. `\` counts as
/// `/` (archives made on Windows); `.` and empty components are dropped.
fn normalize(raw: &[u8]) -> Result<Vec<String>, String> {
    let Ok(name) = std::str::from_utf8(raw) else {
        return Err(format!(
            "the archive holds a name that is not UTF-8: {}",
            shown(&String::from_utf8_lossy(raw))
        ));
    };
    if name.contains('\0') {
        return Err(format!(
            "the archive holds a name with a NUL character: {}",
            shown(name)
        ));
    }
    let slashed = name.replace('\\', "/");
    if slashed.starts_with('/') {
        return Err(format!(
            "the archive holds an absolute path: {}",
            shown(name)
        ));
    }
    let mut components = Vec::new();
    for component in slashed.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                return Err(format!(
                    "the archive holds a path that climbs out of its folder (..): {}",
                    shown(name)
                ))
            }
            _ => components.push(component.to_owned()),
        }
    }
    if components.first().is_some_and(|first| has_drive(first)) {
        return Err(format!(
            "the archive holds a path with a drive letter: {}",
            shown(name)
        ));
    }
    Ok(components)
}

/// `C:` or `C:name`: a Windows drive, absolute or relative to that drive's folder.
fn has_drive(component: &str) -> bool {
    matches!(component.as_bytes(), [letter, b':', ..] if letter.is_ascii_alphabetic())
}

/// A name as a message shows it: control characters escaped (no terminal tricks in a report),
/// at most 200 characters.
fn shown(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if i == 200 {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn too_many_entries(limit: u64) -> String {
    format!("the archive has more than {limit} entries")
}

fn too_many_bytes(limit: u64) -> String {
    format!("the archive unpacks to more than {limit} bytes")
}

/// Reads a source file's bytes, at most one more than the grader accepts, so that its reader
/// reports the file as too large rather than seeing a cut-down one.
fn read_source(reader: impl Read, name: &[String]) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_SOURCE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| {
            format!(
                "the archive cannot be read at {}: {error}",
                shown(&name.join("/"))
            )
        })?;
    Ok(bytes)
}

/// A zip is read by random access: only source entries are decompressed.
///
/// The zip crate reads the whole central directory before the entries can be counted, so that
/// cost is bounded by `archive_bytes` alone: at 64 MiB, the worst case (780,000 empty entries)
/// takes about 0.5 GB and 2.5 s (release build) to be refused.
fn unpack_zip(file: &File, out: &mut Out) -> Result<(), String> {
    let invalid =
        |error: zip::result::ZipError| format!("the archive is not a valid zip file: {error}");
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(invalid)?;
    check_zip_directory(file, zip.central_directory_start(), out.limits.entries)?;
    for index in 0..zip.len() {
        out.count()?;
        let (name, kind) = {
            let entry = zip.by_index_raw(index).map_err(invalid)?;
            (entry.name_raw().to_vec(), zip_kind(&entry))
        };
        if let Some(components) = out.admit(&name, kind)? {
            let entry = zip.by_index(index).map_err(|error| {
                format!(
                    "the archive cannot be read at {}: {error}",
                    shown(&components.join("/"))
                )
            })?;
            let bytes = read_source(entry, &components)?;
            out.spend_read(bytes.len())?;
            out.write(&components, &bytes)?;
        }
    }
    Ok(())
}

/// A zip entry's kind, from the unix mode that zip tools store (S_IFLNK for a link). Zips made
/// elsewhere carry no type bits: those are files, or folders by their trailing `/`.
fn zip_kind<R: Read>(entry: &zip::read::ZipFile<'_, R>) -> EntryKind {
    const S_IFMT: u32 = 0o170_000;
    const S_IFREG: u32 = 0o100_000;
    const S_IFDIR: u32 = 0o040_000;
    const S_IFLNK: u32 = 0o120_000;
    match entry.unix_mode().map(|mode| mode & S_IFMT) {
        Some(S_IFLNK) => EntryKind::Symlink,
        _ if entry.is_dir() => EntryKind::Dir,
        Some(S_IFDIR) => EntryKind::Dir,
        None | Some(0) | Some(S_IFREG) => EntryKind::File,
        Some(_) => EntryKind::Other,
    }
}

/// Walks the zip's central directory as it is written, since the zip crate keeps only one of
/// the entries that share a name (and other tools may keep the other): refuses a name written
/// twice, and counts the records.
fn check_zip_directory(file: &File, start: u64, max_entries: u64) -> Result<(), String> {
    let invalid = |error: io::Error| format!("the archive is not a valid zip file: {error}");
    let mut reader = BufReader::new(file);
    reader.seek(SeekFrom::Start(start)).map_err(invalid)?;
    let mut names = HashSet::new();
    let mut records = 0u64;
    // A central directory record: signature, 42 bytes of fields, then name, extra, comment.
    let mut head = [0u8; 46];
    while reader.read_exact(&mut head).is_ok() && head[..4] == *b"PK\x01\x02" {
        records += 1;
        if records > max_entries {
            return Err(too_many_entries(max_entries));
        }
        let field = |at: usize| u16::from_le_bytes([head[at], head[at + 1]]);
        let mut name = vec![0; usize::from(field(28))];
        reader.read_exact(&mut name).map_err(invalid)?;
        reader
            .seek_relative(i64::from(field(30)) + i64::from(field(32)))
            .map_err(invalid)?;
        if names.contains(&name) {
            return Err(format!(
                "the archive holds {} twice",
                shown(&String::from_utf8_lossy(&name))
            ));
        }
        names.insert(name);
    }
    Ok(())
}

/// A tar.gz is read as one stream: every decompressed byte, junk included, counts toward
/// `read_bytes`.
fn unpack_tar_gz(file: File, out: &mut Out) -> Result<(), String> {
    let compressed = BufReader::new(file.take(out.limits.archive_bytes));
    let decompressed = flate2::read::MultiGzDecoder::new(compressed);
    // One byte more than allowed: reading it tells an archive over the limit from one at it.
    let mut tar = tar::Archive::new(decompressed.take(out.limits.read_bytes.saturating_add(1)));
    let result = tar_entries(&mut tar, out);
    // Checked even when the entries ended well: the cap can look like the archive's end.
    if tar.into_inner().limit() == 0 {
        return Err(too_many_bytes(out.limits.read_bytes));
    }
    result
}

fn tar_entries<R: Read>(tar: &mut tar::Archive<R>, out: &mut Out) -> Result<(), String> {
    let invalid = |error: io::Error| format!("the archive is not a valid tar.gz file: {error}");
    for entry in tar.entries().map_err(invalid)? {
        let mut entry = entry.map_err(invalid)?;
        out.count()?;
        let kind = {
            let kind = entry.header().entry_type();
            if kind.is_symlink() {
                EntryKind::Symlink
            } else if kind.is_hard_link() {
                EntryKind::HardLink
            } else if kind.is_dir() {
                EntryKind::Dir
            } else if kind.is_file() || kind.is_contiguous() {
                EntryKind::File
            } else {
                EntryKind::Other
            }
        };
        let name = entry.path_bytes().into_owned();
        if let Some(components) = out.admit(&name, kind)? {
            let bytes = read_source(&mut entry, &components)?;
            out.write(&components, &bytes)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{Found, Source};
    use std::io::Cursor;
    use zip::write::SimpleFileOptions;

    /// An entry of a test archive.
    enum E<'a> {
        File(&'a str, &'a [u8]),
        Dir(&'a str),
        Symlink(&'a str, &'a str),
        HardLink(&'a str, &'a str),
    }

    fn zip_of(entries: &[E]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default();
        for entry in entries {
            match entry {
                E::File(name, data) => {
                    zip.start_file(*name, options).unwrap();
                    zip.write_all(data).unwrap();
                }
                E::Dir(name) => zip.add_directory(*name, options).unwrap(),
                E::Symlink(name, target) => zip.add_symlink(*name, *target, options).unwrap(),
                E::HardLink(..) => unreachable!("zip has no hard links"),
            }
        }
        zip.finish().unwrap().into_inner()
    }

    /// Names go into the header's bytes as they are: `tar::Header::set_path` refuses `..`
    /// and absolute paths, which the tests need.
    fn tar_gz_of(entries: &[E]) -> Vec<u8> {
        tar_gz_raw(
            &entries
                .iter()
                .map(|entry| match entry {
                    E::File(name, data) => (name.as_bytes(), tar::EntryType::Regular, *data, ""),
                    E::Dir(name) => (name.as_bytes(), tar::EntryType::Directory, &b""[..], ""),
                    E::Symlink(name, to) => {
                        (name.as_bytes(), tar::EntryType::Symlink, &b""[..], *to)
                    }
                    E::HardLink(name, to) => (name.as_bytes(), tar::EntryType::Link, &b""[..], *to),
                })
                .collect::<Vec<_>>(),
        )
    }

    fn tar_gz_raw(entries: &[(&[u8], tar::EntryType, &[u8], &str)]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (name, kind, data, link) in entries {
            let mut header = tar::Header::new_gnu();
            header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
            header.set_entry_type(*kind);
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            if !link.is_empty() {
                header.set_link_name(link).unwrap();
            }
            header.set_cksum();
            tar.append(&header, *data).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    /// A scratch folder with the archive in it and an empty `into/` beside it, so that
    /// anything written outside `into/` shows.
    struct Scratch {
        dir: tempfile::TempDir,
    }

    impl Scratch {
        fn new() -> Scratch {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir(dir.path().join("into")).unwrap();
            Scratch { dir }
        }

        fn folder(&self) -> std::path::PathBuf {
            self.dir.path().join("into")
        }

        fn unpack(&self, name: &str, bytes: &[u8], limits: &Limits) -> Result<Unpacked, String> {
            let archive = self.dir.path().join(name);
            std::fs::write(&archive, bytes).unwrap();
            unpack(&archive, &self.folder(), limits)
        }

        /// Every file and folder below the scratch folder but the archives, sorted.
        fn tree(&self) -> Vec<String> {
            fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
                for entry in std::fs::read_dir(dir).unwrap() {
                    let path = entry.unwrap().path();
                    let relative = path.strip_prefix(base).unwrap().display().to_string();
                    if path.is_dir() {
                        out.push(format!("{relative}/"));
                        walk(&path, base, out);
                    } else if kind_of(&path).is_none() {
                        out.push(relative);
                    }
                }
            }
            let mut out = Vec::new();
            walk(self.dir.path(), self.dir.path(), &mut out);
            out.sort();
            out
        }
    }

    fn refused(name: &str, bytes: &[u8], limits: &Limits) -> String {
        let scratch = Scratch::new();
        let why = scratch.unpack(name, bytes, limits).unwrap_err();
        assert!(!why.contains('\n'), "{why}");
        why
    }

    fn workspace() -> Vec<E<'static>> {
        vec![
            E::Dir("exercises/"),
            E::Dir("exercises/01_spin/"),
            E::File("exercises/01_spin/Cargo.toml", b"[package]\n"),
            E::File("exercises/01_spin/src/lib.rs", b"pub fn spin() {}\n"),
            E::File("./exercises/02_lock/src/lib.rs", b"pub fn lock() {}\n"),
            E::File("exercises/02_lock/src/main.rs", b"fn main() {}\n"),
            E::File("target/debug/build/x/src/lib.rs.d", b"junk"),
            E::File("target/debug/liblock.rlib", &[0u8; 4096]),
            E::File("README.md", b"# mine\n"),
        ]
    }

    /// The workspace's two source files, and nothing else, are on disk.
    fn assert_workspace_unpacked(scratch: &Scratch, unpacked: &Unpacked, skipped: usize) {
        assert_eq!((unpacked.files, unpacked.skipped), (2, skipped));
        assert_eq!(
            scratch.tree(),
            [
                "into/",
                "into/exercises/",
                "into/exercises/01_spin/",
                "into/exercises/01_spin/src/",
                "into/exercises/01_spin/src/lib.rs",
                "into/exercises/02_lock/",
                "into/exercises/02_lock/src/",
                "into/exercises/02_lock/src/lib.rs",
            ]
        );
        let into = scratch.folder();
        assert_eq!(
            std::fs::read(into.join("exercises/02_lock/src/lib.rs")).unwrap(),
            b"pub fn lock() {}\n"
        );
        let source = Source::submission(&into).unwrap();
        assert_eq!(
            source.read(Path::new("/nowhere"), "01_spin"),
            Found::File {
                path: into
                    .canonicalize()
                    .unwrap()
                    .join("exercises/01_spin/src/lib.rs"),
                code: "pub fn spin() {}\n".into()
            }
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &str| {
            std::fs::metadata(into.join(path))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        // Under the usual umask (022).
        assert_eq!(
            mode("exercises/01_spin/src/lib.rs") & !0o022,
            0o644 & !0o022
        );
        assert_eq!(mode("exercises/01_spin/src") & !0o022, 0o755 & !0o022);
    }

    #[test]
    fn unpacks_the_sources_of_a_workspace_zip() {
        let scratch = Scratch::new();
        let unpacked = scratch
            .unpack("work.zip", &zip_of(&workspace()), &Limits::default())
            .unwrap();
        assert_workspace_unpacked(&scratch, &unpacked, 7);
    }

    #[test]
    fn unpacks_the_sources_of_a_workspace_tar_gz() {
        let scratch = Scratch::new();
        let mut entries = workspace();
        entries.insert(0, E::Dir("./"));
        let unpacked = scratch
            .unpack("work.TGZ", &tar_gz_of(&entries), &Limits::default())
            .unwrap();
        assert_workspace_unpacked(&scratch, &unpacked, 8);
    }

    #[test]
    fn keeps_a_wrapping_folder_and_reads_windows_separators() {
        let scratch = Scratch::new();
        let bytes = zip_of(&[
            E::File("alice-locksmith/01_spin/src/lib.rs", b"pub fn spin() {}\n"),
            E::File(
                "alice-locksmith\\02_lock\\src\\lib.rs",
                b"pub fn lock() {}\n",
            ),
        ]);
        let unpacked = scratch
            .unpack("alice.zip", &bytes, &Limits::default())
            .unwrap();
        assert_eq!((unpacked.files, unpacked.skipped), (2, 0));
        let source = Source::submission(&scratch.folder().join("alice-locksmith")).unwrap();
        for (id, code) in [
            ("01_spin", "pub fn spin() {}\n"),
            ("02_lock", "pub fn lock() {}\n"),
        ] {
            match source.read(Path::new("/nowhere"), id) {
                Found::File { code: read, .. } => assert_eq!(read, code),
                other => panic!("{id}: {other:?}"),
            }
        }
    }

    #[test]
    fn refuses_paths_that_climb_out() {
        for (name, bytes) in [
            ("up.zip", zip_of(&[E::File("../evil/src/lib.rs", b"x")])),
            (
                "up.tar.gz",
                tar_gz_of(&[E::File("a/../../evil/src/lib.rs", b"x")]),
            ),
            (
                "back.zip",
                zip_of(&[E::File("a\\..\\..\\evil\\src\\lib.rs", b"x")]),
            ),
        ] {
            let scratch = Scratch::new();
            let why = scratch
                .unpack(name, &bytes, &Limits::default())
                .unwrap_err();
            assert!(
                why.starts_with("the archive holds a path that climbs out"),
                "{why}"
            );
            assert_eq!(scratch.tree(), ["into/"], "{name}");
        }
    }

    #[test]
    fn refuses_absolute_paths_and_drives() {
        for (name, bytes, expected) in [
            (
                "abs.zip",
                zip_of(&[E::File("/tmp/evil/src/lib.rs", b"x")]),
                "the archive holds an absolute path: /tmp/evil/src/lib.rs",
            ),
            (
                "abs.tar.gz",
                tar_gz_of(&[E::File("/tmp/evil/src/lib.rs", b"x")]),
                "the archive holds an absolute path: /tmp/evil/src/lib.rs",
            ),
            (
                "unc.zip",
                zip_of(&[E::File("\\\\server\\share\\src\\lib.rs", b"x")]),
                "the archive holds an absolute path: \\\\server\\share\\src\\lib.rs",
            ),
            (
                "drive.zip",
                zip_of(&[E::File("C:\\Users\\x\\src\\lib.rs", b"x")]),
                "the archive holds a path with a drive letter: C:\\Users\\x\\src\\lib.rs",
            ),
            (
                "drive.tgz",
                tar_gz_of(&[E::File("./c:evil/src/lib.rs", b"x")]),
                "the archive holds a path with a drive letter: ./c:evil/src/lib.rs",
            ),
        ] {
            assert_eq!(
                refused(name, &bytes, &Limits::default()),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn refuses_a_symlink_in_a_tar_gz() {
        let scratch = Scratch::new();
        let bytes = tar_gz_of(&[
            E::File("a/Cargo.toml", b"[package]\n"),
            E::Symlink("a/src/lib.rs", "/etc/passwd"),
        ]);
        let why = scratch
            .unpack("link.tar.gz", &bytes, &Limits::default())
            .unwrap_err();
        assert_eq!(why, "the archive holds a symbolic link: a/src/lib.rs");
        // A link anywhere refuses the archive, even one the grader would not read.
        let bytes = tar_gz_of(&[E::Symlink("junk", "../../..")]);
        assert_eq!(
            refused("link.tgz", &bytes, &Limits::default()),
            "the archive holds a symbolic link: junk"
        );
    }

    #[test]
    fn refuses_a_symlink_in_a_zip() {
        let bytes = zip_of(&[
            E::File("b/src/lib.rs", b"pub fn f() {}\n"),
            E::Symlink("a/src/lib.rs", "../../solutions/02_lock/src/lib.rs"),
        ]);
        let mut zip = zip::ZipArchive::new(Cursor::new(&bytes)).unwrap();
        assert_eq!(zip.by_index(1).unwrap().unix_mode(), Some(0o120777));
        let scratch = Scratch::new();
        let why = scratch
            .unpack("link.zip", &bytes, &Limits::default())
            .unwrap_err();
        assert_eq!(why, "the archive holds a symbolic link: a/src/lib.rs");
        assert!(!scratch.folder().join("a").exists());
    }

    #[test]
    fn refuses_a_hard_link_in_a_tar_gz() {
        let bytes = tar_gz_of(&[E::HardLink("a/src/lib.rs", "etc/passwd")]);
        assert_eq!(
            refused("hard.tar.gz", &bytes, &Limits::default()),
            "the archive holds a hard link: a/src/lib.rs"
        );
    }

    #[test]
    fn refuses_a_zip_bomb() {
        let zeros = vec![0u8; 2 << 20];
        let bytes = zip_of(&[
            E::File("a/src/lib.rs", &zeros),
            E::File("b/src/lib.rs", &zeros),
        ]);
        assert!(bytes.len() < 64 << 10, "{} bytes", bytes.len());
        let limits = Limits {
            read_bytes: 2 << 20,
            ..Limits::default()
        };
        // Each file is read only up to its cap (1 MiB + 1), so the second one overflows.
        assert_eq!(
            refused("bomb.zip", &bytes, &limits),
            format!("the archive unpacks to more than {} bytes", 2 << 20)
        );
    }

    #[test]
    fn refuses_a_gzip_bomb_even_in_junk() {
        let zeros = vec![0u8; 4 << 20];
        let bytes = tar_gz_of(&[
            E::File("target/zeros", &zeros),
            E::File("a/src/lib.rs", b"pub fn f() {}\n"),
        ]);
        let limits = Limits {
            read_bytes: 1 << 20,
            ..Limits::default()
        };
        assert_eq!(
            refused("bomb.tar.gz", &bytes, &limits),
            format!("the archive unpacks to more than {} bytes", 1 << 20)
        );
        // Junk in a zip is never decompressed, so the same limits pass.
        let scratch = Scratch::new();
        let bytes = zip_of(&[
            E::File("target/zeros", &zeros),
            E::File("a/src/lib.rs", b"pub fn f() {}\n"),
        ]);
        let unpacked = scratch.unpack("junk.zip", &bytes, &limits).unwrap();
        assert_eq!((unpacked.files, unpacked.skipped), (1, 1));
    }

    #[test]
    fn caps_a_source_file_just_over_the_readers_limit() {
        let scratch = Scratch::new();
        let big = vec![b' '; MAX_SOURCE_BYTES as usize + 100];
        let bytes = tar_gz_of(&[E::File("01_spin/src/lib.rs", &big)]);
        let unpacked = scratch
            .unpack("big.tgz", &bytes, &Limits::default())
            .unwrap();
        assert_eq!(unpacked.files, 1);
        let written = scratch.folder().join("01_spin/src/lib.rs");
        assert_eq!(
            std::fs::metadata(&written).unwrap().len(),
            MAX_SOURCE_BYTES + 1
        );
        let source = Source::submission(&scratch.folder()).unwrap();
        match source.read(Path::new("/nowhere"), "01_spin") {
            Found::Invalid(why) => assert!(why.contains("more than"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refuses_more_source_bytes_than_allowed() {
        let limits = Limits {
            written_bytes: 20,
            ..Limits::default()
        };
        let bytes = zip_of(&[
            E::File("a/src/lib.rs", b"0123456789"),
            E::File("b/src/lib.rs", b"0123456789"),
            E::File("c/src/lib.rs", b"0"),
        ]);
        assert_eq!(
            refused("many.zip", &bytes, &limits),
            "the archive's source files add up to more than 20 bytes"
        );
    }

    #[test]
    fn refuses_too_many_entries() {
        let names: Vec<String> = (0..6).map(|i| format!("junk/{i}")).collect();
        let entries: Vec<E> = names.iter().map(|name| E::File(name, b"")).collect();
        let limits = Limits {
            entries: 5,
            ..Limits::default()
        };
        for (name, bytes) in [
            ("many.zip", zip_of(&entries)),
            ("many.tgz", tar_gz_of(&entries)),
        ] {
            assert_eq!(
                refused(name, &bytes, &limits),
                "the archive has more than 5 entries",
                "{name}"
            );
        }
        let limits = Limits {
            entries: 6,
            ..Limits::default()
        };
        let scratch = Scratch::new();
        let unpacked = scratch
            .unpack("six.zip", &zip_of(&entries), &limits)
            .unwrap();
        assert_eq!((unpacked.files, unpacked.skipped), (0, 6));
    }

    #[test]
    fn refuses_an_archive_larger_than_allowed_before_reading_it() {
        let limits = Limits {
            archive_bytes: 10,
            ..Limits::default()
        };
        // Garbage: had it been read, the message would say it is not a zip.
        assert_eq!(
            refused("large.zip", &[0u8; 11], &limits),
            "the archive is 11 bytes, more than the 10 allowed"
        );
    }

    #[test]
    fn refuses_garbage_with_the_formats_message() {
        let why = refused(
            "x.zip",
            b"this is not a zip file at all",
            &Limits::default(),
        );
        assert!(
            why.starts_with("the archive is not a valid zip file: "),
            "{why}"
        );
        let why = refused("x.tgz", b"this is not gzip either", &Limits::default());
        assert!(
            why.starts_with("the archive is not a valid tar.gz file: "),
            "{why}"
        );
    }

    #[test]
    fn refuses_a_truncated_tar_gz() {
        let data: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let bytes = tar_gz_of(&[
            E::File("a/src/lib.rs", b"pub fn f() {}\n"),
            E::File("target/data", &data),
            E::File("b/src/lib.rs", b"pub fn g() {}\n"),
        ]);
        let why = refused("cut.tar.gz", &bytes[..bytes.len() / 2], &Limits::default());
        assert!(
            why.starts_with("the archive is not a valid tar.gz file: "),
            "{why}"
        );
    }

    #[test]
    fn refuses_a_truncated_zip() {
        let bytes = zip_of(&[E::File("a/src/lib.rs", b"pub fn f() {}\n")]);
        let why = refused("cut.zip", &bytes[..bytes.len() - 30], &Limits::default());
        assert!(
            why.starts_with("the archive is not a valid zip file: "),
            "{why}"
        );
    }

    #[test]
    fn refuses_the_same_file_twice() {
        let tar = tar_gz_of(&[
            E::File("a/src/lib.rs", b"pub fn f() {}\n"),
            E::File("a/src/lib.rs", b"pub fn evil() {}\n"),
        ]);
        assert_eq!(
            refused("twice.tgz", &tar, &Limits::default()),
            "the archive holds a/src/lib.rs twice"
        );
        // Spelled differently, the same path.
        let zip = zip_of(&[
            E::File("a/src/lib.rs", b"pub fn f() {}\n"),
            E::File("a/./src\\lib.rs", b"pub fn evil() {}\n"),
        ]);
        assert_eq!(
            refused("twice.zip", &zip, &Limits::default()),
            "the archive holds a/src/lib.rs twice"
        );
        // Spelled the same: the zip crate keeps one of the two, so the directory is walked.
        let mut zip = zip_of(&[
            E::File("a/src/lib.rs", b"pub fn f() {}\n"),
            E::File("b/src/lib.rs", b"pub fn evil() {}\n"),
        ]);
        for at in 0..zip.len() - 12 {
            if &zip[at..at + 12] == b"b/src/lib.rs" {
                zip[at] = b'a';
            }
        }
        assert_eq!(
            zip::ZipArchive::new(Cursor::new(&zip)).unwrap().len(),
            1,
            "the zip crate merges the two"
        );
        assert_eq!(
            refused("same.zip", &zip, &Limits::default()),
            "the archive holds a/src/lib.rs twice"
        );
    }

    #[test]
    fn refuses_names_that_are_not_utf8() {
        let bytes = tar_gz_raw(&[(b"a/\xff/src/lib.rs", tar::EntryType::Regular, b"x", "")]);
        assert_eq!(
            refused("bytes.tgz", &bytes, &Limits::default()),
            "the archive holds a name that is not UTF-8: a/\u{fffd}/src/lib.rs"
        );
    }

    #[test]
    fn skips_devices_and_fifos() {
        let scratch = Scratch::new();
        let bytes = tar_gz_raw(&[
            (b"a/src/lib.rs", tar::EntryType::Fifo, b"", ""),
            (b"b/src/lib.rs", tar::EntryType::Char, b"", ""),
            (
                b"c/src/lib.rs",
                tar::EntryType::Regular,
                b"pub fn f() {}\n",
                "",
            ),
        ]);
        let unpacked = scratch
            .unpack("dev.tgz", &bytes, &Limits::default())
            .unwrap();
        assert_eq!((unpacked.files, unpacked.skipped), (1, 2));
        assert_eq!(
            scratch.tree(),
            ["into/", "into/c/", "into/c/src/", "into/c/src/lib.rs"]
        );
    }

    #[test]
    fn refuses_a_folder_that_is_not_empty() {
        let scratch = Scratch::new();
        std::fs::write(scratch.folder().join("x"), "").unwrap();
        let bytes = zip_of(&[E::File("a/src/lib.rs", b"pub fn f() {}\n")]);
        let why = scratch
            .unpack("a.zip", &bytes, &Limits::default())
            .unwrap_err();
        assert!(why.ends_with("the folder is not empty"), "{why}");
        assert!(!scratch.folder().join("a").exists());
    }

    #[test]
    fn kind_of_goes_by_the_file_name() {
        for (name, kind) in [
            ("work.zip", Some(Kind::Zip)),
            ("/class/Alice Smith/WORK.ZIP", Some(Kind::Zip)),
            ("work.tar.gz", Some(Kind::TarGz)),
            ("work.Tar.GZ", Some(Kind::TarGz)),
            ("work.tgz", Some(Kind::TarGz)),
            ("work.tar", None),
            ("work.gz", None),
            ("work.zip.txt", None),
            ("zip", None),
            ("", None),
        ] {
            assert_eq!(kind_of(Path::new(name)), kind, "{name}");
        }
        assert_eq!(
            refused("work.tar", b"", &Limits::default())
                .rsplit('/')
                .next()
                .unwrap(),
            "work.tar is not a .zip, .tar.gz or .tgz file"
        );
    }
}
