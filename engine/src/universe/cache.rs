//! The identifier universe kept on disk between jobs.
//!
//! A universe depends only on the scenario's pseudonym key and on which dataset versions (and
//! which of their columns are identifiers) it was built from, and dataset versions never change.
//! Building it is a DISTINCT over every identifier value and an HMAC per distinct value (at 10M
//! tax rows, 12.4M values and 0.9 s of the job; docs/benchmarks.md), so each job after the first
//! of a scenario on the same versions loads it instead.
//!
//! A file holds pseudonyms only, never a raw value, and is sealed with a MAC under a key derived
//! from the scenario's pseudonym key: a file written by anyone without the domain's master key
//! (a fake entity added to defeat k, a real one removed) fails the seal and is rebuilt, as is a
//! torn or truncated one. Files are written to a temporary name and renamed, so a reader never
//! sees half a file; the least recently used are removed beyond [`UniverseCache::max_bytes`].

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use ring::hmac;
use thiserror::Error;

use super::{IdentifierUniverse, PseudonymSet};
use crate::Pseudonymizer;
use shuyu_catalog::Dataset;

/// First bytes of every cache file (format version 1).
const MAGIC: &[u8; 8] = b"SHUYUNV1";
/// Magic, the 32-byte identity, three counts.
const HEADER: usize = 8 + 32 + 3 * 8;
/// The seal at the end.
const TAG: usize = 32;
/// Label of the cache's key under the scenario's pseudonym key.
const KEY_LABEL: &[u8] = b"\0shuyu/universe-cache/v1";
/// The files' extension.
const EXTENSION: &str = "universe";
/// Temporary files older than this are left over from a process that stopped mid-write.
const STALE_TEMPORARY: Duration = Duration::from_secs(3600);

/// Where universes are kept, and how much room they may take.
#[derive(Debug, Clone)]
pub struct UniverseCache {
    dir: PathBuf,
    max_bytes: u64,
}

/// A cache file that could not be read or written (never a file that is merely absent, stale
/// or unsealed: those are rebuilt).
#[derive(Debug, Error)]
#[error("universe cache {path}: {source}")]
pub struct CacheError {
    path: PathBuf,
    #[source]
    source: io::Error,
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> CacheError + '_ {
    move |source| CacheError {
        path: path.to_path_buf(),
        source,
    }
}

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup {
    /// The universe, from a file whose seal and identity held.
    Hit(Box<IdentifierUniverse>),
    /// No file for these datasets under this key.
    Miss,
    /// A file whose size, identity or seal did not hold (it is removed); the reason says which.
    Rejected(&'static str),
}

impl UniverseCache {
    /// Default room for cached universes: at 10M tax rows one is 53 MB.
    pub const DEFAULT_MAX_BYTES: u64 = 2 << 30;

    /// A cache in `dir` (created on first store) holding at most `max_bytes` of files.
    pub fn new(dir: PathBuf, max_bytes: u64) -> Self {
        Self { dir, max_bytes }
    }

    /// The room the cache keeps to.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Loads the universe of `datasets` under `pseudonymizer`'s key, if a sound file holds it.
    pub fn load(
        &self,
        datasets: &[Dataset],
        pseudonymizer: &Pseudonymizer,
    ) -> Result<Lookup, CacheError> {
        let key = pseudonymizer.derived_key(KEY_LABEL);
        let id = identity(&key, datasets);
        let path = self.path_of(&id);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Lookup::Miss),
            Err(e) => return Err(io_error(&path)(e)),
        };
        match decode(&bytes, &key, &id) {
            Ok((identifiers, entities, folded)) => {
                // Recently used files are the last evicted.
                let _ = fs::File::options()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_modified(SystemTime::now()));
                Ok(Lookup::Hit(Box::new(IdentifierUniverse {
                    pseudonymizer: pseudonymizer.clone(),
                    entities,
                    identifiers,
                    folded,
                })))
            }
            Err(reason) => {
                let _ = fs::remove_file(&path);
                Ok(Lookup::Rejected(reason))
            }
        }
    }

    /// Writes `universe`, built from `datasets`, for later jobs; then removes the least recently
    /// used files beyond the cache's room. Returns the file's size.
    pub fn store(
        &self,
        datasets: &[Dataset],
        universe: &IdentifierUniverse,
    ) -> Result<u64, CacheError> {
        let key = universe.pseudonymizer.derived_key(KEY_LABEL);
        let id = identity(&key, datasets);
        let bytes = encode(universe, &key, &id);
        fs::create_dir_all(&self.dir).map_err(io_error(&self.dir))?;
        let path = self.path_of(&id);
        // Two jobs storing the same universe at once must not write into one file.
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let n = WRITES.fetch_add(1, Ordering::Relaxed);
        let temporary = self.dir.join(format!(".{}-{n}.tmp", std::process::id()));
        let written = fs::File::create(&temporary)
            .and_then(|mut f| f.write_all(&bytes))
            .and_then(|()| fs::rename(&temporary, &path));
        if let Err(e) = written {
            let _ = fs::remove_file(&temporary);
            return Err(io_error(&path)(e));
        }
        self.evict(&path);
        Ok(bytes.len() as u64)
    }

    fn path_of(&self, id: &[u8; 32]) -> PathBuf {
        self.dir
            .join(format!("{}.{EXTENSION}", hex::encode(&id[..16])))
    }

    /// Removes the least recently used files until the rest fit, never `keep` (the file just
    /// written, even when it alone is larger than the room), and temporary files a stopped
    /// process left.
    fn evict(&self, keep: &Path) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let now = SystemTime::now();
        let mut files = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            let modified = meta.modified().unwrap_or(now);
            if path.extension().is_some_and(|e| e == "tmp") {
                if now.duration_since(modified).unwrap_or_default() > STALE_TEMPORARY {
                    let _ = fs::remove_file(&path);
                }
                continue;
            }
            if path.extension().is_some_and(|e| e == EXTENSION) {
                files.push((modified, meta.len(), path));
            }
        }
        let mut total: u64 = files.iter().map(|(_, len, _)| len).sum();
        files.sort();
        for (_, len, path) in files {
            if total <= self.max_bytes {
                break;
            }
            if path != keep && fs::remove_file(&path).is_ok() {
                total = total.saturating_sub(len);
            }
        }
    }
}

/// Which universe a file holds: the datasets' names, versions and identifier columns, under the
/// cache key (so a file name says nothing about the data to someone without the key).
fn identity(key: &hmac::Key, datasets: &[Dataset]) -> [u8; 32] {
    let mut described: Vec<Vec<u8>> = datasets
        .iter()
        .map(|d| {
            let mut out = Vec::new();
            let mut field = |s: &str| {
                out.extend_from_slice(&(s.len() as u64).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            };
            field(d.name());
            field(&d.content_sha256);
            field(&d.manifest.dataset.entity_column);
            for column in d.identifier_columns() {
                field(column);
            }
            out
        })
        .collect();
    // The universe is a set: the order the scenario lists its datasets in does not change it.
    described.sort();
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(b"identity");
    for d in &described {
        ctx.update(&(d.len() as u64).to_le_bytes());
        ctx.update(d);
    }
    let mut id = [0u8; 32];
    id.copy_from_slice(ctx.sign().as_ref());
    id
}

fn encode(universe: &IdentifierUniverse, key: &hmac::Key, id: &[u8; 32]) -> Vec<u8> {
    let sets = [&universe.identifiers, &universe.entities, &universe.folded];
    let values: usize = sets.iter().map(|s| s.len()).sum();
    let mut out = Vec::with_capacity(HEADER + 16 * values + TAG);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(id);
    for set in sets {
        out.extend_from_slice(&(set.len() as u64).to_le_bytes());
    }
    for set in sets {
        for pseudonym in set.iter() {
            out.extend_from_slice(pseudonym);
        }
    }
    let tag = hmac::sign(key, &out);
    out.extend_from_slice(tag.as_ref());
    out
}

type Sets = (PseudonymSet, PseudonymSet, PseudonymSet);

fn decode(bytes: &[u8], key: &hmac::Key, id: &[u8; 32]) -> Result<Sets, &'static str> {
    if bytes.len() < HEADER + TAG || &bytes[..8] != MAGIC {
        return Err("not a universe file of this version");
    }
    if &bytes[8..40] != id {
        return Err("its identity is not the datasets'");
    }
    let (body, tag) = bytes.split_at(bytes.len() - TAG);
    let count = |at: usize| {
        let mut n = [0u8; 8];
        n.copy_from_slice(&body[at..at + 8]);
        usize::try_from(u64::from_le_bytes(n)).ok()
    };
    let counts = [count(40), count(48), count(56)];
    let expected = counts.iter().try_fold(HEADER, |sum, n| {
        n.and_then(|n| n.checked_mul(16)?.checked_add(sum))
    });
    if expected != Some(body.len()) {
        return Err("its length does not match its counts");
    }
    hmac::verify(key, body, tag).map_err(|_| "its seal does not hold")?;
    let mut at = HEADER;
    let mut read = |n: usize| {
        let mut set = PseudonymSet::with_capacity_and_hasher(n, Default::default());
        for chunk in body[at..at + 16 * n].chunks_exact(16) {
            let mut pseudonym = [0u8; 16];
            pseudonym.copy_from_slice(chunk);
            set.insert(pseudonym);
        }
        at += 16 * n;
        set
    };
    let [Some(identifiers), Some(entities), Some(folded)] = counts else {
        return Err("its length does not match its counts");
    };
    Ok((read(identifiers), read(entities), read(folded)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn universe(pseudonymizer: &Pseudonymizer, values: &[&str]) -> IdentifierUniverse {
        let set = |vs: &[&str]| {
            vs.iter()
                .map(|v| pseudonymizer.pseudonym_bytes(v))
                .collect()
        };
        IdentifierUniverse {
            pseudonymizer: pseudonymizer.clone(),
            identifiers: set(values),
            entities: set(&values[..1]),
            folded: set(&["EMP0042"]),
        }
    }

    /// An empty folder of this test's own (the crate's tests run in threads of one process).
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "shuyu-universe-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn sample() -> (IdentifierUniverse, [u8; 32], hmac::Key) {
        let p = Pseudonymizer::new(&[3u8; 32]);
        let key = p.derived_key(KEY_LABEL);
        let id = identity(&key, &[]);
        (universe(&p, &["EMP-0042", "EMP-0043", "X"]), id, key)
    }

    #[test]
    fn a_file_decodes_to_the_sets_it_was_encoded_from() {
        let (u, id, key) = sample();
        let bytes = encode(&u, &key, &id);
        assert_eq!(bytes.len(), HEADER + 16 * 5 + TAG);
        let (identifiers, entities, folded) = decode(&bytes, &key, &id).unwrap();
        assert_eq!(identifiers, u.identifiers);
        assert_eq!(entities, u.entities);
        assert_eq!(folded, u.folded);
    }

    #[test]
    fn a_changed_byte_a_cut_file_another_key_or_identity_is_rejected() {
        let (u, id, key) = sample();
        let bytes = encode(&u, &key, &id);
        // A fake entity: one pseudonym byte changed, the counts kept.
        let mut forged = bytes.clone();
        forged[HEADER + 3] ^= 1;
        assert_eq!(
            decode(&forged, &key, &id).unwrap_err(),
            "its seal does not hold"
        );
        let cut = &bytes[..bytes.len() - 1];
        assert!(decode(cut, &key, &id).is_err());
        let other = Pseudonymizer::new(&[4u8; 32]).derived_key(KEY_LABEL);
        assert_eq!(
            decode(&bytes, &other, &id).unwrap_err(),
            "its seal does not hold"
        );
        let mut elsewhere = id;
        elsewhere[0] ^= 1;
        assert_eq!(
            decode(&bytes, &key, &elsewhere).unwrap_err(),
            "its identity is not the datasets'"
        );
        // Counts claiming more than the file holds, even with overflow.
        let mut counts = bytes.clone();
        counts[40..48].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(
            decode(&counts, &key, &id).unwrap_err(),
            "its length does not match its counts"
        );
        assert!(decode(b"SHUYUNV1", &key, &id).is_err());
        assert!(decode(&[], &key, &id).is_err());
    }

    #[test]
    fn store_then_load_hits_and_a_damaged_file_is_removed_and_missed_next() {
        let dir = scratch("cache");
        let cache = UniverseCache::new(dir.clone(), UniverseCache::DEFAULT_MAX_BYTES);
        let (u, _, _) = sample();
        assert!(matches!(
            cache.load(&[], &u.pseudonymizer).unwrap(),
            Lookup::Miss
        ));
        let size = cache.store(&[], &u).unwrap();
        let Lookup::Hit(loaded) = cache.load(&[], &u.pseudonymizer).unwrap() else {
            panic!("expected a hit");
        };
        assert_eq!(loaded.identifiers, u.identifiers);
        // Another scenario's key finds nothing under its own identity.
        let other = Pseudonymizer::new(&[9u8; 32]);
        assert!(matches!(cache.load(&[], &other).unwrap(), Lookup::Miss));

        let file = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == EXTENSION))
            .unwrap();
        assert_eq!(fs::metadata(&file).unwrap().len(), size);
        let mut bytes = fs::read(&file).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x80;
        fs::write(&file, &bytes).unwrap();
        assert!(matches!(
            cache.load(&[], &u.pseudonymizer).unwrap(),
            Lookup::Rejected("its seal does not hold")
        ));
        assert!(!file.exists());
        assert!(matches!(
            cache.load(&[], &u.pseudonymizer).unwrap(),
            Lookup::Miss
        ));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn eviction_removes_the_least_recently_used_but_never_the_newest() {
        let dir = scratch("evict");
        let (u, _, _) = sample();
        let one = HEADER as u64 + 16 * 5 + TAG as u64;
        // Room for one file and a half.
        let cache = UniverseCache::new(dir.clone(), one + one / 2);
        let others: Vec<_> = (0..3u8)
            .map(|i| universe(&Pseudonymizer::new(&[10 + i; 32]), &["A", "B", "C"]))
            .collect();
        for other in &others {
            cache.store(&[], other).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        let kept: Vec<_> = others
            .iter()
            .map(|o| matches!(cache.load(&[], &o.pseudonymizer).unwrap(), Lookup::Hit(_)))
            .collect();
        assert_eq!(kept, [false, false, true]);
        // Smaller room than one file: the file just written stays.
        let tiny = UniverseCache::new(dir.clone(), 1);
        tiny.store(&[], &u).unwrap();
        assert!(matches!(
            tiny.load(&[], &u.pseudonymizer).unwrap(),
            Lookup::Hit(_)
        ));
        assert!(matches!(
            tiny.load(&[], &others[2].pseudonymizer).unwrap(),
            Lookup::Miss
        ));
        fs::remove_dir_all(&dir).unwrap();
    }
}
