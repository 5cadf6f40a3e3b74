//! The OpenAPI document as served, generated: the operations from the handlers' `#[utoipa::path]`
//! attributes, the answers' schemas from their types (utoipa), and the event contract's JSON
//! Schemas (`events/*.schema.json`) bundled into its components — so that the document is whole
//! (no reference leads outside it) and a client generator sees every operation (`POST /events`
//! included) with the event types it takes. A copy is kept in `events/openapi.json` for readers
//! of the repository; a test holds it equal to what is served.

use serde::Serialize;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::OnceLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{ToResponse, ToSchema};

/// An RFC 9457 problem (`application/problem+json`); `problems` lists every refused line of a
/// batch.
#[derive(Serialize, ToSchema)]
pub struct Error {
    /// RFC 9457: a URI naming the kind of problem (about:blank: the status says it).
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    pub status: u16,
    /// What is wrong, and what to do.
    pub detail: String,
    /// The same text as detail (kept for clients written before RFC 9457).
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problems: Option<Vec<RefusedLine>>,
}

/// A line of a batch refused: which line, which field, the value and the rule it breaks.
#[derive(Serialize, ToSchema)]
pub struct RefusedLine {
    /// 1-based; null for what concerns the batch as a whole.
    pub line: Option<usize>,
    pub field: String,
    pub value: String,
    /// The rule's code, e.g. `amount_decimals`.
    pub rule: String,
    pub message: String,
}

/// A malformed parameter.
#[derive(ToResponse)]
#[response(description = "a malformed parameter", content_type = "application/problem+json")]
pub struct BadRequest(#[allow(dead_code)] Error);

/// No valid bearer token (`WWW-Authenticate: Bearer`).
#[derive(ToResponse)]
#[response(description = "no valid bearer token", content_type = "application/problem+json")]
pub struct Unauthorized(#[allow(dead_code)] Error);

/// The user's role or förbund may not do this.
#[derive(ToResponse)]
#[response(description = "the user's role or förbund may not do this", content_type = "application/problem+json")]
pub struct Forbidden(#[allow(dead_code)] Error);

/// No such förbund, budget year or account.
#[derive(ToResponse)]
#[response(description = "no such förbund, budget year or account", content_type = "application/problem+json")]
pub struct NotFound(#[allow(dead_code)] Error);

/// How a report of a förbund's books may be refused (every `GET …/forbund/{id}/…`).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum ReportRefusals {
    #[response(status = 400)]
    BadRequest(#[ref_response] BadRequest),
    #[response(status = 401)]
    Unauthorized(#[ref_response] Unauthorized),
    #[response(status = 403)]
    Forbidden(#[ref_response] Forbidden),
    #[response(status = 404)]
    NotFound(#[ref_response] NotFound),
}

/// How a request for the whole store (admin, revisor) may be refused.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum AuditRefusals {
    #[response(status = 401)]
    Unauthorized(#[ref_response] Unauthorized),
    #[response(status = 403)]
    Forbidden(#[ref_response] Forbidden),
}

/// An event of the contract: its schema is the contract's `event.schema.json`, bundled as the
/// component `Event` (this type only names it).
pub struct EventRef;

impl utoipa::PartialSchema for EventRef {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::Ref::from_schema_name("Event").into()
    }
}

impl ToSchema for EventRef {
    fn name() -> Cow<'static, str> {
        "Event".into()
    }
}

/// One Server-Sent Event per envelope.
#[derive(Serialize, ToSchema)]
pub struct ServerSentEvent {
    /// The envelope's seq.
    #[schema(pattern = "^[0-9]+$")]
    pub id: Option<String>,
    pub event: Option<String>,
    /// The envelope as one JSON line.
    pub data: String,
}

/// `GET /healthz`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    pub ok: bool,
    /// The seq of the last durable event.
    pub head: u64,
    /// Why nothing more is recorded (a failed fdatasync, or damage the background scrub found).
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

/// The API: every operation (from the handlers' attributes) and the components they use.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "finsam",
        version = "1",
        description = "The JSON API of `finsam serve`: the decisions and money of Finsam förbund as an append-only, hash-chained event log, and the reports computed from it. Every request but /healthz, /metrics, this document and the schemas carries `Authorization: Bearer TOKEN` (`finsam user add`); every request is written to the hash-chained access log. Reports give exactly the JSON of the CLI's `--format json`. Errors are RFC 9457 problems (`application/problem+json`)."
    ),
    servers((url = "http://127.0.0.1:8080")),
    tags(
        (name = "log", description = "The event log: record a batch, read it, follow it"),
        (name = "books", description = "A förbund's books and budget, replayed to any date"),
        (name = "audit", description = "For revisorer: the trail, the chain verified, the head"),
        (name = "exports", description = "SIE 4, the journal and the revisor's bundle"),
        (name = "service", description = "The service itself: health, metrics, this document"),
    ),
    security(("bearer" = [])),
    modifiers(&Bearer),
    paths(
        crate::healthz,
        crate::metrics,
        crate::openapi,
        crate::schema,
        crate::events,
        crate::log,
        crate::subscribe,
        crate::balances,
        crate::budget,
        crate::trail,
        crate::explain,
        crate::export_sie,
        crate::export_journal,
        crate::export_beancount,
        crate::bundle,
        crate::reconcile,
        crate::verify,
        crate::digest,
    ),
    components(responses(BadRequest, Unauthorized, Forbidden, NotFound))
)]
struct Api;

/// The security scheme the document's `security` names.
struct Bearer;

impl utoipa::Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .security_schemes
            .insert("bearer".into(), SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

/// The bundled document, made once.
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let doc = serde_json::to_value(<Api as utoipa::OpenApi>::openapi()).expect("the document serialises");
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
    let schemas = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
        .expect("the document has components.schemas");
    for (name, schema) in added {
        // A type that only names a schema file's component (`EventRef`) is a reference to itself.
        let placeholder = schemas
            .get(&name)
            .is_some_and(|s| s.get("$ref").and_then(Value::as_str) == Some(&format!("#/components/schemas/{name}")));
        assert!(
            !schemas.contains_key(&name) || placeholder,
            "the component {name} is both a schema file's and a type's"
        );
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
