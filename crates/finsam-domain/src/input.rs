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
    for (line_no, bytes) in lines {
        match parse_line(bytes) {
            Ok(event) => events.push((line_no, event)),
            Err(r) => {
                rejections.push(r.at_line(line_no));
                if rejections.len() == REJECTIONS_REPORTED_MAX {
                    break;
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

fn parse_line(bytes: &[u8]) -> Result<Event, Rejection> {
    if bytes.len() > LINE_BYTES_MAX {
        return Err(Rejection::new(
            Rule::LineTooLong,
            "",
            format!("{} bytes", bytes.len()),
            format!("a line is at most {} KiB", LINE_BYTES_MAX >> 10),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Rejection::new(
            Rule::InputNotUtf8,
            "",
            format!("byte {}", e.valid_up_to() + 1),
            "the input is not UTF-8 text; save the file as UTF-8",
        )
    })?;
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Rejection::new(Rule::NotJson, "", "", format!("not valid JSON at column {}: {e}", e.column())))?;
    let event = Event::from_json(&value)?;
    no_forbidden_characters(&value, "")?;
    Ok(event)
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
        assert_eq!(rejections.len(), 2);
        assert_eq!(rejections[0].line, Some(1));
        assert_eq!(rejections[1].line, Some(3));
        assert_eq!(rejections[1].rule, Rule::NotJson);
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
}
