//! The configuration loader on arbitrary text: `Config::from_toml` (parse, merge over the
//! defaults, validate) must never panic — a bad file is an error naming the key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_config::Config;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::from_toml(text);
    }
});
