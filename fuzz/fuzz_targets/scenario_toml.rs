//! A scenario file (operators write them; the server accepts their contracts in applications):
//! parsing must refuse bad input with an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = shuyu::governance::ScenarioFile::from_toml_str(text);
    }
});
