//! Recording: a batch read from its text and recorded, the warnings for what is about to be
//! recorded, and the answer the CLI and the API give.

use crate::output::Failure;
use finsam_domain::input::parse_batch;
use finsam_store::Store;

/// How much of the log's end a new batch is compared with for likely duplicates: 1 MiB, some
/// thousands of events, read from the end of the file whatever the log's length.
pub const RECENT_BYTES: u64 = 1 << 20;

pub fn record_bytes(
    store: &mut Store<finsam_store::FileLog>,
    input: &[u8],
    actor: &str,
    expect_head: Option<u64>,
) -> Result<Vec<finsam_store::Recorded>, Failure> {
    let batch = parse_batch(input).map_err(Failure::rejected)?;
    Ok(store.record(&batch, actor, expect_head)?)
}

/// What `record --format json` and `POST /api/v1/events` answer: a row per line (its seq, and
/// whether it repeated an event already recorded), the warnings, the log's head, and per förbund
/// recorded in its new version (the seq of its last event) — what the next batch may expect
/// (`If-Match`). `forbund` is the förbund of each event of the batch, in the order of `outcome`.
pub fn record_json(
    forbund: &[finsam_domain::Slug],
    outcome: &[finsam_store::Recorded],
    warnings: &[(usize, finsam_projections::advice::Warning)],
    head: &finsam_store::Head,
) -> String {
    use crate::answers::{Recorded, RecordedLine, WarningLine};
    let answer = Recorded {
        recorded: outcome.iter().map(|r| RecordedLine { line: r.line, seq: r.seq, duplicate: r.duplicate }).collect(),
        warnings: warnings
            .iter()
            .map(|(line, w)| WarningLine {
                line: *line,
                rule: w.rule.to_string(),
                field: w.field.to_string(),
                message: w.message.clone(),
            })
            .collect(),
        head: head.into(),
        versions: forbund
            .iter()
            .zip(outcome)
            .filter(|(_, r)| !r.duplicate)
            .map(|(f, r)| (f.to_string(), r.seq))
            .collect(),
    };
    format!("{}\n", serde_json::to_string(&answer).expect("an answer serialises"))
}

/// The warnings for a batch, event by event, as if each earlier one were recorded: (line, warning).
pub fn advise(
    store: &Store<finsam_store::FileLog>,
    batch: &[(usize, finsam_domain::Event)],
) -> Result<Vec<(usize, finsam_projections::advice::Warning)>, Failure> {
    let recent = recent_events(store)?;
    let mut advisor = finsam_projections::advice::Advisor::new(store.projection(), &recent);
    Ok(advise_group(&mut advisor, store, &[batch]).pop().unwrap_or_default())
}

/// The events recorded last (the last MiB of the log), for the duplicate warning.
pub fn recent_events(store: &Store<finsam_store::FileLog>) -> Result<Vec<finsam_domain::Event>, Failure> {
    Ok(store.recent(RECENT_BYTES)?.into_iter().map(|e| e.event).collect())
}

/// The warnings of several batches about to be recorded one after the other (a group commit),
/// each batch advised as the ones before it leave the books. A retry — an event whose
/// idempotency key the log (or an earlier event of the group) already holds — records nothing,
/// so it is neither warned about nor counted in the figures the later events are warned against.
pub fn advise_group(
    advisor: &mut finsam_projections::advice::Advisor<'_>,
    store: &Store<finsam_store::FileLog>,
    batches: &[&[(usize, finsam_domain::Event)]],
) -> Vec<Vec<(usize, finsam_projections::advice::Warning)>> {
    let mut keys = std::collections::HashSet::new();
    batches
        .iter()
        .map(|batch| {
            let mut warnings = Vec::new();
            for (line, e) in batch.iter() {
                if let Some(key) = e.idempotency_key.as_deref() {
                    let fresh = keys.insert(finsam_store::index::scoped_key(&e.forbund, key));
                    if !fresh || store.already_recorded(e).is_some() {
                        continue;
                    }
                }
                warnings.extend(advisor.advise(e).into_iter().map(|w| (*line, w)));
            }
            warnings
        })
        .collect()
}
