//! The JSON Schemas in events/ agree with the contract: every fixture, every README example
//! and every envelope the store writes validates; events the contract refuses are refused by
//! the schemas too, so the schemas are not vacuous.

use crate::support::*;
use serde_json::{json, Value};

const BASE: &str = "https://finsam.example/events/";

struct Schemas {
    schemas: boon::Schemas,
    event: boon::SchemaIndex,
    envelope: boon::SchemaIndex,
}

fn schemas() -> Schemas {
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    let dir = root().join("events");
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).expect("events/ exists") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".schema.json") {
            continue;
        }
        let value: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).expect("schema files are JSON");
        assert_eq!(value["$id"], format!("{BASE}{name}"), "{name} names itself in $id");
        compiler.add_resource(&format!("{BASE}{name}"), value).expect("schema loads");
        files += 1;
    }
    let types = finsam_domain::EventKind::TYPES.len();
    assert_eq!(files, types + 3, "one schema per type ({types}), the shared definitions, the union and the envelope");
    let mut schemas = boon::Schemas::new();
    let event = compiler.compile(&format!("{BASE}event.schema.json"), &mut schemas).expect("event schema compiles");
    let envelope =
        compiler.compile(&format!("{BASE}envelope.schema.json"), &mut schemas).expect("envelope schema compiles");
    Schemas { schemas, event, envelope }
}

impl Schemas {
    fn check_event(&self, v: &Value) -> Result<(), String> {
        self.schemas.validate(v, self.event).map_err(|e| format!("{e:#}"))
    }
}

#[test]
fn there_is_one_schema_per_event_type() {
    for t in finsam_types() {
        assert!(root().join("events").join(format!("{t}.schema.json")).is_file(), "events/{t}.schema.json");
    }
}

fn finsam_types() -> Vec<String> {
    // The types as the binary's contract lists them in its refusal of an unknown type.
    let dir = TempDir::new("types");
    let store = store_with(&dir, &[]);
    let o = finsam(&store, &["record", "--as", "t", "-"], r#"{"type":"Nope","forbund":"sf-x","date":"2024-01-01"}"#);
    let err = stderr(&o);
    let list = err.split("known types are ").nth(1).expect("the refusal lists the types");
    list.split(" [rule").next().unwrap().split(", ").map(|s| s.trim().to_string()).collect()
}

#[test]
fn every_fixture_event_validates() {
    let s = schemas();
    let mut n = 0;
    for entry in std::fs::read_dir(root().join("fixtures")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "jsonl") {
            for (i, line) in std::fs::read_to_string(&path).unwrap().lines().enumerate() {
                let v: Value = serde_json::from_str(line).unwrap();
                if let Err(e) = s.check_event(&v) {
                    panic!("{}:{}: {e}", path.display(), i + 1);
                }
                n += 1;
            }
        }
    }
    assert!(n > 100, "checked {n} fixture events");
}

/// The documentation's examples (the README and `docs/`): every line of a ```jsonl block is an
/// event.
#[test]
fn every_readme_example_validates() {
    let s = schemas();
    let mut readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut docs: Vec<_> = std::fs::read_dir(root().join("docs")).unwrap().map(|e| e.unwrap().path()).collect();
    docs.sort();
    for doc in docs.iter().filter(|p| p.extension().is_some_and(|x| x == "md")) {
        readme.push_str(&std::fs::read_to_string(doc).unwrap());
    }
    let mut in_block = false;
    let mut n = 0;
    for line in readme.lines() {
        if line.trim_start().starts_with("```") {
            in_block = line.trim() == "```jsonl";
            continue;
        }
        if in_block && !line.trim().is_empty() {
            let v: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("README example is not JSON: {e}: {line}"));
            s.check_event(&v).unwrap_or_else(|e| panic!("README example: {e}\n{line}"));
            n += 1;
        }
    }
    assert!(n >= 3, "the README has event examples ({n} found)");
}

#[test]
fn every_envelope_the_store_writes_validates() {
    let s = schemas();
    let dir = TempDir::new("envelopes");
    let store = fixture_store(&dir);
    for line in String::from_utf8(log_bytes(&store)).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        s.schemas.validate(&v, s.envelope).unwrap_or_else(|e| panic!("{e:#}\n{line}"));
    }
}

#[test]
fn events_the_contract_refuses_fail_the_schemas_too() {
    let s = schemas();
    let good = json!({"type": "ContributionReceived", "forbund": "sf-vastmanland", "date": "2024-01-31",
        "member": "sala", "year": 2024, "amount": "97632.75", "reference": "Q1"});
    s.check_event(&good).expect("the good event validates");
    type Mutation = Box<dyn Fn(&mut Value)>;
    let mutations: Vec<(&str, Mutation)> = vec![
        ("float amount", Box::new(|v| v["amount"] = json!(97632.75))),
        ("three decimals", Box::new(|v| v["amount"] = json!("1.234"))),
        ("exponent", Box::new(|v| v["amount"] = json!("1e9"))),
        ("zero amount", Box::new(|v| v["amount"] = json!("0"))),
        ("negative amount", Box::new(|v| v["amount"] = json!("-5"))),
        ("leading zero", Box::new(|v| v["amount"] = json!("007"))),
        ("unknown field", Box::new(|v| v["amuont"] = json!("5"))),
        (
            "missing field",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("reference");
            }),
        ),
        ("unknown type", Box::new(|v| v["type"] = json!("ContributionReceivd"))),
        ("bad month", Box::new(|v| v["date"] = json!("2024-13-01"))),
        ("year out of range", Box::new(|v| v["year"] = json!(1899))),
        ("year as string", Box::new(|v| v["year"] = json!("2024"))),
        ("bad slug", Box::new(|v| v["member"] = json!("Sala Kommun"))),
    ];
    for (what, mutate) in mutations {
        let mut bad = good.clone();
        mutate(&mut bad);
        assert!(s.check_event(&bad).is_err(), "the schema refuses: {what}");
        assert!(finsam_domain::Event::from_json(&bad).is_err(), "the contract refuses: {what}");
    }
}
