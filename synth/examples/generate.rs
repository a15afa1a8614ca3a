//! Generates the bundled datasets.
//!
//! `cargo run -p shuyu-synth --example generate -- <out_dir> [scale] [seed]`
//!
//! At the defaults (scale 1, seed 20261101) this reproduces the files committed under
//! `datasets/`. The runtime's `shuyu datasets generate` wraps the same function.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use shuyu_synth::{generate, GenerateOptions};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(out_dir) = args.first().map(PathBuf::from) else {
        eprintln!("usage: generate <out_dir> [scale] [seed]");
        return ExitCode::from(2);
    };
    let mut opts = GenerateOptions::default();
    if let Some(scale) = args.get(1) {
        match scale.parse() {
            Ok(s) => opts.scale = s,
            Err(e) => {
                eprintln!("scale '{scale}': {e}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(seed) = args.get(2) {
        match seed.parse() {
            Ok(s) => opts.seed = s,
            Err(e) => {
                eprintln!("seed '{seed}': {e}");
                return ExitCode::from(2);
            }
        }
    }
    let started = Instant::now();
    match generate(&out_dir, &opts, &mut |line| println!("{line}")) {
        Ok(written) => {
            println!(
                "{} datasets in {:.1} s",
                written.len(),
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
