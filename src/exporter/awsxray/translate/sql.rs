//! The `sql` object (§11).

use std::borrow::Cow;

use serde::Serialize;

use super::attrs::Attrs;
use super::json::{self, key, Obj, WriteJson};
use super::keys::Key;

/// `sql` (R-SQL-2); `preparation`, `database_version`, `driver_version` are never written
/// (R-SQL-3).
#[derive(Debug, Clone, Serialize)]
pub struct Sql<'a> {
    /// The span name (R-SQL-2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<&'a str>,
    /// `(db.connection_string | localhost)/<db name>`.
    pub connection_string: Cow<'a, str>,
    /// `db.system`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_type: Option<&'a str>,
    /// `db.user` / `user.name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<&'a str>,
    /// `db.statement` / `db.query.text`, not re-sanitised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sanitized_query: Option<&'a str>,
}

impl WriteJson for Sql<'_> {
    fn write_json(&self, out: &mut String) {
        let mut o = Obj::open(out);
        if let Some(v) = self.url {
            json::str(o.key(key!("url")), v);
        }
        json::str(o.key(key!("connection_string")), &self.connection_string);
        if let Some(v) = self.database_type {
            json::str(o.key(key!("database_type")), v);
        }
        if let Some(v) = self.user {
            json::str(o.key(key!("user")), v);
        }
        if let Some(v) = self.sanitized_query {
            json::str(o.key(key!("sanitized_query")), v);
        }
        o.close();
    }
}

/// Database systems that produce an `sql` object (R-SQL-1, D1).
pub const SQL_SYSTEMS: &[&str] = &[
    "db2",
    "derby",
    "hive",
    "mariadb",
    "mssql",
    "mysql",
    "oracle",
    "postgresql",
    "sqlite",
    "teradata",
    "other_sql",
    "ibm.db2",
    "microsoft.sql_server",
    "oracle.db",
];

const SQL_KEYS: &[Key] = &[
    Key::DbConnectionString,
    Key::DbSystem,
    Key::DbName,
    Key::DbStatement,
    Key::DbUser,
    Key::DbSystemName,
    Key::DbNamespace,
    Key::DbQueryText,
    Key::UserName,
];

/// Builds `sql` and consumes the db keys when the system is SQL (R-SQL-1/2); otherwise consumes
/// nothing.
pub(crate) fn make_sql<'a>(span_name: &'a str, attrs: &mut Attrs<'a>) -> Option<Sql<'a>> {
    let first = |a: Key, b: Key| attrs.nonempty(a).or_else(|| attrs.nonempty(b));
    let system = first(Key::DbSystem, Key::DbSystemName)?;
    if !SQL_SYSTEMS.contains(&system) {
        return None;
    }
    let db_name = first(Key::DbName, Key::DbNamespace).unwrap_or("");
    let conn = attrs
        .nonempty(Key::DbConnectionString)
        .unwrap_or("localhost");
    let sql = Sql {
        url: (!span_name.is_empty()).then_some(span_name),
        connection_string: Cow::Owned(format!("{conn}/{db_name}")),
        database_type: Some(system),
        user: first(Key::DbUser, Key::UserName),
        sanitized_query: first(Key::DbStatement, Key::DbQueryText),
    };
    for key in SQL_KEYS {
        attrs.consume(*key);
    }
    Some(sql)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};

    fn s(key: &str, v: &str) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(v.to_owned())),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn whole_span_sql_and_name() {
        // R-SQL-1/2 with §4.1 row 5: the document names the database and carries `sql`.
        let kvs = [
            s("db.system", "mysql"),
            s("db.name", "customers"),
            s("db.connection_string", "jdbc:mysql://db.example.com:3306"),
            s("db.statement", "SELECT * FROM c WHERE id = ?"),
            s("db.user", "app"),
            s("net.peer.name", "db.example.com"),
        ];
        let docs = super::super::test_support::whole_span_docs(
            crate::exporter::awsxray::translate::SpanKind::Client,
            &[],
            &kvs,
        );
        let d = &docs[0];
        assert_eq!(d["name"], "customers@db.example.com");
        assert_eq!(
            d["sql"]["connection_string"],
            "jdbc:mysql://db.example.com:3306/customers"
        );
        assert_eq!(d["sql"]["url"], "op");
        assert_eq!(d["sql"]["database_type"], "mysql");
        assert!(d.get("metadata").is_none(), "db.* and net.* are consumed");
        // R-SQL-1: redis keeps its db.* keys in metadata.
        let docs = super::super::test_support::whole_span_docs(
            crate::exporter::awsxray::translate::SpanKind::Client,
            &[],
            &[s("db.system", "redis"), s("db.statement", "GET k")],
        );
        assert!(docs[0].get("sql").is_none());
        assert_eq!(docs[0]["metadata"]["default"]["db.statement"], "GET k");
    }

    #[test]
    fn non_sql_consumes_nothing() {
        // R-SQL-1
        let kvs = [s("db.system", "redis"), s("db.statement", "GET x")];
        let mut attrs = Attrs::new(&kvs);
        assert!(make_sql("n", &mut attrs).is_none());
        assert_eq!(attrs.live().count(), 2);
    }

    #[test]
    fn new_semconv_keys() {
        // R-SQL-2 (D1)
        let kvs = [
            s("db.system.name", "postgresql"),
            s("db.namespace", "orders"),
            s("db.query.text", "SELECT 1"),
            s("user.name", "app"),
            s("other", "x"),
        ];
        let mut attrs = Attrs::new(&kvs);
        let sql = make_sql("SELECT orders", &mut attrs);
        let j = serde_json::to_string(&sql).unwrap_or_default();
        assert_eq!(
            j,
            r#"{"url":"SELECT orders","connection_string":"localhost/orders","database_type":"postgresql","user":"app","sanitized_query":"SELECT 1"}"#
        );
        assert_eq!(attrs.live().count(), 1);
    }
}
