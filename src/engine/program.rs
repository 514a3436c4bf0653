//! The program: the resources a stack declares, and its outputs.

use std::collections::{BTreeMap, BTreeSet};
use std::marker::PhantomData;

use serde::Serialize;
use serde_json::Value as Json;

use super::expr::{references, Input, Output};

/// A kind of resource: its type name, its typed arguments and the arguments whose change
/// forces a replacement. Providers define kinds; the engine only sees their names and JSON.
pub trait Kind {
    /// The type name shown to users and stored in the state, e.g. `aws:ec2:Vpc`.
    const TYPE: &'static str;
    /// The arguments, as declared (with [`Input`]s) and as the provider receives them.
    type Args: Serialize;
    /// Top-level argument names whose change cannot be applied in place.
    const REPLACE_ON: &'static [&'static str];
    /// Top-level argument names whose values are secret: never shown, always `[secret]`.
    const SECRET: &'static [&'static str] = &[];
}

/// A typed handle on a declared resource; its kind's accessors give typed [`Output`]s.
pub struct Ref<K> {
    name: String,
    _kind: PhantomData<fn() -> K>,
}

impl<K> Ref<K> {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A typed output of this resource. Kinds wrap this in named accessors.
    pub fn output<T>(&self, key: &'static str) -> Output<T> {
        Output::new(&self.name, key)
    }
}

impl<K> Clone for Ref<K> {
    fn clone(&self) -> Self {
        Ref {
            name: self.name.clone(),
            _kind: PhantomData,
        }
    }
}

/// One declared resource as the engine sees it.
#[derive(Clone, Debug)]
pub struct Declared {
    pub name: String,
    pub type_name: String,
    /// Arguments as JSON, references and templates still unresolved.
    pub args: Json,
    pub replace_on: &'static [&'static str],
    pub secret: &'static [&'static str],
    /// Resources this one depends on: those its arguments refer to, plus explicit ones.
    pub dependencies: BTreeSet<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    #[error("resource `{0}` is declared twice")]
    Duplicate(String),
    #[error("arguments of `{name}` cannot be represented: {source}")]
    Args {
        name: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("resource `{name}` refers to `{missing}`, which is not declared")]
    UnknownReference { name: String, missing: String },
}

/// The declared resources of a stack, in declaration order, and its named outputs.
#[derive(Clone, Debug, Default)]
pub struct Program {
    resources: Vec<Declared>,
    outputs: BTreeMap<String, Json>,
}

impl Program {
    pub fn new() -> Self {
        Program::default()
    }

    /// Declares a resource of kind `K`.
    pub fn add<K: Kind>(&mut self, name: &str, args: K::Args) -> Result<Ref<K>, ProgramError> {
        self.add_after::<K>(name, args, &[])
    }

    /// Declares a resource that must also wait for `after`, beyond what its arguments refer to.
    pub fn add_after<K: Kind>(
        &mut self,
        name: &str,
        args: K::Args,
        after: &[&str],
    ) -> Result<Ref<K>, ProgramError> {
        if self.get(name).is_some() {
            return Err(ProgramError::Duplicate(name.to_string()));
        }
        let args = serde_json::to_value(&args).map_err(|source| ProgramError::Args {
            name: name.to_string(),
            source,
        })?;
        let mut dependencies = BTreeSet::new();
        references(&args, &mut dependencies);
        dependencies.extend(after.iter().map(|s| s.to_string()));
        self.resources.push(Declared {
            name: name.to_string(),
            type_name: K::TYPE.to_string(),
            args,
            replace_on: K::REPLACE_ON,
            secret: K::SECRET,
            dependencies,
        });
        Ok(Ref {
            name: name.to_string(),
            _kind: PhantomData,
        })
    }

    /// Declares a stack output, shown after `up` and by `outputs`.
    pub fn output(&mut self, name: &str, value: Input<String>) -> Result<(), ProgramError> {
        let value = serde_json::to_value(&value).map_err(|source| ProgramError::Args {
            name: name.to_string(),
            source,
        })?;
        self.outputs.insert(name.to_string(), value);
        Ok(())
    }

    pub fn resources(&self) -> &[Declared] {
        &self.resources
    }

    pub fn outputs(&self) -> &BTreeMap<String, Json> {
        &self.outputs
    }

    pub fn get(&self, name: &str) -> Option<&Declared> {
        self.resources.iter().find(|r| r.name == name)
    }

    /// Checks that every reference names a declared resource.
    pub fn check(&self) -> Result<(), ProgramError> {
        let mut referenced = BTreeSet::new();
        for value in self.outputs.values() {
            references(value, &mut referenced);
        }
        let from_outputs = referenced
            .into_iter()
            .map(|missing| ("(outputs)".to_string(), missing));
        let from_resources = self.resources.iter().flat_map(|r| {
            r.dependencies
                .iter()
                .map(move |d| (r.name.clone(), d.clone()))
        });
        for (name, missing) in from_resources.chain(from_outputs) {
            if self.get(&missing).is_none() {
                return Err(ProgramError::UnknownReference { name, missing });
            }
        }
        Ok(())
    }
}
