//! Writing results and failures.

use finsam_domain::Rejection;
use finsam_store::{OpenReport, StoreError};
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether messages are said in Swedish (the CLI's default) or in English. The server's API
/// keeps English; the binary decides for the CLI from the environment ([`swedish_by_locale`]).
static SWEDISH: AtomicBool = AtomicBool::new(false);

/// Says messages in Swedish from now on (or in English).
pub fn speak_swedish(yes: bool) {
    SWEDISH.store(yes, Ordering::Relaxed);
}

/// True if messages are said in Swedish.
pub fn swedish() -> bool {
    SWEDISH.load(Ordering::Relaxed)
}

/// A message in the user's language: the Swedish one, or the English one.
pub fn say(sv: impl Into<String>, en: impl Into<String>) -> String {
    if swedish() {
        sv.into()
    } else {
        en.into()
    }
}

/// Swedish unless the locale asks for English: the first of `LC_ALL`, `LC_MESSAGES` and `LANG`
/// that is set decides, as POSIX reads them; `en`, `en_GB.UTF-8` and the like mean English.
pub fn swedish_by_locale(var: impl Fn(&str) -> Option<String>) -> bool {
    let chosen = ["LC_ALL", "LC_MESSAGES", "LANG"].into_iter().find_map(|k| var(k).filter(|v| !v.is_empty()));
    !chosen.is_some_and(|v| v == "en" || v.starts_with("en_") || v.starts_with("en."))
}

/// One refusal for the person reading it: in Swedish the rule's own sentence with the line,
/// the field and the value as written; in English the case's own message.
pub fn rejection_text(r: &Rejection) -> String {
    if !swedish() {
        return r.to_string();
    }
    r.render(["rad", "fält", "värde", "regel"], &swedish_sentence(r))
}

/// The rule's Swedish sentence, with what the case adds that a person needs: the type meant
/// by a misspelt one, the form a date is written in.
fn swedish_sentence(r: &Rejection) -> String {
    use finsam_domain::rejection::Rule;
    let sentence = r.rule.swedish().to_string();
    match r.rule {
        Rule::UnknownEventType => match r.message.split_once("(menade du ").and_then(|(_, t)| t.split_once(')')) {
            Some((meant, _)) => format!("{sentence} Menade du {meant}?"),
            None => sentence,
        },
        Rule::DateInvalid if r.message.starts_with("a date is a real calendar date") => {
            "Ett datum skrivs ÅÅÅÅ-MM-DD och ska finnas i almanackan.".to_string()
        }
        _ => sentence,
    }
}

/// A failure with its exit code (1 problems found / store unreadable, 2 usage or rejected).
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn usage(message: String) -> Failure {
        Failure { code: 2, message }
    }

    pub fn exit(self) -> ExitCode {
        eprintln!("finsam: {}", self.message);
        ExitCode::from(self.code)
    }
}

/// Writes to standard output; a closed pipe (`finsam log | head`) ends the program quietly.
/// While a report's tables are collected for a workbook (`table::collect_sheets`), nothing.
pub fn emit(text: &str) {
    if crate::table::collecting() {
        return;
    }
    emit_bytes(text.as_bytes());
}

/// Writes bytes (a workbook) to standard output, as `emit` does.
pub fn emit_bytes(bytes: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(bytes).and_then(|_| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!(
            "finsam: {}",
            say(format!("kunde inte skriva utdata: {}", swedish_io(&e)), format!("could not write the output: {e}"))
        );
        std::process::exit(1);
    }
}

/// Saves the derived state after recording. The batch is durable already, so a failure here
/// (a full disk, a folder that cannot be written) is a warning, never an error: the next open
/// replays what the checkpoint lacks.
pub fn save_derived(store: &mut finsam_store::Store<finsam_store::FileLog>) {
    if let Err(e) = store.save_checkpoint() {
        eprintln!("finsam: {}", say(format!("varning: händelserna är registrerade, men {}; det byggs om från loggen nästa gång lagret öppnas", store_error_text(&e)), format!("warning: the events are recorded, but {e}; it is rebuilt from the log when the store is next opened")));
    }
}

/// Tells the user, on standard error, what opening the store repaired.
pub fn report_open(report: &OpenReport) {
    for w in &report.warnings {
        eprintln!("finsam: {} {w}", say("varning:", "warning:"));
    }
    let cut = report.torn_bytes_cut;
    if cut > 0 {
        eprintln!(
            "finsam: {}",
            say(
                format!("klippte bort {cut} byte i slutet av loggen: en ofullbordad omgång från en avbruten körning, aldrig bekräftad"),
                format!("cut {cut} byte(s) at the end of the log: an unfinished batch from an interrupted run, never acknowledged"),
            )
        );
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        let code = match &e {
            StoreError::Rejected(_)
            | StoreError::HeadMoved { .. }
            | StoreError::VersionMoved { .. }
            | StoreError::Locked { .. }
            | StoreError::NotAStore { .. }
            | StoreError::AlreadyAStore { .. }
            | StoreError::Refused(_)
            | StoreError::Backup { damaged: false, .. }
            | StoreError::Forbidden { .. } => 2,
            // A database address that cannot be used as written is bad usage.
            StoreError::Database { action, .. } if *action == "cannot read the address" => 2,
            StoreError::Interrupted => 130,
            StoreError::Damaged { .. }
            | StoreError::Poisoned { .. }
            | StoreError::Io { .. }
            | StoreError::Backup { damaged: true, .. }
            | StoreError::Database { .. }
            | StoreError::Derived { .. } => 1,
        };
        Failure { code, message: store_error_text(&e) }
    }
}

/// What the store refused or could not do, in the user's language.
pub fn store_error_text(e: &StoreError) -> String {
    if !swedish() {
        return e.to_string();
    }
    match e {
        StoreError::Rejected(r) => format!("avvisat, inget har skrivits: {}", rejection_text(r)),
        StoreError::HeadMoved { expected, actual } => format!(
            "avvisat, inget har skrivits: loggens huvud är händelse {actual}, men --expect-head säger {expected}; läs de nya händelserna (`finsam log --from {}`) och besluta igen [regel head_moved]",
            expected + 1
        ),
        StoreError::VersionMoved { forbund, expected, actual } => format!(
            "avvisat, inget har skrivits: böckerna för {forbund} är vid version {actual}, inte {expected}; läs det som registrerats sedan och besluta igen [regel version_moved]"
        ),
        StoreError::Locked { dir, holder } if holder.contains(" serve") => format!(
            "lagret {} hålls av en körande `finsam serve` ({holder}): medan den körs registrerar du genom den — POST /api/v1/events med en kanslitoken, eller webbappens formulär — eller stoppa den (Ctrl-C) och försök igen",
            dir.display()
        ),
        StoreError::Locked { dir, holder } => format!(
            "lagret {} används av en annan skrivare ({holder}); en skrivare åt gången: försök igen när den är klar",
            dir.display()
        ),
        StoreError::NotAStore { dir } => format!(
            "{} är inget finsam-lager (ingen log.jsonl): skapa ett med `finsam --store {} init`",
            dir.display(),
            dir.display()
        ),
        StoreError::AlreadyAStore { dir } => format!("{} har redan ett finsam-lager; inget har ändrats", dir.display()),
        StoreError::Damaged { path, line, offset, problem } => format!(
            "loggen {} är skadad på rad {line} (byte {offset}): {problem}. Lagret stannar hellre än hoppar över raden: återställ loggen från en kopia, eller be en revisor jämföra den med den senaste sammanfattningen (digest)",
            path.display()
        ),
        StoreError::Poisoned { reason } => {
            format!("skrivningen har stoppats och registrerar inget mer förrän lagret öppnas igen: {reason}")
        }
        StoreError::Io { path, action, source } => {
            format!("kunde inte {} {}: {}", swedish_action(action), path.display(), swedish_io(source))
        }
        StoreError::Derived { action, detail } => format!("härlett tillstånd: kunde inte {action}: {detail}"),
        StoreError::Database { database, action, detail } => {
            format!("databasen {database}: {}: {}", swedish_database_action(action), swedish_database_detail(detail))
        }
        StoreError::Refused(why) => format!("vägrat: {why}"),
        StoreError::Backup { sv, .. } => sv.clone(),
        StoreError::Interrupted => "avbrutet innan händelserna skrevs: inget registrerades".to_string(),
        StoreError::Forbidden { line, user, forbund } => format!(
            "vägrat, inget har skrivits: rad {line}: {user} får inte registrera händelser som rör böckerna för {forbund}"
        ),
    }
}

/// The store's file operations in Swedish ("could not {action} {path}").
fn swedish_action(action: &str) -> &str {
    match action {
        "create" => "skapa",
        "read" => "läsa",
        "open" => "öppna",
        "write" => "skriva",
        "sync" => "synkronisera till disk",
        "stat" => "läsa uppgifterna om",
        "seek in" => "söka i",
        "rename" => "byta namn på",
        "use" => "använda",
        "sync the directory" => "synkronisera mappen",
        "read the length of" => "läsa längden på",
        "open the writer lock" => "öppna skrivlåset",
        "open a second handle on" => "öppna en andra referens till",
        "lock" => "låsa",
        "cut the torn tail of" => "klippa bort det avbrutna slutet av",
        "create the directory" => "skapa mappen",
        "append to" => "skriva till slutet av",
        other => other,
    }
}

/// What the store could not do in its database, in Swedish.
fn swedish_database_action(action: &str) -> &str {
    match action {
        "cannot connect" => "kan inte ansluta",
        "cannot set up the connection" => "kan inte ställa in anslutningen",
        "cannot begin the migration" | "cannot lock the schema" | "cannot create finsam_schema" | "cannot read finsam_schema" | "cannot apply a migration" | "cannot record a migration" | "cannot commit the migration" => "kan inte uppdatera tabellerna",
        "its schema is newer than this finsam knows: run a newer finsam" => "tabellerna är av en nyare version än denna finsam känner: kör en nyare finsam",
        "cannot read the head" | "cannot lock the head" | "cannot begin" => "kan inte läsa loggens huvud",
        "cannot read the log" => "kan inte läsa loggen",
        "cannot write the batch" | "cannot write the idempotency keys" | "cannot move the head" => "kan inte skriva omgången (inget registrerades)",
        "the commit could not be confirmed, so nothing is acknowledged (retry with the same idempotency key)" => "det gick inte att bekräfta att omgången sparades, så inget bekräftas (försök igen med samma idempotensnyckel)",
        "cannot keep the underlag" => "kan inte spara underlaget",
        "cannot read the underlag" => "kan inte läsa underlaget",
        "cannot copy into it" => "kan inte kopiera in loggen",
        "cannot read the address" => "adressen kan inte läsas",
        "cannot listen" => "kan inte lyssna efter databasens meddelanden",
        "cannot record the user" => "kan inte registrera användaren",
        "cannot read the users" => "kan inte läsa användarna",
        "cannot keep the session" | "cannot end the session" | "cannot read the sessions" | "a session's line cannot be read" => "kan inte läsa eller spara inloggningarna",
        "cannot read the access log" => "kan inte läsa åtkomstloggen",
        "cannot write the access log" => "kan inte skriva åtkomstloggen",
        "an underlag does not match its hash" => "ett underlag stämmer inte med sin hash",
        "it holds a log already" => "den har redan en logg; en kopia skrivs bara till en tom databas",
        other => other,
    }
}

/// finsam's own reasons about a database's address, in Swedish (the database's own messages
/// are shown as it gives them).
fn swedish_database_detail(detail: &str) -> String {
    if let Some(mode) = detail.strip_prefix("sslmode=").and_then(|d| d.split_once(" is not used by finsam")) {
        return format!(
            "sslmode={} används inte av finsam: en anslutning är antingen krypterad, med serverns certifikat kontrollerat (sslmode=require, verify-ca eller verify-full), eller inte (sslmode=disable)",
            mode.0
        );
    }
    if detail.starts_with("the system has no root certificates") {
        return "systemet har inga rotcertifikat att kontrollera serverns certifikat mot: ange serverns CA med sslrootcert=FIL".into();
    }
    if detail.starts_with("sslrootcert is given but sslmode=disable") {
        return "sslrootcert anges men sslmode=disable: skriv sslmode=verify-full för att använda den".into();
    }
    if let Some(file) = detail.strip_prefix("sslrootcert ").and_then(|d| d.strip_suffix(" holds no certificate")) {
        return format!("sslrootcert {file} innehåller inget certifikat");
    }
    detail.to_string()
}

/// The operating system's reason, in Swedish where it is a common one.
pub fn swedish_io(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        NotFound => "filen eller mappen finns inte".to_string(),
        PermissionDenied => "åtkomst nekad".to_string(),
        AlreadyExists => "finns redan".to_string(),
        StorageFull => "disken är full".to_string(),
        ReadOnlyFilesystem => "filsystemet är skrivskyddat".to_string(),
        IsADirectory => "är en mapp, inte en fil".to_string(),
        NotADirectory => "är inte en mapp".to_string(),
        InvalidData => format!("ogiltiga data ({e})"),
        _ => e.to_string(),
    }
}

impl Failure {
    /// Every refusal of a batch, one per line: exit 2, nothing written.
    pub fn rejected(rejections: Vec<Rejection>) -> Failure {
        let n = rejections.len();
        let mut message = say(
            format!("avvisat, inget har skrivits ({n} fel):"),
            format!("rejected, nothing written ({n} problem(s)):"),
        );
        for r in &rejections {
            message.push_str("\n  ");
            message.push_str(&rejection_text(r));
        }
        Failure { code: 2, message }
    }
}
