//! The images the stack runs: resolved once, pinned in the state, reused by every later plan.
//!
//! A newer Ubuntu or AMS image published upstream changes nothing by itself (else the next `up`
//! would replace MongoDB with an empty machine). `--update-images` resolves them again, and the
//! plan shows what that changes. `ami` in the stack file pins an image explicitly.

use anyhow::Result;
use serde_json::Value as Json;

use crate::config::StackConfig;
use ams_aws::lookup::{self, Image};
use ams_aws::Aws;
use ams_engine::state::State;

/// What runs each role: the key in the state's lookups, the stack file's section, the resource
/// and argument whose image it is (for stacks made before images were pinned), and how to find
/// the newest.
struct Role {
    key: &'static str,
    section: &'static str,
    resource: &'static str,
    owner: &'static str,
    pattern: &'static str,
    product_code: Option<&'static str>,
}

const ROLES: [Role; 3] = [
    Role {
        key: "image.mongodb",
        section: "mongodb",
        resource: "mongodb",
        owner: lookup::UBUNTU_OWNER,
        pattern: lookup::UBUNTU_2404_NAME,
        product_code: None,
    },
    Role {
        key: "image.origin",
        section: "origin",
        resource: "origin-launch-template",
        owner: lookup::MARKETPLACE_OWNER,
        pattern: lookup::AMS_ENTERPRISE_NAME,
        product_code: Some(lookup::AMS_PRODUCT_CODE),
    },
    Role {
        key: "image.edge",
        section: "edge",
        resource: "edge-launch-template",
        owner: lookup::MARKETPLACE_OWNER,
        pattern: lookup::AMS_ENTERPRISE_NAME,
        product_code: Some(lookup::AMS_PRODUCT_CODE),
    },
];

/// The images of the three roles, and where each came from.
#[derive(Clone, Debug)]
pub struct Images {
    pub mongodb: Image,
    pub origin: Image,
    pub edge: Image,
    /// `(role, pinned before, resolved now)` for each image that `--update-images` changed.
    pub updated: Vec<(&'static str, Image, Image)>,
}

impl Images {
    /// The images as the state records them (its lookups).
    pub fn lookups(&self) -> Vec<(String, Json)> {
        [
            ("image.mongodb", &self.mongodb),
            ("image.origin", &self.origin),
            ("image.edge", &self.edge),
        ]
        .into_iter()
        .map(|(key, image)| {
            (
                key.to_string(),
                serde_json::to_value(image).unwrap_or_default(),
            )
        })
        .collect()
    }

    /// The images by role, as people read them (id, name, date).
    pub fn described(&self) -> Vec<(&'static str, String)> {
        vec![
            ("mongodb", self.mongodb.to_string()),
            ("origin", self.origin.to_string()),
            ("edge", self.edge.to_string()),
        ]
    }

    /// Records them in `state`; whether that changed it.
    pub fn pin(&self, state: &mut State) -> bool {
        let mut changed = false;
        for (key, value) in self.lookups() {
            if state.lookups.get(&key) != Some(&value) {
                state.lookups.insert(key, value);
                changed = true;
            }
        }
        changed
    }
}

/// The image each role runs: the stack file's `ami`, else the one pinned in `state` (or, for a
/// stack made before pinning, the one its resources run), else the newest found. With `update`,
/// the pins are resolved again.
pub async fn resolve(
    aws: &Aws,
    config: &StackConfig,
    state: &State,
    update: bool,
) -> Result<Images> {
    let file = config.path.display().to_string();
    let explicit = [
        &config.mongodb.instance.ami,
        &config.origin.instance.ami,
        &config.edge.instance.ami,
    ];
    let resolve_one = |role: &'static Role, explicit: Option<String>| {
        let file = file.clone();
        async move {
            let pinned = pinned(state, role);
            let image = match (explicit, &pinned) {
                (Some(ami), Some(pin)) if pin.id == ami => pin.clone(),
                (Some(ami), _) => lookup::image(aws, &ami, role.section, &file).await?,
                (None, Some(pin)) if !update => pin.clone(),
                (None, _) => {
                    lookup::newest_image(
                        aws,
                        role.owner,
                        role.pattern,
                        role.product_code,
                        role.section,
                        &file,
                    )
                    .await?
                }
            };
            let updated = pinned.filter(|pin| update && pin.id != image.id);
            anyhow::Ok((image, updated.map(|pin| (role.section, pin))))
        }
    };
    let (mongodb, origin, edge) = tokio::try_join!(
        resolve_one(&ROLES[0], explicit[0].clone()),
        resolve_one(&ROLES[1], explicit[1].clone()),
        resolve_one(&ROLES[2], explicit[2].clone()),
    )?;
    let updated = [&mongodb, &origin, &edge]
        .into_iter()
        .filter_map(|(image, updated)| {
            let (role, before) = updated.clone()?;
            Some((role, before, image.clone()))
        })
        .collect();
    Ok(Images {
        mongodb: mongodb.0,
        origin: origin.0,
        edge: edge.0,
        updated,
    })
}

/// The image pinned for `role`: recorded in the state's lookups, or, for a stack made before
/// images were pinned, the one its resource was made with.
fn pinned(state: &State, role: &Role) -> Option<Image> {
    if let Some(image) = state
        .lookups
        .get(role.key)
        .and_then(|v| serde_json::from_value::<Image>(v.clone()).ok())
    {
        return Some(image);
    }
    let id = state.get(role.resource)?.inputs.get("image_id")?.as_str()?;
    Some(Image::id(id))
}

/// Says, on stderr, which images `--update-images` changed, or that none did.
pub fn show_updated(images: &Images, requested: bool) {
    if requested && images.updated.is_empty() {
        crate::render::err("--update-images: the pinned images are still the newest.");
    }
    for (role, before, now) in &images.updated {
        crate::render::err(&format!(
            "Image of {role}: {before} -> {now} (--update-images)"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ams_engine::state::ResourceState;
    use serde_json::json;

    fn made_before_pinning() -> State {
        let mut state = State::empty("t");
        state.resources.push(ResourceState {
            name: "mongodb".into(),
            type_name: "aws:ec2:Instance".into(),
            id: "i-1".into(),
            inputs: json!({ "image_id": "ami-old" }),
            outputs: json!({}),
            dependencies: vec![],
        });
        state
    }

    #[test]
    fn a_stack_made_before_pinning_keeps_the_image_it_runs() {
        let state = made_before_pinning();
        assert_eq!(pinned(&state, &ROLES[0]), Some(Image::id("ami-old")));
        assert_eq!(
            pinned(&state, &ROLES[1]),
            None,
            "no template yet: look it up"
        );
    }

    #[test]
    fn the_recorded_pin_wins_and_pinning_says_whether_it_changed() {
        let mut state = made_before_pinning();
        let image = |id: &str| Image {
            id: id.into(),
            name: Some(format!("name-{id}")),
            created: Some("2025-11-10T00:00:00.000Z".into()),
        };
        let images = Images {
            mongodb: image("ami-new"),
            origin: image("ami-ams"),
            edge: image("ami-ams"),
            updated: vec![],
        };
        assert!(images.pin(&mut state));
        assert!(
            !images.pin(&mut state),
            "the same images again change nothing"
        );
        assert_eq!(pinned(&state, &ROLES[0]), Some(image("ami-new")));
        assert_eq!(
            images.described()[0],
            (
                "mongodb",
                "ami-new (name-ami-new, 2025-11-10T00:00:00.000Z)".to_string()
            )
        );
    }
}
