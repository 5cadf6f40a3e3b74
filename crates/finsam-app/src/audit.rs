//! The revisor's commands: verify, digest, bundle.

use crate::output::{emit, say, Failure};
use crate::reports::{self, TrailFilter};
use crate::Format;
use chrono::NaiveDate;
use finsam_projections::reconcile::{reconcile, Options};
use finsam_projections::{At, Chart};
use finsam_store::{open_view, verify as verify_store, Digest};
use serde_json::json;
use std::path::Path;

use crate::reports::Books;
use finsam_store::files::{write_bundle, BundleFile};

/// What a bundle carries besides the log and the reports: the contract and the verifier.
pub const BUNDLED: &[(&str, &str)] = &[
    ("events/AccrualRecorded.schema.json", include_str!("../../../events/AccrualRecorded.schema.json")),
    ("events/ForecastRecorded.schema.json", include_str!("../../../events/ForecastRecorded.schema.json")),
    ("events/PayrollRecorded.schema.json", include_str!("../../../events/PayrollRecorded.schema.json")),
    ("events/ReportTextRecorded.schema.json", include_str!("../../../events/ReportTextRecorded.schema.json")),
    ("events/AnnualReportAdopted.schema.json", include_str!("../../../events/AnnualReportAdopted.schema.json")),
    ("events/AuditReportRecorded.schema.json", include_str!("../../../events/AuditReportRecorded.schema.json")),
    ("events/DischargeDecided.schema.json", include_str!("../../../events/DischargeDecided.schema.json")),
    ("events/PayrollLiabilitiesPaid.schema.json", include_str!("../../../events/PayrollLiabilitiesPaid.schema.json")),
    ("events/BalancesTakenOver.schema.json", include_str!("../../../events/BalancesTakenOver.schema.json")),
    ("events/BudgetAdopted.schema.json", include_str!("../../../events/BudgetAdopted.schema.json")),
    ("events/ContributionDecided.schema.json", include_str!("../../../events/ContributionDecided.schema.json")),
    ("events/ContributionReceived.schema.json", include_str!("../../../events/ContributionReceived.schema.json")),
    ("events/CostRecorded.schema.json", include_str!("../../../events/CostRecorded.schema.json")),
    ("events/EquityTransferred.schema.json", include_str!("../../../events/EquityTransferred.schema.json")),
    ("events/MembersChanged.schema.json", include_str!("../../../events/MembersChanged.schema.json")),
    ("events/InsatsChanged.schema.json", include_str!("../../../events/InsatsChanged.schema.json")),
    ("events/RegistrationCorrected.schema.json", include_str!("../../../events/RegistrationCorrected.schema.json")),
    ("events/EventCorrected.schema.json", include_str!("../../../events/EventCorrected.schema.json")),
    ("events/UnderlagAttached.schema.json", include_str!("../../../events/UnderlagAttached.schema.json")),
    ("events/ForbundDissolved.schema.json", include_str!("../../../events/ForbundDissolved.schema.json")),
    ("events/InvoicePaid.schema.json", include_str!("../../../events/InvoicePaid.schema.json")),
    ("events/InvoiceReceived.schema.json", include_str!("../../../events/InvoiceReceived.schema.json")),
    ("events/ForbundRegistered.schema.json", include_str!("../../../events/ForbundRegistered.schema.json")),
    ("events/FundingChanged.schema.json", include_str!("../../../events/FundingChanged.schema.json")),
    ("events/FundingGranted.schema.json", include_str!("../../../events/FundingGranted.schema.json")),
    ("events/InsatsCreated.schema.json", include_str!("../../../events/InsatsCreated.schema.json")),
    ("events/MergerDecided.schema.json", include_str!("../../../events/MergerDecided.schema.json")),
    ("events/OpeningBalanceRecorded.schema.json", include_str!("../../../events/OpeningBalanceRecorded.schema.json")),
    ("events/OtherIncomeRecorded.schema.json", include_str!("../../../events/OtherIncomeRecorded.schema.json")),
    ("events/YearClosed.schema.json", include_str!("../../../events/YearClosed.schema.json")),
    ("events/common.schema.json", include_str!("../../../events/common.schema.json")),
    ("events/envelope.schema.json", include_str!("../../../events/envelope.schema.json")),
    ("events/event.schema.json", include_str!("../../../events/event.schema.json")),
    ("events/verify_chain.py", include_str!("../../../events/verify_chain.py")),
    ("events/books.py", include_str!("../../../events/books.py")),
    ("events/POSTING.md", include_str!("../../../events/POSTING.md")),
    ("events/CANONICAL.md", include_str!("../../../events/CANONICAL.md")),
];

pub fn verify(store: &Path, digests: &[String], format: Format) -> Result<bool, Failure> {
    let digests: Vec<Digest> =
        digests.iter().map(|d| Digest::parse(d)).collect::<Result<_, _>>().map_err(Failure::usage)?;
    let r = verify_store(store, &digests)?;
    verified(&store.display().to_string(), &r, &digests, None, format)
}

/// `finsam --database URL audit verify`: the log a database holds, checked as a file's is, and
/// each service instance's access log there.
pub fn verify_database(url: &str, digests: &[String], format: Format) -> Result<bool, Failure> {
    let digests: Vec<Digest> =
        digests.iter().map(|d| Digest::parse(d)).collect::<Result<_, _>>().map_err(Failure::usage)?;
    let r = finsam_store::verify::verify_database(url, &digests)?;
    let access = finsam_store::pg::Directory::reading(url)?.verify_access()?;
    verified(&finsam_store::pg::label(url), &r, &digests, Some(&access), format)
}

fn verified(
    store: &str,
    r: &finsam_store::VerifyReport,
    digests: &[Digest],
    access: Option<&[(String, finsam_store::access::AccessReport)]>,
    format: Format,
) -> Result<bool, Failure> {
    let head = r.head.clone().unwrap_or_else(finsam_store::Head::genesis);
    let first_bad = r.problems.first().map(|(seq, _)| *seq);
    let access_ok = access.is_none_or(|a| a.iter().all(|(_, report)| report.problem.is_none()));
    match format {
        Format::Json => {
            let problems: Vec<_> = r.problems.iter().map(|(seq, p)| json!({"seq": seq, "problem": p})).collect();
            let mut body = json!({"ok": r.ok() && access_ok, "events": r.events, "head": {"seq": head.seq, "hash": head.hash},
                "bytes": r.bytes, "first_bad_seq": first_bad, "problems": problems, "notes": r.notes,
                "digests_checked": digests.len(), "derived_state_checked": r.derived_checked});
            if let Some(access) = access {
                body["access_logs"] = access
                    .iter()
                    .map(|(instance, a)| json!({"instance": instance, "lines": a.lines, "head": a.head, "problem": a.problem}))
                    .collect();
            }
            emit(&format!("{}\n", serde_json::to_string_pretty(&body).expect("serialises")));
        }
        Format::Table | Format::Csv | Format::Html => {
            let mut out = say(
                format!("Verifierade {store}: {} händelse(r) på {} byte; huvud {}\n", r.events, r.bytes, head),
                format!("Verified {store}: {} event(s) in {} byte(s); head {}\n", r.events, r.bytes, head),
            );
            if r.ok() {
                out.push_str(&say(
                    "  hashkedjan och löpnumren: ok\n  händelsernas scheman och bokföringsreglerna (ny uppspelning): ok\n  varje verifikation balanserar: ok\n",
                    "  hash chain and seq continuity: ok\n  event schemas and ledger rules (fresh replay): ok\n  every voucher balances: ok\n",
                ));
                out.push_str(&say(
                    format!("  kontrollsummor (digest): {} kontrollerade, ok\n", digests.len()),
                    format!("  digests: {} checked, ok\n", digests.len()),
                ));
                if r.derived_checked {
                    out.push_str(&say(
                        "  det härledda tillståndet stämmer med den nya uppspelningen: ok\n",
                        "  derived state agrees with the fresh replay: ok\n",
                    ));
                }
            }
            for (instance, a) in access.unwrap_or_default() {
                out.push_str(&match &a.problem {
                    None => say(
                        format!("  åtkomstloggen från instansen {instance}: {} rad(er), kedjan hel: ok\n", a.lines),
                        format!("  access log of instance {instance}: {} line(s), chain intact: ok\n", a.lines),
                    ),
                    Some(p) => say(
                        format!("  åtkomstloggen från instansen {instance}: FEL, {p}\n"),
                        format!("  access log of instance {instance}: PROBLEM, {p}\n"),
                    ),
                });
            }
            for n in &r.notes {
                out.push_str(&say(format!("  anm.: {n}\n"), format!("  note: {n}\n")));
            }
            if let Some(seq) = first_bad {
                out.push_str(&say(
                    format!("PROBLEM (första felaktiga löpnummer {seq}):\n"),
                    format!("PROBLEMS (first bad seq {seq}):\n"),
                ));
                for (_, p) in &r.problems {
                    out.push_str(&format!("  {p}\n"));
                }
            } else if access_ok {
                out.push_str("OK\n");
            } else {
                out.push_str(&say("PROBLEM i en åtkomstlogg\n", "PROBLEMS in an access log\n"));
            }
            emit(&out);
        }
    }
    Ok(r.ok() && access_ok)
}

pub fn digest(store: &Path, format: Format) -> Result<(), Failure> {
    let head = finsam_store::read_log(store, 1, 0, &mut |_| Ok(()))?;
    match format {
        Format::Json => emit(&format!("{}\n", json!({"seq": head.seq, "hash": head.hash}))),
        Format::Table | Format::Csv | Format::Html => emit(&format!("{head}\n")),
    }
    Ok(())
}

fn lasmig(name: &str, forbund: &str, year: i32, head: &finsam_store::Head, files: &[(String, String)]) -> String {
    let mut listing = String::new();
    for (path, why) in files {
        listing.push_str(&format!("  {path:<44} {why}\n"));
    }
    format!(
        "Revisorns paket: {name} ({forbund}), räkenskapsåret {year}\n\
         Skapat av finsam {version} ur händelseloggen med huvud {seq}:{hash}\n\
         \n\
         Innehåll\n\
         {listing}\
         \n\
         Så kontrollerar du paketet. Det enda som behövs är Python 3 (inga andra program):\n\
         \n\
         1. Att ingen fil har ändrats sedan paketet skapades (varje fils SHA-256 mot MANIFEST), och att\n\
         \x20  rapporternas belopp stämmer med loggen: kontrollen räknar om varje kontos saldo per\n\
         \x20  31 december, varje budgetrads budget, beviljat och förbrukat samt årets händelser direkt ur\n\
         \x20  log.jsonl med konteringsreglerna i events/books.py (beskrivna i events/POSTING.md), och\n\
         \x20  jämför med både JSON- och textrapporterna. Varje avvikelse skrivs ut med beloppet den gäller:\n\
         \n\
         \x20    python3 events/verify_chain.py --manifest MANIFEST\n\
         \n\
         2. Att loggen är obruten och fortfarande börjar med exakt den historia som DIGEST beskriver:\n\
         \n\
         \x20    python3 events/verify_chain.py log.jsonl --digest {seq}:{hash}\n\
         \n\
         Varje rad i log.jsonl är en händelse. Dess \"hash\" är SHA-256 av radens egna byte utan\n\
         hash-fältet, och \"prev_hash\" är föregående rads hash: ändras, tas bort eller flyttas en rad\n\
         bryts kedjan. Jämför gärna DIGEST med en digest som tidigare antecknats i styrelsens protokoll\n\
         eller i revisionsberättelsen (kommandot `finsam audit digest`): stämmer den, har ingenting i\n\
         historien fram till den punkten ändrats, inte ens om någon räknat om alla hashar.\n\
         \n\
         Båda kommandona skriver OK eller BAD och avslutas med kod 0 (OK) eller 1 (BAD).\n\
         Rapporterna i reports/ finns både som JSON (för program) och som text (för läsning);\n\
         belopp anges i kronor.\n",
        version = env!("CARGO_PKG_VERSION"),
        seq = head.seq,
        hash = head.hash,
    )
}

pub fn bundle(store: &Path, forbund: &str, year: i32, out: &Path, _format: Format) -> Result<(), Failure> {
    let view = open_view(store)?;
    let (files, name, f) = bundle_files(store, (&view).into(), forbund, year)?;
    let head = &view.head;
    let written = write_bundle(store, out, head, files)?;
    emit(&format!(
        "wrote the revisor's bundle for {name} ({f}), {year}, to {}: {} files and MANIFEST; digest {head}\ncheck it with: cd {} && python3 events/verify_chain.py --manifest MANIFEST && python3 events/verify_chain.py log.jsonl --digest {head}\n",
        out.display(),
        written.files.len(),
        out.display()
    ));
    Ok(())
}

/// The bundle as one zip file (the service's download): the same files as `bundle` writes,
/// in a folder named after the förbund, the year and the head's seq; and that name.
pub fn bundle_zip(store: &Path, books: Books<'_>, forbund: &str, year: i32) -> Result<(Vec<u8>, String), Failure> {
    let (files, _, f) = bundle_files(store, books, forbund, year)?;
    let head = finsam_store::Head { seq: books.head, hash: books.head_hash.to_string() };
    let top = format!("finsam-{f}-{year}-{}", head.seq);
    Ok((finsam_store::files::zip_bundle(store, &top, &head, files)?, top))
}

/// The files of a bundle besides the log, DIGEST and MANIFEST; the förbund's name and id.
fn bundle_files(
    store: &Path,
    books: Books<'_>,
    forbund: &str,
    year: i32,
) -> Result<(Vec<BundleFile>, String, finsam_domain::Slug), Failure> {
    reports::check_year(year)?;
    let f = reports::parse_forbund(forbund)?;
    reports::check_forbund(books, &f)?;
    let year_end =
        NaiveDate::from_ymd_opt(year, 12, 31).ok_or_else(|| Failure::usage(format!("--year {year} is not a year")))?;
    let at = At { as_of: year_end, known_at: books.head };
    let head = finsam_store::Head { seq: books.head, hash: books.head_hash.to_string() };
    let p = books.projection;
    let name = p.forbund[&f].name.clone();
    let mut files: Vec<BundleFile> = BUNDLED
        .iter()
        .map(|(path, text)| BundleFile { path: path.to_string(), bytes: text.as_bytes().to_vec() })
        .collect();
    // The chart the reports use: the verifier maps roles to accounts with it.
    files.push(BundleFile { path: "chart.json".into(), bytes: finsam_projections::chart::DEFAULT_CHART.into() });
    let mut listing: Vec<(String, String)> = vec![
        ("log.jsonl".into(), "händelseloggen, hashkedjad (en JSON-rad per händelse)".into()),
        ("DIGEST".into(), "loggens huvud (seq:hash) när paketet skapades".into()),
        ("MANIFEST".into(), "SHA-256 för varje fil i paketet".into()),
        ("events/*.schema.json".into(), "händelsernas JSON-scheman (kontraktet v2)".into()),
        (
            "events/verify_chain.py".into(),
            "fristående kontroll av kedjan, digest, MANIFEST och rapporternas belopp".into(),
        ),
        ("events/books.py".into(), "konteringsreglerna i Python: räknar om rapporternas belopp ur loggen".into()),
        ("events/POSTING.md".into(), "konteringsreglerna i ord: vilka verifikationer varje händelse ger".into()),
        ("events/CANONICAL.md".into(), "den kanoniska raden: exakt hur en händelse skrivs i loggen".into()),
        ("chart.json".into(), "kontoplanen som rapporterna använder (roll → konto)".into()),
    ];
    let mut report = |stem: &str, why: &str, json_text: String, text: String| {
        files.push(BundleFile { path: format!("reports/{stem}.json"), bytes: json_text.into_bytes() });
        files.push(BundleFile { path: format!("reports/{stem}.txt"), bytes: text.into_bytes() });
        listing.push((format!("reports/{stem}.json, .txt"), why.to_string()));
    };
    let chart = Chart::default_chart();
    let balances = p.balances(&f, at, &chart).expect("checked that the förbund exists");
    report(
        &format!("saldon-{year}-12-31"),
        "saldobalans och nyckeltal per 31 december",
        reports::render_balances(&balances, &chart, head.seq, None, Format::Json),
        reports::render_balances(&balances, &chart, head.seq, None, Format::Table),
    );
    if let Some(position) = p.budget_position(&f, year, at) {
        report(
            &format!("budgetlage-{year}"),
            "budgetläge per rad: budget, beviljat, förbrukat",
            reports::render_budget(&position, head.seq, Format::Json),
            reports::render_budget(&position, head.seq, Format::Table),
        );
    }
    let filter = TrailFilter {
        forbund: Some(f.to_string()),
        insats: None,
        from: NaiveDate::from_ymd_opt(year, 1, 1),
        to: Some(year_end),
    };
    let rows = reports::trail_rows(store, books, filter)?;
    report(
        &format!("handelser-{year}"),
        "årets händelser i registreringsordning med beslut, verifikation och hash (audit trail)",
        reports::render_trail(&rows, Format::Json),
        reports::render_trail(&rows, Format::Table),
    );
    let events = reports::events_to_reconcile(store, p, at)?;
    let has_merger = p.mergers.iter().any(|m| m.forbund == f && m.date <= year_end);
    let options = Options {
        merger: has_merger.then(|| f.clone()),
        forbund: (!has_merger).then(|| f.clone()),
        at,
        rules: Default::default(),
    };
    let r = reconcile(p, &events, options).map_err(|e| Failure::usage(e.0))?;
    let merger = has_merger.then_some(&f);
    report(
        &format!("avstamning-{year}"),
        "avstämningen (sammanläggning, budgetaritmetik, bidragsfördelning m.m.)",
        reports::render_reconciliation(&r, p, merger, at, head.seq, Format::Json),
        reports::render_reconciliation(&r, p, merger, at, head.seq, Format::Table),
    );
    // The annual report's statements: as JSON and text for the verifier, as a page to read.
    if let Some(annual) = p.annual(&f, year, head.seq, &finsam_projections::annual::CeilingRule::default_rule()) {
        let chart = Chart::default_chart();
        report(
            &format!("arsredovisning-{year}"),
            "årsredovisningens resultaträkning, balansräkning, kassaflödesanalys, driftredovisning och noter",
            crate::annual::render(&annual, &chart, &head, Format::Json),
            crate::annual::render(&annual, &chart, &head, Format::Table),
        );
        files.push(BundleFile {
            path: format!("reports/arsredovisning-{year}.html"),
            bytes: crate::annual::render(&annual, &chart, &head, Format::Html).into_bytes(),
        });
        listing.push((
            format!("reports/arsredovisning-{year}.html"),
            "årsredovisningen som sida med diagram, att läsa, skriva ut (A4) eller arkivera".into(),
        ));
    }
    // The underlag of the förbund's events, named by their SHA-256 (the log names the same hash).
    let mut kept = std::collections::BTreeSet::new();
    for u in p.underlag.iter().filter(|u| u.forbund == f && u.seq <= head.seq) {
        if kept.insert(u.file.sha256.clone()) {
            let bytes = finsam_store::underlag::read(store, &u.file.sha256)?;
            files.push(BundleFile { path: format!("underlag/{}", u.file.sha256), bytes });
        }
    }
    if !kept.is_empty() {
        listing.push((
            "underlag/*".into(),
            "bifogade underlag (fakturor, protokoll, bankfiler), var och en namngiven efter sin SHA-256 som händelsen i loggen".into(),
        ));
    }
    listing.push(("LASMIG.txt".into(), "den här texten".into()));
    files.push(BundleFile {
        path: "LASMIG.txt".into(),
        bytes: lasmig(&name, f.as_str(), year, &head, &listing).into_bytes(),
    });
    Ok((files, name, f))
}
