//! Progress for a person at a terminal while long work runs (replaying or verifying a large
//! log, recording a large file): a bar on standard error with what is done, what is left and
//! about how long. Silent when standard error is no terminal (piped, redirected, in CI), for
//! work that ends within half a second, and with `FINSAM_PROGRESS=never`;
//! `FINSAM_PROGRESS=always` shows it at once (still only on a terminal).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long work runs before a bar appears (unless `FINSAM_PROGRESS=always`).
const QUIET_FOR: Duration = Duration::from_millis(500);

/// When bars are shown, by `FINSAM_PROGRESS` and whether standard error is a terminal.
#[derive(Clone, Copy)]
enum When {
    Never,
    AfterAWhile,
    AtOnce,
}

fn when() -> When {
    if !std::io::stderr().is_terminal() {
        return When::Never;
    }
    match std::env::var("FINSAM_PROGRESS").as_deref() {
        Ok("never") => When::Never,
        Ok("always") => When::AtOnce,
        _ => When::AfterAWhile,
    }
}

/// One piece of work measured in bytes, e.g. "Läser loggen".
pub struct Bar {
    label: &'static str,
    when: When,
    state: Mutex<Option<State>>,
}

struct State {
    total: u64,
    started: Instant,
    shown: Option<ProgressBar>,
}

impl Bar {
    pub fn new(label: &'static str) -> Bar {
        Bar { label, when: when(), state: Mutex::new(None) }
    }

    pub fn begin(&self, total: u64) {
        if matches!(self.when, When::Never) {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        *state = Some(State { total, started: Instant::now(), shown: None });
        if matches!(self.when, When::AtOnce) {
            self.show(state.as_mut().expect("just begun"), 0);
        }
    }

    pub fn at(&self, done: u64) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(s) = state.as_mut() else { return };
        match &s.shown {
            Some(bar) => bar.set_position(done),
            None if s.started.elapsed() >= QUIET_FOR => self.show(s, done),
            None => {}
        }
    }

    pub fn end(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bar) = state.take().and_then(|s| s.shown) {
            bar.finish_and_clear();
        }
    }

    fn show(&self, state: &mut State, done: u64) {
        let bar = ProgressBar::with_draw_target(Some(state.total), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{msg} {wide_bar} {done} av {total}, {percent} %, {left}")
            .expect("the template is well formed")
            .with_key("done", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&megabytes(s.pos()));
            })
            .with_key("total", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&megabytes(s.len().unwrap_or(0)));
            })
            .with_key("left", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&time_left(s.eta()));
            });
        bar.set_style(style);
        bar.set_message(self.label);
        bar.set_position(done);
        bar.tick();
        state.shown = Some(bar);
    }
}

/// Bytes as megabytes in Swedish: "13,5 MB" (a decimal comma, a no-break space).
fn megabytes(bytes: u64) -> String {
    let tenths = (bytes + 50_000) / 100_000;
    format!("{},{}\u{a0}MB", tenths / 10, tenths % 10)
}

/// What is left, in Swedish: "ungefär 12 s kvar", "ungefär 3 min kvar".
fn time_left(eta: Duration) -> String {
    match eta.as_secs() {
        s if s < 90 => format!("ungefär {s}\u{a0}s kvar"),
        s => format!("ungefär {}\u{a0}min kvar", s.div_ceil(60)),
    }
}

impl finsam_store::progress::Observer for Bar {
    fn begin(&self, total: u64) {
        Bar::begin(self, total);
    }

    fn advance(&self, done: u64) {
        self.at(done);
    }

    fn end(&self) {
        Bar::end(self);
    }
}

/// Shows the store's reads of the log under `label`, if bars are shown at all.
pub fn watch_the_log(label: &'static str) {
    if !matches!(when(), When::Never) {
        finsam_store::progress::observe(Box::new(Bar::new(label)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_times_are_said_the_swedish_way() {
        assert_eq!(megabytes(18_134_372), "18,1\u{a0}MB");
        assert_eq!(megabytes(0), "0,0\u{a0}MB");
        assert_eq!(time_left(Duration::from_secs(12)), "ungefär 12\u{a0}s kvar");
        assert_eq!(time_left(Duration::from_secs(125)), "ungefär 3\u{a0}min kvar");
    }
}
