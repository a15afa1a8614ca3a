//! A provider's `dataset.toml`: parsing and validation must refuse bad input with an error,
//! never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(manifest) = shuyu_datasets::DatasetManifest::from_toml_str(text) {
            let _ = manifest.validate();
        }
    }
});
