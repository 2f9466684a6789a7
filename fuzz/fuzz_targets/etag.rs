//! ETag parsing (`ETag::new` from a body or header value): never panics, the wire form is a
//! fixed point, and the opaque value sits inside it.
#![no_main]

use azure_twins::ETag;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let e = ETag::new(s);
    let header = e.as_header();
    assert_eq!(ETag::new(header), e, "as_header is a fixed point");
    assert!(header.contains(e.value()));
    assert_eq!(e.is_weak(), header.starts_with("W/"));
});
