//! `contribute_rows`'s input: a guest-made chunk of contribution rows (`shuyu_abi::rows`),
//! checked by the guard. Whatever the bytes, the check must accept or refuse the chunk, never
//! panic or allocate by a length the chunk only claims; and a refused chunk keeps no row.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use shuyu::guard::{EntityChunkCheck, EntityDrops, ReleaseContract};

fn check() -> &'static EntityChunkCheck {
    static CHECK: OnceLock<EntityChunkCheck> = OnceLock::new();
    CHECK.get_or_init(|| {
        let text = r#"
name = "fuzz"
k = 2
max_rows_per_entity = 2
max_groups = 1000
privacy = { epsilon = 1.0 }
[[dimension]]
name = "district"
from = ["residents.district"]
values = ["a", "b"]
[[dimension]]
name = "band"
from = ["residents.age"]
[[measure]]
name = "income"
from = ["residents.income"]
clamp = [0.0, 1000.0]
aggregations = ["count", "sum"]
"#;
        let contract: ReleaseContract = toml::from_str(text).expect("the fuzz contract parses");
        EntityChunkCheck::new(Arc::new(contract))
    })
}

fuzz_target!(|data: &[u8]| {
    // Two chunks of one entity run, so that the bound carried between calls is exercised too.
    let cut = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let (mut rows, mut drops) = (Vec::new(), EntityDrops::default());
    for chunk in [&data[..cut], &data[cut..]] {
        let before = rows.len();
        if check().append_rows(chunk, &mut rows, &mut drops).is_err() {
            assert_eq!(rows.len(), before, "a refused chunk kept rows");
        }
        assert!(rows.len() <= 2, "more than L rows kept");
    }
});
