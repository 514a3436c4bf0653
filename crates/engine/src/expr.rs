//! Typed inputs and outputs, and the small expression language they serialize to.
//!
//! A resource's declared properties are plain JSON in which three markers may appear:
//! `{"$ref": {"resource": R, "output": K}}` (output `K` of resource `R`),
//! `{"$concat": [..]}` (string pieces joined once every piece is known) and, after a resolution
//! that could not know a value, `{"$unknown": true}` ("known after apply").
//! References are how the engine finds the graph's edges.

use std::collections::BTreeSet;
use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Map, Value as Json};

/// Key of the marker object that stands for a value only known after apply.
pub const UNKNOWN_MARKER: &str = "$unknown";
const REF: &str = "$ref";
const CONCAT: &str = "$concat";

/// A typed reference to one output of one declared resource.
pub struct Output<T> {
    resource: String,
    key: String,
    _type: PhantomData<fn() -> T>,
}

impl<T> Output<T> {
    /// The output `key` of `resource`; kinds' typed accessors call this, with their field's name.
    pub fn new(resource: &str, key: &str) -> Self {
        Output {
            resource: resource.to_string(),
            key: key.to_string(),
            _type: PhantomData,
        }
    }

    pub fn resource(&self) -> &str {
        &self.resource
    }

    fn to_json(&self) -> Json {
        json!({ REF: { "resource": self.resource, "output": self.key } })
    }
}

impl<T> Clone for Output<T> {
    fn clone(&self) -> Self {
        Output {
            resource: self.resource.clone(),
            key: self.key.clone(),
            _type: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Output<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.resource, self.key)
    }
}

/// One piece of a string built from literals and outputs.
#[derive(Clone, Debug)]
pub enum Piece {
    Text(String),
    Output(Output<String>),
}

impl From<&str> for Piece {
    fn from(text: &str) -> Self {
        Piece::Text(text.to_string())
    }
}

impl From<String> for Piece {
    fn from(text: String) -> Self {
        Piece::Text(text)
    }
}

impl From<Output<String>> for Piece {
    fn from(output: Output<String>) -> Self {
        Piece::Output(output)
    }
}

/// A resource property: a plain value, another resource's output, or (for strings) a template.
///
/// Providers receive properties after resolution, when every input is a plain value; use
/// [`Input::get`] to read one.
#[derive(Clone, Debug)]
pub enum Input<T> {
    Value(T),
    Output(Output<T>),
    Concat(Vec<Piece>),
}

/// An input read before the engine resolved it: a bug in the engine or the provider.
#[derive(Debug, thiserror::Error)]
#[error("input read before it was resolved")]
pub struct Unresolved;

impl<T> Input<T> {
    /// The resolved value.
    pub fn get(&self) -> Result<&T, Unresolved> {
        match self {
            Input::Value(value) => Ok(value),
            Input::Output(_) | Input::Concat(_) => Err(Unresolved),
        }
    }
}

/// Resolved inputs compare by value; unresolved ones are never equal.
impl<T: PartialEq> PartialEq for Input<T> {
    fn eq(&self, other: &Self) -> bool {
        matches!((self, other), (Input::Value(a), Input::Value(b)) if a == b)
    }
}

impl Input<String> {
    /// A string made of literal text and outputs of other resources.
    pub fn concat<I: IntoIterator<Item = Piece>>(pieces: I) -> Self {
        Input::Concat(pieces.into_iter().collect())
    }
}

impl<T> From<Output<T>> for Input<T> {
    fn from(output: Output<T>) -> Self {
        Input::Output(output)
    }
}

impl From<&str> for Input<String> {
    fn from(text: &str) -> Self {
        Input::Value(text.to_string())
    }
}

impl From<String> for Input<String> {
    fn from(text: String) -> Self {
        Input::Value(text)
    }
}

impl<T: Serialize> Serialize for Input<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Input::Value(value) => value.serialize(serializer),
            Input::Output(output) => output.to_json().serialize(serializer),
            Input::Concat(pieces) => {
                let parts: Vec<Json> = pieces
                    .iter()
                    .map(|piece| match piece {
                        Piece::Text(text) => Json::String(text.clone()),
                        Piece::Output(output) => output.to_json(),
                    })
                    .collect();
                json!({ CONCAT: parts }).serialize(serializer)
            }
        }
    }
}

/// A plain value, or (in declared, unresolved arguments) a reference or a template: so that
/// checks and estimates can read a kind's arguments as its typed struct.
impl<'de, T: DeserializeOwned> Deserialize<'de> for Input<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let value = Json::deserialize(deserializer)?;
        if let Json::Object(map) = &value {
            if let Some((resource, output)) = as_ref(map) {
                return Ok(Input::Output(Output::new(resource, output)));
            }
            if let (1, Some(Json::Array(parts))) = (map.len(), map.get(CONCAT)) {
                let pieces = parts
                    .iter()
                    .map(|part| match part {
                        Json::Object(inner) => as_ref(inner)
                            .map(|(resource, output)| Piece::Output(Output::new(resource, output)))
                            .ok_or_else(|| D::Error::custom("a template piece is not a reference")),
                        Json::String(text) => Ok(Piece::Text(text.clone())),
                        other => Ok(Piece::Text(other.to_string())),
                    })
                    .collect::<Result<_, _>>()?;
                return Ok(Input::Concat(pieces));
            }
        }
        T::deserialize(value)
            .map(Input::Value)
            .map_err(D::Error::custom)
    }
}

/// Every resource that `value` refers to.
pub(crate) fn references(value: &Json, found: &mut BTreeSet<String>) {
    match value {
        Json::Object(map) => {
            if let Some((resource, _)) = as_ref(map) {
                found.insert(resource.to_string());
                return;
            }
            map.values().for_each(|v| references(v, found));
        }
        Json::Array(items) => items.iter().for_each(|v| references(v, found)),
        _ => {}
    }
}

fn as_ref(map: &Map<String, Json>) -> Option<(&str, &str)> {
    if map.len() != 1 {
        return None;
    }
    let target = map.get(REF)?;
    Some((
        target.get("resource")?.as_str()?,
        target.get("output")?.as_str()?,
    ))
}

/// The value of every reference, as far as known: `lookup(resource, output)` returns `None` for a
/// value not known yet, which becomes the unknown marker (and makes an enclosing concat unknown).
pub fn resolve(value: &Json, lookup: &dyn Fn(&str, &str) -> Option<Json>) -> Json {
    match value {
        Json::Object(map) => {
            if let Some((resource, output)) = as_ref(map) {
                return lookup(resource, output).unwrap_or_else(unknown);
            }
            if let (1, Some(Json::Array(parts))) = (map.len(), map.get(CONCAT)) {
                let mut joined = String::new();
                let mut known = true;
                for part in parts {
                    match resolve(part, lookup) {
                        Json::String(text) => joined.push_str(&text),
                        Json::Number(number) => joined.push_str(&number.to_string()),
                        _ => {
                            known = false;
                            joined.push_str("(known after apply)");
                        }
                    }
                }
                // An unknown string keeps what is known of it, for people to read.
                return if known {
                    Json::String(joined)
                } else {
                    json!({ UNKNOWN_MARKER: true, "preview": joined })
                };
            }
            Json::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), resolve(v, lookup)))
                    .collect(),
            )
        }
        Json::Array(items) => Json::Array(items.iter().map(|v| resolve(v, lookup)).collect()),
        other => other.clone(),
    }
}

pub(crate) fn unknown() -> Json {
    json!({ UNKNOWN_MARKER: true })
}

/// Whether `value` holds a value only known after apply, anywhere inside it.
pub(crate) fn contains_unknown(value: &Json) -> bool {
    match value {
        Json::Object(map) => map.contains_key(UNKNOWN_MARKER) || map.values().any(contains_unknown),
        Json::Array(items) => items.iter().any(contains_unknown),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_resolves_when_every_piece_is_known() {
        let ip: Output<String> = Output::new("mongodb", "private_ip");
        let input = Input::concat(["mongodb://".into(), ip.into(), ":27017".into()]);
        let declared = serde_json::to_value(&input).expect("serializes");
        let mut refs = BTreeSet::new();
        references(&declared, &mut refs);
        assert_eq!(
            refs.into_iter().collect::<Vec<_>>(),
            vec!["mongodb".to_string()]
        );

        let known = resolve(&declared, &|r, k| {
            (r == "mongodb" && k == "private_ip").then(|| json!("10.0.0.5"))
        });
        assert_eq!(known, json!("mongodb://10.0.0.5:27017"));

        let later = resolve(&declared, &|_, _| None);
        assert!(contains_unknown(&later));
    }

    #[test]
    fn resolved_input_deserializes_as_value() {
        let input: Input<Vec<String>> = serde_json::from_value(json!(["a", "b"])).expect("parses");
        assert_eq!(
            input.get().expect("resolved"),
            &vec!["a".to_string(), "b".to_string()]
        );
    }
}
