//! storelink: a self-hosted way for an add-on vendor to connect merchants' stores to its add-on.
//!
//! Read top-down: [`cli`] runs a command; [`app`] builds the application and assembles the
//! routes; [`web`] holds one module per audience; [`state`] is what handlers share; the
//! services below it are [`flow`], [`providers`] (one module per platform) and [`webhooks`];
//! [`db`] has one module per table; [`domain`], [`crypto`] and [`clock`] are the ground floor.
//! Imports only point down that list.

pub mod api_access;
pub mod app;
pub mod cli;
pub mod client_addr;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod error;
pub mod flow;
pub mod keys;
pub mod limits;
pub mod measure;
pub mod notify;
pub mod password;
pub mod platforms;
pub mod render;
pub mod sandbox;
pub mod serve;
pub mod state;
pub mod telemetry;
pub mod web;
