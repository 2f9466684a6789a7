//! JSON Pointer and JSON Patch parsing: `Pointer::segments`, `JsonPatch::try_from` and
//! `JsonPatch::validate` never panic; accepted pointers re-escape to the same text and accepted
//! patches survive their wire form.
#![no_main]

use azure_twins::digitaltwins::{JsonPatch, Pointer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let p = Pointer::from(s);
        if let Ok(segs) = p.segments() {
            assert_eq!(Pointer::from_segments(&segs).as_str(), s);
        }
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(patch) = JsonPatch::try_from(value) {
        let _ = patch.validate();
        let back = JsonPatch::try_from(patch.to_value()).expect("wire form reads back");
        assert_eq!(back, patch);
    }
});
