//! File helpers shared by writing and verification: hashing and durable syncs.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use ring::digest::{Context, SHA256};

use super::ProductError;

pub(super) fn io_error(
    path: &Path,
    action: &'static str,
) -> impl FnOnce(std::io::Error) -> ProductError {
    let path = path.to_path_buf();
    move |source| ProductError::Io {
        path,
        action,
        source,
    }
}

/// SHA-256 (lowercase hex) and size of an open file, read in chunks.
pub(super) fn sha256_reader(mut reader: impl Read) -> std::io::Result<(String, u64)> {
    let mut ctx = Context::new(&SHA256);
    let mut buffer = vec![0u8; 64 * 1024];
    let mut total: u64 = 0;
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        ctx.update(&buffer[..n]);
        total += n as u64;
    }
    Ok((hex::encode(ctx.finish().as_ref()), total))
}

/// Fsyncs a folder so that the files created and renamed in it are durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), ProductError> {
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
