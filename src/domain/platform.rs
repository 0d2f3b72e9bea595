//! The platforms storelink connects stores on.

use super::vocabulary;

vocabulary! {
    /// A commerce platform. Adding one is a variant here and a module under `providers/`.
    pub enum Platform {
        /// Maropost Commerce Cloud (formerly Neto).
        Maropost = "maropost",
        /// bol.com.
        Bol = "bol",
        /// commercetools (a project on one of its clouds).
        Commercetools = "commercetools",
    }
}

impl Platform {
    /// The name shown to merchants, in sentences.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Maropost => "Maropost Commerce Cloud",
            Self::Bol => "bol.com",
            Self::Commercetools => "commercetools",
        }
    }

    /// The short name lists and filters show.
    pub fn short_name(self) -> &'static str {
        match self {
            Self::Maropost => "Maropost",
            Self::Bol => "bol.com",
            Self::Commercetools => "commercetools",
        }
    }
}
