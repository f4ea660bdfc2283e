//! Configuration values that may arrive as text: a TOML tree in which a string stands for a
//! number, a boolean or a list when the key reading it asks for one.
//!
//! Environment overrides (`FMN__SENDERS__EMAIL__PORT=2525`) are text. Guessing their type
//! from the text would make `FMN__SENDERS__EMAIL__PASSWORD=123456` a number and refuse the
//! configuration; instead they are put in the tree as strings and [`Lenient`] reads each as
//! the type its key has.

use serde::de::{self, Deserializer, IntoDeserializer, Visitor};

type Error = toml::de::Error;

/// A TOML value read leniently: strings parse as numbers, booleans and (TOML) lists when the
/// type being read wants one.
#[derive(Debug, Clone)]
pub struct Lenient(pub toml::Value);

impl<'de> IntoDeserializer<'de, Error> for Lenient {
    type Deserializer = Lenient;

    fn into_deserializer(self) -> Lenient {
        self
    }
}

/// `text` as the type asked for, or an error naming both.
fn parsed<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, Error> {
    text.trim()
        .parse()
        .map_err(|_| de::Error::custom(format!("{text:?} is not {what}")))
}

macro_rules! from_text {
    ($($method:ident => $visit:ident: $ty:ty, $what:literal;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.0 {
                toml::Value::String(text) => visitor.$visit(parsed::<$ty>(&text, $what)?),
                other => Lenient(other).deserialize_any(visitor),
            }
        }
    )*};
}

impl<'de> Deserializer<'de> for Lenient {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            toml::Value::Table(t) => visitor.visit_map(de::value::MapDeserializer::new(
                t.into_iter().map(|(k, v)| (k, Lenient(v))),
            )),
            toml::Value::Array(a) => {
                visitor.visit_seq(de::value::SeqDeserializer::new(a.into_iter().map(Lenient)))
            }
            scalar => scalar.deserialize_any(visitor),
        }
    }

    from_text! {
        deserialize_bool => visit_bool: bool, "true or false";
        deserialize_i8 => visit_i8: i8, "a number";
        deserialize_i16 => visit_i16: i16, "a number";
        deserialize_i32 => visit_i32: i32, "a number";
        deserialize_i64 => visit_i64: i64, "a number";
        deserialize_u8 => visit_u8: u8, "a number";
        deserialize_u16 => visit_u16: u16, "a number";
        deserialize_u32 => visit_u32: u32, "a number";
        deserialize_u64 => visit_u64: u64, "a number";
        deserialize_f32 => visit_f32: f32, "a number";
        deserialize_f64 => visit_f64: f64, "a number";
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    /// A list given as text is written as TOML: `["a", "b"]`.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            toml::Value::String(text) => {
                let list = format!("v = {text}")
                    .parse::<toml::Table>()
                    .ok()
                    .and_then(|mut t| t.remove("v"))
                    .filter(toml::Value::is_array)
                    .ok_or_else(|| {
                        <Error as de::Error>::custom(format!(
                            "{text:?} is not a list (write it as TOML: [\"a\", \"b\"])"
                        ))
                    })?;
                Lenient(list).deserialize_any(visitor)
            }
            other => Lenient(other).deserialize_any(visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char str string bytes byte_buf unit unit_struct tuple
        tuple_struct map struct identifier ignored_any
    }
}

/// Reads an internally tagged configuration enum (`backend = "smtp"` beside the variant's
/// keys) leniently: serde's own tagged enums buffer their keys and lose the key types a
/// lenient read needs. `variant` reads the untagged rest for the tag's value.
pub fn tagged<'de, D, T>(
    deserializer: D,
    tag: &str,
    variant: impl FnOnce(&str, Lenient) -> Result<T, Error>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let mut table: toml::Table = serde::Deserialize::deserialize(deserializer)?;
    let name = match table.remove(tag) {
        Some(toml::Value::String(s)) => s,
        Some(other) => {
            return Err(de::Error::custom(format!(
                "`{tag}` must be a string, not {other}"
            )));
        }
        None => return Err(de::Error::custom(format!("missing field `{tag}`"))),
    };
    variant(&name, Lenient(toml::Value::Table(table))).map_err(de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Section {
        password: String,
        port: u16,
        tls: bool,
        ratio: Option<f64>,
        names: Vec<String>,
        #[serde(default)]
        missing: Option<u32>,
    }

    fn read(toml_text: &str) -> Result<Section, Error> {
        let t: toml::Table = toml_text.parse().unwrap();
        Section::deserialize(Lenient(toml::Value::Table(t)))
    }

    #[test]
    fn text_takes_the_type_of_its_key() {
        let s = read(
            r#"password = "123456"
port = "2525"
tls = "true"
ratio = "0.5"
names = '["a", "b"]'"#,
        )
        .unwrap();
        assert_eq!(
            s,
            Section {
                password: "123456".into(),
                port: 2525,
                tls: true,
                ratio: Some(0.5),
                names: vec!["a".into(), "b".into()],
                missing: None,
            }
        );
        // Typed values read as they always did.
        let typed = read("password = \"x\"\nport = 25\ntls = false\nnames = []").unwrap();
        assert_eq!((typed.port, typed.tls, typed.ratio), (25, false, None));
    }

    #[test]
    fn text_that_is_not_the_type_says_so() {
        let e = read("password = \"p\"\nport = \"smtp\"\ntls = true\nnames = []").unwrap_err();
        assert!(e.to_string().contains("\"smtp\" is not a number"), "{e}");
        let e = read("password = \"p\"\nport = 1\ntls = true\nnames = \"a\"").unwrap_err();
        assert!(e.to_string().contains("is not a list"), "{e}");
        let e = read("password = \"p\"\nport = 1\ntls = true\nnames = []\nextra = 1").unwrap_err();
        assert!(e.to_string().contains("unknown field `extra`"), "{e}");
    }
}
