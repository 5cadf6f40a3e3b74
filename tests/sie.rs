//! SIE 4 export: the golden checksum reproduced with our own CRC, every export accepted by the
//! independent checker, every voucher balanced, IB/UB/RES equal to `finsam balances`, the five
//! sample files from other programs read without error, and Swedish names round-tripping.

use crate::support::*;
use finsam_domain::Amount;
use finsam_sie::format::Field;
use std::collections::BTreeMap;
use std::path::Path;

fn reference(path: &str) -> std::path::PathBuf {
    root().join("tests/sie-reference").join(path.trim_start_matches("sie/"))
}

fn ksumma_check(file: &Path) -> String {
    let o = std::process::Command::new("python3")
        .arg(reference("sie/ksumma_check.py"))
        .arg(file)
        .output()
        .expect("python3 runs");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "the independent checker accepts {}: {out}", file.display());
    out
}

fn export(store: &Path, dir: &TempDir, forbund: &str, year: i32, kind: &str) -> std::path::PathBuf {
    let out = dir.0.join(format!("{forbund}-{year}.{kind}"));
    let o = finsam(
        store,
        &["export", "sie", "--forbund", forbund, "--year", &year.to_string(), "--type", kind, out.to_str().unwrap()],
        "",
    );
    assert_exit(&o, 0);
    out
}

/// `#TRANS account {objects} amount …`: the amount, with the object list in its place.
fn trans_amount(t: &finsam_sie::format::Record) -> Amount {
    assert!(matches!(t.fields.get(1), Some(Field::Objects(_))), "#TRANS has its object list: {t:?}");
    kr(t.item(2).expect("#TRANS has an amount"))
}

fn kr(text: &str) -> Amount {
    Amount::parse(text).unwrap_or_else(|e| panic!("{text:?} is an SIE amount: {}", e.0))
}

#[test]
fn our_crc_reproduces_the_golden_files_checksum() {
    let golden = std::fs::read(reference("sie/golden.se")).expect("shared/sie/golden.se");
    let file = finsam_sie::parse(&golden).unwrap();
    assert_eq!(file.ksumma, Some((1_400_622_401, 1_400_622_401)));
    assert_eq!(file.vers.len(), 1);
}

#[test]
fn the_five_sample_files_from_other_programs_read_without_error() {
    let mut read = 0;
    for entry in std::fs::read_dir(reference("sie/samples")).expect("shared/sie/samples") {
        let path = entry.unwrap().path();
        let file =
            finsam_sie::parse(&std::fs::read(&path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!file.records.is_empty(), "{}", path.display());
        if let Some((declared, computed)) = file.ksumma {
            assert_eq!(declared, computed, "{}: our checksum agrees with the file's", path.display());
        }
        read += 1;
    }
    assert_eq!(read, 5);
}

#[test]
fn the_2024_export_of_samordningsforbundet_vastmanland_passes_every_check() {
    let dir = TempDir::new("sie");
    let store = fixture_store(&dir);
    let se = export(&store, &dir, "sf-vastmanland", 2024, "4e");
    let si = export(&store, &dir, "sf-vastmanland", 2024, "4i");
    ksumma_check(&se);
    ksumma_check(&si);
    let bytes = std::fs::read(&se).unwrap();
    assert!(bytes.windows(2).filter(|w| w == b"\r\n").count() > 100, "CRLF line ends");
    assert!(!bytes.contains(&0xc3), "CP437, not UTF-8");
    let file = finsam_sie::parse(&bytes).unwrap();
    let (declared, computed) = file.ksumma.unwrap();
    assert_eq!(declared, computed);
    // Every voucher balances, and there is one per voucher of the books.
    let balances = |as_of: &str| account_balances(&store, "sf-vastmanland", as_of);
    let year_end = balances("2024-12-31");
    let o =
        finsam(&store, &["balances", "--forbund", "sf-vastmanland", "--as-of", "2024-12-31", "--format", "json"], "");
    let vouchers = serde_json::from_str::<serde_json::Value>(&stdout(&o)).unwrap()["vouchers"].as_u64().unwrap();
    assert_eq!(file.vers.len() as u64, vouchers);
    for v in &file.vers {
        let sum: Amount = v.trans.iter().map(trans_amount).sum();
        assert!(sum.is_zero(), "#VER {:?} sums to {sum}", v.head.item(1));
    }
    // #UB 0 and #RES 0 equal the balances at year end; #IB 0 those at the year's start.
    let start = balances("2023-12-31");
    let mut ub = 0;
    for r in &file.records {
        let (year, account, value) = (r.item(0).unwrap_or(""), r.item(1).unwrap_or(""), r.item(2).unwrap_or("0"));
        match (r.label.as_str(), year) {
            ("#UB", "0") | ("#RES", "0") => {
                assert_eq!(kr(value), year_end.get(account).copied().unwrap_or_default(), "{} {account}", r.label);
                ub += usize::from(r.label == "#UB");
            }
            ("#IB", "0") => assert_eq!(kr(value), start.get(account).copied().unwrap_or_default(), "#IB {account}"),
            _ => {}
        }
    }
    assert!(ub >= 2, "#UB 0 for the bank and the equity received");
    // #PBUDGET: one row per (period, account, objects), so a last-one-wins reader gets the
    // budget; the account rows ({}) add up to the cost lines and (credit) the income lines; the
    // rows of each insats to its line.
    let items = independent_read(&se);
    let mut keys = std::collections::BTreeSet::new();
    let (mut costs, mut income) = (Amount::ZERO, Amount::ZERO);
    let mut by_insats: BTreeMap<String, Amount> = BTreeMap::new();
    for r in items.iter().filter(|i| i.label == "#PBUDGET") {
        let objects = match &r.fields[3].value {
            sie_parser::FieldValue::ObjectList { tokens } => tokens.clone(),
            other => panic!("#PBUDGET has its object list: {other:?}"),
        };
        let key = (field(r, 0), field(r, 1), field(r, 2), objects.clone());
        assert!(keys.insert(key.clone()), "#PBUDGET {key:?} twice");
        let a = kr(&field(r, 4));
        match (objects.as_slice(), field(r, 2).starts_with('3')) {
            ([], true) => income += a,
            ([], false) => costs += a,
            ([dim, insats], _) if dim == "6" => *by_insats.entry(insats.clone()).or_default() += a,
            (other, _) => panic!("#PBUDGET with objects {other:?}"),
        }
    }
    assert_eq!((costs.canonical(), income.canonical()), ("20983000".into(), "-19038000".into()));
    let o = finsam(&store, &["budget", "--forbund", "sf-vastmanland", "--year", "2024", "--format", "json"], "");
    let budget: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    for line in budget["lines"].as_array().unwrap().iter().filter(|l| l["insats"].is_string()) {
        let got = by_insats.get(line["insats"].as_str().unwrap()).copied().unwrap_or_default();
        assert_eq!(got, kr(line["budget"].as_str().unwrap()), "#PBUDGET of {}", line["insats"]);
    }
    // A contribution names its member, as an object of its own dimension (20, Medlem).
    assert!(items.iter().any(|i| i.label == "#DIM" && field(i, 0) == "20" && field(i, 1) == "Medlem"));
    let contributions: Vec<&sie_parser::Item> = items
        .iter()
        .filter(|i| i.label == "#VER" && field(i, 3).starts_with("Medlemsbidrag"))
        .flat_map(|v| v.children.iter().filter(|t| field(t, 0).starts_with("35")))
        .collect();
    assert!(!contributions.is_empty());
    for t in contributions {
        assert!(
            matches!(&t.fields[1].value, sie_parser::FieldValue::ObjectList { tokens } if tokens.len() == 2 && tokens[0] == "20"),
            "{t:?}"
        );
    }
    // The same log gives the same file.
    let again = dir.0.join("again.se");
    let o = finsam(
        &store,
        &["export", "sie", "--forbund", "sf-vastmanland", "--year", "2024", again.to_str().unwrap()],
        "",
    );
    assert_exit(&o, 0);
    assert_eq!(std::fs::read(&again).unwrap(), bytes);
    let o = finsam(
        &store,
        &["export", "sie", "--forbund", "sf-vastmanland", "--year", "2024", again.to_str().unwrap()],
        "",
    );
    assert_exit(&o, 2);
}

#[test]
fn a_generated_log_exports_and_checks_too() {
    let dir = TempDir::new("sie-generated");
    let store = dir.store();
    assert_exit(&finsam(&store, &["init"], ""), 0);
    let g = finsam(&store, &["generate", "--forbund", "2", "--years", "3", "--seed", "3"], "");
    assert_exit(&finsam(&store, &["record", "--as", "gen", "--batch-size", "5000", "-"], &stdout(&g)), 0);
    for year in [2005, 2006, 2007] {
        let se = export(&store, &dir, "sf-gen-001", year, "4e");
        ksumma_check(&se);
        let figures = sie_figures(&independent_read(&se));
        for idx in ["0", "-1"] {
            assert_identities(&figures, idx, &format!("sf-gen-001 {year}"));
        }
        let file = finsam_sie::parse(&std::fs::read(&se).unwrap()).unwrap();
        for v in &file.vers {
            let sum: Amount = v.trans.iter().map(trans_amount).sum();
            assert!(sum.is_zero());
        }
    }
}

#[test]
fn names_with_swedish_letters_quotes_and_spaces_round_trip() {
    let dir = TempDir::new("sie-names");
    let name = r#"Samordningsförbundet "Åre Älvdal Öst" – test"#;
    let registration = fixture("00-forbund.jsonl")
        .lines()
        .last()
        .unwrap()
        .replace("Samordningsförbundet Västmanland", &name.replace('"', "\\\""));
    let insats = r#"{"type":"InsatsCreated","forbund":"sf-vastmanland","date":"2024-01-01","insats":"ett-team","name":"Teamet \"Lyftet\" i Ölme","category":"individ","decision":{"body":"styrelsen","date":"2024-01-01"}}"#;
    let store = store_with(&dir, &[&registration, insats]);
    let se = export(&store, &dir, "sf-vastmanland", 2024, "4e");
    ksumma_check(&se);
    let file = finsam_sie::parse(&std::fs::read(&se).unwrap()).unwrap();
    let fnamn = file.records.iter().find(|r| r.label == "#FNAMN").unwrap();
    assert_eq!(fnamn.item(0), Some(r#"Samordningsförbundet "Åre Älvdal Öst" - test"#), "the en dash is CP437's -");
    let objekt = file.records.iter().find(|r| r.label == "#OBJEKT").unwrap();
    assert_eq!((objekt.item(1), objekt.item(2)), (Some("ett-team"), Some(r#"Teamet "Lyftet" i Ölme"#)));
}

/// An export as the independent SIE reader (the `sie-parser` crate) tokenises it, after
/// asserting that it reports nothing about the file.
fn independent_read(path: &Path) -> Vec<sie_parser::Item> {
    let text = sie_parser::read_file(path).unwrap();
    let out = sie_parser::parse(&text);
    let problems: Vec<String> = out.diagnostics.iter().map(|d| format!("{}: {}", d.code, d.message)).collect();
    assert!(problems.is_empty(), "{}: the independent reader reports {problems:?}", path.display());
    out.items
}

fn field(item: &sie_parser::Item, i: usize) -> String {
    item.fields.get(i).and_then(|f| f.value.as_str()).unwrap_or_default().to_string()
}

/// What the independent reader read: #IB, #UB and #RES per (year, account), and Σ#TRANS per
/// account over the vouchers.
#[derive(Default)]
struct SieFigures {
    ib: BTreeMap<(String, String), Amount>,
    ub: BTreeMap<(String, String), Amount>,
    res: BTreeMap<(String, String), Amount>,
    trans: BTreeMap<String, Amount>,
    texts: Vec<String>,
}

fn sie_figures(items: &[sie_parser::Item]) -> SieFigures {
    let mut f = SieFigures::default();
    for item in items {
        let key = (field(item, 0), field(item, 1));
        match item.label.as_str() {
            "#IB" => *f.ib.entry(key).or_default() += kr(&field(item, 2)),
            "#UB" => *f.ub.entry(key).or_default() += kr(&field(item, 2)),
            "#RES" => *f.res.entry(key).or_default() += kr(&field(item, 2)),
            "#VER" => {
                f.texts.push(field(item, 3));
                for t in item.children.iter().filter(|c| c.label == "#TRANS") {
                    *f.trans.entry(field(t, 0)).or_default() += kr(&field(t, 2));
                }
            }
            _ => {}
        }
    }
    f
}

/// The balance identities of SIE for year `idx` ("0" or "-1") of a file: Σ#IB = 0,
/// Σ#UB + Σ#RES = 0, and for year 0 (whose vouchers the file holds) #IB + Σ#TRANS = #UB per
/// balance account and Σ#TRANS = #RES per result account.
fn assert_identities(f: &SieFigures, idx: &str, what: &str) {
    let of = |map: &BTreeMap<(String, String), Amount>| -> BTreeMap<String, Amount> {
        map.iter().filter(|((y, _), _)| y == idx).map(|((_, a), v)| (a.clone(), *v)).collect()
    };
    let (ib, ub, res) = (of(&f.ib), of(&f.ub), of(&f.res));
    let sum = |m: &BTreeMap<String, Amount>| -> Amount { m.values().copied().sum() };
    assert!(sum(&ib).is_zero(), "{what}: Σ#IB {idx} is {}", sum(&ib));
    assert!((sum(&ub) + sum(&res)).is_zero(), "{what}: Σ#UB + Σ#RES for year {idx} is {}", sum(&ub) + sum(&res));
    if idx != "0" {
        return;
    }
    for (account, closing) in &ub {
        let moved = f.trans.get(account).copied().unwrap_or_default();
        let opening = ib.get(account).copied().unwrap_or_default();
        assert_eq!(opening + moved, *closing, "{what}: #IB + Σ#TRANS = #UB for {account}");
    }
    for (account, moved) in &f.trans {
        if !ub.contains_key(account) {
            assert_eq!(res.get(account).copied().unwrap_or_default(), *moved, "{what}: Σ#TRANS = #RES for {account}");
        }
    }
    for account in res.keys() {
        assert!(!ub.contains_key(account), "{what}: {account} is both a balance and a result account");
    }
}

#[test]
fn every_year_of_the_fixtures_balances_in_sie_closed_years_included() {
    let dir = TempDir::new("sie-years");
    let store = fixture_store(&dir);
    let mut checked = Vec::new();
    for (forbund, years) in [
        ("sf-vasteras", 2021..=2024),
        ("sf-vastra-malardalen", 2021..=2024),
        ("sf-norra-vastmanland", 2021..=2024),
        ("sf-vastmanland", 2024..=2024),
    ] {
        for year in years {
            let se = export(&store, &dir, forbund, year, "4e");
            ksumma_check(&se);
            let items = independent_read(&se);
            assert!(!items.iter().any(|i| i.label == "#KPTYP"), "no #KPTYP: finsam's chart is not a BAS chart");
            let figures = sie_figures(&items);
            for idx in ["0", "-1"] {
                assert_identities(&figures, idx, &format!("{forbund} {year}"));
            }
            checked.push(format!("{forbund} {year}"));
        }
    }
    assert_eq!(checked.len(), 13);
    // Each year's result is in #RES once, equal to finsam's; closed years (Västerås and Norra
    // Västmanland 2023 among them) export no closing voucher.
    for name in &checked {
        let (forbund, year) = name.split_once(' ').unwrap();
        let f = sie_figures(&independent_read(&dir.0.join(format!("{forbund}-{year}.4e"))));
        let res: Amount = f.res.iter().filter(|((y, _), _)| y == "0").map(|(_, v)| *v).sum();
        let o = finsam(
            &store,
            &["balances", "--forbund", forbund, "--as-of", &format!("{year}-12-31"), "--format", "json"],
            "",
        );
        let b: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!((-res).canonical(), b["result"].as_str().unwrap(), "{name}: the year's result (income − costs)");
        assert!(!f.texts.iter().any(|t| t.starts_with("Årets resultat")), "{name}: no closing voucher as #VER");
    }
    // An outlook is not an adopted budget: no #PBUDGET for Västerås 2022 (an outlook in the 2021
    // plan); an adopted one is exported (Norra Västmanland 2022).
    let pbudgets = |name: &str| independent_read(&dir.0.join(name)).iter().filter(|i| i.label == "#PBUDGET").count();
    assert_eq!(pbudgets("sf-vasteras-2022.4e"), 0);
    assert!(pbudgets("sf-norra-vastmanland-2022.4e") > 0);
    // An opening balance is an #IB, not a voucher: Västerås opens 2021 with 8 241 000 in the bank.
    let items = independent_read(&dir.0.join("sf-vasteras-2021.4e"));
    let ib: Vec<(String, String)> =
        items.iter().filter(|i| i.label == "#IB" && field(i, 0) == "0").map(|i| (field(i, 1), field(i, 2))).collect();
    assert!(ib.contains(&("1930".into(), "8241000.00".into())), "{ib:?}");
    assert!(ib.contains(&("2010".into(), "-8241000.00".into())), "{ib:?}");
    assert!(!sie_figures(&items).texts.iter().any(|t| t == "Ingående balans"));
    let closed = |forbund: &str| {
        let o = finsam(&store, &["log", "--format", "json"], "");
        stdout(&o).contains(&format!("\"type\":\"YearClosed\",\"forbund\":\"{forbund}\""))
    };
    assert!(closed("sf-vasteras") && closed("sf-norra-vastmanland"), "the fixtures close years");
}

/// What a file declares and uses of objects, and its `#PSALDO`, as the independent reader reads
/// them; asserts that every object a `#TRANS` or `#PSALDO` names is declared by an `#OBJEKT` of
/// a declared `#DIM`. Returns the number of object references checked.
fn assert_objects_declared(items: &[sie_parser::Item], what: &str) -> usize {
    let dims: std::collections::BTreeSet<String> =
        items.iter().filter(|i| i.label == "#DIM").map(|i| field(i, 0)).collect();
    let declared: std::collections::BTreeSet<(String, String)> =
        items.iter().filter(|i| i.label == "#OBJEKT").map(|i| (field(i, 0), field(i, 1))).collect();
    for (dim, id) in &declared {
        assert!(dims.contains(dim), "{what}: #OBJEKT {dim} {id} of an undeclared #DIM");
    }
    let mut used = 0;
    let records = items.iter().flat_map(|i| std::iter::once(i).chain(i.children.iter()));
    for r in records.filter(|r| r.label == "#TRANS" || r.label == "#PSALDO") {
        let at = if r.label == "#TRANS" { 1 } else { 3 };
        let sie_parser::FieldValue::ObjectList { tokens } = &r.fields[at].value else {
            panic!("{what}: {} without its object list", r.label)
        };
        for pair in tokens.chunks(2) {
            let object = (pair[0].clone(), pair[1].clone());
            assert!(declared.contains(&object), "{what}: {} uses {object:?}, which no #OBJEKT declares", r.label);
            used += 1;
        }
    }
    used
}

/// `#PSALDO` (the change in a month) against the year's figures: per balance account
/// `#IB` + Σ`#PSALDO {}` = `#UB`, per result account Σ`#PSALDO {}` = `#RES`, for years 0 and -1;
/// for year 0 each month's `{}` row is that month's `#TRANS`, and each object's rows are its
/// `#TRANS`. Returns the number of rows read.
fn assert_psaldo(items: &[sie_parser::Item], year: i32, what: &str) -> usize {
    let f = sie_figures(items);
    // (year, account) -> Σ; (period, account, objects) -> amount
    let mut by_year: BTreeMap<(String, String), Amount> = BTreeMap::new();
    let mut rows: BTreeMap<(String, String, Vec<String>), Amount> = BTreeMap::new();
    for r in items.iter().filter(|i| i.label == "#PSALDO") {
        let sie_parser::FieldValue::ObjectList { tokens } = &r.fields[3].value else { panic!("{what}: {r:?}") };
        let (year_no, period, account, a) = (field(r, 0), field(r, 1), field(r, 2), kr(&field(r, 4)));
        let expected_year = if year_no == "0" { year } else { year - 1 };
        assert_eq!(period[..4].parse::<i32>().unwrap(), expected_year, "{what}: #PSALDO {year_no} {period}");
        assert!(rows.insert((period.clone(), account.clone(), tokens.clone()), a).is_none(), "{what}: one row each");
        if tokens.is_empty() {
            *by_year.entry((year_no, account)).or_default() += a;
        }
    }
    for year_no in ["0", "-1"] {
        let of = |m: &BTreeMap<(String, String), Amount>, account: &str| {
            m.get(&(year_no.to_string(), account.to_string())).copied().unwrap_or_default()
        };
        let accounts: std::collections::BTreeSet<String> =
            f.ub.keys()
                .chain(f.res.keys())
                .chain(by_year.keys())
                .filter(|(y, _)| y == year_no)
                .map(|(_, a)| a.clone())
                .collect();
        for account in accounts {
            let moved = of(&by_year, &account);
            if f.ub.contains_key(&(year_no.to_string(), account.clone())) {
                assert_eq!(
                    of(&f.ib, &account) + moved,
                    of(&f.ub, &account),
                    "{what} {year_no}: #IB + Σ#PSALDO = #UB for {account}"
                );
            } else {
                assert_eq!(moved, of(&f.res, &account), "{what} {year_no}: Σ#PSALDO = #RES for {account}");
            }
        }
    }
    // Year 0 month by month and object by object, from the vouchers.
    let mut from_trans: BTreeMap<(String, String, Vec<String>), Amount> = BTreeMap::new();
    for v in items.iter().filter(|i| i.label == "#VER") {
        let period = field(v, 2)[..6].to_string();
        for t in v.children.iter().filter(|c| c.label == "#TRANS") {
            let sie_parser::FieldValue::ObjectList { tokens } = &t.fields[1].value else { panic!() };
            let (account, a) = (field(t, 0), kr(&field(t, 2)));
            *from_trans.entry((period.clone(), account.clone(), Vec::new())).or_default() += a;
            for pair in tokens.chunks(2) {
                *from_trans.entry((period.clone(), account.clone(), pair.to_vec())).or_default() += a;
            }
        }
    }
    from_trans.retain(|_, a| !a.is_zero());
    let this_year: BTreeMap<_, _> =
        rows.iter().filter(|((p, ..), _)| p.starts_with(&year.to_string())).map(|(k, v)| (k.clone(), *v)).collect();
    assert_eq!(this_year, from_trans, "{what}: #PSALDO 0 is the month's #TRANS per account and object");
    rows.len()
}

#[test]
fn every_object_is_declared_in_4e_and_4i_and_psaldo_adds_up_month_by_month() {
    let dir = TempDir::new("sie-objects");
    let store = fixture_store(&dir);
    let (mut objects, mut psaldo) = (0, 0);
    let mut check = |store: &Path, dir: &TempDir, forbund: &str, year: i32| {
        let se = export(store, dir, forbund, year, "4e");
        let si = export(store, dir, forbund, year, "4i");
        ksumma_check(&se);
        ksumma_check(&si);
        let (e, i) = (independent_read(&se), independent_read(&si));
        objects += assert_objects_declared(&e, &format!("{forbund} {year} 4E"));
        objects += assert_objects_declared(&i, &format!("{forbund} {year} 4I"));
        assert!(!i.iter().any(|r| r.label == "#PSALDO" || r.label == "#IB"), "4I holds no balances");
        psaldo += assert_psaldo(&e, year, &format!("{forbund} {year}"));
    };
    for (forbund, years) in
        [("sf-vasteras", 2021..=2024), ("sf-norra-vastmanland", 2022..=2023), ("sf-vastmanland", 2024..=2024)]
    {
        for year in years {
            check(&store, &dir, forbund, year);
        }
    }
    let generated = TempDir::new("sie-objects-generated");
    let gstore = generated.store();
    assert_exit(&finsam(&gstore, &["init"], ""), 0);
    let g = finsam(&gstore, &["generate", "--forbund", "2", "--years", "2", "--seed", "5"], "");
    assert_exit(&finsam(&gstore, &["record", "--as", "gen", "--batch-size", "5000", "-"], &stdout(&g)), 0);
    check(&gstore, &generated, "sf-gen-002", 2006);
    assert!(objects > 500 && psaldo > 300, "{objects} object references, {psaldo} #PSALDO rows checked");
}
