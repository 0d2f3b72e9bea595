//! Queries put together at run time (filters, keyset pages, batches), for both backends.
//!
//! sqlx's own `QueryBuilder<Any>` writes every bound value as `?`, which SQLite accepts and
//! PostgreSQL refuses. This one writes `$1`, `$2`, ... as the rest of storelink's SQL does, which
//! both accept, and otherwise offers the same methods, so a query reads the same either way.

use std::fmt::{Display, Write as _};

use sqlx::{
    Any, Arguments as _, Encode, Type,
    any::AnyArguments,
    query::{Query, QueryAs, QueryScalar},
};

/// SQL and the values bound into it, put together piece by piece.
pub struct QueryBuilder<'args> {
    sql: String,
    arguments: AnyArguments<'args>,
}

impl<'args> QueryBuilder<'args> {
    /// Starts with `init`.
    pub fn new(init: impl Into<String>) -> Self {
        Self {
            sql: init.into(),
            arguments: AnyArguments::default(),
        }
    }

    /// Appends SQL as it is (never a value from outside: bind those).
    pub fn push(&mut self, sql: impl Display) -> &mut Self {
        let _ = write!(self.sql, "{sql}");
        self
    }

    /// Binds `value` and appends its placeholder (`$n`).
    pub fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'args + Encode<'args, Any> + Type<Any>,
    {
        // Encoding for the Any driver only records the value (an enum of text, integers and
        // bytes): it cannot fail for a value of a type it accepts, and sqlx's own builder
        // treats a failure the same way. Not outside data: the types are fixed at compile time.
        #[allow(clippy::expect_used)]
        self.arguments
            .add(value)
            .expect("the Any driver records a value of a type it accepts");
        let _ = write!(self.sql, "${}", self.arguments.len());
        self
    }

    /// A list whose items are separated by `separator`.
    pub fn separated<S: Display>(&mut self, separator: S) -> Separated<'_, 'args, S> {
        Separated {
            builder: self,
            separator,
            started: false,
        }
    }

    /// Appends `VALUES (...), (...)`, one tuple per item, each filled by `push_tuple`.
    pub fn push_values<I, F>(&mut self, tuples: I, mut push_tuple: F) -> &mut Self
    where
        I: IntoIterator,
        F: FnMut(Separated<'_, 'args, &'static str>, I::Item),
    {
        self.push("VALUES ");
        for (i, tuple) in tuples.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.push("(");
            push_tuple(self.separated(", "), tuple);
            self.push(")");
        }
        self
    }

    /// The query, ready to run.
    pub fn build(&mut self) -> Query<'_, Any, AnyArguments<'_>> {
        sqlx::query_with(&self.sql, std::mem::take(&mut self.arguments))
    }

    /// The query, each row read as a `T`.
    pub fn build_query_as<'q, T>(&'q mut self) -> QueryAs<'q, Any, T, AnyArguments<'q>>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        sqlx::query_as_with(&self.sql, std::mem::take(&mut self.arguments))
    }

    /// The query, the first column of each row read as a `T`.
    pub fn build_query_scalar<'q, T>(&'q mut self) -> QueryScalar<'q, Any, T, AnyArguments<'q>>
    where
        (T,): for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        sqlx::query_scalar_with(&self.sql, std::mem::take(&mut self.arguments))
    }

    /// The SQL so far.
    pub fn sql(&self) -> &str {
        &self.sql
    }
}

/// Items of a list in a [`QueryBuilder`], with the separator put between them.
pub struct Separated<'b, 'args, S> {
    builder: &'b mut QueryBuilder<'args>,
    separator: S,
    started: bool,
}

impl<'args, S: Display> Separated<'_, 'args, S> {
    /// Appends the separator (after the first item), then SQL as it is.
    pub fn push(&mut self, sql: impl Display) -> &mut Self {
        self.separate();
        self.builder.push(sql);
        self
    }

    /// Appends the separator (after the first item), then binds `value`.
    pub fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'args + Encode<'args, Any> + Type<Any>,
    {
        self.separate();
        self.builder.push_bind(value);
        self
    }

    /// Appends SQL without a separator before it.
    pub fn push_unseparated(&mut self, sql: impl Display) -> &mut Self {
        self.builder.push(sql);
        self
    }

    /// Binds `value` without a separator before it.
    pub fn push_bind_unseparated<T>(&mut self, value: T) -> &mut Self
    where
        T: 'args + Encode<'args, Any> + Type<Any>,
    {
        self.builder.push_bind(value);
        self
    }

    fn separate(&mut self) {
        if self.started {
            let _ = write!(self.builder.sql, "{}", self.separator);
        }
        self.started = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered() {
        let mut query = QueryBuilder::new("SELECT 1 WHERE a = ");
        query.push_bind(1_i64).push(" AND b IN (");
        let mut list = query.separated(", ");
        list.push_bind("x").push_bind("y");
        query.push(") ");
        query.push_values([(1_i64, "p"), (2, "q")], |mut row, (n, s)| {
            row.push_bind(n).push_bind(s);
        });
        assert_eq!(
            query.sql(),
            "SELECT 1 WHERE a = $1 AND b IN ($2, $3) VALUES ($4, $5), ($6, $7)"
        );
    }
}
