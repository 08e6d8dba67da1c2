//! The dependency check CI runs offline (issue 12), in place of cargo-deny
//! (which would be compiled on every fresh CI machine, minutes on two
//! cores, and whose advisory database cannot be fetched here): over
//! `cargo metadata --locked --offline` for the build's target, every crate
//! is under a licence this project may ship (the project itself is MIT,
//! LICENSE), and a crate appears in two versions only where that was
//! reviewed below. No network: it reads Cargo.lock and the crates the
//! build already downloaded.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Licences (SPDX) whose terms allow shipping the service under MIT.
const ALLOWED_LICENCES: [&str; 13] = [
    "MIT",
    "MIT-0",
    "Apache-2.0",
    "Apache-2.0 WITH LLVM-exception",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "ISC",
    "Zlib",
    "BSL-1.0",
    "CC0-1.0",
    "Unlicense",
    // ICU4X (through url's IDNA support).
    "Unicode-3.0",
    // webpki-roots: Mozilla's root certificates as data.
    "CDLA-Permissive-2.0",
];

/// Crates in more than one semver line, reviewed: each is two of our
/// dependencies on different major lines of a crate, neither line ours to
/// choose. A new duplicate fails the check until it is reviewed here; an
/// entry no longer needed fails it too, so the list stays true.
const ALLOWED_DUPLICATES: [(&str, &[&str]); 17] = [
    // sqlx on 0.22; reqwest, hyper-util and jsonwebtoken 12 on 0.23.
    ("base64", &["0.22", "0.23"]),
    // RustCrypto's two lines: sqlx-core and lapin's p12-keystore (pkcs5,
    // scrypt) on digest 0.10; sqlx-postgres (hmac 0.13, hkdf) and rand
    // 0.10's chacha20 on digest 0.11.
    ("block-buffer", &["0.10", "0.12"]),
    ("cpufeatures", &["0.2", "0.3"]),
    ("crypto-common", &["0.1", "0.2"]),
    ("digest", &["0.10", "0.11"]),
    ("hmac", &["0.12", "0.13"]),
    ("sha1", &["0.10", "0.11"]),
    ("sha2", &["0.10", "0.11"]),
    // rand 0.9 for proptest (tests only), 0.10 for uuid and tempfile, each
    // with its getrandom; getrandom 0.2 is kept in the resolve by a
    // target-specific dependency (nothing built on Linux uses it).
    ("getrandom", &["0.2", "0.3", "0.4"]),
    ("rand", &["0.9", "0.10"]),
    ("rand_core", &["0.9", "0.10"]),
    // sqlx-core's hashlink 0.11 (hashbrown 0.16); indexmap and jsonschema's
    // referencing on hashbrown 0.17 (hashlink 0.12).
    ("hashbrown", &["0.16", "0.17"]),
    ("hashlink", &["0.11", "0.12"]),
    // nom 7 under asn1-rs and x509-parser (certificate parsing), nom 8 elsewhere.
    ("nom", &["7", "8"]),
    // Proc macros moving from syn 2 to syn 3 (clap_derive, async-trait,
    // displaydoc and prometheus-client's derive already on 3).
    ("syn", &["2", "3"]),
    ("synstructure", &["0.13", "0.14"]),
    // aws-lc-rs on 0.7, rustls-webpki on 0.9.
    ("untrusted", &["0.7", "0.9"]),
];

/// The semver line of a version: `0.22.1` -> `0.22`, `2.0.119` -> `2`.
fn line(version: &str) -> String {
    let mut parts = version.split('.');
    let major = parts.next().unwrap_or_default();
    if major == "0" {
        format!("0.{}", parts.next().unwrap_or_default())
    } else {
        major.to_owned()
    }
}

/// Whether an SPDX expression (`A OR B`, `A AND (B OR C)`, `A WITH E`, and
/// the older `A/B`) can be met with allowed licences.
fn acceptable(expression: &str) -> bool {
    let spaced = expression
        .replace('/', " OR ")
        .replace('(', " ( ")
        .replace(')', " ) ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    let mut at = 0;
    let ok = or_expr(&tokens, &mut at);
    ok && at == tokens.len()
}

fn or_expr(tokens: &[&str], at: &mut usize) -> bool {
    let mut ok = and_expr(tokens, at);
    while tokens.get(*at) == Some(&"OR") {
        *at += 1;
        ok |= and_expr(tokens, at);
    }
    ok
}

fn and_expr(tokens: &[&str], at: &mut usize) -> bool {
    let mut ok = term(tokens, at);
    while tokens.get(*at) == Some(&"AND") {
        *at += 1;
        ok &= term(tokens, at);
    }
    ok
}

fn term(tokens: &[&str], at: &mut usize) -> bool {
    match tokens.get(*at) {
        Some(&"(") => {
            *at += 1;
            let ok = or_expr(tokens, at);
            *at += 1; // ")"
            ok
        }
        Some(id) => {
            *at += 1;
            let mut licence = (*id).to_owned();
            if tokens.get(*at) == Some(&"WITH") {
                licence = format!("{licence} WITH {}", tokens.get(*at + 1).unwrap_or(&""));
                *at += 2;
            }
            ALLOWED_LICENCES.contains(&licence.as_str())
        }
        None => false,
    }
}

#[test]
fn spdx_expressions_are_judged_by_their_choices() {
    assert!(acceptable("MIT OR Apache-2.0"));
    assert!(acceptable("Apache-2.0/MIT"));
    assert!(acceptable("(MIT OR Apache-2.0) AND Unicode-3.0"));
    assert!(acceptable(
        "Apache-2.0 WITH LLVM-exception OR Apache-2.0 OR MIT"
    ));
    assert!(acceptable("GPL-3.0 OR MIT"));
    assert!(!acceptable("GPL-3.0"));
    assert!(!acceptable("MIT AND GPL-3.0"));
    assert!(!acceptable("AGPL-3.0 WITH LLVM-exception"));
    assert!(!acceptable(""));
}

#[test]
fn every_dependency_has_an_allowed_licence_and_no_unreviewed_duplicate() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--locked",
            "--offline",
            "--format-version",
            "1",
            "--filter-platform",
            env!("VEMT_BUILD_TARGET"),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let resolved: BTreeSet<&str> = metadata["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    let mut refused = Vec::new();
    let mut lines: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for package in metadata["packages"].as_array().unwrap() {
        if !resolved.contains(package["id"].as_str().unwrap()) {
            continue;
        }
        let name = package["name"].as_str().unwrap();
        let version = package["version"].as_str().unwrap();
        let licence = package["license"].as_str().unwrap_or_default();
        if !acceptable(licence) {
            refused.push(format!("{name} {version}: {licence:?}"));
        }
        lines.entry(name).or_default().insert(line(version));
    }
    assert!(lines.len() > 100, "read the whole tree: {}", lines.len());
    assert!(refused.is_empty(), "licences not allowed: {refused:#?}");
    assert!(
        acceptable(
            metadata["packages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == "vemt")
                .unwrap()["license"]
                .as_str()
                .unwrap()
        ),
        "our own"
    );

    let duplicates: BTreeMap<&str, BTreeSet<String>> = lines
        .into_iter()
        .filter(|(_, versions)| versions.len() > 1)
        .collect();
    let reviewed: BTreeMap<&str, BTreeSet<String>> = ALLOWED_DUPLICATES
        .iter()
        .map(|(name, lines)| (*name, lines.iter().map(|l| (*l).to_owned()).collect()))
        .collect();
    assert_eq!(
        duplicates, reviewed,
        "duplicate crate versions (left) differ from the reviewed list (right): review and update ALLOWED_DUPLICATES"
    );
}
