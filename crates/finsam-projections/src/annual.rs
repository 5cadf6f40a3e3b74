//! The statements of a förbund's annual report (LKBR's resultaträkning, balansräkning and
//! kassaflödesanalys, and the note on equity), computed from the vouchers alone.
//!
//! Every figure carries the roles it sums, so that a reader (and `audit explain`) can reach the
//! vouchers behind it. The statements check themselves: the balance sheet balances, the result
//! equals the change in equity less what was received, and the cash flow ends at the bank.

use crate::chart::{Chart, Role, Side};
use crate::projection::{Projection, VoucherKind};
use crate::reports::{share, At, CategoryPosition, LinePosition, Shares};
use chrono::{Datelike, NaiveDate};
use finsam_domain::event::Nature;
use finsam_domain::{Amount, Category, MemberKind, Slug};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// One line of a statement: its amount and the roles (accounts) it sums.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Figure {
    pub amount: Amount,
    pub roles: Vec<Role>,
}

impl Figure {
    fn of(roles: &[Role], sum: impl Fn(Role) -> Amount) -> Figure {
        Figure { amount: roles.iter().map(|r| sum(*r)).sum(), roles: roles.to_vec() }
    }

    fn total(parts: &[&Figure]) -> Figure {
        let mut roles: Vec<Role> = parts.iter().flat_map(|p| p.roles.iter().copied()).collect();
        roles.sort();
        roles.dedup();
        Figure { amount: parts.iter().map(|p| p.amount).sum(), roles }
    }

    /// The accounts this figure sums, as the chart numbers them.
    pub fn accounts(&self, chart: &Chart) -> Vec<String> {
        let mut list: Vec<String> = self.roles.iter().map(|r| chart.account(*r).number.clone()).collect();
        list.sort();
        list.dedup();
        list
    }
}

/// Resultaträkning: income positive, costs negative (as LKBR prints them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Income {
    pub staten: Figure,
    pub region: Figure,
    pub kommuner: Figure,
    pub other: Figure,
    pub total: Figure,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Costs {
    pub personnel: Figure,
    pub purchased: Figure,
    /// Lämnade bidrag till insatser (and costs recorded without a nature, as in contract v1).
    pub grants: Figure,
    pub other: Figure,
    pub total: Figure,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultStatement {
    pub income: Income,
    pub costs: Costs,
    /// Verksamhetens nettokostnader / resultat före finansiella poster.
    pub operating: Figure,
    /// Finansiella intäkter: interest received (other income of nature `finansiell`).
    pub financial_income: Figure,
    /// Finansiella kostnader: interest paid, bank charges (costs of nature `finansiell`).
    pub financial_costs: Figure,
    /// Finansiella poster: financial income less financial costs.
    pub financial: Figure,
    pub result: Figure,
}

/// Balansräkning at the year's last day (or the day the books end).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceSheet {
    /// Kortfristiga fordringar: members' contributions decided and unpaid, and other receivables.
    pub receivables: Figure,
    /// Förutbetalda kostnader och upplupna intäkter.
    pub accrued_assets: Figure,
    pub bank: Figure,
    pub assets: Figure,
    pub equity: EquityNote,
    /// Leverantörsskulder and other short-term liabilities.
    pub payables: Figure,
    /// Upplupna kostnader och förutbetalda intäkter.
    pub accrued_liabilities: Figure,
    /// What payroll leaves owed: personalens källskatt, upplupna arbetsgivaravgifter, pension
    /// and särskild löneskatt, semesterlöneskuld.
    pub payroll_liabilities: Figure,
    pub liabilities: Figure,
    pub equity_and_liabilities: Figure,
}

/// The movement of equity over the year.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EquityNote {
    /// At the year's first day: the equity accounts, every earlier year's result not yet closed
    /// into them, and an opening balance recorded on that day (books that begin on 1 January).
    pub opening: Figure,
    /// An opening balance recorded during the year: books that began after 1 January.
    pub opened: Figure,
    /// Received from förbund that merged into this one (transfers and takeovers).
    pub received: Figure,
    /// Equity given to the förbund this one merged into (negative), and any other movement
    /// booked straight to equity.
    pub other: Figure,
    pub result: Figure,
    pub closing: Figure,
}

/// Kassaflödesanalys by the indirect method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CashFlow {
    pub result: Figure,
    /// Minskning (+) / ökning (−) av kortfristiga fordringar och upplupna intäkter — those
    /// taken over or handed over at a merger left out (they came with the equity, not from the
    /// year's operations).
    pub change_receivables: Figure,
    /// Ökning (+) / minskning (−) av kortfristiga skulder och upplupna kostnader, likewise.
    pub change_liabilities: Figure,
    /// Income and costs that came with a takeover (booked in the old förbund's books after the
    /// merger took effect): in the result, but not the year's cash. Zero but for such a merger.
    pub taken_over_result: Figure,
    pub operating: Figure,
    /// Finansieringsverksamheten: the cash that came in (+) or went out (−) with equity at a
    /// merger — what the bank received, not the equity figure.
    pub merger_cash: Figure,
    /// The cash an opening balance recorded during the year brought in (books that began
    /// after 1 January).
    pub opened_cash: Figure,
    /// Kassaflöde från finansieringsverksamheten: `merger_cash` + `opened_cash`.
    pub financing: Figure,
    pub change: Figure,
    pub bank_opening: Figure,
    pub bank_closing: Figure,
}

/// What came into the books (or left them) through equity during the year rather than through
/// operations: books opened after 1 January, equity received from a förbund that merged into
/// this one, equity handed over to the förbund this one merged into. One per voucher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapitalMovement {
    pub forbund: Slug,
    /// The förbund's name (as it is now known).
    pub name: String,
    pub date: NaiveDate,
    pub kind: CapitalKind,
    /// The voucher's label (`2024 A 1`) and text (which names the other förbund).
    pub voucher: String,
    pub text: String,
    /// What the bank received (+) or paid out (−).
    pub cash: Amount,
    /// The other assets and liabilities that came (+ an asset, − a liability) or left.
    pub other: Amount,
    /// The equity it brought (+) or took away (−).
    pub equity: Amount,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapitalKind {
    /// An opening balance recorded after the year's first day.
    BooksOpened,
    /// Equity received from a förbund that merged into this one.
    Received,
    /// Equity handed over to the förbund this one merged into (or any other movement of equity).
    HandedOver,
}

/// One year's statements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statements {
    pub year: i32,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub result: ResultStatement,
    pub balance: BalanceSheet,
    pub cash_flow: CashFlow,
    /// What came or left through equity, in date order (empty in most years).
    pub capital: Vec<CapitalMovement>,
    /// The note on personnel: the year's personnel costs by kind and what payroll leaves owed
    /// at the year's end, role by role (those that are not zero).
    pub personnel: PersonnelNote,
    /// Every asset and liability at the year's end, role by role (those that are not zero;
    /// assets debit-positive, liabilities credit-positive), for the notes on receivables and
    /// liabilities by kind.
    pub closing_by_role: Vec<(Role, Amount)>,
    pub vouchers: usize,
}

/// Personalkostnader by kind, and the payroll liabilities at the year's end.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PersonnelNote {
    /// Costs positive, role by role in chart order.
    pub costs: Vec<(Role, Amount)>,
    /// Liabilities positive, role by role in chart order.
    pub owed: Vec<(Role, Amount)>,
}

impl Statements {
    /// Every figure of the three statements, by key and Swedish label, in a fixed order.
    pub fn figures(&self) -> Vec<(&'static str, &'static str, Amount)> {
        let (r, b, c) = (&self.result, &self.balance, &self.cash_flow);
        vec![
            ("rr.staten", "Medlemsbidrag från staten", r.income.staten.amount),
            ("rr.region", "Medlemsbidrag från regionen", r.income.region.amount),
            ("rr.kommuner", "Medlemsbidrag från kommunerna", r.income.kommuner.amount),
            ("rr.ovriga_intakter", "Övriga intäkter", r.income.other.amount),
            ("rr.summa_intakter", "Summa verksamhetens intäkter", r.income.total.amount),
            ("rr.personal", "Personalkostnader", r.costs.personnel.amount),
            ("rr.kopta_tjanster", "Köpta tjänster", r.costs.purchased.amount),
            ("rr.lamnade_bidrag", "Lämnade bidrag till insatser", r.costs.grants.amount),
            ("rr.ovriga_kostnader", "Övriga kostnader", r.costs.other.amount),
            ("rr.summa_kostnader", "Summa verksamhetens kostnader", r.costs.total.amount),
            ("rr.verksamhetens_resultat", "Verksamhetens resultat", r.operating.amount),
            ("rr.finansiella_intakter", "Finansiella intäkter", r.financial_income.amount),
            ("rr.finansiella_kostnader", "Finansiella kostnader", r.financial_costs.amount),
            ("rr.arets_resultat", "Årets resultat", r.result.amount),
            ("br.fordringar", "Kortfristiga fordringar", b.receivables.amount),
            ("br.forutbetalda", "Förutbetalda kostnader och upplupna intäkter", b.accrued_assets.amount),
            ("br.bank", "Kassa och bank", b.bank.amount),
            ("br.tillgangar", "Summa tillgångar", b.assets.amount),
            ("br.eget_kapital_ingaende", "Eget kapital vid årets början", b.equity.opening.amount),
            (
                "br.eget_kapital_bokforingen_borjade",
                "Ingående eget kapital när bokföringen började under året",
                b.equity.opened.amount,
            ),
            ("br.eget_kapital_mottaget", "Eget kapital mottaget vid sammanläggning", b.equity.received.amount),
            ("br.eget_kapital_ovrigt", "Eget kapital överlämnat vid sammanläggning", b.equity.other.amount),
            ("br.eget_kapital", "Summa eget kapital", b.equity.closing.amount),
            ("br.kortfristiga_skulder", "Kortfristiga skulder", b.payables.amount),
            ("br.upplupna_kostnader", "Upplupna kostnader och förutbetalda intäkter", b.accrued_liabilities.amount),
            ("br.personalskulder", "Skulder avseende personal", b.payroll_liabilities.amount),
            ("br.skulder", "Summa skulder", b.liabilities.amount),
            ("kf.forandring_fordringar", "Förändring av fordringar", c.change_receivables.amount),
            ("kf.forandring_skulder", "Förändring av kortfristiga skulder", c.change_liabilities.amount),
            (
                "kf.overtaget_resultat",
                "Intäkter och kostnader som kom med sammanläggningen",
                c.taken_over_result.amount,
            ),
            ("kf.lopande", "Kassaflöde från den löpande verksamheten", c.operating.amount),
            ("kf.finansiering", "Kassaflöde från finansieringsverksamheten", c.financing.amount),
            ("kf.likvida_medel_ingaende", "Likvida medel vid årets början", c.bank_opening.amount),
            ("kf.likvida_medel_utgaende", "Likvida medel vid årets slut", c.bank_closing.amount),
        ]
    }
}

impl Annual {
    /// The digest the board's adoption binds to: SHA-256 (lower-case hex) of the year's
    /// figures — the statements and the notes' amounts (members' contributions, personnel) —
    /// one `name=amount` line each, so that a correction that changes any of them changes it,
    /// and nothing else does (not the log's head, not a later year's events). The text, for a
    /// second implementation (`events/verify_chain.py` recomputes it): `F YEAR`, then each
    /// figure of `Statements::figures` as `key=amount` (canonical amounts), then
    /// `medlemsbidrag.MEMBER=amount` for each member with contributions in the year, by id,
    /// then `personal.ROLE=amount` for the personnel costs and the payroll liabilities, in the
    /// chart's role order; each line ends with a line feed.
    pub fn figures_sha256(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut text = format!("{} {}\n", self.forbund, self.current.year);
        for (name, _, amount) in self.current.figures() {
            text.push_str(&format!("{name}={}\n", amount.canonical()));
        }
        let mut members: Vec<&MemberContribution> = self.members.iter().filter(|m| !m.amount.is_zero()).collect();
        members.sort_by(|a, b| a.member.cmp(&b.member));
        for m in members {
            text.push_str(&format!("medlemsbidrag.{}={}\n", m.member, m.amount.canonical()));
        }
        for (role, amount) in self.current.personnel.costs.iter().chain(&self.current.personnel.owed) {
            text.push_str(&format!("personal.{role}={}\n", amount.canonical()));
        }
        Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// What the comparison column holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Comparison {
    /// The förbund's own previous year.
    Own,
    /// The first year after a merger: the predecessors' previous year, added together.
    Predecessors(Vec<Slug>),
}

/// An annual report's statements: the year, and the year before beside it; the
/// driftredovisning and the notes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Annual {
    pub forbund: Slug,
    pub name: String,
    pub org_nr: Option<String>,
    pub known_at: u64,
    pub current: Statements,
    pub previous: Option<(Comparison, Statements)>,
    /// Budget against utfall: `None` when no budget was adopted for the year.
    pub operations: Option<Operations>,
    pub members: Vec<MemberContribution>,
    pub equity_ceiling: EquityCeiling,
    /// Month by month: the bank at the month's end, the month's costs and income.
    pub months: Vec<Month>,
    /// The year's entries on the accrual accounts (förutbetalda kostnader och upplupna intäkter,
    /// upplupna kostnader och förutbetalda intäkter), in date order.
    pub accruals: Vec<AccrualEntry>,
    /// The kansli's text of the förvaltningsberättelse, the latest known of each section, in
    /// the report's order.
    pub texts: Vec<crate::projection::ReportTextRecord>,
    /// Where the year's path after its end stands.
    pub path: AnnualPath,
    /// The names a person reads for the ids the report refers to: the förbund of the
    /// comparison column and the insatser of the driftredovisning.
    pub names: BTreeMap<Slug, String>,
    /// Händelser efter räkenskapsårets slut, from the books: the vouchers after the year's end
    /// that settle what it left owed either way (a member's late payment, a supplier paid), by
    /// date: (date, voucher, text, amount moved through the bank).
    pub after_year_end: Vec<(NaiveDate, String, String, Amount)>,
    /// Förväntad utveckling, from the log: the next year's budget in force, if recorded —
    /// (its date, whether adopted, income, costs).
    pub next_budget: Option<(NaiveDate, bool, Amount, Amount)>,
    /// The förbund this one merged into by the next year, and when: (its name, the day).
    pub merged_into: Option<(String, NaiveDate)>,
    /// Who the year's payroll summaries paid, when any were recorded.
    pub staff: Option<Staff>,
}

/// The förbund's own staff over a year, from its payroll summaries (`PayrollRecorded`): the
/// people paid each month, the summaries of a month (one per line) added up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Staff {
    /// Months with a payroll summary that says how many it paid.
    pub months: u32,
    /// The people paid per month on average over those months, to one decimal.
    pub average: rust_decimal::Decimal,
    /// The most paid in one month.
    pub most: u32,
    /// The summaries' costs over the year (salaries, fees, contributions and pension on them).
    pub costs: Amount,
}

/// The path after the year's end (LKBR, kommunallagen): the board adopts the report within three
/// months, the revisorer write their revisionsberättelse, each member decides on ansvarsfrihet
/// before the end of June.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnualPath {
    /// The board's latest adoption known: the record, and whether the report's figures are
    /// still the adopted ones.
    pub adopted: Option<(crate::projection::PathRecord, bool)>,
    pub audits: Vec<crate::projection::PathRecord>,
    /// Each member's latest decision, in the members' order, with its name.
    pub discharges: Vec<(String, crate::projection::PathRecord)>,
    /// The members of the year without a decision yet, by name.
    pub pending: Vec<String>,
    pub adopt_by: NaiveDate,
    pub discharge_by: NaiveDate,
}

/// One voucher of the year on the accrual accounts: what it put on them (assets debit-positive,
/// liabilities credit-positive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccrualEntry {
    pub date: NaiveDate,
    pub voucher: String,
    pub seq: u64,
    pub text: String,
    pub asset: Amount,
    pub liability: Amount,
}

/// One month of the year.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Month {
    pub month: u32,
    pub bank: Amount,
    pub costs: Amount,
    pub income: Amount,
    /// The month's part of the year's budget for costs (spread evenly; zero without a budget).
    pub budget: Amount,
}

/// Driftredovisning: the budget in force at the year's end against the utfall (the year's
/// costs), per line (and so per insats) and per category, with the shares the plans print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operations {
    pub budget_seq: u64,
    /// An adopted budget, or only a plan's outlook for the year (then it is never called the
    /// budget).
    pub budget_status: finsam_domain::event::BudgetStatus,
    pub lines: Vec<LinePosition>,
    pub by_category: Vec<CategoryPosition>,
    /// Costs of the year on no line of the budget.
    pub unbudgeted: Amount,
    pub budget_total: Amount,
    /// The budget's result: its income less its costs (a planned use of equity when negative).
    pub budget_result: Amount,
    /// Every cost of the year: the lines' and the unbudgeted.
    pub utfall_total: Amount,
    pub shares_budget: Shares,
    pub shares_utfall: Shares,
}

/// A member's contributions of the year (as booked, accruals included) against its share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberContribution {
    pub member: Slug,
    pub name: String,
    pub kind: MemberKind,
    pub share: Decimal,
    pub amount: Amount,
    /// Its part of all the members' contributions of the year; `None` when there were none.
    pub actual_share: Option<Decimal>,
    /// What its share of all the members' contributions comes to.
    pub by_share: Amount,
}

/// The ceiling on equity as data: by the förbund's size (the year's contributions), the share
/// of them equity may be — a schedule of thresholds and shares (the national recommendation is
/// a sliding scale; a förbund may have its own rule) — and where the rule comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CeilingRule {
    /// (for contributions up to this, or above every threshold when `None`; the share), the
    /// thresholds rising.
    pub steps: Vec<(Option<Amount>, Decimal)>,
    /// Where the rule comes from, for the reader of the report.
    pub source: String,
}

/// The built-in rule (the file `fixtures/equity-ceiling.json`).
pub const DEFAULT_CEILING_RULE: &str = include_str!("../../../fixtures/equity-ceiling.json");

impl CeilingRule {
    /// One share for every size.
    pub fn flat(share: Decimal, source: impl Into<String>) -> CeilingRule {
        CeilingRule { steps: vec![(None, share)], source: source.into() }
    }

    pub fn default_rule() -> CeilingRule {
        CeilingRule::parse(DEFAULT_CEILING_RULE).expect("the built-in ceiling rule is valid")
    }

    /// Parses and checks a rule file: `{"source", "steps": [{"up_to": "KR" | null, "share": "0.2"}]}`
    /// — thresholds rising, the last one open (`null`), each share from 0 to 1.
    pub fn parse(text: &str) -> Result<CeilingRule, String> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("the ceiling rule is not valid JSON: {e}"))?;
        let source = v.get("source").and_then(|s| s.as_str()).ok_or("the ceiling rule has no string `source`")?;
        let steps = v.get("steps").and_then(|s| s.as_array()).ok_or("the ceiling rule has no `steps` array")?;
        let mut out = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            let up_to = match step.get("up_to") {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(s)) => {
                    Some(Amount::parse(s).map_err(|e| format!("steps[{i}].up_to {s:?}: {}", e.0))?)
                }
                Some(other) => return Err(format!("steps[{i}].up_to {other}: kronor as a string, or null")),
            };
            let share_text =
                step.get("share").and_then(|s| s.as_str()).ok_or(format!("steps[{i}] has no string `share`"))?;
            let share = finsam_domain::Share::parse(share_text)
                .map_err(|e| format!("steps[{i}].share {share_text:?}: {}", e.0))?
                .decimal();
            if let (Some((Some(before), _)), Some(now)) = (out.last(), up_to) {
                if now <= *before {
                    return Err(format!("steps[{i}].up_to {now}: the thresholds rise"));
                }
            }
            if matches!(out.last(), Some((None, _))) {
                return Err(format!("steps[{i}]: the step before it is open (up_to null) and must be the last"));
            }
            out.push((up_to, share));
        }
        if !matches!(out.last(), Some((None, _))) {
            return Err("the last step is open (up_to null), so that every size has a share".into());
        }
        Ok(CeilingRule { steps: out, source: source.to_string() })
    }

    /// The share for a förbund whose year's contributions are `contributions`.
    pub fn share_for(&self, contributions: Amount) -> Decimal {
        self.steps
            .iter()
            .find(|(up_to, _)| up_to.is_none_or(|t| contributions <= t))
            .map(|(_, share)| *share)
            .expect("a parsed rule ends with an open step")
    }
}

/// The equity at the year's end against the ceiling (a share of the contributions, by the rule).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EquityCeiling {
    /// The share that applied, and where the rule comes from.
    pub ceiling: Decimal,
    pub source: String,
    pub contributions: Amount,
    pub limit: Amount,
    pub equity: Amount,
    /// Whether equity is within the ceiling; `None` in a year without contributions, when there
    /// is nothing to measure the ceiling against.
    pub within: Option<bool>,
}

const RECEIVABLES: &[Role] = &[Role::Receivable, Role::OpeningDifferenceAsset];
const ACCRUED_ASSETS: &[Role] = &[Role::AccruedAsset];
const PAYABLES: &[Role] = &[Role::Payable, Role::OpeningDifferenceLiability];
const ACCRUED_LIABILITIES: &[Role] = &[Role::AccruedLiability];
/// What payroll leaves owed (every payroll liability role, in chart order).
fn payroll_liability_roles() -> Vec<Role> {
    Role::ALL.iter().copied().filter(|r| matches!(r, Role::PayrollOwed(_))).collect()
}
/// Personalkostnader: personnel costs recorded as costs, and every cost of a payroll summary.
fn personnel_roles() -> Vec<Role> {
    Role::ALL.iter().copied().filter(|r| matches!(r, Role::CostOf(Nature::Personnel) | Role::Payroll(_))).collect()
}
/// Lämnade bidrag: what the förbund gives to insatser (individ and struktur) — never its own
/// administration, which is a category, not a nature.
const GRANTS: &[Role] = &[Role::Cost(Category::Individ), Role::Cost(Category::Struktur)];
/// Övriga kostnader: other costs, and administration recorded without a nature (contract v1).
const OTHER_COSTS: &[Role] = &[Role::CostOf(Nature::Other), Role::Cost(Category::Admin)];

/// Debit-positive sums per role: the balances at a day, and the year's flows.
#[derive(Default)]
struct Sums {
    opening: BTreeMap<Role, Amount>,
    closing: BTreeMap<Role, Amount>,
    /// The year's entries, closing vouchers excluded.
    flows: BTreeMap<Role, Amount>,
    /// The part of `flows` booked by capital vouchers (opening balances during the year, equity
    /// received or handed over at a merger).
    capital_flows: BTreeMap<Role, Amount>,
    capital: Vec<CapitalMovement>,
    vouchers: usize,
}

impl Sums {
    fn of(p: &Projection, f: &Slug, from: NaiveDate, to: NaiveDate, known_at: u64) -> Sums {
        let mut s = Sums::default();
        for v in p.visible_vouchers(f, known_at, to) {
            let before = !of_year(&v, from);
            if !before && v.kind != VoucherKind::Closing {
                s.vouchers += 1;
            }
            let capital =
                !before && capital_kind(p, &v).map(|kind| s.capital.push(CapitalMovement::of(p, &v, kind))).is_some();
            for row in &v.rows {
                *s.closing.entry(row.role).or_default() += row.amount;
                if before {
                    *s.opening.entry(row.role).or_default() += row.amount;
                } else if v.kind != VoucherKind::Closing {
                    *s.flows.entry(row.role).or_default() += row.amount;
                    if capital {
                        *s.capital_flows.entry(row.role).or_default() += row.amount;
                    }
                }
            }
        }
        s
    }

    fn add(&mut self, other: Sums) {
        for (mine, theirs) in [
            (&mut self.opening, other.opening),
            (&mut self.closing, other.closing),
            (&mut self.flows, other.flows),
            (&mut self.capital_flows, other.capital_flows),
        ] {
            for (role, amount) in theirs {
                *mine.entry(role).or_default() += amount;
            }
        }
        self.capital.extend(other.capital);
        self.capital.sort_by(|a, b| (a.date, &a.forbund).cmp(&(b.date, &b.forbund)));
        self.vouchers += other.vouchers;
    }

    fn get(map: &BTreeMap<Role, Amount>, role: Role) -> Amount {
        map.get(&role).copied().unwrap_or_default()
    }

    fn statements(&self, year: i32, from: NaiveDate, to: NaiveDate) -> Statements {
        let flow = |r: Role| Sums::get(&self.flows, r);
        // Income: credit-positive; costs: negative, as printed.
        let income = |roles: &[Role]| Figure::of(roles, |r| -flow(r));
        let cost = |roles: &[Role]| Figure::of(roles, |r| -flow(r));
        let staten = income(&[Role::Contribution(MemberKind::Staten)]);
        let region = income(&[Role::Contribution(MemberKind::Region)]);
        let kommuner = income(&[Role::Contribution(MemberKind::Kommun)]);
        let other = income(&[Role::OtherIncome]);
        let income_total = Figure::total(&[&staten, &region, &kommuner, &other]);
        let personnel = cost(&personnel_roles());
        let purchased = cost(&[Role::CostOf(Nature::Purchased)]);
        let grants = cost(GRANTS);
        let other_costs = cost(OTHER_COSTS);
        let costs_total = Figure::total(&[&personnel, &purchased, &grants, &other_costs]);
        let operating = Figure::total(&[&income_total, &costs_total]);
        let financial_income = income(&[Role::FinancialIncome]);
        let financial_costs = cost(&[Role::CostOf(Nature::Financial)]);
        let financial = Figure::total(&[&financial_income, &financial_costs]);
        let result = Figure::total(&[&operating, &financial]);
        // Every result role is in the statement: nothing of the year's result is left out.
        let all_result: Amount = self.flows.iter().filter(|(r, _)| r.is_result()).map(|(_, a)| -*a).sum();
        assert_eq!(all_result, result.amount, "the resultaträkning holds every income and cost of {year}");

        // Assets as they stand (debit), liabilities and equity credit-positive.
        let signed = |a: Amount, credit: bool| if credit { -a } else { a };
        let at_close =
            |roles: &[Role], credit: bool| Figure::of(roles, |r| signed(Sums::get(&self.closing, r), credit));
        let at_open = |roles: &[Role], credit: bool| Figure::of(roles, |r| signed(Sums::get(&self.opening, r), credit));
        let receivables = at_close(RECEIVABLES, false);
        let accrued_assets = at_close(ACCRUED_ASSETS, false);
        let bank = at_close(&[Role::Bank], false);
        let assets = Figure::total(&[&receivables, &accrued_assets, &bank]);
        // Equity at the start: the equity accounts and every earlier year's result not yet
        // closed into them.
        let opening_roles: Vec<Role> = Role::ALL
            .iter()
            .copied()
            .filter(|r| matches!(r.side(), Side::Equity | Side::Income | Side::Cost))
            .collect();
        let opening = at_open(&opening_roles, true);
        let opened_equity: Amount =
            self.capital.iter().filter(|c| c.kind == CapitalKind::BooksOpened).map(|c| c.equity).sum();
        let opened = Figure { amount: opened_equity, roles: vec![Role::Equity] };
        let received = Figure::of(&[Role::EquityReceived], |r| -flow(r));
        let other_equity = Figure { amount: -flow(Role::Equity) - opened_equity, roles: vec![Role::Equity] };
        let closing = Figure::total(&[&opening, &opened, &received, &other_equity, &result]);
        let equity = EquityNote { opening, opened, received, other: other_equity, result: result.clone(), closing };
        let payables = at_close(PAYABLES, true);
        let accrued_liabilities = at_close(ACCRUED_LIABILITIES, true);
        let payroll_liabilities = at_close(&payroll_liability_roles(), true);
        let liabilities = Figure::total(&[&payables, &accrued_liabilities, &payroll_liabilities]);
        let equity_and_liabilities = Figure::total(&[&equity.closing, &liabilities]);

        // A change in the cash flow: what it did to the bank (an asset that grew took cash, a
        // liability that grew gave it) — minus the debit change either way; what came or left
        // with equity is not the year's operations and is left out.
        let capital = |r: Role| Sums::get(&self.capital_flows, r);
        let change = |roles: &[Role]| {
            Figure::of(roles, |r| Sums::get(&self.opening, r) - (Sums::get(&self.closing, r) - capital(r)))
        };
        let mut non_cash: Vec<Role> = RECEIVABLES.to_vec();
        non_cash.extend_from_slice(ACCRUED_ASSETS);
        let change_receivables = change(&non_cash);
        let mut short: Vec<Role> = PAYABLES.to_vec();
        short.extend_from_slice(ACCRUED_LIABILITIES);
        short.extend(payroll_liability_roles());
        let change_liabilities = change(&short);
        let result_roles: Vec<Role> = Role::ALL.iter().copied().filter(|r| r.is_result()).collect();
        let taken_over_result = Figure::of(&result_roles, capital);
        let operating_cash = Figure::total(&[&result, &change_receivables, &change_liabilities, &taken_over_result]);
        let cash_of = |kinds: &[CapitalKind]| Figure {
            amount: self.capital.iter().filter(|c| kinds.contains(&c.kind)).map(|c| c.cash).sum(),
            roles: vec![Role::Bank],
        };
        let merger_cash = cash_of(&[CapitalKind::Received, CapitalKind::HandedOver]);
        let opened_cash = cash_of(&[CapitalKind::BooksOpened]);
        let financing = Figure::total(&[&merger_cash, &opened_cash]);
        let cash_change = Figure::total(&[&operating_cash, &financing]);
        let bank_opening = at_open(&[Role::Bank], false);
        let bank_closing = Figure::total(&[&bank_opening, &cash_change]);
        let balance = BalanceSheet {
            receivables,
            accrued_assets,
            bank,
            assets,
            equity,
            payables,
            accrued_liabilities,
            payroll_liabilities,
            liabilities,
            equity_and_liabilities,
        };
        let cash_flow = CashFlow {
            result: result.clone(),
            change_receivables,
            change_liabilities,
            taken_over_result,
            operating: operating_cash,
            merger_cash,
            opened_cash,
            financing,
            change: cash_change,
            bank_opening,
            bank_closing,
        };
        let s = Statements {
            year,
            from,
            to,
            result: ResultStatement {
                income: Income { staten, region, kommuner, other, total: income_total },
                costs: Costs { personnel, purchased, grants, other: other_costs, total: costs_total },
                operating,
                financial_income,
                financial_costs,
                financial,
                result,
            },
            balance,
            cash_flow,
            capital: self.capital.clone(),
            closing_by_role: Role::ALL
                .iter()
                .filter_map(|r| {
                    let a = Sums::get(&self.closing, *r);
                    match r.side() {
                        Side::Asset if !a.is_zero() => Some((*r, a)),
                        Side::Liability if !a.is_zero() => Some((*r, -a)),
                        _ => None,
                    }
                })
                .collect(),
            personnel: PersonnelNote {
                costs: personnel_roles().into_iter().map(|r| (r, flow(r))).filter(|(_, a)| !a.is_zero()).collect(),
                owed: payroll_liability_roles()
                    .into_iter()
                    .map(|r| (r, -Sums::get(&self.closing, r)))
                    .filter(|(_, a)| !a.is_zero())
                    .collect(),
            },
            vouchers: self.vouchers,
        };
        s.check();
        s
    }
}

/// Whether a voucher is a movement of the year that begins on `from`: dated on or after it, and
/// not an opening balance dated that day (which is where the year begins, not a movement of
/// it).
fn of_year(v: &crate::projection::Voucher, from: NaiveDate) -> bool {
    v.date > from || (v.date == from && !v.is_opening())
}

/// Whether a voucher moves equity other than by the year's result: an opening balance, equity
/// received at a merger, equity handed over.
fn capital_kind(p: &Projection, v: &crate::projection::Voucher) -> Option<CapitalKind> {
    match v.kind {
        VoucherKind::Closing => return None,
        VoucherKind::Event if v.is_opening() => return Some(CapitalKind::BooksOpened),
        // A correction moves what the voucher it reverses moved, the other way.
        VoucherKind::Correction { of } => {
            if p.vouchers_of(of).iter().any(|o| o.forbund == v.forbund && o.is_opening()) {
                return Some(CapitalKind::BooksOpened);
            }
        }
        VoucherKind::Event => {}
    }
    if v.rows.iter().any(|r| r.role == Role::EquityReceived) {
        return Some(CapitalKind::Received);
    }
    v.rows.iter().any(|r| r.role == Role::Equity).then_some(CapitalKind::HandedOver)
}

impl CapitalMovement {
    fn of(p: &Projection, v: &crate::projection::Voucher, kind: CapitalKind) -> CapitalMovement {
        let sum =
            |keep: &dyn Fn(Role) -> bool| -> Amount { v.rows.iter().filter(|r| keep(r.role)).map(|r| r.amount).sum() };
        let cash = sum(&|r| r == Role::Bank);
        let equity = -sum(&|r| matches!(r, Role::Equity | Role::EquityReceived));
        let other = sum(&|r| r != Role::Bank && matches!(r.side(), Side::Asset | Side::Liability));
        CapitalMovement {
            forbund: v.forbund.clone(),
            name: p.forbund.get(&v.forbund).map_or_else(|| v.forbund.to_string(), |i| i.name.clone()),
            date: v.date,
            kind,
            voucher: v.label(),
            text: v.text.clone(),
            cash,
            other,
            equity,
        }
    }
}

impl Statements {
    /// The checks every set of statements passes; a failure is a bug in the books.
    pub fn check(&self) {
        let b = &self.balance;
        assert_eq!(
            b.assets.amount, b.equity_and_liabilities.amount,
            "the balance sheet of {} balances: assets {} against equity and liabilities {}",
            self.year, b.assets.amount, b.equity_and_liabilities.amount
        );
        assert_eq!(
            self.result.result.amount,
            b.equity.closing.amount
                - b.equity.opening.amount
                - b.equity.opened.amount
                - b.equity.received.amount
                - b.equity.other.amount,
            "the result of {} is the change in equity less what was received",
            self.year
        );
        assert_eq!(
            self.cash_flow.bank_closing.amount, b.bank.amount,
            "the cash flow of {} ends at the bank balance",
            self.year
        );
        let financing: Amount = self.capital.iter().map(|c| c.cash).sum();
        assert_eq!(
            self.cash_flow.financing.amount, financing,
            "the financing of {} is the cash that came and went with equity",
            self.year
        );
    }
}

impl Projection {
    /// The statements of a period of a year (a delårsrapport's: 1 January through a month's
    /// end), from the förbund's own books.
    pub fn statements_of_period(
        &self,
        f: &Slug,
        year: i32,
        from: NaiveDate,
        to: NaiveDate,
        known_at: u64,
    ) -> Statements {
        Sums::of(self, f, from, to, known_at).statements(year, from, to)
    }

    /// A förbund's annual statements for `year` as known at `known_at`, with the previous year
    /// beside them: its own, or — in its first year after a merger, when it has no books of the
    /// year before — its predecessors' added together. `ceiling` is the plans' ceiling on
    /// equity as a share of the year's contributions (0.2 in Västerås' plan). `None` for an
    /// unknown förbund.
    pub fn annual(&self, f: &Slug, year: i32, known_at: u64, rule: &CeilingRule) -> Option<Annual> {
        let info = self.forbund.get(f)?;
        let span = |y: i32| (NaiveDate::from_ymd_opt(y, 1, 1), NaiveDate::from_ymd_opt(y, 12, 31));
        let (Some(from), Some(to)) = span(year) else {
            return None;
        };
        let current = Sums::of(self, f, from, to, known_at).statements(year, from, to);
        let (Some(prev_from), Some(prev_to)) = span(year - 1) else {
            return None;
        };
        let own = Sums::of(self, f, prev_from, prev_to, known_at);
        let merged_this_year: Vec<Slug> = self
            .mergers
            .iter()
            .filter(|m| &m.forbund == f && m.seq <= known_at && m.effective.year() == year)
            .flat_map(|m| m.merging.iter().cloned())
            .collect();
        // A förbund formed by the merger has no books of the year before: its predecessors'
        // stand in. One that continues and absorbs the others (merger by absorption) keeps its
        // own column.
        let formed_by_merger = own.vouchers == 0 && own.closing.values().all(|a| a.is_zero());
        let previous = if formed_by_merger && !merged_this_year.is_empty() {
            let mut sums = Sums::default();
            for old in &merged_this_year {
                sums.add(Sums::of(self, old, prev_from, prev_to, known_at));
            }
            Some((Comparison::Predecessors(merged_this_year), sums.statements(year - 1, prev_from, prev_to)))
        } else if own.vouchers > 0 || own.closing.values().any(|a| !a.is_zero()) {
            Some((Comparison::Own, own.statements(year - 1, prev_from, prev_to)))
        } else {
            None
        };
        let at = At { as_of: to, known_at };
        let operations = self.budget_position(f, year, at).map(|p| {
            let costs = |c: Category| p.by_category.iter().find(|x| x.category == c).map_or(Amount::ZERO, |x| x.spent);
            let utfall_total: Amount = p.lines.iter().map(|l| l.spent).sum::<Amount>() + p.unbudgeted_spent;
            let direct = costs(Category::Individ) + costs(Category::Struktur);
            Operations {
                budget_seq: p.budget_seq,
                budget_status: p.status,
                budget_total: p.costs_total,
                budget_result: p.result,
                utfall_total,
                unbudgeted: p.unbudgeted_spent,
                shares_budget: p.shares.clone(),
                shares_utfall: Shares {
                    admin_of_costs: share(costs(Category::Admin), utfall_total),
                    individ_of_direct: share(costs(Category::Individ), direct),
                    struktur_of_direct: share(costs(Category::Struktur), direct),
                },
                lines: p.lines,
                by_category: p.by_category,
            }
        });
        if let Some(o) = &operations {
            assert_eq!(
                o.utfall_total,
                -(current.result.costs.total.amount + current.result.financial_costs.amount),
                "the driftredovisning's utfall of {f} {year} is the resultaträkning's costs, financial ones included"
            );
        }
        // The members' contributions, by the member each voucher row names.
        let mut by_member: BTreeMap<Slug, Amount> = BTreeMap::new();
        for v in self
            .visible_vouchers_between(f, known_at, from, to)
            .filter(|v| of_year(v, from) && v.kind != VoucherKind::Closing)
        {
            for row in v.rows.iter().filter(|r| matches!(r.role, Role::Contribution(_))) {
                if let Some(m) = &row.member {
                    *by_member.entry(m.clone()).or_default() -= row.amount;
                }
            }
        }
        let contributions: Amount = current.result.income.staten.amount
            + current.result.income.region.amount
            + current.result.income.kommuner.amount;
        let mut members: Vec<MemberContribution> = info
            .members_at(to, known_at)
            .iter()
            .map(|(id, name, kind, s)| {
                let amount = by_member.remove(id).unwrap_or_default();
                MemberContribution {
                    member: id.clone(),
                    name: name.clone(),
                    kind: *kind,
                    share: s.decimal(),
                    amount,
                    actual_share: share(amount, contributions),
                    by_share: Amount::ZERO,
                }
            })
            .collect();
        // Members who left during the year but paid for it.
        for (id, amount) in by_member {
            let known = info.members.iter().find(|m| m.0 == id);
            members.push(MemberContribution {
                member: id.clone(),
                name: known.map_or(id.to_string(), |m| m.1.clone()),
                kind: known.map_or(MemberKind::Kommun, |m| m.2),
                share: Decimal::ZERO,
                amount,
                actual_share: share(amount, contributions),
                by_share: Amount::ZERO,
            });
        }
        let paid_in: Amount = members.iter().map(|m| m.amount).sum();
        for m in members.iter_mut() {
            m.by_share = Amount::from_decimal((paid_in.decimal() * m.share).round_dp(2));
        }
        let budget = operations.as_ref().map_or(Amount::ZERO, |o| o.budget_total);
        let to_date = |m: u32| crate::period::prorate(budget, m, 12);
        let mut months: Vec<Month> = (1..=12)
            .map(|month| Month {
                month,
                bank: Amount::ZERO,
                costs: Amount::ZERO,
                income: Amount::ZERO,
                budget: to_date(month) - to_date(month - 1),
            })
            .collect();
        let mut accruals: Vec<AccrualEntry> = Vec::new();
        // The vouchers come in recording order: the bank is summed per month, then run.
        let mut moved = [Amount::ZERO; 12];
        for v in self
            .visible_vouchers_between(f, known_at, from, to)
            .filter(|v| of_year(v, from) && v.kind != VoucherKind::Closing)
        {
            let i = v.date.month0() as usize;
            let on = |role: Role| v.rows.iter().filter(|r| r.role == role).map(|r| r.amount).sum::<Amount>();
            let (asset, liability) = (on(Role::AccruedAsset), -on(Role::AccruedLiability));
            if !asset.is_zero() || !liability.is_zero() {
                accruals.push(AccrualEntry {
                    date: v.date,
                    voucher: v.label(),
                    seq: v.seq,
                    text: v.text.clone(),
                    asset,
                    liability,
                });
            }
            for row in &v.rows {
                match row.role.side() {
                    Side::Cost => months[i].costs += row.amount,
                    Side::Income => months[i].income -= row.amount,
                    _ if row.role == Role::Bank => moved[i] += row.amount,
                    _ => {}
                }
            }
        }
        let mut last = current.cash_flow.bank_opening.amount;
        for (m, change) in months.iter_mut().zip(moved) {
            last += change;
            m.bank = last;
        }
        assert_eq!(last, current.balance.bank.amount, "the months of {f} {year} end at the bank balance");
        accruals.sort_by_key(|e| (e.date, e.seq));

        let ceiling = rule.share_for(contributions);
        let limit = Amount::from_decimal((contributions.decimal() * ceiling).round_dp(2));
        let equity = current.balance.equity.closing.amount;
        let source = rule.source.clone();
        let within = (!contributions.is_zero()).then_some(equity <= limit);
        let equity_ceiling = EquityCeiling { ceiling, source, contributions, limit, equity, within };
        Some(Annual {
            forbund: f.clone(),
            name: info.name_known_at(known_at).to_string(),
            org_nr: info.org_nr.clone(),
            known_at,
            current,
            previous,
            operations,
            members,
            equity_ceiling,
            months,
            accruals,
            texts: self
                .latest_report_texts(f, year, known_at)
                .into_iter()
                .filter(|t| t.section != finsam_domain::event::ReportSection::Interim)
                .collect(),
            after_year_end: self
                .visible_vouchers(f, known_at, NaiveDate::MAX)
                .filter(|v| v.date > to && v.kind == VoucherKind::Event)
                .filter(|v| v.rows.iter().any(|r| matches!(r.role, Role::Receivable | Role::Payable)))
                .filter(|v| v.rows.iter().any(|r| r.role == Role::Bank))
                .map(|v| {
                    let bank: Amount = v.rows.iter().filter(|r| r.role == Role::Bank).map(|r| r.amount).sum();
                    (v.date, v.label(), v.text.clone(), bank)
                })
                .collect(),
            merged_into: self
                .mergers
                .iter()
                .filter(|m| m.seq <= known_at && m.merging.contains(f) && m.effective.year() <= year + 1)
                .map(|m| (self.forbund[&m.forbund].name_known_at(known_at).to_string(), m.effective))
                .next(),
            staff: self.staff_of_year(f, year, known_at),
            next_budget: self.budget_in_force(f, year + 1, known_at, NaiveDate::MAX).map(|b| {
                (
                    b.date,
                    b.status == finsam_domain::event::BudgetStatus::Adopted,
                    b.income.iter().map(|l| l.amount).sum(),
                    b.costs.iter().map(|l| l.amount).sum(),
                )
            }),
            names: self
                .forbund
                .iter()
                .map(|(id, info)| (id.clone(), info.name_known_at(known_at).to_string()))
                .chain(
                    self.insatser
                        .iter()
                        .filter(|i| &i.forbund == f && i.seq <= known_at)
                        .map(|i| (i.insats.clone(), i.name.clone())),
                )
                .collect(),
            path: AnnualPath {
                adopted: None,
                audits: Vec::new(),
                discharges: Vec::new(),
                pending: Vec::new(),
                adopt_by: NaiveDate::from_ymd_opt(year + 1, 3, 31).expect("a date"),
                discharge_by: NaiveDate::from_ymd_opt(year + 1, 6, 30).expect("a date"),
            },
        })
        .map(|mut a| {
            a.path = self.annual_path(&a, known_at);
            a
        })
    }

    /// The year's staff from its payroll summaries known at `known_at` (and not corrected by
    /// then): `None` when there are none.
    pub fn staff_of_year(&self, f: &Slug, year: i32, known_at: u64) -> Option<Staff> {
        let at = At { as_of: NaiveDate::from_ymd_opt(year + 1, 12, 31)?, known_at };
        let mut by_month: BTreeMap<u32, u32> = BTreeMap::new();
        let mut costs = Amount::ZERO;
        let mut any = false;
        for r in self.payrolls_at(f, year, at) {
            any = true;
            costs += r.costs;
            if let Some(n) = r.staff {
                *by_month.entry(r.month).or_default() += n;
            }
        }
        if !any {
            return None;
        }
        let months = by_month.len() as u32;
        let total: u32 = by_month.values().sum();
        let average = if months == 0 {
            rust_decimal::Decimal::ZERO
        } else {
            (rust_decimal::Decimal::from(total) / rust_decimal::Decimal::from(months)).round_dp(1)
        };
        Some(Staff { months, average, most: by_month.values().copied().max().unwrap_or(0), costs })
    }

    /// The kansli's latest text of each section of a year's report, known at a seq.
    pub fn latest_report_texts(&self, f: &Slug, year: i32, known_at: u64) -> Vec<crate::projection::ReportTextRecord> {
        use finsam_domain::event::ReportSection;
        ReportSection::ALL
            .iter()
            .filter_map(|section| {
                self.report_texts
                    .iter()
                    .rev()
                    .find(|t| &t.forbund == f && t.year == year && t.section == *section && t.seq <= known_at)
                    .cloned()
            })
            .collect()
    }

    /// Where the path after the year's end stands, as known at a seq.
    fn annual_path(&self, a: &Annual, known_at: u64) -> AnnualPath {
        use crate::projection::PathStep;
        let (f, year) = (&a.forbund, a.current.year);
        let steps: Vec<&crate::projection::PathRecord> =
            self.path.iter().filter(|r| &r.forbund == f && r.year == year && r.seq <= known_at).collect();
        let adopted = steps.iter().rev().find(|r| matches!(r.step, PathStep::Adopted { .. })).map(|r| {
            let PathStep::Adopted { figures_sha256, .. } = &r.step else { unreachable!("found as an adoption") };
            ((*r).clone(), *figures_sha256 == a.figures_sha256())
        });
        let audits =
            steps.iter().filter(|r| matches!(r.step, PathStep::Audited { .. })).map(|r| (*r).clone()).collect();
        let year_end = NaiveDate::from_ymd_opt(year, 12, 31).expect("a year end");
        let info = &self.forbund[f];
        let mut discharges = Vec::new();
        let mut pending = Vec::new();
        for (id, name, _, _) in info.members_at(year_end, known_at) {
            let latest =
                steps.iter().rev().find(|r| matches!(&r.step, PathStep::Discharge { member, .. } if member == id));
            match latest {
                Some(r) => discharges.push((name.clone(), (*r).clone())),
                None => pending.push(name.clone()),
            }
        }
        AnnualPath { adopted, audits, discharges, pending, ..a.path.clone() }
    }
}
