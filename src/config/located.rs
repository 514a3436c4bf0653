//! What a serde error of a stack file is about: the key written where the error points, and the
//! message in the stack file's words (`expected a string, found an integer `5``).
//!
//! The `toml` crate's errors give a position but not the key. The key is found by reading the
//! text once more as a tree of values that keep their positions, and walking down to the
//! innermost value written at the error's position.

use std::fmt::{self, Write};

use serde::de::{Deserialize, Deserializer, Error, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

/// A value of the stack file; tables and arrays hold their children with their positions.
enum Node {
    Table(Vec<(String, Spanned<Node>)>),
    Array(Vec<Spanned<Node>>),
    Scalar,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_bool<E: Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_i64<E: Error>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_u64<E: Error>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_f64<E: Error>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_str<E: Error>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            entries.push((key, map.next_value()?));
        }
        Ok(Node::Table(entries))
    }
}

/// The path of the innermost value written at `offset` (`origin.min_size`,
/// `network.availability_zones[1]`; a table's name when the error is about the table itself),
/// or `None` at the top level and when the text cannot be read as a tree of positioned values
/// (a syntax error, or tables made only by dotted keys, which have no position).
pub(super) fn key_at(text: &str, offset: usize) -> Option<String> {
    let root: Node = toml::from_str(text).ok()?;
    let mut path = String::new();
    let mut node = &root;
    loop {
        let inside = |value: &Spanned<Node>| {
            let span = value.span();
            span.contains(&offset) || span.start == offset
        };
        let next = match node {
            Node::Table(entries) => entries.iter().find(|(_, v)| inside(v)).map(|(key, v)| {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                v
            }),
            Node::Array(items) => {
                items
                    .iter()
                    .enumerate()
                    .find(|(_, v)| inside(v))
                    .map(|(index, v)| {
                        let _ = write!(path, "[{index}]");
                        v
                    })
            }
            Node::Scalar => None,
        };
        match next {
            Some(child) => node = child.get_ref(),
            None => break,
        }
    }
    (!path.is_empty()).then_some(path)
}

/// A serde message in the stack file's words: "invalid type: integer `5`, expected a string"
/// becomes "expected a string, found an integer `5`"; other messages are kept.
pub(super) fn describe(message: &str) -> String {
    let rest = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "));
    match rest.and_then(|rest| rest.rsplit_once(", expected ")) {
        Some((found, expected)) => {
            format!(
                "expected {}, found {}",
                expected_words(expected),
                found_words(found)
            )
        }
        None => message.to_string(),
    }
}

/// What the stack file needed, without Rust's type names.
fn expected_words(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" => "a whole number (0 or more)".into(),
        "i8" | "i16" | "i32" | "i64" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a sequence" => "an array".into(),
        other if other.starts_with("struct ") || other == "a map" => "a table".into(),
        other => other.to_string(),
    }
}

/// What was written, with its article.
fn found_words(found: &str) -> String {
    match found {
        "sequence" => "an array".into(),
        "map" => "a table".into(),
        other if other.starts_with(['a', 'e', 'i', 'o', 'u', 'A', 'E', 'I', 'O', 'U']) => {
            format!("an {other}")
        }
        other => format!("a {other}"),
    }
}
