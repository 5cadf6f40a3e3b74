//! Property tests over random valid histories: every voucher balances, every trial balance
//! sums to zero, a full replay equals checkpoint + tail at every split point, and the bank
//! balance equals a naive recomputation from the events (a reference model in the spirit of
//! TigerBeetle's auditor). Histories are drawn from a seeded generator and filtered through the
//! ledger, so every history is one the store would accept. `FINSAM_PROPERTY_CASES` sets the
//! number of cases (default 60).

use crate::chart::Chart;
use crate::projection::{Projection, Recorded};
use crate::reports::At;
use chrono::NaiveDate;
use finsam_domain::event::PayItem;
use finsam_domain::{Amount, Event, EventKind, Slug};
use finsam_generate::{random_history, random_history_of};

fn project(events: &[Event]) -> Projection {
    let mut p = Projection::new();
    for (i, e) in events.iter().enumerate() {
        p.apply(Recorded { seq: i as u64 + 1, recorded_at: "t", recorded_by: "prop", event: e });
    }
    p
}

/// The reference model: the bank balance recomputed naively from the events.
fn naive_bank(events: &[Event], f: &Slug, at: At) -> Amount {
    let effect = |seq: u64| -> Amount {
        let e = &events[seq as usize - 1];
        use EventKind::*;
        match &e.kind {
            OpeningBalanceRecorded { bank, .. } if &e.forbund == f => *bank,
            ContributionReceived { amount, .. } | OtherIncomeRecorded { amount, .. } if &e.forbund == f => *amount,
            CostRecorded { amount, .. } if &e.forbund == f => -*amount,
            InvoicePaid { amount, .. } if &e.forbund == f => -*amount,
            // Net pay leaves the bank (salaries and fees less the tax withheld); what is paid to
            // Skatteverket or the pension administrator leaves it later.
            PayrollRecorded { items, .. } if &e.forbund == f => items
                .iter()
                .map(|(item, a)| match item {
                    PayItem::Salaries | PayItem::Fees => -*a,
                    PayItem::TaxWithheld => *a,
                    _ => Amount::ZERO,
                })
                .sum(),
            PayrollLiabilitiesPaid { items, .. } if &e.forbund == f => -items.iter().map(|(_, a)| *a).sum::<Amount>(),
            EquityTransferred { amount, .. } if &e.forbund == f => *amount,
            EquityTransferred { from, amount, .. } if from == f => -*amount,
            // A takeover moves the old förbund's whole bank, as its events made it (every date).
            BalancesTakenOver { from, .. } if &e.forbund == f || from == f => {
                let moved = naive_bank(events, from, At { as_of: NaiveDate::MAX, known_at: seq - 1 });
                if from == f {
                    -moved
                } else {
                    moved
                }
            }
            _ => Amount::ZERO,
        }
    };
    let mut bank = Amount::ZERO;
    for (i, e) in events.iter().enumerate().take(at.known_at as usize) {
        if e.date > at.as_of {
            continue;
        }
        bank += match &e.kind {
            EventKind::EventCorrected { corrects, .. } => -effect(*corrects),
            _ => effect(i as u64 + 1),
        };
    }
    bank
}

/// The follow-up's forecasts against the events themselves. Through December every forecast
/// is the utfall. Before it, a line's forecast is the kansli's latest (by date, then seq)
/// uncorrected `ForecastRecorded` of the line dated by the period's end; else, on a line that
/// takes grants and has some, what was granted (the utfall if more); else the budget — or the
/// utfall and the rest of the budget, if more — unless the latest month's payroll summaries of
/// the line, kept up for the months left, come to more. The totals are the lines' sums.
/// Notes in `seen` the kinds of the lines' forecasts; returns how many lines show a recorded one.
fn check_forecasts(
    seen: &mut std::collections::BTreeSet<&'static str>,
    events: &[Event],
    projection: &Projection,
    p: &crate::period::Period,
    profile: &crate::period::Profile,
) -> usize {
    use crate::period::ForecastKind;
    let corrected = |seq: u64| {
        events.iter().any(|e| {
            matches!(&e.kind, EventKind::EventCorrected { corrects, .. } if *corrects == seq) && e.date <= p.through
        })
    };
    let weights = profile.weights();
    let (so_far, whole): (rust_decimal::Decimal, rust_decimal::Decimal) =
        (weights[..p.months as usize].iter().sum(), weights.iter().sum());
    let position = projection.budget_position(&p.forbund, p.year, p.at).expect("the follow-up's budget");
    let mut sum = Amount::ZERO;
    let mut recorded = 0;
    for l in &p.lines {
        let x = &l.figures;
        seen.insert(x.forecast_kind.as_str());
        let what = format!("{} {} {} through {}", p.forbund, p.year, l.id, p.months);
        if p.months == 12 {
            assert_eq!((x.forecast, x.forecast_kind), (x.utfall_to_date, ForecastKind::Outcome), "{what}");
            sum += x.forecast;
            continue;
        }
        let latest = events
            .iter()
            .enumerate()
            .filter(|(i, e)| {
                e.forbund == p.forbund
                    && e.date <= p.through
                    && !corrected(*i as u64 + 1)
                    && matches!(&e.kind, EventKind::ForecastRecorded { year, line, .. } if *year == p.year && *line == l.id)
            })
            .max_by_key(|(i, e)| (e.date, *i));
        let granted = position.lines.iter().find(|b| b.id == l.id).filter(|b| b.takes_grants()).map(|b| b.granted);
        // The line's payroll summaries, by month: the latest month's costs.
        let mut by_month: std::collections::BTreeMap<u32, Amount> = Default::default();
        for (i, e) in events.iter().enumerate() {
            if let EventKind::PayrollRecorded { year, month, line: Some(line), items, .. } = &e.kind {
                if e.forbund == p.forbund
                    && *year == p.year
                    && *line == l.id
                    && e.date <= p.through
                    && !corrected(i as u64 + 1)
                {
                    let costs: Amount = items
                        .iter()
                        .filter(|(i, _)| crate::chart::payroll_roles(*i).0.is_some())
                        .map(|(_, a)| *a)
                        .sum();
                    *by_month.entry(*month).or_default() += costs;
                }
            }
        }
        match latest.map(|(_, e)| &e.kind) {
            Some(EventKind::ForecastRecorded { amount, .. }) => {
                assert_eq!((x.forecast, x.forecast_kind), (*amount, ForecastKind::Recorded), "{what}");
                recorded += 1;
            }
            _ if granted.is_some_and(|g| g.is_positive()) => {
                let g = granted.unwrap();
                assert_eq!((x.forecast, x.forecast_kind), (g.max(x.utfall_to_date), ForecastKind::Granted), "{what}");
            }
            _ => {
                let to_date = (x.budget_year.decimal() * so_far / whole).round_dp(2);
                let by_budget =
                    x.budget_year.decimal().max(x.utfall_to_date.decimal() + x.budget_year.decimal() - to_date);
                let by_payroll = by_month.last_key_value().map(|(_, rate)| {
                    x.utfall_to_date.decimal() + rate.decimal() * rust_decimal::Decimal::from(12 - p.months)
                });
                match by_payroll.filter(|r| *r > by_budget) {
                    Some(r) => {
                        assert_eq!((x.forecast.decimal(), x.forecast_kind), (r, ForecastKind::Payroll), "{what}")
                    }
                    None => {
                        assert_eq!((x.forecast.decimal(), x.forecast_kind), (by_budget, ForecastKind::Budget), "{what}")
                    }
                }
            }
        }
        sum += x.forecast;
    }
    assert_eq!(p.total.forecast, sum + p.unbudgeted.forecast, "{} {}: the forecasts add up", p.forbund, p.year);
    assert_eq!(p.result.forecast, p.income.forecast - p.total.forecast, "{} {}", p.forbund, p.year);
    assert_eq!(p.equity.forecast, p.equity_before + p.result.forecast, "{} {}", p.forbund, p.year);
    if p.months == 12 {
        assert_eq!(p.income.forecast, p.income.utfall_to_date, "{} {}", p.forbund, p.year);
    }
    recorded
}

fn cases() -> u64 {
    std::env::var("FINSAM_PROPERTY_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(60)
}

#[test]
fn random_histories_keep_the_laws_of_the_books() {
    let chart = Chart::default_chart();
    let mut events_total = 0;
    let mut kinds: std::collections::BTreeMap<&'static str, usize> = Default::default();
    let mut vouchers_total = 0;
    let mut takeovers = 0;
    let mut forecasts_shown = 0;
    let mut kinds_of_forecast = std::collections::BTreeSet::new();
    // Opening balances seen by the statements: on 1 January (the year's opening) and during
    // a year (an inflow, said so).
    let (mut opened_on_new_year, mut opened_during_year) = (0, 0);
    // Years whose statements carry financial income and financial costs (finansiella poster).
    let (mut with_interest, mut with_financial_costs) = (0, 0);
    for seed in 0..cases() {
        let events = random_history(seed, 80);
        events_total += events.len();
        for e in &events {
            *kinds.entry(e.type_name()).or_default() += 1;
        }
        let full = project(&events);
        vouchers_total += full.vouchers().len();
        for v in full.vouchers() {
            let sum: Amount = v.rows.iter().map(|r| r.amount).sum();
            assert!(sum.is_zero(), "seed {seed}: voucher {} of {} does not balance", v.label(), v.forbund);
        }
        // Gapless series per förbund and year.
        let mut series: std::collections::BTreeMap<(Slug, i32), Vec<u32>> = Default::default();
        for v in full.vouchers() {
            series.entry((v.forbund.clone(), v.year)).or_default().push(v.number);
        }
        for ((f, y), numbers) in series {
            assert_eq!(numbers, (1..=numbers.len() as u32).collect::<Vec<_>>(), "seed {seed}: series {f} {y}");
        }
        let days = ["2023-12-31", "2024-06-30", "2025-01-01", "2026-12-31"];
        for f in full.forbund.keys() {
            for known_at in [events.len() as u64 / 3, events.len() as u64 / 2, events.len() as u64] {
                for day in days {
                    let at = At { as_of: NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap(), known_at };
                    let b = full.balances(f, at, &chart).unwrap();
                    let sum: Amount = b.accounts.iter().map(|a| a.balance).sum();
                    assert!(sum.is_zero(), "seed {seed}: trial balance of {f} sums to {sum}");
                    assert_eq!(b.bank, naive_bank(&events, f, at), "seed {seed}: bank of {f} at {at:?}");
                    use crate::chart::{Role, Side};
                    let sum_of = |keep: &dyn Fn(Role) -> bool| -> Amount {
                        let rows = full.visible_vouchers(f, known_at, at.as_of).flat_map(|v| v.rows);
                        rows.filter(|r| keep(r.role)).map(|r| r.amount).sum()
                    };
                    // What is owed to suppliers is never less than nothing but by credit notes:
                    // a payment settles at most what an invoice has outstanding, a credit note
                    // takes off at most what it charged, a refund brings back at most the rest.
                    let payable = sum_of(&|r| r == Role::Payable);
                    let credited: Amount = full
                        .invoices
                        .iter()
                        .filter(|i| &i.forbund == f && i.credits.is_some() && i.seq <= known_at && i.date <= at.as_of)
                        .map(|i| -i.amount)
                        .sum();
                    assert!(payable <= credited, "seed {seed}: {f} is owed {payable} by its suppliers at {at:?}");
                    // Nor is what members owe: a payment settles at most what was decided.
                    let receivable = sum_of(&|r| r == Role::Receivable);
                    assert!(!receivable.is_negative(), "seed {seed}: {f} owes its members {} at {at:?}", -receivable);
                    // The balance sheet balances: equity (with the year's result) is what the
                    // assets are worth less the liabilities.
                    let net_assets = sum_of(&|r| matches!(r.side(), Side::Asset | Side::Liability));
                    assert_eq!(b.equity, net_assets, "seed {seed}: balance sheet of {f} at {at:?}");
                }
            }
        }
        // The annual statements of every förbund and year check themselves (the balance sheet
        // balances, the result is the change in equity less what was received, the cash flow
        // ends at the bank) and agree with the trial balance at the year's end.
        for f in full.forbund.keys() {
            for year in 2023..=2026 {
                let known_at = events.len() as u64;
                let a = full.annual(f, year, known_at, &crate::annual::CeilingRule::default_rule()).unwrap();
                let at = At { as_of: NaiveDate::from_ymd_opt(year, 12, 31).unwrap(), known_at };
                let b = full.balances(f, at, &chart).unwrap();
                assert_eq!(a.current.balance.bank.amount, b.bank, "seed {seed}: bank of {f} {year}");
                assert_eq!(a.current.balance.equity.closing.amount, b.equity, "seed {seed}: equity of {f} {year}");
                with_interest += usize::from(!a.current.result.financial_income.amount.is_zero());
                with_financial_costs += usize::from(!a.current.result.financial_costs.amount.is_zero());
                assert_eq!(
                    a.current.result.result.amount,
                    a.current.result.operating.amount + a.current.result.financial.amount,
                    "seed {seed}: {f} {year}"
                );
                let first = NaiveDate::from_ymd_opt(year, 1, 1).unwrap();
                let opened_at_start = full.vouchers().any(|v| &v.forbund == f && v.date == first && v.is_opening());
                if opened_at_start {
                    opened_on_new_year += 1;
                    assert!(
                        !a.current.balance.equity.opening.amount.is_zero()
                            || !a.current.cash_flow.bank_opening.amount.is_zero(),
                        "seed {seed}: the opening balance of {f} on {first} opens the year"
                    );
                }
                let during: Amount = a
                    .current
                    .capital
                    .iter()
                    .filter(|c| c.kind == crate::annual::CapitalKind::BooksOpened)
                    .map(|c| c.cash)
                    .sum();
                assert_eq!(during, a.current.cash_flow.opened_cash.amount, "seed {seed}: {f} {year}");
                if a.current.capital.iter().any(|c| c.kind == crate::annual::CapitalKind::BooksOpened && c.date > first)
                {
                    opened_during_year += 1;
                }
                if let Some((_, previous)) = &a.previous {
                    previous.check();
                }
                // The follow-up through any month adds up (checked inside), and through December
                // it is the driftredovisning: the whole budget against the whole utfall.
                // The vouchers behind each budget line's utfall sum to it (checked inside).
                let year_end = At { as_of: NaiveDate::from_ymd_opt(year, 12, 31).unwrap(), known_at };
                if let Some(bp) = full.budget_position(f, year, year_end) {
                    for l in &bp.lines {
                        let entries = full.line_vouchers(f, year, &l.id, year_end).expect("the line is in the budget");
                        assert_eq!(
                            entries.last().map_or(Amount::ZERO, |e| e.2),
                            l.spent,
                            "seed {seed}: {f} {year} {}",
                            l.id
                        );
                    }
                }
                // A quiet summer profile spreads the budget otherwise, and the months still add up.
                let summer = crate::period::Profile::parse("9,9,9,9,9,9,2,5,9,9,9,12").unwrap();
                for months in [1, 6, 8] {
                    if let Some(p) = full.period(f, year, months, known_at, &summer) {
                        forecasts_shown += check_forecasts(&mut kinds_of_forecast, &events, &full, &p, &summer);
                    }
                }
                for months in [1, 6, 8, 12] {
                    if let Some(p) = full.period(f, year, months, known_at, &crate::period::Profile::even()) {
                        forecasts_shown += check_forecasts(
                            &mut kinds_of_forecast,
                            &events,
                            &full,
                            &p,
                            &crate::period::Profile::even(),
                        );
                        // (Before December the budget in force then may be revised, or
                        // corrected away, later.)
                        if months == 12 {
                            let o = a.operations.as_ref().expect("a year with a budget has a driftredovisning");
                            assert_eq!(p.total.budget_year, o.budget_total, "seed {seed}: {f} {year}");
                            assert_eq!(p.total.budget_to_date, o.budget_total, "seed {seed}: {f} {year}");
                            assert_eq!(p.total.utfall_to_date, o.utfall_total, "seed {seed}: {f} {year}");
                        }
                    }
                }
            }
        }
        // The totals per day give what the vouchers give, on every day a voucher is dated and
        // the days around it, and so does the stored totals view read back.
        let stored = crate::totals::TotalsView {
            head: full.head,
            forbund: full.forbund.clone(),
            totals: serde_json::from_slice(&serde_json::to_vec(full.totals()).unwrap()).unwrap(),
        };
        let mut voucher_days: std::collections::BTreeSet<NaiveDate> = full.vouchers().map(|v| v.date).collect();
        voucher_days.extend(days.iter().map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap()));
        for f in full.forbund.keys() {
            for day in &voucher_days {
                for as_of in [day.pred_opt().unwrap(), *day] {
                    let at = At { as_of, known_at: events.len() as u64 };
                    let by_vouchers = full.balances_from_vouchers(f, at, &chart);
                    assert_eq!(full.balances(f, at, &chart), by_vouchers, "seed {seed}: totals of {f} at {as_of}");
                    assert_eq!(stored.balances(f, as_of, &chart), by_vouchers, "seed {seed}: stored totals of {f}");
                }
            }
        }
        // Money is conserved: transfers move it between förbund, so all the banks together hold
        // what the events brought in and paid out, förbund by förbund, with no transfer counted.
        let last_day = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
        let everything = At { as_of: last_day, known_at: events.len() as u64 };
        let total_bank: Amount = full.forbund.keys().map(|f| full.balances(f, everything, &chart).unwrap().bank).sum();
        let naive_total: Amount = full.forbund.keys().map(|f| naive_bank(&events, f, everything)).sum();
        assert_eq!(total_bank, naive_total, "seed {seed}: money is conserved");
        // A takeover conserves the sum of every asset and liability across the förbund: it only
        // moves them from one book to another.
        let balance_sum = |p: &Projection| -> Amount {
            p.vouchers()
                .flat_map(|v| v.rows)
                .filter(|r| matches!(r.role.side(), crate::chart::Side::Asset | crate::chart::Side::Liability))
                .map(|r| r.amount)
                .sum()
        };
        for (i, e) in events.iter().enumerate() {
            if matches!(e.kind, EventKind::BalancesTakenOver { .. }) {
                takeovers += 1;
                assert_eq!(
                    balance_sum(&project(&events[..i])),
                    balance_sum(&project(&events[..=i])),
                    "seed {seed}: the takeover at seq {} conserves the balances",
                    i + 1
                );
            }
        }
        // (Closing vouchers then move what was received into equity: they are left out here.)
        let received: Amount = full
            .vouchers()
            .filter(|v| v.kind != crate::projection::VoucherKind::Closing)
            .flat_map(|v| v.rows)
            .filter(|r| r.role == crate::chart::Role::EquityReceived)
            .map(|r| -r.amount)
            .sum();
        let transferred: Amount =
            full.transfers.iter().filter(|t| !full.corrected.contains_key(&t.seq)).map(|t| t.amount).sum();
        assert_eq!(received, transferred, "seed {seed}: equity received equals equity transferred");
        // What the books said at seq k is what a log that ended at k says, and the same log
        // gives the same reports twice.
        for k in [events.len() / 4, events.len() / 2, 3 * events.len() / 4] {
            let ended_there = project(&events[..k]);
            for f in ended_there.forbund.keys() {
                for day in days {
                    let at = At { as_of: NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap(), known_at: k as u64 };
                    assert_eq!(
                        full.balances(f, at, &chart),
                        ended_there.balances(f, at, &chart),
                        "seed {seed}: known at {k}"
                    );
                    for year in 2023..=2026 {
                        assert_eq!(
                            full.budget_position(f, year, at),
                            ended_there.budget_position(f, year, at),
                            "seed {seed}: known at {k}"
                        );
                    }
                }
            }
        }
        let again = project(&events);
        assert_eq!(
            format!("{:?}", again.balances(&Slug::parse("sf-a").unwrap(), everything, &chart)),
            format!("{:?}", full.balances(&Slug::parse("sf-a").unwrap(), everything, &chart))
        );
        // Checkpoint + tail equals a full replay, for every split point.
        let mut prefix = Projection::new();
        for split in 0..=events.len() {
            if split > 0 {
                let e = &events[split - 1];
                prefix.apply(Recorded { seq: split as u64, recorded_at: "t", recorded_by: "prop", event: e });
            }
            let checkpoint = serde_json::to_vec(&prefix).unwrap();
            let resumed: Projection = serde_json::from_slice(&checkpoint).unwrap();
            let book = prefix.voucher_book();
            let vouchers = Projection::read_vouchers(book.bytes_from(0).to_vec(), book.symbols()).unwrap();
            let mut resumed = resumed.with_vouchers(vouchers);
            for (i, e) in events.iter().enumerate().skip(split) {
                resumed.apply(Recorded { seq: i as u64 + 1, recorded_at: "t", recorded_by: "prop", event: e });
            }
            assert!(resumed == full, "seed {seed}: checkpoint at {split} + tail differs from the full replay");
        }
    }
    for kind in [
        "MergerDecided",
        "EquityTransferred",
        "BalancesTakenOver",
        "ForbundDissolved",
        "YearClosed",
        "EventCorrected",
        "FundingChanged",
        "CostRecorded",
        "InvoiceReceived",
        "InvoicePaid",
        "AccrualRecorded",
        "ContributionDecided",
        "MembersChanged",
        "InsatsChanged",
        "RegistrationCorrected",
        "ForecastRecorded",
        "PayrollRecorded",
        "PayrollLiabilitiesPaid",
    ] {
        assert!(kinds.get(kind).copied().unwrap_or(0) > 0, "the histories hold a {kind}: {kinds:?}");
    }
    assert!(events_total > cases() as usize * 40, "the generator yields substantial histories ({events_total} events)");
    assert!(takeovers > 0);
    assert!(opened_on_new_year > 0, "some history opens its books on 1 January");
    assert!(opened_during_year > 0, "some history opens its books during a year");
    assert!(
        with_interest > 0 && with_financial_costs > 0,
        "{with_interest} years with interest, {with_financial_costs} with financial costs"
    );
    assert!(forecasts_shown > 0, "some follow-up shows a recorded forecast");
    for kind in ["recorded", "granted", "payroll", "budget", "outcome"] {
        assert!(kinds_of_forecast.contains(kind), "some line is forecast by {kind}: {kinds_of_forecast:?}");
    }
    assert!(vouchers_total > events_total / 4, "the histories move money ({vouchers_total} vouchers)");
}

/// The same history written in contract v2: each cost a supplier's invoice paid the same day,
/// each contribution decided and paid the same day; a correction of either corrects the payment
/// first, then the invoice or the decision.
fn written_in_v2(events: &[Event]) -> Vec<Event> {
    use finsam_domain::Decision;
    let mut out: Vec<Event> = Vec::new();
    // v1 seq -> the v2 seqs it became, in the order a correction must take them back.
    let mut seqs: Vec<Vec<u64>> = Vec::new();
    let decision = |date: NaiveDate| Decision { body: "styrelsen".into(), date, paragraph: None };
    for (i, e) in events.iter().enumerate() {
        let at = |kind: EventKind| Event { kind, ..e.clone() };
        let next = out.len() as u64 + 1;
        let written: Vec<Event> = match &e.kind {
            EventKind::CostRecorded { year, line, insats, amount, reference, text, nature } => {
                let invoice = Slug::parse(&format!("v1-{}", i + 1)).unwrap();
                vec![
                    at(EventKind::InvoiceReceived {
                        year: *year,
                        invoice: invoice.clone(),
                        supplier: "Leverantör AB".into(),
                        line: line.clone(),
                        insats: insats.clone(),
                        amount: *amount,
                        credits: None,
                        due: None,
                        reference: reference.clone(),
                        text: text.clone(),
                        nature: *nature,
                    }),
                    at(EventKind::InvoicePaid { invoice, amount: *amount, reference: reference.clone() }),
                ]
            }
            EventKind::ContributionReceived { member, year, amount, reference, payer } => vec![
                at(EventKind::ContributionDecided {
                    member: member.clone(),
                    year: *year,
                    amount: *amount,
                    reference: reference.clone(),
                    decision: decision(e.date),
                    installments: Vec::new(),
                }),
                at(EventKind::ContributionReceived {
                    member: member.clone(),
                    year: *year,
                    amount: *amount,
                    reference: reference.clone(),
                    payer: payer.clone(),
                }),
            ],
            EventKind::EventCorrected { corrects, reason, decision } => seqs[*corrects as usize - 1]
                .iter()
                .rev()
                .map(|s| {
                    at(EventKind::EventCorrected { corrects: *s, reason: reason.clone(), decision: decision.clone() })
                })
                .collect(),
            _ => vec![e.clone()],
        };
        seqs.push((next..next + written.len() as u64).collect());
        out.extend(written);
    }
    out
}

#[test]
fn a_history_written_in_v1_and_in_v2_gives_the_same_trial_balance() {
    let chart = Chart::default_chart();
    let mut compared = 0;
    for seed in 0..cases() {
        let v1 = random_history_of(seed, 80, |t| EventKind::V1_TYPES.contains(&t));
        let v2 = written_in_v2(&v1);
        let mut ledger = finsam_domain::Ledger::new();
        for (i, e) in v2.iter().enumerate() {
            ledger.record(e).unwrap_or_else(|r| panic!("seed {seed}: v2 event {} is refused: {r}", i + 1));
        }
        assert!(v2.len() > v1.len() || v1.iter().all(|e| !matches!(e.kind, EventKind::CostRecorded { .. })));
        let (p1, p2) = (project(&v1), project(&v2));
        for f in p1.forbund.keys() {
            for day in ["2023-12-31", "2024-03-31", "2024-12-31", "2025-06-30", "2026-12-31"] {
                let as_of = NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap();
                let trial = |p: &Projection, known_at: u64| {
                    let b = p.balances(f, At { as_of, known_at }, &chart).unwrap();
                    let accounts: Vec<_> = b
                        .accounts
                        .iter()
                        .filter(|a| !a.balance.is_zero())
                        .map(|a| (a.account.clone(), a.balance))
                        .collect();
                    (accounts, b.bank, b.equity, b.income, b.costs, b.result)
                };
                assert_eq!(trial(&p1, v1.len() as u64), trial(&p2, v2.len() as u64), "seed {seed}: {f} at {day}");
                compared += 1;
            }
        }
    }
    assert!(compared > cases() * 5, "{compared} trial balances compared");
}

/// The delårsrapport through December is the annual report: the same statements, nothing left
/// unearned, and a forecast that is the year's utfall; through any month its period result is
/// the booked result less what is not yet earned.
#[test]
fn the_interim_report_through_december_is_the_annual_report() {
    let rule = crate::annual::CeilingRule::default_rule();
    let profile = crate::period::Profile::even();
    let mut compared = 0;
    for seed in 0..cases() {
        let events = random_history(seed, 120);
        let p = project(&events);
        let head = events.len() as u64;
        for f in p.forbund.keys() {
            for year in 2023..=2026 {
                let Some(annual) = p.annual(f, year, head, &rule) else { continue };
                let interim = p.interim(f, year, 12, head, &profile).expect("a known förbund");
                assert_eq!(interim.period, annual.current, "seed {seed}: {f} {year}");
                assert!(interim.contributions.unearned.is_zero(), "seed {seed}: {f} {year}");
                assert_eq!(interim.result, annual.current.result.result.amount, "seed {seed}: {f} {year}");
                if let Some(forecast) = &interim.forecast {
                    let r = &annual.current.result;
                    assert_eq!(forecast.result, r.result.amount, "seed {seed}: {f} {year} forecast");
                    assert_eq!(
                        forecast.income,
                        r.income.total.amount + r.financial_income.amount,
                        "seed {seed}: {f} {year} forecast"
                    );
                    assert_eq!(
                        forecast.equity, annual.current.balance.equity.closing.amount,
                        "seed {seed}: {f} {year}"
                    );
                    compared += 1;
                }
                let june = p.interim(f, year, 6, head, &profile).expect("a known förbund");
                assert_eq!(june.result, june.period.result.result.amount - june.contributions.unearned);
            }
        }
    }
    assert!(compared > 0, "some year had a budget to forecast from");
}

/// The notes sum to the statement rows they explain, on random histories: the members' note to
/// the contributions booked, the receivables and liabilities by account to their rows, the
/// personnel note's costs and what payroll leaves owed to theirs, and the equity note's movements
/// to the closing equity.
#[test]
fn the_notes_sum_to_their_statement_rows() {
    let rule = crate::annual::CeilingRule::default_rule();
    let mut checked = 0;
    let mut with_personnel = 0;
    for seed in 0..cases() {
        let events = random_history(seed, 120);
        let p = project(&events);
        let head = events.len() as u64;
        for f in p.forbund.keys() {
            for year in 2023..=2026 {
                let Some(a) = p.annual(f, year, head, &rule) else { continue };
                let s = &a.current;
                let what = format!("seed {seed}: {f} {year}");
                let i = &s.result.income;
                let members: Amount = a.members.iter().map(|m| m.amount).sum();
                assert_eq!(members, i.staten.amount + i.region.amount + i.kommuner.amount, "{what}: medlemsbidrag");
                let of = |wanted: &dyn Fn(crate::chart::Role) -> bool| -> Amount {
                    s.closing_by_role.iter().filter(|(r, _)| wanted(*r)).map(|(_, a)| *a).sum()
                };
                use crate::chart::Role;
                let receivables = of(&|r| matches!(r, Role::Receivable | Role::OpeningDifferenceAsset));
                assert_eq!(receivables, s.balance.receivables.amount, "{what}: fordringar");
                let payables = of(&|r| matches!(r, Role::Payable | Role::OpeningDifferenceLiability));
                assert_eq!(payables, s.balance.payables.amount, "{what}: kortfristiga skulder");
                let personnel: Amount = s.personnel.costs.iter().map(|(_, a)| *a).sum();
                assert_eq!(personnel, -s.result.costs.personnel.amount, "{what}: personalkostnader");
                let owed: Amount = s.personnel.owed.iter().map(|(_, a)| *a).sum();
                assert_eq!(owed, s.balance.payroll_liabilities.amount, "{what}: personalskulder");
                let e = &s.balance.equity;
                assert_eq!(
                    e.opening.amount + e.opened.amount + e.received.amount + e.other.amount + e.result.amount,
                    e.closing.amount,
                    "{what}: eget kapital"
                );
                assert_eq!(e.result.amount, s.result.result.amount, "{what}: årets resultat");
                checked += 1;
                with_personnel += usize::from(!s.personnel.costs.is_empty());
            }
        }
    }
    assert!(checked > cases() as usize, "{checked} reports checked");
    assert!(with_personnel > 0, "some year had personnel costs");
}

/// The reading that skips what a report does not need gives what the whole reading gives: a
/// year's vouchers read by their dates are the vouchers of that year, and the booked opening
/// equity of every year from one pass is each year's own (so a run over many years, such as the
/// reconciliation, reads the history once).
#[test]
fn reading_by_dates_and_in_one_pass_gives_what_reading_everything_gives() {
    let (mut compared, mut booked) = (0, 0);
    for seed in 0..cases() {
        let events = random_history(seed, 120);
        let p = project(&events);
        let head = events.len() as u64;
        for f in p.forbund.keys() {
            for known_at in [head / 2, head] {
                let vouchers: Vec<_> = p.visible_vouchers(f, known_at, NaiveDate::MAX).collect();
                let openings = crate::reports::OpeningsByYear::of(vouchers.iter());
                for year in 2022..=2027 {
                    let all: Vec<_> =
                        p.visible_vouchers(f, known_at, NaiveDate::MAX).filter(|v| v.year == year).collect();
                    let of_year: Vec<_> = p.visible_vouchers_of_year(f, known_at, NaiveDate::MAX, year).collect();
                    assert_eq!(of_year, all, "seed {seed}: {f} {year} known at {known_at}");
                    let mid = NaiveDate::from_ymd_opt(year, 6, 30).unwrap();
                    for as_of in [mid, NaiveDate::from_ymd_opt(year, 12, 31).unwrap()] {
                        let at = At { as_of, known_at };
                        let (given, own) = (
                            p.budget_position_given(
                                f,
                                year,
                                at,
                                Some(crate::reports::Given { opening: openings.at_year(year), vouchers: &vouchers }),
                            ),
                            p.budget_position(f, year, at),
                        );
                        assert_eq!(given, own, "seed {seed}: {f} {year} at {as_of}, known at {known_at}");
                        compared += usize::from(own.is_some());
                        booked += usize::from(own.is_some_and(|o| o.opening_equity_source == "booked"));
                    }
                }
            }
        }
    }
    assert!(compared > 100 && booked > 50, "{compared} budget positions compared, {booked} with booked opening equity");
}
