//! The platforms storelink connects stores on.

use super::vocabulary;

vocabulary! {
    /// A commerce platform. Adding one is a variant here, a folder under `src/platforms/` and
    /// a line in its registry.
    pub enum Platform {
        /// Maropost Commerce Cloud (formerly Neto).
        Maropost = "maropost",
        /// bol.com.
        Bol = "bol",
        /// Sitecore OrderCloud (a B2B marketplace API).
        OrderCloud = "ordercloud",
        /// commercetools (a composable commerce API, one project per connection).
        Commercetools = "commercetools",
    }
}

impl Platform {
    /// The name shown to merchants, in sentences.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Maropost => "Maropost Commerce Cloud",
            Self::Bol => "bol.com",
            Self::OrderCloud => "Sitecore OrderCloud",
            Self::Commercetools => "commercetools",
        }
    }

    /// The display name as a possessive: "bol.com's", "commercetools'".
    pub fn possessive(self) -> String {
        let name = self.display_name();
        if name.ends_with('s') {
            format!("{name}'")
        } else {
            format!("{name}'s")
        }
    }

    /// How its settings' names begin (`MAROPOST` in `MAROPOST_CLIENT_ID`).
    pub fn env_prefix(self) -> &'static str {
        match self {
            Self::Maropost => "MAROPOST",
            Self::Bol => "BOL",
            Self::OrderCloud => "ORDERCLOUD",
            Self::Commercetools => "COMMERCETOOLS",
        }
    }

    /// The short name lists and filters show.
    pub fn short_name(self) -> &'static str {
        match self {
            Self::Maropost => "Maropost",
            Self::Bol => "bol.com",
            Self::OrderCloud => "OrderCloud",
            Self::Commercetools => "commercetools",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn possessives_read_as_english() {
        assert_eq!(Platform::Bol.possessive(), "bol.com's");
        assert_eq!(Platform::Commercetools.possessive(), "commercetools'");
        assert_eq!(Platform::OrderCloud.possessive(), "Sitecore OrderCloud's");
    }
}
