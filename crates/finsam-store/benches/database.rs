//! Durable events per second and p99 latency at 64 clients: the file store, and the log in
//! PostgreSQL through one and through two writers (each its own connection, as two service
//! instances would have), in the same run. Each writer commits groups as the service does: it
//! takes every request waiting (up to 256), records them with one `record_group` (one fdatasync,
//! or one transaction), then answers them. Every client sends one event at a time and waits for
//! its answer. Run: `cargo bench -p finsam-store --bench database` (starts its own throwaway
//! PostgreSQL cluster; needs PostgreSQL's server). Prints the median of `RUNS` runs.

use finsam_domain::input::parse_batch;
use finsam_domain::Event;
use finsam_store::{init, GroupRequest, LogBackend, Store};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::{Duration, Instant};

const RUNS: usize = 3;
const CLIENTS: usize = 64;
const SECONDS: f64 = 4.0;

type Job = (Vec<(usize, Event)>, Sender<bool>);

fn contribution(client: usize, i: usize) -> Event {
    let text = format!(
        r#"{{"type":"ContributionReceived","forbund":"sf-vastmanland","date":"2024-03-01","member":"sala","year":2024,"amount":"{}.{:02}","reference":"bench {client}-{i}","idempotency_key":"bench-{client}-{i}"}}"#,
        1 + i % 1000,
        i % 100
    );
    Event::from_json_text(&text).unwrap()
}

/// The writer of one instance: groups what waits, records it, answers.
fn writer<B: LogBackend>(mut store: Store<B>, jobs: Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < 256 {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let requests: Vec<GroupRequest<'_>> = group
            .iter()
            .map(|(batch, _)| GroupRequest {
                batch,
                actor: "bench",
                expect_head: None,
                expect_versions: &[],
                user: None,
            })
            .collect();
        let results = store.record_group(&requests);
        for ((_, answer), result) in group.iter().zip(results) {
            let _ = answer.send(result.is_ok());
        }
    }
}

/// Runs 64 clients against the writers' queues for `SECONDS`; returns (events/s, p99 ms).
fn load(queues: Vec<Sender<Job>>) -> (f64, f64) {
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(SECONDS);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let queue = queues[c % queues.len()].clone();
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                let mut i = 0;
                while Instant::now() < until {
                    let (answer, wait) = channel();
                    let sent = Instant::now();
                    queue.send((vec![(1, contribution(c, i))], answer)).unwrap();
                    assert!(wait.recv().unwrap(), "every write is acknowledged");
                    latencies.push(sent.elapsed());
                    i += 1;
                }
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100].as_secs_f64() * 1000.0;
    (latencies.len() as f64 / elapsed, p99)
}

fn registered<B: LogBackend>(mut store: Store<B>) -> Store<B> {
    let registration = include_str!("../../../fixtures/00-forbund.jsonl");
    store.record(&parse_batch(registration.as_bytes()).unwrap(), "bench", None).unwrap();
    store
}

fn file_run(run: usize) -> (f64, f64) {
    let dir = std::env::temp_dir().join(format!("finsam-bench-db-file-{run}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    init(&dir).unwrap();
    let store = registered(Store::open(&dir).unwrap().0);
    let (queue, jobs) = channel();
    let w = std::thread::spawn(move || writer(store, jobs));
    let result = load(vec![queue]);
    w.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn database_run(url: &str, instances: usize) -> (f64, f64) {
    let first = registered(Store::open_database(url).unwrap().0);
    let mut stores = vec![first];
    for _ in 1..instances {
        stores.push(Store::open_database(url).unwrap().0);
    }
    let mut queues = Vec::new();
    let mut writers = Vec::new();
    for store in stores {
        let (queue, jobs) = channel();
        queues.push(queue);
        writers.push(std::thread::spawn(move || writer(store, jobs)));
    }
    let result = load(queues);
    for w in writers {
        w.join().unwrap();
    }
    result
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let cluster = finsam_store::pg_cluster::own_cluster("bench");
    let mut rows: Vec<(&str, Vec<f64>, Vec<f64>)> = vec![
        ("file store", vec![], vec![]),
        ("PostgreSQL, 1 writer", vec![], vec![]),
        ("PostgreSQL, 2 writers", vec![], vec![]),
    ];
    for run in 0..RUNS {
        let results = [
            file_run(run),
            database_run(&cluster.database(&format!("bench_one_{run}")), 1),
            database_run(&cluster.database(&format!("bench_two_{run}")), 2),
        ];
        for (row, (rate, p99)) in rows.iter_mut().zip(results) {
            row.1.push(rate);
            row.2.push(p99);
        }
    }
    println!("{CLIENTS} clients, one event per request, {SECONDS} s per run, median of {RUNS} runs");
    println!("{:<24} {:>12} {:>10}", "log", "events/s", "p99 ms");
    for (name, rates, p99s) in rows {
        println!("{name:<24} {:>12.0} {:>10.1}", median(rates), median(p99s));
    }
}
