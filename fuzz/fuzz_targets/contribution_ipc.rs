//! `release_append`'s input: a guest-made Arrow IPC chunk, decoded by the guard. Whatever the
//! bytes, the guard must answer with an error or a decision, never panic or abort (an abort on a
//! huge allocation would end the whole process).
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use shuyu::guard::{IdentifierOracle, ReleaseBuilder, ReleaseContract, SetOracle};

fn contract() -> Arc<ReleaseContract> {
    static CONTRACT: OnceLock<Arc<ReleaseContract>> = OnceLock::new();
    CONTRACT
        .get_or_init(|| {
            let text = r#"
name = "fuzz"
k = 2
max_rows_per_entity = 2
max_groups = 1000
[[dimension]]
name = "district"
from = ["residents.district"]
[[measure]]
name = "income"
from = ["residents.income"]
clamp = [0.0, 1000.0]
aggregations = ["count", "sum", "mean"]
"#;
            Arc::new(toml::from_str(text).expect("the fuzz contract parses"))
        })
        .clone()
}

fn oracle() -> Arc<dyn IdentifierOracle> {
    let mut oracle = SetOracle::new();
    for n in 0..4u8 {
        oracle.add_entity_bytes([n; 16]);
    }
    Arc::new(oracle)
}

fuzz_target!(|data: &[u8]| {
    let mut builder = ReleaseBuilder::new(contract(), 2, oracle());
    // Split the input in two chunks so that state carried between appends is exercised too.
    let cut = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let _ = builder.append_ipc(&data[..cut]);
    let _ = builder.append_ipc(&data[cut..]);
    let _ = builder.finish();
});
