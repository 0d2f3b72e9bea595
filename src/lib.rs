//! storelink: a self-hosted way for an add-on vendor to connect merchants' stores to its add-on.
//!
//! Read top-down: [`app`] assembles the routes, [`web`] holds one module per audience,
//! [`providers`] one module per platform, [`db`] one module per table.

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod error;
pub mod flow;
pub mod password;
pub mod providers;
pub mod sandbox;
pub mod telemetry;
pub mod web;
pub mod webhooks;
