use super::*;
use serde_json::json;

fn reject(value: Value) -> Rejection {
    Event::from_json(&value).expect_err("must be rejected")
}

#[test]
fn the_org_nr_of_samordningsforbundet_vastmanland_passes_luhn() {
    assert_eq!(check_org_nr("222000-1974"), Ok(()));
    assert_eq!(check_org_nr("222000-1975"), Err(Rule::OrgNrFailsLuhn));
    assert_eq!(check_org_nr("2220001974"), Err(Rule::OrgNrMalformed));
}

#[test]
fn a_float_amount_is_refused_with_the_field_and_the_rule() {
    let r = reject(json!({"type": "ContributionReceived", "forbund": "sf-x", "date": "2024-01-15",
        "member": "fk", "year": 2024, "amount": 1500.5, "reference": "r"}));
    assert_eq!(r.rule, Rule::AmountMalformed);
    assert_eq!(r.field, "amount");
    assert_eq!(r.value, "1500.5");
}

#[test]
fn an_impossible_date_is_refused() {
    let r = reject(json!({"type": "YearClosed", "forbund": "sf-x", "date": "2023-02-30", "year": 2022,
        "decision": {"body": "styrelsen", "date": "2023-02-01"}}));
    assert_eq!((r.rule, r.field.as_str()), (Rule::DateInvalid, "date"));
}

#[test]
fn an_unknown_field_is_named() {
    let r = reject(json!({"type": "EquityTransferred", "forbund": "sf-x", "date": "2024-01-01",
        "from": "sf-y", "amount": "10", "reference": "r", "amuont": "5"}));
    assert_eq!((r.rule, r.field.as_str()), (Rule::UnknownField, "amuont"));
}

#[test]
fn shares_must_follow_finsam_paragraph_5() {
    let r = reject(json!({"type": "ForbundRegistered", "forbund": "sf-x", "date": "2024-01-01", "name": "X",
        "members": [
            {"id": "fk", "name": "FK", "kind": "staten", "share": "0.5"},
            {"id": "region", "name": "R", "kind": "region", "share": "0.3"},
            {"id": "k", "name": "K", "kind": "kommun", "share": "0.2"}]}));
    assert_eq!(r.rule, Rule::SharesByKind);
}

#[test]
fn a_decoded_event_encodes_to_the_same_canonical_json() {
    let input = json!({"type": "BudgetAdopted", "forbund": "sf-x", "date": "2023-11-16", "year": 2024,
        "status": "adopted", "decision": {"body": "interimsstyrelsen", "date": "2023-11-16", "paragraph": "§ 5"},
        "income": [{"id": "bidrag", "name": "Medelstilldelning", "amount": "19038000"}],
        "costs": [{"id": "styrelse", "name": "Styrelse", "category": "admin", "amount": "606000.50"}],
        "stated": {"costs_total": "606000.50", "by_category": {"admin": "606000.50"}, "shares": {"admin_of_costs": "1"}}});
    let event = Event::from_json(&input).unwrap();
    assert_eq!(event.to_json(), input);
    assert_eq!(Event::from_json(&event.to_json()).unwrap(), event);
}

#[test]
fn a_misspelt_type_is_refused_with_the_type_it_most_likely_meant() {
    let r = reject(json!({"type": "ContributionRecieved", "forbund": "sf-vastmanland", "date": "2024-05-01"}));
    assert_eq!(r.rule, Rule::UnknownEventType);
    assert!(r.message.starts_with("did you mean \"ContributionReceived\""), "{}", r.message);
    // Another word altogether gets the list, and no guess.
    let r = reject(json!({"type": "Faktura", "forbund": "sf-vastmanland", "date": "2024-05-01"}));
    assert!(r.message.starts_with("known types are"), "{}", r.message);
}

/// A history names the same ids again and again: a thread reads each once and shares it, from
/// an event's text and from the derived state alike, and an id past the thread's table is
/// still the same id.
#[test]
fn an_id_read_again_shares_the_text_read_first() {
    let first = Slug::parse("sf-vastmanland").unwrap();
    let again = Slug::parse("sf-vastmanland").unwrap();
    assert!(std::sync::Arc::ptr_eq(&first.0, &again.0), "one copy per thread");
    let stored: Slug = serde_json::from_str("\"sf-vastmanland\"").unwrap();
    assert!(std::sync::Arc::ptr_eq(&first.0, &stored.0), "the derived state's ids are shared too");
    assert_eq!(serde_json::to_string(&stored).unwrap(), "\"sf-vastmanland\"");
    // On another thread, its own copy: equal, not shared.
    let there = std::thread::spawn(|| Slug::parse("sf-vastmanland").unwrap()).join().unwrap();
    assert_eq!(there, first);
    assert!(!std::sync::Arc::ptr_eq(&first.0, &there.0));
    // A thread that has read more ids than it keeps: the rest have their own copies.
    std::thread::spawn(|| {
        for i in 0..super::INTERNED_MAX {
            Slug::parse(&format!("id-{i}")).unwrap();
        }
        let (a, b) = (Slug::parse("one-more").unwrap(), Slug::parse("one-more").unwrap());
        assert_eq!(a, b);
        assert!(!std::sync::Arc::ptr_eq(&a.0, &b.0), "past the table, not kept");
        assert!(std::sync::Arc::ptr_eq(&Slug::parse("id-7").unwrap().0, &Slug::parse("id-7").unwrap().0));
    })
    .join()
    .unwrap();
}
