//! Durable appends per second: single-event batches and batches of 1 000, each acknowledged
//! only after fdatasync. Run: `cargo bench -p finsam-store --bench appends`.
//! Prints the median of several runs; the store lives in the system temp dir.

use finsam_domain::input::parse_batch;
use finsam_domain::Event;
use finsam_store::{init, Store};
use std::path::PathBuf;
use std::time::Instant;

const RUNS: usize = 5;
const SINGLES: usize = 500;
const BATCHES: usize = 20;
const BATCH: usize = 1_000;

fn fresh_store(name: &str) -> (PathBuf, Store<finsam_store::FileLog>) {
    let dir = std::env::temp_dir().join(format!("finsam-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    init(&dir).unwrap();
    let (mut store, _) = Store::open(&dir).unwrap();
    let registration = include_str!("../../../fixtures/00-forbund.jsonl");
    store.record(&parse_batch(registration.as_bytes()).unwrap(), "bench", None).unwrap();
    (dir, store)
}

fn contribution(i: usize) -> Event {
    let text = format!(
        r#"{{"type":"ContributionReceived","forbund":"sf-vastmanland","date":"2024-03-01","member":"sala","year":2024,"amount":"{}.{:02}","reference":"bench {i}"}}"#,
        1000 + i,
        i % 100
    );
    Event::from_json_text(&text).unwrap()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let mut singles = Vec::new();
    let mut batched = Vec::new();
    for run in 0..RUNS {
        let (dir, mut store) = fresh_store(&format!("single-{run}"));
        let events: Vec<Event> = (0..SINGLES).map(contribution).collect();
        let start = Instant::now();
        for (i, e) in events.into_iter().enumerate() {
            store.record(&[(i + 1, e)], "bench", None).unwrap();
        }
        singles.push(SINGLES as f64 / start.elapsed().as_secs_f64());
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);

        let (dir, mut store) = fresh_store(&format!("batch-{run}"));
        let batches: Vec<Vec<(usize, Event)>> =
            (0..BATCHES).map(|b| (0..BATCH).map(|i| (i + 1, contribution(b * BATCH + i))).collect()).collect();
        let start = Instant::now();
        for batch in &batches {
            store.record(batch, "bench", None).unwrap();
        }
        batched.push((BATCHES * BATCH) as f64 / start.elapsed().as_secs_f64());
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!(
        "durable appends (fdatasync per batch), median of {RUNS} runs, temp dir {}",
        std::env::temp_dir().display()
    );
    println!("  single-event batches: {:>10.0} events/s   ({SINGLES} appends per run)", median(singles));
    println!("  batches of {BATCH}:     {:>10.0} events/s   ({BATCHES} batches per run)", median(batched));
}
