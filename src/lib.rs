//! storelink: a self-hosted way for an add-on vendor to connect merchants' stores to its add-on.
//!
//! Read top-down: [`cli`] runs a command; [`app`] builds the application and assembles the
//! routes; `web` holds one module per audience; [`state`] is what handlers share; the services
//! below it are [`flow`], [`notify`] and [`platforms`] (one folder per platform, behind one
//! trait and a registry); [`db`] has one module per table; [`config`] reads the settings;
//! [`domain`], [`crypto`] and [`clock`] are the ground floor. Imports only point down that list
//! (`scripts/check-layers` checks it; docs/architecture.md draws it). What is `pub` here is what
//! the binary, the tests and the benchmarks use; everything else is `pub(crate)`.

pub(crate) mod api_access;
/// mimalloc instead of the C library's allocator: a request makes many small, short-lived
/// allocations (headers, rows, JSON), and glibc's malloc and free (with its free-chunk
/// consolidation) took about a tenth of storelink's CPU under load (benches/README.md,
/// "Statements beside the pool"). Set here, so the binary, the tests and the benchmarks all use it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod app;
pub(crate) mod backup;
pub mod cli;
pub(crate) mod client_addr;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod db;
pub(crate) mod doctor;
pub mod domain;
pub(crate) mod error;
pub mod flow;
pub mod health;
pub(crate) mod keys;
pub(crate) mod limits;
pub(crate) mod measure;
pub mod notify;
pub mod password;
pub mod platforms;
pub(crate) mod render;
pub(crate) mod sandbox;
pub(crate) mod serve;
pub mod state;
pub mod telemetry;
pub mod version;
pub(crate) mod web;
