//! `generated/*.rs` (the committed, reviewable copy of the generated clients) must equal what
//! `build.rs` writes to `OUT_DIR`. Run `UPDATE_GENERATED=1 cargo test --test generated_drift` to
//! rewrite the copies after a spec, fixup or progenitor change, and review the diff.
//!
//! Only meaningful with the `codegen` feature: without it `build.rs` copies `generated/` into
//! `OUT_DIR`, and the comparison could not fail.

#![cfg(feature = "codegen")]

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A short, readable summary of how two texts differ: line counts, the first differing lines
/// (up to 8, with line numbers) and how many lines differ in total (position by position).
fn diff_summary(expected: &str, actual: &str) -> String {
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    let mut differing = 0;
    let mut shown = Vec::new();
    for i in 0..e.len().max(a.len()) {
        let (el, al) = (e.get(i).copied(), a.get(i).copied());
        if el != al {
            differing += 1;
            if shown.len() < 8 {
                shown.push(format!(
                    "  line {}:\n    committed: {}\n    build:     {}",
                    i + 1,
                    el.unwrap_or("<end of file>"),
                    al.unwrap_or("<end of file>")
                ));
            }
        }
    }
    format!(
        "committed {} lines, build output {} lines, {} line positions differ; first:\n{}",
        e.len(),
        a.len(),
        differing,
        shown.join("\n")
    )
}

fn normalize(text: &str) -> String {
    text.replace("\r\n", "\n")
}

fn check(service: &str, built: &str) {
    let path = format!("{ROOT}/generated/{service}.rs");
    // The output must not depend on where the repository or the target dir lives.
    for machine_path in [ROOT, env!("OUT_DIR")] {
        assert!(
            !built.contains(machine_path),
            "{service}: generated code contains the machine-specific path {machine_path}"
        );
    }
    if std::env::var_os("UPDATE_GENERATED").is_some_and(|v| v == "1") {
        std::fs::write(&path, built).unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let (committed, built) = (normalize(&committed), normalize(built));
    assert!(
        committed == built,
        "generated/{service}.rs is stale: {}\n\
         Run `UPDATE_GENERATED=1 cargo test -p azure-twins --test generated_drift` and review the diff.",
        diff_summary(&committed, &built)
    );
}

#[test]
fn diff_summary_names_the_first_differing_line() {
    let summary = diff_summary("a\nb\nc\n", "a\nB\nc\nd\n");
    assert!(summary.contains("committed 3 lines, build output 4 lines, 2 line positions differ"));
    assert!(summary.contains("line 2:\n    committed: b\n    build:     B"));
    assert!(summary.contains("line 4:\n    committed: <end of file>\n    build:     d"));
}

#[cfg(feature = "iothub")]
#[test]
fn iothub_copy_is_current() {
    check(
        "iothub",
        include_str!(concat!(env!("OUT_DIR"), "/iothub.rs")),
    );
}

#[cfg(feature = "digitaltwins")]
#[test]
fn digitaltwins_copy_is_current() {
    check(
        "digitaltwins",
        include_str!(concat!(env!("OUT_DIR"), "/digitaltwins.rs")),
    );
}
