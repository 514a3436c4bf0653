//! Records a stack must not overwrite: a record at one of the stack's names that the stack did
//! not make. [`conflicts`] finds them before anything is created (the preview calls it); the
//! Record kind refuses them again when it creates (see [`super::record`]).

use std::fmt;

use serde_json::Value as Json;

use ams_engine::state::State;
use ams_engine::{resolve_with, view, Program, ProviderError};

use super::listed::{fqdn, records_at, Held, Listed};
use super::record::Record;
use crate::Aws;

/// The code of the error that refuses to overwrite a record the stack did not make.
pub const RECORD_EXISTS: &str = "RecordExists";

/// A record the stack would clash with: its name, type and what it holds now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub name: String,
    pub record_type: String,
    pub held: Held,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Said letter by letter, most record types begin with a vowel sound ("an MX record").
        let article = match self.record_type.chars().next() {
            Some(c) if "AEFHILMNORSX".contains(c) => "an",
            _ => "a",
        };
        write!(
            f,
            "route53: {} already has {article} {} record -> {} that this stack did not make; \
             delete it or choose another [dns] domain",
            self.name, self.record_type, self.held
        )
    }
}

impl Conflict {
    /// The error a step fails with when it meets this record (final: waiting does not mend it).
    pub fn error(&self) -> ProviderError {
        ProviderError {
            code: Some(RECORD_EXISTS.to_string()),
            message: self.to_string(),
        }
    }
}

/// One record the stack wants: its zone, name and type, and every (type, value) at that name
/// that counts as the stack's own (what it declares, what its state says it made).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub zone_id: String,
    pub name: String,
    pub record_type: String,
    pub ours: Vec<(String, Held)>,
}

impl Claim {
    /// The records among `listed` that this claim clashes with and that are not the stack's:
    /// one of the same type, any record beside a CNAME, a CNAME beside any record.
    pub fn clashes(&self, listed: &[Listed]) -> Vec<Conflict> {
        listed
            .iter()
            .filter(|r| r.is_at(&self.name))
            .filter(|r| {
                r.kind == self.record_type || r.kind == "CNAME" || self.record_type == "CNAME"
            })
            .filter(|r| {
                !self
                    .ours
                    .iter()
                    .any(|(kind, held)| *kind == r.kind && held.same(&r.held))
            })
            .map(|r| Conflict {
                name: r.name.clone(),
                record_type: r.kind.clone(),
                held: r.held.clone(),
            })
            .collect()
    }
}

/// Every record in the zones of `program`'s records (those that never take over an existing
/// record: `upsert` false) that the stack would clash with and did not make, per the state.
/// Reads only; one listing per record name.
pub async fn conflicts(
    aws: &Aws,
    program: &Program,
    state: &State,
) -> Result<Vec<Conflict>, ProviderError> {
    let mut found = Vec::new();
    for claim in claims(program, state) {
        let listed = records_at(aws, &claim.zone_id, &claim.name).await?;
        found.extend(claim.clashes(&listed));
    }
    Ok(found)
}

/// What `program`'s records claim, with the values its state knows as its own. A record whose
/// name is not known yet is left out (its create checks it).
pub fn claims(program: &Program, state: &State) -> Vec<Claim> {
    let outputs = |resource: &str, key: &str| -> Option<Json> {
        state
            .get(resource)
            .and_then(|r| r.outputs.get(key).cloned())
    };
    let made: Vec<(String, String, Held)> = state
        .resources
        .iter()
        .chain(&state.pending_deletes)
        .map(|r| (&r.type_name, &r.inputs))
        .chain(state.pending.iter().map(|p| (&p.type_name, &p.inputs)))
        .filter_map(|(type_name, inputs)| view::<Record>(type_name, inputs)?.holds())
        .collect();
    program
        .resources()
        .iter()
        .filter(|declared| declared.view::<Record>().is_some_and(|r| !r.upsert))
        .filter_map(|declared| {
            let resolved = resolve_with(&declared.args, &outputs);
            let text = |key: &str| resolved.get(key).and_then(Json::as_str).map(String::from);
            let name = fqdn(&text("name")?);
            let record_type = text("type")?;
            let wanted = serde_json::from_value::<Record>(resolved.clone())
                .ok()
                .and_then(|r| r.holds());
            let ours = made
                .iter()
                .filter(|(at, _, _)| super::listed::same_name(at, &name))
                .map(|(_, kind, held)| (kind.clone(), held.clone()))
                .chain(wanted.map(|(_, kind, held)| (kind, held)))
                .collect();
            Some(Claim {
                zone_id: text("zone_id")?,
                name,
                record_type,
                ours,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ams_engine::state::ResourceState;
    use ams_engine::Kind;
    use serde_json::json;

    fn listed(name: &str, kind: &str, value: &str) -> Listed {
        Listed {
            name: name.into(),
            kind: kind.into(),
            held: Held::Values(vec![value.into()]),
        }
    }

    fn claim(kind: &str, ours: &[(&str, &str)]) -> Claim {
        Claim {
            zone_id: "Z1".into(),
            name: "stream.example.com.".into(),
            record_type: kind.into(),
            ours: ours
                .iter()
                .map(|(k, v)| (k.to_string(), Held::Values(vec![v.to_string()])))
                .collect(),
        }
    }

    #[test]
    fn a_foreign_cname_at_the_name_is_a_conflict_named_with_its_value() {
        let zone = [
            listed("example.com.", "NS", "ns-1.example.net."),
            listed("stream.example.com.", "CNAME", "old.example.net."),
            listed("other.example.com.", "CNAME", "x.example.net."),
        ];
        let found = claim("CNAME", &[("CNAME", "lb-1.elb.amazonaws.com")]).clashes(&zone);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].to_string(),
            "route53: stream.example.com. already has a CNAME record -> old.example.net. that \
             this stack did not make; delete it or choose another [dns] domain"
        );
        assert_eq!(found[0].error().code.as_deref(), Some(RECORD_EXISTS));
    }

    #[test]
    fn a_record_holding_our_value_is_no_conflict() {
        let zone = [listed(
            "Stream.Example.com.",
            "CNAME",
            "LB-1.elb.amazonaws.com.",
        )];
        assert!(claim("CNAME", &[("CNAME", "lb-1.elb.amazonaws.com")])
            .clashes(&zone)
            .is_empty());
        // The same value under another type is not ours.
        assert_eq!(
            claim("A", &[("A", "lb-1.elb.amazonaws.com")])
                .clashes(&zone)
                .len(),
            1
        );
    }

    #[test]
    fn a_cname_clashes_with_anything_and_an_alias_only_with_a_cname_or_its_type() {
        let apex = [
            listed("stream.example.com.", "NS", "ns-1.example.net."),
            listed(
                "stream.example.com.",
                "SOA",
                "ns-1.example.net. hostmaster 1",
            ),
            listed("stream.example.com.", "MX", "10 mail.example.com."),
        ];
        assert!(claim("A", &[]).clashes(&apex).is_empty());
        assert_eq!(claim("CNAME", &[]).clashes(&apex).len(), 3);
        let address = [listed("stream.example.com.", "A", "192.0.2.1")];
        let found = claim("A", &[]).clashes(&address);
        assert_eq!(
            found[0].to_string(),
            "route53: stream.example.com. already has an A record -> 192.0.2.1 that this stack \
             did not make; delete it or choose another [dns] domain"
        );
        assert!(claim("AAAA", &[]).clashes(&address).is_empty());
    }

    fn record(name: &str, value: Json, upsert: bool) -> Json {
        json!({"zone_id": "Z1", "name": name, "type": "CNAME", "ttl": 300,
               "value": value, "upsert": upsert})
    }

    #[test]
    fn claims_take_the_stack_records_and_what_the_state_says_they_hold() {
        let mut program = Program::new();
        let lb = json!({"$ref": {"resource": "alb", "output": "dns_name"}});
        let declare = |program: &mut Program, name: &str, args: Json| {
            let record: Record = serde_json::from_value(args).expect("a record");
            program.add(name, record).expect("declared");
        };
        declare(
            &mut program,
            "dns-record",
            record("stream.example.com", lb.clone(), false),
        );
        declare(
            &mut program,
            "validation",
            record("_x.example.com", json!("_y.acm"), true),
        );
        let mut state = State::empty("local");
        // Nothing made yet: the load balancer's name is not known, so nothing is ours.
        let fresh = claims(&program, &state);
        assert_eq!(fresh.len(), 1, "upsert records are not checked: {fresh:?}");
        assert_eq!(fresh[0].name, "stream.example.com.");
        assert!(fresh[0].ours.is_empty(), "{fresh:?}");
        // The load balancer exists and the state holds an older record value.
        state.upsert(ResourceState {
            name: "alb".into(),
            type_name: "aws:elbv2:LoadBalancer".into(),
            id: "arn".into(),
            inputs: json!({}),
            outputs: json!({"dns_name": "lb-2.elb.amazonaws.com"}),
            dependencies: vec![],
        });
        state.upsert(ResourceState {
            name: "dns-record".into(),
            type_name: Record::TYPE.into(),
            id: "Z1/stream.example.com./CNAME".into(),
            inputs: record("stream.example.com", json!("lb-1.elb.amazonaws.com"), false),
            outputs: json!({"fqdn": "stream.example.com."}),
            dependencies: vec!["alb".into()],
        });
        let known = claims(&program, &state);
        let values: Vec<String> = known[0].ours.iter().map(|(_, h)| h.to_string()).collect();
        assert_eq!(values, ["lb-1.elb.amazonaws.com", "lb-2.elb.amazonaws.com"]);
    }
}
