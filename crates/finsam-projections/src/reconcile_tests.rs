//! The reconciliation on a merger invented for the test: clean, nothing fires; with one fault
//! per check, each check fires exactly once — two of them on a single öre.

use crate::reconcile::{needs_events, reconcile, Options, Severity, CHECKS};
use crate::reports::At;
use crate::tests::project;
use chrono::NaiveDate;
use finsam_domain::{Event, Slug};
use serde_json::{json, Value};

fn d(body: &str, date: &str) -> Value {
    json!({"body": body, "date": date})
}

fn members(with_k2: bool) -> Value {
    let mut m = vec![
        json!({"id": "fk", "name": "Försäkringskassan", "kind": "staten", "share": "0.25"}),
        json!({"id": "af", "name": "Arbetsförmedlingen", "kind": "staten", "share": "0.25"}),
        json!({"id": "region", "name": "Regionen", "kind": "region", "share": "0.25"}),
    ];
    if with_k2 {
        m.push(json!({"id": "k1", "name": "Kommun 1", "kind": "kommun", "share": "0.125"}));
        m.push(json!({"id": "k2", "name": "Kommun 2", "kind": "kommun", "share": "0.125"}));
    } else {
        m.push(json!({"id": "k1", "name": "Kommun 1", "kind": "kommun", "share": "0.25"}));
    }
    Value::Array(m)
}

fn contribution(f: &str, date: &str, member: &str, amount: &str) -> Value {
    json!({"type": "ContributionReceived", "forbund": f, "date": date, "member": member, "year": date[..4].parse::<i32>().unwrap(),
        "amount": amount, "reference": "bidrag"})
}

/// Two förbund: sf-gl merges into sf-ny on 2024-01-01. With `faulty`, one fault per check.
fn merger(faulty: bool) -> Vec<Value> {
    let mut e = vec![
        json!({"type": "ForbundRegistered", "forbund": "sf-gl", "date": "2023-01-01", "name": "SF Gamla", "members": members(true)}),
        json!({"type": "OpeningBalanceRecorded", "forbund": "sf-gl", "date": "2023-01-01", "equity": "10000", "bank": "10000"}),
        json!({"type": "InsatsCreated", "forbund": "sf-gl", "date": "2023-01-01", "insats": "gl-team", "name": "Team", "category": "individ", "decision": d("styrelsen", "2022-12-01")}),
        // budget_arithmetic: the stated costs total is one öre off.
        json!({"type": "BudgetAdopted", "forbund": "sf-gl", "date": "2023-01-01", "year": 2023, "decision": d("styrelsen", "2022-12-01"),
            "income": [{"id": "bidrag", "name": "Bidrag", "amount": "100000"}],
            "costs": [{"id": "team", "name": "Team", "category": "individ", "insats": "gl-team", "amount": "90000"}],
            "stated": {"costs_total": if faulty { "90000.01" } else { "90000" }}}),
        // overspend: granted 88 000, spent 89 000.
        json!({"type": "FundingGranted", "forbund": "sf-gl", "date": "2023-01-15", "insats": "gl-team", "year": 2023,
            "amount": if faulty { "88000" } else { "90000" }, "decision": d("styrelsen", "2023-01-15")}),
        contribution("sf-gl", "2023-03-31", "fk", "25000"),
        contribution("sf-gl", "2023-03-31", "af", "25000"),
        contribution("sf-gl", "2023-03-31", "region", "25000"),
        contribution("sf-gl", "2023-03-31", "k1", "12500"),
        contribution("sf-gl", "2023-03-31", "k2", "12500"),
        // equity_ceiling: spending 89 000 leaves 21 000, over 20 % of the 100 000 contributions.
        json!({"type": "CostRecorded", "forbund": "sf-gl", "date": "2023-12-15", "year": 2023, "line": "team",
            "amount": if faulty { "89000" } else { "90000" }, "reference": "F", "text": "teamet 2023"}),
        json!({"type": "YearClosed", "forbund": "sf-gl", "date": "2024-02-01", "year": 2023, "decision": d("styrelsen", "2024-02-01")}),
        // opening_equity: the new förbund forgets Kommun 2.
        json!({"type": "ForbundRegistered", "forbund": "sf-ny", "date": "2023-06-01", "name": "SF Nya", "members": members(!faulty)}),
        // transfer_vs_estimate: estimated 19 000, transferred 20 000.
        json!({"type": "MergerDecided", "forbund": "sf-ny", "date": "2023-06-01", "merging": ["sf-gl"], "effective": "2024-01-01",
            "estimated_transfers": [{"from": "sf-gl", "amount": if faulty { "19000" } else { "20000" }}], "decision": d("interimsstyrelsen", "2023-06-01")}),
        // equity_rollforward: the plan opens with 5 000 that nothing booked or stated before.
        json!({"type": "BudgetAdopted", "forbund": "sf-ny", "date": "2023-12-01", "year": 2024, "decision": d("interimsstyrelsen", "2023-12-01"),
            "income": [{"id": "bidrag", "name": "Bidrag", "amount": "1000000"}],
            "costs": [{"id": "verksamhet", "name": "Verksamhet", "category": "admin", "amount": "950000"}],
            "transfers": [{"from": "sf-gl", "name": "Från SF Gamla", "amount": "20000"}],
            "stated": {"opening_equity": if faulty { "5000" } else { "0" }}}),
        // transfer_vs_books: 20 000 transferred, 21 000 booked.
        json!({"type": "EquityTransferred", "forbund": "sf-ny", "date": "2024-01-01", "from": "sf-gl", "amount": "20000", "reference": "bokslut 2023"}),
        // contribution_split: the region pays one öre more than its share.
        contribution("sf-ny", "2024-03-31", "fk", "250000"),
        contribution("sf-ny", "2024-03-31", "af", "250000"),
        contribution("sf-ny", "2024-03-31", "region", if faulty { "250000.01" } else { "250000" }),
        json!({"type": "CostRecorded", "forbund": "sf-ny", "date": "2024-12-15", "year": 2024, "line": "verksamhet", "amount": "950000", "reference": "F", "text": "verksamheten 2024"}),
    ];
    if faulty {
        e.push(contribution("sf-ny", "2024-03-31", "k1", "250000"));
    } else {
        e.push(contribution("sf-ny", "2024-03-31", "k1", "125000"));
        e.push(contribution("sf-ny", "2024-03-31", "k2", "125000"));
        // missing: in the faulty run the old insats is neither carried nor ended.
        e.push(json!({"type": "InsatsCreated", "forbund": "sf-ny", "date": "2024-01-01", "insats": "ny-team", "name": "Team", "category": "individ",
            "continues": {"forbund": "sf-gl", "insats": "gl-team"}, "decision": d("styrelsen", "2024-01-01")}));
        e.push(json!({"type": "ForbundDissolved", "forbund": "sf-gl", "date": "2024-02-15", "merged_into": "sf-ny", "decision": d("medlemmarna", "2024-02-15")}));
    }
    e
}

fn run(events: &[Value], merger: Option<&str>) -> crate::reconcile::Reconciliation {
    let p = project(events);
    let recorded: Vec<(u64, Event)> =
        events.iter().enumerate().map(|(i, v)| (i as u64 + 1, Event::from_json(v).unwrap())).collect();
    let at = At { as_of: NaiveDate::from_ymd_opt(2024, 12, 31).unwrap(), known_at: p.head };
    reconcile(
        &p,
        &recorded,
        Options { merger: merger.map(|m| Slug::parse(m).unwrap()), forbund: None, at, rules: Default::default() },
    )
    .unwrap()
}

#[test]
fn a_clean_merger_has_no_findings() {
    let r = run(&merger(false), Some("sf-ny"));
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert!(r.ok());
}

#[test]
fn each_check_fires_once_on_a_merger_with_one_fault_per_check() {
    let r = run(&merger(true), Some("sf-ny"));
    let fired: Vec<(&str, &str)> = r.findings.iter().map(|f| (f.check, f.forbund.as_str())).collect();
    let mut expected = vec![
        ("budget_arithmetic", "sf-gl"),
        ("transfer_vs_estimate", "sf-gl"),
        ("transfer_vs_books", "sf-gl"),
        ("overspend", "sf-gl"),
        ("equity_ceiling", "sf-gl"),
        ("missing", "sf-gl"),
        ("equity_rollforward", "sf-ny"),
        // Two faults meet here: the members (Kommun 2 forgotten), and the 20 000 that arrived
        // against the 21 000 sf-gl booked — the transfer_vs_books fault seen from the receiving
        // side, as the new förbund's opening equity.
        ("opening_equity", "sf-ny"),
        ("opening_equity", "sf-ny"),
        // One öre too much from the region: the region's quarter is over by it, and the state's
        // half of the larger total rounds up by it.
        ("contribution_split", "sf-ny"),
        ("contribution_split", "sf-ny"),
    ];
    let order = |c: &str| CHECKS.iter().position(|x| *x == c).unwrap();
    expected.sort_by_key(|(c, f)| (*f, order(c)));
    assert_eq!(fired, expected, "{:#?}", r.findings);
    let by = |check: &str| r.findings.iter().find(|f| f.check == check).unwrap();
    assert_eq!(by("budget_arithmetic").difference.unwrap().text(), "0.01", "a one-öre difference is found");
    let region = r.findings.iter().find(|f| f.subject == "2024: bidrag från regionen").expect("the region's share");
    assert_eq!(region.difference.unwrap().text(), "-0.01", "expected minus paid: one öre too much");
    assert_eq!(region.computed.unwrap().text(), "250000.01");
    assert_eq!(by("transfer_vs_books").difference.unwrap().text(), "-1000");
    assert_eq!(by("transfer_vs_estimate").severity, Severity::Warning);
    assert_eq!(by("equity_ceiling").severity, Severity::Warning);
    assert!(by("missing").explanation.contains("gl-team"));
    let opening: Vec<_> = r.findings.iter().filter(|f| f.check == "opening_equity").collect();
    assert!(opening.iter().any(|f| f.explanation.contains("saknas: k2")));
    let arrived = opening.iter().find(|f| f.subject == "eget kapital från sf-gl").expect("the arrival is compared");
    assert_eq!((arrived.stated.unwrap().text(), arrived.computed.unwrap().text()), ("21000".into(), "20000".into()));
    assert!(!r.ok());
    // Every finding names the events it rests on, and they exist.
    let events = merger(true).len() as u64;
    assert!(r.findings.iter().all(|f| !f.events.is_empty() && f.events.iter().all(|s| (1..=events).contains(s))));
}

/// The events `(seq, event)` of a list, as the log holds them.
fn recorded(events: &[Value]) -> Vec<(u64, Event)> {
    events.iter().enumerate().map(|(i, v)| (i as u64 + 1, Event::from_json(v).unwrap())).collect()
}

#[test]
fn a_run_reads_the_log_only_for_a_dissolved_forbund_with_events_dated_after_its_dissolution() {
    let at = |p: &crate::Projection| At { as_of: NaiveDate::from_ymd_opt(2024, 12, 31).unwrap(), known_at: p.head };
    let options = |at| Options { merger: None, forbund: None, at, rules: Default::default() };
    // Every check of the clean merger reads the projection alone: given no event, the run finds
    // what it finds given every event (nothing).
    let clean = merger(false);
    let p = project(&clean);
    assert!(needs_events(&p, at(&p)).is_empty());
    let without = reconcile(&p, &[], options(at(&p))).unwrap();
    assert_eq!(without.findings, reconcile(&p, &recorded(&clean), options(at(&p))).unwrap().findings);
    assert!(without.findings.is_empty(), "{:#?}", without.findings);
    // An insats of sf-gl dated after its dissolution, recorded before the dissolution: the run
    // asks for sf-gl's events, and finds it among them.
    let mut late = merger(false);
    let dissolution = late.pop().unwrap();
    late.push(json!({"type": "InsatsCreated", "forbund": "sf-gl", "date": "2024-03-01", "insats": "gl-sent", "name": "Sent", "category": "individ", "decision": d("styrelsen", "2024-03-01")}));
    late.push(dissolution);
    let p = project(&late);
    let (insats, dissolved) = (late.len() as u64 - 1, late.len() as u64);
    assert_eq!(needs_events(&p, at(&p)).into_iter().map(|f| f.to_string()).collect::<Vec<_>>(), ["sf-gl"]);
    let of_gl: Vec<(u64, Event)> = recorded(&late).into_iter().filter(|(_, e)| e.forbund.as_str() == "sf-gl").collect();
    let r = reconcile(&p, &of_gl, options(at(&p))).unwrap();
    let after = r.findings.iter().find(|f| f.subject == "händelser efter upplösningen").expect("the late insats");
    assert_eq!((after.forbund.as_str(), after.events.clone()), ("sf-gl", vec![dissolved, insats]));
    assert_eq!(r.findings, reconcile(&p, &recorded(&late), options(at(&p))).unwrap().findings);
    // Known before the dissolution was recorded, nothing is asked for.
    let before = At { known_at: dissolved - 1, ..at(&p) };
    assert!(needs_events(&p, before).is_empty());
}

#[test]
fn a_run_of_one_forbund_finds_what_the_whole_run_finds_of_it() {
    for faulty in [false, true] {
        let events = merger(faulty);
        let p = project(&events);
        let at = At { as_of: NaiveDate::from_ymd_opt(2024, 12, 31).unwrap(), known_at: p.head };
        let options = |forbund: Option<&str>| Options {
            merger: None,
            forbund: forbund.map(|f| Slug::parse(f).unwrap()),
            at,
            rules: Default::default(),
        };
        let whole = || reconcile(&p, &recorded(&events), options(None)).unwrap();
        for f in ["sf-gl", "sf-ny"] {
            let one = reconcile(&p, &recorded(&events), options(Some(f))).unwrap();
            let expected = whole().restricted_to(&Slug::parse(f).unwrap());
            assert_eq!(one.findings, expected.findings, "{f}, faulty {faulty}");
            assert_eq!((&one.scope, &one.mergers, &one.payers), (&expected.scope, &expected.mergers, &expected.payers));
            assert!(!faulty || !one.findings.is_empty(), "the faulty merger has findings of {f}");
        }
    }
}

#[test]
fn a_merger_that_is_not_recorded_is_refused() {
    let events = merger(false);
    let p = project(&events);
    let at = At { as_of: NaiveDate::from_ymd_opt(2024, 12, 31).unwrap(), known_at: p.head };
    let err = reconcile(
        &p,
        &[],
        Options { merger: Some(Slug::parse("sf-gl").unwrap()), forbund: None, at, rules: Default::default() },
    )
    .unwrap_err();
    assert!(err.0.contains("no merger into sf-gl") && err.0.contains("sf-ny"), "{}", err.0);
}

#[test]
fn before_the_merger_takes_effect_a_missing_transfer_is_no_finding() {
    let events: Vec<Value> = merger(false).into_iter().filter(|e| e["date"].as_str().unwrap() < "2024-01-01").collect();
    let p = project(&events);
    let recorded: Vec<(u64, Event)> =
        events.iter().enumerate().map(|(i, v)| (i as u64 + 1, Event::from_json(v).unwrap())).collect();
    let before = At { as_of: NaiveDate::from_ymd_opt(2023, 12, 31).unwrap(), known_at: p.head };
    let after = At { as_of: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(), known_at: p.head };
    let options = |at| Options { merger: None, forbund: None, at, rules: Default::default() };
    assert!(reconcile(&p, &recorded, options(before)).unwrap().findings.is_empty());
    let r = reconcile(&p, &recorded, options(after)).unwrap();
    let missing: Vec<_> = r.findings.iter().filter(|f| f.check == "missing").map(|f| f.subject.as_str()).collect();
    assert_eq!(missing, ["insats gl-team", "överföring till sf-ny"]);
}

#[test]
fn the_merger_table_shows_every_old_forbund_even_when_everything_agrees() {
    let r = run(&merger(false), Some("sf-ny"));
    assert!(r.findings.is_empty());
    assert_eq!(r.mergers.len(), 1);
    let row = &r.mergers[0].rows[0];
    assert_eq!(row.from.as_str(), "sf-gl");
    let kr = |s: &str| finsam_domain::Amount::parse(s).unwrap();
    assert_eq!((row.estimate, row.booked), (Some(kr("20000")), Some(kr("20000"))));
    assert_eq!((row.transferred, row.arrived), (kr("20000"), kr("20000")));
}

#[test]
fn a_line_without_an_insats_spent_beyond_its_budget_is_an_overspend() {
    let mut events = merger(false);
    // Styrelse-like: the admin line "verksamhet" of 950 000 takes a second invoice of 900 000.
    events.push(
        json!({"type": "CostRecorded", "forbund": "sf-ny", "date": "2024-12-20", "year": 2024, "line": "verksamhet",
        "amount": "900000", "reference": "F2", "text": "mer verksamhet"}),
    );
    let r = run(&events, Some("sf-ny"));
    let over: Vec<_> = r.findings.iter().filter(|f| f.check == "overspend").collect();
    assert_eq!(over.len(), 1, "{:#?}", r.findings);
    assert_eq!(over[0].subject, "2024: rad verksamhet förbrukat mer än budget");
    assert_eq!((over[0].stated.unwrap().text(), over[0].computed.unwrap().text()), ("950000".into(), "1850000".into()));
    assert_eq!(over[0].severity, Severity::Warning);
}

#[test]
fn the_equity_ceiling_of_a_plan_rests_on_the_members_contributions_not_other_income() {
    let plan = |other: &str| {
        vec![
            json!({"type": "ForbundRegistered", "forbund": "sf-tak", "date": "2023-01-01", "name": "SF Tak", "members": members(false)}),
            json!({"type": "BudgetAdopted", "forbund": "sf-tak", "date": "2023-01-01", "year": 2023, "decision": d("styrelsen", "2022-12-01"),
                "income": [{"id": "bidrag", "name": "Medlemsbidrag", "amount": "1000000"}, {"id": "ovrigt", "name": "Övriga intäkter", "amount": other}],
                "costs": [{"id": "kansli", "name": "Kansli", "category": "admin", "amount": "1000000"}],
                "stated": {"opening_equity": "0", "closing_equity": "300000"}}),
        ]
    };
    // 20 % of the contributions is 200 000: a closing equity of 300 000 is over it, whatever
    // other income the plan counts on (counted in, the ceiling would be 400 000).
    for other in ["0", "1000000"] {
        let r = run(&plan(other), None);
        let ceiling: Vec<_> = r.findings.iter().filter(|f| f.check == "equity_ceiling").collect();
        assert_eq!(ceiling.len(), 1, "other income {other}: {:#?}", r.findings);
        assert_eq!(ceiling[0].stated.unwrap().text(), "200000");
    }
}

#[test]
fn forsakringskassan_paying_the_whole_state_share_is_no_error() {
    let mut events = merger(false);
    // The state's half paid by Försäkringskassan alone: Arbetsförmedlingen pays nothing itself.
    for e in events.iter_mut() {
        if e["type"] == "ContributionReceived" && e["forbund"] == "sf-ny" && e["member"] == "fk" {
            e["amount"] = json!("500000");
        }
    }
    events.retain(|e| !(e["type"] == "ContributionReceived" && e["forbund"] == "sf-ny" && e["member"] == "af"));
    let r = run(&events, Some("sf-ny"));
    assert!(r.findings.iter().all(|f| f.check != "contribution_split"), "{:#?}", r.findings);
}
