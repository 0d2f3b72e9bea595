//! The platforms storelink connects stores on: one folder each (`maropost/`, `bol/`,
//! `ordercloud/`, `commercetools/`, each of the same shape), the trait they implement
//! ([`driver`]), the registry that lists them ([`Registry`]), and the shared kit below them
//! ([`kit`]). docs/architecture.md says how to add one.

pub mod bol;
pub mod commercetools;
pub mod driver;
pub mod kit;
pub mod maropost;
pub mod ordercloud;
pub mod proxy;
mod registry;

pub use driver::{Handoff, PlatformDriver, ProxyRequest};
pub use registry::{Registry, Setup};
