//! File handling for key files: atomic owner-only writes and checked reads.
//!
//! Writes go to a temporary name created with its final mode (no moment where a secret sits in a
//! file others can open), are fsynced, renamed into place, and the folder is fsynced so the
//! rename survives a crash. Reads of private files refuse symlinks and anything group/world
//! accessible, checking the mode on the opened handle, not on a name that could be swapped.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use super::KeyError;

/// Permission bits that must be clear on a private key file.
const NOT_OWNER_BITS: u32 = 0o077;

pub(super) fn io_error(
    path: &Path,
    action: &'static str,
) -> impl FnOnce(std::io::Error) -> KeyError {
    let path = path.to_path_buf();
    move |source| KeyError::Io {
        path,
        action,
        source,
    }
}

/// Writes `bytes` to `dir/name` with `mode`, atomically (temp file + fsync + rename + fsync dir).
pub(super) fn write_atomic(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    mode: u32,
) -> Result<(), KeyError> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let target = dir.join(name);
    // A leftover from a crashed write is ours to replace; create_new below then guarantees the
    // mode we ask for is the mode the file gets.
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(&tmp, "remove")(e)),
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&tmp).map_err(io_error(&tmp, "create"))?;
    // The umask narrowed the mode at creation; set it exactly so the public key stays readable
    // by everyone whatever umask the service runs under.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io_error(&tmp, "set permissions"))?;
    }
    file.write_all(bytes).map_err(io_error(&tmp, "write"))?;
    file.sync_all().map_err(io_error(&tmp, "sync"))?;
    drop(file);
    fs::rename(&tmp, &target).map_err(io_error(&target, "rename into place"))?;
    sync_dir(dir)
}

/// Fsyncs a folder so that renames and creations inside it are durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), KeyError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(dir, "sync"))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Creates a folder with `mode` (the umask can only narrow it, which is fine for 0700).
pub(super) fn create_dir(path: &Path, mode: u32) -> Result<(), KeyError> {
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    builder
        .create(path)
        .map_err(io_error(path, "create folder"))
}

/// Reads a private key file after checking it is a regular, owner-only file.
pub(super) fn read_private(path: &Path) -> Result<Vec<u8>, KeyError> {
    let meta = fs::symlink_metadata(path).map_err(io_error(path, "read"))?;
    if !meta.file_type().is_file() {
        return Err(KeyError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    let mut file = File::open(path).map_err(io_error(path, "open"))?;
    let meta = file.metadata().map_err(io_error(path, "read"))?;
    if !meta.is_file() {
        return Err(KeyError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    check_owner_only(path, &meta)?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0).min(4096));
    // Key files are tiny; the cap keeps a swapped-in huge file from exhausting memory.
    Read::by_ref(&mut file)
        .take(64 * 1024)
        .read_to_end(&mut bytes)
        .map_err(io_error(path, "read"))?;
    Ok(bytes)
}

#[cfg(unix)]
fn check_owner_only(path: &Path, meta: &fs::Metadata) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & NOT_OWNER_BITS != 0 {
        return Err(KeyError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_owner_only(_path: &Path, _meta: &fs::Metadata) -> Result<(), KeyError> {
    Ok(())
}

/// Overwrites secret bytes before their memory is released.
///
/// `black_box` keeps the compiler from removing the stores as dead; this is best effort (moves
/// and reallocations may have left copies), which is all safe Rust without a dedicated crate gives.
pub(super) fn wipe(bytes: &mut [u8]) {
    bytes.fill(0);
    std::hint::black_box(bytes);
}
