//! Which storelink this is: the package version and the git commit it was built from
//! (`build.rs`; "unknown" when built without git).

/// The git commit the binary was built from, 12 hex digits, or `unknown`.
pub const COMMIT: &str = env!("STORELINK_GIT_COMMIT");

/// `0.1.0 (commit 0123456789ab)`: what `storelink --version` prints after the name.
pub const LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("STORELINK_GIT_COMMIT"),
    ")"
);
