//! The forms that record events: one per event type of the kansli's work, checked, confirmed
//! and recorded through the writer like the API's batches.

use super::*;

/// What a form's field asks for, and how the answer becomes the event's JSON.
#[derive(Clone, Copy)]
pub(crate) enum Input {
    Date,
    Year,
    /// Kronor, typed the Swedish way.
    Amount,
    Member,
    CostLine,
    IncomeLine,
    Insats,
    OpenInvoice,
    Text,
    LongText,
    Choice(&'static [(&'static str, &'static str)]),
    Seq,
    /// A whole number from the first to the second (a month, a number of people).
    Count(u32, u32),
    /// Another förbund of the store.
    OtherForbund,
}

pub(crate) struct Field {
    /// The event's field, `decision.body` for a nested one.
    pub(crate) name: &'static str,
    pub(crate) label: &'static str,
    pub(crate) input: Input,
    pub(crate) required: bool,
    pub(crate) help: &'static str,
}

pub(crate) const fn field(
    name: &'static str,
    label: &'static str,
    input: Input,
    required: bool,
    help: &'static str,
) -> Field {
    Field { name, label, input, required, help }
}

pub(crate) const NATURES: &[(&str, &str)] = &[
    ("", "som budgetradens"),
    ("personal", "personal (förbundets egen)"),
    ("kopta_tjanster", "köpta tjänster"),
    ("lamnade_bidrag", "lämnade bidrag till insatser"),
    ("ovrigt", "övriga kostnader"),
];

pub(crate) const CATEGORIES: &[(&str, &str)] =
    &[("individ", "individinriktad"), ("struktur", "strukturinriktad (metodutveckling)"), ("admin", "administration")];

pub(crate) const ACCRUALS: &[(&str, &str)] = &[
    ("upplupen_kostnad", "upplupen kostnad (årets kostnad, faktureras senare)"),
    ("forutbetald_kostnad", "förutbetald kostnad (betald i år, hör till nästa år)"),
    ("upplupen_intakt", "upplupen intäkt (årets intäkt, betalas senare)"),
    ("forutbetald_intakt", "förutbetald intäkt (betald i år, hör till nästa år)"),
];

pub(crate) const DATE: Field =
    field("date", "Datum", Input::Date, true, "Dagen händelsen gäller (t.ex. betalningsdagen).");
pub(crate) const BANK_REFERENCE: Field =
    field("reference", "Referens", Input::Text, true, "T.ex. bankens verifikation.");
pub(crate) const AMOUNT: Field =
    field("amount", "Belopp (kr)", Input::Amount, true, "Skriv som på svenska, t.ex. 1 500,50.");
pub(crate) const YEAR: Field = field("year", "År", Input::Year, true, "Räkenskapsåret det gäller.");
pub(crate) const DECISION: [Field; 3] = [
    field("decision.body", "Beslutande organ", Input::Text, true, "T.ex. styrelsen."),
    field("decision.date", "Beslutsdatum", Input::Date, true, ""),
    field("decision.paragraph", "Paragraf", Input::Text, false, "T.ex. § 12."),
];

pub(crate) struct FormSpec {
    pub(crate) slug: &'static str,
    pub(crate) event: &'static str,
    pub(crate) title: &'static str,
    pub(crate) intro: &'static str,
    pub(crate) fields: &'static [&'static [Field]],
}

pub(crate) const FORMS: &[FormSpec] = &[
    FormSpec {
        slug: "medlemsbidrag",
        event: "ContributionReceived",
        title: "Inbetalt medlemsbidrag",
        intro: "Ett medlemsbidrag som kommit in på banken.",
        fields: &[&[
            DATE,
            field("member", "Medlem", Input::Member, true, ""),
            YEAR,
            AMOUNT,
            field("reference", "Referens", Input::Text, true, "T.ex. bankens verifikation eller fakturanummer."),
            field(
                "payer",
                "Betalare, om inte medlemmen själv",
                Input::Member,
                false,
                "Försäkringskassan betalar statens del.",
            ),
        ]],
    },
    FormSpec {
        slug: "bidragsbeslut",
        event: "ContributionDecided",
        title: "Beslutat medlemsbidrag",
        intro: "En medlems bidrag för ett år, som beslutat: en fordran tills det betalas.",
        fields: &[
            &[
                DATE,
                field("member", "Medlem", Input::Member, true, ""),
                YEAR,
                AMOUNT,
                field("reference", "Referens", Input::Text, true, "T.ex. fakturanummer."),
            ],
            &DECISION,
        ],
    },
    FormSpec {
        slug: "kostnad",
        event: "CostRecorded",
        title: "Kostnad",
        intro: "En kostnad som betalats direkt (utan leverantörsfaktura).",
        fields: &[&[
            DATE,
            YEAR,
            field("line", "Budgetrad", Input::CostLine, false, "Raden i årets budget; ange rad, insats eller båda."),
            field("insats", "Insats", Input::Insats, false, ""),
            AMOUNT,
            field("reference", "Referens", Input::Text, true, "T.ex. verifikationsnummer."),
            field("text", "Vad kostnaden avser", Input::Text, true, ""),
            field("nature", "Art", Input::Choice(NATURES), false, ""),
        ]],
    },
    FormSpec {
        slug: "faktura",
        event: "InvoiceReceived",
        title: "Leverantörsfaktura",
        intro: "En faktura från en leverantör: kostnad när den kommer, skuld tills den betalas.",
        fields: &[&[
            DATE,
            YEAR,
            field(
                "invoice",
                "Fakturans id",
                Input::Text,
                true,
                "Små bokstäver, siffror och bindestreck, t.ex. f-2024-117.",
            ),
            field("supplier", "Leverantör", Input::Text, true, ""),
            field("line", "Budgetrad", Input::CostLine, false, "Ange rad, insats eller båda."),
            field("insats", "Insats", Input::Insats, false, ""),
            AMOUNT,
            field("due", "Förfallodag", Input::Date, false, ""),
            field("reference", "Referens", Input::Text, true, "T.ex. leverantörens fakturanummer."),
            field("text", "Vad fakturan avser", Input::Text, true, ""),
            field("nature", "Art", Input::Choice(NATURES), false, ""),
        ]],
    },
    FormSpec {
        slug: "betalning",
        event: "InvoicePaid",
        title: "Betalning av faktura",
        intro: "En betalning, hel eller del, av en leverantörsfaktura.",
        fields: &[&[DATE, field("invoice", "Faktura", Input::OpenInvoice, true, ""), AMOUNT, BANK_REFERENCE]],
    },
    FormSpec {
        slug: "medel",
        event: "FundingGranted",
        title: "Beslut om medel (medelstilldelning)",
        intro: "Styrelsens beslut att bevilja en insats medel för ett år.",
        fields: &[
            &[
                DATE,
                field("insats", "Insats", Input::Insats, true, ""),
                YEAR,
                field("amount", "Belopp (kr)", Input::Amount, true, "Skriv som på svenska, t.ex. 1 500 000."),
            ],
            &DECISION,
        ],
    },
    FormSpec {
        slug: "insats",
        event: "InsatsCreated",
        title: "Ny insats",
        intro: "En insats som styrelsen beslutat att inrätta.",
        fields: &[
            &[
                DATE,
                field(
                    "insats",
                    "Insatsens id",
                    Input::Text,
                    true,
                    "Små bokstäver, siffror och bindestreck, t.ex. samordningsteam-sala.",
                ),
                field("name", "Namn", Input::Text, true, ""),
                field("category", "Kategori", Input::Choice(CATEGORIES), true, ""),
            ],
            &DECISION,
        ],
    },
    FormSpec {
        slug: "periodisering",
        event: "AccrualRecorded",
        title: "Periodisering vid årets slut",
        intro: "Bokförs den 31 december och vänds den 1 januari.",
        fields: &[&[
            DATE,
            YEAR,
            field("kind", "Slag", Input::Choice(ACCRUALS), true, ""),
            field("line", "Budgetrad", Input::CostLine, false, "För en kostnad: raden och/eller insatsen."),
            field("insats", "Insats", Input::Insats, false, ""),
            field("member", "Medlem", Input::Member, false, "För en intäkt: medlemmen, eller intäktsraden."),
            AMOUNT,
            field("reference", "Referens", Input::Text, true, ""),
            field("text", "Text", Input::Text, true, ""),
        ]],
    },
    FormSpec {
        slug: "lonesammandrag",
        event: "PayrollRecorded",
        title: "Lönesammandrag för månaden",
        intro:
            "Månadens löner och arvoden för förbundets egen personal, ur lönesystemets sammandrag (inte per person).",
        fields: &[
            &[
                field("date", "Utbetalningsdag", Input::Date, true, "Dagen då nettolönerna betalades ut."),
                YEAR,
                field("month", "Månad", Input::Count(1, 12), true, "Månaden lönerna avser, 1–12."),
                field(
                    "line",
                    "Budgetrad",
                    Input::CostLine,
                    false,
                    "Raden lönerna belastar; ange rad, insats eller båda.",
                ),
                field("insats", "Insats", Input::Insats, false, ""),
                field(
                    "staff",
                    "Antal personer",
                    Input::Count(0, 10_000),
                    false,
                    "Hur många som fick lön eller arvode.",
                ),
            ],
            &[
                field("salaries", "Bruttolöner (kr)", Input::Amount, false, ""),
                field("fees", "Arvoden (kr)", Input::Amount, false, "T.ex. styrelsens arvoden."),
                field(
                    "tax_withheld",
                    "Avdragen källskatt (kr)",
                    Input::Amount,
                    false,
                    "Betalas till Skatteverket nästa månad.",
                ),
                field("employer_contributions", "Arbetsgivaravgifter (kr)", Input::Amount, false, ""),
                field("pension", "Pension, individuell del (kr)", Input::Amount, false, ""),
                field(
                    "special_payroll_tax",
                    "Särskild löneskatt på pension (kr)",
                    Input::Amount,
                    false,
                    "24,26 % av pensionen.",
                ),
                field(
                    "vacation_pay_change",
                    "Förändring av semesterlöneskuld (kr)",
                    Input::Amount,
                    false,
                    "Vid årets slut; negativt när skulden minskat.",
                ),
                field(
                    "vacation_pay_contributions",
                    "Sociala avgifter på semesterlöneskulden (kr)",
                    Input::Amount,
                    false,
                    "",
                ),
                field("reference", "Referens", Input::Text, true, "T.ex. lönelistans nummer."),
                field("text", "Text", Input::Text, true, ""),
            ],
        ],
    },
    FormSpec {
        slug: "personalskatter",
        event: "PayrollLiabilitiesPaid",
        title: "Betalning av skatter, avgifter och pension för personalen",
        intro: "Till Skatteverket (källskatt, arbetsgivaravgifter, särskild löneskatt) eller till pensionsförvaltaren.",
        fields: &[&[
            DATE,
            field("tax_withheld", "Källskatt (kr)", Input::Amount, false, ""),
            field("employer_contributions", "Arbetsgivaravgifter (kr)", Input::Amount, false, ""),
            field("pension", "Pension, individuell del (kr)", Input::Amount, false, ""),
            field("special_payroll_tax", "Särskild löneskatt (kr)", Input::Amount, false, ""),
            BANK_REFERENCE,
        ]],
    },
    FormSpec {
        slug: "prognos",
        event: "ForecastRecorded",
        title: "Helårsprognos för en budgetrad",
        intro: "Kansliets bedömning av vad raden landar på för helåret; visas i uppföljningen.",
        fields: &[&[
            DATE,
            YEAR,
            field("line", "Budgetrad", Input::CostLine, true, ""),
            field("amount", "Prognos helår (kr)", Input::Amount, true, "Skriv som på svenska, t.ex. 640 000."),
            field("text", "Motivering", Input::LongText, true, "Som styrelsen ska läsa den."),
        ]],
    },
    FormSpec {
        slug: "ovrig-intakt",
        event: "OtherIncomeRecorded",
        title: "Övrig intäkt",
        intro: "En intäkt på en intäktsrad i årets budget (inte medlemsbidrag).",
        fields: &[&[
            DATE,
            YEAR,
            field("line", "Intäktsrad", Input::IncomeLine, true, ""),
            AMOUNT,
            field("reference", "Referens", Input::Text, true, ""),
        ]],
    },
    FormSpec {
        slug: "sammanlaggning",
        event: "MergerDecided",
        title: "Beslut om sammanläggning",
        intro: "Förbund som går upp i detta förbund, från ett datum, med planens beräknade överföringar.",
        fields: &[
            &[
                DATE,
                field(
                    "effective",
                    "Gäller från",
                    Input::Date,
                    true,
                    "Dagen sammanläggningen träder i kraft, t.ex. 2024-01-01.",
                ),
                field("merging[0]", "Förbund som går upp", Input::OtherForbund, true, ""),
                field("estimate[0]", "Beräknad överföring (kr)", Input::Amount, false, "Som planen anger."),
                field("merging[1]", "Förbund som går upp", Input::OtherForbund, false, ""),
                field("estimate[1]", "Beräknad överföring (kr)", Input::Amount, false, ""),
                field("merging[2]", "Förbund som går upp", Input::OtherForbund, false, ""),
                field("estimate[2]", "Beräknad överföring (kr)", Input::Amount, false, ""),
            ],
            &DECISION,
        ],
    },
    FormSpec {
        slug: "overforing",
        event: "EquityTransferred",
        title: "Överfört eget kapital",
        intro: "Pengar som ett förbund som gått upp i detta har fört över.",
        fields: &[&[DATE, field("from", "Från förbund", Input::OtherForbund, true, ""), AMOUNT, BANK_REFERENCE]],
    },
    FormSpec {
        slug: "overtagande",
        event: "BalancesTakenOver",
        title: "Övertagna tillgångar och skulder",
        intro: "Dagen sammanläggningen träder i kraft: det gamla förbundets alla saldon flyttas hit, konto för konto.",
        fields: &[&[
            DATE,
            field("from", "Från förbund", Input::OtherForbund, true, ""),
            field("reference", "Referens", Input::Text, true, "T.ex. det gamla förbundets bokslut."),
        ]],
    },
    FormSpec {
        slug: "rattelse",
        event: "EventCorrected",
        title: "Rättelse",
        intro:
            "Tar tillbaka en händelse: dess verifikationer vänds på rättelsens datum. Händelsen finns kvar i loggen.",
        fields: &[&[
            DATE,
            field(
                "corrects",
                "Händelse som rättas (nr)",
                Input::Seq,
                true,
                "Välj händelsen i listan Händelser och klicka Rätta.",
            ),
            field("reason", "Skäl", Input::LongText, true, ""),
        ]],
    },
    FormSpec {
        slug: "bokslut",
        event: "YearClosed",
        title: "Bokslut: stäng ett år",
        intro: "Årets resultat förs till eget kapital och året låses.",
        fields: &[&[DATE, YEAR], &DECISION],
    },
];

pub(crate) fn form_spec(slug: &str) -> Option<&'static FormSpec> {
    FORMS.iter().find(|x| x.slug == slug)
}

/// What the form's lists offer: the förbund's members, budget lines, insatser, open invoices.
pub(crate) struct Choices {
    pub(crate) name: String,
    pub(crate) members: Vec<(String, String)>,
    pub(crate) cost_lines: Vec<(String, String)>,
    pub(crate) income_lines: Vec<(String, String)>,
    pub(crate) insatser: Vec<(String, String)>,
    pub(crate) invoices: Vec<(String, String)>,
    pub(crate) others: Vec<(String, String)>,
}

/// What a form offers to choose from. The other förbund (of a merger, a transfer, a takeover)
/// are those the user may also record in: an event that touches another förbund's books is
/// refused unless the user may record there too.
pub(crate) fn choices(books: reports::Books<'_>, f: &Slug, user: &User) -> Choices {
    let p = books.projection;
    let info = &p.forbund[f];
    let today = chrono::Utc::now().date_naive();
    let members = info.members_at(today, books.head).iter().map(|(id, n, ..)| (id.to_string(), n.clone())).collect();
    let mut cost_lines: BTreeMap<String, String> = BTreeMap::new();
    let mut income_lines: BTreeMap<String, String> = BTreeMap::new();
    for b in p.budgets.iter().filter(|b| &b.forbund == f && b.year >= today.year() - 1 && b.corrected.is_none()) {
        for l in &b.costs {
            cost_lines.insert(l.id.to_string(), format!("{} ({})", l.name, b.year));
        }
        for l in &b.income {
            income_lines.insert(l.id.to_string(), format!("{} ({})", l.name, b.year));
        }
    }
    let insatser = p
        .insatser
        .iter()
        .filter(|i| &i.forbund == f && i.end.is_none_or(|e| e >= today))
        .map(|i| (i.insats.to_string(), i.name.clone()))
        .collect();
    let invoices = p
        .invoices
        .iter()
        .filter(|i| &i.forbund == f && i.credits.is_none() && !p.corrected.contains_key(&i.seq))
        .map(|i| (i.invoice.to_string(), format!("{} – {} {}", i.invoice, i.supplier, i.amount.human())))
        .collect();
    let others = p
        .forbund
        .iter()
        .filter(|(id, _)| *id != f && user.may_record(id.as_str()))
        .map(|(id, i)| (id.to_string(), i.name.clone()))
        .collect();
    Choices {
        others,
        name: info.name.clone(),
        members,
        cost_lines: cost_lines.into_iter().collect(),
        income_lines: income_lines.into_iter().collect(),
        insatser,
        invoices,
    }
}

pub use finsam_import::cells::swedish_amount;

/// A form as submitted: its values by field name.
pub(crate) type Values = HashMap<String, String>;

/// Problems per field (the empty name for the form as a whole).
pub(crate) type Problems = BTreeMap<String, String>;

/// The event a form's values describe, or the problems to show next to their fields.
pub(crate) fn event_of(spec: &FormSpec, f: &str, values: &Values) -> Result<(Event, Value), Problems> {
    let mut problems = Problems::new();
    let mut object = Map::new();
    object.insert("type".into(), json!(spec.event));
    object.insert("forbund".into(), json!(f));
    if let Some(key) = values.get("idempotency_key").filter(|k| !k.is_empty()) {
        object.insert("idempotency_key".into(), json!(key));
    }
    for field in spec.fields.iter().flat_map(|g| g.iter()) {
        let raw = values.get(field.name).map(|v| v.trim()).unwrap_or("");
        if raw.is_empty() {
            if field.required {
                problems.insert(field.name.into(), "Uppgiften saknas och måste fyllas i.".into());
            }
            continue;
        }
        let value = match field.input {
            Input::Amount => match swedish_amount(raw) {
                Ok(a) => json!(a),
                Err(e) => {
                    problems.insert(field.name.into(), e.into());
                    continue;
                }
            },
            Input::Year => match raw.parse::<i32>() {
                Ok(y) => json!(y),
                Err(_) => {
                    problems.insert(field.name.into(), "Skriv året med fyra siffror, t.ex. 2024.".into());
                    continue;
                }
            },
            Input::Seq => match raw.parse::<u64>() {
                Ok(n) => json!(n),
                Err(_) => {
                    problems.insert(field.name.into(), "Ange händelsens nummer, t.ex. 128.".into());
                    continue;
                }
            },
            Input::Count(low, high) => match raw.parse::<u32>().ok().filter(|n| (low..=high).contains(n)) {
                Some(n) => json!(n),
                None => {
                    problems.insert(field.name.into(), format!("Skriv ett heltal från {low} till {high}."));
                    continue;
                }
            },
            Input::Date => {
                if NaiveDate::parse_from_str(raw, "%Y-%m-%d").is_err() {
                    problems.insert(field.name.into(), "Skriv datumet som ÅÅÅÅ-MM-DD, t.ex. 2024-05-31.".into());
                    continue;
                }
                json!(raw)
            }
            _ => json!(raw),
        };
        // A merger's rows: the förbund merging in (`merging[i]`) and the plan's estimate of what
        // each brings (`estimate[i]`).
        if let Some(i) = field.name.strip_prefix("estimate[").and_then(|r| r.strip_suffix(']')) {
            let from = values.get(&format!("merging[{i}]")).map(|v| v.trim()).unwrap_or("");
            let list = object.entry("estimated_transfers").or_insert_with(|| json!([]));
            list.as_array_mut().expect("a list").push(json!({"from": from, "amount": value}));
            continue;
        }
        if field.name.starts_with("merging[") {
            object.entry("merging").or_insert_with(|| json!([])).as_array_mut().expect("a list").push(value);
            continue;
        }
        match field.name.split_once('.') {
            Some((outer, inner)) => {
                let nested = object.entry(outer.to_string()).or_insert_with(|| json!({}));
                nested[inner] = value;
            }
            None => {
                object.insert(field.name.into(), value);
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    if spec.event == "MergerDecided" {
        object.entry("estimated_transfers").or_insert_with(|| json!([]));
    }
    let value = Value::Object(object);
    Event::from_json(&value).map(|e| (e, value)).map_err(|r| rejection_problems(spec, &r))
}

/// A rejection by the contract or the ledger, as a problem next to its field, in Swedish.
pub(crate) fn rejection_problems(spec: &FormSpec, r: &finsam_domain::Rejection) -> Problems {
    let known = spec.fields.iter().flat_map(|g| g.iter()).any(|x| x.name == r.field);
    let key = if known { r.field.clone() } else { String::new() };
    let mut problems = Problems::new();
    problems.insert(key, r.rule.swedish().to_string());
    problems
}

#[derive(Deserialize, Default)]
pub(crate) struct FormQuery {
    #[serde(default)]
    pub(crate) seq: Option<String>,
}

pub(crate) async fn forms_index(State(s): State<Shared_>, Records { v, f }: Records) -> Response {
    let name = s
        .snapshot()
        .projection
        .forbund
        .get(&Slug::parse(&f).unwrap_or_else(|_| Slug::parse("x").expect("a slug")))
        .map(|i| i.name.clone())
        .unwrap_or_default();
    let body = html! {
        h1 { "Registrera" }
        p { "Välj vad du vill registrera. Varje uppgift kontrolleras med samma regler som i kommandoraden och API:t, och du får se den innan den registreras." }
        ul {
            li { a href={"/f/" (f) "/registrera/budget"} { "Budget" } " – en antagen budget (eller plan), raderna i en tabell eller inklistrade från ett kalkylblad." }
            @for x in FORMS { li { a href={"/f/" (f) "/registrera/" (x.slug)} { (x.title) } " – " (x.intro) } }
        }
        p.note { "Ett förbund registreras, och dess ingående balans och medlemmar ändras, med " code { "finsam record" } " eller API:t (administratören)." }
    };
    html_response(
        StatusCode::OK,
        layout(&v, Some((&f, &name)), "Registrera", "Registrera", body),
        Some(&v.user),
        Some(&f),
    )
}

/// The visitor, if the user may record events of the förbund (admin, or its kansli).
pub(crate) fn recorder(s: &Shared, headers: &HeaderMap, f: &str, path: &str) -> Result<Visitor, Refusal> {
    let v = signed_in(s, headers, path)?.on_forbund(s, f, None);
    if !v.may_record(f) {
        return Err(Box::new(problem_page(
            Some(&v),
            StatusCode::FORBIDDEN,
            "Ingen behörighet",
            &format!("Din roll ({}) får inte registrera i förbundet {f}. Registrering görs av kansliet.", v.role_sv()),
        )));
    }
    Ok(v)
}

pub(crate) async fn form_get(
    State(s): State<Shared_>,
    UrlPath((_, slug)): UrlPath<(String, String)>,
    Records { v, f }: Records,
    Query(q): Query<FormQuery>,
) -> Response {
    let Some(spec) = form_spec(&slug) else {
        return problem_page(Some(&v), StatusCode::NOT_FOUND, "Finns inte", "Det finns inget sådant formulär.");
    };
    let Some(c) = form_choices(&s, &f, &v.user) else {
        return problem_page(Some(&v), StatusCode::NOT_FOUND, "Finns inte", &format!("Förbundet {f} finns inte."));
    };
    let today = chrono::Utc::now().date_naive();
    let mut values = Values::new();
    values.insert("date".into(), today.to_string());
    values.insert("year".into(), today.year().to_string());
    if let Some(seq) = q.seq {
        values.insert("corrects".into(), seq);
    }
    values.insert("idempotency_key".into(), format!("webb-{}", uuid::Uuid::new_v4().simple()));
    let context = correction_context(&s, &f, spec, &values).await;
    if let Some((_, day)) = &context {
        values.insert("date".into(), day.to_string());
    }
    let page = form_page(&v, &f, spec, &c, &values, &Problems::new(), context.map(|(m, _)| m));
    html_response(StatusCode::OK, page, Some(&v.user), Some(&f))
}

pub(crate) fn form_choices(s: &Shared, f: &str, user: &User) -> Option<Choices> {
    let snapshot = s.snapshot();
    let slug = Slug::parse(f).ok()?;
    snapshot.projection.forbund.get(&slug)?;
    Some(choices(reports::Books::from(&*snapshot), &slug, user))
}

/// What a correction corrects, said before the form: the event (its kind, date and summary) and
/// the year the correction lands in, and why; with the date to default to — the corrected
/// event's own when its year is open, else the first day of the first open year.
pub(crate) async fn correction_context(
    s: &Shared_,
    f: &str,
    spec: &FormSpec,
    values: &Values,
) -> Option<(Markup, NaiveDate)> {
    if spec.event != "EventCorrected" {
        return None;
    }
    let seq: u64 = values.get("corrects")?.trim().parse().ok()?;
    let forbund = f.to_string();
    let found = on_books(s.clone(), move |store, books| {
        let slug = reports::parse_forbund(&forbund)?;
        if seq == 0 || seq > books.head {
            return Ok(None);
        }
        let mut found = None;
        finsam_store::read_events(store, &[seq], &mut |e| {
            found = Some(e);
            Ok(())
        })?;
        let closed = books.projection.closed_through.get(&slug).copied();
        // Only an event of this förbund's books is described here (as on its event page).
        let touches = |e: &finsam_store::Envelope| e.event.forbund == slug || e.event.forbund_named().contains(&&slug);
        Ok(found.filter(touches).map(|e| (e, closed)))
    })
    .await
    .ok()??;
    let (e, closed) = found;
    let event = &e.event;
    let open = closed.is_none_or(|c| event.date.year() > c);
    let day = if open { event.date } else { NaiveDate::from_ymd_opt(closed.expect("a closed year") + 1, 1, 1)? };
    let why = if open {
        format!(
            "Rättelsen dateras som händelsen, {}, och bokförs {}: samma år, så att årets siffror blir rätt.",
            event.date,
            event.date.year()
        )
    } else {
        format!(
            "{} är stängt (bokslut för år till och med {}), så rättelsen dateras {day} och bokförs {}, det första öppna året; det stängda årets siffror ändras inte.",
            event.date.year(),
            closed.expect("a closed year"),
            day.year()
        )
    };
    let markup = html! {
        div.notice #rattar {
            p { "Du rättar " a href={"/f/" (f) "/handelse/" (seq)} { "händelse " (seq) } ": "
                strong { (finsam_projections::summary::type_label(event.type_name())) } ", " (event.date) "." }
            p { (finsam_projections::summary::summary(event)) }
            p { (why) }
        }
    };
    Some((markup, day))
}

pub(crate) fn form_page(
    v: &Visitor,
    f: &str,
    spec: &FormSpec,
    c: &Choices,
    values: &Values,
    problems: &Problems,
    context: Option<Markup>,
) -> Markup {
    let value = |name: &str| values.get(name).map(String::as_str).unwrap_or("");
    let body = html! {
        h1 { (spec.title) }
        p { (spec.intro) }
        @if let Some(context) = context { (context) }
        @if !problems.is_empty() {
            div.problem role="alert" #fel {
                "Inget har registrerats. Rätta det som är markerat"
                @if let Some(general) = problems.get("") { ": " (general) } @else { ":" }
                ul {
                    @for x in spec.fields.iter().flat_map(|g| g.iter()) {
                        @if let Some(p) = problems.get(x.name) {
                            li { a href={"#" (x.name.replace('.', "-"))} { (x.label) } ": " (p) }
                        }
                    }
                }
            }
        }
        form.event method="post" action={"/f/" (f) "/registrera/" (spec.slug)} novalidate {
            input type="hidden" name="csrf" value=(v.csrf);
            input type="hidden" name="idempotency_key" value=(value("idempotency_key"));
            @for group in spec.fields {
                @for x in group.iter() {
                    @let id = x.name.replace('.', "-");
                    @let problem = problems.get(x.name);
                    div class=(if problem.is_some() { "field invalid" } else { "field" }) {
                        label for=(id) { (x.label) @if !x.required { " (frivilligt)" } }
                        @let described = [(!x.help.is_empty()).then(|| format!("{id}-hjalp")), problem.map(|_| format!("fel-{id}"))]
                            .into_iter().flatten().collect::<Vec<_>>().join(" ");
                        (input_control(x, &id, value(x.name), c, &described, problem.is_some()))
                        @if !x.help.is_empty() { div.help id={(id) "-hjalp"} { (x.help) } }
                        @if let Some(p) = problem { div.error id={"fel-" (id)} role="alert" { (p) } }
                    }
                }
            }
            input type="hidden" name="steg" value="granska";
            button.primary type="submit" { "Granska" }
        }
    };
    layout(v, Some((f, &c.name)), "Registrera", spec.title, body)
}

/// A field's input; `described` names the help and the error shown with it (ids that exist),
/// `invalid` marks it for assistive technology when its value was refused.
pub(crate) fn input_control(x: &Field, id: &str, value: &str, c: &Choices, described: &str, invalid: bool) -> Markup {
    let described = (!described.is_empty()).then_some(described);
    let invalid = invalid.then_some("true");
    let select = |options: &[(String, String)], blank: &str| {
        html! {
            select id=(id) name=(x.name) aria-describedby=[described] aria-invalid=[invalid] required[x.required] {
                option value="" { (blank) }
                @for (v, label) in options { option value=(v) selected[v == value] { (label) } }
            }
        }
    };
    match x.input {
        Input::Date => {
            html! { input type="date" id=(id) name=(x.name) value=(value) aria-describedby=[described] aria-invalid=[invalid] required[x.required]; }
        }
        Input::Year => {
            html! { input type="number" id=(id) name=(x.name) value=(value) min="2000" max="2100" aria-describedby=[described] aria-invalid=[invalid] required[x.required]; }
        }
        Input::Amount => {
            html! { input type="text" id=(id) name=(x.name) value=(value) inputmode="decimal" autocomplete="off" aria-describedby=[described] aria-invalid=[invalid] required[x.required]; }
        }
        Input::Count(low, high) => {
            html! { input type="number" id=(id) name=(x.name) value=(value) min=(low) max=(high) aria-describedby=[described] aria-invalid=[invalid] required[x.required]; }
        }
        Input::Seq => {
            html! { input type="text" id=(id) name=(x.name) value=(value) inputmode="numeric" aria-describedby=[described] aria-invalid=[invalid] required[x.required]; }
        }
        Input::Text => {
            html! { input type="text" id=(id) name=(x.name) value=(value) aria-describedby=[described] aria-invalid=[invalid] required[x.required]; }
        }
        Input::LongText => {
            html! { textarea id=(id) name=(x.name) rows="3" aria-describedby=[described] aria-invalid=[invalid] required[x.required] { (value) } }
        }
        Input::Member => select(&c.members, "– välj medlem –"),
        Input::CostLine => select(&c.cost_lines, "– välj budgetrad –"),
        Input::IncomeLine => select(&c.income_lines, "– välj intäktsrad –"),
        Input::Insats => select(&c.insatser, "– välj insats –"),
        Input::OpenInvoice => select(&c.invoices, "– välj faktura –"),
        Input::OtherForbund => select(&c.others, "– välj förbund –"),
        Input::Choice(options) => {
            let options: Vec<(String, String)> = options.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
            html! {
                select id=(id) name=(x.name) aria-describedby=[described] aria-invalid=[invalid] {
                    @for (v, label) in &options { option value=(v) selected[v == value] { (label) } }
                }
            }
        }
    }
}

/// Checks (`check_only`) or records a form's event through the server's writer, as the
/// signed-in user; a page saying nothing was recorded when the server is stopping.
pub(crate) async fn through_writer(
    s: &Shared_,
    event: Event,
    v: &Visitor,
    route: &'static str,
    check_only: bool,
) -> Result<crate::Outcome, Response> {
    let stopping = || {
        problem_page(
            Some(v),
            StatusCode::SERVICE_UNAVAILABLE,
            "Servern stängs",
            "Inget registrerades. Försök igen om en stund.",
        )
    };
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job = WriteJob {
        batch: vec![(1, event)],
        actor: v.user.name.clone(),
        user: v.user.clone(),
        expect_head: None,
        expect_versions: Vec::new(),
        route,
        check_only,
        reply,
    };
    s.writes.send(job).await.map_err(|_| stopping())?;
    answer.await.map_err(|_| stopping())
}

pub(crate) async fn form_post(
    State(s): State<Shared_>,
    UrlPath((_, slug)): UrlPath<(String, String)>,
    Records { v, f }: Records,
    Form(values): Form<Values>,
) -> Response {
    if !values.get("csrf").is_some_and(|c| same_secret(c, &v.csrf)) {
        return csrf_refused(Some(&v.user));
    }
    let Some(spec) = form_spec(&slug) else {
        return problem_page(Some(&v), StatusCode::NOT_FOUND, "Finns inte", "Det finns inget sådant formulär.");
    };
    let Some(c) = form_choices(&s, &f, &v.user) else {
        return problem_page(Some(&v), StatusCode::NOT_FOUND, "Finns inte", &format!("Förbundet {f} finns inte."));
    };
    let context = correction_context(&s, &f, spec, &values).await.map(|(m, _)| m);
    let again = |problems: &Problems| {
        html_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            form_page(&v, &f, spec, &c, &values, problems, context.clone()),
            Some(&v.user),
            Some(&f),
        )
    };
    let step = values.get("steg").map(String::as_str).unwrap_or("granska");
    if step == "andra" {
        return html_response(
            StatusCode::OK,
            form_page(&v, &f, spec, &c, &values, &Problems::new(), context.clone()),
            Some(&v.user),
            Some(&f),
        );
    }
    let (event, json) = match event_of(spec, &f, &values) {
        Ok(x) => x,
        Err(problems) => return again(&problems),
    };
    let confirmed = step == "registrera";
    let acknowledged = values.contains_key("sett_varningar");
    // First the check (nothing written); then, confirmed, the recording.
    let (checked, warnings, _) = match through_writer(&s, event.clone(), &v, "/f/{id}/registrera/{form}", true).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match checked {
        Err(StoreError::Rejected(r)) => return again(&rejection_problems(spec, &r)),
        Err(e) => return store_failure_page(&v, e),
        Ok(_) => {}
    }
    if !confirmed || (!warnings.is_empty() && !acknowledged) {
        let page = confirm_page(&v, &f, spec, &c, &values, &event, &json, &warnings, confirmed);
        return html_response(StatusCode::OK, page, Some(&v.user), Some(&f));
    }
    let (outcome, _, _) = match through_writer(&s, event, &v, "/f/{id}/registrera/{form}", false).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    recorded_answer(&v, &f, outcome, |r| again(&rejection_problems(spec, r)))
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn confirm_page(
    v: &Visitor,
    f: &str,
    spec: &FormSpec,
    c: &Choices,
    values: &Values,
    event: &Event,
    json: &Value,
    warnings: &[(usize, finsam_projections::advice::Warning)],
    asked_before: bool,
) -> Markup {
    let shown = |x: &Field| -> String {
        let raw = values.get(x.name).map(String::as_str).unwrap_or("").trim().to_string();
        let pick = |list: &[(String, String)]| list.iter().find(|(id, _)| *id == raw).map(|(_, n)| n.clone());
        match x.input {
            Input::Amount => {
                swedish_amount(&raw).ok().and_then(|a| Amount::parse(&a).ok()).map_or(raw.clone(), |a| a.human())
            }
            Input::Member => pick(&c.members).unwrap_or(raw),
            Input::CostLine => pick(&c.cost_lines).unwrap_or(raw),
            Input::IncomeLine => pick(&c.income_lines).unwrap_or(raw),
            Input::Insats => pick(&c.insatser).unwrap_or(raw),
            Input::OpenInvoice => pick(&c.invoices).unwrap_or(raw),
            Input::OtherForbund => pick(&c.others).unwrap_or(raw),
            Input::Choice(options) => {
                options.iter().find(|(id, _)| *id == raw).map_or(raw.clone(), |(_, l)| l.to_string())
            }
            _ => raw,
        }
    };
    let body = html! {
        h1 { "Granska: " (spec.title) }
        p { "Kontrollera uppgifterna. Inget är registrerat ännu." }
        p.meta #sammanfattning { (finsam_projections::summary::summary(event)) }
        dl.event #granskning {
            @for group in spec.fields { @for x in group.iter() {
                @let text = shown(x);
                @if !text.is_empty() { dt { (x.label) } dd id={"granska-" (x.name.replace('.', "-"))} { (text) } }
            } }
        }
        details { summary { "Händelsen som den skrivs i loggen" } pre tabindex="0" role="region" aria-label="Händelsen som JSON" { (serde_json::to_string_pretty(json).expect("serialises")) } }
        form.event method="post" action={"/f/" (f) "/registrera/" (spec.slug)} {
            input type="hidden" name="csrf" value=(v.csrf);
            @for (k, val) in values {
                @if !matches!(k.as_str(), "csrf" | "steg" | "sett_varningar") { input type="hidden" name=(k) value=(val); }
            }
            @if !warnings.is_empty() {
                h2 { "Varningar" }
                @for (_, w) in warnings { p.warning role="alert" { (w.swedish) } }
                @if asked_before { p.error role="alert" { "Bekräfta att du har sett varningarna innan du registrerar." } }
                div.field {
                    label { input type="checkbox" name="sett_varningar" value="1" required; " Jag har sett varningarna och vill registrera ändå." }
                }
            }
            button.primary type="submit" name="steg" value="registrera" { "Registrera" }
            " "
            button.secondary type="submit" name="steg" value="andra" formnovalidate { "Ändra" }
        }
    };
    layout(v, Some((f, &c.name)), "Registrera", &format!("Granska: {}", spec.title), body)
}
