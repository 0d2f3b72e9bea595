//! The "Add a connection" forms, one per kind: their fields (named as `POST
//! /api/v1/connections` names them), labels, hints and choices. The handlers in
//! [`super::connections`] render them all with one template.

use crate::{
    domain::Platform,
    providers::{commercetools::connection::region_choices, ordercloud::OrderCloudConfig},
};

/// A kind of connection an operator can add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKind {
    /// A bol.com retailer's own API credentials.
    Bol,
    /// A Maropost store by API key.
    Maropost,
    /// An OrderCloud marketplace.
    OrderCloud,
    /// A commercetools project.
    Commercetools,
}

impl FormKind {
    /// Every kind, in the order the chooser lists them.
    pub const ALL: [Self; 4] = [
        Self::Maropost,
        Self::Bol,
        Self::OrderCloud,
        Self::Commercetools,
    ];

    /// The kind a URL's `{kind}` names.
    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.slug() == slug)
    }

    /// Its part of the URL, which is also the `platform` of the API's body.
    pub fn slug(self) -> &'static str {
        self.platform().as_str()
    }

    /// The platform it connects to.
    pub fn platform(self) -> Platform {
        match self {
            Self::Bol => Platform::Bol,
            Self::Maropost => Platform::Maropost,
            Self::OrderCloud => Platform::OrderCloud,
            Self::Commercetools => Platform::Commercetools,
        }
    }

    /// The page's title and the chooser's link.
    pub fn title(self) -> &'static str {
        match self {
            Self::Bol => "bol.com: a retailer's own API credentials",
            Self::Maropost => "Maropost: a store's API key",
            Self::OrderCloud => "Sitecore OrderCloud: a marketplace",
            Self::Commercetools => "commercetools: a project",
        }
    }

    /// What the form is for, in a sentence or two.
    pub fn intro(self) -> &'static str {
        match self {
            Self::Bol => {
                "For a retailer that integrates directly: the client id and secret it created \
                 in bol.com's Seller Dashboard (Settings > API settings). storelink asks bol.com \
                 for a token with them before anything is stored."
            }
            Self::Maropost => {
                "For custom add-ons and development: a store's API key from its control panel \
                 (Settings & tools > All settings & tools > API). A user-based key (recommended) \
                 belongs to a staff user: enter that user's name too; leave it empty for the \
                 store's global key. storelink checks the key with one API call before anything \
                 is stored."
            }
            Self::OrderCloud => {
                "A marketplace's API client, and how storelink signs in with it: as one of the \
                 marketplace's users (password) or as the API client itself \
                 (client_credentials). storelink asks OrderCloud for a token before anything is \
                 stored, and renews it before it expires."
            }
            Self::Commercetools => {
                "A project's API client (Settings > Developer settings in the Merchant \
                 Center). storelink asks the region's auth host for a token before anything is \
                 stored, and reuses it until shortly before it expires."
            }
        }
    }

    /// The form's fields, with `values` (what was typed; never a secret) filled in.
    pub fn fields(self, ordercloud: &OrderCloudConfig, values: &Values<'_>) -> Vec<Field> {
        let name = |placeholder: &'static str| {
            Field::text("name", "Name", false, placeholder)
                .hint("Shown in the console; leave it empty for a name made from the account.")
        };
        let mut fields = match self {
            Self::Bol => vec![
                name("Tulip Traders (own credentials)"),
                Field::text("client_id", "Client id", true, "").mono(),
                Field::secret("client_secret", "Client secret", true),
            ],
            Self::Maropost => vec![
                name("My store (API key)"),
                Field::text("store_domain", "Store domain", true, "mystore.neto.com.au"),
                Field::secret("api_key", "API key", true),
                Field::text("username", "Staff user", false, "")
                    .hint("For a user-based key: the user it belongs to. Empty for the global key."),
            ],
            Self::OrderCloud => vec![
                name("Acme marketplace"),
                Field::select("api_url", "API base URL", ordercloud.choices())
                    .hint("The marketplace's region and environment, as OrderCloud's API console shows it."),
                Field::text("client_id", "API client id", true, "").mono(),
                Field::secret("client_secret", "Client secret", false)
                    .hint("Only when the API client has one."),
                Field::select(
                    "grant_type",
                    "Sign in as",
                    vec![
                        ("A user (password)".to_owned(), "password".to_owned()),
                        (
                            "The API client (client_credentials)".to_owned(),
                            "client_credentials".to_owned(),
                        ),
                    ],
                ),
                Field::text("username", "User name", false, "admin01")
                    .hint("For the password grant."),
                Field::secret("password", "Password", false).hint("For the password grant."),
                Field::text("scope", "Roles", false, "")
                    .hint("Separated by spaces; empty asks for all of them (OrderCloud grants only those the user has).")
                    .mono(),
            ],
            Self::Commercetools => vec![
                name("Acme project"),
                Field::select("region", "Region", region_choices()),
                Field::text("project_key", "Project key", true, "acme-shop").mono(),
                Field::text("client_id", "Client id", true, "").mono(),
                Field::secret("client_secret", "Client secret", true),
                Field::text("scope", "Scopes", false, "")
                    .hint("Separated by spaces; empty asks for manage_project:{project key}.")
                    .mono(),
            ],
        };
        for field in &mut fields {
            if !field.secret {
                field.value = values.get(field.name).to_owned();
            }
        }
        fields
    }
}

/// What was typed in a form, by field name: shown again (never a secret) when the form is.
pub struct Values<'a>(pub &'a [(String, String)]);

impl Values<'_> {
    /// The value of `name`, or empty.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// One field of a form.
#[derive(Debug, Clone)]
pub struct Field {
    /// Its name (and id).
    pub name: &'static str,
    /// Its label.
    pub label: &'static str,
    /// Whether it must be filled in.
    pub required: bool,
    /// A password input, never filled in again.
    pub secret: bool,
    /// A monospaced input (ids and keys).
    pub mono: bool,
    /// An example.
    pub placeholder: &'static str,
    /// A line under it.
    pub hint: Option<&'static str>,
    /// The choices of a select: (label, value).
    pub choices: Vec<(String, String)>,
    /// What it holds.
    pub value: String,
    /// What is wrong with it.
    pub error: Option<String>,
    /// Whether a refusal may be about it (marked invalid, described by the form's error).
    pub suspect: bool,
}

impl Field {
    fn text(
        name: &'static str,
        label: &'static str,
        required: bool,
        placeholder: &'static str,
    ) -> Self {
        Self {
            name,
            label,
            required,
            secret: false,
            mono: false,
            placeholder,
            hint: None,
            choices: Vec::new(),
            value: String::new(),
            error: None,
            suspect: false,
        }
    }

    fn secret(name: &'static str, label: &'static str, required: bool) -> Self {
        Self {
            secret: true,
            ..Self::text(name, label, required, "")
        }
    }

    fn select(name: &'static str, label: &'static str, choices: Vec<(String, String)>) -> Self {
        Self {
            choices,
            ..Self::text(name, label, true, "")
        }
    }

    fn hint(mut self, hint: &'static str) -> Self {
        self.hint = Some(hint);
        self
    }

    fn mono(mut self) -> Self {
        self.mono = true;
        self
    }

    /// Whether the page should say it is invalid.
    pub fn invalid(&self) -> bool {
        self.error.is_some() || self.suspect
    }

    /// The id of the text that describes what is wrong with it, if anything.
    pub fn described_by(&self) -> String {
        match (&self.error, self.suspect) {
            (Some(_), _) => format!("{}-error", self.name),
            (None, true) => "connection_error".to_owned(),
            (None, false) => match self.hint {
                Some(_) => format!("{}-hint", self.name),
                None => String::new(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_name_platforms_and_back() {
        for kind in FormKind::ALL {
            assert_eq!(FormKind::from_slug(kind.slug()), Some(kind));
        }
        assert_eq!(FormKind::from_slug("shopify"), None);
    }

    #[test]
    fn secrets_are_never_filled_in_again() {
        let typed = vec![
            ("client_id".to_owned(), "abc".to_owned()),
            ("client_secret".to_owned(), "s3cret".to_owned()),
        ];
        let config = OrderCloudConfig { only_api_url: None };
        let fields = FormKind::Bol.fields(&config, &Values(&typed));
        let value = |name| {
            fields
                .iter()
                .find(|f| f.name == name)
                .map(|f| f.value.clone())
        };
        assert_eq!(value("client_id").as_deref(), Some("abc"));
        assert_eq!(value("client_secret").as_deref(), Some(""));
    }
}
