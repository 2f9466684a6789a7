//! Continuation tokens: `Continuation::from_token_string` never panics on any input, and a token
//! it accepts round-trips through `to_token_string`.
#![no_main]

use azure_twins::paging::Continuation;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match Continuation::from_token_string(s) {
        Ok(c) => {
            let token = c.to_token_string();
            assert_eq!(
                Continuation::from_token_string(&token).expect("re-parses"),
                c
            );
        }
        Err(e) => assert!(e.to_string().contains("continuation"), "{e}"),
    }
});
