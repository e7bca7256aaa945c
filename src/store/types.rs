//! The protocol's words as PostgreSQL stores them: `text` columns read into the domain's enums
//! (and written from them), so a word the protocol does not know fails the read instead of
//! travelling on as a string. Here rather than in `domain`, which knows nothing of sqlx.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo, PgValueRef};
use sqlx::{Decode, Encode, Postgres, Type};

use crate::domain::{EventKind, QueueStatus};

/// Implements `Type`, `Encode` and `Decode` for an enum stored as its name in a text column.
macro_rules! text_enum {
    ($ty:ty, $name:expr, $parse:expr) => {
        impl Type<Postgres> for $ty {
            fn type_info() -> PgTypeInfo {
                <&str as Type<Postgres>>::type_info()
            }
            fn compatible(ty: &PgTypeInfo) -> bool {
                <&str as Type<Postgres>>::compatible(ty)
            }
        }

        impl PgHasArrayType for $ty {
            fn array_type_info() -> PgTypeInfo {
                <&str as PgHasArrayType>::array_type_info()
            }
        }

        impl Encode<'_, Postgres> for $ty {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                let name = $name(self);
                <&str as Encode<Postgres>>::encode(&*name, buf)
            }
        }

        impl<'r> Decode<'r, Postgres> for $ty {
            fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
                let text = <&str as Decode<Postgres>>::decode(value)?;
                $parse(text).ok_or_else(|| format!("`{text}` is not a {}", stringify!($ty)).into())
            }
        }
    };
}

text_enum!(EventKind, EventKind::name, EventKind::parse);
text_enum!(QueueStatus, |s: &QueueStatus| s.as_str(), QueueStatus::parse);
