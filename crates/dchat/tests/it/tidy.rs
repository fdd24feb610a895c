//! Tidy checks over the workspace's own source, run as a test (after rust-analyzer's
//! `tidy.rs`): rules a reviewer would otherwise have to remember.

use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The workspace's own Rust files under `dir` (build output, such as the fuzzer's
/// `target/`, is not ours).
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && path.file_name().is_some_and(|name| name == "target") {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_says_what_it_is_for_and_carries_no_debugging_leftovers() {
    let root = workspace_root();
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    assert!(files.len() > 20, "found only {} files under crates/", files.len());
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let name = file.strip_prefix(&root).unwrap().display().to_string();
        if !text.trim_start().starts_with("//!") {
            problems.push(format!("{name}: does not start with a //! comment saying what it is for"));
        }
        // Spelled in pieces so that this file does not match its own search.
        for macro_name in ["dbg", "todo", "unimplemented"] {
            if text.contains(&format!("{macro_name}!(")) {
                problems.push(format!("{name}: contains {macro_name}!"));
            }
        }
        // Test support compiled only for tests (`dchat-storage`'s `testing` feature) tells the
        // person running the tests, not a log, when it skips something.
        let is_library = name.contains("/src/")
            && !name.ends_with("/src/main.rs")
            && !name.ends_with("build.rs")
            && name != "crates/dchat-storage/src/testing.rs";
        if is_library && ["println", "eprintln"].iter().any(|print| text.contains(&format!("{print}!("))) {
            problems.push(format!("{name}: prints instead of using tracing"));
        }
    }
    assert!(problems.is_empty(), "tidy problems:\n{}", problems.join("\n"));
}

#[test]
fn service_crates_never_depend_on_each_other_and_only_the_binary_knows_them_all() {
    let root = workspace_root();
    let services = ["dchat-auth", "dchat-room", "dchat-message", "dchat-presence"];
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(root.join("crates")).unwrap() {
        let dir = entry.unwrap().path();
        let crate_name = dir.file_name().unwrap().to_string_lossy().to_string();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(manifest.contains(&format!("name = \"{crate_name}\"")), "{crate_name}: folder name = crate name");
        if crate_name == "dchat" {
            continue;
        }
        for service in services {
            let depends = manifest.lines().any(|line| line.trim_start().starts_with(&format!("{service}.")));
            if depends && service != crate_name {
                problems.push(format!("{crate_name} depends on {service}"));
            }
        }
        let talks_protobuf = manifest.contains("prost") && crate_name != "dchat-proto";
        if talks_protobuf {
            problems.push(format!("{crate_name} depends on prost: only dchat-proto knows protobuf"));
        }
    }
    assert!(problems.is_empty(), "architecture problems:\n{}", problems.join("\n"));
}

/// A service's rules and errors know stores only through their traits: the database
/// driver appears in a store's backend files (and the storage plumbing, the bench's raw
/// SQLite baseline, and tests that look inside a database file), nowhere else, so that a
/// second backend is a new file.
#[test]
fn only_store_backends_know_the_database_driver() {
    let root = workspace_root();
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    let allowed = |name: &str| {
        name.contains("/src/store/")
            || name.starts_with("crates/dchat-storage/")
            || name == "crates/dchat-bench/src/baseline.rs"
            || name.starts_with("crates/dchat/tests/")
    };
    let problems: Vec<String> = files
        .iter()
        .map(|file| file.strip_prefix(&root).unwrap().display().to_string())
        .filter(|name| !allowed(name))
        .filter(|name| std::fs::read_to_string(root.join(name)).unwrap().contains("sqlx"))
        .collect();
    assert!(problems.is_empty(), "files outside a store backend that use sqlx:\n{}", problems.join("\n"));
}

/// The dependency-layer table of ARCHITECTURE.md is the truth about which crate may use
/// which: every crate is in it, and depends on no workspace crate its row does not name.
#[test]
fn every_crate_depends_only_on_the_crates_its_layer_allows() {
    let root = workspace_root();
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let mut allowed = std::collections::HashMap::new();
    for line in architecture.lines().filter(|line| line.starts_with("| ") && line.contains("`dchat")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (crate_name, may) = (cells[2].trim_matches('`'), cells[3]);
        // A row may end in a remark in parentheses; the names come before it.
        let may = may.split(" (").next().unwrap_or_default();
        let names: Option<Vec<String>> = if may == "every crate" {
            None
        } else {
            Some(
                may.split(',')
                    .map(|name| name.trim().trim_matches('`').to_owned())
                    .filter(|name| name != "none")
                    .collect(),
            )
        };
        allowed.insert(crate_name.to_owned(), names);
    }
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(root.join("crates")).unwrap() {
        let dir = entry.unwrap().path();
        let crate_name = dir.file_name().unwrap().to_string_lossy().to_string();
        let Some(may) = allowed.get(&crate_name) else {
            problems.push(format!("{crate_name} is not in ARCHITECTURE.md's dependency table"));
            continue;
        };
        let Some(may) = may else { continue };
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let dependencies = manifest.split("[dependencies]").nth(1).unwrap_or_default();
        let dependencies = dependencies.split("\n[").next().unwrap_or_default();
        for line in dependencies.lines() {
            let name = line.split(['.', ' ', '=']).next().unwrap_or_default();
            if name.starts_with("dchat") && !may.iter().any(|allowed| allowed == name) {
                problems.push(format!("{crate_name} depends on {name}, which its layer does not allow"));
            }
        }
    }
    assert!(problems.is_empty(), "layering problems:\n{}", problems.join("\n"));
}

/// The README's `cargo run --release -- serve` needs one binary to be the workspace's
/// default: there are two (the server and the load generator), and only the server's
/// package names itself as the one `cargo run` runs.
#[test]
fn cargo_run_at_the_root_runs_the_server() {
    let root = workspace_root();
    let mut defaults = Vec::new();
    for entry in std::fs::read_dir(root.join("crates")).unwrap() {
        let manifest = std::fs::read_to_string(entry.unwrap().path().join("Cargo.toml")).unwrap();
        defaults.extend(manifest.lines().filter(|line| line.starts_with("default-run")).map(str::to_owned));
    }
    assert_eq!(defaults, ["default-run = \"dchat\""]);
}

/// Release builds serve the web app from files built into the binary: a file in `web/`
/// that `web.rs` does not list would be missing from every release while working with
/// `--web-dir`. Every file there is listed.
#[test]
fn every_web_app_file_is_embedded() {
    let gateway = workspace_root().join("crates/dchat-gateway");
    let listing = std::fs::read_to_string(gateway.join("src/web.rs")).unwrap();
    let mut files = Vec::new();
    let mut folders = vec![gateway.join("web")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push(path.strip_prefix(gateway.join("web")).unwrap().to_string_lossy().replace('\\', "/"));
            }
        }
    }
    assert!(files.len() > 10, "found only {files:?}");
    let missing: Vec<&String> = files.iter().filter(|file| !listing.contains(&format!("{file}\""))).collect();
    assert!(missing.is_empty(), "web/ files that web.rs does not embed: {missing:?}");
}
