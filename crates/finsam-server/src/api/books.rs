//! A förbund's books: balances, the budget position, an account explained, the reconciliation.

use crate::*;

#[utoipa::path(
    get, path = "/api/v1/forbund/{id}/balances", operation_id = "getBalances", tag = "books",
    summary = "The trial balance and key figures",
    params(ForbundPath, AxesQuery),
    responses(
        (status = 200, description = "as `finsam balances --format json`", body = finsam_app::answers::Balances),
        openapi::ReportRefusals,
    )
)]
pub(crate) async fn balances(State(s): State<Shared_>, Reader { user, f }: Reader, TimeAxes(axes): TimeAxes) -> Reply {
    let id = f.clone();
    let a = report(s, move |dir, books| reports::balances_out(dir, books, &id, &axes, Format::Json)).await;
    finish(a, &user, Some(&f))
}

#[utoipa::path(
    get, path = "/api/v1/forbund/{id}/budget/{year}", operation_id = "getBudgetPosition", tag = "books",
    summary = "The budget position of a year",
    params(ForbundYearPath, AxesQuery),
    responses(
        (status = 200, description = "as `finsam budget --format json`", body = finsam_app::answers::BudgetPosition),
        openapi::ReportRefusals,
    )
)]
pub(crate) async fn budget(
    State(s): State<Shared_>,
    UrlPath((_, year)): UrlPath<(String, i32)>,
    Reader { user, f }: Reader,
    TimeAxes(axes): TimeAxes,
) -> Reply {
    let id = f.clone();
    let a = report(s, move |dir, books| reports::budget_out(dir, books, &id, year, &axes, Format::Json)).await;
    finish(a, &user, Some(&f))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExplainQuery {
    /// the account's number in the förbund's chart, e.g. 1930
    #[param(required = true, example = "1930")]
    pub(crate) account: Option<String>,
    /// count what is dated on or before this day (default today)
    #[param(format = Date)]
    pub(crate) as_of: Option<String>,
    /// replay the log only up to this seq, recording time (RFC 3339) or date
    pub(crate) known_at: Option<String>,
}

#[utoipa::path(
    get, path = "/api/v1/forbund/{id}/audit/explain", operation_id = "explainAccount", tag = "books",
    summary = "The vouchers behind an account's balance",
    params(ForbundPath, ExplainQuery),
    responses(
        (status = 200, description = "as `finsam audit explain --format json`", body = finsam_app::answers::Explanation),
        openapi::ReportRefusals,
    )
)]
pub(crate) async fn explain(
    State(s): State<Shared_>,
    Reader { user, f }: Reader,
    Query(q): Query<ExplainQuery>,
) -> Reply {
    let axes = (AxesQuery { as_of: q.as_of, known_at: q.known_at }).axes()?;
    let Some(account) = q.account else {
        return finish(Answer::error(StatusCode::BAD_REQUEST, "which account? ?account=1930"), &user, Some(&f));
    };
    let id = f.clone();
    let a =
        report(s, move |dir, books| reports::explain_out(dir, books, &id, &account, &axes, None, Format::Json)).await;
    finish(a, &user, Some(&f))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReconcileQuery {
    /// the förbund a merger formed (default: every förbund, admin and revisor only)
    pub(crate) merger: Option<String>,
    /// count what is dated on or before this day (default today)
    #[param(format = Date)]
    pub(crate) as_of: Option<String>,
    /// replay the log only up to this seq, recording time (RFC 3339) or date
    pub(crate) known_at: Option<String>,
    /// the equity ceiling as a share of the year's contributions (default 0.2)
    #[param(example = "0.2")]
    pub(crate) equity_ceiling: Option<String>,
    /// days after the new year within which a cost accrued at the year's end must be met by the
    /// cost itself (default 60)
    #[param(minimum = 1, maximum = 366)]
    pub(crate) accrual_days: Option<u32>,
}

#[utoipa::path(
    get, path = "/api/v1/reconcile", operation_id = "reconcile", tag = "books",
    summary = "The merger reconciliation run (with merger: whoever reads that förbund; without: admin, revisor)",
    params(ReconcileQuery),
    responses(
        (status = 200, description = "as `finsam reconcile --format json`", body = finsam_app::answers::Reconciliation),
        openapi::ReportRefusals,
    )
)]
pub(crate) async fn reconcile(State(s): State<Shared_>, headers: HeaderMap, Query(q): Query<ReconcileQuery>) -> Reply {
    let need = match &q.merger {
        Some(f) => Need::Read(f),
        None => Need::Audit,
    };
    let user = s.authorize(None, &headers, need)?;
    let axes = (AxesQuery { as_of: q.as_of.clone(), known_at: q.known_at.clone() }).axes()?;
    let mut rules = finsam_projections::reconcile::Rules::default();
    match q.equity_ceiling.as_deref().map(finsam_domain::Share::parse) {
        None => {}
        Some(Ok(s)) => {
            let share = s.decimal();
            rules.equity_ceiling = finsam_projections::annual::CeilingRule::flat(share, "equity_ceiling i frågan")
        }
        Some(Err(e)) => return Err(Answer::error(StatusCode::BAD_REQUEST, format!("equity_ceiling: {}", e.0))),
    };
    match q.accrual_days {
        None => {}
        Some(days @ 1..=366) => rules.accrual_days = days,
        Some(days) => {
            return Err(Answer::error(StatusCode::BAD_REQUEST, format!("accrual_days {days}: 1 to 366 days")))
        }
    }
    let merger = q.merger.clone();
    let a = report(s, move |dir, books| {
        reports::reconcile_out(dir, books, merger.as_deref(), &axes, rules, Format::Json).map(|(out, _)| out)
    })
    .await;
    finish(a, &user, q.merger.as_deref())
}
