//! The load generator for `finsam serve`: W writing clients, each recording single events
//! (a contribution of 1 kr with its own idempotency key) as fast as they are acknowledged, and
//! R reading clients asking for a report, for a number of seconds, over keep-alive HTTP/1.1
//! connections on the loopback. Prints throughput and latency percentiles as JSON.
//!
//!   finsam-load --addr 127.0.0.1:8080 --token TOKEN --writers 64 --readers 8 --seconds 10
//!
//! `--addr` may name several instances of one service (`--addr A,B`): the clients are spread
//! over them in turn.

use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct Options {
    addr: String,
    token: String,
    writers: usize,
    readers: usize,
    seconds: u64,
    forbund: String,
    member: String,
    read_path: String,
    run: String,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        addr: "127.0.0.1:8080".into(),
        token: std::env::var("FINSAM_TOKEN").unwrap_or_default(),
        writers: 8,
        readers: 0,
        seconds: 5,
        forbund: "sf-vastmanland".into(),
        member: "sala".into(),
        read_path: String::new(),
        run: format!("{}", std::process::id()),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--addr" => o.addr = value()?,
            "--token" => o.token = value()?,
            "--writers" => o.writers = value()?.parse().map_err(|e| format!("--writers: {e}"))?,
            "--readers" => o.readers = value()?.parse().map_err(|e| format!("--readers: {e}"))?,
            "--seconds" => o.seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--forbund" => o.forbund = value()?,
            "--member" => o.member = value()?,
            "--read-path" => o.read_path = value()?,
            "--run" => o.run = value()?,
            "--help" | "-h" => {
                return Err("usage: finsam-load --addr HOST:PORT[,HOST:PORT…] --token TOKEN [--writers W] [--readers R] [--seconds S] [--forbund F] [--member M] [--read-path PATH] [--run ID]".into())
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if o.token.is_empty() {
        return Err("--token TOKEN (or FINSAM_TOKEN) is needed".into());
    }
    if o.read_path.is_empty() {
        o.read_path = format!("/api/v1/forbund/{}/balances", o.forbund);
    }
    Ok(o)
}

/// One keep-alive connection: sends a request, reads the status and the body.
struct Conn {
    stream: BufReader<TcpStream>,
}

impl Conn {
    async fn open(addr: &str) -> std::io::Result<Conn> {
        let s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        Ok(Conn { stream: BufReader::new(s) })
    }

    async fn call(&mut self, request: &[u8]) -> std::io::Result<u16> {
        self.stream.get_mut().write_all(request).await?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status: u16 = line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let mut length = 0usize;
        let mut chunked = false;
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let l = line.trim_end().to_ascii_lowercase();
            if l.is_empty() {
                break;
            }
            if let Some(v) = l.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            if l.starts_with("transfer-encoding:") && l.contains("chunked") {
                chunked = true;
            }
        }
        if chunked {
            loop {
                line.clear();
                self.stream.read_line(&mut line).await?;
                let n = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
                let mut chunk = vec![0u8; n + 2];
                self.stream.read_exact(&mut chunk).await?;
                if n == 0 {
                    break;
                }
            }
        } else {
            let mut body = vec![0u8; length];
            self.stream.read_exact(&mut body).await?;
        }
        Ok(status)
    }
}

#[derive(Default)]
struct Tally {
    ok: u64,
    failed: u64,
    micros: Vec<u64>,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

async fn client(o: std::sync::Arc<Options>, writer: bool, id: usize, until: Instant) -> Tally {
    let mut t = Tally::default();
    let addrs: Vec<&str> = o.addr.split(',').collect();
    let addr = addrs[id % addrs.len()].to_string();
    let Ok(mut conn) = Conn::open(&addr).await else {
        t.failed += 1;
        return t;
    };
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        let request = if writer {
            let body = format!(
                r#"{{"type":"ContributionReceived","forbund":"{}","date":"2024-12-20","member":"{}","year":2024,"amount":"1","reference":"load {} {id} {n}","idempotency_key":"load-{}-{id}-{n}"}}"#,
                o.forbund, o.member, o.run, o.run
            );
            format!(
                "POST /api/v1/events HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n{body}",
                addr,
                o.token,
                body.len()
            )
        } else {
            format!("GET {} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\r\n", o.read_path, addr, o.token)
        };
        let started = Instant::now();
        match conn.call(request.as_bytes()).await {
            Ok(status) if (200..300).contains(&status) => {
                t.ok += 1;
                t.micros.push(started.elapsed().as_micros() as u64);
            }
            Ok(_) => t.failed += 1,
            Err(_) => {
                t.failed += 1;
                match Conn::open(&addr).await {
                    Ok(c) => conn = c,
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        }
    }
    t
}

fn summary(kind: &str, clients: usize, tallies: Vec<Tally>, seconds: f64) -> serde_json::Value {
    let ok: u64 = tallies.iter().map(|t| t.ok).sum();
    let failed: u64 = tallies.iter().map(|t| t.failed).sum();
    let mut all: Vec<u64> = tallies.into_iter().flat_map(|t| t.micros).collect();
    all.sort_unstable();
    serde_json::json!({"kind": kind, "clients": clients, "ok": ok, "failed": failed,
        "per_second": (ok as f64 / seconds).round(),
        "p50_ms": percentile(&all, 0.50), "p99_ms": percentile(&all, 0.99), "max_ms": percentile(&all, 1.0)})
}

fn main() -> std::process::ExitCode {
    let o = match options() {
        Ok(o) => std::sync::Arc::new(o),
        Err(e) => {
            eprintln!("finsam-load: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    let result = runtime.block_on(async {
        let started = Instant::now();
        let until = started + Duration::from_secs(o.seconds);
        let writers: Vec<_> = (0..o.writers).map(|i| tokio::spawn(client(o.clone(), true, i, until))).collect();
        let readers: Vec<_> = (0..o.readers).map(|i| tokio::spawn(client(o.clone(), false, i, until))).collect();
        let mut w = Vec::new();
        for h in writers {
            w.push(h.await.unwrap_or_default());
        }
        let mut r = Vec::new();
        for h in readers {
            r.push(h.await.unwrap_or_default());
        }
        let seconds = started.elapsed().as_secs_f64();
        serde_json::json!({"seconds": (seconds * 100.0).round() / 100.0,
            "writes": summary("write", o.writers, w, seconds), "reads": summary("read", o.readers, r, seconds)})
    });
    println!("{result}");
    std::process::ExitCode::SUCCESS
}
