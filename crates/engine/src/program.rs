//! The program: the resources a stack declares, and its outputs.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value as Json;

#[cfg(doc)]
use super::expr::Output;
use super::expr::{references, Input};

/// A kind of resource. The struct that implements it is the kind's arguments, as declared
/// (with [`Input`]s) and as the provider receives them; `#[derive(Kind)]` implements it from the
/// struct's own fields (`#[kind(replace)]`, `#[kind(secret)]`). Providers define kinds; the
/// engine only sees their names and JSON.
pub trait Kind: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The type name shown to users and stored in the state, e.g. `aws:ec2:Vpc`.
    const TYPE: &'static str;
    /// What the cloud says of a resource once made; each field is a typed output.
    type Outputs: Outputs;
    /// Top-level argument names whose change cannot be applied in place (`#[kind(replace)]`;
    /// on a flattened struct, every field of it; every argument of an `immutable` kind).
    fn replace_on() -> Vec<&'static str>;
    /// Top-level argument names whose values are secret: never shown, always `[secret]`.
    fn secret() -> Vec<&'static str> {
        Vec::new()
    }
    /// Outputs an update in place changes (a launch template's version; `#[kind(updated)]` on
    /// the output): the plan takes them as unknown after an update, so that what refers to them
    /// is updated too.
    fn updated_outputs() -> Vec<&'static str> {
        <Self::Outputs as Outputs>::UPDATED.to_vec()
    }
}

/// The top-level argument names of a struct that kinds flatten into theirs
/// (`#[derive(Fields)]`), so that `#[kind(replace)]` on the flattened field can name them.
pub trait Fields {
    const NAMES: &'static [&'static str];
}

/// The outputs of a kind: `#[derive(Outputs)]` makes [`Outputs::Ref`], a handle with one typed
/// accessor per field, so an output key is written once, as a field name.
pub trait Outputs: Serialize + DeserializeOwned + Send + Sync + 'static {
    type Ref: Clone + std::fmt::Debug;
    /// The outputs an update in place changes (`#[kind(updated)]`).
    const UPDATED: &'static [&'static str] = &[];
    fn reference(resource: &str) -> Self::Ref;
}

/// The outputs of a kind that has none worth referring to.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
pub struct NoOutputs {}

impl Outputs for NoOutputs {
    type Ref = ();
    fn reference(_: &str) {}
}

/// A typed handle on a declared resource: its outputs' accessors are reached through it
/// (`vpc.id()`), each an [`Output`] of the right type.
pub struct Ref<K: Kind> {
    name: String,
    outputs: <K::Outputs as Outputs>::Ref,
}

impl<K: Kind> Ref<K> {
    /// The resource's name in the program (not an output: kinds may have an output `name`).
    pub fn logical_name(&self) -> &str {
        &self.name
    }
}

impl<K: Kind> std::ops::Deref for Ref<K> {
    type Target = <K::Outputs as Outputs>::Ref;
    fn deref(&self) -> &Self::Target {
        &self.outputs
    }
}

impl<K: Kind> Clone for Ref<K> {
    fn clone(&self) -> Self {
        Ref {
            name: self.name.clone(),
            outputs: self.outputs.clone(),
        }
    }
}

/// Arguments of kind `K` read from their JSON form, declared or stored; `None` for another kind
/// (or arguments that do not fit `K`).
pub fn view<K: Kind>(type_name: &str, args: &Json) -> Option<K> {
    if type_name != K::TYPE {
        return None;
    }
    serde_json::from_value(args.clone()).ok()
}

/// One declared resource as the engine sees it.
#[derive(Clone, Debug)]
pub struct Declared {
    pub name: String,
    pub type_name: String,
    /// Arguments as JSON, references and templates still unresolved.
    pub args: Json,
    pub replace_on: Vec<&'static str>,
    pub secret: Vec<&'static str>,
    /// Resources this one depends on: those its arguments refer to, plus explicit ones.
    pub dependencies: BTreeSet<String>,
    /// The word (`--allow-replace WORD`) without which no plan may replace or delete it.
    pub protected: Option<String>,
    /// Outputs an update in place changes ([`Kind::updated_outputs`]).
    pub updated_outputs: Vec<&'static str>,
    /// Arguments kept as the state holds them, whatever is declared ([`Program::keep`]).
    pub keep: Vec<String>,
}

impl Declared {
    /// The arguments as kind `K`'s struct, if this resource is of kind `K`.
    pub fn view<K: Kind>(&self) -> Option<K> {
        view(&self.type_name, &self.args)
    }
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
    pub fn add<K: Kind>(&mut self, name: &str, args: K) -> Result<Ref<K>, ProgramError> {
        self.add_after::<K>(name, args, &[])
    }

    /// Declares a resource that must also wait for `after`, beyond what its arguments refer to.
    pub fn add_after<K: Kind>(
        &mut self,
        name: &str,
        args: K,
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
            replace_on: K::replace_on(),
            secret: K::secret(),
            dependencies,
            protected: None,
            updated_outputs: K::updated_outputs(),
            keep: Vec::new(),
        });
        Ok(Ref {
            name: name.to_string(),
            outputs: K::Outputs::reference(name),
        })
    }

    /// Protects a declared resource, as Pulumi's `protect` and Terraform's `prevent_destroy`: a
    /// plan that would replace or delete it (other than a destroy of the whole stack) is marked
    /// ([`crate::Plan::losses`]) and the caller refuses it unless the run names `word`.
    pub fn protect<K: Kind>(&mut self, resource: &Ref<K>, word: &str) {
        if let Some(declared) = self.resources.iter_mut().find(|r| r.name == resource.name) {
            declared.protected = Some(word.to_string());
        }
    }

    /// Keeps arguments of a declared resource as the state holds them, as Terraform's
    /// `ignore_changes`: once the resource is in the state, a plan takes each of these top-level
    /// arguments from the stored ones (and leaves it out where the state has none), so that a
    /// difference in them neither updates nor replaces it. For what was made outside the stack
    /// and adopted as found (a MongoDB instance's image and disks, a security group's
    /// description): what changing would replace, and the stack file cannot say.
    pub fn keep<K: Kind>(&mut self, resource: &Ref<K>, arguments: &[&str]) {
        if let Some(declared) = self.resources.iter_mut().find(|r| r.name == resource.name) {
            declared
                .keep
                .extend(arguments.iter().map(|a| a.to_string()));
        }
    }

    /// The protected resources, by name, with the word that lets a run replace or delete them.
    pub fn protected(&self) -> BTreeMap<String, String> {
        self.resources
            .iter()
            .filter_map(|r| Some((r.name.clone(), r.protected.clone()?)))
            .collect()
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
