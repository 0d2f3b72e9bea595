//! Build script: records the git commit the binary is built from, for `storelink --version`
//! (`STORELINK_GIT_COMMIT`, or "unknown" when the source is not a git checkout and the variable
//! is not set by whoever builds it, say from a source archive).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=STORELINK_GIT_COMMIT");
    let commit = std::env::var("STORELINK_GIT_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=STORELINK_GIT_COMMIT={commit}");
    // Built again when HEAD moves: a new commit, another branch checked out. Only files that
    // exist are named: Cargo takes a missing one for changed, and would run this script and
    // rebuild the crate on every build (a fresh clone has no packed-refs).
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for file in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &file])
            && std::path::Path::new(&path).exists()
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}

/// The commit checked out, abbreviated to 12 hex digits.
fn git_commit() -> Option<String> {
    git(&["rev-parse", "--short=12", "HEAD"])
}

/// What `git ARGS` prints, trimmed, when git runs and succeeds.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}
