//! Browser end-to-end tests: headless Chromium, driven through chromedriver by `fantoccini`,
//! clicks through storelink the way a merchant does.
//!
//! Each test starts its own storelink in-process (random port, its own SQLite database, the
//! built-in sandbox providers) and its own browser session; one chromedriver serves the whole
//! binary. Every page a test lands on passes the checks in [`checks`] (title, one `<h1>`,
//! labelled fields, no console errors, nothing blocked by the CSP, the expected HTTP status).
//!
//! Run them alone with `cargo test --test e2e`. Without `chromium` and `chromedriver` on the
//! `PATH` they are skipped with a loud message, unless `STORELINK_E2E_REQUIRED=1` (set by
//! `scripts/test`), which turns a missing browser into a failure. A failing test leaves a
//! screenshot, the page source and a report in `target/e2e-artifacts/` (see
//! [`harness::artifacts_dir`]).
//!
//! Layout: [`harness`] (chromedriver, the app, running a test), [`browser`] (what a test does
//! in the browser), [`checks`] (the checks run on every page), then one module per audience.
// The library is `pub(crate)` by default and documented (Cargo.toml [lints]); a test or
// benchmark binary is nobody's API.
#![allow(unreachable_pub, missing_docs)]

mod browser;
mod checks;
mod harness;

mod accessibility;
mod api_keys;
mod connections;
mod endpoints;
mod merchant;
mod operator;
mod pages;
