//! The emulator's query language (both dialects): `parse` never panics, and a parsed query
//! evaluates (bind, WHERE, projection, aggregate row) against sample documents without panicking.
#![no_main]

use azure_twins_emulator::fuzzing;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let docs = [
        json!({"deviceId": "d1", "tags": {"site": "a", "n": 1, "f": 1.5, "arr": [1, "x", null]},
               "properties": {"desired": {"t": 20}, "reported": {"t": 21.5}}, "$version": 3}),
        json!({"$dtId": "r1", "temp": -9223372036854775808i64, "name": "Room \u{1F600}",
               "$metadata": {"$model": "dtmi:ex:Room;1"}, "big": 18446744073709551615u64}),
        json!({}),
    ];
    fuzzing::query(s, &docs);
});
