//! The chart of accounts: data, not code. Vouchers post to *roles* (bank, equity, a
//! contribution by member kind, a cost by category …); a chart maps every role to an account.
//! Replacing the chart changes the account numbers in the reports, never the books themselves.

use finsam_domain::event::{Nature, PayItem};
use finsam_domain::{Category, MemberKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// What a voucher row is about, independent of any account number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    Bank,
    OpeningDifferenceAsset,
    Equity,
    EquityReceived,
    OpeningDifferenceLiability,
    Contribution(MemberKind),
    OtherIncome,
    Cost(Category),
    /// Leverantörsskulder: supplier invoices not yet paid (v2).
    Payable,
    /// Förutbetalda kostnader och upplupna intäkter (v2 accruals).
    AccruedAsset,
    /// Upplupna kostnader och förutbetalda intäkter (v2 accruals).
    AccruedLiability,
    /// Fordringar hos medlemmar: contributions decided and not yet paid (v2).
    Receivable,
    /// A cost by its nature (v2): the förbund's own staff, purchased services, other costs,
    /// financial costs. (Grants given stay on the category's account, as in v1.)
    CostOf(Nature),
    /// Finansiella intäkter: interest received and other financial income (v2).
    FinancialIncome,
    /// A personnel cost of a payroll summary, by its item (v2): löner, arvoden, arbetsgivar-
    /// avgifter, pension, särskild löneskatt, förändring av semesterlöneskuld. (The tax
    /// withheld is no cost; the contributions on semesterlöneskuld are arbetsgivaravgifter.)
    Payroll(PayItem),
    /// What a payroll summary leaves owed, by its item (v2): personalens källskatt, upplupna
    /// sociala avgifter, upplupen pension and särskild löneskatt, semesterlöneskuld.
    PayrollOwed(PayItem),
}

/// Where a role sits in the books.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Asset,
    Liability,
    Equity,
    Income,
    Cost,
}

impl Role {
    /// Every role, in the order their index is stored in the vouchers' bytes: new roles are
    /// appended, never inserted.
    pub const ALL: [Role; 32] = [
        Role::OpeningDifferenceAsset,
        Role::Bank,
        Role::Equity,
        Role::EquityReceived,
        Role::OpeningDifferenceLiability,
        Role::Contribution(MemberKind::Staten),
        Role::Contribution(MemberKind::Region),
        Role::Contribution(MemberKind::Kommun),
        Role::OtherIncome,
        Role::Cost(Category::Individ),
        Role::Cost(Category::Struktur),
        Role::Cost(Category::Admin),
        Role::Payable,
        Role::AccruedAsset,
        Role::AccruedLiability,
        Role::Receivable,
        Role::CostOf(Nature::Personnel),
        Role::CostOf(Nature::Purchased),
        Role::CostOf(Nature::Other),
        Role::CostOf(Nature::Financial),
        Role::FinancialIncome,
        Role::Payroll(PayItem::Salaries),
        Role::Payroll(PayItem::Fees),
        Role::Payroll(PayItem::EmployerContributions),
        Role::Payroll(PayItem::Pension),
        Role::Payroll(PayItem::SpecialPayrollTax),
        Role::Payroll(PayItem::VacationPayChange),
        Role::PayrollOwed(PayItem::TaxWithheld),
        Role::PayrollOwed(PayItem::EmployerContributions),
        Role::PayrollOwed(PayItem::Pension),
        Role::PayrollOwed(PayItem::SpecialPayrollTax),
        Role::PayrollOwed(PayItem::VacationPayChange),
    ];

    /// The roles of contract v1: a chart must map every one of them. A chart written before a
    /// later role existed leaves that role to the built-in chart's account.
    pub const V1: usize = 12;

    pub fn name(self) -> &'static str {
        match self {
            Role::Bank => "bank",
            Role::OpeningDifferenceAsset => "opening_difference_asset",
            Role::Equity => "equity",
            Role::EquityReceived => "equity_received",
            Role::OpeningDifferenceLiability => "opening_difference_liability",
            Role::Contribution(MemberKind::Staten) => "contribution_staten",
            Role::Contribution(MemberKind::Region) => "contribution_region",
            Role::Contribution(MemberKind::Kommun) => "contribution_kommun",
            Role::OtherIncome => "other_income",
            Role::Cost(Category::Individ) => "cost_individ",
            Role::Cost(Category::Struktur) => "cost_struktur",
            Role::Cost(Category::Admin) => "cost_admin",
            Role::Payable => "payable",
            Role::AccruedAsset => "accrued_asset",
            Role::AccruedLiability => "accrued_liability",
            Role::Receivable => "receivable",
            Role::CostOf(Nature::Personnel) => "cost_personal",
            Role::CostOf(Nature::Purchased) => "cost_kopta_tjanster",
            Role::CostOf(Nature::Other) => "cost_ovrigt",
            Role::CostOf(Nature::Financial) => "cost_finansiell",
            Role::FinancialIncome => "financial_income",
            Role::Payroll(PayItem::Salaries) => "cost_loner",
            Role::Payroll(PayItem::Fees) => "cost_arvoden",
            Role::Payroll(PayItem::EmployerContributions) => "cost_arbetsgivaravgifter",
            Role::Payroll(PayItem::Pension) => "cost_pension",
            Role::Payroll(PayItem::SpecialPayrollTax) => "cost_sarskild_loneskatt",
            Role::Payroll(PayItem::VacationPayChange) => "cost_semesterloneskuld",
            Role::PayrollOwed(PayItem::TaxWithheld) => "personalens_kallskatt",
            Role::PayrollOwed(PayItem::EmployerContributions) => "upplupna_arbetsgivaravgifter",
            Role::PayrollOwed(PayItem::Pension) => "upplupen_pension",
            Role::PayrollOwed(PayItem::SpecialPayrollTax) => "upplupen_sarskild_loneskatt",
            Role::PayrollOwed(PayItem::VacationPayChange) => "semesterloneskuld",
            Role::Payroll(_) | Role::PayrollOwed(_) => unreachable!("a payroll item without a role of its own"),
            Role::CostOf(Nature::Grants) => unreachable!("grants given post to the category's role"),
        }
    }

    pub fn side(self) -> Side {
        match self {
            Role::Bank | Role::OpeningDifferenceAsset | Role::AccruedAsset | Role::Receivable => Side::Asset,
            Role::OpeningDifferenceLiability | Role::Payable | Role::AccruedLiability | Role::PayrollOwed(_) => {
                Side::Liability
            }
            Role::Equity | Role::EquityReceived => Side::Equity,
            Role::Contribution(_) | Role::OtherIncome | Role::FinancialIncome => Side::Income,
            Role::Cost(_) | Role::CostOf(_) | Role::Payroll(_) => Side::Cost,
        }
    }

    /// Income and cost roles are closed into equity at year end.
    pub fn is_result(self) -> bool {
        matches!(self.side(), Side::Income | Side::Cost)
    }
}

/// The cost role and the liability role a payroll item posts to, when it has them.
pub fn payroll_roles(item: PayItem) -> (Option<Role>, Option<Role>) {
    match item {
        PayItem::Salaries | PayItem::Fees => (Some(Role::Payroll(item)), None),
        PayItem::TaxWithheld => (None, Some(Role::PayrollOwed(item))),
        PayItem::VacationPayContributions => (
            Some(Role::Payroll(PayItem::EmployerContributions)),
            Some(Role::PayrollOwed(PayItem::EmployerContributions)),
        ),
        _ => (Some(Role::Payroll(item)), Some(Role::PayrollOwed(item))),
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub number: String,
    pub name: String,
}

/// A validated chart: every role mapped to exactly one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chart {
    pub id: String,
    pub name: String,
    by_role: BTreeMap<Role, Account>,
}

/// The default chart, compiled in (the file `fixtures/chart-kommunbas.json`).
pub const DEFAULT_CHART: &str = include_str!("../../../fixtures/chart-kommunbas.json");

impl Chart {
    pub fn default_chart() -> Chart {
        Chart::parse(DEFAULT_CHART).expect("the built-in chart is valid")
    }

    /// Parses and checks a chart file: `{"chart", "name", "accounts": [{"account", "name", "role"}]}`.
    pub fn parse(text: &str) -> Result<Chart, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("the chart is not valid JSON: {e}"))?;
        let field = |k: &str| {
            v.get(k).and_then(Value::as_str).map(str::to_string).ok_or(format!("the chart has no string `{k}`"))
        };
        let id = field("chart")?;
        let name = field("name")?;
        let accounts = v.get("accounts").and_then(Value::as_array).ok_or("the chart has no `accounts` array")?;
        let mut by_role = BTreeMap::new();
        for (i, a) in accounts.iter().enumerate() {
            let get = |k: &str| a.get(k).and_then(Value::as_str).ok_or(format!("accounts[{i}] has no string `{k}`"));
            let number = get("account")?;
            if number.len() != 4 || !number.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("accounts[{i}].account {number:?}: an account number is 4 digits"));
            }
            let role_name = get("role")?;
            let role = Role::ALL.iter().copied().find(|r| r.name() == role_name).ok_or(format!(
                "accounts[{i}].role {role_name:?} is not a role; roles are {}",
                Role::ALL.map(Role::name).join(", ")
            ))?;
            let account = Account { number: number.to_string(), name: get("name")?.to_string() };
            if by_role.insert(role, account).is_some() {
                return Err(format!("accounts[{i}]: role {role_name} is mapped twice"));
            }
        }
        if let Some(missing) = Role::ALL[..Role::V1].iter().find(|r| !by_role.contains_key(r)) {
            return Err(format!("the chart maps no account to role {missing}"));
        }
        if Role::ALL[Role::V1..].iter().any(|r| !by_role.contains_key(r)) {
            // A chart of contract v1: the roles added since take the built-in chart's accounts.
            let built_in = Chart::parse(DEFAULT_CHART).expect("the built-in chart is valid");
            for role in &Role::ALL[Role::V1..] {
                by_role.entry(*role).or_insert_with(|| built_in.by_role[role].clone());
            }
        }
        Ok(Chart { id, name, by_role })
    }

    pub fn account(&self, role: Role) -> &Account {
        &self.by_role[&role]
    }

    /// The roles that post to an account number.
    pub fn roles_of(&self, number: &str) -> Vec<Role> {
        self.by_role.iter().filter(|(_, a)| a.number == number).map(|(r, _)| *r).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_chart_maps_every_role() {
        let chart = Chart::default_chart();
        assert_eq!(chart.account(Role::Bank).number, "1930");
        assert_eq!(chart.roles_of("2010"), vec![Role::Equity]);
    }

    #[test]
    fn a_chart_of_contract_v1_takes_the_built_in_account_for_a_later_role() {
        let v1: String = DEFAULT_CHART.lines().filter(|l| !l.contains("\"payable\"")).collect::<Vec<_>>().join("\n");
        let chart = Chart::parse(&v1).unwrap();
        assert_eq!(chart.account(Role::Payable).number, "2440");
        assert_eq!(chart.account(Role::Bank).number, "1930");
    }

    #[test]
    fn a_chart_missing_a_role_is_refused() {
        let text = DEFAULT_CHART.replace("\"role\": \"cost_admin\"", "\"role\": \"cost_individ\"");
        assert!(Chart::parse(&text).unwrap_err().contains("mapped twice"));
        let text = DEFAULT_CHART.replace("\"1930\"", "\"19300\"");
        assert!(Chart::parse(&text).unwrap_err().contains("4 digits"));
    }
}
