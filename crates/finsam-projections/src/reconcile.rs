//! The merger reconciliation run: every check a revisor needs to show, to the öre, that the
//! old förbund's money reached the new one and that the plans add up. Pure: it reads the
//! projection (and, for dates, the events) and returns findings; it decides nothing.

use crate::chart::{Chart, Role};
use crate::projection::{BudgetRecord, Projection, VoucherKind};
use crate::reports::At;
use chrono::{Datelike, Duration, NaiveDate};
use finsam_domain::event::BudgetStatus;
use finsam_domain::{Amount, Category, Event, MemberKind, Slug};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// The checks, in the order they run and report.
pub const CHECKS: [&str; 14] = [
    "budget_arithmetic",
    "equity_rollforward",
    "transfer_vs_estimate",
    "transfer_vs_books",
    "opening_equity",
    "duplicate_payment",
    "contribution_split",
    "overspend",
    "spent_without_grant",
    "accrual_unsettled",
    "payroll_overpaid",
    "report_adoption",
    "equity_ceiling",
    "missing",
];

/// A figure of a finding: kronor, or a share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Figure {
    Kr(Amount),
    Fraction(Decimal),
}

impl Figure {
    /// Machine form: a decimal string.
    pub fn text(self) -> String {
        match self {
            Figure::Kr(a) => a.canonical(),
            Figure::Fraction(d) => d.normalize().to_string(),
        }
    }

    /// A table's form: "1 109 000,00" (kronor without the unit) or "13,58 %".
    pub fn human_number(self) -> String {
        match self {
            Figure::Kr(a) => a.human_number(),
            Figure::Fraction(d) => percent(d),
        }
    }

    /// Human form: "1 109 000,00 kr" or "13,58 %".
    pub fn human(self) -> String {
        match self {
            Figure::Kr(a) => a.human(),
            share => share.human_number(),
        }
    }
}

/// A check's name as a revisor reads it in a table (the id stays in JSON and CSV).
pub fn check_label(check: &str) -> &str {
    match check {
        "budget_arithmetic" => "budgetens aritmetik",
        "equity_rollforward" => "eget kapital mellan åren",
        "transfer_vs_estimate" => "överföring mot beräkning",
        "transfer_vs_books" => "överföring mot bokföring",
        "opening_equity" => "ingående eget kapital",
        "duplicate_payment" => "dubbelbetalning",
        "contribution_split" => "bidragens fördelning",
        "overspend" => "överskridande",
        "spent_without_grant" => "utgifter utan beviljade medel",
        "accrual_unsettled" => "periodisering utan motsvarande kostnad",
        "payroll_overpaid" => "personalens skatter och avgifter överbetalda",
        "report_adoption" => "antagen årsredovisning mot böckerna",
        "equity_ceiling" => "tak för eget kapital",
        "missing" => "saknas",
        other => other,
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub check: &'static str,
    pub forbund: Slug,
    pub subject: String,
    pub stated: Option<Figure>,
    pub computed: Option<Figure>,
    /// stated − computed.
    pub difference: Option<Figure>,
    pub severity: Severity,
    /// The seqs the finding rests on, to open in the audit trail.
    pub events: Vec<u64>,
    pub explanation: String,
    /// The subject of the finding that explains this one (a payment registered twice throws
    /// every member's share off): this one is its consequence and goes once the cause is
    /// corrected. `None` for a finding of its own.
    pub caused_by: Option<String>,
}

pub struct Options {
    /// Only the merger into this förbund (and the förbund merging into it).
    pub merger: Option<Slug>,
    /// Only what concerns this förbund's books (`Reconciliation::restricted_to`): its own
    /// checks and those of the mergers it takes part in, not every förbund's.
    pub forbund: Option<Slug>,
    pub at: At,
    pub rules: Rules,
}

/// The limits the checks apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    /// The ceiling on equity: by the förbund's size, a share of the year's contributions.
    pub equity_ceiling: crate::annual::CeilingRule,
    /// How many days after the new year a cost accrued at the year's end must be met by the
    /// cost itself (the invoice, the salary) before its reversal is a finding.
    pub accrual_days: u32,
}

impl Default for Rules {
    fn default() -> Rules {
        Rules { equity_ceiling: crate::annual::CeilingRule::default_rule(), accrual_days: 60 }
    }
}

#[derive(Debug)]
pub struct Reconciliation {
    pub findings: Vec<Finding>,
    /// The förbund the run looked at.
    pub scope: Vec<Slug>,
    /// Every merger of the run, with every old förbund's figures — those that agree too.
    pub mergers: Vec<MergerTable>,
    /// Per förbund and year with contributions decided: what each payer owed and paid.
    pub payers: Vec<PayerRow>,
}

pub use crate::members::PayerRow;

/// A contribution registered more than once (see `Run::duplicate_payments`).
struct Duplicate {
    subject: String,
    member: Slug,
    name: String,
    amount: Amount,
    /// What was paid beyond the one payment.
    extra: Amount,
    date: NaiveDate,
    seqs: Vec<u64>,
}

/// A merger, old förbund by old förbund: what the plans said and what the books show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergerTable {
    pub into: Slug,
    pub effective: NaiveDate,
    pub seq: u64,
    pub rows: Vec<MergerRow>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergerRow {
    pub from: Slug,
    /// The merger decision's estimate of the transfer.
    pub estimate: Option<Amount>,
    /// The old förbund's own latest forecast of its closing equity the year before the merger.
    pub forecast: Option<Amount>,
    /// Its booked equity the day before the merger took effect.
    pub booked: Option<Amount>,
    /// What left its books as transfers of equity to the new förbund.
    pub transferred: Amount,
    /// What arrived in the new förbund's books as equity from it.
    pub arrived: Amount,
}

impl Reconciliation {
    pub fn ok(&self) -> bool {
        !self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The part of a run that concerns one förbund's books: its own findings, the mergers into
    /// it and its payers. What a user who may read only that förbund is shown of a run over
    /// the whole store.
    pub fn restricted_to(mut self, forbund: &Slug) -> Reconciliation {
        self.findings.retain(|f| &f.forbund == forbund);
        self.scope.retain(|f| f == forbund);
        self.mergers.retain(|m| &m.into == forbund);
        self.payers.retain(|p| &p.forbund == forbund);
        self
    }
}

/// Why a run cannot start.
#[derive(Debug, PartialEq, Eq)]
pub struct NoSuchMerger(pub String);

struct Run<'a> {
    p: &'a Projection,
    events: &'a [(u64, Event)],
    at: At,
    ceiling: crate::annual::CeilingRule,
    accrual_days: u32,
    chart: Chart,
    findings: Vec<Finding>,
    /// The booked equity per förbund, read from its vouchers once (see `Openings`).
    openings: std::cell::RefCell<std::collections::HashMap<Slug, std::rc::Rc<Openings>>>,
    /// The booked opening equity of a budget position, per förbund, for every year at once.
    position_openings: std::cell::RefCell<std::collections::HashMap<Slug, std::rc::Rc<crate::reports::OpeningsByYear>>>,
    /// The events of each förbund (indexes into `events`): a check of one förbund reads its own.
    by_forbund: std::collections::HashMap<&'a Slug, Vec<usize>>,
    /// The vouchers of the förbund being checked (all its dates, as known at the run's seq),
    /// decoded once for its checks instead of once by each.
    vouchers: std::cell::RefCell<Option<(Slug, std::rc::Rc<Vec<crate::projection::Voucher>>)>>,
    /// The vouchers of the förbund checked next, decoded while this one is checked.
    ahead: std::cell::RefCell<Ahead>,
}

type Vouchers = Vec<crate::projection::Voucher>;

/// The other end of the thread that decodes the vouchers of the förbund in scope, one förbund
/// ahead of the checks, in the order they are checked; the vouchers of the förbund checked
/// before go back to it to be freed (where they were allocated, see `finsam_store::log`).
struct Ahead {
    order: Vec<Slug>,
    decoded: std::sync::mpsc::Receiver<(Slug, Vouchers)>,
    next: Option<(Slug, Vouchers)>,
    give_back: std::sync::mpsc::Sender<Vouchers>,
}

impl Ahead {
    /// The vouchers of `f` if the thread decoded them: those of the förbund before it in the
    /// order are let go on the way; a förbund outside the order, or asked for again after its
    /// turn, is the caller's to decode.
    fn take(&mut self, f: &Slug) -> Option<Vouchers> {
        let want = self.order.iter().position(|x| x == f)?;
        loop {
            if self.next.is_none() {
                self.next = self.decoded.recv().ok();
            }
            let (next, vouchers) = self.next.take()?;
            let at = self.order.iter().position(|x| *x == next).expect("the thread decodes the förbund in the order");
            if at == want {
                return Some(vouchers);
            }
            if at > want {
                self.next = Some((next, vouchers));
                return None;
            }
            self.let_go(vouchers);
        }
    }

    fn let_go(&self, vouchers: Vouchers) {
        // Gone only when the thread has ended: then they are freed here.
        let _ = self.give_back.send(vouchers);
    }
}

/// A förbund's booked equity at the start of each year, from one pass over its vouchers: what
/// each voucher adds, by the first year whose opening it counts in (the year after its date,
/// or its own year for an opening balance booked on 1 January), and the years whose books open
/// on 1 January with an opening balance.
#[derive(Default)]
struct Openings {
    from_year: BTreeMap<i32, Amount>,
    opened_on_jan_1: std::collections::BTreeSet<i32>,
}

/// Öre are rounded half away from zero, as money is.
const ORE: rust_decimal::RoundingStrategy = rust_decimal::RoundingStrategy::MidpointAwayFromZero;

/// A category as a word in a finding.
fn category_word(c: Category) -> &'static str {
    match c {
        Category::Admin => "administration",
        Category::Individ => "individinriktad",
        Category::Struktur => "strukturinriktad",
    }
}

fn kr(a: Amount) -> Option<Figure> {
    Some(Figure::Kr(a))
}

fn year_start(year: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, 1, 1).expect("a valid year")
}

fn year_end(year: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, 12, 31).expect("a valid year")
}

/// Whether a check must read `f`'s events from the log: every other figure a run needs is in
/// the projection, but not the events of a dissolved förbund dated after its dissolution. Only
/// when its latest event is dated later are they looked for.
fn events_after_dissolution(p: &Projection, f: &Slug, at: At) -> bool {
    p.forbund.get(f).is_some_and(|info| match info.dissolved {
        Some((day, seq)) => seq <= at.known_at && info.latest_date.is_some_and(|latest| latest > day),
        None => false,
    })
}

/// The förbund whose events a run needs from the log (see `reconcile`): usually none.
pub fn needs_events(p: &Projection, at: At) -> BTreeSet<Slug> {
    p.forbund.keys().filter(|f| events_after_dissolution(p, f, at)).cloned().collect()
}

/// Runs every check. `events` are recorded events `(seq, event)` up to `at.known_at`: at least
/// those of the förbund `needs_events` names (every event will do).
pub fn reconcile(p: &Projection, events: &[(u64, Event)], options: Options) -> Result<Reconciliation, NoSuchMerger> {
    let at = options.at;
    let concerns = |m: &crate::projection::MergerRecord| {
        options.forbund.as_ref().is_none_or(|f| &m.forbund == f || m.merging.contains(f))
    };
    let mergers: Vec<_> = p
        .mergers
        .iter()
        .filter(|m| m.seq <= at.known_at && m.date <= at.as_of)
        .filter(|m| options.merger.as_ref().is_none_or(|f| &m.forbund == f))
        .filter(|m| concerns(m))
        .collect();
    let mut scope: Vec<Slug> = match &options.merger {
        Some(f) => {
            if mergers.is_empty() {
                let known: BTreeSet<&str> = p.mergers.iter().map(|m| m.forbund.as_str()).collect();
                return Err(NoSuchMerger(format!(
                    "no merger into {f} is recorded {} (mergers recorded into: {})",
                    if at.known_at < p.head {
                        format!("as known at seq {}", at.known_at)
                    } else {
                        format!("by {}", at.as_of)
                    },
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.into_iter().collect::<Vec<_>>().join(", ")
                    }
                )));
            }
            let mut s: BTreeSet<Slug> = mergers.iter().flat_map(|m| m.merging.iter().cloned()).collect();
            s.insert(f.clone());
            s.into_iter().collect()
        }
        None => p.forbund.iter().filter(|(_, info)| info.seq <= at.known_at).map(|(f, _)| f.clone()).collect(),
    };
    if let Some(f) = &options.forbund {
        scope.retain(|x| x == f);
    }
    std::thread::scope(|threads| {
        let (send, decoded) = std::sync::mpsc::sync_channel::<(Slug, Vouchers)>(1);
        let (give_back, returned) = std::sync::mpsc::channel::<Vouchers>();
        let order = scope.clone();
        threads.spawn(move || {
            for f in &order {
                while let Ok(done) = returned.try_recv() {
                    drop(done);
                }
                let vouchers = p.visible_vouchers(f, at.known_at, NaiveDate::MAX).collect();
                if send.send((f.clone(), vouchers)).is_err() {
                    break;
                }
            }
            // Until the checks end (and drop their end of the channel).
            for done in returned {
                drop(done);
            }
        });
        let ahead = Ahead { order: scope.clone(), decoded, next: None, give_back };
        let mut run = Run {
            ahead: std::cell::RefCell::new(ahead),
            p,
            events,
            at,
            ceiling: options.rules.equity_ceiling.clone(),
            accrual_days: options.rules.accrual_days,
            chart: Chart::default_chart(),
            findings: Vec::new(),
            openings: Default::default(),
            position_openings: Default::default(),
            vouchers: Default::default(),
            by_forbund: {
                let mut by: std::collections::HashMap<&Slug, Vec<usize>> = Default::default();
                for (i, (_, e)) in events.iter().enumerate() {
                    by.entry(&e.forbund).or_default().push(i);
                }
                by
            },
        };
        // One förbund at a time, its plans' checks and then its books': its vouchers are decoded
        // once (`Run::vouchers_of` holds one förbund's). The findings are sorted below.
        let budgets: Vec<&BudgetRecord> = run.visible_budgets().filter(|b| scope.contains(&b.forbund)).collect();
        let mut payers = Vec::new();
        for f in &scope {
            for budget in budgets.iter().filter(|b| &b.forbund == f) {
                run.budget_arithmetic(budget);
                run.equity_rollforward(budget);
                run.plan_ceiling(budget);
            }
            payers.extend(run.payers(f));
            run.contribution_split(f);
            run.overspend(f);
            run.spent_without_grant(f);
            run.accrual_unsettled(f);
            run.payroll_overpaid(f);
            run.report_adoption(f);
            run.books_ceiling(f);
            run.dissolved(f);
        }
        let mut tables = Vec::new();
        for m in &mergers {
            for old in &m.merging {
                run.transfer_vs_estimate(m, old);
                run.transfer_vs_books(m, old);
                run.missing_transfer(m, old);
                run.insatser_carried(m, old);
            }
            run.opening_equity(m);
            tables.push(run.merger_table(m));
        }
        let order = |c: &str| CHECKS.iter().position(|x| *x == c).unwrap_or(CHECKS.len());
        run.findings.sort_by(|a, b| {
            (&a.forbund, order(a.check), a.events.first(), &a.subject).cmp(&(
                &b.forbund,
                order(b.check),
                b.events.first(),
                &b.subject,
            ))
        });
        if let Some((_, last)) = run.vouchers.take() {
            if let Ok(last) = std::rc::Rc::try_unwrap(last) {
                run.ahead.borrow().let_go(last);
            }
        }
        let result = Reconciliation { findings: run.findings, scope, mergers: tables, payers };
        Ok(match &options.forbund {
            Some(f) => result.restricted_to(f),
            None => result,
        })
    })
}

impl<'a> Run<'a> {
    // One argument per field of a finding: a struct literal at each of the many call sites
    // would only add noise.
    #[allow(clippy::too_many_arguments)]
    fn find(
        &mut self,
        check: &'static str,
        f: &Slug,
        severity: Severity,
        subject: String,
        stated: Option<Figure>,
        computed: Option<Figure>,
        events: Vec<u64>,
        explanation: String,
    ) {
        let difference = match (stated, computed) {
            (Some(Figure::Kr(s)), Some(Figure::Kr(c))) => kr(s - c),
            (Some(Figure::Fraction(s)), Some(Figure::Fraction(c))) => Some(Figure::Fraction(s - c)),
            _ => None,
        };
        self.findings.push(Finding {
            check,
            forbund: f.clone(),
            subject,
            stated,
            computed,
            difference,
            severity,
            events,
            explanation,
            caused_by: None,
        });
    }

    fn visible_budgets(&self) -> impl Iterator<Item = &'a BudgetRecord> + 'a {
        let at = self.at;
        self.p.budgets.iter().filter(move |b| {
            b.seq <= at.known_at
                && b.date <= at.as_of
                && !b.corrected.is_some_and(|(seq, date)| seq <= at.known_at && date <= at.as_of)
        })
    }

    fn label(b: &BudgetRecord) -> String {
        let what = if b.status == BudgetStatus::Adopted { "budget" } else { "prognos" };
        format!("{what} {} (händelse nr {})", b.year, b.seq)
    }

    /// The latest visible plan of `f` for `year` that states a closing equity.
    fn stated_closing(&self, f: &Slug, year: i32) -> Option<(Amount, u64)> {
        self.visible_budgets()
            .filter(|b| &b.forbund == f && b.year == year)
            .filter_map(|b| b.stated.as_ref().and_then(|s| s.closing_equity).map(|c| (c, b.seq)))
            .max_by_key(|(_, seq)| *seq)
    }

    /// Booked equity at the start of `year`, when the books cover that moment: the förbund was
    /// registered before the year began, or its books open on 1 January with an opening balance.
    fn booked_opening(&self, f: &Slug, year: i32) -> Option<Amount> {
        let info = self.p.forbund.get(f)?;
        let openings = self.openings_of(f);
        if info.registered > year_start(year) && !openings.opened_on_jan_1.contains(&year) {
            return None;
        }
        Some(openings.from_year.range(..=year).fold(Amount::ZERO, |sum, (_, a)| sum + *a))
    }

    /// A year's budget position at the run's axes, its booked opening equity read once for
    /// every year of the förbund.
    fn position(&self, f: &Slug, year: i32) -> Option<crate::reports::BudgetPosition> {
        let openings = self.position_openings.borrow().get(f).cloned();
        let openings = openings.unwrap_or_else(|| {
            let o = std::rc::Rc::new(crate::reports::OpeningsByYear::of(self.vouchers_of(f).iter()));
            self.position_openings.borrow_mut().insert(f.clone(), o.clone());
            o
        });
        let vouchers = self.vouchers_of(f);
        let given = crate::reports::Given { opening: openings.at_year(year), vouchers: &vouchers };
        self.p.budget_position_given(f, year, self.at, Some(given))
    }

    /// The vouchers of `f` as known at the run's seq, every date, in booking order: decoded once
    /// for the förbund being checked (the one before is let go).
    fn vouchers_of(&self, f: &Slug) -> std::rc::Rc<Vec<crate::projection::Voucher>> {
        if let Some((cached, vouchers)) = self.vouchers.borrow().as_ref() {
            if cached == f {
                return vouchers.clone();
            }
        }
        let mut ahead = self.ahead.borrow_mut();
        let decoded = ahead
            .take(f)
            .unwrap_or_else(|| self.p.visible_vouchers(f, self.at.known_at, NaiveDate::MAX).collect::<Vec<_>>());
        let vouchers = std::rc::Rc::new(decoded);
        if let Some((_, before)) = self.vouchers.borrow_mut().replace((f.clone(), vouchers.clone())) {
            if let Ok(before) = std::rc::Rc::try_unwrap(before) {
                ahead.let_go(before);
            }
        }
        vouchers
    }

    /// The events of `f`, in the log's order.
    fn events_of(&self, f: &Slug) -> impl Iterator<Item = &'a (u64, Event)> + '_ {
        let events = self.events;
        self.by_forbund.get(f).into_iter().flatten().map(move |i| &events[*i])
    }

    fn openings_of(&self, f: &Slug) -> std::rc::Rc<Openings> {
        if let Some(o) = self.openings.borrow().get(f) {
            return o.clone();
        }
        let mut o = Openings::default();
        for v in self.vouchers_of(f).iter() {
            let opening_on_jan_1 = v.date == year_start(v.date.year()) && v.is_opening();
            if opening_on_jan_1 {
                o.opened_on_jan_1.insert(v.date.year());
            }
            let first = if opening_on_jan_1 { v.date.year() } else { v.date.year() + 1 };
            let equity: Amount = v
                .rows
                .iter()
                .filter(|r| {
                    !matches!(r.role, Role::Bank | Role::OpeningDifferenceAsset | Role::OpeningDifferenceLiability)
                })
                .map(|r| r.amount)
                .sum();
            *o.from_year.entry(first).or_insert(Amount::ZERO) -= equity;
        }
        let o = std::rc::Rc::new(o);
        self.openings.borrow_mut().insert(f.clone(), o.clone());
        o
    }

    /// The opening equity a plan builds on: as printed in it, else the previous year's stated
    /// closing equity, else the booked equity at the start of the year.
    fn plan_opening(&self, b: &BudgetRecord) -> Option<(Amount, String, Option<u64>)> {
        if let Some(o) = b.stated.as_ref().and_then(|s| s.opening_equity) {
            return Some((o, "enligt planen".into(), None));
        }
        if let Some((c, seq)) = self.stated_closing(&b.forbund, b.year - 1) {
            return Some((c, format!("angivet utgående eget kapital {}", b.year - 1), Some(seq)));
        }
        self.booked_opening(&b.forbund, b.year).map(|o| (o, "bokfört".into(), None))
    }

    fn budget_arithmetic(&mut self, b: &'a BudgetRecord) {
        let Some(stated) = b.stated.as_deref() else { return };
        let f = &b.forbund;
        let label = Self::label(b);
        let sum = |pick: &dyn Fn(&finsam_domain::event::CostLine) -> bool| -> Amount {
            b.costs.iter().filter(|l| pick(l)).map(|l| l.amount).sum()
        };
        let costs = sum(&|_| true);
        let income: Amount = b.income.iter().map(|l| l.amount).sum();
        let transfers: Amount = b.transfers.iter().map(|t| t.amount).sum();
        let direct = sum(&|l| l.category != Category::Admin);
        // (subject, stated, computed, why, extra seq the computation rests on)
        let mut checks: Vec<(String, Amount, Amount, String, Option<u64>)> = Vec::new();
        for (c, s) in &stated.by_category {
            let lines = sum(&|l| l.category == *c);
            checks.push((
                format!("summa {c}"),
                *s,
                lines,
                format!("dess rader för {c} summerar till {}", lines.human()),
                None,
            ));
        }
        for (g, s) in &stated.by_group {
            let lines = sum(&|l| l.group.as_deref() == Some(g.as_str()));
            checks.push((
                format!("summa {g}"),
                *s,
                lines,
                format!("raderna under {g} summerar till {}", lines.human()),
                None,
            ));
        }
        if let Some(s) = stated.costs_total {
            checks.push((
                "summa kostnader".into(),
                s,
                costs,
                format!("dess kostnadsrader summerar till {}", costs.human()),
                None,
            ));
        }
        if let Some(s) = stated.income_total {
            checks.push((
                "summa intäkter".into(),
                s,
                income,
                format!("dess intäktsrader summerar till {}", income.human()),
                None,
            ));
        }
        if let Some(s) = stated.direct_total {
            checks.push((
                "summa direkta kostnader".into(),
                s,
                direct,
                format!("dess individ- och strukturrader summerar till {}", direct.human()),
                None,
            ));
        }
        if let Some(s) = stated.transfers_total {
            checks.push((
                "summa överföringar".into(),
                s,
                transfers,
                format!("dess överföringar summerar till {}", transfers.human()),
                None,
            ));
        }
        if let Some(s) = stated.result {
            let r = income - costs;
            let why = format!("intäkter {} − kostnader {} (dess rader) = {}", income.human(), costs.human(), r.human());
            checks.push(("resultat".into(), s, r, why, None));
        }
        let opening = self.plan_opening(b);
        if let Some((o, source, seq)) = &opening {
            if let Some(s) = stated.available {
                let a = *o + income + transfers;
                checks.push((
                    "disponibelt (ingående eget kapital + intäkter + överföringar)".into(),
                    s,
                    a,
                    format!(
                        "ingående eget kapital {} ({source}) + intäkter {} + överföringar {} = {}",
                        o.human(),
                        income.human(),
                        transfers.human(),
                        a.human()
                    ),
                    *seq,
                ));
            }
            if let Some(s) = stated.closing_equity {
                let c = *o + income - costs + transfers;
                let mut why = format!(
                    "ingående eget kapital {} ({source}) + intäkter {} − kostnader {} (dess rader)",
                    o.human(),
                    income.human(),
                    costs.human()
                );
                if !transfers.is_zero() {
                    why.push_str(&format!(" + överföringar {}", transfers.human()));
                }
                why.push_str(&format!(" = {}", c.human()));
                if let (Some(si), Some(sc)) = (stated.income_total, stated.costs_total) {
                    let by_totals = *o + si - sc + transfers;
                    if by_totals != c {
                        why.push_str(&format!("; enligt dess angivna summor {}", by_totals.human()));
                    }
                }
                checks.push(("utgående eget kapital".into(), s, c, why, *seq));
            }
        }
        for (subject, s, computed, why, extra) in checks {
            if s != computed {
                let mut events = vec![b.seq];
                events.extend(extra);
                self.find(
                    "budget_arithmetic",
                    f,
                    Severity::Error,
                    format!("{label}: {subject}"),
                    kr(s),
                    kr(computed),
                    events,
                    format!("I planen står {subject} {}; {why}", s.human()),
                );
            }
        }
        // Shares, compared at the precision they are printed with.
        let category = |c: Category| sum(&|l| l.category == c);
        for (which, s) in &stated.shares {
            use finsam_domain::event::StatedShare::*;
            let (part, whole) = match which {
                AdminOfCosts => (category(Category::Admin), costs),
                DirectOfCosts => (direct, costs),
                IndividOfDirect => (category(Category::Individ), direct),
                StrukturOfDirect => (category(Category::Struktur), direct),
            };
            if whole.is_zero() {
                continue;
            }
            let exact = part.decimal() / whole.decimal();
            let printed = s.decimal();
            if exact.round_dp(printed.scale()) != printed {
                self.find(
                    "budget_arithmetic",
                    f,
                    Severity::Error,
                    format!("{label}: andel {which}"),
                    Some(Figure::Fraction(printed)),
                    Some(Figure::Fraction(exact.round_dp(4))),
                    vec![b.seq],
                    format!(
                        "I planen står andel {which} {}; dess rader ger {}",
                        Figure::Fraction(printed).human(),
                        Figure::Fraction(exact.round_dp(4)).human()
                    ),
                );
            }
        }
    }

    fn equity_rollforward(&mut self, b: &BudgetRecord) {
        let Some(opening) = b.stated.as_ref().and_then(|s| s.opening_equity) else { return };
        let f = &b.forbund;
        let (previous, source, mut events) = match self.stated_closing(f, b.year - 1) {
            Some((c, seq)) => (
                c,
                format!("det utgående eget kapital som angavs för {} (händelse nr {seq})", b.year - 1),
                vec![b.seq, seq],
            ),
            None => match self.booked_opening(f, b.year) {
                Some(o) => (o, format!("det eget kapital som var bokfört vid ingången av {}", b.year), vec![b.seq]),
                None => return,
            },
        };
        events.dedup();
        if opening != previous {
            self.find(
                "equity_rollforward",
                f,
                Severity::Error,
                format!("{}: ingående eget kapital", Self::label(b)),
                kr(opening),
                kr(previous),
                events,
                format!("I planen står ingående eget kapital {}; {source} är {}", opening.human(), previous.human()),
            );
        }
    }

    fn transferred(&self, m: &crate::projection::MergerRecord, old: &Slug) -> (Amount, Vec<u64>) {
        let list: Vec<_> = self
            .p
            .transfers
            .iter()
            .filter(|t| &t.from == old && t.to == m.forbund && t.seq <= self.at.known_at && t.date <= self.at.as_of)
            .filter(|t| {
                !self
                    .p
                    .corrected
                    .get(&t.seq)
                    .is_some_and(|(seq, date)| *seq <= self.at.known_at && *date <= self.at.as_of)
            })
            .collect();
        (list.iter().map(|t| t.amount).sum(), list.iter().map(|t| t.seq).collect())
    }

    fn transfer_vs_estimate(&mut self, m: &crate::projection::MergerRecord, old: &Slug) {
        let estimates: Vec<_> = m.estimates.iter().filter(|e| &e.from == old).collect();
        if estimates.is_empty() {
            return;
        }
        let estimate: Amount = estimates.iter().map(|e| e.amount).sum();
        let (actual, seqs) = self.transferred(m, old);
        if !seqs.is_empty() && actual != estimate {
            let mut events = vec![m.seq];
            events.extend(&seqs);
            self.find(
                "transfer_vs_estimate",
                old,
                Severity::Warning,
                format!("överföring till {}", m.forbund),
                kr(estimate),
                kr(actual),
                events,
                format!("Beräknad överföring {}; faktiskt överfört {}", estimate.human(), actual.human()),
            );
        }
        let forecast_year = m.effective.year() - 1;
        if let Some((forecast, seq)) = self.stated_closing(old, forecast_year) {
            if forecast != estimate {
                self.find(
                    "transfer_vs_estimate",
                    old,
                    Severity::Warning,
                    format!("prognos utgående eget kapital {forecast_year}"),
                    kr(estimate),
                    kr(forecast),
                    vec![m.seq, seq],
                    format!(
                        "Beräknad överföring {} i beslutet om sammanläggning; {old}s egen senaste prognos för utgående eget kapital {forecast_year} är {}",
                        estimate.human(),
                        forecast.human()
                    ),
                );
            }
        }
    }

    fn transfer_vs_books(&mut self, m: &crate::projection::MergerRecord, old: &Slug) {
        let (actual, seqs) = self.transferred(m, old);
        if !seqs.is_empty() {
            let day_before = m.effective - Duration::days(1);
            let at = At { as_of: day_before, known_at: self.at.known_at };
            if let Some(b) = self.p.balances(old, at, &self.chart) {
                if b.equity != actual {
                    let mut events = vec![m.seq];
                    events.extend(&seqs);
                    self.find(
                        "transfer_vs_books",
                        old,
                        Severity::Error,
                        format!("eget kapital {day_before} mot överföringen"),
                        kr(actual),
                        kr(b.equity),
                        events,
                        format!(
                            "Överfört {} till {}; bokföringen visar eget kapital {} per {day_before}",
                            actual.human(),
                            m.forbund,
                            b.equity.human()
                        ),
                    );
                }
            }
        }
        let Some((dissolved, seq)) = self.p.forbund.get(old).and_then(|i| i.dissolved) else { return };
        if seq > self.at.known_at || dissolved > self.at.as_of {
            return;
        }
        if let Some(b) = self.p.balances(old, self.at, &self.chart) {
            for a in b.accounts.iter().filter(|a| !a.balance.is_zero()) {
                self.find(
                    "transfer_vs_books",
                    old,
                    Severity::Error,
                    format!("konto {} efter upplösningen", a.account),
                    kr(Amount::ZERO),
                    kr(a.balance),
                    vec![seq],
                    format!(
                        "{old} upplöstes {dissolved}, men konto {} {} har fortfarande {}",
                        a.account,
                        a.name,
                        a.balance.human()
                    ),
                );
            }
        }
    }

    fn missing_transfer(&mut self, m: &crate::projection::MergerRecord, old: &Slug) {
        let (_, seqs) = self.transferred(m, old);
        if seqs.is_empty() && self.at.as_of >= m.effective {
            self.find(
                "missing",
                old,
                Severity::Error,
                format!("överföring till {}", m.forbund),
                None,
                None,
                vec![m.seq],
                format!(
                    "Sammanläggningen till {} gäller från {}, men ingen överföring av eget kapital från {old} är registrerad",
                    m.forbund, m.effective
                ),
            );
        }
    }

    fn insatser_carried(&mut self, m: &crate::projection::MergerRecord, old: &Slug) {
        let at = self.at;
        let visible = move |seq: u64, date: NaiveDate| seq <= at.known_at && date <= at.as_of;
        let p = self.p;
        let olds: Vec<_> = p.insatser.iter().filter(|i| &i.forbund == old && visible(i.seq, i.date)).collect();
        for insats in olds {
            let ended = insats.end_known_at(at.known_at).is_some_and(|e| e < m.effective);
            let carried = p.insatser.iter().any(|n| {
                n.forbund == m.forbund
                    && visible(n.seq, n.date)
                    && n.continues.as_ref().is_some_and(|c| &c.forbund == old && c.insats == insats.insats)
            });
            if !ended && !carried && at.as_of >= m.effective {
                self.find(
                    "missing",
                    old,
                    Severity::Error,
                    format!("insats {}", insats.insats),
                    None,
                    None,
                    vec![insats.seq, m.seq],
                    format!(
                        "Insats {} ({}) i {old} fördes varken över till {} (ett InsatsCreated med `continues`) eller avslutades före {}",
                        insats.insats, insats.name, m.forbund, m.effective
                    ),
                );
            }
        }
    }

    /// What arrived in the new förbund's books as equity from `old`: the rows of equity
    /// received in its vouchers booked from the transfers out of `old`.
    fn arrived(&self, m: &crate::projection::MergerRecord, old: &Slug) -> Amount {
        let (_, seqs) = self.transferred(m, old);
        seqs.iter()
            .flat_map(|seq| self.p.vouchers_of(*seq))
            .filter(|v| v.forbund == m.forbund && v.seq <= self.at.known_at && v.date <= self.at.as_of)
            .flat_map(|v| v.rows)
            .filter(|r| r.role == Role::EquityReceived)
            .map(|r| -r.amount)
            .sum()
    }

    /// An old förbund's booked equity the day before the merger took effect.
    fn booked_before(&self, m: &crate::projection::MergerRecord, old: &Slug) -> Option<Amount> {
        let at = At { as_of: m.effective - Duration::days(1), known_at: self.at.known_at };
        self.p.balances(old, at, &self.chart).map(|b| b.equity)
    }

    fn merger_table(&self, m: &crate::projection::MergerRecord) -> MergerTable {
        let rows = m
            .merging
            .iter()
            .map(|old| {
                let estimates: Vec<Amount> = m.estimates.iter().filter(|e| &e.from == old).map(|e| e.amount).collect();
                MergerRow {
                    from: old.clone(),
                    estimate: (!estimates.is_empty()).then(|| estimates.iter().copied().sum()),
                    forecast: self.stated_closing(old, m.effective.year() - 1).map(|(a, _)| a),
                    booked: self.booked_before(m, old),
                    transferred: self.transferred(m, old).0,
                    arrived: self.arrived(m, old),
                }
            })
            .collect();
        MergerTable { into: m.forbund.clone(), effective: m.effective, seq: m.seq, rows }
    }

    /// The new förbund's opening equity from each old one — what arrived in its books — against
    /// the old förbund's booked closing equity the day before the merger; and its members.
    fn opening_equity(&mut self, m: &crate::projection::MergerRecord) {
        let f = &m.forbund;
        if self.at.as_of >= m.effective {
            for old in &m.merging {
                let (_, seqs) = self.transferred(m, old);
                let (Some(booked), false) = (self.booked_before(m, old), seqs.is_empty()) else { continue };
                let arrived = self.arrived(m, old);
                if arrived != booked {
                    let mut events = vec![m.seq];
                    events.extend(seqs);
                    let day_before = m.effective - Duration::days(1);
                    self.find(
                        "opening_equity",
                        f,
                        Severity::Error,
                        format!("eget kapital från {old}"),
                        kr(booked),
                        kr(arrived),
                        events,
                        format!(
                            "{old}s bokföring visar eget kapital {} per {day_before}; {} kom fram i {f}s bokföring som eget kapital därifrån",
                            booked.human(),
                            arrived.human()
                        ),
                    );
                }
            }
        }
        let Some(new) = self.p.forbund.get(f) else { return };
        // The members in force when the merger takes effect (the old förbund's the day before).
        let known_at = self.at.known_at;
        let new_members: BTreeSet<&Slug> = new.members_at(m.effective, known_at).iter().map(|(id, ..)| id).collect();
        let day_before = m.effective.pred_opt().unwrap_or(m.effective);
        // In a merger by absorption the förbund that continues (it kept books before the merger)
        // brings its own members too.
        let continues = self.p.visible_vouchers(f, known_at, day_before).next().is_some();
        let old_members: BTreeSet<&Slug> = m
            .merging
            .iter()
            .chain(continues.then_some(f))
            .filter_map(|o| self.p.forbund.get(o))
            .flat_map(|i| i.members_at(day_before, known_at).iter().map(|(id, ..)| id))
            .collect();
        if new_members != old_members {
            let missing: Vec<&str> = old_members.difference(&new_members).map(|s| s.as_str()).collect();
            let extra: Vec<&str> = new_members.difference(&old_members).map(|s| s.as_str()).collect();
            let mut why = format!("{f}s medlemmar är inte de sammanläggande förbundens medlemmar tillsammans");
            if !missing.is_empty() {
                why.push_str(&format!("; saknas: {}", missing.join(", ")));
            }
            if !extra.is_empty() {
                why.push_str(&format!("; inte med i något av de sammanläggande förbunden: {}", extra.join(", ")));
            }
            self.find("opening_equity", f, Severity::Error, "members".into(), None, None, vec![new.seq, m.seq], why);
        }
    }

    fn contribution_split(&mut self, f: &Slug) {
        let Some(info) = self.p.forbund.get(f) else { return };
        // year -> member -> (amount, seqs)
        let mut by_year: BTreeMap<i32, BTreeMap<Slug, (Amount, Vec<u64>)>> = BTreeMap::new();
        for v in self.vouchers_of(f).iter().filter(|v| v.date <= self.at.as_of && v.kind != VoucherKind::Closing) {
            for r in v.rows.iter().filter(|r| matches!(r.role, Role::Contribution(_))) {
                let member = r.member.clone().expect("contribution rows name their member");
                let entry = by_year.entry(v.year).or_default().entry(member).or_default();
                entry.0 -= r.amount;
                entry.1.push(v.seq);
            }
        }
        let mut duplicates_by_year = self.duplicate_payments(f, info);
        for (year, members) in by_year {
            let before = self.findings.len();
            self.split_of_year(f, info, year, &members);
            let duplicates = duplicates_by_year.remove(&year).unwrap_or_default();
            if duplicates.is_empty() {
                continue;
            }
            // Which of the year's findings would stand if each payment registered twice were
            // there once: those are the year's own; the rest are the duplicates' consequences.
            let found: Vec<Finding> = self.findings.drain(before..).collect();
            let mut once = members.clone();
            for d in &duplicates {
                if let Some(entry) = once.get_mut(&d.member) {
                    entry.0 -= d.extra;
                }
            }
            self.split_of_year(f, info, year, &once);
            let still: Vec<Finding> = self.findings.drain(before..).collect();
            // Several duplicates in a year: the consequences go under the first of them.
            let cause = duplicates[0].subject.clone();
            // The member's payments beyond the decision (found by `payers`, which runs first)
            // are the duplicate's too when they exceed it by exactly what was paid twice.
            for d in &duplicates {
                let subject = format!("{year}: beslutat bidrag från {}", d.name);
                for x in self.findings.iter_mut().filter(|x| &x.forbund == f && x.subject == subject) {
                    if x.difference == kr(-d.extra) {
                        x.caused_by = Some(cause.clone());
                    }
                }
            }
            for d in duplicates {
                let explanation = format!(
                    "{} inbetalningar från {} på {} med samma datum ({}) och samma referens: troligen registrerad mer än en gång. Rätta de extra (händelse {}); då går bidragens fördelning ihop{}",
                    d.seqs.len(),
                    d.name,
                    d.amount.human(),
                    d.date,
                    d.seqs[1..].iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
                    if still.is_empty() { "" } else { " så långt det beror på dem" }
                );
                self.find(
                    "duplicate_payment",
                    f,
                    Severity::Error,
                    d.subject,
                    kr(d.amount + d.extra),
                    kr(d.amount),
                    d.seqs,
                    explanation,
                );
            }
            for mut x in found {
                if !still.iter().any(|s| s.subject == x.subject) {
                    x.caused_by = Some(cause.clone());
                }
                self.findings.push(x);
            }
        }
    }

    /// A year's contributions registered more than once: the same member, date, amount and
    /// reference, none of them corrected (the record-time warning `possible_duplicate`, found
    /// again over the whole year).
    fn duplicate_payments(&self, f: &Slug, info: &crate::projection::ForbundInfo) -> BTreeMap<i32, Vec<Duplicate>> {
        let at = self.at;
        let mut groups: BTreeMap<(i32, NaiveDate, &Slug, Amount, &str), Vec<u64>> = BTreeMap::new();
        let payments = self
            .p
            .contribution_years_recorded(f)
            .flat_map(|year| self.p.contributions_for(f, year))
            .filter(|c| c.paid_by.is_some() && c.seq <= at.known_at && c.date <= at.as_of);
        for c in payments {
            let corrected = self.p.corrected.get(&c.seq).is_some_and(|(by, d)| *by <= at.known_at && *d <= at.as_of);
            if !corrected {
                groups.entry((c.year, c.date, &c.member, c.amount, c.reference.as_str())).or_default().push(c.seq);
            }
        }
        let mut by_year: BTreeMap<i32, Vec<Duplicate>> = BTreeMap::new();
        for ((year, date, member, amount, _), seqs) in groups.into_iter().filter(|(_, seqs)| seqs.len() > 1) {
            let name =
                info.members.iter().find(|(id, ..)| id == member).map_or(member.to_string(), |(_, n, ..)| n.clone());
            let extra = Amount::from_decimal(amount.decimal() * Decimal::from(seqs.len() as u64 - 1));
            by_year.entry(year).or_default().push(Duplicate {
                subject: format!("{year}: {} × {} från {name} den {date}", seqs.len(), amount.human()),
                member: member.clone(),
                name,
                amount,
                extra,
                date,
                seqs,
            });
        }
        by_year
    }

    /// The checks of one year's split of the contributions (`contribution_split`): by kind,
    /// then member by member.
    fn split_of_year(
        &mut self,
        f: &Slug,
        info: &crate::projection::ForbundInfo,
        year: i32,
        members: &BTreeMap<Slug, (Amount, Vec<u64>)>,
    ) {
        {
            let total: Amount = members.values().map(|(a, _)| *a).sum();
            if total.is_zero() {
                return;
            }
            let all_seqs: Vec<u64> =
                members.values().flat_map(|(_, s)| s.iter().copied()).collect::<BTreeSet<_>>().into_iter().collect();
            for (kind, share) in [
                (MemberKind::Staten, Decimal::new(50, 2)),
                (MemberKind::Region, Decimal::new(25, 2)),
                (MemberKind::Kommun, Decimal::new(25, 2)),
            ] {
                let received: Amount = info
                    .members
                    .iter()
                    .filter(|(_, _, k, _)| *k == kind)
                    .filter_map(|(id, ..)| members.get(id).map(|(a, _)| *a))
                    .sum();
                let expected = Amount::from_decimal((total.decimal() * share).round_dp_with_strategy(2, ORE));
                if received != expected {
                    self.find(
                        "contribution_split",
                        f,
                        Severity::Error,
                        format!("{year}: bidrag från {}", kind_in_words(kind)),
                        kr(expected),
                        kr(received),
                        all_seqs.clone(),
                        format!(
                            "Enligt finsamlagen (§ 5) betalar {} {} av de {} som kom in {year}, alltså {}; betalt {}",
                            kind_in_words(kind),
                            percent(share),
                            total.human(),
                            expected.human(),
                            received.human()
                        ),
                    );
                }
            }
            // Member by member for the region and the kommuner. The state's half is checked as a
            // whole above: Försäkringskassan pays it all, Arbetsförmedlingen's part included
            // (Statens fördelningsmodell), so neither state member is held to its own share.
            // A kind with one member (the region, a single kommun) is checked by its share above.
            // The members and shares in force at the year's end.
            let year_end = NaiveDate::from_ymd_opt(year, 12, 31).expect("a valid year");
            let in_force = info.members_at(year_end, self.at.known_at);
            let of_kind = |kind: MemberKind| in_force.iter().filter(|(_, _, k, _)| *k == kind).count();
            for (id, name, _, share) in
                in_force.iter().filter(|(_, _, k, _)| *k != MemberKind::Staten && of_kind(*k) > 1)
            {
                let (received, seqs) = members.get(id).cloned().unwrap_or_default();
                let expected = Amount::from_decimal((total.decimal() * share.decimal()).round_dp_with_strategy(2, ORE));
                if received != expected {
                    self.find(
                        "contribution_split",
                        f,
                        Severity::Error,
                        format!("{year}: bidrag från {name}"),
                        kr(expected),
                        kr(received),
                        if seqs.is_empty() { all_seqs.clone() } else { seqs },
                        format!(
                            "{name}s överenskomna andel, {}, av de {} som kom in {year} är {}; betalt {}",
                            percent(share.decimal()),
                            total.human(),
                            expected.human(),
                            received.human()
                        ),
                    );
                }
            }
        }
    }

    /// The seqs of a year's vouchers (closing ones aside) with a row on a budget line.
    fn line_seqs(&self, f: &Slug, year: i32, line: &Slug) -> Vec<u64> {
        self.vouchers_of(f)
            .iter()
            .filter(|v| v.date.year() == year && v.date <= self.at.as_of && v.kind != VoucherKind::Closing)
            .filter(|v| v.rows.iter().any(|r| r.line.as_ref() == Some(line)))
            .map(|v| v.seq)
            .collect()
    }

    fn overspend(&mut self, f: &Slug) {
        let at = self.at;
        let mut granted: BTreeMap<(Slug, i32), (Amount, Vec<u64>)> = BTreeMap::new();
        for g in self.p.grants.iter().filter(|g| &g.forbund == f && g.seq <= at.known_at && g.date <= at.as_of) {
            let e = granted.entry((g.insats.clone(), g.year)).or_default();
            e.0 += g.amount;
            e.1.push(g.seq);
        }
        let mut spent: BTreeMap<(&Slug, i32), (Amount, Vec<u64>)> = BTreeMap::new();
        let vouchers = self.vouchers_of(f);
        for v in vouchers.iter().filter(|v| v.date <= at.as_of && v.kind != VoucherKind::Closing) {
            for r in v.rows.iter().filter(|r| r.role.side() == crate::chart::Side::Cost) {
                if let Some(i) = &r.insats {
                    let e = spent.entry((i, v.year)).or_default();
                    e.0 += r.amount;
                    e.1.push(v.seq);
                }
            }
        }
        for ((insats, year), (s, seqs)) in &spent {
            let (g, grant_seqs) = granted.get(&((*insats).clone(), *year)).cloned().unwrap_or_default();
            if *s > g {
                let mut events = grant_seqs.clone();
                events.extend(seqs);
                self.find(
                    "overspend",
                    f,
                    Severity::Error,
                    format!("{year}: insats {insats} förbrukat mer än beviljat"),
                    kr(g),
                    kr(*s),
                    events,
                    format!("Beviljat {} till {insats} för {year}; förbrukat {}", g.human(), s.human()),
                );
            }
        }
        for b in
            self.visible_budgets().filter(|b| &b.forbund == f && b.status == BudgetStatus::Adopted).collect::<Vec<_>>()
        {
            if self.p.budget_in_force(f, b.year, at.known_at, at.as_of).map(|x| x.seq) != Some(b.seq) {
                continue;
            }
            // Every line, with or without an insats: spent beyond its budget.
            if let Some(position) = self.position(f, b.year) {
                for line in position.lines.iter().filter(|l| l.spent > l.budget) {
                    let seqs = self.line_seqs(f, b.year, &line.id);
                    let mut events = vec![b.seq];
                    events.extend(seqs);
                    self.find(
                        "overspend",
                        f,
                        Severity::Warning,
                        format!("{}: rad {} förbrukat mer än budget", b.year, line.id),
                        kr(line.budget),
                        kr(line.spent),
                        events,
                        format!(
                            "Budget {} för {} {}; förbrukat {}: {} över",
                            line.budget.human(),
                            line.name,
                            b.year,
                            line.spent.human(),
                            (line.spent - line.budget).human()
                        ),
                    );
                }
            }
            let mut seen = BTreeSet::new();
            for line in &b.costs {
                let Some(insats) = &line.insats else { continue };
                if !seen.insert(insats) {
                    continue;
                }
                let budget: Amount =
                    b.costs.iter().filter(|l| l.insats.as_ref() == Some(insats)).map(|l| l.amount).sum();
                let (g, grant_seqs) = granted.get(&(insats.clone(), b.year)).cloned().unwrap_or_default();
                if g > budget {
                    let mut events = vec![b.seq];
                    events.extend(grant_seqs);
                    self.find(
                        "overspend",
                        f,
                        Severity::Error,
                        format!("{}: rad {} beviljat mer än budget", b.year, line.id),
                        kr(budget),
                        kr(g),
                        events,
                        format!("Budget {} för {} {}; beviljat {}", budget.human(), line.name, b.year, g.human()),
                    );
                }
            }
        }
    }

    /// Internkontroll: money spent on an individ or struktur line that is not an insats's (the
    /// board grants its money to insatser) beyond what was granted from it — spending no grant
    /// decision stands behind. The budget and the vouchers are the finding's events.
    fn spent_without_grant(&mut self, f: &Slug) {
        let at = self.at;
        for b in
            self.visible_budgets().filter(|b| &b.forbund == f && b.status == BudgetStatus::Adopted).collect::<Vec<_>>()
        {
            if self.p.budget_in_force(f, b.year, at.known_at, at.as_of).map(|x| x.seq) != Some(b.seq) {
                continue;
            }
            let Some(position) = self.position(f, b.year) else { continue };
            let ungranted = position
                .lines
                .iter()
                .filter(|l| l.category != Category::Admin && l.insats.is_none() && l.spent > l.granted);
            for line in ungranted.collect::<Vec<_>>() {
                let mut events = vec![b.seq];
                events.extend(self.line_seqs(f, b.year, &line.id));
                self.find(
                    "spent_without_grant",
                    f,
                    Severity::Warning,
                    format!("{}: rad {} förbrukat utan beviljade medel", b.year, line.id),
                    kr(line.granted),
                    kr(line.spent),
                    events,
                    format!(
                        "{} ({} {}): förbrukat {}, beviljat {} — {} utan beslut om medel (internkontroll)",
                        line.name,
                        category_word(line.category),
                        b.year,
                        line.spent.human(),
                        line.granted.human(),
                        (line.spent - line.granted).human()
                    ),
                );
            }
        }
    }

    /// A cost accrued at a year's end is reversed on 1 January, when the cost itself (the
    /// invoice, the salary) is expected on the same line or insats. Not met by such costs within
    /// `accrual_days`, the reversal leaves the new year with a cost credited and nothing against
    /// it: a finding (the accrual may have been wrong, or the cost is not yet recorded).
    fn accrual_unsettled(&mut self, f: &Slug) {
        use finsam_domain::event::AccrualKind;
        let at = self.at;
        let accruals: Vec<crate::projection::AccrualRecord> = self
            .p
            .accruals
            .iter()
            .filter(|a| &a.forbund == f && a.kind == AccrualKind::AccruedCost)
            .filter(|a| {
                let withdrawn = self.p.corrected.get(&a.seq).is_some_and(|(by, _)| *by <= at.known_at);
                a.seq <= at.known_at && !withdrawn
            })
            .cloned()
            .collect();
        for crate::projection::AccrualRecord { seq, date, year, line, insats, amount, text, .. } in accruals {
            let reversed = year_start(year + 1);
            let deadline = reversed + Duration::days(i64::from(self.accrual_days));
            if at.as_of < deadline || date > at.as_of {
                continue;
            }
            // The costs of the new year, within the time, on the accrual's line (or insats):
            // every voucher but the accruals' own.
            let same = |r: &crate::projection::Row| match (&line, &insats) {
                (Some(l), _) => r.line.as_ref() == Some(l),
                (None, Some(i)) => r.insats.as_ref() == Some(i),
                (None, None) => false,
            };
            let mut met = Amount::ZERO;
            let mut seqs = vec![seq];
            for v in self.vouchers_of(f).iter().filter(|v| (reversed..=deadline).contains(&v.date)) {
                if v.kind == VoucherKind::Closing || v.rows.iter().any(|r| r.role == Role::AccruedLiability) {
                    continue;
                }
                let cost: Amount = v
                    .rows
                    .iter()
                    .filter(|r| r.role.side() == crate::chart::Side::Cost && same(r))
                    .map(|r| r.amount)
                    .sum();
                if !cost.is_zero() {
                    met += cost;
                    seqs.push(v.seq);
                }
            }
            if met < amount {
                let what = line.as_ref().or(insats.as_ref()).map_or(String::new(), |x| x.to_string());
                self.find(
                    "accrual_unsettled",
                    f,
                    Severity::Warning,
                    format!("{year}: upplupen kostnad på {what} utan kostnad efter årsskiftet"),
                    kr(amount),
                    kr(met),
                    seqs,
                    format!(
                        "Upplupen kostnad {} ({text}) bokförd {date} och återförd {reversed}; kostnader på {what} {reversed} – {deadline}: {} — {} av den återförda kostnaden möts inte av någon kostnad",
                        amount.human(),
                        met.human(),
                        (amount - met).human()
                    ),
                );
            }
        }
    }

    /// A payroll liability (källskatt, arbetsgivaravgifter, pension, särskild löneskatt,
    /// semesterlöneskuld) in debit at a year's end, or at the run's date: more was paid than the
    /// payroll summaries left owed — paid twice, or a summary not recorded.
    fn payroll_overpaid(&mut self, f: &Slug) {
        let at = self.at;
        let mut owed: BTreeMap<Role, (Amount, Vec<u64>)> = BTreeMap::new();
        let all = self.vouchers_of(f);
        let mut vouchers: Vec<&crate::projection::Voucher> = all.iter().filter(|v| v.date <= at.as_of).collect();
        vouchers.sort_by_key(|v| (v.date, v.seq));
        let check = |run: &mut Run, owed: &BTreeMap<Role, (Amount, Vec<u64>)>, day: NaiveDate| {
            for (role, (balance, seqs)) in owed {
                if balance.is_positive() {
                    let account = run.chart.account(*role);
                    run.find(
                        "payroll_overpaid",
                        f,
                        Severity::Warning,
                        format!("{day}: {} {} i debet", account.number, account.name),
                        kr(Amount::ZERO),
                        kr(-*balance),
                        seqs.clone(),
                        format!(
                            "Skulden på {} {} är {} i debet den {day}: mer har betalats än lönesammandragen lämnat skuldfört (dubbelbetalt, eller ett lönesammandrag saknas)",
                            account.number,
                            account.name,
                            balance.human()
                        ),
                    );
                }
            }
        };
        let mut last_year: Option<i32> = None;
        for v in vouchers {
            if let Some(y) = last_year.filter(|y| *y < v.date.year()) {
                check(self, &owed, NaiveDate::from_ymd_opt(y, 12, 31).expect("a year end"));
            }
            last_year = Some(v.date.year());
            for r in v.rows.iter().filter(|r| matches!(r.role, Role::PayrollOwed(_))) {
                let entry = owed.entry(r.role).or_default();
                entry.0 += r.amount;
                entry.1.push(v.seq);
            }
        }
        if !owed.is_empty() {
            check(
                self,
                &owed,
                at.as_of
                    .min(NaiveDate::from_ymd_opt(last_year.unwrap_or(at.as_of.year()), 12, 31).expect("a year end")),
            );
        }
    }

    /// The board adopted a year's report as the log stood at a seq, with its figures' digest.
    /// The digest must be the report's as known then (else the adoption names another report),
    /// and a correction since that changes a figure makes the books differ from what was
    /// adopted: both are findings, the first an error.
    fn report_adoption(&mut self, f: &Slug) {
        use crate::projection::PathStep;
        let at = self.at;
        let rule = crate::annual::CeilingRule::default_rule();
        let mut latest: BTreeMap<i32, (u64, NaiveDate, u64, String)> = BTreeMap::new();
        for r in self.p.path.iter().filter(|r| &r.forbund == f && r.seq <= at.known_at && r.date <= at.as_of) {
            if let PathStep::Adopted { known_at, figures_sha256, .. } = &r.step {
                latest.insert(r.year, (r.seq, r.date, *known_at, figures_sha256.clone()));
            }
        }
        for (year, (seq, date, known_at, digest)) in latest {
            let then = self.p.annual(f, year, known_at, &rule);
            let then_digest = then.as_ref().map(|a| a.figures_sha256());
            let Some(then) = then.filter(|_| then_digest.as_deref() == Some(digest.as_str())) else {
                self.find(
                    "report_adoption",
                    f,
                    Severity::Error,
                    format!("årsredovisningen {year}: antagen med andra siffror"),
                    None,
                    None,
                    vec![seq],
                    format!(
                        "Styrelsens beslut {date} antar årsredovisningen {year} så som böckerna stod vid händelse {known_at}, men dess kontrollsumma ({}) är inte den årsredovisningens ({}): beslutet gäller en annan rapport",
                        &digest[..12],
                        then_digest.as_deref().map_or("ingen rapport", |d| &d[..12])
                    ),
                );
                continue;
            };
            let now = self.p.annual(f, year, at.known_at, &rule);
            if let Some(now) = now.filter(|a| a.figures_sha256() != digest) {
                let changed: Vec<String> = then
                    .current
                    .figures()
                    .into_iter()
                    .zip(now.current.figures())
                    .filter(|((.., a), (.., b))| a != b)
                    .map(|((_, label, a), (.., b))| format!("{label} {} → {}", a.human_number(), b.human_number()))
                    .collect();
                let later: Vec<u64> = self
                    .p
                    .corrected
                    .iter()
                    .filter(|(s, (by, _))| **s <= known_at && *by > known_at && *by <= at.known_at)
                    .map(|(_, (by, _))| *by)
                    .collect();
                let mut seqs = vec![seq];
                seqs.extend(later);
                self.find(
                    "report_adoption",
                    f,
                    Severity::Warning,
                    format!("årsredovisningen {year}: böckerna skiljer sig från den antagna"),
                    kr(then.current.result.result.amount),
                    kr(now.current.result.result.amount),
                    seqs,
                    format!(
                        "Den antagna årsredovisningen {year} (beslut {date}, böckerna vid händelse {known_at}) skiljer sig från böckerna nu: {}",
                        if changed.is_empty() { "noternas belopp".to_string() } else { changed.join("; ") }
                    ),
                );
            }
        }
    }

    fn plan_ceiling(&mut self, b: &BudgetRecord) {
        // The basis is the members' contributions (medelstilldelning), not other income.
        let contributions: Amount =
            b.income.iter().filter(|l| !self.p.is_other_income_line(&b.forbund, l)).map(|l| l.amount).sum();
        let income: Amount = b.income.iter().map(|l| l.amount).sum();
        if contributions.is_zero() {
            return;
        }
        let costs: Amount = b.costs.iter().map(|l| l.amount).sum();
        let transfers: Amount = b.transfers.iter().map(|t| t.amount).sum();
        let closing = match b.stated.as_ref().and_then(|s| s.closing_equity) {
            Some(c) => c,
            None => match self.plan_opening(b) {
                Some((o, _, _)) => o + income - costs + transfers,
                None => return,
            },
        };
        let share = self.ceiling.share_for(contributions);
        let ceiling = Amount::from_decimal((contributions.decimal() * share).round_dp_with_strategy(2, ORE));
        if closing > ceiling {
            self.find(
                "equity_ceiling",
                &b.forbund,
                Severity::Warning,
                format!("{}: planerat utgående eget kapital", Self::label(b)),
                kr(ceiling),
                kr(closing),
                vec![b.seq],
                format!(
                    "Planerat utgående eget kapital {} överstiger taket {} ({} av årets budgeterade medlemsbidrag {}; taket enligt {})",
                    closing.human(),
                    ceiling.human(),
                    Figure::Fraction(share).human(),
                    contributions.human(),
                    self.ceiling.source
                ),
            );
        }
    }

    fn books_ceiling(&mut self, f: &Slug) {
        let mut contributions: BTreeMap<i32, (Amount, Vec<u64>)> = BTreeMap::new();
        for v in self.vouchers_of(f).iter().filter(|v| v.date <= self.at.as_of && v.kind != VoucherKind::Closing) {
            for r in v.rows.iter().filter(|r| matches!(r.role, Role::Contribution(_))) {
                let e = contributions.entry(v.year).or_default();
                e.0 -= r.amount;
                e.1.push(v.seq);
            }
        }
        for (year, (received, seqs)) in contributions {
            if year_end(year) > self.at.as_of || received.is_zero() {
                continue;
            }
            let at = At { as_of: year_end(year), known_at: self.at.known_at };
            let Some(b) = self.p.balances(f, at, &self.chart) else { continue };
            let share = self.ceiling.share_for(received);
            let ceiling = Amount::from_decimal((received.decimal() * share).round_dp_with_strategy(2, ORE));
            if b.equity > ceiling {
                self.find(
                    "equity_ceiling",
                    f,
                    Severity::Warning,
                    format!("{year}: bokfört eget kapital vid årets slut"),
                    kr(ceiling),
                    kr(b.equity),
                    vec![*seqs.last().expect("a year with contributions has vouchers")],
                    format!(
                        "Bokfört eget kapital {} per {} överstiger taket {} ({} av de {} i medlemsbidrag som kom in {year}; taket enligt {})",
                        b.equity.human(),
                        year_end(year),
                        ceiling.human(),
                        Figure::Fraction(share).human(),
                        received.human(),
                        self.ceiling.source
                    ),
                );
            }
        }
    }

    /// What each payer owed and paid per year with contributions decided; and, once a year is
    /// over, a warning for every member whose payments fall short of or exceed the decision.
    fn payers(&mut self, f: &Slug) -> Vec<PayerRow> {
        let at = self.at;
        let mut rows = Vec::new();
        for year in self.p.contribution_years(f, at) {
            let Some(c) = self.p.contributions_of(f, year, at) else { continue };
            rows.extend(c.payers);
            if at.as_of <= year_end(year) {
                continue;
            }
            for m in c.members.into_iter().filter(|m| !m.seqs.is_empty()) {
                let (decided, paid, member) = (m.decided, m.paid, m.name.as_str());
                if decided != paid && !decided.is_zero() {
                    let why = if paid < decided {
                        format!(
                            "För {year} beslutades {} i bidrag från {member}; betalt per {} är {}, {} återstår",
                            decided.human(),
                            at.as_of,
                            paid.human(),
                            (decided - paid).human()
                        )
                    } else {
                        format!(
                            "För {year} beslutades {} i bidrag från {member}; betalt är {}, {} mer än beslutat",
                            decided.human(),
                            paid.human(),
                            (paid - decided).human()
                        )
                    };
                    self.find(
                        "contribution_split",
                        f,
                        Severity::Warning,
                        format!("{year}: beslutat bidrag från {member}"),
                        kr(decided),
                        kr(paid),
                        m.seqs,
                        why,
                    );
                }
            }
        }
        rows
    }

    fn dissolved(&mut self, f: &Slug) {
        let Some((dissolved, seq)) = self.p.forbund.get(f).and_then(|i| i.dissolved) else { return };
        if seq > self.at.known_at || !events_after_dissolution(self.p, f, self.at) {
            return;
        }
        let after: Vec<u64> =
            self.events_of(f).filter(|(s, e)| *s <= self.at.known_at && e.date > dissolved).map(|(s, _)| *s).collect();
        if !after.is_empty() {
            let mut events = vec![seq];
            events.extend(&after);
            self.find(
                "missing",
                f,
                Severity::Error,
                "händelser efter upplösningen".into(),
                None,
                None,
                events,
                format!(
                    "{f} upplöstes {dissolved}, men {} händelse(r) i dess bokföring är daterade senare: nr {}",
                    after.len(),
                    after.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
                ),
            );
        }
    }
}

/// Who pays a part of the contributions, in words: "staten", "regionen", "kommunerna tillsammans".
fn kind_in_words(kind: MemberKind) -> &'static str {
    match kind {
        MemberKind::Staten => "staten",
        MemberKind::Region => "regionen",
        MemberKind::Kommun => "kommunerna tillsammans",
    }
}

/// A share as a Swedish percentage: 0.141 → "14,1 %", 0.5 → "50 %".
fn percent(share: Decimal) -> String {
    format!("{} %", (share * Decimal::from(100)).normalize()).replace('.', ",")
}

#[cfg(test)]
mod ahead_tests {
    use super::*;

    fn slug(s: &str) -> Slug {
        Slug::parse(s).expect("a slug")
    }

    /// One voucher that names the förbund it was decoded for.
    fn decoded_for(f: &str) -> (Slug, Vouchers) {
        let voucher = crate::projection::Voucher {
            forbund: slug(f),
            year: 2024,
            number: 1,
            date: NaiveDate::from_ymd_opt(2024, 1, 1).expect("a date"),
            seq: 1,
            recorded_at: String::new(),
            recorded_by: String::new(),
            text: String::new(),
            kind: VoucherKind::Event,
            rows: Vec::new(),
        };
        (slug(f), vec![voucher])
    }

    #[test]
    fn the_checks_take_each_forbunds_vouchers_from_the_thread_ahead_or_decode_them_themselves() {
        let (send, decoded) = std::sync::mpsc::sync_channel(3);
        let (give_back, returned) = std::sync::mpsc::channel();
        for f in ["a", "b", "c"] {
            send.send(decoded_for(f)).expect("room for three");
        }
        drop(send);
        let order = vec![slug("a"), slug("b"), slug("c")];
        let mut ahead = Ahead { order, decoded, next: None, give_back };
        let forbund_of = |v: Option<Vouchers>| v.map(|v| v[0].forbund.as_str().to_string());
        // b is taken: a, skipped on the way, goes back to be freed.
        assert_eq!(forbund_of(ahead.take(&slug("b"))), Some("b".into()));
        assert_eq!(returned.try_recv().map(|v| v[0].forbund.clone()), Ok(slug("a")));
        // a again, after its turn: the caller decodes it; c stays for its turn.
        assert_eq!(forbund_of(ahead.take(&slug("a"))), None);
        // A förbund outside the order is the caller's too.
        assert_eq!(forbund_of(ahead.take(&slug("x"))), None);
        assert_eq!(forbund_of(ahead.take(&slug("c"))), Some("c".into()));
        // After the last, the thread has ended: nothing more, nothing hangs.
        assert_eq!(forbund_of(ahead.take(&slug("c"))), None);
        assert!(returned.try_recv().is_err(), "only what was skipped went back");
    }
}
