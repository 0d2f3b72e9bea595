//! The shared vocabulary and the validated values from outside: once you hold one, it is valid.
//!
//! Every word the layers above share (platform, install status, auth kind, initiator, order
//! status) is an enum here, written to and read from the database as its stored name. A stored
//! name this build does not know is a decoding error, never a default: a row nobody understands
//! must not be treated as a row somebody does.

pub mod api_key;
mod client_auth;
mod endpoint_limits;
mod health;
mod install;
mod install_object;
mod notification;
mod order;
mod platform;
pub mod rate_budget;
mod retry_schedule;
mod store_domain;
pub mod text;

pub use client_auth::ClientAuth;
pub use endpoint_limits::{DEFAULT_MAX_IN_FLIGHT, EndpointLimits};
pub use health::{HealthState, Reason};
pub use install::{AuthKind, Initiator, InstallStatus, InstallingUser};
pub use install_object::{HealthObject, InstallObject, parse_rfc3339, rfc3339};
pub use notification::{EventType, MessageStatus};
pub use order::OrderStatus;
pub use platform::Platform;
pub use retry_schedule::RetrySchedule;
pub use store_domain::{DomainError, StoreDomain};
pub use text::{StoreName, StoreNameError};

/// Defines a vocabulary enum: each variant with the exact text it is stored and sent as, the
/// list of all variants, `as_str`/`parse`, `Display`, and database encoding and decoding (as
/// text, on any backend) that refuses unknown names.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in the order pages list them.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The name stored in the database and used in URLs and answers.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }

            /// The value stored as `text`, if it is one (exact match).
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                use utoipa::openapi::schema::{ObjectBuilder, Type};
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some([$($text,)+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl<DB: sqlx::Database> sqlx::Type<DB> for $name
        where
            for<'a> &'a str: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <&str as sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <&str as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $name
        where
            &'q str: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                let text: &'q str = self.as_str();
                <&'q str as sqlx::Encode<'q, DB>>::encode_by_ref(&text, buf)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $name
        where
            &'r str: sqlx::Decode<'r, DB>,
        {
            fn decode(
                value: <DB as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&'r str as sqlx::Decode<'r, DB>>::decode(value)?;
                Self::parse(text).ok_or_else(|| {
                    format!(
                        "the database holds {} {:?}, which this storelink does not know",
                        stringify!($name),
                        $crate::domain::text::shorten(text, 40)
                    )
                    .into()
                })
            }
        }
    };
}
use vocabulary;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Platform::ALL {
            assert_eq!(Platform::parse(p.as_str()), Some(*p));
        }
        for s in InstallStatus::ALL {
            assert_eq!(InstallStatus::parse(s.as_str()), Some(*s));
        }
        for k in AuthKind::ALL {
            assert_eq!(AuthKind::parse(k.as_str()), Some(*k));
        }
        for i in Initiator::ALL {
            assert_eq!(Initiator::parse(i.as_str()), Some(*i));
        }
        for o in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(o.as_str()), Some(*o));
        }
        assert_eq!(Platform::parse("Maropost"), None, "exact names only");
        assert_eq!(InstallStatus::parse(""), None);
    }

    #[tokio::test]
    async fn unknown_stored_names_are_errors_not_defaults() {
        // Through the Any driver, as storelink reads them.
        sqlx::any::install_default_drivers();
        let db = sqlx::AnyPool::connect("sqlite::memory:").await.unwrap();
        let known: InstallStatus = sqlx::query_scalar("SELECT 'needs_attention'")
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(known, InstallStatus::NeedsAttention);
        let unknown = sqlx::query_scalar::<_, InstallStatus>("SELECT 'paused'")
            .fetch_one(&db)
            .await;
        assert!(unknown.is_err(), "an unknown status must not decode");
        let bound: String = sqlx::query_scalar("SELECT $1")
            .bind(Platform::Bol)
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(bound, "bol");
    }
}
