//! What an AWS kind implements ([`AwsKind`]), and the provider the engine drives, which
//! dispatches each step to the kind named by the resource's type under the one retry policy.

use std::collections::BTreeMap;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use serde_json::Value as Json;

use ams_engine::state::ResourceState;
use ams_engine::{Created, Kind, Provider, ProviderError};

use crate::retry::{classify, may_follow_a_lost_answer, Class, Policy};
use crate::Aws;

/// What every step returns.
pub type Res<T> = Result<T, ProviderError>;
/// What a step knows of where it runs (the engine's `StepContext`).
pub use ams_engine::StepContext as Ctx;

/// A resource as the state has it: its id, its typed outputs and the arguments it was last
/// applied with, as the kind's own struct (read back once, in [`current`]: a stored state that
/// no longer fits its kind is an error naming the resource, never a missing key at run time).
pub struct Current<K: Kind> {
    /// The resource's name in the stack (the value of its `ams-stack:name` tag).
    pub name: String,
    pub id: String,
    pub outputs: K::Outputs,
    pub args: K,
}

/// Codes by which AWS answers, as a kind lists them.
pub type Codes = &'static [&'static str];

/// A kind the AWS provider knows how to make. The struct is the kind's arguments; `create` and
/// `find` only bring back an id, and `finish` (shared by both) completes the resource and says
/// its outputs, so that a resource found after a crash ends exactly as a fresh one.
///
/// A kind writes each step as an `async fn`; the trait asks that its future be `Send`, as the
/// engine runs steps on many threads.
pub trait AwsKind: Kind {
    /// Codes by which AWS says this resource is gone (a delete of it has nothing to do).
    const NOT_FOUND: Codes = &[];
    /// Codes by which a create says the resource exists already (an earlier attempt made it).
    const ALREADY_EXISTS: Codes = &[];
    /// Codes meaning that something this resource refers to was just made and is not visible
    /// yet (`Code:text` also asks the message to name `text`).
    const NOT_YET_VISIBLE: Codes = &[];
    /// Codes by which a delete is refused while something still holds the resource (beyond
    /// the codes every service uses for it): tried again for the delete patience.
    const BUSY: Codes = &[];

    /// Makes the resource; its id.
    fn create(&self, aws: &Aws, ctx: &Ctx) -> impl Future<Output = Res<String>> + Send;

    /// The id of what an interrupted create made (by tags, name or the token in `ctx`).
    fn find(&self, aws: &Aws, ctx: &Ctx) -> impl Future<Output = Res<Option<String>>> + Send;

    /// Brings a resource just made or found to what the arguments ask, and says its outputs.
    /// In a preview (`ctx.read_only`) it changes nothing.
    fn finish(
        &self,
        aws: &Aws,
        ctx: &Ctx,
        id: &str,
    ) -> impl Future<Output = Res<Self::Outputs>> + Send;

    /// Changes arguments that do not force a replacement; the new outputs.
    fn update(
        &self,
        aws: &Aws,
        ctx: &Ctx,
        current: &Current<Self>,
    ) -> impl Future<Output = Res<Self::Outputs>> + Send {
        let _ = aws;
        let refused = ProviderError::new(format!(
            "{} cannot be updated in place: {}",
            ctx.type_name, current.id
        ));
        std::future::ready(Err(refused))
    }

    fn delete(
        aws: &Aws,
        ctx: &Ctx,
        current: &Current<Self>,
    ) -> impl Future<Output = Res<()>> + Send;

    /// The live arguments of many resources of this kind, in as few calls as the API allows:
    /// each resource's stored arguments (`Current::args`) brought up to date with what the cloud
    /// holds, or `None` for one that is gone; one answer a resource, in their order. By default:
    /// only what can be compared is the stored value.
    fn read(
        aws: &Aws,
        resources: Vec<Current<Self>>,
    ) -> impl Future<Output = Res<Vec<Option<Self>>>> + Send {
        let _ = aws;
        std::future::ready(Ok(resources.into_iter().map(|r| Some(r.args)).collect()))
    }
}

/// Keeps the resources whose id is in `live` (the ids that still exist), with their stored
/// arguments.
pub fn existing<K: Kind>(
    resources: Vec<Current<K>>,
    live: impl IntoIterator<Item = impl Into<String>>,
) -> Vec<Option<K>> {
    let live: std::collections::BTreeSet<String> = live.into_iter().map(Into::into).collect();
    resources
        .into_iter()
        .map(|r| live.contains(&r.id).then_some(r.args))
        .collect()
}

/// `read` for a kind AWS answers about one resource at a time: the resources for which
/// `exists(id)` finds something, with their stored arguments.
pub async fn existing_each<K: Kind, F, Fut>(
    resources: Vec<Current<K>>,
    mut exists: F,
) -> Result<Vec<Option<K>>, ProviderError>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<bool, ProviderError>>,
{
    let mut live = Vec::with_capacity(resources.len());
    for resource in resources {
        let exists = exists(resource.id.clone()).await?;
        live.push(exists.then_some(resource.args));
    }
    Ok(live)
}

/// Changes the stored arguments of `state` as its kind's struct: the arguments `change` leaves
/// as they were keep their stored JSON (see [`with_live`]).
pub(crate) fn change_stored<K: Kind>(
    state: &mut ResourceState,
    change: impl FnOnce(&mut K),
) -> Result<(), ProviderError> {
    let mut args = current::<K>(state)?.args;
    let was = args_json(&args)?;
    change(&mut args);
    state.inputs = with_live(&state.inputs, &was, &args_json(&args)?);
    Ok(())
}

/// The stored arguments `stored` (the JSON the state holds) with each top-level argument that
/// `live` (the live arguments, serialised) says otherwise than `was` (the stored arguments read
/// back as the kind's struct, serialised): taken from `live`, or left out where `live` leaves
/// it out. An argument the live read did not change keeps its stored JSON byte for byte, so
/// that an unchanged resource reads back exactly as stored, whatever its JSON (a key the kind
/// does not know, a `null` a later `skip_serializing_none` would leave out).
fn with_live(stored: &Json, was: &Json, live: &Json) -> Json {
    let (Some(stored), Some(was), Some(live_args)) =
        (stored.as_object(), was.as_object(), live.as_object())
    else {
        return live.clone();
    };
    let mut args = stored.clone();
    for key in was.keys().chain(live_args.keys()) {
        match (was.get(key), live_args.get(key)) {
            (was, live) if was == live => {}
            (_, Some(live)) => {
                args.insert(key.clone(), live.clone());
            }
            (_, None) => {
                args.shift_remove(key);
            }
        }
    }
    Json::Object(args)
}

/// A kind's steps on JSON, as the engine hands them over.
#[async_trait::async_trait]
trait Handler: Send + Sync {
    async fn read(
        &self,
        aws: &Aws,
        resources: &[ResourceState],
    ) -> Result<Vec<Option<Json>>, ProviderError>;
    async fn find(
        &self,
        aws: &Aws,
        ctx: &Ctx,
        inputs: &Json,
    ) -> Result<Option<Created>, ProviderError>;
    async fn create(&self, aws: &Aws, ctx: &Ctx, inputs: &Json) -> Result<Created, ProviderError>;
    async fn update(
        &self,
        aws: &Aws,
        ctx: &Ctx,
        current: &ResourceState,
        inputs: &Json,
    ) -> Result<Json, ProviderError>;
    async fn delete(
        &self,
        aws: &Aws,
        ctx: &Ctx,
        current: &ResourceState,
    ) -> Result<(), ProviderError>;
    /// Whether what the state holds of a resource reads back as its kind's types.
    fn fits(&self, current: &ResourceState) -> Result<(), ProviderError>;
    async fn describe(&self, aws: &Aws, ctx: &Ctx, id: &str, inputs: &Json) -> Res<Json>;
}

struct For<K>(PhantomData<fn() -> K>);

fn args<K: Kind>(inputs: &Json) -> Result<K, ProviderError> {
    serde_json::from_value(inputs.clone()).map_err(|e| {
        ProviderError::new(format!("arguments of {} do not fit its kind: {e}", K::TYPE))
    })
}

/// What the state holds of a resource, as its kind's types.
pub(crate) fn current<K: Kind>(state: &ResourceState) -> Result<Current<K>, ProviderError> {
    let stored = |what: &str, e: serde_json::Error| {
        ProviderError::new(format!(
            "the stored {what} of {} do not fit {}: {e}",
            state.name,
            K::TYPE
        ))
    };
    let outputs =
        serde_json::from_value(state.outputs.clone()).map_err(|e| stored("outputs", e))?;
    let args = serde_json::from_value(state.inputs.clone()).map_err(|e| stored("arguments", e))?;
    Ok(Current {
        name: state.name.clone(),
        id: state.id.clone(),
        outputs,
        args,
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Json, ProviderError> {
    serde_json::to_value(value)
        .map_err(|e| ProviderError::new(format!("outputs cannot be represented: {e}")))
}

/// Arguments as the state stores them (as `Program::add` serialises what is declared).
fn args_json<K: Kind>(args: &K) -> Result<Json, ProviderError> {
    serde_json::to_value(args).map_err(|e| {
        ProviderError::new(format!(
            "arguments of {} cannot be represented: {e}",
            K::TYPE
        ))
    })
}

impl<K: AwsKind> For<K> {
    /// `finish` under the retry policy: what it meets (not yet visible, throttled) is waited out.
    async fn finish_patiently(
        &self,
        aws: &Aws,
        ctx: &Ctx,
        kind: &K,
        id: String,
        mut policy: Policy,
    ) -> Result<Created, ProviderError> {
        let retried = |class| matches!(class, Class::Transient | Class::NotYetVisible);
        let outputs =
            Self::retrying(ctx, &mut policy, retried, || kind.finish(aws, ctx, &id)).await?;
        Ok(Created {
            id,
            outputs: to_json(&outputs)?,
        })
    }

    /// Tries `attempt` until it succeeds, or until it fails with an error whose class `retried`
    /// refuses or on which the policy gives up; that error is then the answer.
    async fn retrying<T, Fut>(
        ctx: &Ctx,
        policy: &mut Policy,
        retried: impl Fn(Class) -> bool,
        mut attempt: impl FnMut() -> Fut,
    ) -> Res<T>
    where
        Fut: std::future::Future<Output = Res<T>>,
    {
        loop {
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(error) => Self::pause(ctx, policy, error, &retried).await?,
            }
        }
    }

    /// Waits before another try after `error`, saying why in the progress line; or gives `error`
    /// back when its class is not `retried` or the policy gives up.
    async fn pause(
        ctx: &Ctx,
        policy: &mut Policy,
        error: ProviderError,
        retried: impl Fn(Class) -> bool,
    ) -> Res<()> {
        let class = classify::<K>(&error);
        match policy.next(class) {
            Some(pause) if retried(class) => {
                ctx.waiting(retry_reason(class, &error));
                tokio::time::sleep(pause).await;
                Ok(())
            }
            _ => Err(error),
        }
    }
}

#[async_trait::async_trait]
impl<K: AwsKind> Handler for For<K> {
    /// Reads the stored arguments as the kind's struct once, and gives the live ones back as
    /// the state stores them: an argument that did not change keeps its stored JSON.
    async fn read(&self, aws: &Aws, resources: &[ResourceState]) -> Res<Vec<Option<Json>>> {
        let stored = resources
            .iter()
            .map(current::<K>)
            .collect::<Res<Vec<_>>>()?;
        let was = stored
            .iter()
            .map(|c| args_json(&c.args))
            .collect::<Res<Vec<_>>>()?;
        let live = K::read(aws, stored).await?;
        if live.len() != resources.len() {
            return Err(ProviderError::new(format!(
                "the read of {} answered for {} resources of {}",
                K::TYPE,
                live.len(),
                resources.len()
            )));
        }
        let answers = resources.iter().zip(&was).zip(live);
        answers
            .map(|((resource, was), live)| match live {
                Some(live) => Ok(Some(with_live(&resource.inputs, was, &args_json(&live)?))),
                None => Ok(None),
            })
            .collect()
    }

    fn fits(&self, current: &ResourceState) -> Res<()> {
        self::current::<K>(current).map(|_| ())
    }

    /// `finish` of a resource that exists, as a preview runs it: it only looks.
    async fn describe(&self, aws: &Aws, ctx: &Ctx, id: &str, inputs: &Json) -> Res<Json> {
        let kind = args::<K>(inputs)?;
        let mut looking = ctx.clone();
        looking.read_only = true;
        let created = self
            .finish_patiently(aws, &looking, &kind, id.to_string(), Policy::new(aws))
            .await?;
        Ok(created.outputs)
    }

    async fn find(&self, aws: &Aws, ctx: &Ctx, inputs: &Json) -> Res<Option<Created>> {
        let kind = args::<K>(inputs)?;
        match kind.find(aws, ctx).await? {
            // What a replacement's create finds may be the resource it replaces: not its own.
            Some(id) if ctx.is_replaced(&id) => Ok(None),
            Some(id) => Ok(Some(
                self.finish_patiently(aws, ctx, &kind, id, Policy::new(aws))
                    .await?,
            )),
            None => Ok(None),
        }
    }

    /// Creates; after an error that may hide a success (a throttle, a 5xx, a lost answer, a name
    /// that exists, a dependency not visible yet) it looks for what the attempt made before it
    /// tries again, so that a retry never makes a second one. Once AWS has given an id, only
    /// `finish` is tried again: the resource exists, whatever `finish` meets.
    async fn create(&self, aws: &Aws, ctx: &Ctx, inputs: &Json) -> Res<Created> {
        let kind = args::<K>(inputs)?;
        let mut policy = Policy::new(aws);
        let id = loop {
            match kind.create(aws, ctx).await {
                Ok(id) => break id,
                // Whatever the class, as long as the policy goes on.
                Err(error) => {
                    if let Err(error) = Self::pause(ctx, &mut policy, error, |_| true).await {
                        // A refusal may answer an SDK retry of a call that took effect (its
                        // answer lost): what was made is looked for once more before giving up.
                        if !may_follow_a_lost_answer(&error) {
                            return Err(error);
                        }
                        return match kind.find(aws, ctx).await {
                            Ok(Some(id)) if !ctx.is_replaced(&id) => {
                                self.finish_patiently(aws, ctx, &kind, id, Policy::new(aws))
                                    .await
                            }
                            _ => Err(error),
                        };
                    }
                }
            }
            match kind.find(aws, ctx).await {
                Ok(Some(id)) if !ctx.is_replaced(&id) => break id,
                Ok(Some(_)) => {}
                Ok(None) => {}
                Err(e) if classify::<K>(&e) == Class::Transient => {}
                Err(e) => return Err(e),
            }
        };
        self.finish_patiently(aws, ctx, &kind, id, policy).await
    }

    async fn update(
        &self,
        aws: &Aws,
        ctx: &Ctx,
        state: &ResourceState,
        inputs: &Json,
    ) -> Result<Json, ProviderError> {
        let kind = args::<K>(inputs)?;
        let current = current::<K>(state)?;
        let retried = |class| class != Class::AlreadyExists;
        let mut policy = Policy::new(aws);
        let outputs = Self::retrying(ctx, &mut policy, retried, || {
            kind.update(aws, ctx, &current)
        })
        .await?;
        to_json(&outputs)
    }

    /// Deletes; "already gone" is success, and a delete refused while something still holds
    /// the resource is tried again until the policy's patience runs out.
    async fn delete(&self, aws: &Aws, ctx: &Ctx, state: &ResourceState) -> Res<()> {
        let current = &current::<K>(state)?;
        let retried = |class| matches!(class, Class::Transient | Class::Busy);
        let mut policy = Policy::new(aws);
        Self::retrying(ctx, &mut policy, retried, || async move {
            match K::delete(aws, ctx, current).await {
                Err(e) if e.code.as_deref().is_some_and(|c| K::NOT_FOUND.contains(&c)) => Ok(()),
                done => done,
            }
        })
        .await
    }
}

/// The progress line while a step waits to try again.
fn retry_reason(class: Class, error: &ProviderError) -> String {
    let code = error.code.as_deref().unwrap_or("an error");
    match class {
        Class::Busy => format!("waiting for AWS to let go ({code}): {}", error.message),
        Class::NotYetVisible => format!("waiting for AWS to show what was just made ({code})"),
        _ => format!("retrying after {code}"),
    }
}

/// The provider the engine drives: every AWS kind, by type name.
pub struct AwsProvider {
    aws: Arc<Aws>,
    kinds: BTreeMap<&'static str, Box<dyn Handler>>,
}

impl AwsProvider {
    pub fn new(aws: Arc<Aws>) -> Self {
        let mut provider = AwsProvider {
            aws,
            kinds: BTreeMap::new(),
        };
        crate::register_kinds(&mut provider);
        provider
    }

    pub(crate) fn register<K: AwsKind>(&mut self) {
        self.kinds.insert(K::TYPE, Box::new(For::<K>(PhantomData)));
    }

    /// Whether what the state holds of `resource` (its stored arguments and outputs) reads back
    /// as its kind's types, as every update and delete reads it: an error names the resource
    /// and what does not fit (a renamed or retyped field).
    pub fn fits(&self, resource: &ResourceState) -> Result<(), ProviderError> {
        self.kind(&resource.type_name)?.fits(resource)
    }

    /// The type names of every kind this provider makes.
    pub fn type_names(&self) -> Vec<&'static str> {
        self.kinds.keys().copied().collect()
    }

    fn kind(&self, type_name: &str) -> Result<&dyn Handler, ProviderError> {
        self.kinds
            .get(type_name)
            .map(|k| k.as_ref())
            .ok_or_else(|| ProviderError::new(format!("unknown resource type `{type_name}`")))
    }
}

#[async_trait::async_trait]
impl Provider for AwsProvider {
    async fn read(&self, type_name: &str, resources: &[ResourceState]) -> Res<Vec<Option<Json>>> {
        self.kind(type_name)?.read(&self.aws, resources).await
    }

    async fn find(&self, ctx: &Ctx, inputs: &Json) -> Res<Option<Created>> {
        self.kind(&ctx.type_name)?
            .find(&self.aws, ctx, inputs)
            .await
    }

    async fn create(&self, ctx: &Ctx, inputs: &Json) -> Result<Created, ProviderError> {
        self.kind(&ctx.type_name)?
            .create(&self.aws, ctx, inputs)
            .await
    }

    async fn update(&self, ctx: &Ctx, current: &ResourceState, inputs: &Json) -> Res<Json> {
        self.kind(&ctx.type_name)?
            .update(&self.aws, ctx, current, inputs)
            .await
    }

    async fn delete(&self, ctx: &Ctx, current: &ResourceState) -> Res<()> {
        self.kind(&ctx.type_name)?
            .delete(&self.aws, ctx, current)
            .await
    }

    async fn describe(&self, ctx: &Ctx, id: &str, inputs: &Json) -> Res<Json> {
        self.kind(&ctx.type_name)?
            .describe(&self.aws, ctx, id, inputs)
            .await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::autoscaling::Group;

    /// A group as an older run stored it: keys in an order of their own, a `null` that
    /// `skip_serializing_none` now leaves out, and a key the kind no longer knows.
    fn stored_group() -> ResourceState {
        ResourceState {
            name: "origin-group".into(),
            type_name: Group::TYPE.into(),
            id: "s-origin-1a2b".into(),
            inputs: json!({
                "max_size": 10,
                "min_size": 1,
                "launch_template_id": "lt-1",
                "launch_template_version": null,
                "subnet_ids": ["subnet-1", "subnet-2"],
                "target_group_arns": ["arn:tg"],
                "health_check_grace_seconds": 300,
                "launch_hook": null,
                "legacy": true
            }),
            outputs: json!({ "name": "s-origin-1a2b" }),
            dependencies: vec![],
        }
    }

    /// What a read answers for `state` when the live group is `live` (as `Handler::read` puts
    /// it back in the stored JSON).
    fn read_back(state: &ResourceState, live: impl FnOnce(&mut Group)) -> Json {
        let mut group = current::<Group>(state).expect("fits").args;
        let was = args_json(&group).expect("json");
        live(&mut group);
        with_live(&state.inputs, &was, &args_json(&group).expect("json"))
    }

    #[test]
    fn an_unchanged_resource_reads_back_byte_for_byte() {
        let state = stored_group();
        let read = read_back(&state, |_| {});
        assert_eq!(
            serde_json::to_string(&read).unwrap(),
            serde_json::to_string(&state.inputs).unwrap()
        );
    }

    #[test]
    fn only_what_the_live_read_changed_differs_in_place() {
        let state = stored_group();
        let read = read_back(&state, |group| group.min_size = 3);
        let mut expected = state.inputs.clone();
        expected["min_size"] = json!(3);
        assert_eq!(
            serde_json::to_string(&read).unwrap(),
            serde_json::to_string(&expected).unwrap(),
            "same keys, same order, one value changed"
        );
    }

    #[test]
    fn a_live_argument_comes_and_goes_and_the_rest_stays_as_stored() {
        let mut state = stored_group();
        let original = serde_json::to_string(&state.inputs).unwrap();
        change_stored::<Group>(&mut state, |group| {
            group.suspended_processes = vec!["Launch".into(), "Terminate".into()];
        })
        .expect("changes");
        assert_eq!(
            state.inputs["suspended_processes"],
            json!(["Launch", "Terminate"])
        );
        assert_eq!(state.inputs["legacy"], json!(true));
        change_stored::<Group>(&mut state, |group| group.suspended_processes.clear())
            .expect("changes");
        assert_eq!(serde_json::to_string(&state.inputs).unwrap(), original);
    }

    #[test]
    fn stored_arguments_that_do_not_fit_name_the_resource() {
        let mut state = stored_group();
        state.inputs["min_size"] = json!("one");
        let error = current::<Group>(&state).err().expect("refused");
        assert!(error.message.contains("origin-group"), "{}", error.message);
        assert!(error.message.contains("arguments"), "{}", error.message);
    }
}
