//! Compiled modules, cached by the SHA-256 of their bytes: in memory, and optionally on disk.
//!
//! # Safety of the disk cache
//! Loading a serialized module runs native code that wasmtime produced. Wasmtime checks that the
//! file was made by a compatible engine, but not that it was not tampered with: a modified file can
//! run arbitrary code. The cache therefore lives in the domain's data directory, which holds the
//! signing keys too (anyone who can write there already controls the domain), is created
//! owner-only, and is only ever filled by this module.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Mutex;

use wasmtime::{Engine, Module};

use super::Fault;

pub(super) struct ModuleCache {
    memory: Mutex<HashMap<String, Module>>,
    dir: Option<PathBuf>,
    /// Distinguishes artifacts of engines with different settings or versions.
    engine_tag: String,
}

impl ModuleCache {
    pub(super) fn new(engine: &Engine, dir: Option<PathBuf>) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Self {
            memory: Mutex::new(HashMap::new()),
            dir,
            engine_tag: format!("{:016x}", hasher.finish()),
        }
    }

    pub(super) fn get_or_compile(
        &self,
        engine: &Engine,
        sha256: &str,
        bytes: &[u8],
    ) -> Result<Module, Fault> {
        if let Some(module) = self.memory.lock().ok().and_then(|m| m.get(sha256).cloned()) {
            return Ok(module);
        }
        let path = self
            .dir
            .as_ref()
            .map(|dir| dir.join(format!("{sha256}-{}.cwasm", self.engine_tag)));
        let mut module = None;
        if let Some(path) = path.as_ref().filter(|p| p.is_file()) {
            // SAFETY: the file was written by `store_on_disk` below from wasmtime's own output,
            // into the domain's owner-only data directory (see the module docs). A file that
            // fails to load is ignored and recompiled.
            #[allow(unsafe_code)]
            let loaded = unsafe { Module::deserialize_file(engine, path) };
            module = loaded.ok();
        }
        let module = match module {
            Some(module) => module,
            None => {
                let module = Module::from_binary(engine, bytes).map_err(|e| {
                    Fault::InvalidModule(format!("not a valid WebAssembly module: {e:#}"))
                })?;
                if let Some(path) = &path {
                    // The cache is an optimization: a failure to store it is not a job failure.
                    let _ = store_on_disk(&module, path);
                }
                module
            }
        };
        if let Ok(mut memory) = self.memory.lock() {
            memory.insert(sha256.to_string(), module.clone());
        }
        Ok(module)
    }
}

fn store_on_disk(module: &Module, path: &std::path::Path) -> std::io::Result<()> {
    let bytes = module
        .serialize()
        .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    // A temporary name of this process and call alone: job worker processes compiling the same
    // module at once must never write into one file, or the rename could publish a mix of both,
    // which `deserialize_file` would then load as native code.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("{}-{n}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
