//! An event as a Swedish reader sees it: every field under its Swedish name, amounts and shares
//! in Swedish form, ids as the names they stand for, lists of rows (a budget's lines, a merger's
//! förbund, a member list) as tables, nested parts (the decision, the plan's printed totals) as
//! their own lists. The canonical JSON stays one click away for a revisor.

use super::*;

/// A text's amounts kept on one line: the space between digit groups ("19 038 000,00") and
/// before "kr" becomes a no-break space, so that a narrow screen breaks a sentence between
/// words, never inside a number (WCAG 1.4.10 reflow without "19 038 / 000,00 kr").
pub(crate) fn numbers_kept_whole(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let after_digit = i > 0 && chars[i - 1].is_ascii_digit();
        let group_follows = chars.len() >= i + 4
            && chars[i + 1..i + 4].iter().all(char::is_ascii_digit)
            && chars.get(i + 4).is_none_or(|n| !n.is_ascii_digit());
        let kr_follows =
            chars.get(i + 1..i + 3) == Some(&['k', 'r'][..]) && chars.get(i + 3).is_none_or(|n| !n.is_alphanumeric());
        if c == ' ' && after_digit && (group_follows || kr_follows) {
            out.push('\u{a0}');
        } else {
            out.push(c);
        }
    }
    out
}

/// The names a person reads for the ids an event refers to.
#[derive(Default)]
pub(crate) struct Names {
    pub(crate) forbund: BTreeMap<String, String>,
    pub(crate) members: BTreeMap<String, String>,
    pub(crate) insatser: BTreeMap<String, String>,
    pub(crate) lines: BTreeMap<String, String>,
}

impl Names {
    /// Every name the books know for `f`: the förbund of the store, `f`'s members (as they stand
    /// in the latest list), insatser and budget lines (of any year).
    pub(crate) fn of(books: reports::Books<'_>, f: &Slug) -> Names {
        let p = books.projection;
        let mut names = Names {
            forbund: p.forbund.iter().map(|(id, i)| (id.to_string(), i.name.clone())).collect(),
            ..Names::default()
        };
        if let Some(info) = p.forbund.get(f) {
            for (id, name, ..) in info.members_at(NaiveDate::MAX, books.head) {
                names.members.insert(id.to_string(), name.clone());
            }
        }
        for i in p.insatser.iter().filter(|i| &i.forbund == f) {
            names.insatser.insert(i.insats.to_string(), i.name.clone());
        }
        for b in p.budgets.iter().filter(|b| &b.forbund == f) {
            for l in &b.costs {
                names.lines.entry(l.id.to_string()).or_insert_with(|| l.name.clone());
            }
            for l in &b.income {
                names.lines.entry(l.id.to_string()).or_insert_with(|| l.name.clone());
            }
        }
        names
    }

    /// A sentence with the ids it names (of förbund, members, insatser; whole words of
    /// lowercase letters, digits and hyphens) put as the names they stand for.
    pub(crate) fn in_words(&self, text: &str) -> String {
        let id_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        let mut out = String::with_capacity(text.len());
        let mut word = String::new();
        let flush = |word: &mut String, out: &mut String| {
            let w = word.trim_end_matches('-');
            let tail = &word[w.len()..];
            let name = self.forbund.get(w).or_else(|| self.members.get(w)).or_else(|| self.insatser.get(w));
            match name {
                Some(n) if w.contains('-') || self.members.contains_key(w) => out.push_str(n),
                _ => out.push_str(w),
            }
            out.push_str(tail);
            word.clear();
        };
        for c in text.chars() {
            if id_char(c) {
                word.push(c);
            } else {
                flush(&mut word, &mut out);
                out.push(c);
            }
        }
        flush(&mut word, &mut out);
        numbers_kept_whole(&out)
    }

    fn of_key<'a>(&'a self, key: &str, id: &str) -> Option<&'a String> {
        match key {
            "member" | "payer" => self.members.get(id),
            "insats" => self.insatser.get(id),
            "line" => self.lines.get(id),
            "forbund" | "from" | "merged_into" | "merging" => self.forbund.get(id),
            _ => None,
        }
    }
}

/// A field's Swedish name.
pub(crate) fn field_label(key: &str) -> &str {
    match key {
        "amount" => "Belopp",
        "date" => "Datum",
        "year" => "År",
        "member" => "Medlem",
        "members" => "Medlemmar",
        "payer" => "Betalare",
        "line" => "Budgetrad",
        "insats" => "Insats",
        "reference" => "Referens",
        "text" => "Text",
        "reason" => "Skäl",
        "corrects" => "Rättar händelse",
        "invoice" => "Faktura",
        "supplier" => "Leverantör",
        "due" => "Förfallodag",
        "nature" => "Art",
        "kind" => "Slag",
        "name" => "Namn",
        "id" => "Kod",
        "category" => "Kategori",
        "note" => "Anteckning",
        "from" => "Från förbund",
        "delta" => "Ändring",
        "credits" => "Krediterar faktura",
        "effective" => "Gäller från",
        "idempotency_key" => "Nyckel mot dubbelregistrering",
        "status" => "Status",
        "income" => "Intäkter",
        "costs" => "Kostnader",
        "transfers" => "Överföringar av eget kapital",
        "stated" => "Summor som de står i dokumentet",
        "costs_total" => "Summa kostnader",
        "income_total" => "Summa intäkter",
        "result" => "Resultat",
        "opening_equity" => "Ingående eget kapital",
        "closing_equity" => "Utgående eget kapital",
        "available" => "Medel till förfogande",
        "direct_total" => "Summa direkta insatskostnader",
        "transfers_total" => "Summa överföringar",
        "by_category" => "Per kategori",
        "by_group" => "Per rubrik",
        "shares" => "Andelar",
        "share" => "Andel",
        "admin_of_costs" => "Administration av kostnaderna",
        "direct_of_costs" => "Direkta insatskostnader av kostnaderna",
        "individ_of_direct" => "Individinriktade av de direkta",
        "struktur_of_direct" => "Strukturinriktade av de direkta",
        "group" => "Rubrik",
        "end" => "Slutdatum",
        "owner" => "Ägare",
        "org_nr" => "Organisationsnummer",
        "registered" => "Registrerat",
        "merging" => "Förbund som går upp",
        "merged_into" => "Gick upp i",
        "estimated_transfers" => "Beräknade överföringar",
        "installments" => "Fakturering",
        "month" => "Månad",
        "staff" => "Antal personer",
        "salaries" => "Löner",
        "fees" => "Arvoden",
        "tax_withheld" => "Källskatt",
        "employer_contributions" => "Arbetsgivaravgifter",
        "pension" => "Pension",
        "special_payroll_tax" => "Särskild löneskatt",
        "vacation_pay_change" => "Förändring av semesterlöneskuld",
        "vacation_pay_contributions" => "Sociala avgifter på semesterlöneskuld",
        "section" => "Avsnitt",
        "paragraphs" => "Text",
        "known_at" => "Upprättad ur händelserna till och med",
        "figures_sha256" => "Siffrornas kontrollsumma (SHA-256)",
        "of" => "Underlag till",
        "file" => "Fil",
        "media_type" => "Filtyp",
        "size" => "Storlek (byte)",
        "sha256" => "Kontrollsumma (SHA-256)",
        "auditor" => "Revisor",
        "role" => "Roll",
        "appointed_by" => "Utsedd av",
        "verdict" => "Bedömning",
        "remarks" => "Anmärkningar",
        "granted" => "Ansvarsfrihet",
        "body" => "Beslutande organ",
        "paragraph" => "Paragraf",
        "decision" => "Beslut",
        "continues" => "Fortsätter",
        "admin" => "Administration",
        "individ" => "Individinriktade insatser",
        "struktur" => "Strukturinriktade insatser",
        "bank" => "Bank",
        "equity" => "Eget kapital",
        other => other,
    }
}

/// The fields whose text is an amount in kronor.
fn is_amount(key: &str) -> bool {
    matches!(
        key,
        "amount"
            | "delta"
            | "costs_total"
            | "income_total"
            | "result"
            | "opening_equity"
            | "closing_equity"
            | "available"
            | "direct_total"
            | "transfers_total"
            | "salaries"
            | "fees"
            | "tax_withheld"
            | "employer_contributions"
            | "pension"
            | "special_payroll_tax"
            | "vacation_pay_change"
            | "vacation_pay_contributions"
            | "bank"
            | "equity"
            | "admin"
            | "individ"
            | "struktur"
    )
}

/// The fields whose text is a share (a fraction, shown as a percentage).
fn is_share(key: &str) -> bool {
    matches!(key, "share" | "admin_of_costs" | "direct_of_costs" | "individ_of_direct" | "struktur_of_direct")
}

/// A value of a fixed set in Swedish.
fn value_label(key: &str, value: &str) -> Option<&'static str> {
    Some(match (key, value) {
        ("status", "adopted") => "antagen budget",
        ("media_type", "application/pdf") => "PDF",
        ("media_type", "image/png") => "PNG-bild",
        ("media_type", "image/jpeg") => "JPEG-bild",
        ("media_type", "application/xml") => "bankfil (XML)",
        ("media_type", "text/plain") => "textfil",
        ("media_type", "text/csv") => "CSV-fil",
        ("media_type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet") => "kalkylark (xlsx)",
        ("media_type", "application/vnd.oasis.opendocument.spreadsheet") => "kalkylark (ods)",
        ("status", "outlook") => "planens prognos (ingen antagen budget)",
        ("category", "admin") => "administration",
        ("category", "individ") => "individinriktad",
        ("category", "struktur") => "strukturinriktad (metodutveckling)",
        ("nature", "personal") => "personal (förbundets egen)",
        ("nature", "kopta_tjanster") => "köpta tjänster",
        ("nature", "lamnade_bidrag") => "lämnade bidrag till insatser",
        ("nature", "ovrigt") => "övriga kostnader",
        ("nature", "finansiell") => "finansiell",
        ("kind", "staten") => "staten",
        ("kind", "region") => "region",
        ("kind", "kommun") => "kommun",
        ("kind", "upplupen_kostnad") => "upplupen kostnad",
        ("kind", "forutbetald_kostnad") => "förutbetald kostnad",
        ("kind", "upplupen_intakt") => "upplupen intäkt",
        ("kind", "forutbetald_intakt") => "förutbetald intäkt",
        ("role", "auktoriserad_revisor") => "auktoriserad revisor",
        ("role", "lekmannarevisor") => "lekmannarevisor",
        ("verdict", "tillstyrker") => "tillstyrker ansvarsfrihet",
        ("verdict", "avstyrker") => "avstyrker ansvarsfrihet",
        _ => return None,
    })
}

/// One value in Swedish form, by the field it is under.
fn scalar(key: &str, value: &Value, names: &Names, f: &str) -> Markup {
    match value {
        Value::String(t) if is_amount(key) => {
            html! { span.amount { (Amount::parse(t).map(|a| a.human()).unwrap_or_else(|_| t.clone())) } }
        }
        Value::String(t) if is_share(key) => {
            html! { (t.parse::<rust_decimal::Decimal>().map(|d| reports::pct(Some(d))).unwrap_or_else(|_| t.clone())) }
        }
        Value::String(t) if key == "section" => {
            html! { (finsam_domain::event::ReportSection::parse(t).map(|s| s.heading().to_string()).unwrap_or_else(|| t.clone())) }
        }
        Value::String(t) => match (names.of_key(key, t), value_label(key, t)) {
            (Some(name), _) => html! { (name) },
            (None, Some(label)) => html! { (label) },
            (None, None) if matches!(key, "date" | "due" | "effective" | "end") => html! { span.date { (t) } },
            (None, None) => html! { (t) },
        },
        Value::Bool(b) if key == "granted" => html! { (if *b { "beviljad" } else { "inte beviljad" }) },
        Value::Bool(b) => html! { (if *b { "ja" } else { "nej" }) },
        Value::Number(n) if matches!(key, "corrects" | "known_at" | "of") => {
            html! { a href={"/f/" (f) "/handelse/" (n)} { "händelse " (n) } }
        }
        Value::Number(n) => html! { (n) },
        Value::Null => html! { "–" },
        other => html! { (other.to_string()) },
    }
}

/// A value of any shape: a list of rows as a table, a list of texts as paragraphs, a pair
/// (category, amount) as "kategori: belopp", an object as a nested list.
fn value_html(key: &str, value: &Value, names: &Names, f: &str) -> Markup {
    match value {
        Value::Array(items) if items.iter().all(Value::is_object) && !items.is_empty() => {
            let mut columns: Vec<&str> = Vec::new();
            for item in items {
                for k in item.as_object().expect("an object").keys() {
                    if !columns.contains(&k.as_str()) {
                        columns.push(k);
                    }
                }
            }
            // A row's code is for programs (other events refer to it by it); a person reads the
            // name beside it.
            if columns.contains(&"name") {
                columns.retain(|c| *c != "id");
            }
            html! {
                div.scroll role="region" tabindex="0" aria-label=(field_label(key)) {
                    table {
                        thead { tr { @for c in &columns { th class=[is_amount(c).then_some("n")] scope="col" { (field_label(c)) } } } }
                        tbody {
                            @for item in items {
                                tr { @for c in &columns {
                                    @let cell = item.get(*c).unwrap_or(&Value::Null);
                                    td class=[is_amount(c).then_some("n")] { (value_html(c, cell, names, f)) }
                                } }
                            }
                        }
                    }
                }
            }
        }
        Value::Array(items)
            if items.iter().all(|x| x.as_array().is_some_and(|p| p.len() == 2)) && !items.is_empty() =>
        {
            html! {
                ul { @for pair in items {
                    @let p = pair.as_array().expect("a pair");
                    @let what = p[0].as_str().unwrap_or_default();
                    li { (value_label("category", what).map_or_else(|| field_label(what).to_string(), String::from)) ": "
                        @if key == "shares" { (scalar("share", &p[1], names, f)) } @else { (scalar("amount", &p[1], names, f)) } }
                } }
            }
        }
        Value::Array(items) if key == "paragraphs" => {
            html! { @for p in items { p { (p.as_str().unwrap_or_default()) } } }
        }
        Value::Array(items) => {
            html! { ul { @for x in items { li { (value_html(key, x, names, f)) } } } }
        }
        Value::Object(fields) => html! {
            dl.nested { @for (k, x) in fields { dt { (field_label(k)) } dd { (value_html(k, x, names, f)) } } }
        },
        other => scalar(key, other, names, f),
    }
}

/// The event's fields as a Swedish reader sees them (not the type, the förbund or the decision,
/// which the page shows on their own).
pub(crate) fn fields_html(value: &Value, names: &Names, f: &str) -> Markup {
    html! {
        @if let Value::Object(fields) = value {
            @for (k, x) in fields {
                @if !matches!(k.as_str(), "type" | "forbund" | "decision") {
                    @let table = x.as_array().is_some_and(|a| a.iter().any(Value::is_object));
                    dt class=[table.then_some("wide")] { (field_label(k)) }
                    dd class=[table.then_some("wide")] { (value_html(k, x, names, f)) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_reads_as_tables_in_swedish_with_names_for_ids() {
        let names = Names {
            insatser: [("samordningsteam-sala".to_string(), "Samordningsteam Sala".to_string())].into(),
            ..Names::default()
        };
        let budget = serde_json::json!({
            "type": "BudgetAdopted", "forbund": "sf-vastmanland", "status": "adopted",
            "costs": [{"id": "sala", "name": "Samordningsteam Sala", "category": "individ", "insats": "samordningsteam-sala", "amount": "1700000"}],
            "stated": {"shares": [["admin_of_costs", "0.14"]], "costs_total": "20983000"},
        });
        let page = fields_html(&budget, &names, "sf-vastmanland").into_string();
        for said in
            ["antagen budget", "<table>", "Kategori", "individinriktad", "1 700 000,00", "Summa kostnader", "14,00 %"]
        {
            assert!(page.contains(said), "{said}: {page}");
        }
        for unsaid in ["adopted", "{\"", "0.14", "\"individ\""] {
            assert!(!page.contains(unsaid), "{unsaid}: {page}");
        }
        // The insats by its name in the row; the line's code left to programs.
        assert!(page.contains("<td>Samordningsteam Sala</td>"), "{page}");
        assert!(!page.contains(">sala<"), "{page}");
    }

    #[test]
    fn amounts_in_a_text_stay_on_one_line() {
        assert_eq!(
            super::numbers_kept_whole("kostnader 20 983 000,00 kr, intäkter 19 038 000,00 kr; 2 rader 125 st"),
            "kostnader 20\u{a0}983\u{a0}000,00\u{a0}kr, intäkter 19\u{a0}038\u{a0}000,00\u{a0}kr; 2 rader 125 st"
        );
        assert_eq!(super::numbers_kept_whole("år 2024 och 2025"), "år 2024 och 2025", "years are no digit groups");
    }

    #[test]
    fn a_summary_names_what_its_ids_stand_for() {
        let names = Names {
            forbund: [("sf-vasteras".to_string(), "Samordningsförbundet Västerås".to_string())].into(),
            members: [("sala".to_string(), "Sala kommun".to_string())].into(),
            ..Names::default()
        };
        assert_eq!(
            names.in_words("sammanläggning av sf-vasteras från 2024-01-01; bidrag från sala, 2024-"),
            "sammanläggning av Samordningsförbundet Västerås från 2024-01-01; bidrag från Sala kommun, 2024-"
        );
    }
}
