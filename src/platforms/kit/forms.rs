//! Connections added with credentials, as data: a form's fields (named as `POST
//! /api/v1/connections` names them) with their labels, hints and choices, which the console
//! renders with one template ([`ConnectionForm`]); and the fields as they arrive, from the API's
//! JSON body or the console's form, read into a platform's request type ([`Fields`]).

use serde::de::DeserializeOwned;

/// A platform's "Add a connection" form.
pub struct ConnectionForm {
    /// The page's title and the chooser's link.
    pub title: &'static str,
    /// What the form is for, in a sentence or two.
    pub intro: &'static str,
    /// Its fields.
    pub fields: Vec<Field>,
}

impl ConnectionForm {
    /// The form with `values` (what was typed; never a secret) filled in.
    pub fn filled(mut self, values: &Values<'_>) -> Self {
        for field in &mut self.fields {
            if !field.secret {
                field.value = values.get(field.name).to_owned();
            }
        }
        self
    }

    /// The names of its secret fields.
    pub fn secret_names(&self) -> Vec<&'static str> {
        self.fields
            .iter()
            .filter(|f| f.secret)
            .map(|f| f.name)
            .collect()
    }
}

/// The optional "Name" field every connection form starts with.
pub fn name_field(placeholder: &'static str) -> Field {
    Field::text("name", "Name", false, placeholder)
        .hint("Shown in the console; leave it empty for a name made from the account.")
}

/// A connection's fields as they arrived.
pub enum Fields<'a> {
    /// The API's JSON body, without its `platform`.
    Json(serde_json::Map<String, serde_json::Value>),
    /// The console form's fields as typed (`csrf_token` and blank fields are left out).
    Form(&'a [(String, String)]),
}

impl Fields<'_> {
    /// The fields read as `T` (a platform's request type); the error says what is wrong.
    pub fn read<T: DeserializeOwned>(self) -> Result<T, String> {
        match self {
            Self::Json(map) => {
                serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| e.to_string())
            }
            Self::Form(typed) => read_form(typed).map_err(|e| e.to_string()),
        }
    }
}

/// The form's fields read as the API's body would be (blank fields left out), straight from the
/// typed values: each value is borrowed where it is read ([`Typed`]), so no copy of a secret is
/// left behind to be freed unzeroized.
fn read_form<T: DeserializeOwned>(
    typed: &[(String, String)],
) -> Result<T, serde::de::value::Error> {
    use serde::de::value::BorrowedStrDeserializer;
    let fields = typed
        .iter()
        .filter(|(name, value)| {
            name != "csrf_token" && name != "platform" && !value.trim().is_empty()
        })
        .map(|(name, value)| (BorrowedStrDeserializer::new(name.as_str()), Typed(value)));
    T::deserialize(serde::de::value::MapDeserializer::new(fields))
}

/// A typed value: a string, and, where the request's field is optional, a present one.
struct Typed<'a>(&'a str);

impl<'de> serde::de::IntoDeserializer<'de, serde::de::value::Error> for Typed<'de> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> serde::Deserializer<'de> for Typed<'de> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_borrowed_str(self.0)
    }

    fn deserialize_option<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_some(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
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
    /// A text field.
    pub fn text(
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

    /// A password field: never filled in again.
    pub fn secret(name: &'static str, label: &'static str, required: bool) -> Self {
        Self {
            secret: true,
            ..Self::text(name, label, required, "")
        }
    }

    /// A choice of `(label, value)`s.
    pub fn select(name: &'static str, label: &'static str, choices: Vec<(String, String)>) -> Self {
        Self {
            choices,
            ..Self::text(name, label, true, "")
        }
    }

    /// With a line under it.
    pub fn hint(mut self, hint: &'static str) -> Self {
        self.hint = Some(hint);
        self
    }

    /// Monospaced (ids and keys).
    pub fn mono(mut self) -> Self {
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
    fn secrets_are_never_filled_in_again() {
        let typed = vec![
            ("client_id".to_owned(), "abc".to_owned()),
            ("client_secret".to_owned(), "s3cret".to_owned()),
        ];
        let form = ConnectionForm {
            title: "t",
            intro: "i",
            fields: vec![
                Field::text("client_id", "Client id", true, ""),
                Field::secret("client_secret", "Client secret", true),
            ],
        }
        .filled(&Values(&typed));
        let value = |name| {
            form.fields
                .iter()
                .find(|f| f.name == name)
                .map(|f| f.value.clone())
        };
        assert_eq!(value("client_id").as_deref(), Some("abc"));
        assert_eq!(value("client_secret").as_deref(), Some(""));
        assert_eq!(form.secret_names(), ["client_secret"]);
    }

    #[test]
    fn a_form_reads_as_the_api_body_would() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Request {
            client_id: String,
            scope: Option<String>,
        }
        let typed = vec![
            ("csrf_token".to_owned(), "x".to_owned()),
            ("client_id".to_owned(), "abc".to_owned()),
            ("scope".to_owned(), "  ".to_owned()),
        ];
        let read: Request = Fields::Form(&typed).read().unwrap();
        assert_eq!(
            read,
            Request {
                client_id: "abc".into(),
                scope: None
            }
        );
        let missing = Fields::Form(&[]).read::<Request>().unwrap_err();
        assert!(missing.contains("client_id"), "{missing}");
    }
}
