//! What every AMS node is set to, as code: `[server] properties` and `plugins`, `[app.NAME]
//! settings`, `[license] key_parameter`. All of it goes into the nodes' boot script, so a change
//! is a new launch template version that the groups roll onto.

use std::collections::BTreeMap;

use serde_json::Value as Json;
use toml::Spanned;

use super::ams_names::{Type, APP_SETTINGS, SERVER_PROPERTIES};
use super::raw::{RawApp, RawLicense, RawServer};
use super::{ConfigError, SourceFile};

/// The nodes' own settings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeSettings {
    /// `[server] properties`: lines of AMS's `conf/red5.properties`, key to value.
    pub properties: BTreeMap<String, String>,
    /// `[server] plugins`: jars fetched at boot into AMS's `plugins/`, each checked first.
    pub plugins: Vec<Plugin>,
    /// `[app.NAME] settings`: application to its settings (name to JSON value). An application
    /// named here that a node does not have is created there.
    pub apps: BTreeMap<String, BTreeMap<String, Json>>,
    /// `[license] key_parameter`: the SSM parameter holding a self-hosted licence key.
    pub license_parameter: Option<String>,
}

/// A plugin jar, fetched over HTTPS and checked against its SHA-256 before AMS loads it.
#[derive(Clone, Debug, PartialEq)]
pub struct Plugin {
    pub url: String,
    pub sha256: String,
    /// The file it is saved as in `plugins/`: the URL's last segment.
    pub file: String,
}

/// Application settings ams-stack sets itself, and where to say them instead.
const MANAGED_SETTINGS: &[(&str, &str)] = &[
    (
        "s3AccessKey",
        "no access key anywhere: `[recording] s3 = true` records through the nodes' role",
    ),
    (
        "s3SecretKey",
        "no access key anywhere: `[recording] s3 = true` records through the nodes' role",
    ),
    ("s3RecordingEnabled", "set by `[recording] s3 = true`"),
    (
        "s3BucketName",
        "the stack's recordings bucket, set by `[recording] s3 = true`",
    ),
    ("s3RegionName", "set by `[recording] s3 = true`"),
    (
        "s3Endpoint",
        "set by `[recording] s3 = true` (the node's own signing proxy)",
    ),
    ("s3PathStyleAccessEnabled", "set by `[recording] s3 = true`"),
    (
        "s3Permission",
        "set by `[recording] s3 = true` (the bucket takes no ACLs)",
    ),
    (
        "s3StreamsFolderPath",
        "set by `[recording] s3 = true` (under `recordings/`)",
    ),
    (
        "s3PreviewsFolderPath",
        "set by `[recording] s3 = true` (under `recordings/`)",
    ),
    ("s3StorageClass", "`[recording] storage_class`"),
    (
        "stunServerURI",
        "`[turn] enabled = true` sets the stack's TURN server",
    ),
    (
        "turnServerUsername",
        "`[turn] enabled = true` (credentials from its secret, never in the stack file)",
    ),
    (
        "turnServerCredential",
        "`[turn] enabled = true` (credentials from its secret, never in the stack file)",
    ),
];

/// Application settings and server properties that hold secrets: in the stack file they would
/// be in the launch templates' user data and the state in clear. Set in AMS's panel instead.
const SECRETS: &[&str] = &[
    "jwtSecretKey",
    "jwtStreamSecretKey",
    "timeTokenSecretForPublish",
    "timeTokenSecretForPlay",
    "tokenHashSecret",
    "clusterCommunicationKey",
    "apnPrivateKey",
    "firebaseAccountKeyJSON",
    "rtmps.keystorepass",
    "rtmps.truststorepass",
    "jmx.keystorepass",
];

/// What a secret's name is refused with.
const SECRET_WHY: &str = "a secret: written here it would be in the launch templates' user data and the state in clear (set it in AMS's panel, which keeps it in MongoDB)";

/// Server properties ams-stack sets itself, or that the load balancers depend on.
const MANAGED_PROPERTIES: &[(&str, &str)] = &[
    (
        "server.allowed_dashboard_CIDR",
        "set from `[network] admin_cidr`",
    ),
    (
        "server.jwtServerSecretKey",
        "made at random on each node at boot",
    ),
    (
        "server.licence_key",
        "`[license] key_parameter` (the key stays in SSM)",
    ),
    ("clusterdb.host", "set when the node joins the cluster"),
    ("clusterdb.user", "set when the node joins the cluster"),
    ("clusterdb.password", "set when the node joins the cluster"),
    ("http.port", "the load balancers reach AMS on 5080"),
    (
        "rtmp.port",
        "the ingest load balancer reaches AMS's RTMP on 1935",
    ),
    (
        "server.srt_port",
        "the ingest load balancer reaches AMS's SRT on 4200",
    ),
    (
        "useGlobalIp",
        "change_server_mode.sh sets it false when the node joins the cluster (nodes reach each other at their private addresses)",
    ),
];

/// The nearest of `known` to `name`, when close enough to be a slip.
fn near<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    known
        .map(|k| {
            (
                strsim::levenshtein(&k.to_lowercase(), &name.to_lowercase()),
                k,
            )
        })
        .filter(|(d, _)| *d <= 3.max(name.len() / 4))
        .min()
        .map(|(_, k)| k)
}

impl SourceFile<'_> {
    pub(super) fn node_settings(
        &self,
        server: Option<&RawServer>,
        apps: Option<&BTreeMap<Spanned<String>, RawApp>>,
        license: Option<&RawLicense>,
    ) -> Result<NodeSettings, ConfigError> {
        let mut settings = NodeSettings::default();
        if let Some(server) = server {
            for (key, value) in server.properties.iter().flatten() {
                settings
                    .properties
                    .insert(key.get_ref().clone(), self.property(key, value)?);
            }
            for raw in server.plugins.iter().flatten() {
                let plugin = self.plugin(raw)?;
                if settings.plugins.iter().any(|p| p.file == plugin.file) {
                    return Err(self.error(
                        "server.plugins",
                        raw,
                        format!("two plugins would both be saved as `{}`", plugin.file),
                    ));
                }
                settings.plugins.push(plugin);
            }
        }
        for (app, raw) in apps.into_iter().flatten() {
            let name = app.get_ref();
            let valid = name.len() <= 64
                && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && name.chars().all(|c| c.is_ascii_alphanumeric());
            if !valid || name == "root" {
                return Err(self.error(
                    &format!("app.{name}"),
                    app,
                    "an AMS application's name is letters and digits (starting with a letter), not `root`",
                ));
            }
            let mut values = BTreeMap::new();
            for (key, value) in raw.settings.iter().flatten() {
                values.insert(key.get_ref().clone(), self.app_setting(name, key, value)?);
            }
            settings.apps.insert(name.clone(), values);
        }
        if let Some(license) = license {
            let path = &license.key_parameter;
            let valid = path.get_ref().starts_with('/')
                && path.get_ref().len() <= 2048
                && path
                    .get_ref()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/_.-".contains(c));
            if !valid {
                return Err(self.error(
                    "license.key_parameter",
                    path,
                    "an SSM parameter name like /ams/license-key (letters, digits, / _ . -)",
                ));
            }
            settings.license_parameter = Some(path.get_ref().clone());
        }
        Ok(settings)
    }

    /// A `[server] properties` line: a known key ams-stack leaves to the user, one line of text.
    fn property(
        &self,
        key: &Spanned<String>,
        value: &Spanned<toml::Value>,
    ) -> Result<String, ConfigError> {
        let name = key.get_ref();
        let at = format!("server.properties.{name}");
        if let Some((_, why)) = MANAGED_PROPERTIES.iter().find(|(k, _)| k == name) {
            return Err(self.error(&at, key, format!("`{name}` is ams-stack's to set: {why}")));
        }
        if SECRETS.contains(&name.as_str()) {
            return Err(self.error(&at, key, format!("`{name}` is {SECRET_WHY}")));
        }
        if !SERVER_PROPERTIES.contains(&name.as_str()) {
            let hint = near(name, SERVER_PROPERTIES.iter().copied())
                .map(|k| format!(" (did you mean `{k}`?)"))
                .unwrap_or_default();
            return Err(self.error(
                &at,
                key,
                format!("`{name}` is not a property of AMS's conf/red5.properties{hint}"),
            ));
        }
        let text = match value.get_ref() {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => {
                return Err(self.error(
                    &at,
                    value,
                    "a property is a string, a number or true/false",
                ))
            }
        };
        if text.chars().any(char::is_control) {
            return Err(self.error(&at, value, "a property is one line of text"));
        }
        if text.contains('\\') {
            return Err(self.error(
                &at,
                value,
                "a backslash is an escape to AMS's properties reader (Java's): not taken",
            ));
        }
        Ok(text)
    }

    /// An `[app.NAME] settings` entry: a setting AMS knows, with a value of its type.
    fn app_setting(
        &self,
        app: &str,
        key: &Spanned<String>,
        value: &Spanned<toml::Value>,
    ) -> Result<Json, ConfigError> {
        let name = key.get_ref();
        let at = format!("app.{app}.settings.{name}");
        if let Some((_, why)) = MANAGED_SETTINGS.iter().find(|(k, _)| k == name) {
            return Err(self.error(&at, key, format!("`{name}` is ams-stack's to set: {why}")));
        }
        if SECRETS.contains(&name.as_str()) {
            return Err(self.error(&at, key, format!("`{name}` is {SECRET_WHY}")));
        }
        let Some((_, kind)) = APP_SETTINGS.iter().find(|(k, _)| k == name) else {
            let hint = near(name, APP_SETTINGS.iter().map(|(k, _)| *k))
                .map(|k| format!(" (did you mean `{k}`?)"))
                .unwrap_or_default();
            return Err(self.error(
                &at,
                key,
                format!("AMS has no application setting `{name}`{hint}; AMS would ignore it"),
            ));
        };
        let json = to_json(value.get_ref());
        let fits = matches!(
            (kind, value.get_ref()),
            (Type::Bool, toml::Value::Boolean(_))
                | (Type::Integer, toml::Value::Integer(_))
                | (
                    Type::Number,
                    toml::Value::Integer(_) | toml::Value::Float(_)
                )
                | (Type::Text, toml::Value::String(_))
                | (Type::Table, toml::Value::Table(_))
        );
        match json {
            Some(json) if fits => Ok(json),
            _ => Err(self.error(
                &at,
                value,
                format!(
                    "`{name}` takes {}",
                    match kind {
                        Type::Bool => "true or false",
                        Type::Integer => "a whole number",
                        Type::Number => "a number",
                        Type::Text => "a string",
                        Type::Table => "a table",
                    }
                ),
            )),
        }
    }

    fn plugin(&self, raw: &Spanned<super::raw::RawPlugin>) -> Result<Plugin, ConfigError> {
        let plugin = raw.get_ref();
        let url = plugin.url.get_ref();
        let file = url
            .strip_prefix("https://")
            // Printable ASCII without spaces, quotes, a query or a fragment: a line of the boot
            // script holds it.
            .filter(|rest| {
                rest.contains('/')
                    && rest.chars().all(|c| c.is_ascii_graphic())
                    && !rest.contains(['?', '#', '"', '\'', '\\', '`', '$'])
            })
            .and_then(|rest| rest.rsplit('/').next())
            .filter(|file| {
                file.ends_with(".jar")
                    && file.len() > 4
                    && file
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            });
        let Some(file) = file else {
            return Err(self.error(
                "server.plugins.url",
                &plugin.url,
                "a plugin is an https:// URL ending in the jar's file name (letters, digits, . _ -), without a query",
            ));
        };
        let sha256 = plugin.sha256.get_ref().to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(self.error(
                "server.plugins.sha256",
                &plugin.sha256,
                "the jar's SHA-256: 64 hexadecimal digits (`sha256sum FILE.jar`)",
            ));
        }
        Ok(Plugin {
            url: url.clone(),
            sha256,
            file: file.to_string(),
        })
    }
}

/// A TOML value as JSON; `None` for a date, which no AMS setting takes.
fn to_json(value: &toml::Value) -> Option<Json> {
    Some(match value {
        toml::Value::String(s) => Json::String(s.clone()),
        toml::Value::Integer(i) => Json::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map(Json::Number)?,
        toml::Value::Boolean(b) => Json::Bool(*b),
        toml::Value::Array(items) => Json::Array(items.iter().map(to_json).collect::<Option<_>>()?),
        toml::Value::Table(table) => Json::Object(
            table
                .iter()
                .map(|(k, v)| Some((k.clone(), to_json(v)?)))
                .collect::<Option<_>>()?,
        ),
        toml::Value::Datetime(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use crate::config::parse;

    fn local_with(extra: &str) -> Result<crate::config::StackConfig, String> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/local.toml");
        let text = std::fs::read_to_string(&path).expect("local stack") + extra;
        parse("t", Path::new("stacks/t.toml"), &text).map_err(|e| e.to_string())
    }

    const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789ABCDEF";

    #[test]
    fn settings_properties_plugins_and_the_licence_are_read_with_their_types() {
        let config = local_with(&format!(
            r#"
[server]
properties = {{ "server.cpu_limit" = 80, "server.name" = "ams-1" }}
plugins = [{{ url = "https://plugins.example.com/v2/filter-plugin.jar", sha256 = "{SHA}" }}]

[app.WebRTCAppEE]
settings = {{ mp4MuxingEnabled = true, webRTCPortRangeMin = 50000, customSettings = {{ "plugin.x" = {{ on = true }} }} }}

[app.Classroom]
settings = {{ hlsMuxingEnabled = false }}

[license]
key_parameter = "/ams/license-key"
"#
        ))
        .expect("valid");
        let settings = &config.node_settings;
        assert_eq!(settings.properties["server.cpu_limit"], "80");
        assert_eq!(settings.properties["server.name"], "ams-1");
        assert_eq!(settings.plugins.len(), 1);
        assert_eq!(settings.plugins[0].file, "filter-plugin.jar");
        assert_eq!(settings.plugins[0].sha256, SHA.to_ascii_lowercase());
        let app = &settings.apps["WebRTCAppEE"];
        assert_eq!(app["mp4MuxingEnabled"], json!(true));
        assert_eq!(app["webRTCPortRangeMin"], json!(50000));
        assert_eq!(app["customSettings"], json!({"plugin.x": {"on": true}}));
        assert_eq!(settings.apps["Classroom"]["hlsMuxingEnabled"], json!(false));
        assert_eq!(
            settings.license_parameter.as_deref(),
            Some("/ams/license-key")
        );
    }

    #[test]
    fn an_unknown_setting_is_refused_at_its_line_with_the_nearest_name() {
        let error = local_with("\n[app.WebRTCAppEE]\nsettings = { mp4MuxingEnable = true }\n")
            .expect_err("refused");
        assert!(
            error.contains("`app.WebRTCAppEE.settings.mp4MuxingEnable`")
                && error.contains("did you mean `mp4MuxingEnabled`?")
                && error.contains("AMS would ignore it"),
            "{error}"
        );
        assert!(error.starts_with("stacks/t.toml:"), "{error}");
        let error = local_with("\n[server]\nproperties = { \"server.cpu_limt\" = 70 }\n")
            .expect_err("refused");
        assert!(
            error.contains("did you mean `server.cpu_limit`?"),
            "{error}"
        );
    }

    #[test]
    fn wrong_types_managed_names_and_bad_plugins_are_refused_saying_why() {
        for (extra, said) in [
            (
                "\n[app.WebRTCAppEE]\nsettings = { mp4MuxingEnabled = \"yes\" }\n",
                "takes true or false",
            ),
            (
                "\n[app.WebRTCAppEE]\nsettings = { s3AccessKey = \"AKIA\" }\n",
                "no access key anywhere",
            ),
            (
                "\n[app.WebRTCAppEE]\nsettings = { turnServerCredential = \"x\" }\n",
                "[turn] enabled = true",
            ),
            (
                "\n[app.root]\nsettings = {}\n",
                "letters and digits",
            ),
            (
                "\n[server]\nproperties = { \"server.licence_key\" = \"x\" }\n",
                "[license] key_parameter",
            ),
            (
                "\n[server]\nproperties = { \"http.port\" = 8080 }\n",
                "5080",
            ),
            (
                &format!("\n[server]\nplugins = [{{ url = \"http://x.example.com/a.jar\", sha256 = \"{SHA}\" }}]\n"),
                "https:// URL",
            ),
            (
                "\n[server]\nplugins = [{ url = \"https://x.example.com/a.jar\", sha256 = \"abc\" }]\n",
                "64 hexadecimal digits",
            ),
            (
                &format!("\n[server]\nplugins = [{{ url = \"https://x.example.com/a.jar\", sha256 = \"{SHA}\" }}, {{ url = \"https://y.example.com/a.jar\", sha256 = \"{SHA}\" }}]\n"),
                "both be saved as `a.jar`",
            ),
            (
                "\n[license]\nkey_parameter = \"ams license\"\n",
                "an SSM parameter name",
            ),
            (
                "\n[app.WebRTCAppEE]\nsettings = { jwtStreamSecretKey = \"s3cret-s3cret\" }\n",
                "a secret: written here it would be in the launch templates' user data",
            ),
            (
                "\n[server]\nproperties = { \"rtmps.keystorepass\" = \"s3cret\" }\n",
                "a secret",
            ),
            (
                "\n[server]\nproperties = { \"useGlobalIp\" = true }\n",
                "change_server_mode.sh sets it false",
            ),
            (
                "\n[server]\nproperties = { \"server.name\" = \"a\\\\u0041\" }\n",
                "a backslash",
            ),
            (
                // A URL that would end the boot script's list of plugins and run what follows.
                &format!("\n[server]\nplugins = [{{ url = \"https://x.example.com/a\\nAMS_END_OF_PLUGINS\\nreboot\\n/b.jar\", sha256 = \"{SHA}\" }}]\n"),
                "https:// URL",
            ),
        ] {
            let error = local_with(extra).expect_err(said);
            assert!(error.contains(said), "{extra}: {error}");
        }
    }

    #[test]
    fn a_recording_storage_class_is_one_read_back_at_once() {
        let config = local_with("\n[recording]\ns3 = true\nstorage_class = \"STANDARD_IA\"\n")
            .expect("valid");
        assert_eq!(
            config.recording.map(|r| r.storage_class).as_deref(),
            Some("STANDARD_IA")
        );
        let error = local_with("\n[recording]\ns3 = true\nstorage_class = \"DEEP_ARCHIVE\"\n")
            .expect_err("refused");
        assert!(
            error.contains("recording.storage_class") && error.contains("GLACIER_IR"),
            "{error}"
        );
    }
}
