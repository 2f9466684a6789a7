//! The vendored specs are byte-identical to upstream: their sha256 must equal the values recorded
//! in `specs/PROVENANCE.md`. The values are parsed from that file, so provenance lives in one place.

use sha2::{Digest, Sha256};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// `(path relative to specs/, sha256)` for every table row of PROVENANCE.md that names a `.json`
/// file and carries a 64-hex-digit checksum.
fn recorded_checksums() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(format!("{ROOT}/specs/PROVENANCE.md"))
        .expect("specs/PROVENANCE.md is readable");
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line
            .split('|')
            .map(|c| c.trim().trim_matches('`'))
            .collect();
        let file = cells.iter().find(|c| c.ends_with(".json"));
        let sha = cells
            .iter()
            .find(|c| c.len() == 64 && c.chars().all(|ch| ch.is_ascii_hexdigit()));
        if let (Some(file), Some(sha)) = (file, sha) {
            rows.push((file.to_string(), sha.to_ascii_lowercase()));
        }
    }
    rows
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn provenance_lists_both_specs() {
    let files: Vec<String> = recorded_checksums().into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        files,
        [
            "iothub/2021-04-12/iothub.json",
            "digitaltwins/2023-10-31/digitaltwins.json"
        ],
        "PROVENANCE.md must have one checksum row per vendored spec"
    );
}

#[test]
fn vendored_specs_match_recorded_sha256() {
    for (file, expected) in recorded_checksums() {
        let bytes = std::fs::read(format!("{ROOT}/specs/{file}"))
            .unwrap_or_else(|e| panic!("specs/{file}: {e}"));
        assert_eq!(
            sha256_hex(&bytes),
            expected,
            "specs/{file} differs from upstream (sha256 in specs/PROVENANCE.md); \
             never edit vendored specs, add a fixup in codegen/src/fixups.rs instead"
        );
    }
}

#[test]
fn sha256_helper_matches_a_known_vector() {
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}
