//! Integration tests: one binary that starts the real app on a random port with its own
//! temporary database and stand-in providers, and drives it over HTTP.
// The library is `pub(crate)` by default and documented (Cargo.toml [lints]); a test or
// benchmark binary is nobody's API.
#![allow(unreachable_pub, missing_docs)]

// What the tests share: the database a test's app runs on, `TestApp`, a logged-in operator.
mod database;
mod helpers;
mod operator;

// The tests, a module per area; an area of several files is a folder whose mod.rs says what it
// covers.
mod api;
mod attacks;
mod backup;
mod bol;
mod budgets;
mod commercetools;
mod connections;
mod console;
mod doctor;
mod health;
mod install_flow;
mod instances;
mod interop;
mod logs_and_startup;
mod migrations;
mod notify;
mod operating;
mod order_updates;
mod postgres;
mod sandbox;
mod storage;
mod web;
mod webhooks;
