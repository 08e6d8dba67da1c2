//! Records the git revision the binary is built from, for
//! `vemt_build_info{revision}` and `vemt --version`. `VEMT_GIT_REVISION` in
//! the build's environment wins (a container build has no `.git`); without
//! either, the revision is `unknown`, so a source tarball still builds.

use std::process::Command;

fn main() {
    // The target triple, for the dependency check's `cargo metadata
    // --filter-platform` (tests/integration/dependencies.rs).
    if let Ok(target) = std::env::var("TARGET") {
        println!("cargo:rustc-env=VEMT_BUILD_TARGET={target}");
    }
    println!("cargo:rerun-if-env-changed=VEMT_GIT_REVISION");
    let from_env = std::env::var("VEMT_GIT_REVISION")
        .ok()
        .filter(|r| !r.trim().is_empty());
    let revision = from_env.or_else(git_revision);
    if revision.is_some() {
        // Rebuilt when HEAD moves (a commit, a checkout), so the revision
        // stays true. In a worktree the git dir is not `.git`.
        if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
            println!("cargo:rerun-if-changed={dir}/HEAD");
            println!("cargo:rerun-if-changed={dir}/logs/HEAD");
        }
    }
    println!(
        "cargo:rustc-env=VEMT_GIT_REVISION={}",
        revision.unwrap_or_else(|| "unknown".into())
    );
}

fn git_revision() -> Option<String> {
    // Only this crate's own checkout: sources unpacked inside some other
    // repository are not that repository's revision.
    let top = git(&["rev-parse", "--show-toplevel"])?;
    let manifest = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    let same = |a: &str, b: &str| {
        std::fs::canonicalize(a)
            .ok()
            .is_some_and(|a| std::fs::canonicalize(b).ok() == Some(a))
    };
    if !same(&top, &manifest) {
        return None;
    }
    // The commit only: uncommitted changes are not marked (that would need
    // a rebuild script run on every build).
    git(&["rev-parse", "--short=12", "HEAD"])
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
