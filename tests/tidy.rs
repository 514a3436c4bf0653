//! Invariants of the code base, checked on every test run.

use std::path::Path;

use crate::support::repo;

fn rust_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

fn sources(under: &str) -> Vec<(String, String)> {
    let mut files = Vec::new();
    rust_files(&repo().join(under), &mut files);
    files
        .into_iter()
        .map(|p| {
            (
                p.strip_prefix(repo()).unwrap_or(&p).display().to_string(),
                std::fs::read_to_string(&p).expect("text"),
            )
        })
        .collect()
}

/// Every Rust source of the workspace: the binary and the library crates.
fn all_sources() -> Vec<(String, String)> {
    let mut all = sources("src");
    all.extend(sources("crates"));
    all
}

#[test]
fn the_engine_cannot_see_aws() {
    // The build fact: the engine crate depends on no aws-* crate (so it cannot name one).
    let manifest =
        std::fs::read_to_string(repo().join("crates/engine/Cargo.toml")).expect("engine manifest");
    let dependencies = manifest.split("[dependencies]").nth(1).unwrap_or_default();
    for line in dependencies.lines() {
        assert!(
            !line.trim_start().starts_with("aws") && !line.contains("ams-aws"),
            "crates/engine depends on {line}"
        );
    }
    for (path, text) in sources("crates/engine") {
        for forbidden in ["aws_sdk", "aws_config", "ams_aws", "crate::cluster"] {
            assert!(!text.contains(forbidden), "{path} mentions {forbidden}");
        }
    }
}

#[test]
fn no_source_file_outside_tests_is_over_700_lines() {
    for (path, text) in all_sources() {
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let lines = code.lines().count();
        assert!(
            path.ends_with("tests.rs") || lines <= 700,
            "{path} has {lines} lines outside its tests: split it where a reader loses the thread"
        );
    }
}

#[test]
fn every_source_file_says_what_it_is_for() {
    for (path, text) in all_sources() {
        let first = text.lines().next().unwrap_or_default();
        let is_test_module = path.ends_with("tests.rs");
        assert!(
            is_test_module || first.starts_with("//!"),
            "{path} does not start with a //! comment"
        );
    }
}

#[test]
fn no_unwrap_or_debug_leftovers_outside_tests() {
    for (path, text) in all_sources() {
        if path.ends_with("tests.rs") || path.ends_with("testing.rs") {
            continue;
        }
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for forbidden in [".unwrap()", "dbg!(", "todo!(", "unimplemented!("] {
            assert!(
                !code.contains(forbidden),
                "{path} uses {forbidden} outside tests"
            );
        }
    }
}

#[test]
fn the_aws_kinds_read_no_stored_argument_by_key() {
    // A kind reads what it was last applied with as its own struct (`Current::args`): a
    // renamed field fails to compile, never a key looked up at run time.
    for (path, text) in sources("crates/aws/src") {
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for forbidden in ["inputs[\"", "inputs.get(\""] {
            assert!(
                !code.contains(forbidden),
                "{path} reads stored arguments by key ({forbidden}) outside tests"
            );
        }
    }
}

#[test]
fn state_files_stay_out_of_git() {
    let ignore = std::fs::read_to_string(repo().join(".gitignore")).expect(".gitignore");
    assert!(
        ignore.lines().any(|l| l.trim() == "/state/*"),
        ".gitignore must keep state/ out of git"
    );
}

#[test]
fn few_macros_and_each_says_why_it_is_one() {
    // One way to call AWS: `.send().await` at every call site, its meaning a method on the
    // result. A macro is the last resort, and the comment above it says why nothing else does.
    let mut macros = Vec::new();
    for (path, text) in all_sources() {
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let lines: Vec<&str> = code.lines().collect();
        for (at, line) in lines.iter().enumerate() {
            if !line.trim_start().starts_with("macro_rules!") {
                continue;
            }
            let comment: String = lines[..at]
                .iter()
                .rev()
                .take_while(|l| {
                    l.trim_start().starts_with("//") || l.trim_start().starts_with("#[")
                })
                .map(|l| l.to_lowercase())
                .collect();
            assert!(
                comment.contains("macro"),
                "{path}:{}: a macro without a comment saying why it is one",
                at + 1
            );
            macros.push(format!("{path}:{}", at + 1));
        }
    }
    assert!(macros.len() <= 8, "{} macros: {macros:?}", macros.len());
}
