//! File reads and writes that cannot hang or run away: [`read_capped`] reads only regular files and stops at a
//! limit as it reads; [`write_atomic`] writes a temporary file in the target's folder, flushed, then renamed over
//! the target, so a reader (or a crash) never sees a partial file.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Why [`read_capped`] refused or failed to read a file. Every variant names the path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Opening or reading failed.
    #[error("{}: cannot read file: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Not a regular file: a folder, FIFO, socket or device (reading one could block forever or never end).
    #[error("{}: not a regular file ({kind}); give the path of a file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is (`directory`, `FIFO`, `socket`, `character device`, `block device`).
        kind: &'static str,
    },
    /// More bytes than the limit (counted as they are read, not trusted from the reported size).
    #[error("{}: {bytes} bytes or more, over the limit of {limit} bytes; give a smaller file", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Bytes seen before stopping (at least `limit + 1`).
        bytes: u64,
        /// The limit.
        limit: u64,
    },
}

/// For callers whose errors carry the path already: the I/O error itself, or the refusal without the path.
impl From<ReadError> for io::Error {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Io { source, .. } => source,
            ReadError::NotAFile { kind, .. } => io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("not a regular file ({kind}); give the path of a file"),
            ),
            ReadError::TooLarge { bytes, limit, .. } => io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!("{bytes} bytes or more, over the limit of {limit} bytes; give a smaller file"),
            ),
        }
    }
}

/// What kind of non-regular file `ft` is, for messages.
fn file_kind(ft: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "FIFO";
        }
        if ft.is_socket() {
            return "socket";
        }
        if ft.is_char_device() {
            return "character device";
        }
        if ft.is_block_device() {
            return "block device";
        }
    }
    if ft.is_dir() { "directory" } else { "not a file" }
}

/// Read a whole file of at most `limit` bytes. Only regular files are read (symbolic links are followed): a FIFO is
/// refused without waiting for a writer (it is opened non-blocking), and a device such as `/dev/zero` is refused
/// before any byte is read. The limit is enforced while reading, so a file that grows, or reports a wrong size,
/// still stops at `limit + 1` bytes.
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let io_err = |source| ReadError::Io { path: path.to_path_buf(), source };
    // A device is refused without being opened (opening one can have effects: a tape rewinds, a tty is acquired).
    let meta = std::fs::metadata(path).map_err(io_err)?;
    if !meta.is_file() {
        return Err(ReadError::NotAFile { path: path.to_path_buf(), kind: file_kind(&meta.file_type()) });
    }
    // Checked again on what was opened (the path may have changed in between): non-blocking, so a FIFO swapped in
    // cannot make `open` wait for a writer, and never as a controlling terminal.
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK | libc::O_NOCTTY);
    let file = options.open(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(ReadError::NotAFile { path: path.to_path_buf(), kind: file_kind(&meta.file_type()) });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len().min(limit)).unwrap_or(0).saturating_add(1));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(io_err)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { path: path.to_path_buf(), bytes: bytes.len() as u64, limit });
    }
    Ok(bytes)
}

/// [`read_capped`] as UTF-8 text.
pub fn read_text_capped(path: &Path, limit: u64) -> Result<String, ReadError> {
    let bytes = read_capped(path, limit)?;
    String::from_utf8(bytes).map_err(|e| ReadError::Io {
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidData, format!("not UTF-8 text ({e})")),
    })
}

/// Write `bytes` to `path` atomically, creating parent folders as needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Write to `path` atomically through a callback that fills a buffered writer. If the callback fails, the
/// temporary file is removed and `path` is left untouched.
pub fn write_atomic_with<F>(path: &Path, fill: F) -> io::Result<()>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // Like any new file (0666 less the umask), not tempfile's private 0600: exported models and datasets are
    // meant to be read by other users (a container's non-root user).
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let tmp = builder.tempfile_in(dir)?;
    {
        let mut w = io::BufWriter::new(tmp.as_file());
        fill(&mut w)?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // The rename itself reaches the disk only when the folder is synced.
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_capped_reads_files_and_refuses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.bin");
        std::fs::write(&p, b"0123456789").unwrap();
        assert_eq!(read_capped(&p, 10).unwrap(), b"0123456789");
        let err = read_capped(&p, 9).unwrap_err();
        assert!(matches!(err, ReadError::TooLarge { bytes: 10, limit: 9, .. }), "{err:?}");
        assert!(err.to_string().contains("a.bin"), "{err}");
        let err = read_capped(dir.path(), 100).unwrap_err();
        assert!(matches!(err, ReadError::NotAFile { kind: "directory", .. }), "{err:?}");
        let err = read_capped(&dir.path().join("missing"), 100).unwrap_err();
        assert!(matches!(err, ReadError::Io { .. }) && err.to_string().contains("missing"), "{err}");
    }

    /// A device that never ends is refused before reading, not read to the limit.
    #[cfg(target_os = "linux")]
    #[test]
    fn read_capped_refuses_devices() {
        let err = read_capped(Path::new("/dev/zero"), u64::MAX).unwrap_err();
        assert!(matches!(err, ReadError::NotAFile { kind: "character device", .. }), "{err:?}");
        assert!(err.to_string().contains("/dev/zero: not a regular file (character device)"), "{err}");
    }

    /// A FIFO with no writer would block `open` forever; it is refused at once.
    #[cfg(unix)]
    #[test]
    fn read_capped_refuses_a_fifo_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
        assert!(made.success());
        let err = read_capped(&fifo, 100).unwrap_err();
        assert!(matches!(err, ReadError::NotAFile { kind: "FIFO", .. }), "{err:?}");
    }

    /// The process umask, read from /proc (no libc call: unsafe code is forbidden).
    #[cfg(unix)]
    fn umask() -> u32 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Umask:").map(|v| v.trim().to_string())))
            .and_then(|v| u32::from_str_radix(&v, 8).ok())
            .unwrap_or(0o022)
    }

    #[test]
    fn writes_whole_file_and_leaves_nothing_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/out.txt");
        write_atomic(&p, b"hello").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"hello");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode & 0o044, 0o044 & !umask(), "readable by others as the umask allows: {mode:o}");
        }
        let err = write_atomic_with(&p, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("boom"))
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"hello", "old content kept");
        let entries: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(entries.len(), 1, "no temporary file left behind");
    }
}
