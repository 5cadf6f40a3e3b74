//! Imports: the bank's files brought in without retyping — matched to what is owed, proposed,
//! recorded on confirmation, never twice — and hostile files refused whole.

use crate::support::*;
use finsam_generate::bank::{bgmax, camt053, Payment};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub(crate) const ACCOUNT: &str = "SE4550000000058398257466";

/// Whether a fixture line is one of Samordningsförbundet Västmanland's 2024 contributions
/// received: what the bank files bring in instead.
fn is_received_2024(line: &str) -> bool {
    line.contains(r#""type": "ContributionReceived", "forbund": "sf-vastmanland""#) && line.contains(r#""year": 2024"#)
}

/// The fixtures through the 2024 example without those contributions, and the contributions.
/// (The annual report's fixture after them names a seq of the whole log: it is recorded after
/// the import, which brings in as many events as were taken out.)
pub(crate) fn fixtures_without_received() -> (Vec<String>, Vec<Value>) {
    let mut received = Vec::new();
    let texts = fixture_files()
        .iter()
        .filter(|n| n.as_str() < "50")
        .map(|n| {
            let text = fixture(n);
            let mut kept = Vec::new();
            for line in text.lines() {
                if is_received_2024(line) {
                    received.push(serde_json::from_str(line).unwrap());
                } else {
                    kept.push(line);
                }
            }
            kept.join("\n") + "\n"
        })
        .collect();
    (texts, received)
}

/// The members' names as registered, by id.
fn member_names() -> BTreeMap<String, String> {
    let registration = fixture("00-forbund.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["type"] == "ForbundRegistered" && v["forbund"] == "sf-vastmanland")
        .unwrap();
    registration["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["id"].as_str().unwrap().to_string(), m["name"].as_str().unwrap().to_string()))
        .collect()
}

fn ore(amount: &str) -> i64 {
    let (kr, o) = amount.split_once('.').unwrap_or((amount, "0"));
    kr.parse::<i64>().unwrap() * 100 + format!("{o:0<2}").parse::<i64>().unwrap()
}

/// What the bank saw: one payment per payer and day — Försäkringskassan pays its own part and
/// Arbetsförmedlingen's in one transfer — named as the bank names the payer, with a free text.
pub(crate) fn payments(received: &[Value]) -> Vec<Payment> {
    let names = member_names();
    let mut by_payer: BTreeMap<(String, String), i64> = BTreeMap::new();
    for r in received {
        let payer = r["payer"].as_str().or(r["member"].as_str()).unwrap().to_string();
        *by_payer.entry((r["date"].as_str().unwrap().to_string(), payer)).or_default() +=
            ore(r["amount"].as_str().unwrap());
    }
    by_payer
        .into_iter()
        .enumerate()
        .map(|(n, ((date, payer), ore))| Payment {
            date: date.parse().unwrap(),
            ore,
            id: format!("{:012}", 240_000_000 + n),
            counterparty: names[&payer].to_uppercase(),
            ocr: None,
            text: Some(format!("Medlemsbidrag samordningsförbundet {date}")),
        })
        .collect()
}

fn record_the_annual_report(store: &Path) {
    let name = fixture_files().into_iter().find(|n| n.starts_with("50")).unwrap();
    assert_exit(&finsam(store, &["record", "--as", "test", "-"], &fixture(&name)), 0);
}

fn bank_of(store: &Path, as_of: &str) -> i64 {
    let o = finsam(store, &["balances", "--forbund", "sf-vastmanland", "--as-of", as_of, "--format", "json"], "");
    assert_exit(&o, 0);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    ore(v["bank"].as_str().unwrap())
}

fn import(store: &Path, file: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["import", "bank", "--forbund", "sf-vastmanland", "--format", "json"];
    args.extend_from_slice(extra);
    args.push(file.to_str().unwrap());
    finsam(store, &args, "")
}

fn write(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.0.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn statuses(answer: &Value) -> BTreeMap<String, usize> {
    let mut count = BTreeMap::new();
    for i in answer["items"].as_array().unwrap() {
        *count.entry(i["status"].as_str().unwrap().to_string()).or_default() += 1;
    }
    count
}

/// The books of the fixtures as they are (the contributions recorded by hand), every account
/// at the year's end.
fn books_of_the_fixtures() -> BTreeMap<String, finsam_domain::Amount> {
    let dir = TempDir::new("import-reference");
    let store = fixture_store(&dir);
    account_balances(&store, "sf-vastmanland", "2024-12-31")
}

#[test]
fn the_fixtures_2024_contributions_come_in_from_a_camt_053_statement_matched_to_the_last_ore() {
    let expected = books_of_the_fixtures();
    let dir = TempDir::new("import-camt");
    let (texts, received) = fixtures_without_received();
    let store = store_with(&dir, &texts.iter().map(String::as_str).collect::<Vec<_>>());
    let pay = payments(&received);
    // Försäkringskassan's four transfers each pay two members: fewer payments than events.
    assert_eq!((received.len(), pay.len()), (52, 48));
    let last = pay.iter().map(|p| p.date).max().unwrap().to_string();
    let opening = {
        let full = TempDir::new("import-camt-full");
        bank_of(&fixture_store(&full), &last) - pay.iter().map(|p| p.ore).sum::<i64>()
    };
    let file = write(&dir, "kontoutdrag-2024.xml", camt053("02", ACCOUNT, "STMT-2024", opening, &pay).as_bytes());
    let before = log_bytes(&store);

    // The dry run proposes every payment, explains each, and writes nothing.
    let dry = import(&store, &file, &["--dry-run"]);
    assert_exit(&dry, 0);
    let answer: Value = serde_json::from_str(&stdout(&dry)).unwrap();
    assert_eq!(answer["format"], "camt.053.001.02");
    assert_eq!(statuses(&answer), BTreeMap::from([("proposed".to_string(), 48)]), "{answer:#}");
    let fk = answer["items"].as_array().unwrap().iter().find(|i| i["counterparty"] == "FÖRSÄKRINGSKASSAN").unwrap();
    assert_eq!(fk["events"].as_array().unwrap().len(), 2, "{fk:#}");
    assert!(fk["reason"].as_str().unwrap().contains("Arbetsförmedlingen"), "{fk:#}");
    assert_eq!(fk["events"][1]["payer"], "forsakringskassan");
    assert_eq!(answer["balances"][0]["difference"], "0", "{:#}", answer["balances"]);
    assert_eq!(log_bytes(&store), before, "a dry run writes nothing");

    // Recorded: the books equal the fixtures', account by account.
    let done = import(&store, &file, &["--as", "kansli"]);
    assert_exit(&done, 0);
    let answer: Value = serde_json::from_str(&stdout(&done)).unwrap();
    assert_eq!(statuses(&answer), BTreeMap::from([("recorded".to_string(), 48)]));
    record_the_annual_report(&store);
    assert_eq!(account_balances(&store, "sf-vastmanland", "2024-12-31"), expected);

    // The same file again: nothing new, every payment named as already recorded.
    let after = log_bytes(&store);
    let again = import(&store, &file, &["--as", "kansli"]);
    assert_exit(&again, 0);
    let answer: Value = serde_json::from_str(&stdout(&again)).unwrap();
    assert_eq!(statuses(&answer), BTreeMap::from([("already_recorded".to_string(), 48)]));
    assert_eq!(log_bytes(&store), after, "a file imported twice records nothing new");

    // The table for people says the same in Swedish.
    let table =
        finsam(&store, &["import", "bank", "--forbund", "sf-vastmanland", "--dry-run", file.to_str().unwrap()], "");
    assert_exit(&table, 0);
    assert!(
        stdout(&table).contains("48 poster: 0 matchade (0 händelser), 48 redan bokförda, 0 väntar på granskning"),
        "{}",
        stdout(&table)
    );
}

#[test]
fn the_same_contributions_come_in_from_bgmax_and_camt_053_version_08_and_what_fits_nothing_waits() {
    let expected = books_of_the_fixtures();
    let dir = TempDir::new("import-bgmax");
    let (texts, received) = fixtures_without_received();
    let store = store_with(&dir, &texts.iter().map(String::as_str).collect::<Vec<_>>());
    let pay = payments(&received);
    let (first_half, second_half): (Vec<Payment>, Vec<Payment>) =
        pay.iter().cloned().partition(|p| p.date < "2024-07-01".parse().unwrap());
    // The first half year by bankgiro (BgMax), the second on the account statement (v08), with
    // one payment nobody owes: a member paying twice.
    let mut extra = second_half.clone();
    let mut twice = second_half.iter().find(|p| p.counterparty == "SALA KOMMUN").unwrap().clone();
    twice.id = "999999999999".into();
    twice.date = "2024-11-15".parse().unwrap();
    extra.push(twice);
    let bg = write(&dir, "bgmax-2024h1.txt", &bgmax("53681234", "20240701060000000000", &first_half));
    let camt = write(&dir, "kontoutdrag-2024h2.xml", camt053("08", ACCOUNT, "STMT-2024H2", 0, &extra).as_bytes());

    let o = import(&store, &bg, &["--as", "kansli"]);
    assert_exit(&o, 0);
    let answer: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(answer["format"], "BgMax 01");
    assert_eq!(statuses(&answer), BTreeMap::from([("recorded".to_string(), first_half.len())]), "{answer:#}");

    let o = import(&store, &camt, &["--as", "kansli"]);
    assert_exit(&o, 0);
    let answer: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(answer["format"], "camt.053.001.08");
    assert_eq!(
        statuses(&answer),
        BTreeMap::from([("recorded".to_string(), second_half.len()), ("unmatched".to_string(), 1)]),
        "{answer:#}"
    );
    record_the_annual_report(&store);
    let waiting = answer["items"].as_array().unwrap().iter().find(|i| i["status"] == "unmatched").unwrap();
    assert!(
        waiting["reason"].as_str().unwrap().contains("Sala kommun")
            && waiting["reason"].as_str().unwrap().contains("obetalt"),
        "{waiting:#}"
    );
    assert_eq!(account_balances(&store, "sf-vastmanland", "2024-12-31"), expected);
}

#[test]
fn an_outgoing_payment_settles_the_open_invoice_its_reference_names() {
    let dir = TempDir::new("import-invoice");
    let store = store_with(&dir, &fixtures_through("30").iter().map(String::as_str).collect::<Vec<_>>());
    let invoice = r#"{"type":"InvoiceReceived","forbund":"sf-vastmanland","date":"2024-05-10","year":2024,"invoice":"f-100","supplier":"Konsult AB","line":"styrelse","amount":"100000","due":"2024-06-09","reference":"F-100","text":"arvoden maj"}"#;
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], invoice), 0);
    let out = |date: &str, ore: i64, id: &str, who: &str, text: &str| Payment {
        date: date.parse().unwrap(),
        ore,
        id: id.into(),
        counterparty: who.into(),
        ocr: None,
        text: Some(text.into()),
    };
    let pay = [
        out("2024-06-01", -4_000_000, "A1", "Konsult AB", "Faktura f-100 delbetalning"),
        out("2024-06-20", -6_000_000, "A2", "KONSULT AB", "betalning"),
        out("2024-06-21", -1_000_000, "A3", "Okänd mottagare AB", "x"),
    ];
    let file = write(&dir, "ut.xml", camt053("02", ACCOUNT, "UT-1", 0, &pay).as_bytes());
    let o = import(&store, &file, &["--dry-run"]);
    assert_exit(&o, 0);
    let answer: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let items = answer["items"].as_array().unwrap();
    assert_eq!(items[0]["events"][0]["type"], "InvoicePaid", "{answer:#}");
    assert_eq!(items[0]["events"][0]["amount"], "40000");
    assert!(items[0]["reason"].as_str().unwrap().contains("f-100"));
    // The rest, by the payee's only open invoice of exactly that amount.
    assert_eq!(items[1]["events"][0]["amount"], "60000", "{answer:#}");
    assert_eq!(items[2]["status"], "unmatched");
    assert!(items[2]["reason"].as_str().unwrap().contains("ingen öppen leverantörsfaktura"), "{:#}", items[2]);
}

#[test]
fn a_bank_file_that_is_not_what_it_claims_is_refused_whole_naming_the_line_and_rule() {
    let dir = TempDir::new("import-hostile");
    let store = store_with(&dir, &fixtures_through("30").iter().map(String::as_str).collect::<Vec<_>>());
    let before = log_bytes(&store);
    let pay = [Payment {
        date: "2024-01-31".parse().unwrap(),
        ore: 9_756_975,
        id: "1".into(),
        counterparty: "Sala kommun".into(),
        ocr: None,
        text: None,
    }];
    let good = camt053("02", ACCOUNT, "S", 0, &pay);
    let bg = bgmax("53681234", "20240701060000000000", &pay);
    let laughs = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"><BkToCstmrStmt>&lol2;</BkToCstmrStmt></Document>\n";
    let xxe = "<?xml version=\"1.0\"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\">&x;</Document>\n";
    let latin1: Vec<u8> = good.replace("Sala kommun", "Sala kommun \u{e5}").chars().map(|c| c as u32 as u8).collect();
    let bad_count = String::from_utf8_lossy(&bg).replace("7000000001", "7000000002").into_bytes();
    let bad_sum = {
        let text = String::from_utf8_lossy(&bg).to_string();
        let lines: Vec<String> = text
            .split("\r\n")
            .map(|l| {
                if l.starts_with("15") {
                    format!("{}{}{}", &l[..50], "000000000009756976", &l[68..])
                } else {
                    l.to_string()
                }
            })
            .collect();
        lines.join("\r\n").into_bytes()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("laughs.xml", laughs.as_bytes().to_vec(), "DOCTYPE"),
        ("xxe.xml", xxe.as_bytes().to_vec(), "DOCTYPE"),
        ("cut.xml", good.as_bytes()[..good.len() / 2].to_vec(), "rad "),
        ("latin1.xml", latin1, "UTF-8"),
        ("camt.052.xml", good.replace("camt.053.001.02", "camt.052.001.02").into_bytes(), "camt.053"),
        ("v04.xml", good.replace("camt.053.001.02", "camt.053.001.04").into_bytes(), ".001.02 och .001.08"),
        (
            "twice.xml",
            good.replace("</Stmt>", "</Stmt><Stmt><Id>S</Id></Stmt>").into_bytes(),
            "samma utdrag finns två gånger",
        ),
        ("count.txt", bad_count, "antal betalningsposter"),
        ("sum.txt", bad_sum, "insättningsbelopp"),
        ("cut.txt", bg[..bg.len() - 82].to_vec(), "slutposten"),
        ("notes.txt", b"hej hej".to_vec(), "varken"),
    ];
    for (name, bytes, expected) in cases {
        let file = write(&dir, name, &bytes);
        let o = import(&store, &file, &["--as", "kansli"]);
        assert_exit(&o, 2);
        let message = stderr(&o);
        assert!(
            message.contains(name) && message.contains("avvisas") && message.contains(expected),
            "{name}: {message}"
        );
        assert_eq!(log_bytes(&store), before, "{name}: nothing written");
    }
}

/// Samordningsförbundet Västmanland's 2024 budget as the fixture holds it (underlag 002).
fn fixture_budget() -> Value {
    fixture("30-vastmanland-2024.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["type"] == "BudgetAdopted")
        .unwrap()
}

/// The registered names: of the förbund and of the insatser.
fn names_of(kind: &str, id_key: &str) -> BTreeMap<String, String> {
    fixture_files()
        .iter()
        .flat_map(|n| fixture(n).lines().map(str::to_string).collect::<Vec<_>>())
        .map(|l| serde_json::from_str::<Value>(&l).unwrap())
        .filter(|v| v["type"] == kind)
        .map(|v| (v[id_key].as_str().unwrap().to_string(), v["name"].as_str().unwrap().to_string()))
        .collect()
}

/// The rows of the budget as a kansli writes it: the categories, natures and names in words,
/// the insatser and the förbund by name, some amounts typed as text.
fn budget_rows() -> Vec<[String; 7]> {
    let b = fixture_budget();
    let insatser = names_of("InsatsCreated", "insats");
    let forbund = names_of("ForbundRegistered", "forbund");
    let category = |c: &str| match c {
        "admin" => "Administration",
        "individ" => "Individinriktade insatser",
        _ => "Strukturinriktade insatser",
    };
    let nature = |n: Option<&str>| match n {
        Some("personal") => "Egen personal",
        Some("kopta_tjanster") => "köpta tjänster",
        Some(other) => panic!("{other}"),
        None => "",
    };
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let mut rows = vec![[
        "Intäkter".into(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    ]];
    for i in b["income"].as_array().unwrap() {
        rows.push([
            s(&i["id"]),
            s(&i["name"]),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            s(&i["amount"]),
        ]);
    }
    for t in b["transfers"].as_array().unwrap() {
        rows.push([
            String::new(),
            s(&t["name"]),
            "Överföring".into(),
            String::new(),
            String::new(),
            forbund[t["from"].as_str().unwrap()].clone(),
            s(&t["amount"]),
        ]);
    }
    rows.push([
        "Kostnader".into(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    ]);
    for c in b["costs"].as_array().unwrap() {
        let insats = c["insats"].as_str().map(|i| insatser[i].clone()).unwrap_or_default();
        rows.push([
            s(&c["id"]),
            s(&c["name"]),
            category(c["category"].as_str().unwrap()).into(),
            insats,
            nature(c["nature"].as_str()).into(),
            String::new(),
            s(&c["amount"]),
        ]);
    }
    rows.push([
        String::new(),
        "Summa kostnader".into(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        b["stated"]["costs_total"].as_str().unwrap().into(),
    ]);
    rows
}

const HEADINGS: [&str; 7] = ["Id", "Benämning", "Kategori", "Insats", "Art", "Från förbund", "Budget 2024"];

/// The rows as an xlsx workbook: a title, the heading row, then the rows; amounts as number
/// cells, except every third as Swedish text ("1 700 000").
fn budget_xlsx(rows: &[[String; 7]]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet().set_name("Budget 2024").unwrap();
    sheet.write_string(0, 0, "Samordningsförbundet Västmanland — budget 2024").unwrap();
    for (c, h) in HEADINGS.iter().enumerate() {
        sheet.write_string(2, c as u16, *h).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        let r = r as u32 + 3;
        // Section headings ("Intäkter", "Kostnader") stand in the name column.
        if row[1].is_empty() && !row[0].is_empty() && row[6].is_empty() {
            sheet.write_string(r, 1, &row[0]).unwrap();
            continue;
        }
        for (c, cell) in row.iter().enumerate().take(6) {
            if !cell.is_empty() {
                sheet.write_string(r, c as u16, cell).unwrap();
            }
        }
        if r.is_multiple_of(3) {
            let kr = finsam_domain::Amount::parse(&row[6]).unwrap();
            sheet.write_string(r, 6, kr.human_number().replace(",00", "")).unwrap();
        } else {
            sheet.write_number(r, 6, row[6].parse::<f64>().unwrap()).unwrap();
        }
    }
    book.save_to_buffer().unwrap()
}

/// The fixtures up to the 2024 budget: through Norra Västmanland's 2023, then the merger and
/// the insatser of 2024.
fn store_before_the_budget(dir: &TempDir) -> (PathBuf, Vec<String>) {
    let mut texts = fixtures_through("20");
    let lines: Vec<String> = fixture("30-vastmanland-2024.jsonl").lines().map(str::to_string).collect();
    let at = lines.iter().position(|l| l.contains(r#""type": "BudgetAdopted""#)).unwrap();
    texts.push(lines[..at].join("\n") + "\n");
    let store = store_with(dir, &texts.iter().map(String::as_str).collect::<Vec<_>>());
    (store, lines[at + 1..].to_vec())
}

fn import_budget(store: &Path, file: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "import",
        "budget",
        "--forbund",
        "sf-vastmanland",
        "--year",
        "2024",
        "--decided-by",
        "interimsstyrelsen",
        "--decided",
        "2023-11-16",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    args.push(file.to_str().unwrap());
    finsam(store, &args, "")
}

/// The budget's decision and lines, without what only the document's text says (its printed
/// sums and the note).
fn decided(event: &Value) -> Value {
    let mut e = event.clone();
    for k in ["note", "stated", "idempotency_key"] {
        e.as_object_mut().unwrap().remove(k);
    }
    e
}

#[test]
fn a_budget_xlsx_with_the_seed_002_labels_imports_to_the_fixtures_budget_and_then_the_grants_follow() {
    let dir = TempDir::new("import-budget");
    let (store, rest) = store_before_the_budget(&dir);
    let file = write(&dir, "budget-2024.xlsx", &budget_xlsx(&budget_rows()));
    let before = log_bytes(&store);
    let dry = import_budget(&store, &file, &["--dry-run"]);
    assert_exit(&dry, 0);
    let answer: Value = serde_json::from_str(&stdout(&dry)).unwrap();
    assert_eq!(decided(&answer["event"]), decided(&fixture_budget()), "{:#}", answer["event"]);
    assert_eq!(log_bytes(&store), before, "a dry run writes nothing");

    let done = import_budget(&store, &file, &["--as", "kansli"]);
    assert_exit(&done, 0);
    let seq = serde_json::from_str::<Value>(&stdout(&done)).unwrap()["recorded"].as_u64().unwrap();
    // The year's grants are recorded against the imported budget's lines as the fixture has them.
    assert_exit(&finsam(&store, &["record", "--as", "test", "-"], &(rest.join("\n") + "\n")), 0);
    let again = import_budget(&store, &file, &["--as", "kansli"]);
    assert_exit(&again, 0);
    assert_eq!(serde_json::from_str::<Value>(&stdout(&again)).unwrap()["already_recorded"], seq);

    // The table for people names each line's cell and the totals.
    let table = finsam(
        &store,
        &[
            "import",
            "budget",
            "--forbund",
            "sf-vastmanland",
            "--year",
            "2024",
            "--decided-by",
            "interimsstyrelsen",
            "--decided",
            "2023-11-16",
            "--dry-run",
            file.to_str().unwrap(),
        ],
        "",
    );
    assert_exit(&table, 0);
    let text = stdout(&table);
    assert!(
        text.contains("Budget 2024!B5")
            && text.contains("kostnader 20 983 000,00 kr")
            && text.contains("redan importerad"),
        "{text}"
    );
}

#[test]
fn a_budget_csv_as_swedish_excel_saves_it_imports_to_the_same_budget() {
    let dir = TempDir::new("import-budget-csv");
    let (store, _) = store_before_the_budget(&dir);
    let mut text = HEADINGS.join(";") + "\r\n";
    for row in budget_rows() {
        let mut row = row.clone();
        if row[1].is_empty() && !row[0].is_empty() {
            row.swap(0, 1);
        }
        row[6] = if row[6].is_empty() {
            String::new()
        } else {
            finsam_domain::Amount::parse(&row[6]).unwrap().human_number()
        };
        text.push_str(&row.join(";"));
        text.push_str("\r\n");
    }
    // Windows-1252, as Excel's "CSV (semikolonavgränsad)" writes it.
    let bytes: Vec<u8> = text.chars().map(|c| u8::try_from(u32::from(c)).expect("Latin-1 text")).collect();
    let file = write(&dir, "budget-2024.csv", &bytes);
    let o = import_budget(&store, &file, &["--dry-run"]);
    assert_exit(&o, 0);
    let answer: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(decided(&answer["event"]), decided(&fixture_budget()));
}

#[test]
fn every_budget_cell_that_cannot_be_read_is_named_with_its_reason_and_nothing_is_recorded() {
    let dir = TempDir::new("import-budget-bad");
    let (store, _) = store_before_the_budget(&dir);
    let before = log_bytes(&store);
    let mut rows = budget_rows();
    let cost = rows.iter().position(|r| r[0] == "styrelse").unwrap();
    rows[cost][2] = "Övrigt".into();
    rows[cost][4] = "resor".into();
    rows[cost + 1][3] = "Ingen sådan insats".into();
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet().set_name("Budget").unwrap();
    for (c, h) in HEADINGS.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        let mut row = row.clone();
        if row[1].is_empty() && !row[0].is_empty() {
            row.swap(0, 1);
        }
        for (c, cell) in row.iter().enumerate().take(6) {
            sheet.write_string(r as u32 + 1, c as u16, cell).unwrap();
        }
        let r = r as u32 + 1;
        match row[0].as_str() {
            // A point as thousands separator, and a formula the program never calculated.
            "gemensam-administration" => sheet.write_string(r, 6, "2.244.000").map(|_| ()).unwrap(),
            "samordningsteam-sala" => sheet.write_formula(r, 6, "=SUM(H1:H2)").map(|_| ()).unwrap(),
            _ if !row[6].is_empty() => sheet.write_number(r, 6, row[6].parse::<f64>().unwrap()).map(|_| ()).unwrap(),
            _ => {}
        }
    }
    let file = write(&dir, "budget-fel.xlsx", &book.save_to_buffer().unwrap());
    let o = import_budget(&store, &file, &["--as", "kansli"]);
    assert_exit(&o, 2);
    let message = stderr(&o);
    for expected in [
        "budget-fel.xlsx: filen avvisas",
        "kategori = \"Övrigt\": \"Övrigt\" är ingen kategori",
        "art = \"resor\"",
        "insats = \"Ingen sådan insats\": ingen insats",
        "belopp = \"2.244.000\"",
        "en formel utan sparat värde",
        // The sum row no longer adds up: the unreadable lines are not counted.
        "Summa kostnader",
    ] {
        assert!(message.contains(expected), "{expected}: {message}");
    }
    assert!(message.contains("Budget!C"), "cells are named: {message}");
    assert_eq!(log_bytes(&store), before);
}

/// Norra Västmanland's decisions (registration, insatser, budgets) without its money: what an
/// SIE file does not carry.
fn store_of_nv_decisions(dir: &TempDir) -> PathBuf {
    let decisions: String = fixture("20-norra-vastmanland-2023.jsonl")
        .lines()
        .filter(|l| !l.contains("OpeningBalanceRecorded"))
        .map(|l| format!("{l}\n"))
        .collect();
    store_with(dir, &[&fixture("00-forbund.jsonl"), &decisions])
}

fn nv_accounts(store: &Path, known_at: Option<u64>) -> BTreeMap<String, finsam_domain::Amount> {
    let mut args = vec!["balances", "--forbund", "sf-norra-vastmanland", "--as-of", "2023-12-31", "--format", "json"];
    let k = known_at.map(|k| k.to_string());
    if let Some(k) = &k {
        args.extend(["--known-at", k.as_str()]);
    }
    let o = finsam(store, &args, "");
    assert_exit(&o, 0);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["account"].as_str().unwrap().to_string(),
                finsam_domain::Amount::parse(a["balance"].as_str().unwrap()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn norra_vastmanlands_2023_books_exported_as_sie_and_imported_into_a_fresh_store_give_the_same_balances() {
    let dir = TempDir::new("import-sie");
    let original = fixture_store(&dir);
    let se = dir.0.join("nv-2023.se");
    assert_exit(
        &finsam(
            &original,
            &["export", "sie", "--forbund", "sf-norra-vastmanland", "--year", "2023", se.to_str().unwrap()],
            "",
        ),
        0,
    );
    // The books as they stood before 2023 was closed (the export carries no closing entries).
    let closed = log_json(&original)
        .iter()
        .find(|e| {
            e["event"]["type"] == "YearClosed"
                && e["event"]["forbund"] == "sf-norra-vastmanland"
                && e["event"]["year"] == 2023
        })
        .map(|e| e["seq"].as_u64().unwrap())
        .unwrap();
    let expected = nv_accounts(&original, Some(closed - 1));

    let fresh_dir = TempDir::new("import-sie-fresh");
    let fresh = store_of_nv_decisions(&fresh_dir);
    let before = log_bytes(&fresh);
    let import = |extra: &[&str]| {
        let mut args = vec!["import", "sie", "--forbund", "sf-norra-vastmanland", "--format", "json"];
        args.extend_from_slice(extra);
        args.push(se.to_str().unwrap());
        finsam(&fresh, &args, "")
    };
    let dry = import(&["--dry-run"]);
    assert_exit(&dry, 0);
    let answer: Value = serde_json::from_str(&stdout(&dry)).unwrap();
    assert_eq!(answer["year"], 2023);
    assert_eq!(answer["events"][0]["event"]["type"], "OpeningBalanceRecorded");
    assert_eq!(log_bytes(&fresh), before, "a dry run writes nothing");
    assert_exit(&import(&["--as", "kansli"]), 0);
    assert_eq!(nv_accounts(&fresh, None), expected, "every account's balance, to the öre");
    let last = log_json(&fresh).pop().unwrap();
    assert_eq!(
        (last["event"]["type"].as_str(), last["event"]["file"]["name"].as_str()),
        (Some("UnderlagAttached"), Some("nv-2023.se"))
    );
    // Again: nothing new.
    let after = log_bytes(&fresh);
    let again = import(&["--as", "kansli"]);
    assert_exit(&again, 0);
    let answer: Value = serde_json::from_str(&stdout(&again)).unwrap();
    assert!(answer["events"].as_array().unwrap().iter().all(|e| e["fresh"] == false), "{answer:#}");
    assert_eq!(log_bytes(&fresh), after);

    // The 4I file: the same vouchers, without the opening balance.
    let si = dir.0.join("nv-2023.si");
    assert_exit(
        &finsam(
            &original,
            &[
                "export",
                "sie",
                "--forbund",
                "sf-norra-vastmanland",
                "--year",
                "2023",
                "--type",
                "4i",
                si.to_str().unwrap(),
            ],
            "",
        ),
        0,
    );
    let other_dir = TempDir::new("import-sie-4i");
    let other = store_of_nv_decisions(&other_dir);
    let o = finsam(
        &other,
        &["import", "sie", "--forbund", "sf-norra-vastmanland", "--dry-run", "--format", "json", si.to_str().unwrap()],
        "",
    );
    assert_exit(&o, 0);
    let answer: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let events = answer["events"].as_array().unwrap();
    assert_eq!(
        events.len() + 1,
        serde_json::from_str::<Value>(&stdout(&dry)).unwrap()["events"].as_array().unwrap().len()
    );
    assert!(events.iter().all(|e| e["event"]["type"] != "OpeningBalanceRecorded"));
}

#[test]
fn an_sie_file_changed_after_its_checksum_or_with_an_account_finsam_does_not_know_is_refused_until_mapped() {
    let dir = TempDir::new("import-sie-refused");
    let original = fixture_store(&dir);
    let se = dir.0.join("nv-2023.se");
    assert_exit(
        &finsam(
            &original,
            &["export", "sie", "--forbund", "sf-norra-vastmanland", "--year", "2023", se.to_str().unwrap()],
            "",
        ),
        0,
    );
    let bytes = std::fs::read(&se).unwrap();
    let fresh_dir = TempDir::new("import-sie-refused-fresh");
    let fresh = store_of_nv_decisions(&fresh_dir);
    let before = log_bytes(&fresh);
    let write = |name: &str, b: Vec<u8>| {
        let p = dir.0.join(name);
        std::fs::write(&p, b).unwrap();
        p
    };
    let run = |file: &Path, extra: &[&str]| {
        let mut args = vec!["import", "sie", "--forbund", "sf-norra-vastmanland", "--as", "kansli"];
        args.extend_from_slice(extra);
        args.push(file.to_str().unwrap());
        finsam(&fresh, &args, "")
    };
    // One amount changed after the checksum was written.
    let text = String::from_utf8_lossy(&bytes)
        .replace("#TRANS 3590 {} -100000.00", "#TRANS 3590 {} -100001.00")
        .replace("#TRANS 1930 {} 100000.00", "#TRANS 1930 {} 100001.00");
    let o = run(&write("changed.se", text.into_bytes()), &[]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("#KSUMMA") && stderr(&o).contains("ändrad"), "{}", stderr(&o));
    // The program's own account for other income (3011), without a checksum: listed, never guessed.
    let text: String = String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|l| !l.starts_with("#KSUMMA"))
        .map(|l| format!("{}\r\n", l.trim_end_matches('\r').replace("3590", "3011")))
        .collect();
    let unmapped = write("unmapped.se", text.into_bytes());
    let o = run(&unmapped, &[]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("#KONTO 3011") && stderr(&o).contains("kontomappning"), "{}", stderr(&o));
    assert_eq!(log_bytes(&fresh), before);
    // Mapped once, it imports.
    let mapping = write("mapping.json", br#"{"3011": "3590"}"#.to_vec());
    let o = run(&unmapped, &["--mapping", mapping.to_str().unwrap()]);
    assert_exit(&o, 0);
    assert_eq!(nv_accounts(&fresh, None)["3590"], finsam_domain::Amount::parse("-100000").unwrap());
    // Confirmed once: kept for the förbund, and the next file is read with it.
    assert_eq!(
        std::fs::read_to_string(fresh.join("mappings/sf-norra-vastmanland.json")).unwrap(),
        r#"{"3011": "3590"}"#
    );
    let o = run(&unmapped, &["--dry-run"]);
    assert_exit(&o, 0);
}

#[test]
fn a_camt_054_notification_is_matched_as_the_statement_is() {
    let dir = TempDir::new("import-camt054");
    let (texts, received) = fixtures_without_received();
    let store = store_with(&dir, &texts.iter().map(String::as_str).collect::<Vec<_>>());
    let pay: Vec<Payment> = payments(&received).into_iter().filter(|p| p.date.to_string() == "2024-04-30").collect();
    for version in ["02", "08"] {
        let file = write(
            &dir,
            &format!("avisering-{version}.xml"),
            finsam_generate::bank::camt054(version, ACCOUNT, "N-1", &pay).as_bytes(),
        );
        let o = import(&store, &file, &["--dry-run"]);
        assert_exit(&o, 0);
        let answer: Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(answer["format"], format!("camt.054.001.{version}"));
        assert_eq!(statuses(&answer), BTreeMap::from([("proposed".to_string(), pay.len())]), "{answer:#}");
        assert_eq!(answer["balances"], serde_json::json!([]), "a notification has no balance to compare");
    }
}

#[test]
fn a_budget_sheet_past_the_limits_is_refused_with_the_limit_not_read_into_memory() {
    let dir = TempDir::new("import-budget-limits");
    let (store, _) = store_before_the_budget(&dir);
    // More rows than a budget has: refused by its row count.
    let mut text = String::from("Namn;Kategori;Belopp\r\n");
    for n in 0..10_001 {
        text.push_str(&format!("Rad {n};Administration;100\r\n"));
    }
    let file = write(&dir, "rader.csv", text.as_bytes());
    let o = import_budget(&store, &file, &["--dry-run"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("högst 10000 rader"), "{}", stderr(&o));
    // A million rows: refused by the file's size before it is read.
    let mut big = Vec::with_capacity(30 << 20);
    big.extend_from_slice(b"Namn;Kategori;Belopp\r\n");
    for n in 0..1_000_000 {
        big.extend_from_slice(format!("Rad {n};Administration;100\r\n").as_bytes());
    }
    let file = write(&dir, "miljon.csv", &big);
    let o = import_budget(&store, &file, &["--dry-run"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("miljon.csv") && stderr(&o).contains("5"), "{}", stderr(&o));
}

#[test]
fn a_suppliers_refund_of_a_credit_note_is_matched_to_the_invoice_it_left_owed_back() {
    let dir = TempDir::new("import-refund");
    let store = store_with(&dir, &fixtures_through("30").iter().map(String::as_str).collect::<Vec<_>>());
    let lines = [
        r#"{"type":"InvoiceReceived","forbund":"sf-vastmanland","date":"2024-05-10","year":2024,"invoice":"f-100","supplier":"Konsult AB","line":"styrelse","amount":"100000","due":"2024-06-09","reference":"F-100","text":"arvoden maj"}"#,
        r#"{"type":"InvoicePaid","forbund":"sf-vastmanland","date":"2024-06-01","invoice":"f-100","amount":"100000","reference":"bank"}"#,
        r#"{"type":"InvoiceReceived","forbund":"sf-vastmanland","date":"2024-06-05","year":2024,"invoice":"k-7","supplier":"Konsult AB","amount":"-10000","credits":"f-100","reference":"K-7","text":"för mycket fakturerat"}"#,
    ];
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], &lines.join("\n")), 0);
    let pay = [Payment {
        date: "2024-06-20".parse().unwrap(),
        ore: 1_000_000,
        id: "R1".into(),
        counterparty: "KONSULT AB".into(),
        ocr: None,
        text: Some("Återbetalning kreditnota K-7".into()),
    }];
    let file = write(&dir, "in.xml", camt053("02", ACCOUNT, "IN-1", 0, &pay).as_bytes());
    let o = import(&store, &file, &["--as", "kansli"]);
    assert_exit(&o, 0);
    let answer: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let item = &answer["items"][0];
    assert_eq!(item["status"], "recorded", "{answer:#}");
    assert_eq!(
        (item["events"][0]["type"].as_str(), item["events"][0]["amount"].as_str()),
        (Some("InvoicePaid"), Some("-10000"))
    );
    assert!(item["reason"].as_str().unwrap().contains("kreditnota"), "{item:#}");
    // Nothing is owed either way now.
    assert!(account_balances(&store, "sf-vastmanland", "2024-12-31").get("2440").is_none_or(|a| a.is_zero()));
}

/// A minimal OpenDocument spreadsheet: the rows as cells of one table, amounts as float cells.
fn ods(rows: &[Vec<(&str, bool)>]) -> Vec<u8> {
    use std::io::Write;
    let mut body = String::new();
    for row in rows {
        body.push_str("<table:table-row>");
        for (cell, number) in row {
            if cell.is_empty() {
                body.push_str("<table:table-cell/>");
            } else if *number {
                body.push_str(&format!(r#"<table:table-cell office:value-type="float" office:value="{cell}"><text:p>{cell}</text:p></table:table-cell>"#));
            } else {
                body.push_str(&format!(
                    r#"<table:table-cell office:value-type="string"><text:p>{cell}</text:p></table:table-cell>"#
                ));
            }
        }
        body.push_str("</table:table-row>");
    }
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Budget">{body}</table:table></office:spreadsheet></office:body></office:document-content>"#
    );
    let manifest = r#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("mimetype", stored).unwrap();
    zip.write_all(b"application/vnd.oasis.opendocument.spreadsheet").unwrap();
    zip.start_file("META-INF/manifest.xml", stored).unwrap();
    zip.write_all(manifest.as_bytes()).unwrap();
    zip.start_file("content.xml", stored).unwrap();
    zip.write_all(content.as_bytes()).unwrap();
    zip.finish().unwrap().into_inner()
}

#[test]
fn a_budget_ods_imports_to_the_same_budget() {
    let dir = TempDir::new("import-budget-ods");
    let (store, _) = store_before_the_budget(&dir);
    let mut rows: Vec<Vec<(&str, bool)>> = vec![HEADINGS.iter().map(|h| (*h, false)).collect()];
    let budget = budget_rows();
    for row in &budget {
        let section = row[1].is_empty() && !row[0].is_empty();
        let mut cells: Vec<(&str, bool)> = row.iter().enumerate().map(|(c, x)| (x.as_str(), c == 6)).collect();
        if section {
            cells.swap(0, 1);
        }
        rows.push(cells);
    }
    let file = write(&dir, "budget-2024.ods", &ods(&rows));
    let o = import_budget(&store, &file, &["--dry-run"]);
    assert_exit(&o, 0);
    let answer: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(decided(&answer["event"]), decided(&fixture_budget()));
}
