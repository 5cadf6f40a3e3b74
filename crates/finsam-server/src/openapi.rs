//! The OpenAPI document as served: `events/openapi.json` with the event contract's JSON Schemas
//! (`events/*.schema.json`) bundled into its components, so that the document is whole — no
//! reference leads outside it, and a client generator sees every operation (`POST /events`
//! included) with the event types it takes.

use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::OnceLock;
use utoipa::ToSchema;

/// `GET /healthz`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    pub ok: bool,
    /// The seq of the last durable event.
    pub head: u64,
    /// Why nothing more is acknowledged (after a failed fdatasync).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// One problem `GET /api/v1/audit/verify` found: at which seq, and what.
#[derive(Serialize, ToSchema)]
pub struct Problem {
    pub at: u64,
    pub problem: String,
}

/// The access log's chain, checked.
#[derive(Serialize, ToSchema)]
pub struct AccessLogCheck {
    pub lines: u64,
    pub head: String,
    pub problem: Option<String>,
}

/// `GET /api/v1/audit/verify`: the event log's chain, rules and derived state, and the access
/// log's chain.
#[derive(Serialize, ToSchema)]
pub struct Verification {
    pub ok: bool,
    pub events: u64,
    pub head: finsam_app::answers::Head,
    pub problems: Vec<Problem>,
    pub access_log: AccessLogCheck,
}

/// The answers whose schemas are derived from their types.
#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(
    finsam_app::answers::Head,
    finsam_app::answers::Recorded,
    finsam_app::answers::RecordedLine,
    finsam_app::answers::WarningLine,
    finsam_app::answers::Balances,
    finsam_app::answers::AccountBalance,
    finsam_app::answers::TrailRow,
    finsam_app::answers::MinutedDecision,
    finsam_app::answers::VoucherRef,
    Health,
    Verification,
    Problem,
    AccessLogCheck
)))]
struct Derived;

/// The derived schemas, as the document's components.
fn derived_schemas() -> Map<String, Value> {
    let doc = serde_json::to_value(<Derived as utoipa::OpenApi>::openapi()).expect("the document serialises");
    doc.pointer("/components/schemas").and_then(Value::as_object).cloned().unwrap_or_default()
}

/// The bundled document, made once.
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let doc: Value = serde_json::from_str(include_str!("../../../events/openapi.json"))
            .expect("events/openapi.json is JSON (a test holds it)");
        let schemas = finsam_app::audit::BUNDLED
            .iter()
            .filter_map(|(path, text)| Some((path.strip_prefix("events/")?.strip_suffix(".schema.json")?, *text)));
        let bundled = bundle(doc, schemas);
        format!("{}\n", serde_json::to_string_pretty(&bundled).expect("a JSON value serialises"))
    })
}

/// A component's name for a schema file or one of `common`'s definitions: `event` → `Event`,
/// `amount_positive` → `AmountPositive`.
fn component(name: &str) -> String {
    name.split('_')
        .map(|part| {
            let mut c = part.chars();
            c.next().map_or(String::new(), |first| first.to_uppercase().chain(c).collect())
        })
        .collect()
}

/// Where a reference inside a schema file points once the files are components.
fn rewrite(reference: &str) -> Option<String> {
    let to = |name: &str| Some(format!("#/components/schemas/{}", component(name)));
    if let Some(def) =
        reference.strip_prefix("common.schema.json#/$defs/").or_else(|| reference.strip_prefix("#/$defs/"))
    {
        return to(def);
    }
    reference.strip_suffix(".schema.json").and_then(to)
}

/// Rewrites every `$ref` below `value` (and drops `$schema` and `$id`, which belong to files).
fn relink(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("$schema");
            map.remove("$id");
            if let Some(Value::String(reference)) = map.get_mut("$ref") {
                if let Some(local) = rewrite(reference) {
                    *reference = local;
                }
            }
            map.values_mut().for_each(relink);
        }
        Value::Array(items) => items.iter_mut().for_each(relink),
        _ => {}
    }
}

/// The document with the schema files (name without `.schema.json`, text) as components:
/// `common`'s definitions one component each, every other file one component.
fn bundle<'a>(mut doc: Value, files: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    let mut added = Map::new();
    for (name, text) in files {
        let mut schema: Value = serde_json::from_str(text).expect("the bundled schemas are JSON (a test holds it)");
        if name == "common" {
            if let Some(Value::Object(defs)) = schema.get_mut("$defs").map(Value::take) {
                for (def, mut s) in defs {
                    relink(&mut s);
                    added.insert(component(&def), s);
                }
            }
            continue;
        }
        relink(&mut schema);
        added.insert(component(name), schema);
    }
    // Short titles (a client generator names its types after them): the component's name; the
    // file's own title, a sentence, goes before its description.
    for (name, schema) in added.iter_mut() {
        let Some(map) = schema.as_object_mut() else { continue };
        if let Some(Value::String(title)) = map.insert("title".into(), Value::String(name.clone())) {
            let text = match map.get("description").and_then(Value::as_str) {
                Some(d) => format!("{title}. {d}"),
                None => title,
            };
            map.insert("description".into(), Value::String(text));
        }
    }
    for (name, schema) in derived_schemas() {
        let before = added.insert(name.clone(), schema);
        assert!(before.is_none(), "the component {name} is both a schema file's and a type's");
    }
    let schemas = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
        .expect("the document has components.schemas");
    for (name, schema) in added {
        assert!(!schemas.contains_key(&name), "the component {name} is defined twice");
        schemas.insert(name, schema);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every reference in the served document points into it, and to a component it has.
    #[test]
    fn the_served_document_is_whole() {
        let doc: Value = serde_json::from_str(document()).unwrap();
        let mut refs = Vec::new();
        fn collect(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        out.push(r.clone());
                    }
                    m.values().for_each(|x| collect(x, out));
                }
                Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
                _ => {}
            }
        }
        collect(&doc, &mut refs);
        assert!(refs.len() > 100, "{} references", refs.len());
        for r in refs {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("{r} leads outside the document"));
            assert!(doc.pointer(pointer).is_some(), "{r} points at nothing");
        }
        for name in ["Event", "ContributionReceived", "Amount", "Slug", "Recorded", "Balances"] {
            assert!(doc.pointer(&format!("/components/schemas/{name}")).is_some(), "{name}");
        }
        // Every operation has an id.
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                assert!(op["operationId"].is_string(), "{method} {path}");
            }
        }
    }
}
