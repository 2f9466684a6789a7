//! The vendored specs are byte-identical to upstream: their sha256 must equal the values recorded
//! in their folder's PROVENANCE.md. Checked for `specs/` (the specs the crate is generated from)
//! and `tests/fixtures/specs/older/` (real older upstream versions the regeneration check builds).
//! The values are parsed from those files and every `.json` file of a folder must have a row, so
//! nothing here names a spec version.

use sha2::{Digest, Sha256};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// `(path relative to specs/, sha256)` for every table row of PROVENANCE.md that names a `.json`
/// file and carries a 64-hex-digit checksum.
fn recorded_checksums(dir: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(format!("{ROOT}/{dir}/PROVENANCE.md"))
        .unwrap_or_else(|e| panic!("{dir}/PROVENANCE.md: {e}"));
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

/// The folders of vendored upstream specs, each with its PROVENANCE.md.
const SPEC_DIRS: [&str; 2] = ["specs", "tests/fixtures/specs/older"];

/// Every `.json` file under `dir`, relative to it, sorted.
fn json_files(dir: &str) -> Vec<String> {
    fn walk(base: &std::path::Path, at: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(at).unwrap_or_else(|e| panic!("{}: {e}", at.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else if path.extension().is_some_and(|e| e == "json") {
                let rel = path.strip_prefix(base).unwrap().to_string_lossy();
                out.push(rel.replace('\\', "/"));
            }
        }
    }
    let base = std::path::Path::new(ROOT).join(dir);
    let mut out = Vec::new();
    walk(&base, &base, &mut out);
    out.sort();
    out
}

#[test]
fn provenance_lists_every_vendored_spec() {
    for dir in SPEC_DIRS {
        let mut recorded: Vec<String> = recorded_checksums(dir)
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        recorded.sort();
        assert!(
            !recorded.is_empty(),
            "{dir}/PROVENANCE.md records no checksum"
        );
        assert_eq!(
            recorded,
            json_files(dir),
            "{dir}/PROVENANCE.md must have one checksum row per spec file in {dir}/"
        );
    }
}

#[test]
fn vendored_specs_match_recorded_sha256() {
    for dir in SPEC_DIRS {
        for (file, expected) in recorded_checksums(dir) {
            let bytes = std::fs::read(format!("{ROOT}/{dir}/{file}"))
                .unwrap_or_else(|e| panic!("{dir}/{file}: {e}"));
            assert_eq!(
                sha256_hex(&bytes),
                expected,
                "{dir}/{file} differs from upstream (sha256 in {dir}/PROVENANCE.md); never edit \
                 vendored specs, add a fixup in codegen/src/fixups/ instead"
            );
        }
    }
}

#[test]
fn sha256_helper_matches_a_known_vector() {
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}
