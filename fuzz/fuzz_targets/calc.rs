//! The `calc` tool's evaluator on arbitrary text (an operator's `/tool calc`, a model's tool
//! call): must never panic or overflow the stack, and a value it gives is finite.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::agent::tools::calc::evaluate;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(value) = evaluate(&text) {
        assert!(value.is_finite(), "{text:?} = {value}");
    }
});
