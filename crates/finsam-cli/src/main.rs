//! `finsam`: record and read the decisions and money movements of Finsam förbund.
//!
//! The only crate that knows clap and tokio. It maps every failure to an exit code:
//! 0 ok, 1 a check found problems (or the store could not be read), 2 bad usage or rejected
//! input (nothing written).

mod demo;
mod progress;

use clap::{Parser, Subcommand, ValueEnum};
use finsam_app::output::{self, emit, say, Failure};
use finsam_app::record::{advise, record_json};
use finsam_app::table::{Align, Table};
use finsam_app::{annual, audit, exports, reports, Format};
use finsam_domain::input::{parse_batch, INPUT_BYTES_MAX};
use finsam_domain::Rejection;
use finsam_store::{Store, StoreError};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

const ABOUT: &str = "An event-sourced ledger for Swedish samordningsförbund (Finsam förbund)";

const LONG_ABOUT: &str = "\
finsam keeps a förbund's board decisions and money movements in an append-only, hash-chained
log (a JSON Lines file that anyone can read and check), and projects it into books, budget
positions and an audit trail.

Start with `finsam demo`: it records the seed budgets of the 2024 Västmanland merger into a
fresh store and prints the 2024 budget.

Exit codes: 0 ok; 1 a check found problems or the store could not be read; 2 bad usage or
rejected input (nothing was written).";

#[derive(Parser)]
#[command(name = "finsam", version, about = ABOUT, long_about = LONG_ABOUT)]
struct Cli {
    /// The store directory [env: FINSAM_STORE; default: ./finsam-data]
    #[arg(long, global = true, value_name = "DIR")]
    store: Option<PathBuf>,

    /// The log in PostgreSQL, as postgresql://USER@HOST:PORT/DATABASE (add
    /// ?sslmode=verify-full&sslrootcert=CA.crt to encrypt, the server verified): for `serve`
    /// (with --store as the instance's own folder), `user` and `audit verify`; `store copy`
    /// moves a store there
    #[arg(long, global = true, value_name = "URL", env = "FINSAM_DATABASE", hide_env_values = true)]
    database: Option<String>,

    /// Output for people (table; html for finsam report annual, period and members) or for programs (json; csv for the reports)
    #[arg(long, global = true, value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,

    #[command(subcommand)]
    command: Command,
}

/// How a command writes its result (`--format`): clap's side of `finsam_app::Format`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Table,
    Json,
    /// Comma-separated values (the reports only)
    Csv,
    /// One self-contained HTML page with charts, to read, print or archive (finsam report annual, period, members)
    Html,
    /// A workbook for Excel or LibreOffice, one sheet per table, figures as numbers (the reports
    /// only; to a file: `> rapport.xlsx`)
    Xlsx,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            // A workbook holds the tables the report draws for people.
            FormatArg::Table | FormatArg::Xlsx => Format::Table,
            FormatArg::Json => Format::Json,
            FormatArg::Csv => Format::Csv,
            FormatArg::Html => Format::Html,
        }
    }
}

fn parse_share(text: &str) -> Result<rust_decimal::Decimal, String> {
    finsam_domain::Share::parse(text).map(|s| s.decimal()).map_err(|e| format!("{text:?}: {}", e.0))
}

/// `--through 2024-06`: a year and a month.
fn parse_month(text: &str) -> Result<(i32, u32), String> {
    let bad = || format!("{text:?} is not a month as YYYY-MM (e.g. 2024-06)");
    let (y, m) = text.split_once('-').ok_or_else(bad)?;
    let (year, month) = (y.parse::<i32>().map_err(|_| bad())?, m.parse::<u32>().map_err(|_| bad())?);
    if y.len() != 4 || m.len() != 2 || !(1..=12).contains(&month) {
        return Err(bad());
    }
    Ok((year, month))
}

fn parse_date(text: &str) -> Result<chrono::NaiveDate, String> {
    let ok = text.len() == 10 && text.as_bytes()[4] == b'-' && text.as_bytes()[7] == b'-';
    ok.then(|| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| format!("{text:?} is not a calendar date written YYYY-MM-DD"))
}

/// A period of a year, from January through a month: the follow-up's and the delårsrapport's.
#[derive(clap::Args)]
struct PeriodArgs {
    /// The förbund, by id (e.g. sf-vastmanland)
    #[arg(long, value_name = "F")]
    forbund: String,
    /// The budget year
    #[arg(long, value_name = "YEAR")]
    year: i32,
    /// The last month counted, e.g. 2024-06 for a delårsrapport at 30 June
    #[arg(long, value_name = "YYYY-MM", value_parser = parse_month)]
    through: (i32, u32),
    /// What the books said then: a seq, or a recording time or date [default: the head]
    #[arg(long, value_name = "SEQ|TIME", value_parser = reports::KnownAt::parse)]
    known_at: Option<reports::KnownAt>,
    /// How the budget is spread over the months: twelve weights from January, separated
    /// by commas (a decimal with a point) [default: every month the same]
    #[arg(long, value_name = "W1,…,W12", value_parser = finsam_projections::period::Profile::parse)]
    profile: Option<finsam_projections::period::Profile>,
}

impl PeriodArgs {
    fn asked(self) -> (String, annual::PeriodAsked) {
        let profile = self.profile.unwrap_or_else(finsam_projections::period::Profile::even);
        let asked = annual::PeriodAsked { year: self.year, through: self.through, known_at: self.known_at, profile };
        (self.forbund, asked)
    }
}

/// The two time axes every report takes.
#[derive(clap::Args)]
struct AxesArgs {
    /// Effective date: count what is dated on or before it [default: today]
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    as_of: Option<chrono::NaiveDate>,
    /// What the books said then: a seq (150), or a recording time (2024-06-12T18:00:00Z) or
    /// date (2024-06-12, to the end of the day, UTC) meaning the last seq recorded by then
    /// [default: the head]
    #[arg(long, value_name = "SEQ|TIME", value_parser = reports::KnownAt::parse)]
    known_at: Option<reports::KnownAt>,
}

impl From<AxesArgs> for reports::Axes {
    fn from(a: AxesArgs) -> reports::Axes {
        reports::Axes { as_of: a.as_of, known_at: a.known_at }
    }
}

#[derive(Subcommand)]
enum ReportCommand {
    /// The statements of a förbund's annual report for a year, with the year before beside
    /// them: resultaträkning, balansräkning, kassaflödesanalys
    #[command(long_about = "\
The annual report (LKBR) of a förbund's year, from the log alone, with the previous year beside
each figure (in the first year after a merger: the merged förbund's figures added together, and
labelled so), in this order:

  förvaltningsberättelse  the year in brief against the budget and last year; what the log knows
                     (the merger, what settled after the year's end, the next year's budget);
                     the kansli's text per section (ReportTextRecorded); god ekonomisk
                     hushållning (the result against the budgeted result, equity and the ceiling)
  redovisningsprinciper  generated from what the books do
  resultaträkning    the members' contributions per part (staten, region, kommunerna), other
                     income; costs by nature (personnel, purchased services, grants given to
                     insatser, other); financial items; the year's result
  balansräkning      receivables, prepaid costs and accrued income, cash and bank; equity (at
                     the start, received at a merger, the result) and liabilities, at 31 Dec
  kassaflödesanalys  indirect: the result, the changes in receivables and liabilities, the cash
                     that came with a merger; the bank at the start and at the end of the year
  driftredovisning, numbered notes (referred to from the rows), the path from adoption
                     (AnnualReportAdopted, bound to figures_sha256 in the JSON) through the
                     revisionsberättelse to each member's ansvarsfrihet, and the signatures

The statements check themselves: the balance sheet balances, the result is the change in equity
less what was received, the cash flow ends at the bank balance. In JSON and CSV every figure
names the accounts it sums (finsam audit explain --account shows the vouchers behind them).

Example: finsam report annual --forbund sf-vastmanland --year 2024")]
    Annual {
        /// The förbund, by id (e.g. sf-vastmanland)
        #[arg(long, value_name = "F")]
        forbund: String,
        /// The financial year (a calendar year)
        #[arg(long, value_name = "YEAR")]
        year: i32,
        /// What the books said then: a seq, or a recording time or date [default: the head]
        #[arg(long, value_name = "SEQ|TIME", value_parser = reports::KnownAt::parse)]
        known_at: Option<reports::KnownAt>,
        /// One ceiling on equity for every size, as a share of the year's contributions
        /// [default: the förbund's rule, STORE/ceilings/<forbund>.json, else the built-in one]
        #[arg(long, value_name = "SHARE", value_parser = parse_share, conflicts_with = "equity_ceiling_rule")]
        equity_ceiling: Option<rust_decimal::Decimal>,
        /// The ceiling on equity as a schedule by the förbund's size (a JSON file like
        /// fixtures/equity-ceiling.json: thresholds, shares and the rule's source)
        #[arg(long, value_name = "FILE")]
        equity_ceiling_rule: Option<PathBuf>,
    },
    /// The board's follow-up: utfall through a month against the budget to date, per line,
    /// category and month, with a full-year forecast
    #[command(long_about = "\
The economic follow-up for a board meeting, or a delårsrapport (--through 2024-06 or 2024-08):
the utfall from January through the month against the budget to date — the year's budget in
force at the month's end, spread evenly over the twelve months, or by --profile — per budget
line (and insats), per category and in total, with the deviation; then month by month.

The full-year forecast of a line, in this order:
  r  the kansli's own, where one is recorded (a ForecastRecorded event of the line, dated by the
     month's end; the latest counts);
  b  on a line for insatser with funding granted for the year: what was granted (the utfall if
     already more);
  l  on a line with payroll: the utfall so far and the latest month's payroll for each month left,
     when that is more than the budget gives;
     otherwise the budget for the whole year (the utfall so far and the rest of the budget, if a
     line is ahead of its budget).
Income is forecast from the contributions decided for the year and other income so far (m), with
the budget's contributions not yet decided; result and equity at the year's end follow. Through
December every forecast is the utfall (u). Each forecast says how it was made: the letter
beside it in the table (d: a sum of lines made in different ways), forecast_kind in JSON and CSV.

Examples:
  finsam report period --forbund sf-vastmanland --year 2024 --through 2024-08
  finsam report period --forbund sf-vastmanland --year 2024 --through 2024-06 \\
      --profile 9,9,9,9,9,9,2,8,9,9,9,9      (a quiet July)")]
    Period {
        #[command(flatten)]
        period: PeriodArgs,
    },
    /// The delårsrapport: the period's result and balance sheet with the contributions
    /// periodised, the same months of the year before, and the forecast for the whole year
    #[command(long_about = "\
The delårsrapport (RKR R17) from 1 January through a month's end: the period's income (the
year's decided contributions are earned month by month; what is not yet earned is subtracted and
shown as förutbetalda intäkter), costs, financial items and result, beside the same months of
the year before; the balance sheet at the month's end with the unearned contributions as a
liability; and the forecast for the whole year — income from the decided contributions, costs line
by line by the kansli's recorded forecast, what is granted, the payroll's run rate or the budget
(see finsam report period), the result against the budgeted result, and equity at the year's end.
Through December it is the annual report's result.

Example: finsam report interim --forbund sf-vastmanland --year 2024 --through 2024-08")]
    Interim {
        #[command(flatten)]
        period: PeriodArgs,
    },
    /// Each member's contributions for a year — share, decided, paid, outstanding — and each
    /// payer's (Försäkringskassan pays for Arbetsförmedlingen)
    #[command(long_about = "\
Each member's contributions for a year: its share, what was decided (the förbund's claim on the
member, which is what is invoiced), what was paid, what is still owed, and who paid when it was
not the member itself; then per payer: the members it pays for, owed, paid, outstanding. Members
are those in force at the year's end, then any other with a decision or a payment for the year.
As of the year's end unless --as-of says otherwise (e.g. the board's meeting day).

Example: finsam report members --forbund sf-vastmanland --year 2024 --as-of 2024-06-30")]
    Members {
        /// The förbund, by id (e.g. sf-vastmanland)
        #[arg(long, value_name = "F")]
        forbund: String,
        /// The year the contributions are for
        #[arg(long, value_name = "YEAR")]
        year: i32,
        #[command(flatten)]
        axes: AxesArgs,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SieKind {
    /// 4E (.se): accounts, objects, balances, results, budgets and every voucher
    #[value(name = "4e")]
    E,
    /// 4I (.si): the vouchers only, for import into the main books
    #[value(name = "4i")]
    I,
}

/// Whose books a journal holds, and of which years.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["forbund", "all"])))]
struct WhichBooks {
    /// Only this förbund's books
    #[arg(long, value_name = "F", conflicts_with = "all")]
    forbund: Option<String>,
    /// Every förbund's books
    #[arg(long)]
    all: bool,
    /// Only this year's vouchers
    #[arg(long, value_name = "YEAR")]
    year: Option<i32>,
}

#[derive(Subcommand)]
enum ExportCommand {
    /// The books as a plain-text double-entry journal for ledger-cli and hledger (to stdout)
    #[command(long_about = "\
Writes the books to standard output as a double-entry journal that ledger-cli and hledger read:
one transaction per voucher (date, voucher number as code, text), one posting per account named
förbund:account, amounts in SEK. `hledger -f J check` and `hledger -f J bal` then check finsam's
figures independently.")]
    Journal(WhichBooks),
    /// The books as a Beancount file for bean-check and Fava (to stdout)
    #[command(long_about = "\
Writes the books to standard output in Beancount's syntax, the same transactions as `export
journal`: one per voucher (date, text; the förbund, the voucher, the seq and who recorded it as
metadata), one posting per account, amounts in SEK. Accounts begin with their type, as
Beancount requires: Assets:Sf-vastmanland:1930, Income:Sf-vastmanland:3510; each is opened on
the file's first date with its name. Closing vouchers are left out (Beancount computes each
year's result); with --year, one opening transaction on 1 January carries the earlier years.
`bean-check FILE` checks it, and Fava (`fava FILE`) shows it.

Example:
  finsam export beancount --forbund sf-vastmanland > vastmanland.beancount")]
    Beancount(WhichBooks),
    /// One förbund's books for one year as a SIE 4 file (CP437, CRLF, #KSUMMA)
    #[command(long_about = "\
Writes one förbund's books for one year as SIE 4, the format every Swedish accounting program
and auditor reads: type 4E (.se) with #KONTO/#KTYP for every account used, #DIM 6 and #OBJEKT for
every insats, #IB/#UB for this year and the last, #RES, #PBUDGET per cost line (spread over the
months), and every voucher as #VER with its #TRANS rows; or type 4I (.si) with the vouchers only.
CP437 (characters it lacks are replaced: dashes by -, curly quotes by \" or ', € by E, others
by ?; a backslash by /), CRLF, and a #KSUMMA CRC-32. The same log gives the same file.")]
    Sie {
        /// The förbund whose books to export, by id
        #[arg(long, value_name = "F")]
        forbund: String,
        /// The financial year
        #[arg(long, value_name = "YEAR")]
        year: i32,
        /// The SIE type
        #[arg(long = "type", value_enum, default_value_t = SieKind::E)]
        kind: SieKind,
        /// The file to write (must not exist)
        #[arg(value_name = "OUT")]
        out: PathBuf,
    },
}

/// What every import takes: the förbund, whether only to show, who records.
#[derive(clap::Args)]
struct ImportRun {
    /// The förbund whose books the file is for, by id (e.g. sf-vastmanland)
    #[arg(long, value_name = "F")]
    forbund: String,
    /// Show what would be recorded, and record nothing
    #[arg(long)]
    dry_run: bool,
    /// Who records it (stored in every envelope) [env: FINSAM_ACTOR]
    #[arg(long = "as", value_name = "ACTOR")]
    actor: Option<String>,
}

#[derive(Subcommand)]
enum ImportCommand {
    /// A bank file: camt.053 or camt.054 (ISO 20022, versions .001.02 and .001.08) or BgMax
    #[command(long_about = "\
Reads a bank file — an account statement (camt.053), a notification (camt.054) or Bankgirot's
file of incoming payments (BgMax) — and matches each booked payment to what the books say is
owed: money in from a member to its decided contribution (by payer, amount and the invoicing
plan's due parts; Försäkringskassan pays for Arbetsförmedlingen), money out to an open
supplier invoice (its id in the reference, or the payee's only open invoice of that amount),
a supplier's refund to a credit note. Every proposal says why; a payment that fits nothing, or
more than one thing, waits for the kansli and is never guessed.

Nothing is written with --dry-run. Without it, the proposals are recorded as one batch, all or
nothing. The same file imported again records nothing new: each payment's key is the account
and the bank's own reference. A file that is not what it claims to be (not UTF-8 XML, a
DOCTYPE, a BgMax whose counts or sums disagree) is refused whole, naming the line and rule.

The statement's closing balance is compared with the books' bank account on its date, with
the proposals counted; a difference is shown.

Example:
  finsam import bank --forbund sf-vastmanland --dry-run kontoutdrag-2024.xml
  finsam import bank --forbund sf-vastmanland --as kansli kontoutdrag-2024.xml")]
    Bank {
        #[command(flatten)]
        run: ImportRun,
        /// The bank file
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// An SIE 4 file (4E or 4I) from the accounting program: the opening balance and the vouchers
    #[command(long_about = "\
Reads an SIE 4 file (4E or 4I; CP437; #KSUMMA checked when present) and proposes the events its
year stands for: the opening balance (#IB 0: bank and equity) and each voucher by the roles its
accounts have in finsam's chart — a member's contribution (object {20 member}), other income,
a cost paid from the bank or booked as a supplier invoice (on the budget line its text names,
or the insats of object {6 insats}), an invoice paid. An account finsam's chart does not have
is mapped with --mapping (a JSON object: program account → finsam account); an unmapped
account, and a voucher that fits no event, are listed — never guessed — and nothing is
recorded. The budget and the insatser are decisions, not in an SIE file: record them first.
The same file again records nothing new (each voucher's key is the year, series and number).

Example:
  finsam import sie --forbund sf-norra-vastmanland --dry-run nv-2023.se")]
    Sie {
        #[command(flatten)]
        run: ImportRun,
        /// The account mapping: a JSON file {\"3011\": \"3590\", …} from the program's accounts to
        /// finsam's; kept as STORE/mappings/F.json once an import with it succeeds
        /// [default: STORE/mappings/F.json]
        #[arg(long, value_name = "FILE")]
        mapping: Option<PathBuf>,
        /// The SIE file
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// A budget from a spreadsheet: xlsx, ods or csv, with the labels a Swedish budget prints
    #[command(long_about = "\
Reads a budget from a spreadsheet (xlsx, ods or csv; the first sheet whose name starts with
\"Budget\", else the first) and proposes the BudgetAdopted it stands for. The sheet has a
heading row — namn and belopp, and as needed id, kategori, insats, art, från förbund — and one
row per line. Kategori in the budget's own words: \"Individinriktade insatser\", \"Struktur\",
\"Administration\"; \"Intäkter\" for an income line (or the rows under a heading row
\"Intäkter\"); \"Överföring\" with från förbund for equity transferred from another förbund.
Art: personal, köpta tjänster, lämnade bidrag, övrigt. Amounts as number cells or as text
\"1 750 000\" or \"1 750 000,50\". A row \"Summa kostnader\" or \"Summa intäkter\" is checked
against the lines above it. An insats by its id or its name.

Every cell that cannot be read is named — sheet, cell, value and reason — and nothing is
recorded. The decision (who adopted it, when) is given on the command line. The same file
imported again records nothing new.

Example:
  finsam import budget --forbund sf-vastmanland --year 2025 --decided-by styrelsen \\
    --decided 2024-11-14 --paragraph \"§ 12\" --dry-run budget-2025.xlsx")]
    Budget {
        #[command(flatten)]
        run: ImportRun,
        /// The budget year
        #[arg(long, value_name = "YEAR")]
        year: i32,
        /// Who adopted it (e.g. styrelsen, interimsstyrelsen)
        #[arg(long, value_name = "BODY")]
        decided_by: String,
        /// The date of the decision
        #[arg(long, value_name = "DATE")]
        decided: chrono::NaiveDate,
        /// The decision's paragraph in the minutes (e.g. "§ 12")
        #[arg(long, value_name = "TEXT")]
        paragraph: Option<String>,
        /// The event's date [default: the decision's]
        #[arg(long, value_name = "DATE")]
        date: Option<chrono::NaiveDate>,
        /// A plan's outlook for a later year, not an adopted budget
        #[arg(long)]
        outlook: bool,
        /// The spreadsheet
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check everything: the whole hash chain, seqs, schemas, rules, vouchers, digests, and the
    /// derived state against a fresh replay
    #[command(long_about = "\
Recomputes the whole hash chain of the log file and checks that every line is canonical
(events/CANONICAL.md), seq continuity, every event against the contract, every event against the
ledger rules (by a fresh replay), that no idempotency key was used twice, that every voucher
balances, that every derived file a report or a writer reads (checkpoint, totals) agrees with
the fresh replay, and that the log still
begins with exactly the history each --digest describes. Any rewrite of the past, even one that
recomputes every hash, fails against a digest recorded before it.

Exit code 0 when nothing is wrong, 1 otherwise (the first bad seq is named).")]
    Verify {
        /// A digest SEQ:HASH recorded earlier (from `finsam audit digest`); repeatable
        #[arg(long, value_name = "SEQ:HASH")]
        digest: Vec<String>,
    },
    /// Print the head of the log as SEQ:HASH, to copy into the audit report or the minutes
    Digest,
    /// Write a self-contained folder a revisor can check with nothing but Python
    #[command(long_about = "\
Writes OUT_DIR (new, or empty) with: the log file; the event schemas; the independent verifier
verify_chain.py; the year's reports as JSON and as text (balances at year end, budget position,
audit trail, reconciliation); DIGEST (the head as SEQ:HASH); MANIFEST (SHA-256 of every file);
and LASMIG.txt, a short guide in Swedish for checking it all with Python's standard library.")]
    Bundle {
        #[arg(long, value_name = "F")]
        forbund: String,
        #[arg(long, value_name = "YEAR")]
        year: i32,
        /// The folder to write (must not exist, or be empty)
        #[arg(value_name = "OUT_DIR")]
        out: PathBuf,
    },
    /// One row per event in registration order: who recorded what when, the decision, the
    /// voucher, the hash
    Trail {
        /// Only events in this förbund's books
        #[arg(long, value_name = "F")]
        forbund: Option<String>,
        /// Only events that concern this insats
        #[arg(long, value_name = "I")]
        insats: Option<String>,
        /// Only events with an effective date on or after this one
        #[arg(long, value_name = "DATE", value_parser = parse_date)]
        from: Option<chrono::NaiveDate>,
        /// Only events with an effective date on or before this one
        #[arg(long, value_name = "DATE", value_parser = parse_date)]
        to: Option<chrono::NaiveDate>,
    },
    /// The vouchers and events behind one account's balance, with the running balance
    Explain {
        /// The förbund whose books to read, by id (e.g. sf-vastmanland)
        #[arg(long, value_name = "F")]
        forbund: String,
        /// The account number, e.g. 1930
        #[arg(long, value_name = "A")]
        account: String,
        #[command(flatten)]
        axes: AxesArgs,
        /// A chart of accounts file (JSON) [default: STORE/charts/F.json, else the built-in chart]
        #[arg(long, value_name = "FILE")]
        chart: Option<PathBuf>,
    },
    /// One voucher whole: both sides, its event, its hash and the decision behind it
    #[command(long_about = "\
Shows one voucher of a förbund whole: every row (account, name, debit, credit, insats, budget
line, member), the event it was booked from (seq, type, summary, hash, who recorded it and
when), the decision that authorised it (its own, or that of the grant, budget or merger behind
it) and the correction that reversed it or that it is. The voucher is named as the reports name
it: \"2024 A 5\" (also 2024-A-5 or 2024:5).")]
    Voucher {
        /// The förbund whose books to read, by id (e.g. sf-vastmanland)
        #[arg(long, value_name = "F")]
        forbund: String,
        /// The voucher: year and number, e.g. "2024 A 5"
        #[arg(value_name = "VOUCHER")]
        voucher: String,
        /// A chart of accounts file (JSON) [default: STORE/charts/F.json, else the built-in chart]
        #[arg(long, value_name = "FILE")]
        chart: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Create a new, empty store
    Init,
    /// Append a batch of events (JSON Lines) atomically and durably
    #[command(long_about = "\
Append a batch of events, one JSON object per line, all or nothing: if any line is refused,
nothing is written and every refusal names the line, the field, the value and the rule.
The batch is acknowledged (its seqs printed) only after it is on disk (fdatasync); from then on
the command has succeeded (exit 0), whatever happens to the derived state afterwards (a warning).
Ctrl-C never leaves a batch half-acknowledged: an append under way finishes (exit 0, seqs
printed); otherwise nothing is written (exit 130, \"nothing was recorded\").

An event that repeats an earlier event's `idempotency_key` with identical content is a no-op
that reports the original seq, so a retry after a lost answer is safe; the same key with
different content is refused.

Example:
  echo '{\"type\":\"ContributionReceived\",\"forbund\":\"sf-vastmanland\",\"date\":\"2024-01-31\",\"member\":\"sala\",\"year\":2024,\"amount\":\"97632.75\",\"reference\":\"Bidrag Q1\"}' \\
    | finsam record --as kansli -")]
    Record {
        /// Who records the batch (stored in every envelope) [env: FINSAM_ACTOR]
        #[arg(long = "as", value_name = "ACTOR")]
        actor: Option<String>,
        /// Refuse the batch unless the log's head is still this seq (optimistic concurrency)
        #[arg(long, value_name = "SEQ")]
        expect_head: Option<u64>,
        /// Bulk loading: record the input as consecutive batches of at most N events, each one
        /// all-or-nothing; stops at the first refused batch (the batches before it stay recorded)
        #[arg(long, value_name = "N", conflicts_with = "expect_head")]
        batch_size: Option<usize>,
        /// Refuse the batch (nothing written, exit 2) if any event draws a warning: a line or an
        /// insats spent beyond its budget or grant, a grant beyond its line, a contribution
        /// beyond the member's share, an event like one recorded just before
        #[arg(long, conflicts_with = "batch_size")]
        strict: bool,
        /// The JSON Lines file to read, or - for standard input
        #[arg(value_name = "FILE|-")]
        file: String,
    },
    /// Show the recorded envelopes (seq, recording time and actor, event, hashes)
    Log {
        /// First seq to show
        #[arg(long, value_name = "SEQ", default_value_t = 1)]
        from: u64,
        /// Last seq to show
        #[arg(long, value_name = "SEQ")]
        to: Option<u64>,
    },
    /// The trial balance and key figures (bank, equity, income, costs, result) of one förbund or all
    #[command(long_about = "\
The trial balance (each account's balance, debit positive; it sums to zero) and the key
figures: bank, equity (positive when the förbund has capital, including the year's result so
far), and the income, costs and result of the year of --as-of. --forbund F for one förbund,
--all for every registered one.

Two time axes: --as-of DATE counts what is dated on or before DATE (default today);
--known-at SEQ replays the log only up to SEQ, so you see exactly what the books said then.
As known at the head, the balances come from the totals kept beside the checkpoint: a few
milliseconds however long the log.")]
    #[command(group(clap::ArgGroup::new("which").required(true).args(["forbund", "all"])))]
    Balances {
        /// The förbund whose books to read, by id (e.g. sf-vastmanland)
        #[arg(long, value_name = "F", conflicts_with = "all")]
        forbund: Option<String>,
        /// Every registered förbund, one after the other (JSON: a list)
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        axes: AxesArgs,
        /// A chart of accounts file (JSON) [default: STORE/charts/F.json, else the built-in chart]
        #[arg(long, value_name = "FILE")]
        chart: Option<PathBuf>,
    },
    /// Where a year's budget stands: per line budget, granted, spent, remaining, uncommitted
    Budget {
        /// The förbund whose books to read, by id (e.g. sf-vastmanland)
        #[arg(long, value_name = "F")]
        forbund: String,
        /// The budget year
        #[arg(long, value_name = "YEAR")]
        year: i32,
        #[command(flatten)]
        axes: AxesArgs,
    },
    /// The merger reconciliation run: do the plans add up, and did every krona arrive?
    #[command(long_about = "\
Runs every reconciliation check and prints the findings, grouped per förbund, each with the
stated and computed amounts, the difference, a one-line explanation and the seqs it rests on;
a finding caused by another (`caused_by` in JSON and CSV) is shown under its cause:

  budget_arithmetic     every stated total of every budget and outlook against its own lines
  equity_rollforward    a plan's stated opening equity against the previous year's closing
  transfer_vs_estimate  the merger's estimate against the actual transfer and the old förbund's
                        own latest forecast (warning)
  transfer_vs_books     the old förbund's booked equity the day before the merger against what
                        it transferred; after dissolution every account must be zero
  opening_equity        equity received by the new förbund against the transfers; its members
                        against the union of the old förbund's members (and its own, in a
                        merger by absorption)
  duplicate_payment     a contribution registered twice (same member, date, amount, reference);
                        the shares it throws off are listed under it as its consequences
  contribution_split    contributions by kind against 50/25/25, and each member against its share
  overspend             spent beyond granted per insats and year; granted beyond budget per line
  spent_without_grant   money spent on an individ or struktur line with no grant behind it
                        (internkontroll, warning)
  accrual_unsettled     a cost accrued at a year's end not met by the cost itself within
                        --accrual-days after the new year (warning)
  payroll_overpaid      a payroll liability (källskatt, arbetsgivaravgifter, pension, särskild
                        löneskatt, semesterlöneskuld) in debit at a year's end: paid more than
                        the payroll summaries left owed (warning)
  report_adoption       an adopted annual report against the books: its figures' digest must be
                        the report's as known when adopted (error), and a correction since that
                        changes a figure makes the books differ from it (warning)
  equity_ceiling        closing equity against the ceiling rule's share of the year's
                        contributions, by the förbund's size (warning)
  missing               a merging förbund without a transfer, events after a dissolution, an old
                        insats neither carried into the new förbund nor ended

Exit code 0 when no finding is an error, 1 otherwise, 2 on bad usage.")]
    Reconcile {
        /// Only the merger into this förbund and the förbund merging into it [default: everything]
        #[arg(long, value_name = "F")]
        merger: Option<String>,
        #[command(flatten)]
        axes: AxesArgs,
        /// One ceiling on equity for every size, as a share of the year's contributions
        /// [default: the built-in rule, fixtures/equity-ceiling.json]
        #[arg(long, value_name = "SHARE", value_parser = parse_share)]
        equity_ceiling: Option<rust_decimal::Decimal>,
        /// Days after the new year within which a cost accrued at the year's end must be met by
        /// the cost itself (the invoice, the salary) on its line or insats
        #[arg(long, value_name = "DAYS", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=366))]
        accrual_days: u32,
    },
    /// Attach a document (PDF, PNG, JPEG) as underlag to recorded events
    #[command(long_about = "\
Attaches a document — the invoice, the decision's minutes, a receipt — as underlag to events
already recorded in a förbund's books. The file (a PDF, PNG or JPEG of at most 20 MB) is kept
in the store under its SHA-256 and an UnderlagAttached event names the hash, so the chain
covers the bytes. Attachments are never changed: another file is another attachment. The
event pages show them, `finsam audit voucher` lists them and the revisor's bundle carries them.

Example:
  finsam attach --forbund sf-vastmanland --to 204 --as kansli faktura-2024-118.pdf")]
    Attach {
        /// The förbund whose events the document is underlag for, by id
        #[arg(long, value_name = "F")]
        forbund: String,
        /// The seq of an event it is underlag for (repeat for several)
        #[arg(long = "to", value_name = "SEQ", required = true)]
        to: Vec<u64>,
        /// Who attaches it (stored in the envelope) [env: FINSAM_ACTOR]
        #[arg(long = "as", value_name = "ACTOR")]
        actor: Option<String>,
        /// The document
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Bring in what the bank delivers: match each payment to what is owed, show the proposals,
    /// record them
    #[command(subcommand)]
    Import(ImportCommand),
    /// Write the books in another format
    #[command(subcommand)]
    Export(ExportCommand),
    /// For revisorer: verify, digest, the audit trail, the vouchers behind a balance, the bundle
    #[command(subcommand)]
    Audit(AuditCommand),
    /// For the board and the annual report: the statements of a year (annual), the follow-up
    /// through a month (period), the members' contributions (members)
    #[command(subcommand)]
    Report(ReportCommand),
    /// Rebuild all derived state (indexes, checkpoints) from the log
    Reindex,
    /// Copy the store's own records to a new folder, also while `finsam serve` records
    #[command(long_about = "\
Copies the store's own records to DIR, a new (or empty) folder: the log up to its last durable,
complete batch, the users and the access log up to their last whole line, every underlag file
and the förbund's settings (charts/, ceilings/, mappings/), with backup.json naming each file's
length and SHA-256 and the log's head. It needs no lock and may run while `finsam serve`
records: what is being written at that moment is left for the next backup. Derived state and
sessions are not copied (a restored store rebuilds the one; its users sign in again). The
folder appears only when it is whole.

Example, a dated copy each night (cron or a systemd timer):
  finsam --store /var/lib/finsam backup /srv/backup/finsam-$(date +%F)

Restore it with `finsam --store NEW restore DIR`.")]
    Backup {
        /// The new folder to write the backup to
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Install a backup as a new store, after checking every file and verifying the log
    #[command(long_about = "\
Installs the backup in DIR (made by `finsam backup`) as a new store in --store, which must not
exist or be empty. Every file is checked against backup.json (length and SHA-256; no file
missing, none added), the log is verified as `finsam audit verify` does (the whole hash chain,
every line's canonical form, the ledger's rules, the head backup.json names) and the access
log's chain; only then is the store put in place and its derived state built. A backup that
does not hold is refused with the file and what is wrong, and nothing is installed.

Example:
  finsam --store /var/lib/finsam-restored restore /srv/backup/finsam-2026-12-06")]
    Restore {
        /// The backup's folder
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Show the store's head and where each förbund's books stand (from the derived state)
    Status,
    /// Write a deterministic, valid event log of a realistic shape (JSON Lines) to standard output
    #[command(long_about = "\
Writes a deterministic, valid event log to standard output, one event per line: per förbund its
registration, opening balance and insatser; per year a budget of 10–20 lines with grants,
monthly contributions from every member, weekly costs per insats and quarterly costs on the
other lines, a correction every other year or so, and the year-end close; and every 25th förbund
merges into its neighbour half-way. --forbund 75 --years 20 gives about a million events.
The same parameters always give the same events. Record them with
`finsam record --as NAME --batch-size 10000 FILE`.")]
    Generate {
        /// How many förbund
        #[arg(long, value_name = "N", default_value_t = 3)]
        forbund: u32,
        /// How many years, from 2005
        #[arg(long, value_name = "Y", default_value_t = 2)]
        years: u32,
        /// The seed: another seed, another (equally valid) log
        #[arg(long, value_name = "S", default_value_t = 1)]
        seed: u64,
    },
    /// Record the fixtures into a fresh store and print the main reports
    #[command(long_about = "\
Record the fixtures (the seed budgets of Samordningsförbundet Västmanland and the three förbund
it replaced, plus clearly labelled example data) into a fresh store and print the 2024 budget.
Without --store (or FINSAM_STORE) the store is a new directory under the system's temp dir;
its path is printed so you can explore it with `finsam --store PATH log`.")]
    Demo,
    /// Shell completion for bash, zsh, fish, elvish or PowerShell, to standard output
    #[command(long_about = "\
Print the completion script for a shell, so that Tab completes finsam's commands and options.

Examples:
  finsam completions bash > ~/.local/share/bash-completion/completions/finsam
  finsam completions zsh > ~/.zfunc/_finsam
  finsam completions fish > ~/.config/fish/completions/finsam.fish")]
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// The manual page (man 1 finsam), in roff, to standard output
    #[command(long_about = "\
Print finsam's manual page in roff, for man(1).

Example:
  finsam man > ~/.local/share/man/man1/finsam.1 && man finsam")]
    Man,
    /// Serve the store over HTTP to several users (roles, tokens, an access log)
    #[command(long_about = "\
Holds the store open (its writer lock, its books in memory) and serves the JSON API under
/api/v1 to the users added with `finsam user add`: each request carries `Authorization: Bearer
TOKEN`, is checked against the user's role and förbund, and is written to the hash-chained
access log (access.jsonl). Listens on loopback unless told otherwise; put a TLS proxy (e.g.
Caddy or nginx) in front to serve beyond this machine. Stops cleanly on Ctrl-C or SIGTERM:
requests under way are answered, every acknowledged batch is on disk.

While it serves, a background scrub re-hashes the log's whole chain (at start, then every
--scrub-every seconds): if it finds a damaged line, nothing more is recorded, /healthz answers
503 and says which line, and reads go on. The derived state is saved every --save-every seconds
when anything was recorded, so a start after a crash replays only what came after it.

With --database postgresql://… (or FINSAM_DATABASE) the log is in PostgreSQL and several
instances may serve it, each with a folder of its own (--store) for its copy of the log and its
derived state: a batch is acknowledged once the database has committed it, in the database's
order; each instance takes in what the others commit (before each write; when idle, at once
on the database's notification, or within a second) and its subscribers hear of every event.
Users, sessions and underlag are the database's (`finsam --database … user add`): a token, a
sign-in or an attached file works on every instance; each instance's access log is copied there
under its name. While the database cannot be reached, writes are answered 503 and reads go on.
To encrypt the connection: ?sslmode=verify-full&sslrootcert=/etc/finsam/db-ca.crt (the server's
certificate and name are always verified; sslmode=prefer is refused).

Examples:
  finsam --store /srv/finsam user add anna --role kansli --forbund sf-vastmanland --by kansli-chef
  finsam --store /srv/finsam serve --listen 127.0.0.1:8080
  finsam --database postgresql://finsam@db/finsam --store /var/lib/finsam-a serve --listen 0.0.0.0:8080
  finsam serve --openapi > openapi.json     # the API's document, for a client generator")]
    Serve {
        /// The address to listen on (port 0: any free port, printed on start)
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Print the API's OpenAPI document (as served at /api/v1/openapi.json) and stop
        #[arg(long)]
        openapi: bool,
        /// Walk the log's whole hash chain in the background at start and then every SECONDS;
        /// damage found stops all writes (reads go on) and /healthz says why
        #[arg(long, value_name = "SECONDS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
        scrub_every: u64,
        /// Save the derived state every SECONDS when events were recorded since the last save
        /// (and at a clean stop), so that a start after a crash replays only what came after
        #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
        save_every: u64,
    },
    /// Users of `finsam serve`: add (prints the token once), revoke, list
    #[command(subcommand)]
    User(UserCommand),
    /// Move a store between a folder and a PostgreSQL database
    #[command(subcommand)]
    Store(StoreCommand),
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Copy a store's log and underlag between a folder and a PostgreSQL database, both ways
    #[command(long_about = "\
Copies a store between a folder and a PostgreSQL database, either way: FROM and TO are a folder
and a postgresql://USER@HOST:PORT/DATABASE address (one of each). The source is verified as
`finsam audit verify` does before anything is copied; the log's lines up to its last complete
batch, its idempotency keys, its underlag and its users are copied in one transaction (into a database that
holds no log yet) or into a new, empty folder; then the copy is verified too. The log's bytes
are the same on both sides, so its digest, its reports and its bundle are.

The users (their grants, with their tokens' hashes) are copied too, so every token works on
the other side; the access log is not (it stays where it was written).

Examples:
  finsam store copy /var/lib/finsam postgresql://finsam@db.example.se/finsam
  finsam store copy postgresql://finsam@db.example.se/finsam /srv/finsam-kopia")]
    Copy {
        /// Where the store is now: a folder or a postgresql:// address
        #[arg(value_name = "FROM")]
        from: String,
        /// Where the copy goes: a new or empty folder, or a database without a log
        #[arg(value_name = "TO")]
        to: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Give a user access; prints the token once (only its hash is kept)
    #[command(long_about = "\
Gives NAME access with a role: `admin` (everything, and registering förbund), `kansli` (records
and reads the books of its förbund), `revisor` (reads, verifies and exports the books of its
förbund; records nothing) or `read` (reads the books of its förbund, e.g. the board). Prints a
new token once: hand it to the user. Adding a user again replaces the token. Who granted the
access and when is recorded (users.jsonl).

Example:
  finsam user add anna --role kansli --forbund sf-vastmanland --by kansli-chef")]
    Add {
        /// The user's name, as the access log and `recorded_by` will show it (lower-case words
        /// joined by hyphens, e.g. anna or kansli-sala)
        name: String,
        /// admin, kansli, revisor or read
        #[arg(long, value_name = "ROLE")]
        role: String,
        /// A förbund the role applies to (repeat for several; not for admin)
        #[arg(long, value_name = "F")]
        forbund: Vec<String>,
        /// Who grants the access [env: FINSAM_ACTOR]
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
    },
    /// Take a user's access away (recorded with who did it and when)
    Revoke {
        /// The user whose access ends
        name: String,
        /// Who revokes the access [env: FINSAM_ACTOR]
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
    },
    /// The users with access, their roles and förbund
    List,
}

fn store_dir(cli_store: &Option<PathBuf>) -> PathBuf {
    cli_store
        .clone()
        .or_else(|| std::env::var_os("FINSAM_STORE").filter(|v| !v.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("./finsam-data"))
}

fn run(cli: Cli) -> Result<(), Failure> {
    let format: Format = cli.format.into();
    if let Some(url) = &cli.database {
        if !finsam_store::pg::is_database(url) {
            return Err(Failure::usage(say(
                format!("--database {url:?}: en databas anges som postgresql://ANVÄNDARE@VÄRD:PORT/DATABAS"),
                format!("--database {url:?}: a database is given as postgresql://USER@HOST:PORT/DATABASE"),
            )));
        }
        if !matches!(cli.command, Command::Audit(AuditCommand::Verify { .. }) | Command::User(_) | Command::Store(_)) {
            return Err(Failure::usage(say(
                "--database (FINSAM_DATABASE) används av finsam serve, finsam user och finsam audit verify; rapporterna läser en instans mapp (--store); flytta ett lager mellan mapp och databas med finsam store copy",
                "--database (FINSAM_DATABASE) is used by finsam serve, finsam user and finsam audit verify; the reports read an instance's folder (--store); move a store between a folder and a database with finsam store copy",
            )));
        }
    }
    progress::watch_the_log(match cli.command {
        Command::Reindex => "Bygger om från loggen",
        Command::Restore { .. } => "Verifierar säkerhetskopian",
        Command::Audit(AuditCommand::Verify { .. }) => "Verifierar loggen",
        _ => "Läser loggen",
    });
    let reports_only = !matches!(
        cli.command,
        Command::Balances { .. }
            | Command::Budget { .. }
            | Command::Audit(_)
            | Command::Reconcile { .. }
            | Command::Report(_)
    );
    if format == Format::Html && !matches!(cli.command, Command::Report(_)) {
        return Err(Failure::usage(say(
            "--format html finns för finsam report annual, period och members (en fristående sida var)",
            "--format html is offered by finsam report annual, period and members (one self-contained page each)",
        )));
    }
    if format == Format::Csv && reports_only {
        return Err(Failure::usage(
            "--format csv is offered by the reports (balances, budget, audit trail, audit explain)".into(),
        ));
    }
    if cli.format == FormatArg::Xlsx {
        let report = matches!(
            cli.command,
            Command::Balances { .. }
                | Command::Budget { .. }
                | Command::Reconcile { .. }
                | Command::Report(_)
                | Command::Audit(AuditCommand::Trail { .. } | AuditCommand::Explain { .. })
        );
        if !report {
            return Err(Failure::usage(say(
                "--format xlsx finns för rapporterna: balances, budget, reconcile, audit trail, audit explain och report",
                "--format xlsx is offered by the reports: balances, budget, reconcile, audit trail, audit explain and report",
            )));
        }
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            return Err(Failure::usage(say(
                "en arbetsbok skrivs till en fil, inte till terminalen: lägg till > rapport.xlsx",
                "a workbook is written to a file, not to the terminal: add > report.xlsx",
            )));
        }
        let (result, sheets) = finsam_app::table::collect_sheets(|| dispatch(cli, format));
        // A refusal (a förbund that is not registered) is said as such; a report that finds
        // problems (reconcile's exit 1) still gives its workbook.
        if sheets.is_empty() {
            return result.and(Err(Failure::usage(say(
                "rapporten visade ingen tabell att lägga i en arbetsbok",
                "the report showed no table to put in a workbook",
            ))));
        }
        let book = finsam_app::xlsx::workbook(&sheets)?;
        finsam_app::output::emit_bytes(&book);
        return result;
    }
    dispatch(cli, format)
}

/// Runs the command, its output in `format`.
fn dispatch(cli: Cli, format: Format) -> Result<(), Failure> {
    match cli.command {
        Command::Init => {
            let dir = store_dir(&cli.store);
            finsam_store::init(&dir)?;
            match format {
                Format::Table | Format::Csv | Format::Html => emit(&say(
                    format!("skapade ett tomt lager i {}\n", dir.display()),
                    format!("created an empty store in {}\n", dir.display()),
                )),
                Format::Json => {
                    emit(&format!("{}\n", serde_json::json!({"store": dir.display().to_string(), "head": 0})))
                }
            }
        }
        Command::Record { actor, expect_head, file, batch_size, strict } => {
            let actor = actor_of(actor).ok_or_else(|| {
                Failure::usage(say(
                    "vem registrerar? ange --as NAMN (eller FINSAM_ACTOR); varje händelse säger vem som registrerade den",
                    "who records? pass --as ACTOR (or set FINSAM_ACTOR); every envelope names who recorded it",
                ))
            })?;
            match batch_size {
                None => record(&store_dir(&cli.store), &actor, expect_head, &file, strict, format)?,
                Some(n) => record_bulk(&store_dir(&cli.store), &actor, n, &file, format)?,
            }
        }
        Command::Attach { forbund, to, actor, file } => {
            let dir = store_dir(&cli.store);
            let forbund = reports::parse_forbund(&forbund)?;
            let actor = import_actor(false, actor)?;
            let (bytes, name) = import_file(&file, finsam_domain::event::ATTACHMENT_BYTES_MAX as usize)?;
            let (mut store, report) = Store::open(&dir)?;
            store.stop_when(&STOP);
            output::report_open(&report);
            let mut to = to;
            to.sort();
            to.dedup();
            let r = finsam_app::import::attach(&mut store, &dir, &forbund, to, &name, &bytes, &actor)?;
            output::save_derived(&mut store);
            match format {
                Format::Json => emit(&format!(
                    "{}\n",
                    serde_json::json!({"seq": r.seq, "sha256": finsam_store::underlag::sha256(&bytes)})
                )),
                _ => emit(&format!(
                    "{name} bifogat som underlag (händelse {}, SHA-256 {})\n",
                    r.seq,
                    finsam_store::underlag::sha256(&bytes)
                )),
            }
        }
        Command::Import(ImportCommand::Bank { run, file }) => import_bank(&store_dir(&cli.store), run, &file, format)?,
        Command::Import(ImportCommand::Budget { run, year, decided_by, decided, paragraph, date, outlook, file }) => {
            let decision = finsam_app::import::BudgetDecision {
                year,
                date: date.unwrap_or(decided),
                outlook,
                body: decided_by,
                decided,
                paragraph,
            };
            import_budget(&store_dir(&cli.store), run, &decision, &file, format)?
        }
        Command::Import(ImportCommand::Sie { run, mapping, file }) => {
            import_sie(&store_dir(&cli.store), run, mapping.as_deref(), &file, format)?
        }
        Command::Log { from, to } => log(&store_dir(&cli.store), from, to.unwrap_or(u64::MAX), format)?,
        Command::Backup { dir } => finsam_app::backup::backup(&store_dir(&cli.store), &dir, format)?,
        Command::Restore { dir } => finsam_app::backup::restore(&dir, &store_dir(&cli.store), format)?,
        Command::Reindex => {
            let dir = store_dir(&cli.store);
            let (store, report) = Store::reindex(&dir)?;
            let head = store.head();
            match format {
                Format::Table | Format::Csv | Format::Html => {
                    let (dir, n) = (dir.display(), report.events_replayed);
                    emit(&say(
                        format!(
                            "byggde om det härledda tillståndet i {dir} från {n} händelser; loggens huvud {head}\n"
                        ),
                        format!("rebuilt the derived state of {dir} from {n} events; head {head}\n"),
                    ))
                }
                Format::Json => emit(&format!(
                    "{}\n",
                    serde_json::json!({"events": report.events_replayed, "head": {"seq": head.seq, "hash": head.hash}})
                )),
            }
        }
        Command::Status => status(&store_dir(&cli.store), format)?,
        Command::Balances { forbund, all, axes, chart } => {
            let scope = match (forbund, all) {
                (Some(f), false) => reports::Scope::One(f),
                _ => reports::Scope::All,
            };
            reports::balances(&store_dir(&cli.store), scope, axes.into(), chart.as_ref(), format)?
        }
        Command::Budget { forbund, year, axes } => {
            reports::budget(&store_dir(&cli.store), &forbund, year, axes.into(), format)?
        }
        Command::Report(ReportCommand::Annual { forbund, year, known_at, equity_ceiling, equity_ceiling_rule }) => {
            let dir = store_dir(&cli.store);
            let view = finsam_store::open_view(&dir)?;
            let ceiling = annual::Ceiling { flat: equity_ceiling, rule_file: equity_ceiling_rule };
            emit(&annual::annual_out(&dir, (&view).into(), &forbund, year, known_at, &ceiling, format)?)
        }
        Command::Report(ReportCommand::Period { period }) => {
            let dir = store_dir(&cli.store);
            let view = finsam_store::open_view(&dir)?;
            let (forbund, asked) = period.asked();
            emit(&annual::period_out(&dir, (&view).into(), &forbund, &asked, format)?)
        }
        Command::Report(ReportCommand::Interim { period }) => {
            let dir = store_dir(&cli.store);
            let view = finsam_store::open_view(&dir)?;
            let (forbund, asked) = period.asked();
            emit(&finsam_app::interim::interim_out(&dir, (&view).into(), &forbund, &asked, format)?)
        }
        Command::Report(ReportCommand::Members { forbund, year, axes }) => {
            let dir = store_dir(&cli.store);
            let view = finsam_store::open_view(&dir)?;
            emit(&annual::members_out(&dir, (&view).into(), &forbund, year, &axes.into(), format)?)
        }
        Command::Reconcile { merger, axes, equity_ceiling, accrual_days } => {
            let equity_ceiling = match equity_ceiling {
                None => finsam_projections::annual::CeilingRule::default_rule(),
                Some(share) => annual::flat_ceiling(share),
            };
            let rules = finsam_projections::reconcile::Rules { equity_ceiling, accrual_days };
            let ok = reports::reconcile(&store_dir(&cli.store), merger.as_deref(), axes.into(), rules, format)?;
            if !ok {
                return Err(Failure {
                    code: 1,
                    message: say("avstämningen fann fel (se ovan)", "the reconciliation found errors (listed above)"),
                });
            }
        }
        Command::Audit(AuditCommand::Verify { digest }) => {
            let ok = match &cli.database {
                Some(url) => audit::verify_database(url, &digest, format)?,
                None => audit::verify(&store_dir(&cli.store), &digest, format)?,
            };
            if !ok {
                return Err(Failure {
                    code: 1,
                    message: say("verifieringen fann problem (se ovan)", "verification found problems (listed above)"),
                });
            }
        }
        Command::Export(ExportCommand::Journal(which)) => {
            export_journal(&store_dir(&cli.store), &which, exports::Dialect::Ledger)?
        }
        Command::Export(ExportCommand::Beancount(which)) => {
            export_journal(&store_dir(&cli.store), &which, exports::Dialect::Beancount)?
        }
        Command::Export(ExportCommand::Sie { forbund, year, kind, out }) => {
            export_sie(&store_dir(&cli.store), &forbund, year, kind, &out)?
        }
        Command::Audit(AuditCommand::Digest) => audit::digest(&store_dir(&cli.store), format)?,
        Command::Audit(AuditCommand::Bundle { forbund, year, out }) => {
            audit::bundle(&store_dir(&cli.store), &forbund, year, &out, format)?
        }
        Command::Audit(AuditCommand::Trail { forbund, insats, from, to }) => {
            reports::trail(&store_dir(&cli.store), reports::TrailFilter { forbund, insats, from, to }, format)?
        }
        Command::Audit(AuditCommand::Voucher { forbund, voucher, chart }) => {
            reports::voucher(&store_dir(&cli.store), &forbund, &voucher, chart.as_ref(), format)?
        }
        Command::Audit(AuditCommand::Explain { forbund, account, axes, chart }) => {
            reports::explain(&store_dir(&cli.store), &forbund, &account, axes.into(), chart.as_ref(), format)?
        }
        Command::Demo => demo::run(cli.store.clone(), format)?,
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "finsam", &mut out);
            emit(&String::from_utf8(out).expect("the completion script is UTF-8"));
        }
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
                .render(&mut out)
                .map_err(|e| Failure { code: 1, message: format!("the manual page: {e}") })?;
            emit(&String::from_utf8(out).expect("the manual page is UTF-8"));
        }
        Command::Serve { .. } => unreachable!("main runs the server on its own runtime"),
        Command::User(command) => user(&store_dir(&cli.store), cli.database.as_deref(), command, format)?,
        Command::Store(StoreCommand::Copy { from, to }) => finsam_app::backup::copy(&from, &to, format)?,
        Command::Generate { forbund, years, seed } => generate(forbund, years, seed)?,
    }
    Ok(())
}

/// Reads the whole input, refusing more than the input limit without reading it all.
/// Who records: --as, else FINSAM_ACTOR.
fn actor_of(actor: Option<String>) -> Option<String> {
    actor.or_else(|| std::env::var("FINSAM_ACTOR").ok().filter(|a| !a.trim().is_empty()))
}

fn read_input(file: &str) -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    let limit = INPUT_BYTES_MAX as u64 + 1;
    if file == "-" {
        std::io::stdin().lock().take(limit).read_to_end(&mut bytes).map_err(|e| {
            Failure::usage(say(
                format!("kunde inte läsa standard in: {}", output::swedish_io(&e)),
                format!("could not read standard input: {e}"),
            ))
        })?;
        return Ok(bytes);
    }
    finsam_store::files::read_limited(std::path::Path::new(file), limit).map_err(|e| Failure::usage(e.to_string()))
}

fn export_journal(store: &std::path::Path, which: &WhichBooks, dialect: exports::Dialect) -> Result<(), Failure> {
    let view = finsam_store::open_view(store)?;
    emit(&exports::journal_out(store, (&view).into(), which.forbund.as_deref(), which.year, dialect)?);
    Ok(())
}

fn export_sie(
    store: &std::path::Path,
    forbund: &str,
    year: i32,
    kind: SieKind,
    out: &std::path::Path,
) -> Result<(), Failure> {
    let f = reports::parse_forbund(forbund)?;
    let view = finsam_store::open_view(store)?;
    let bytes = exports::sie_out(store, (&view).into(), forbund, year, kind == SieKind::E)?;
    finsam_store::files::write_new(out, &bytes)?;
    let vouchers =
        view.projection.visible_vouchers(&f, u64::MAX, chrono::NaiveDate::MAX).filter(|v| v.year == year).count();
    let (path, n) = (out.display(), bytes.len());
    emit(&say(
        format!("skrev {path} ({n} byte, {vouchers} verifikationer) för {f}, {year}\n"),
        format!("wrote {path} ({n} bytes, {vouchers} voucher(s)) for {f}, {year}\n"),
    ));
    Ok(())
}

fn generate(forbund: u32, years: u32, seed: u64) -> Result<(), Failure> {
    if forbund == 0 || forbund > 999 || years == 0 || years > 90 {
        return Err(Failure::usage(say(
            "--forbund tar 1 till 999 och --years 1 till 90 (från 2005)",
            "--forbund takes 1 to 999 and --years 1 to 90 (from 2005)",
        )));
    }
    let params = finsam_generate::Params { forbund, years, seed };
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let mut failed = None;
    finsam_generate::generate(&params, &mut |e| {
        if failed.is_none() {
            let line = serde_json::to_string(&e.to_json()).expect("serialises");
            if let Err(err) = writeln!(out, "{line}") {
                failed = Some(err);
            }
        }
    });
    match failed.map_or_else(|| out.flush().err(), Some) {
        Some(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Some(e) => Err(Failure {
            code: 1,
            message: say(
                format!("kunde inte skriva utdata: {}", output::swedish_io(&e)),
                format!("could not write the output: {e}"),
            ),
        }),
        None => Ok(()),
    }
}

/// A batch's place: (first input line, last input line, first seq, last seq).
type BatchPlace = (usize, usize, u64, u64);

/// Moves a rejection's line from its place in a chunk to its place in the whole input.
fn shift(r: Rejection, first_line: usize) -> Rejection {
    Rejection { line: r.line.map(|l| l + first_line - 1), ..r }
}

fn record_chunk(
    store: &mut Store<finsam_store::FileLog>,
    chunk: &[u8],
    actor: &str,
    lines: (usize, usize),
) -> Result<BatchPlace, Failure> {
    let batch =
        parse_batch(chunk).map_err(|rs| Failure::rejected(rs.into_iter().map(|r| shift(r, lines.0)).collect()))?;
    let outcome = store.record(&batch, actor, None).map_err(|e| match e {
        StoreError::Rejected(r) => Failure::rejected(vec![shift(r, lines.0)]),
        other => other.into(),
    })?;
    Ok((lines.0, lines.1, outcome.first().map_or(0, |r| r.seq), outcome.last().map_or(0, |r| r.seq)))
}

/// Records the input as consecutive batches of at most `size` events, streaming it, so that
/// memory is bounded by one batch whatever the size of the input.
fn record_bulk(dir: &std::path::Path, actor: &str, size: usize, file: &str, format: Format) -> Result<(), Failure> {
    use std::io::BufRead;
    if size == 0 || size > finsam_domain::input::BATCH_EVENTS_MAX {
        let max = finsam_domain::input::BATCH_EVENTS_MAX;
        return Err(Failure::usage(say(
            format!("--batch-size tar 1 till {max}"),
            format!("--batch-size takes 1 to {max}"),
        )));
    }
    let (mut store, report) = Store::open(dir)?;
    store.stop_when(&STOP);
    output::report_open(&report);
    let mut reader: Box<dyn BufRead> = if file == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        finsam_store::files::open_reader(std::path::Path::new(file)).map_err(|e| Failure::usage(e.to_string()))?
    };
    // A file's size is known; standard input's is not, and gets no bar.
    let bar = progress::Bar::new("Registrerar");
    let size_of_file = (file != "-").then(|| std::fs::metadata(file).map(|m| m.len()).ok()).flatten();
    if let Some(total) = size_of_file {
        bar.begin(total);
    }
    let mut read = 0u64;
    let mut batches: Vec<BatchPlace> = Vec::new();
    let result = (|| -> Result<(), Failure> {
        let (mut chunk, mut events_in_chunk, mut first_line, mut line_no) = (Vec::new(), 0usize, 1usize, 0usize);
        let mut line = Vec::new();
        loop {
            line.clear();
            let limit = finsam_domain::input::LINE_BYTES_MAX as u64 + 2;
            let n = (&mut reader).take(limit).read_until(b'\n', &mut line).map_err(|e| {
                Failure::usage(say(
                    format!("kunde inte läsa {file}: {}", output::swedish_io(&e)),
                    format!("could not read {file}: {e}"),
                ))
            })?;
            if n == 0 {
                break;
            }
            read += n as u64;
            line_no += 1;
            if chunk.is_empty() {
                first_line = line_no;
            }
            chunk.extend_from_slice(&line);
            if line.last() != Some(&b'\n') && n as u64 == limit {
                // parse_batch names the over-long line; skip the rest of it.
                break;
            }
            if !line.iter().all(u8::is_ascii_whitespace) {
                events_in_chunk += 1;
            }
            if events_in_chunk == size {
                batches.push(record_chunk(&mut store, &chunk, actor, (first_line, line_no))?);
                chunk.clear();
                events_in_chunk = 0;
                bar.at(read);
            }
        }
        if events_in_chunk > 0 || !chunk.is_empty() && batches.is_empty() {
            batches.push(record_chunk(&mut store, &chunk, actor, (first_line, line_no))?);
        }
        Ok(())
    })();
    bar.end();
    output::save_derived(&mut store);
    let head = store.head().clone();
    let events: u64 = batches.iter().map(|(_, _, a, b)| if *a > 0 { b - a + 1 } else { 0 }).sum();
    let summary = match format {
        Format::Json => format!(
            "{}\n",
            serde_json::json!({"batches": batches.iter().map(|(l1, l2, s1, s2)| serde_json::json!({"lines": [l1, l2], "seqs": [s1, s2]})).collect::<Vec<_>>(),
                "events": events, "head": {"seq": head.seq, "hash": head.hash}})
        ),
        _ => say(
            format!(
                "registrerade {} omgång(ar), {events} händelse(r), av {actor}; loggens huvud {head}\n",
                batches.len()
            ),
            format!("recorded {} batch(es), {events} event(s), by {actor}; head {head}\n", batches.len()),
        ),
    };
    emit(&summary);
    result.map_err(|f| Failure {
        code: f.code,
        message: say(
            format!("{}\n(de {} omgångarna före den är registrerade; loggens huvud {head})", f.message, batches.len()),
            format!("{}\n(the {} batch(es) before it are recorded; head {head})", f.message, batches.len()),
        ),
    })
}

/// The warnings for a batch, event by event, as if each earlier one were recorded: (line, warning).
/// Who runs a command that changes access: `--by`, else FINSAM_ACTOR.
fn granted_by(by: Option<String>) -> Result<String, Failure> {
    by.or_else(|| std::env::var("FINSAM_ACTOR").ok().filter(|a| !a.trim().is_empty())).ok_or_else(|| {
        Failure::usage(say(
            "vem ger eller tar tillbaka behörigheten? ange --by NAMN (eller FINSAM_ACTOR)",
            "who grants or revokes access? pass --by NAME (or set FINSAM_ACTOR)",
        ))
    })
}

fn user(dir: &std::path::Path, database: Option<&str>, command: UserCommand, format: Format) -> Result<(), Failure> {
    use finsam_store::access::{self, Role};
    // The users of a service on a database are the database's, shared by every instance.
    let directory = database.map(finsam_store::pg::Directory::open).transpose()?;
    if directory.is_none() {
        finsam_store::open_view(dir)?;
    }
    let users = || match &directory {
        Some(d) => d.users(),
        None => access::Users::load(dir),
    };
    match command {
        UserCommand::Add { name, role, forbund, by } => {
            let by = granted_by(by)?;
            let role = Role::parse(&role).ok_or_else(|| {
                Failure::usage(say(
                    format!("--role {role:?}: rollerna är admin, kansli, revisor och read"),
                    format!("--role {role:?}: the roles are admin, kansli, revisor and read"),
                ))
            })?;
            if role != Role::Admin && forbund.is_empty() {
                let role = role.as_str();
                return Err(Failure::usage(say(
                    format!("en {role} arbetar för ett förbund: ange --forbund F"),
                    format!("a {role} works for a förbund: pass --forbund F"),
                )));
            }
            for f in &forbund {
                reports::parse_forbund(f)?;
            }
            let name = finsam_domain::Slug::parse(&name).map_err(|rule| {
                Failure::usage(say(
                    format!("användarnamnet {name:?}: {rule}"),
                    format!("the user name {name:?}: {rule}"),
                ))
            })?;
            let token = match &directory {
                Some(d) => {
                    let (token, line) = access::grant_line(&by, name.as_str(), role, &forbund);
                    d.add_user_line(&line)?;
                    token
                }
                None => access::grant(dir, &by, name.as_str(), role, &forbund)?,
            };
            match format {
                Format::Json => emit(&format!(
                    "{}\n",
                    serde_json::json!({"name": name.as_str(), "role": role.as_str(), "forbund": forbund, "token": token})
                )),
                _ => {
                    let role_sv = match role {
                        access::Role::Admin => "administratör",
                        access::Role::Kansli => "kansli",
                        access::Role::Revisor => "revisor",
                        access::Role::Read => "läsare",
                    };
                    emit(&say(
                        format!(
                            "{name} får nu använda finsam serve som {role_sv} {}\ntoken (visas bara nu, förvara den säkert): {token}\n",
                            if forbund.is_empty() {
                                "för alla förbund".to_string()
                            } else {
                                format!("för {}", forbund.join(", "))
                            }
                        ),
                        format!(
                            "{name} may now use finsam serve as {} {}\ntoken (shown once, keep it safe): {token}\n",
                            role.as_str(),
                            if forbund.is_empty() {
                                "of every förbund".to_string()
                            } else {
                                format!("of {}", forbund.join(", "))
                            }
                        ),
                    ))
                }
            }
        }
        UserCommand::Revoke { name, by } => {
            let by = granted_by(by)?;
            if users()?.get(&name).is_none() {
                return Err(Failure::usage(say(
                    format!("ingen användare {name:?} har behörighet"),
                    format!("no user {name:?} has access"),
                )));
            }
            match &directory {
                Some(d) => d.add_user_line(&access::revoke_line(&by, &name))?,
                None => access::revoke(dir, &by, &name)?,
            }
            emit(&say(
                format!("{name} har inte längre någon behörighet\n"),
                format!("{name} has no access any more\n"),
            ));
        }
        UserCommand::List => {
            let users = users()?;
            let mut t = Table::new(&[("användare", Align::Left), ("roll", Align::Left), ("förbund", Align::Left)]);
            let mut list = Vec::new();
            for u in users.iter() {
                t.row(vec![u.name.clone(), u.role.as_str().to_string(), u.forbund.join(", ")]);
                list.push(serde_json::json!({"name": u.name, "role": u.role.as_str(), "forbund": u.forbund}));
            }
            match format {
                Format::Json => emit(&format!("{}\n", serde_json::Value::Array(list))),
                _ => emit(&t.render()),
            }
        }
    }
    Ok(())
}

fn record(
    dir: &std::path::Path,
    actor: &str,
    expect_head: Option<u64>,
    file: &str,
    strict: bool,
    format: Format,
) -> Result<(), Failure> {
    // The lock, then the batch: the writer opens only the books it touches (`open_for`).
    let locked = Store::lock(dir)?;
    let input = read_input(file)?;
    let batch = parse_batch(&input).map_err(Failure::rejected)?;
    let (mut store, report) = Store::open_locked_for(locked, &batch)?;
    store.stop_when(&STOP);
    output::report_open(&report);
    let warnings = advise(&store, &batch)?;
    let warning_text = |(line, w): &(usize, finsam_projections::advice::Warning)| {
        say(
            format!("rad {line}, fält `{}`: {} [varning {}]", w.field, w.swedish, w.rule),
            format!("line {line}, field `{}`: {} [warning {}]", w.field, w.message, w.rule),
        )
    };
    if strict && !warnings.is_empty() {
        let n = warnings.len();
        let mut message = say(
            format!("vägrat under --strict, inget har skrivits ({n} varning(ar)):"),
            format!("refused under --strict, nothing written ({n} warning(s)):"),
        );
        for w in &warnings {
            message.push_str("\n  ");
            message.push_str(&warning_text(w));
        }
        return Err(Failure { code: 2, message });
    }
    let outcome = store.record(&batch, actor, expect_head)?;
    for w in &warnings {
        eprintln!("finsam: {} {}", say("varning:", "warning:"), warning_text(w));
    }
    // Durable from here on: whatever happens to the derived state, the batch is recorded.
    output::save_derived(&mut store);
    let head = store.head().clone();
    match format {
        Format::Table | Format::Csv | Format::Html => {
            let mut t = Table::new(&[("rad", Align::Right), ("seq", Align::Right), ("", Align::Left)]);
            for r in &outcome {
                let note = if r.duplicate {
                    "redan registrerad (samma idempotensnyckel och innehåll)"
                } else {
                    "registrerad"
                };
                t.row(vec![r.line.to_string(), r.seq.to_string(), note.to_string()]);
            }
            let fresh = outcome.iter().filter(|r| !r.duplicate).count();
            emit(&format!(
                "{}{}",
                t.render(),
                say(
                    format!("{fresh} nya händelser registrerade av {actor}; loggens huvud {head}\n"),
                    format!("{fresh} new event(s) recorded by {actor}; head {head}\n"),
                )
            ));
        }
        Format::Json => {
            let forbund: Vec<_> = batch.iter().map(|(_, e)| e.forbund.clone()).collect();
            emit(&record_json(&forbund, &outcome, &warnings, &head))
        }
    }
    Ok(())
}

/// What every import starts from: the förbund, who records, the file's bytes and name, and
/// the store open for writing.
struct Opened {
    forbund: finsam_domain::Slug,
    actor: String,
    bytes: Vec<u8>,
    name: String,
    store: Store<finsam_store::FileLog>,
}

fn open_import(dir: &std::path::Path, run: ImportRun, file: &std::path::Path, limit: usize) -> Result<Opened, Failure> {
    let forbund = reports::parse_forbund(&run.forbund)?;
    let actor = import_actor(run.dry_run, run.actor)?;
    let (bytes, name) = import_file(file, limit)?;
    let (mut store, report) = Store::open(dir)?;
    store.stop_when(&STOP);
    output::report_open(&report);
    Ok(Opened { forbund, actor, bytes, name, store })
}

/// Who records an import: none is needed for a dry run.
fn import_actor(dry_run: bool, actor: Option<String>) -> Result<String, Failure> {
    match (dry_run, actor_of(actor)) {
        (true, _) => Ok(String::new()),
        (false, Some(a)) => Ok(a),
        (false, None) => Err(Failure::usage(
            say(
                "vem bokför? ange --as NAMN (eller FINSAM_ACTOR); varje händelse säger vem som registrerade den — eller --dry-run för att bara se förslagen",
                "who records? pass --as ACTOR (or set FINSAM_ACTOR); every envelope names who recorded it — or --dry-run to see the proposals only",
            ),
        )),
    }
}

/// An import's file: its bytes (at most `limit`) and the name the messages give it.
fn import_file(file: &std::path::Path, limit: usize) -> Result<(Vec<u8>, String), Failure> {
    let bytes = finsam_store::files::read_limited(file, limit as u64 + 1).map_err(|e| Failure::usage(e.to_string()))?;
    let name = file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().to_string());
    Ok((bytes, name))
}

fn import_sie(
    dir: &std::path::Path,
    run: ImportRun,
    mapping: Option<&std::path::Path>,
    file: &std::path::Path,
    format: Format,
) -> Result<(), Failure> {
    use finsam_app::import;
    let dry_run = run.dry_run;
    let Opened { forbund, actor, bytes, name, mut store } = open_import(dir, run, file, import::MAX_FILE_BYTES)?;
    // The mapping given, else the one the förbund's last import confirmed.
    let given = mapping.is_some();
    let mapping = finsam_store::files::mapping_text(dir, forbund.as_str(), mapping)
        .map_err(|e| Failure::usage(e.to_string()))?
        .map(|(_, text)| text);
    let proposal = import::propose_sie(&store, &forbund, &name, &bytes, mapping.as_deref())?;
    let batch = proposal.batch(&bytes, store.head().seq + 1);
    let recorded = !dry_run && !batch.is_empty();
    if recorded {
        finsam_store::underlag::put(dir, &bytes)?;
        store.record(&batch, &actor, None)?;
        output::save_derived(&mut store);
    }
    if let (true, false, Some(text)) = (given, dry_run, &mapping) {
        let path = finsam_store::files::save_mapping(dir, forbund.as_str(), text)?;
        let path = path.display();
        eprintln!(
            "finsam: {}",
            say(
                format!("kontomappningen sparad som {path} och används vid nästa import"),
                format!("the account mapping is kept as {path} and used by the next import"),
            )
        );
    }
    match format {
        Format::Json => emit(&import::sie_json(&proposal, recorded)),
        _ => emit(&import::sie_table(&proposal, recorded, dry_run)),
    }
    Ok(())
}

fn import_budget(
    dir: &std::path::Path,
    run: ImportRun,
    decision: &finsam_app::import::BudgetDecision,
    file: &std::path::Path,
    format: Format,
) -> Result<(), Failure> {
    use finsam_app::import;
    let dry_run = run.dry_run;
    let Opened { forbund, actor, bytes, name, mut store } = open_import(dir, run, file, import::BUDGET_MAX_BYTES)?;
    let proposal = import::propose_budget(&store, &forbund, &name, &bytes, decision)?;
    let recorded = if dry_run || proposal.already.is_some() {
        None
    } else {
        let media = import::import_media_type(&bytes, &name);
        let first = store.head().seq + 1;
        let underlag = import::import_underlag(&forbund, &name, media, &bytes, first, 1);
        finsam_store::underlag::put(dir, &bytes)?;
        let outcome = store.record(&[(1, proposal.event.clone()), (2, underlag)], &actor, None)?;
        output::save_derived(&mut store);
        outcome.first().map(|r| r.seq)
    };
    match format {
        Format::Json => emit(&import::budget_json(&proposal, recorded)),
        _ => emit(&import::budget_table(&proposal, recorded, dry_run)),
    }
    Ok(())
}

fn import_bank(dir: &std::path::Path, run: ImportRun, file: &std::path::Path, format: Format) -> Result<(), Failure> {
    use finsam_app::import;
    let dry_run = run.dry_run;
    let Opened { forbund, actor, bytes, name, mut store } = open_import(dir, run, file, import::MAX_FILE_BYTES)?;
    let proposal = import::propose_bank(&store, &forbund, &name, &bytes)?;
    // What fits, and the bank file itself as underlag of what it brought in.
    let batch = proposal.batch_with(&Default::default(), &bytes, store.head().seq + 1)?;
    let recorded = if dry_run || batch.is_empty() {
        None
    } else {
        finsam_store::underlag::put(dir, &bytes)?;
        let mut outcome = store.record(&batch, &actor, None)?;
        outcome.pop();
        output::save_derived(&mut store);
        Some(outcome)
    };
    match format {
        Format::Json => emit(&import::bank_json(&proposal, recorded.as_deref())),
        _ => emit(&import::bank_table(&proposal, if dry_run { None } else { recorded.as_deref().or(Some(&[])) })),
    }
    Ok(())
}

fn log(dir: &std::path::Path, from: u64, to: u64, format: Format) -> Result<(), Failure> {
    match format {
        Format::Table | Format::Csv | Format::Html => {
            let mut t = Table::new(&[
                ("seq", Align::Right),
                ("registrerad (UTC)", Align::Left),
                ("av", Align::Left),
                ("datum", Align::Left),
                ("förbund", Align::Left),
                ("händelse", Align::Left),
                ("sammanfattning", Align::Left),
                ("hash", Align::Left),
            ]);
            let head = finsam_store::read_log(dir, from, to, &mut |e| {
                t.row(vec![
                    e.seq.to_string(),
                    e.recorded_at.chars().take(19).collect(),
                    e.recorded_by.clone(),
                    e.event.date.to_string(),
                    e.event.forbund.to_string(),
                    finsam_projections::summary::type_label(e.event.type_name()).to_string(),
                    finsam_projections::summary(&e.event),
                    e.hash[..12].to_string(),
                ]);
                Ok(())
            })?;
            emit(&format!("{}loggens huvud {}\n", t.render(), head));
        }
        Format::Json => {
            let mut out = String::from("[");
            let mut first = true;
            finsam_store::read_log(dir, from, to, &mut |e| {
                out.push_str(if first { "\n" } else { ",\n" });
                first = false;
                out.push_str(&serde_json::to_string(&e.to_json()).expect("serialises"));
                Ok(())
            })?;
            out.push_str("\n]\n");
            emit(&out);
        }
    }
    Ok(())
}

fn status(dir: &std::path::Path, format: Format) -> Result<(), Failure> {
    let view = finsam_store::open_view(dir)?;
    let head = view.head.clone();
    let ledger = &view.ledger;
    let mut rows = Vec::new();
    for id in ledger.forbund_ids() {
        let position = view.index.position(id.as_str());
        rows.push((id.clone(), ledger.forbund_name(id).unwrap_or_default().to_string(), position));
    }
    match format {
        Format::Table | Format::Csv | Format::Html => {
            let mut t = Table::new(&[
                ("förbund", Align::Left),
                ("namn", Align::Left),
                ("händelser", Align::Right),
                ("senaste seq", Align::Right),
            ]);
            for (id, name, p) in &rows {
                t.row(vec![id.to_string(), name.clone(), p.events.to_string(), p.last_seq.to_string()]);
            }
            emit(&format!("lager {}\nloggens huvud {}\n\n{}", dir.display(), head, t.render()));
        }
        Format::Json => {
            let list: Vec<_> = rows
                .iter()
                .map(|(id, name, p)| serde_json::json!({"forbund": id.as_str(), "name": name, "events": p.events, "last_seq": p.last_seq}))
                .collect();
            emit(&format!("{}\n", serde_json::json!({"head": {"seq": head.seq, "hash": head.hash}, "forbund": list})));
        }
    }
    Ok(())
}

/// Thrown when a signal (Ctrl-C, SIGTERM, SIGHUP) asks finsam to stop. A command that records
/// hands it to the store, which checks it before every append and never during one.
static STOP: finsam_store::StopSwitch = finsam_store::StopSwitch::new();

/// glibc's malloc serves a request of 128 KiB or more from pages of its own (mmap), given back
/// when freed; but each time such a block is freed it raises that threshold to the block's
/// size, up to 32 MiB. Then the books' growing lists come from the heap, and what they leave
/// when they move is held: a replay of a million events peaked 20 MB higher (219 → 198 MB with
/// the threshold fixed; `/usr/bin/time` on `finsam reindex`, docs/performance.md). Setting it
/// fixes it at its default. (The replay reuses its blocks and lists of decoded lines, which
/// would otherwise cost a page fault per 4 KiB each time.) Elsewhere (another libc) this does
/// nothing.
fn fixed_malloc_thresholds() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a parameter of the allocator, before any thread is started.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

fn main() -> ExitCode {
    fixed_malloc_thresholds();
    // Messages in Swedish, as on the pages; in English when the locale asks for it (LANG=en_GB…).
    // (clap's own usage errors stay English.) The service keeps English: its API answers programs, and its pages have their own words.
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve { .. }) {
        output::speak_swedish(output::swedish_by_locale(|k| std::env::var(k).ok()));
    }
    if let Command::Serve { openapi: true, .. } = &cli.command {
        print!("{}", finsam_server::openapi_document());
        return ExitCode::SUCCESS;
    }
    if let Command::Serve { listen, scrub_every, save_every, .. } = &cli.command {
        let dir = store_dir(&cli.store);
        if let Some(url) = cli.database.as_deref().filter(|u| !finsam_store::pg::is_database(u)) {
            eprintln!(
                "finsam: {}",
                say(
                    format!("--database {url:?}: en databas anges som postgresql://ANVÄNDARE@VÄRD:PORT/DATABAS"),
                    format!("--database {url:?}: a database is given as postgresql://USER@HOST:PORT/DATABASE"),
                )
            );
            return ExitCode::from(2);
        }
        let listen = listen.clone();
        let upkeep = finsam_server::Upkeep {
            scrub_every: std::time::Duration::from_secs(*scrub_every),
            save_every: std::time::Duration::from_secs(*save_every),
        };
        let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("finsam: {}", say(format!("kunde inte starta: {e}"), format!("could not start: {e}")));
                return ExitCode::from(1);
            }
        };
        return match runtime.block_on(finsam_server::serve(dir, listen, upkeep, cli.database.clone())) {
            Ok(()) => ExitCode::SUCCESS,
            Err(failure) => failure.exit(),
        };
    }
    // A command's process ends with it: the books it read are left to the exit, not freed.
    finsam_store::process_ends_with_command();
    // Only `record` writes what must never be half-acknowledged; every other command may stop
    // at once (what they write — derived state, a new empty store, an export — is replaced
    // whole or made again).
    let records = matches!(cli.command, Command::Record { .. });
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("finsam: {}", say(format!("kunde inte starta: {e}"), format!("could not start: {e}")));
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async {
        // The work runs on a blocking thread; the main task watches for signals.
        let mut work = tokio::task::spawn_blocking(move || run(cli));
        let outcome = tokio::select! {
            joined = &mut work => joined,
            _ = finsam_server::stop_signal() => {
                if !records {
                    eprintln!("finsam: {}", say("avbrutet.", "interrupted."));
                    std::process::exit(130);
                }
                // Ask the store to write nothing more. With an append under way, wait for it:
                // the batch is durable before the store stops, its seqs are printed, exit 0.
                // With none, nothing more is written; give the command a moment to say what it
                // recorded before (bulk loading), then stop with 130.
                if STOP.request_stop() {
                    match tokio::time::timeout(std::time::Duration::from_secs(2), &mut work).await {
                        Ok(joined) => joined,
                        Err(_) => {
                            eprintln!(
                                "finsam: {}",
                                say(
                                    "avbrutet innan händelserna skrevs: inget registrerades.",
                                    "interrupted before the batch was written: nothing was recorded."
                                )
                            );
                            std::process::exit(130);
                        }
                    }
                } else {
                    let joined = work.await;
                    if matches!(joined, Ok(Ok(()))) {
                        eprintln!(
                            "finsam: {}",
                            say(
                                "avbrutet efter att händelserna sparats varaktigt: de är registrerade (numren ovan).",
                                "interrupted after the batch was durable: it is recorded (seqs above)."
                            )
                        );
                    }
                    joined
                }
            }
        };
        match outcome {
            Ok(Ok(())) => ExitCode::SUCCESS,
            Ok(Err(failure)) => failure.exit(),
            Err(panic) => std::panic::resume_unwind(panic.into_panic()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// `finsam reconcile --help` teaches every check the run makes, by its id.
    #[test]
    fn the_reconcile_help_names_every_check() {
        let cli = Cli::command();
        let reconcile = cli.find_subcommand("reconcile").expect("reconcile is a command");
        let help = reconcile.get_long_about().expect("reconcile has a long help").to_string();
        for check in finsam_projections::reconcile::CHECKS {
            assert!(help.lines().any(|l| l.trim_start().starts_with(check)), "the help names {check}:\n{help}");
        }
    }
}
