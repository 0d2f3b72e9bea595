//! Issue 20, "Hold under attack, round 3": what broke when the vendor API, the proxy,
//! notifications, the forward-to JWTs, the connection forms, the order-updates grant, /metrics,
//! the CLI and PostgreSQL faults were attacked from outside. Each test fails against the code
//! before its fix.

mod database;
mod deliveries;
mod metrics;
mod names;
mod order_updates;
mod pages;
mod sandbox_mode;
