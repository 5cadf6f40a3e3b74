//! Durable appends per second: batches of 1, 100, 1 000 and 10 000 events, each acknowledged
//! only after fdatasync. Run: `cargo bench -p finsam-store --bench appends`.
//! Prints the median of several runs; the store lives in the system temp dir.

use finsam_domain::input::parse_batch;
use finsam_domain::Event;
use finsam_store::{init, Store};
use std::path::PathBuf;
use std::time::Instant;

const RUNS: usize = 5;

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

/// Events per second for `total` events recorded in batches of `size`, in a fresh store.
fn run(name: &str, size: usize, total: usize) -> f64 {
    let (dir, mut store) = fresh_store(name);
    let batches: Vec<Vec<(usize, Event)>> =
        (0..total / size).map(|b| (0..size).map(|i| (i + 1, contribution(b * size + i))).collect()).collect();
    let start = Instant::now();
    for batch in &batches {
        store.record(batch, "bench", None).unwrap();
    }
    let rate = total as f64 / start.elapsed().as_secs_f64();
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    rate
}

fn main() {
    // (batch size, events per run)
    let sizes = [(1, 500), (100, 20_000), (1_000, 50_000), (10_000, 200_000)];
    let mut rates = vec![Vec::new(); sizes.len()];
    for run_no in 0..RUNS {
        for (i, (size, total)) in sizes.iter().enumerate() {
            rates[i].push(run(&format!("{size}-{run_no}"), *size, *total));
        }
    }
    println!(
        "durable appends (fdatasync per batch), median of {RUNS} runs, temp dir {}",
        std::env::temp_dir().display()
    );
    for ((size, total), r) in sizes.iter().zip(rates) {
        println!("  batches of {size:>6}: {:>10.0} events/s   ({total} events per run)", median(r));
    }
}
