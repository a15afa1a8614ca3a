//! Shared fixtures: generated datasets, built guest modules, a fresh domain per test.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use shuyu::catalog::Catalog;
use shuyu::domain::Domain;
use shuyu::governance::ScenarioFile;
use shuyu::job::{run_job, JobReport, JobRequest};
use shuyu_datasets::generate::{generate, GenerateOptions};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("runtime/ has a parent")
        .to_path_buf()
}

/// Datasets generated once per test run, small enough for fast tests but with small groups.
pub fn datasets() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = GenerateOptions {
            scale: 0.2,
            ..GenerateOptions::default()
        };
        generate(dir.path(), &options, &mut |_| {}).expect("generate test datasets");
        dir
    })
    .path()
}

/// A fresh domain (own keys, database, catalog) in a temporary folder.
pub struct TestDomain {
    pub domain: Domain,
    pub dir: tempfile::TempDir,
}

impl TestDomain {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let domain = Domain::open(dir.path()).expect("open domain");
        for entry in std::fs::read_dir(datasets()).expect("datasets dir") {
            let path = entry.expect("entry").path();
            if path.join("dataset.toml").is_file() {
                Catalog::import(&domain.datasets_dir(), &path).expect("import dataset");
            }
        }
        Self { domain, dir }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `module` under the example scenario `scenario`, pinned to the module's hash.
    pub fn run(&self, scenario: ScenarioFile, module: &[u8]) -> JobReport {
        run_job(
            &self.domain,
            JobRequest {
                scenario,
                module: module.to_vec(),
            },
        )
        .expect("job runs")
    }
}

/// A guest module built by scripts/build-guests.sh.
pub fn module(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("SHUYU_WASM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target").join("wasm-modules"));
    let path = dir.join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the guest modules first: scripts/build-guests.sh (./run test does)",
            path.display()
        )
    })
}

pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

/// An example's scenario file with its module pinned.
pub fn scenario(example: &str, module: &[u8]) -> ScenarioFile {
    let path = repo()
        .join("guest-examples")
        .join(example)
        .join("scenario.toml");
    let mut scenario = ScenarioFile::load(&path).expect("example scenario");
    scenario.scenario.module_sha256 = sha256(module);
    scenario
}

/// The scenario hostile guests run under: residents' income by district and age band, as
/// `income-by-age` uses it.
pub fn hostile_scenario(module: &[u8]) -> ScenarioFile {
    scenario("income-by-age", module)
}

/// Every audit action of a job, in order.
pub fn actions(t: &TestDomain, job: &str) -> Vec<String> {
    let filter = shuyu::audit::AuditFilter {
        job_id: Some(job.to_string()),
        ..Default::default()
    };
    t.domain
        .audit
        .search(&filter)
        .expect("search")
        .into_iter()
        .map(|e| e.action)
        .collect()
}
