//! A förbund's books as pages: the förbund list, the start page, an account's vouchers, a
//! budget line's vouchers.

use super::*;

pub(crate) async fn index(State(s): State<Shared_>, headers: HeaderMap) -> Response {
    let v = match signed_in(&s, &headers, "/") {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let snapshot = s.snapshot();
    let list: Vec<(String, String)> = snapshot
        .projection
        .forbund
        .iter()
        .filter(|(id, info)| v.user.covers(id.as_str()) && info.dissolved.is_none())
        .map(|(id, info)| (id.to_string(), info.name.clone()))
        .collect();
    if list.len() == 1 {
        return see_other(&format!("/f/{}", list[0].0));
    }
    let body = html! {
        h1 { "Förbund" }
        @if list.is_empty() { p { "Din roll omfattar inget förbund som är i drift." } }
        ul { @for (id, name) in &list { li { a href={"/f/" (id)} { (name) } } } }
    };
    html_response(StatusCode::OK, layout(&v, None, "Förbund", "Förbund", body), Some(&v.user), None)
}

/// What the start page shows.
pub(crate) struct Overview {
    pub(crate) name: String,
    pub(crate) at: finsam_projections::reports::At,
    pub(crate) balances: finsam_projections::reports::Balances,
    pub(crate) bank_account: String,
    pub(crate) budget: Option<finsam_projections::reports::BudgetPosition>,
    pub(crate) months: Vec<(String, Amount)>,
    pub(crate) findings: Vec<Finding>,
}

pub(crate) async fn start(State(s): State<Shared_>, Reports { v, f, path, q, mut axes }: Reports) -> Response {
    // Without a date asked, the page opens at the end of the latest year with books when that
    // year is over (a förbund merged away, or one whose new year has no budget yet).
    if axes.as_of.is_none() && v.year < chrono::Utc::now().date_naive().year() {
        axes.as_of = NaiveDate::from_ymd_opt(v.year, 12, 31);
    }
    let forbund = f.clone();
    let overview = on_books(s.clone(), move |store, books| {
        let (slug, at) = reports::forbund_at(store, books, &forbund, &axes)?;
        let chart = reports::chart_for(store, &slug)?;
        let p = books.projection;
        let balances = p.balances(&slug, at, &chart).expect("checked that the förbund exists");
        let year = at.as_of.year();
        let months = (1..=at.as_of.month())
            .filter_map(|m| {
                let end = finsam_projections::period::month_end(year, m)?;
                let day = end.min(at.as_of);
                let b =
                    p.balances(&slug, finsam_projections::reports::At { as_of: day, known_at: at.known_at }, &chart)?;
                Some((pages::MONTHS[m as usize - 1].to_string(), b.bank))
            })
            .collect();
        let (result, ..) = reports::reconciliation(store, books, None, Some(&slug), &axes, Default::default())?;
        let findings = result.findings.iter().map(Finding::from).collect();
        Ok(Overview {
            name: p.forbund[&slug].name_known_at(at.known_at).to_string(),
            at,
            bank_account: chart.account(finsam_projections::chart::Role::Bank).number.clone(),
            budget: p.budget_position(&slug, year, at),
            balances,
            months,
            findings,
        })
    })
    .await;
    let o = match overview {
        Ok(o) => o,
        Err(a) => return failure_page(&v, a),
    };
    let keep = q.query();
    let b = &o.balances;
    let year = o.at.as_of.year();
    let figure = |id: &str, label: &str, value: Amount, href: String| {
        html! { div.figure { div.label { (label) } div.value { a #(id) href=(href) { (value.human()) } } } }
    };
    let body = html! {
        h1 { (o.name) }
        p.meta { "Per " (o.at.as_of) ", känt vid händelse " (o.at.known_at) "." }
        @if o.at.known_at == 0 {
            p.warning { "Vid den tidpunkt du angav under ”Känt vid” var ingen händelse registrerad ännu, så alla belopp är noll. "
                "Händelserna registreras med dagens datum och tid; ange ett händelsenummer eller en senare tidpunkt." }
        }
        (time_bar_at(&path, &q, Some(o.at.as_of)))
        section aria-labelledby="nyckeltal" {
            h2 #nyckeltal { "Nyckeltal" }
            div.figures {
                (figure("nyckeltal-bank", "Kassa och bank", b.bank, format!("/f/{f}/konto/{}{keep}", o.bank_account)))
                (figure("nyckeltal-eget-kapital", "Eget kapital", b.equity, format!("/f/{f}/arsredovisning/{year}")))
                (figure("nyckeltal-intakter", &format!("Intäkter {year}"), b.income, format!("/f/{f}/handelser?fran={year}-01-01")))
                (figure("nyckeltal-kostnader", &format!("Kostnader {year}"), b.costs, format!("/f/{f}/uppfoljning/{year}")))
                (figure("nyckeltal-resultat", &format!("Resultat {year}"), b.result, format!("/f/{f}/arsredovisning/{year}")))
            }
        }
        @match &o.budget {
            None => section { h2 { "Budget " (year) } p { "Ingen budget i kraft för " (year) "." } },
            Some(bp) => (budget_section(&f, bp, &keep)),
        }
        section {
            h2 { "Kassa och bank " (year) }
            figure {
                figcaption { "Kassa och bank vid varje månads slut " (year) }
                (finsam_app::charts::line("bank", &format!("Kassa och bank vid varje månads slut {year}"), &o.months))
            }
            table {
                caption { "Kassa och bank per månad (kr)" }
                thead { tr { th { "månad" } th.n { "saldo" } } }
                tbody { @for (m, a) in &o.months { tr { td { (m) } (money_cell(*a)) } } }
            }
        }
        section {
            h2 { "Varningar och avstämning" }
            @if o.findings.is_empty() {
                p { "Inga anmärkningar för förbundet." }
            } @else {
                ul {
                    @for x in &o.findings {
                        li class=(if x.error { "problem" } else { "warning" }) {
                            strong { (x.subject) } ": " (x.explanation)
                            @for seq in &x.events {
                                " " a href={"/f/" (f) "/handelse/" (seq)} { "händelse " (seq) }
                            }
                        }
                    }
                }
            }
            p { a href={"/f/" (f) "/avstamning"} { "Hela avstämningen" } }
        }
        section {
            h2 { "Konton" }
            table {
                caption { "Saldon per konto (debet positivt, kr)" }
                thead { tr { th { "konto" } th { "namn" } th.n { "saldo" } } }
                tbody {
                    @for a in &b.accounts {
                        tr { td { (a.account) } td { (a.name) }
                            td.n { a href={"/f/" (f) "/konto/" (a.account) (keep)} { (a.balance.human_number()) } } }
                    }
                }
            }
        }
    };
    let page = layout(&v, Some((&f, &o.name)), "Översikt", &o.name, body);
    html_response(StatusCode::OK, page, Some(&v.user), Some(&f))
}

pub(crate) fn budget_section(f: &str, bp: &finsam_projections::reports::BudgetPosition, keep: &str) -> Markup {
    let bars: Vec<(String, Amount, Amount)> = bp
        .by_category
        .iter()
        .filter(|c| !c.budget.is_zero() || !c.spent.is_zero())
        .map(|c| (reports::category_title(c.category).to_string(), c.budget, c.spent))
        .collect();
    let by_line: Vec<(String, Amount, Amount)> = bp.lines.iter().map(|l| (l.name.clone(), l.budget, l.spent)).collect();
    let year = bp.year;
    let budget_total: Amount = bp.lines.iter().map(|l| l.budget).sum();
    let utfall_total: Amount = bp.lines.iter().map(|l| l.spent).sum::<Amount>() + bp.unbudgeted_spent;
    html! {
        section {
            h2 { "Budget och utfall " (year) }
            p.note {
                @match bp.status {
                    finsam_domain::event::BudgetStatus::Adopted => { "Budgeten i kraft: " }
                    finsam_domain::event::BudgetStatus::Outlook => { "Ingen budget antagen för året; siffrorna är planens prognos: " }
                }
                a href={"/f/" (f) "/handelse/" (bp.budget_seq)} { "beslutet (händelse " (bp.budget_seq) ")" } ". Klicka på ett utfall för att se verifikationerna bakom det."
            }
            figure {
                figcaption { "Budget och utfall per kategori " (year) }
                (finsam_app::charts::paired_bars("start-kategori", &format!("Budget och utfall per kategori {year}"), ("budget", "utfall"), &bars))
            }
            table {
                caption { "Per kategori (kr)" }
                thead { tr { th { "kategori" } th.n { "budget" } th.n { "utfall" } th.n { "kvar" } } }
                tbody {
                    @for (name, budget, spent) in &bars { tr { td { (name) } (money_cell(*budget)) (money_cell(*spent)) (money_cell(*budget - *spent)) } }
                    @if !bp.unbudgeted_spent.is_zero() { tr { td { "Utanför budgeten" } (money_cell(Amount::ZERO)) (money_cell(bp.unbudgeted_spent)) (money_cell(-bp.unbudgeted_spent)) } }
                    tr.sum { td { "Summa" } (money_cell(budget_total)) td.n #utfall-summa { (utfall_total.human_number()) } (money_cell(budget_total - utfall_total)) }
                }
            }
            figure {
                figcaption { "Budget och utfall per budgetrad och insats " (year) }
                (finsam_app::charts::paired_bars("start-rad", &format!("Budget och utfall per budgetrad och insats {year}"), ("budget", "utfall"), &by_line))
            }
            table {
                caption { "Per budgetrad och insats (kr)" }
                thead { tr { th { "rad" } th.n { "budget" } th.n { "beviljat" } th.n { "utfall" } th.n { "kvar" } } }
                tbody {
                    @for l in &bp.lines {
                        tr {
                            td { (l.name) }
                            (money_cell(l.budget))
                            (money_cell(l.granted))
                            td.n { a id={"utfall-" (l.id)} href={"/f/" (f) "/rad/" (year) "/" (l.id) (keep)} { (l.spent.human_number()) } }
                            (money_cell(l.remaining()))
                        }
                    }
                }
            }
        }
        (plan_section(f, bp))
    }
}

/// The flerårsplan beside the year's budget: a column per year, the budget or the plan's
/// outlook in force for it, each leading to its decision.
fn plan_section(f: &str, bp: &finsam_projections::reports::BudgetPosition) -> Markup {
    use finsam_domain::event::BudgetStatus;
    let category = |y: &finsam_projections::reports::PlanYear, c: finsam_domain::Category| {
        y.by_category.iter().find(|(x, _)| *x == c).map_or(Amount::ZERO, |(_, a)| *a)
    };
    let missing: Vec<String> =
        (bp.year + 1..=bp.year + 2).filter(|y| !bp.plan.iter().any(|x| x.year == *y)).map(|y| y.to_string()).collect();
    html! {
        section #flerarsplan {
            h2 { "Flerårsplan" }
            table {
                caption { "Budget och plan för de kommande åren (kr)" }
                thead {
                    tr {
                        th { "" }
                        @for y in &bp.plan {
                            th.n { a href={"/f/" (f) "/handelse/" (y.seq)} {
                                (if y.status == BudgetStatus::Adopted { "budget " } else { "plan " }) (y.year)
                            } }
                        }
                    }
                }
                tbody {
                    tr { td { "Intäkter" } @for y in &bp.plan { (money_cell(y.income)) } }
                    @for c in finsam_domain::Category::ALL {
                        tr { td { (reports::category_title(*c)) } @for y in &bp.plan { (money_cell(category(y, *c))) } }
                    }
                    tr { td { "Summa kostnader" } @for y in &bp.plan { (money_cell(y.costs)) } }
                    tr.sum { td { "Resultat" } @for y in &bp.plan { (money_cell(y.result())) } }
                }
            }
            @if !missing.is_empty() { p.note { "Ingen plan registrerad för " (missing.join(" och ")) "." } }
        }
    }
}

/// A table of vouchers with the amount and the running balance, each leading to its event.
pub(crate) fn voucher_table(
    f: &str,
    caption: &str,
    rows: &[(finsam_projections::projection::Voucher, Amount, Amount)],
) -> Markup {
    use finsam_projections::projection::VoucherKind;
    html! {
        table {
            caption { (caption) }
            thead { tr { th { "datum" } th { "verifikation" } th { "slag" } th { "text" } th.n { "belopp" } th.n { "saldo" } } }
            tbody {
                @for (voucher, amount, running) in rows {
                    tr {
                        td { (voucher.date) }
                        td { a href={"/f/" (f) "/handelse/" (voucher.seq)} { (voucher.label()) } }
                        td { @match voucher.kind {
                            VoucherKind::Event => "händelse",
                            VoucherKind::Correction { of } => { "rättelse av " (of) },
                            VoucherKind::Closing => "bokslut",
                        } }
                        td { (voucher.text) }
                        (money_cell(*amount))
                        (money_cell(*running))
                    }
                }
            }
        }
    }
}

/// Reports and the förbund's name (as known at the head) from the same books.
pub(crate) fn forbund_name(books: reports::Books<'_>, f: &str) -> Result<String, finsam_app::output::Failure> {
    Ok(books.projection.forbund[&reports::parse_forbund(f)?].name.clone())
}

pub(crate) async fn account(
    State(s): State<Shared_>,
    UrlPath((_, number)): UrlPath<(String, String)>,
    Reports { v, f, path, q, axes }: Reports,
) -> Response {
    let (forbund, acct) = (f.clone(), number.clone());
    let found = on_books(s.clone(), move |store, books| {
        let explained = reports::explain_entries(store, books, &forbund, &acct, &axes, None)?;
        Ok((explained, forbund_name(books, &forbund)?))
    })
    .await;
    let (x, name) = match found {
        Ok(x) => x,
        Err(a) => return failure_page(&v, a),
    };
    let balance = x.entries.last().map_or(Amount::ZERO, |e| e.2);
    let title = format!("Konto {number} {}", x.name);
    let body = html! {
        h1 { (title) }
        p.meta { "Per " (x.at.as_of) ", känt vid händelse " (x.at.known_at) ". Saldo " strong #saldo { (balance.human()) } "." }
        (time_bar(&path, &q))
        p.note { "Verifikationerna bakom saldot i datumordning, med löpande saldo. Klicka på en verifikation för händelsen och beslutet bakom den." }
        (voucher_table(&f, &format!("Verifikationer på konto {number} (kr)"), &x.entries))
    };
    html_response(StatusCode::OK, layout(&v, Some((&f, &name)), "", &title, body), Some(&v.user), Some(&f))
}

pub(crate) async fn budget_line(
    State(s): State<Shared_>,
    UrlPath((_, year, line)): UrlPath<(String, i32, String)>,
    Reports { v, f, path, q, axes }: Reports,
) -> Response {
    let (forbund, line_id) = (f.clone(), line.clone());
    let found = on_books(s.clone(), move |store, books| {
        let axes = Axes { as_of: axes.as_of.or(NaiveDate::from_ymd_opt(year, 12, 31)), known_at: axes.known_at };
        let (slug, at) = reports::forbund_at(store, books, &forbund, &axes)?;
        let id = Slug::parse(&line_id).map_err(|r| finsam_app::output::Failure::usage(r.to_string()))?;
        let p = books.projection;
        let Some(entries) = p.line_vouchers(&slug, year, &id, at) else {
            return Err(finsam_app::output::Failure {
                code: 2,
                message: format!("{slug} has no budget for {year} with a line {id}"),
            });
        };
        let position = p.budget_position(&slug, year, at).expect("line_vouchers found the budget");
        let l = position.lines.iter().find(|l| l.id == id).expect("line_vouchers found the line").clone();
        Ok((p.forbund[&slug].name.clone(), l, entries, at))
    })
    .await;
    let (name, l, rows, at) = match found {
        Ok(x) => x,
        Err(a) => return failure_page(&v, a),
    };
    let title = format!("{} {year}", l.name);
    let body = html! {
        h1 { (title) }
        p.meta { "Budget " (l.budget.human()) ", beviljat " (l.granted.human()) ", utfall " strong #utfall { (l.spent.human()) }
            " per " (at.as_of) ", känt vid händelse " (at.known_at) "." }
        (time_bar(&path, &q))
        p.note { "Verifikationerna bakom radens utfall. Klicka på en verifikation för händelsen och beslutet bakom den." }
        (voucher_table(&f, &format!("Kostnader på {} {year} (kr)", l.name), &rows))
    };
    html_response(StatusCode::OK, layout(&v, Some((&f, &name)), "", &title, body), Some(&v.user), Some(&f))
}
