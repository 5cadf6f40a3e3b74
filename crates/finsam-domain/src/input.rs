//! Reading a batch of events from JSON Lines text: one event per line, blank lines ignored.

use crate::event::Event;
use crate::rejection::{Rejection, Rule};

/// The most events one batch may hold; a larger batch is refused whole.
pub const BATCH_EVENTS_MAX: usize = 10_000;
/// The longest input line (a budget with hundreds of lines fits easily).
pub const LINE_BYTES_MAX: usize = 1 << 20;
/// The largest input a batch may come from.
pub const INPUT_BYTES_MAX: usize = 64 << 20;
/// How many rejections one run reports before it stops looking.
pub const REJECTIONS_REPORTED_MAX: usize = 20;

/// Parses a batch. Either every line is a well-formed event, or the rejections of the first
/// bad lines (up to [`REJECTIONS_REPORTED_MAX`]) come back, each naming its line.
pub fn parse_batch(input: &[u8]) -> Result<Vec<(usize, Event)>, Vec<Rejection>> {
    if input.len() > INPUT_BYTES_MAX {
        return Err(vec![Rejection::new(
            Rule::BatchTooLarge,
            "",
            format!("{} bytes", input.len()),
            format!("an input is at most {} MiB; split it into several batches", INPUT_BYTES_MAX >> 20),
        )]);
    }
    let lines: Vec<(usize, &[u8])> = input
        .split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
        .collect();
    if lines.len() > BATCH_EVENTS_MAX {
        return Err(vec![Rejection::new(
            Rule::BatchTooLarge,
            "",
            format!("{} events", lines.len()),
            format!("a batch holds at most {BATCH_EVENTS_MAX} events; split the input"),
        )]);
    }
    if lines.is_empty() {
        return Err(vec![Rejection::new(Rule::BatchEmpty, "", "", "the input holds no events")]);
    }
    let mut events = Vec::with_capacity(lines.len());
    let mut rejections = Vec::new();
    'lines: for (line_no, bytes) in lines {
        match parse_line(bytes) {
            Ok(event) => events.push((line_no, event)),
            Err(line_rejections) => {
                for r in line_rejections {
                    rejections.push(r.at_line(line_no));
                    if rejections.len() == REJECTIONS_REPORTED_MAX {
                        break 'lines;
                    }
                }
            }
        }
    }
    if rejections.is_empty() {
        Ok(events)
    } else {
        Err(rejections)
    }
}

/// One line into an event, or every problem of it that can be named (see [`every_problem`]).
fn parse_line(bytes: &[u8]) -> Result<Event, Vec<Rejection>> {
    if bytes.len() > LINE_BYTES_MAX {
        return Err(vec![Rejection::new(
            Rule::LineTooLong,
            "",
            format!("{} bytes", bytes.len()),
            format!("a line is at most {} KiB", LINE_BYTES_MAX >> 10),
        )]);
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| {
            Rejection::new(
                Rule::InputNotUtf8,
                "",
                format!("byte {}", e.valid_up_to() + 1),
                "the input is not UTF-8 text; save the file as UTF-8",
            )
        })
        .map_err(|r| vec![r])?;
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        vec![Rejection::new(Rule::NotJson, "", "", format!("not valid JSON at column {}: {e}", e.column()))]
    })?;
    let event = Event::from_json(&value).map_err(|first| every_problem(&value, first))?;
    no_forbidden_characters(&value, "").map_err(|r| vec![r])?;
    Ok(event)
}

/// How many problems of one line are looked for.
const PROBLEMS_PER_LINE_MAX: usize = 12;

/// Every problem of a line that can be named, not only the first the decoder meets. The decoder
/// stops at the first; to find the next, the field it refused is given a well-formed stand-in
/// and the line decoded again. A further refusal is reported only if it is one that a field's
/// own value decides (a date that is no date, an amount with three decimals, a field the
/// contract lacks) and that value, as written, breaks it on its own: so a stand-in never
/// causes a problem the person did not make. A refusal that relates several fields (a due date
/// before the invoice date, shares that do not add up) ends the search.
fn every_problem(original: &serde_json::Value, first: Rejection) -> Vec<Rejection> {
    let mut value = original.clone();
    let mut found = vec![first];
    'search: while found.len() < PROBLEMS_PER_LINE_MAX {
        let last = found.last().expect("one problem at least");
        for stand_in in stand_ins(last) {
            let mut tried = value.clone();
            if !put(&mut tried, &last.field, stand_in) {
                continue;
            }
            match Event::from_json(&tried) {
                Ok(_) => break 'search,
                // This stand-in does not satisfy the field (a missing field of another kind).
                Err(next) if next.field == last.field => continue,
                Err(next) => {
                    let new_field = !found.iter().any(|r| r.field == next.field);
                    if !(new_field && breaks_on_its_own(original, &next)) {
                        break 'search;
                    }
                    value = tried;
                    found.push(next);
                    continue 'search;
                }
            }
        }
        break;
    }
    found
}

/// The well-formed values that may stand in for the one `r` refused (`None`: the field
/// removed), most likely first; none where the rule relates the field to others.
fn stand_ins(r: &Rejection) -> Vec<Option<serde_json::Value>> {
    use serde_json::Value;
    let one = |v: Value| vec![Some(v)];
    match r.rule {
        Rule::UnknownField => vec![None],
        Rule::DateInvalid | Rule::DateOutOfRange => one(Value::from("2024-01-01")),
        Rule::AmountMalformed | Rule::AmountMustBePositive | Rule::AmountMustNotBeNegative => one(Value::from("1.00")),
        Rule::ShareMalformed => one(Value::from("0.5")),
        Rule::SlugMalformed | Rule::TextEmpty | Rule::TextTooLong | Rule::TextControlCharacter => one(Value::from("x")),
        Rule::YearOutOfRange => one(Value::from(2024)),
        // A missing field of a kind the rejection does not say: each kind in turn.
        Rule::MissingField => ["x", "2024-01-01", "1.00", "0.5"]
            .into_iter()
            .map(|t| Some(Value::from(t)))
            .chain([Some(Value::from(2024))])
            .collect(),
        _ => Vec::new(),
    }
}

/// Puts `stand_in` at the field path (or removes the field, for `None`); false if there is no
/// such place.
fn put(value: &mut serde_json::Value, field: &str, stand_in: Option<serde_json::Value>) -> bool {
    if field.is_empty() {
        return false;
    }
    let (parent, key) = field.rsplit_once('.').unwrap_or(("", field));
    if key.contains('[') {
        // An item of a list: replaced in place, never removed.
        return match (value.pointer_mut(&pointer(field)), stand_in) {
            (Some(slot), Some(v)) => {
                *slot = v;
                true
            }
            _ => false,
        };
    }
    let Some(object) = value.pointer_mut(&pointer(parent)).and_then(serde_json::Value::as_object_mut) else {
        return false;
    };
    match stand_in {
        None => object.remove(key).is_some(),
        Some(v) => {
            object.insert(key.to_string(), v);
            true
        }
    }
}

/// True if the rejection is one a field's own value decides and the value as written (in
/// `original`) breaks it: checked again here, apart from the rest of the line.
fn breaks_on_its_own(original: &serde_json::Value, r: &Rejection) -> bool {
    use crate::event::{Slug, YEAR_MAX, YEAR_MIN};
    use crate::money::{Amount, Share};
    if matches!(r.rule, Rule::UnknownField | Rule::MissingField | Rule::UnknownEventType) {
        // Which fields an event has depends on its type alone, which is never stood in for.
        return true;
    }
    let Some(written) = original.pointer(&pointer(&r.field)) else { return false };
    let text = written.as_str();
    let date_ok = |t: &str| {
        t.len() == 10
            && chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .is_ok_and(|d| (YEAR_MIN..=YEAR_MAX).contains(&chrono::Datelike::year(&d)))
    };
    let amount = text.and_then(|t| Amount::parse(t).ok());
    match r.rule {
        Rule::DateInvalid | Rule::DateOutOfRange => !text.is_some_and(date_ok),
        Rule::AmountMalformed => amount.is_none(),
        Rule::AmountMustBePositive => amount.is_some_and(|a| !a.is_positive()),
        Rule::AmountMustNotBeNegative => amount.is_some_and(|a| a.is_negative()),
        Rule::ShareMalformed => text.is_none_or(|t| Share::parse(t).is_err()),
        Rule::SlugMalformed => text.is_none_or(|t| Slug::parse(t).is_err()),
        Rule::TextEmpty => text.is_some_and(|t| t.trim().is_empty()),
        // The decoder measures a text against its own limit, looking at nothing else.
        Rule::TextTooLong => text.is_some(),
        Rule::YearOutOfRange => {
            !written.as_i64().is_some_and(|y| (i64::from(YEAR_MIN)..=i64::from(YEAR_MAX)).contains(&y))
        }
        _ => false,
    }
}

/// A rejection's field path (`members[2].share`, `decision.date`; empty for the whole line) as
/// a JSON pointer (`/members/2/share`), for serde_json's `pointer`.
fn pointer(path: &str) -> String {
    let mut out = String::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        for step in part.split('[') {
            out.push('/');
            out.push_str(&step.trim_end_matches(']').replace('~', "~0").replace('/', "~1"));
        }
    }
    out
}

/// Refuses an input whose texts hold a control or direction character (`crate::text`). Checked
/// on input only: a log recorded before this rule still opens, and every output escapes or
/// replaces such characters anyway.
fn no_forbidden_characters(value: &serde_json::Value, path: &str) -> Result<(), Rejection> {
    use serde_json::Value;
    match value {
        Value::String(text) => match crate::text::first_forbidden(text) {
            Some((at, c)) => Err(Rejection::new(
                Rule::TextControlCharacter,
                path,
                format!("\"{}\"", crate::text::escaped(text)),
                crate::text::forbidden_message(at, c),
            )),
            None => Ok(()),
        },
        Value::Array(items) => {
            items.iter().enumerate().try_for_each(|(i, v)| no_forbidden_characters(v, &format!("{path}[{i}]")))
        }
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            let field = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
            no_forbidden_characters(v, &field)
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_line_is_named() {
        let input = b"{\"type\": \"Nope\"}\n\n{not json}\n";
        let rejections = parse_batch(input).unwrap_err();
        let found: Vec<_> = rejections.iter().map(|r| (r.line, r.field.as_str(), r.rule)).collect();
        assert_eq!(
            found,
            [
                (Some(1), "forbund", Rule::MissingField),
                (Some(1), "date", Rule::MissingField),
                (Some(1), "type", Rule::UnknownEventType),
                (Some(3), "", Rule::NotJson)
            ]
        );
    }

    #[test]
    fn invalid_utf8_is_named_by_line() {
        let rejections = parse_batch(b"\n\xff\xfe\n").unwrap_err();
        assert_eq!((rejections[0].line, rejections[0].rule), (Some(2), Rule::InputNotUtf8));
    }

    #[test]
    fn a_batch_over_the_limit_is_refused_whole() {
        let input = "{}\n".repeat(BATCH_EVENTS_MAX + 1);
        assert_eq!(parse_batch(input.as_bytes()).unwrap_err()[0].rule, Rule::BatchTooLarge);
    }

    const INVOICE: &str = r#"{"type": "InvoiceReceived", "forbund": "sf-vastmanland", "date": "2024-12-31", "year": 2024, "invoice": "f-1", "supplier": "Kursgården AB", "line": "utbildning", "amount": "102053", "due": "2025-01-30", "reference": "F 118", "text": "Kurs"}"#;

    fn problems(line: &str) -> Vec<(String, Rule)> {
        parse_batch(line.as_bytes()).unwrap_err().into_iter().map(|r| (r.field, r.rule)).collect()
    }

    #[test]
    fn a_line_with_a_bad_date_and_a_bad_amount_reports_both() {
        assert!(
            parse_batch(INVOICE.as_bytes()).is_ok(),
            "the invoice as written is well formed: {:?}",
            parse_batch(INVOICE.as_bytes()).err()
        );
        let line = INVOICE.replace("\"2024-12-31\"", "\"2024-13-31\"").replace("\"102053\"", "\"102 053,5\"");
        assert_eq!(
            problems(&line),
            [("date".to_string(), Rule::DateInvalid), ("amount".to_string(), Rule::AmountMalformed)]
        );
        let more = line.replace("\"Kursgården AB\"", "\"  \"").replace("\"text\"", "\"txet\"");
        let fields: Vec<String> = problems(&more).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            ["date", "supplier", "amount", "text", "txet"],
            "every field's own problem, in the decoder's order"
        );
        let rejections = parse_batch(more.as_bytes()).unwrap_err();
        assert!(rejections.iter().all(|r| r.line == Some(1)), "each names its line");
        assert_eq!(rejections[2].value, "\"102 053,5\"", "the value as written, not the stand-in");
    }

    #[test]
    fn a_stand_in_never_makes_a_problem_the_line_does_not_have() {
        // The date is no date; its stand-in (2024-01-01) would fall after this due date, and an
        // invoice that falls due before it is dated is refused. That refusal is not the person's.
        let line = INVOICE.replace("\"2024-12-31\"", "\"31/12/2024\"").replace("\"2025-01-30\"", "\"2023-06-30\"");
        assert_eq!(problems(&line), [("date".to_string(), Rule::DateInvalid)]);
        // A relation between fields ends the search: the due date is checked once the date reads.
        let line = INVOICE.replace("\"2025-01-30\"", "\"2023-06-30\"").replace("\"102053\"", "\"1.005\"");
        assert_eq!(problems(&line), [("amount".to_string(), Rule::AmountMalformed)]);
    }

    #[test]
    fn every_own_problem_of_a_contribution_and_a_nested_decision() {
        let line = r#"{"type": "ContributionReceived", "forbund": "sf-vastmanland", "date": "2024-02-30", "member": "Västerås", "year": 1999, "amount": "-5"}"#;
        assert_eq!(
            problems(line),
            [
                ("date".to_string(), Rule::DateInvalid),
                ("member".to_string(), Rule::SlugMalformed),
                ("year".to_string(), Rule::YearOutOfRange),
                ("amount".to_string(), Rule::AmountMustBePositive),
                ("reference".to_string(), Rule::MissingField),
            ]
        );
        let insats = r#"{"type": "InsatsCreated", "forbund": "sf-vasteras", "date": "2020-11-13", "insats": "team", "name": "", "category": "individ", "owner": "Västerås stad", "decision": {"body": "styrelsen", "date": "2020-11-31", "paragrph": "§ 4"}}"#;
        assert_eq!(
            problems(insats),
            [
                ("name".to_string(), Rule::TextEmpty),
                ("decision.date".to_string(), Rule::DateInvalid),
                ("decision.paragrph".to_string(), Rule::UnknownField),
            ]
        );
    }
}
