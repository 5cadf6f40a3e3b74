//! Decoding: one JSON value into a typed event, every refusal naming the field, the value and
//! the rule.

use super::*;

fn json_text(value: &Json<'_>) -> String {
    value.text()
}

fn json_kind(value: &Json<'_>) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(n) if n.is_f64() => "a JSON float",
        Json::Number(_) => "a JSON number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// Reads one JSON object field by field, remembering which fields were read, so that
/// `finish` can refuse the first field the contract does not know.
struct Obj<'a> {
    map: &'a Members<'a>,
    path: String,
    seen: Vec<&'static str>,
}

impl<'a> Obj<'a> {
    fn new(value: &'a Json<'a>, path: &str) -> Result<Obj<'a>, Rejection> {
        match value {
            Json::Object(map) => Ok(Obj { map, path: path.to_string(), seen: Vec::new() }),
            other => Err(Rejection::new(
                Rule::NotAnObject,
                path,
                json_text(other),
                format!("expected a JSON object, found {}", json_kind(other)),
            )),
        }
    }

    fn field(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    fn opt(&mut self, name: &'static str) -> Option<&'a Json<'a>> {
        self.seen.push(name);
        match self.map.get(name) {
            None | Some(Json::Null) => None,
            Some(v) => Some(v),
        }
    }

    fn req(&mut self, name: &'static str) -> Result<&'a Json<'a>, Rejection> {
        self.opt(name).ok_or_else(|| {
            Rejection::new(Rule::MissingField, self.field(name), "", "this field is required for this event type")
        })
    }

    fn wrong_type(&self, name: &str, value: &Json<'_>, expected: &str) -> Rejection {
        Rejection::new(
            Rule::WrongJsonType,
            self.field(name),
            json_text(value),
            format!("expected {expected}, found {}", json_kind(value)),
        )
    }

    fn str_of(&self, name: &str, value: &'a Json<'a>) -> Result<&'a str, Rejection> {
        value.as_str().ok_or_else(|| self.wrong_type(name, value, "a string"))
    }

    fn text_of(&self, name: &str, value: &'a Json<'a>, max: usize) -> Result<String, Rejection> {
        let text = self.str_of(name, value)?;
        if text.trim().is_empty() {
            return Err(Rejection::new(
                Rule::TextEmpty,
                self.field(name),
                json_text(value),
                "this text may not be empty",
            ));
        }
        if text.chars().count() > max {
            return Err(Rejection::new(
                Rule::TextTooLong,
                self.field(name),
                json_text(value),
                format!("this text is at most {max} characters"),
            ));
        }
        Ok(text.to_string())
    }

    fn text(&mut self, name: &'static str, max: usize) -> Result<String, Rejection> {
        let v = self.req(name)?;
        self.text_of(name, v, max)
    }

    fn opt_text(&mut self, name: &'static str, max: usize) -> Result<Option<String>, Rejection> {
        self.opt(name).map(|v| self.text_of(name, v, max)).transpose()
    }

    fn slug_of(&self, name: &str, value: &Json<'_>) -> Result<Slug, Rejection> {
        let text = self.str_of(name, value)?;
        Slug::parse(text).map_err(|rule| Rejection::new(Rule::SlugMalformed, self.field(name), json_text(value), rule))
    }

    fn slug(&mut self, name: &'static str) -> Result<Slug, Rejection> {
        let v = self.req(name)?;
        self.slug_of(name, v)
    }

    fn opt_slug(&mut self, name: &'static str) -> Result<Option<Slug>, Rejection> {
        self.opt(name).map(|v| self.slug_of(name, v)).transpose()
    }

    fn amount_of(&self, name: &str, value: &Json<'_>) -> Result<Amount, Rejection> {
        match value {
            Json::String(text) => Amount::parse(text)
                .map_err(|e| Rejection::new(Rule::AmountMalformed, self.field(name), json_text(value), e.0)),
            Json::Number(_) => Err(Rejection::new(
                Rule::AmountMalformed,
                self.field(name),
                json_text(value),
                format!(
                    "amounts are decimal strings in kronor with at most 2 decimals, e.g. \"1500.50\"; {} is refused because a JSON number can lose öre",
                    json_kind(value)
                ),
            )),
            other => Err(self.wrong_type(name, other, "a decimal string such as \"1500.50\"")),
        }
    }

    fn amount(&mut self, name: &'static str) -> Result<Amount, Rejection> {
        let v = self.req(name)?;
        self.amount_of(name, v)
    }

    fn opt_amount(&mut self, name: &'static str) -> Result<Option<Amount>, Rejection> {
        self.opt(name).map(|v| self.amount_of(name, v)).transpose()
    }

    fn share_of(&self, name: &str, value: &Json<'_>) -> Result<Share, Rejection> {
        match value {
            Json::String(text) => Share::parse(text)
                .map_err(|e| Rejection::new(Rule::ShareMalformed, self.field(name), json_text(value), e.0)),
            other => Err(Rejection::new(
                Rule::ShareMalformed,
                self.field(name),
                json_text(other),
                format!("a share is a decimal string such as \"0.25\", found {}", json_kind(other)),
            )),
        }
    }

    fn date_of(&self, name: &str, value: &Json<'_>) -> Result<NaiveDate, Rejection> {
        let text = self.str_of(name, value)?;
        let well_formed = text.len() == 10
            && text.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
        let date = if well_formed {
            let n = |range: std::ops::Range<usize>| text[range].parse::<u32>().ok();
            match (n(0..4), n(5..7), n(8..10)) {
                (Some(y), Some(m), Some(d)) => NaiveDate::from_ymd_opt(y as i32, m, d),
                _ => None,
            }
        } else {
            None
        };
        let Some(date) = date else {
            return Err(Rejection::new(
                Rule::DateInvalid,
                self.field(name),
                json_text(value),
                "a date is a real calendar date written YYYY-MM-DD",
            ));
        };
        if !(YEAR_MIN..=YEAR_MAX).contains(&date.year()) {
            return Err(Rejection::new(
                Rule::DateOutOfRange,
                self.field(name),
                json_text(value),
                format!("dates lie between {YEAR_MIN}-01-01 and {YEAR_MAX}-12-31"),
            ));
        }
        Ok(date)
    }

    fn date(&mut self, name: &'static str) -> Result<NaiveDate, Rejection> {
        let v = self.req(name)?;
        self.date_of(name, v)
    }

    fn year(&mut self, name: &'static str) -> Result<i32, Rejection> {
        let v = self.req(name)?;
        let year = v
            .as_i64()
            .filter(|_| !v.is_f64())
            .ok_or_else(|| self.wrong_type(name, v, "a JSON integer year such as 2024"))?;
        if !(i64::from(YEAR_MIN)..=i64::from(YEAR_MAX)).contains(&year) {
            return Err(Rejection::new(
                Rule::YearOutOfRange,
                self.field(name),
                json_text(v),
                format!("a year lies between {YEAR_MIN} and {YEAR_MAX}"),
            ));
        }
        Ok(year as i32)
    }

    fn seq(&mut self, name: &'static str) -> Result<u64, Rejection> {
        let v = self.req(name)?;
        v.as_u64().filter(|n| *n >= 1).ok_or_else(|| self.wrong_type(name, v, "a JSON integer seq of 1 or more"))
    }

    /// The payroll items of `allowed` given, each not negative unless it may be, at least one
    /// not zero.
    fn pay_items(&mut self, allowed: &[PayItem]) -> Result<Vec<(PayItem, Amount)>, Rejection> {
        let mut items = Vec::new();
        for item in PayItem::ALL.iter().copied().filter(|i| allowed.contains(i)) {
            if let Some(amount) = self.opt_amount(item.as_str())? {
                if !item.may_be_negative() {
                    self.not_negative(item.as_str(), amount)?;
                }
                items.push((item, amount));
            }
        }
        if items.iter().all(|(_, a)| a.is_zero()) {
            // An item that belongs to the other payroll event says more than "nothing to pay".
            if let Some(other) =
                PayItem::ALL.iter().find(|i| !allowed.contains(i) && self.map.get(i.as_str()).is_some())
            {
                let names = allowed.iter().map(|i| i.as_str()).collect::<Vec<_>>().join(", ");
                return Err(Rejection::new(
                    Rule::UnknownField,
                    self.field(other.as_str()),
                    "",
                    format!("this field is not part of the contract here; the items paid are {names}"),
                ));
            }
            let names = allowed.iter().map(|i| format!("`{}`", i.as_str())).collect::<Vec<_>>().join(", ");
            return Err(Rejection::new(
                Rule::AmountMustNotBeZero,
                allowed[0].as_str(),
                items.first().map(|(_, a)| format!("\"{a}\"")).unwrap_or_default(),
                format!("a payroll event moves money: at least one of {names} is not zero"),
            ));
        }
        Ok(items)
    }

    /// The optional `nature` of a cost (v2).
    fn opt_nature(&mut self) -> Result<Option<Nature>, Rejection> {
        match self.opt("nature") {
            None => Ok(None),
            Some(v) => self.enum_of("nature", v, Nature::parse, Nature::allowed()).map(Some),
        }
    }

    fn enum_of<T>(
        &self,
        name: &str,
        value: &Json<'_>,
        parse: fn(&str) -> Option<T>,
        allowed: String,
    ) -> Result<T, Rejection> {
        let text = self.str_of(name, value)?;
        parse(text).ok_or_else(|| {
            Rejection::new(
                Rule::ValueNotAllowed,
                self.field(name),
                json_text(value),
                format!("allowed values are {allowed}"),
            )
        })
    }

    fn array(&mut self, name: &'static str) -> Result<&'a [Json<'a>], Rejection> {
        let v = self.req(name)?;
        v.as_array().ok_or_else(|| self.wrong_type(name, v, "an array"))
    }

    fn opt_array(&mut self, name: &'static str) -> Result<Option<&'a [Json<'a>]>, Rejection> {
        match self.opt(name) {
            None => Ok(None),
            Some(v) => v.as_array().map(Some).ok_or_else(|| self.wrong_type(name, v, "an array")),
        }
    }

    fn item_path(&self, name: &str, index: usize) -> String {
        format!("{}[{index}]", self.field(name))
    }

    fn decision(&mut self) -> Result<Decision, Rejection> {
        let v = self.req("decision")?;
        decode_decision(v, &self.field("decision"))
    }

    fn opt_decision(&mut self) -> Result<Option<Decision>, Rejection> {
        let path = self.field("decision");
        self.opt("decision").map(|v| decode_decision(v, &path)).transpose()
    }

    fn positive(&self, name: &str, amount: Amount) -> Result<(), Rejection> {
        if amount.is_positive() {
            Ok(())
        } else {
            Err(Rejection::new(
                Rule::AmountMustBePositive,
                self.field(name),
                format!("\"{amount}\""),
                "this amount must be greater than zero",
            ))
        }
    }

    fn not_negative(&self, name: &str, amount: Amount) -> Result<(), Rejection> {
        if amount.is_negative() {
            Err(Rejection::new(
                Rule::AmountMustNotBeNegative,
                self.field(name),
                format!("\"{amount}\""),
                "this amount may not be negative",
            ))
        } else {
            Ok(())
        }
    }

    /// Refuses the first field (in input order) that was not read.
    fn finish(self) -> Result<(), Rejection> {
        match self.map.iter().find(|(k, _)| !self.seen.iter().any(|s| s == k)) {
            None => Ok(()),
            Some((key, value)) => {
                let mut known: Vec<&str> = self.seen.clone();
                known.sort_unstable();
                known.dedup();
                Err(Rejection::new(
                    Rule::UnknownField,
                    self.field(key),
                    json_text(value),
                    format!("this field is not part of the contract here; known fields are {}", known.join(", ")),
                ))
            }
        }
    }
}

fn decode_decision(value: &Json<'_>, path: &str) -> Result<Decision, Rejection> {
    let mut o = Obj::new(value, path)?;
    let decision = Decision {
        body: o.text("body", NAME_CHARS_MAX)?,
        date: o.date("date")?,
        paragraph: o.opt_text("paragraph", NAME_CHARS_MAX)?,
    };
    o.finish()?;
    Ok(decision)
}

/// Checks the shape of an org nr (NNNNNN-NNNN) and its Luhn check digit.
pub fn check_org_nr(text: &str) -> Result<(), Rule> {
    let bytes = text.as_bytes();
    let shaped =
        bytes.len() == 11 && bytes[6] == b'-' && bytes.iter().enumerate().all(|(i, b)| i == 6 || b.is_ascii_digit());
    if !shaped {
        return Err(Rule::OrgNrMalformed);
    }
    let digits: Vec<u32> = bytes.iter().filter(|b| b.is_ascii_digit()).map(|b| u32::from(b - b'0')).collect();
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    if sum.is_multiple_of(10) {
        Ok(())
    } else {
        Err(Rule::OrgNrFailsLuhn)
    }
}

impl Event {
    /// Decodes one JSON value into an event, checking everything that can be checked without
    /// knowing the ledger: shapes, types, formats, ranges and arithmetic inside the event.
    pub fn from_json(value: &Value) -> Result<Event, Rejection> {
        Event::from_tree(&Json::of(value))
    }

    /// `from_json` over a borrowed JSON tree (the log's reader parses its lines into one).
    pub fn from_tree(value: &Json<'_>) -> Result<Event, Rejection> {
        let mut o = Obj::new(value, "")?;
        let type_value = o.req("type")?;
        let type_name = o.str_of("type", type_value)?;
        let forbund = o.slug("forbund")?;
        let date = o.date("date")?;
        let idempotency_key = match o.opt("idempotency_key") {
            None => None,
            Some(v) => {
                let key = o.str_of("idempotency_key", v)?;
                let ok = !key.is_empty() && key.len() <= KEY_CHARS_MAX && key.bytes().all(|b| b.is_ascii_graphic());
                if !ok {
                    return Err(Rejection::new(
                        Rule::ValueNotAllowed,
                        "idempotency_key",
                        json_text(v),
                        format!("an idempotency key is 1 to {KEY_CHARS_MAX} printable ASCII characters without spaces"),
                    ));
                }
                Some(key.to_string())
            }
        };
        let note = o.opt_text("note", TEXT_CHARS_MAX)?;
        let kind = decode_kind(type_name, type_value, &mut o, date)?;
        o.finish()?;
        Ok(Event { forbund, date, idempotency_key, note, kind })
    }

    /// Decodes one line of JSON text.
    pub fn from_json_text(text: &str) -> Result<Event, Rejection> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Rejection::new(Rule::NotJson, "", "", format!("not valid JSON: {e}")))?;
        Event::from_json(&value)
    }
}

fn decode_kind(
    type_name: &str,
    type_value: &Json<'_>,
    o: &mut Obj<'_>,
    date: NaiveDate,
) -> Result<EventKind, Rejection> {
    use EventKind::*;
    let kind = match type_name {
        "ForbundRegistered" => {
            let name = o.text("name", NAME_CHARS_MAX)?;
            let org_nr = decode_org_nr(o)?;
            let members = decode_members(o)?;
            ForbundRegistered { name, org_nr, members }
        }
        "MembersChanged" => {
            MembersChanged { effective: o.date("effective")?, members: decode_members(o)?, decision: o.decision()? }
        }
        "InsatsChanged" => {
            let insats = o.slug("insats")?;
            let effective = o.date("effective")?;
            let name = o.opt_text("name", NAME_CHARS_MAX)?;
            let category = o
                .opt("category")
                .map(|v| o.enum_of("category", v, Category::parse, Category::allowed()))
                .transpose()?;
            let end = o.opt("end").map(|v| o.date_of("end", v)).transpose()?;
            if name.is_none() && category.is_none() && end.is_none() {
                return Err(Rejection::new(
                    Rule::NothingChanged,
                    "name",
                    "",
                    "an InsatsChanged says what changes: a new `name`, `category` or `end`",
                ));
            }
            if end.is_some_and(|e| e < effective) {
                return Err(Rejection::new(
                    Rule::DateInvalid,
                    "end",
                    format!("\"{}\"", end.unwrap_or(effective)),
                    format!("an insats cannot end before the change that ends it takes effect ({effective})"),
                ));
            }
            InsatsChanged { insats, effective, name, category, end, decision: o.decision()? }
        }
        "RegistrationCorrected" => {
            let name = o.opt_text("name", NAME_CHARS_MAX)?;
            let org_nr = decode_org_nr(o)?;
            let registered = o.opt("registered").map(|v| o.date_of("registered", v)).transpose()?;
            if name.is_none() && org_nr.is_none() && registered.is_none() {
                return Err(Rejection::new(
                    Rule::NothingChanged,
                    "name",
                    "",
                    "a RegistrationCorrected says what is corrected: the `name`, the `org_nr` or the day the books begin (`registered`)",
                ));
            }
            RegistrationCorrected {
                name,
                org_nr,
                registered,
                reason: o.text("reason", TEXT_CHARS_MAX)?,
                decision: o.decision()?,
            }
        }
        "OpeningBalanceRecorded" => {
            let equity = o.amount("equity")?;
            let bank = o.amount("bank")?;
            o.not_negative("bank", bank)?;
            OpeningBalanceRecorded { equity, bank }
        }
        "InsatsCreated" => InsatsCreated {
            insats: o.slug("insats")?,
            name: o.text("name", NAME_CHARS_MAX)?,
            category: {
                let v = o.req("category")?;
                o.enum_of("category", v, Category::parse, Category::allowed())?
            },
            owner: o.opt_text("owner", NAME_CHARS_MAX)?,
            continues: match o.opt("continues") {
                None => None,
                Some(v) => {
                    let mut c = Obj::new(v, "continues")?;
                    let r = InsatsRef { forbund: c.slug("forbund")?, insats: c.slug("insats")? };
                    c.finish()?;
                    Some(r)
                }
            },
            end: o.opt("end").map(|v| o.date_of("end", v)).transpose()?,
            decision: o.decision()?,
        },
        "BudgetAdopted" => decode_budget(o)?,
        "FundingGranted" => {
            let insats = o.slug("insats")?;
            let year = o.year("year")?;
            let amount = o.amount("amount")?;
            o.positive("amount", amount)?;
            FundingGranted { insats, year, amount, decision: o.decision()? }
        }
        "FundingChanged" => {
            let insats = o.slug("insats")?;
            let year = o.year("year")?;
            let delta = o.amount("delta")?;
            if delta.is_zero() {
                return Err(Rejection::new(
                    Rule::AmountMustNotBeZero,
                    "delta",
                    "\"0\"",
                    "a change of zero changes nothing",
                ));
            }
            FundingChanged { insats, year, delta, reason: o.text("reason", TEXT_CHARS_MAX)?, decision: o.decision()? }
        }
        "ContributionReceived" | "ContributionDecided" => {
            // A contribution paid, or (v2) decided: the member, the year of its date, an amount.
            let member = o.slug("member")?;
            let year = o.year("year")?;
            let amount = o.amount("amount")?;
            o.positive("amount", amount)?;
            // A payment in January of what was decided for last year (v2) settles a receivable;
            // the ledger checks that something is owed for that year.
            let pays_earlier_year = type_name == "ContributionReceived" && year < date.year();
            if !pays_earlier_year {
                check_year_matches_date(year, date)?;
            }
            let reference = o.text("reference", NAME_CHARS_MAX)?;
            if type_name == "ContributionDecided" {
                let decision = o.decision()?;
                let mut installments: Vec<Installment> = Vec::new();
                for (i, item) in o.opt_array("installments")?.unwrap_or_default().iter().enumerate() {
                    let path = o.item_path("installments", i);
                    let mut p = Obj::new(item, &path)?;
                    let due = p.date("due")?;
                    let part = p.amount("amount")?;
                    p.positive("amount", part)?;
                    p.finish()?;
                    let after = installments.last().map_or(date, |l| l.due);
                    if due < after {
                        return Err(Rejection::new(
                            Rule::DateInvalid,
                            format!("{path}.due"),
                            format!("\"{due}\""),
                            format!("the invoicing plan's parts fall due in date order, none before the decision is dated ({date}) or before the part before it ({after})"),
                        ));
                    }
                    installments.push(Installment { due, amount: part });
                }
                let planned: Amount = installments.iter().map(|i| i.amount).sum();
                if !installments.is_empty() && planned != amount {
                    return Err(Rejection::new(
                        Rule::InstallmentsMustSumToAmount,
                        "installments",
                        format!("\"{planned}\""),
                        format!(
                            "the invoicing plan's parts sum to {}, the contribution is {}: they must be equal",
                            planned.human(),
                            amount.human()
                        ),
                    ));
                }
                ContributionDecided { member, year, amount, reference, decision, installments }
            } else {
                ContributionReceived { member, year, amount, reference, payer: o.opt_slug("payer")? }
            }
        }
        "OtherIncomeRecorded" => {
            let year = o.year("year")?;
            let line = o.slug("line")?;
            let amount = o.amount("amount")?;
            o.positive("amount", amount)?;
            check_year_matches_date(year, date)?;
            let reference = o.text("reference", NAME_CHARS_MAX)?;
            let nature = match o.opt("nature") {
                None => None,
                Some(v) => Some(o.enum_of("nature", v, IncomeNature::parse, IncomeNature::allowed())?),
            };
            OtherIncomeRecorded { year, line, amount, reference, nature }
        }
        "CostRecorded" => {
            let year = o.year("year")?;
            let line = o.opt_slug("line")?;
            let insats = o.opt_slug("insats")?;
            if line.is_none() && insats.is_none() {
                return Err(Rejection::new(
                    Rule::CostNeedsLineOrInsats,
                    "line",
                    "",
                    "a cost names the budget line it is charged to (`line`), the insats (`insats`), or both",
                ));
            }
            let amount = o.amount("amount")?;
            o.positive("amount", amount)?;
            check_year_matches_date(year, date)?;
            CostRecorded {
                year,
                line,
                insats,
                amount,
                reference: o.text("reference", NAME_CHARS_MAX)?,
                text: o.text("text", TEXT_CHARS_MAX)?,
                nature: o.opt_nature()?,
            }
        }
        "InvoiceReceived" => {
            let year = o.year("year")?;
            let invoice = o.slug("invoice")?;
            let supplier = o.text("supplier", NAME_CHARS_MAX)?;
            let line = o.opt_slug("line")?;
            let insats = o.opt_slug("insats")?;
            let credits = o.opt_slug("credits")?;
            let amount = o.amount("amount")?;
            let shown = format!("\"{amount}\"");
            match &credits {
                None => {
                    if line.is_none() && insats.is_none() {
                        return Err(Rejection::new(
                            Rule::CostNeedsLineOrInsats,
                            "line",
                            "",
                            "an invoice names the budget line it is charged to (`line`), the insats (`insats`), or both",
                        ));
                    }
                    o.positive("amount", amount)?;
                }
                Some(_) if !amount.is_negative() => {
                    return Err(Rejection::new(
                        Rule::CreditNoteSign,
                        "amount",
                        shown,
                        "a credit note (an invoice with `credits`) has a negative amount: what it takes off the invoice it credits",
                    ))
                }
                Some(_) => {}
            }
            let due = o.opt("due").map(|v| o.date_of("due", v)).transpose()?;
            if let Some(due) = due {
                if due < date {
                    return Err(Rejection::new(
                        Rule::DateInvalid,
                        "due",
                        format!("\"{due}\""),
                        format!("an invoice cannot fall due before it is dated ({date})"),
                    ));
                }
            }
            check_year_matches_date(year, date)?;
            InvoiceReceived {
                year,
                invoice,
                supplier,
                line,
                insats,
                amount,
                credits,
                due,
                reference: o.text("reference", NAME_CHARS_MAX)?,
                text: o.text("text", TEXT_CHARS_MAX)?,
                nature: o.opt_nature()?,
            }
        }
        "ForecastRecorded" => {
            let year = o.year("year")?;
            let line = o.slug("line")?;
            let amount = o.amount("amount")?;
            o.not_negative("amount", amount)?;
            check_year_matches_date(year, date)?;
            ForecastRecorded { year, line, amount, text: o.text("text", TEXT_CHARS_MAX)? }
        }
        "AccrualRecorded" => {
            let year = o.year("year")?;
            let kind = {
                let v = o.req("kind")?;
                o.enum_of("kind", v, AccrualKind::parse, AccrualKind::allowed())?
            };
            let line = o.opt_slug("line")?;
            let insats = o.opt_slug("insats")?;
            let member = o.opt_slug("member")?;
            let amount = o.amount("amount")?;
            o.positive("amount", amount)?;
            let year_end = NaiveDate::from_ymd_opt(year, 12, 31).expect("a year in range has a 31 December");
            if date != year_end {
                return Err(Rejection::new(
                    Rule::DateInvalid,
                    "date",
                    format!("\"{date}\""),
                    format!("an accrual of {year} is booked on {year_end} (and reversed on 1 January {})", year + 1),
                ));
            }
            if kind.is_cost() && (member.is_some() || (line.is_none() && insats.is_none())) {
                return Err(Rejection::new(
                    Rule::CostNeedsLineOrInsats,
                    if member.is_some() { "member" } else { "line" },
                    "",
                    "a cost accrual names the budget line (`line`) and/or the insats (`insats`) the cost belongs to, not a member",
                ));
            }
            if !kind.is_cost() && (insats.is_some() || line.is_some() == member.is_some()) {
                return Err(Rejection::new(
                    Rule::AccrualNeedsIncomeLineOrMember,
                    if insats.is_some() { "insats" } else { "line" },
                    "",
                    "an income accrual names either the income line of the budget (`line`) or the member whose contribution it is (`member`)",
                ));
            }
            AccrualRecorded {
                year,
                kind,
                line,
                insats,
                member,
                amount,
                reference: o.text("reference", NAME_CHARS_MAX)?,
                text: o.text("text", TEXT_CHARS_MAX)?,
            }
        }
        "PayrollRecorded" => {
            let year = o.year("year")?;
            let month = {
                let v = o.req("month")?;
                let m = v
                    .as_u64()
                    .filter(|_| !v.is_f64())
                    .ok_or_else(|| o.wrong_type("month", v, "a JSON integer month"))?;
                if !(1..=12).contains(&m) {
                    return Err(Rejection::new(
                        Rule::ValueNotAllowed,
                        "month",
                        m.to_string(),
                        "the month the payroll is for, 1 (January) to 12 (December)",
                    ));
                }
                m as u32
            };
            let line = o.opt_slug("line")?;
            let insats = o.opt_slug("insats")?;
            if line.is_none() && insats.is_none() {
                return Err(Rejection::new(
                    Rule::CostNeedsLineOrInsats,
                    "line",
                    "",
                    "a payroll summary names the budget line its staff are paid from (`line`), the insats (`insats`), or both",
                ));
            }
            let staff = match o.opt("staff") {
                None => None,
                Some(v) => Some(
                    v.as_u64()
                        .filter(|n| !v.is_f64() && *n <= 10_000)
                        .ok_or_else(|| o.wrong_type("staff", v, "a JSON integer number of people (0–10000)"))?
                        as u32,
                ),
            };
            let items = o.pay_items(PayItem::ALL)?;
            let earned = |item: PayItem| items.iter().filter(|(i, _)| *i == item).map(|(_, a)| *a).sum::<Amount>();
            let (pay, tax) = (earned(PayItem::Salaries) + earned(PayItem::Fees), earned(PayItem::TaxWithheld));
            if tax > pay {
                return Err(Rejection::new(
                    Rule::PayrollTaxExceedsPay,
                    "tax_withheld",
                    format!("\"{tax}\""),
                    format!("the tax withheld is taken from the pay: at most salaries + fees ({})", pay.human()),
                ));
            }
            check_year_matches_date(year, date)?;
            PayrollRecorded {
                year,
                month,
                line,
                insats,
                staff,
                items,
                reference: o.text("reference", NAME_CHARS_MAX)?,
                text: o.text("text", TEXT_CHARS_MAX)?,
            }
        }
        "PayrollLiabilitiesPaid" => {
            let items = o.pay_items(PayItem::PAYABLE)?;
            PayrollLiabilitiesPaid { items, reference: o.text("reference", NAME_CHARS_MAX)? }
        }
        "InvoicePaid" => {
            let invoice = o.slug("invoice")?;
            let amount = o.amount("amount")?;
            // Negative: a refund from the supplier, after a credit note larger than what was left.
            if amount.is_zero() {
                return Err(Rejection::new(
                    Rule::AmountMustNotBeZero,
                    o.field("amount"),
                    format!("\"{amount}\""),
                    "a payment moves money: greater than zero, or below zero for a refund from the supplier",
                ));
            }
            InvoicePaid { invoice, amount, reference: o.text("reference", NAME_CHARS_MAX)? }
        }
        "MergerDecided" => {
            let items = o.array("merging")?;
            let mut merging: Vec<Slug> = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let slug = o.slug_of(&format!("merging[{i}]"), item)?;
                if merging.contains(&slug) {
                    return Err(Rejection::new(
                        Rule::MergerListsForbundTwice,
                        format!("merging[{i}]"),
                        json_text(item),
                        "each merging förbund is listed once",
                    ));
                }
                merging.push(slug);
            }
            if merging.is_empty() {
                return Err(Rejection::new(Rule::MissingField, "merging", "[]", "a merger names at least one förbund"));
            }
            let effective = o.date("effective")?;
            let mut estimated_transfers = Vec::new();
            for (i, item) in o.array("estimated_transfers")?.iter().enumerate() {
                let path = o.item_path("estimated_transfers", i);
                let mut t = Obj::new(item, &path)?;
                let from = t.slug("from")?;
                let amount = t.amount("amount")?;
                t.finish()?;
                if !merging.contains(&from) {
                    return Err(Rejection::new(
                        Rule::EstimateNotForMergingForbund,
                        format!("{path}.from"),
                        format!("\"{from}\""),
                        "an estimated transfer comes from one of the merging förbund",
                    ));
                }
                estimated_transfers.push(EstimatedTransfer { from, amount });
            }
            MergerDecided { merging, effective, estimated_transfers, decision: o.decision()? }
        }
        "EquityTransferred" => {
            let from = o.slug("from")?;
            let amount = o.amount("amount")?;
            o.positive("amount", amount)?;
            EquityTransferred { from, amount, reference: o.text("reference", NAME_CHARS_MAX)? }
        }
        "BalancesTakenOver" => {
            BalancesTakenOver { from: o.slug("from")?, reference: o.text("reference", NAME_CHARS_MAX)? }
        }
        "ForbundDissolved" => ForbundDissolved { merged_into: o.opt_slug("merged_into")?, decision: o.decision()? },
        "YearClosed" => YearClosed { year: o.year("year")?, decision: o.decision()? },
        "ReportTextRecorded" => {
            let year = o.year("year")?;
            let section = {
                let v = o.req("section")?;
                o.enum_of("section", v, ReportSection::parse, ReportSection::allowed())?
            };
            let items = o.array("paragraphs")?;
            if items.is_empty() || items.len() > REPORT_PARAGRAPHS_MAX {
                return Err(Rejection::new(
                    Rule::ValueNotAllowed,
                    "paragraphs",
                    format!("{} paragraphs", items.len()),
                    format!("a section's text is 1 to {REPORT_PARAGRAPHS_MAX} paragraphs (a paragraph starting \"- \" is a list item)"),
                ));
            }
            let mut paragraphs = Vec::new();
            for (i, item) in items.iter().enumerate() {
                paragraphs.push(o.text_of(&o.item_path("paragraphs", i), item, REPORT_PARAGRAPH_CHARS_MAX)?);
            }
            if year > date.year() {
                return Err(Rejection::new(
                    Rule::DateInvalid,
                    "date",
                    format!("\"{date}\""),
                    format!("the text of {year}'s report is written during or after {year}"),
                ));
            }
            ReportTextRecorded { year, section, paragraphs, decision: o.opt_decision()? }
        }
        "AnnualReportAdopted" => {
            let year = o.year("year")?;
            let known_at = o.seq("known_at")?;
            let figures_sha256 = {
                let v = o.req("figures_sha256")?;
                let text = o.str_of("figures_sha256", v)?;
                if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                    return Err(Rejection::new(
                        Rule::ValueNotAllowed,
                        "figures_sha256",
                        json_text(v),
                        "the report's figures_sha256: 64 lower-case hexadecimal digits, as the report prints it",
                    ));
                }
                text.to_string()
            };
            check_after_year(year, date)?;
            AnnualReportAdopted { year, known_at, figures_sha256, decision: o.decision()? }
        }
        "AuditReportRecorded" => {
            let year = o.year("year")?;
            let auditor = o.text("auditor", NAME_CHARS_MAX)?;
            let role = {
                let v = o.req("role")?;
                o.enum_of("role", v, AuditorRole::parse, AuditorRole::allowed())?
            };
            let appointed_by = o.opt_text("appointed_by", NAME_CHARS_MAX)?;
            let verdict = {
                let v = o.req("verdict")?;
                o.enum_of("verdict", v, AuditVerdict::parse, AuditVerdict::allowed())?
            };
            let remarks = o.opt_text("remarks", TEXT_CHARS_MAX)?;
            check_after_year(year, date)?;
            AuditReportRecorded { year, auditor, role, appointed_by, verdict, remarks }
        }
        "DischargeDecided" => {
            let year = o.year("year")?;
            let member = o.slug("member")?;
            let granted = {
                let v = o.req("granted")?;
                match v {
                    Json::Bool(b) => *b,
                    other => return Err(o.wrong_type("granted", other, "true (beviljad) or false (ej beviljad)")),
                }
            };
            check_after_year(year, date)?;
            DischargeDecided { year, member, granted, decision: o.decision()? }
        }
        "UnderlagAttached" => {
            let items = o.array("of")?;
            if items.is_empty() || items.len() > UNDERLAG_OF_MAX {
                return Err(Rejection::new(
                    Rule::ValueNotAllowed,
                    "of",
                    format!("{} seqs", items.len()),
                    format!("underlag is attached to 1 to {UNDERLAG_OF_MAX} events, by their seqs"),
                ));
            }
            let mut of: Vec<u64> = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let seq = item.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
                    Rejection::new(
                        Rule::WrongJsonType,
                        o.item_path("of", i),
                        json_text(item),
                        "a JSON integer seq of 1 or more",
                    )
                })?;
                if of.last().is_some_and(|l| *l >= seq) {
                    return Err(Rejection::new(
                        Rule::ValueNotAllowed,
                        o.item_path("of", i),
                        seq.to_string(),
                        "the seqs are in ascending order, each once",
                    ));
                }
                of.push(seq);
            }
            let v = o.req("file")?;
            let mut f = Obj::new(v, "file")?;
            let name = f.text("name", NAME_CHARS_MAX)?;
            let media_type = {
                let v = f.req("media_type")?;
                f.enum_of("media_type", v, MediaType::parse, MediaType::allowed())?
            };
            let size = {
                let v = f.req("size")?;
                v.as_u64().filter(|n| (1..=ATTACHMENT_BYTES_MAX).contains(n)).ok_or_else(|| {
                    Rejection::new(
                        Rule::ValueNotAllowed,
                        "file.size",
                        json_text(v),
                        format!("the file's size in bytes: 1 to {ATTACHMENT_BYTES_MAX} (20 MiB)"),
                    )
                })?
            };
            let sha256 = {
                let v = f.req("sha256")?;
                let text = f.str_of("sha256", v)?;
                if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                    return Err(Rejection::new(
                        Rule::ValueNotAllowed,
                        "file.sha256",
                        json_text(v),
                        "the file's SHA-256: 64 lower-case hexadecimal digits",
                    ));
                }
                text.to_string()
            };
            f.finish()?;
            UnderlagAttached { of, file: Attachment { name, media_type, size, sha256 } }
        }
        "EventCorrected" => EventCorrected {
            corrects: o.seq("corrects")?,
            reason: o.text("reason", TEXT_CHARS_MAX)?,
            decision: o.opt_decision()?,
        },
        _ => {
            return Err(Rejection::new(
                Rule::UnknownEventType,
                "type",
                json_text(type_value),
                match closest_type(type_name) {
                    Some(t) => {
                        format!("did you mean {t:?} (menade du {t})? Known types are {}", EventKind::TYPES.join(", "))
                    }
                    None => format!("known types are {}", EventKind::TYPES.join(", ")),
                },
            ))
        }
    };
    Ok(kind)
}

/// The event type a misspelt one most likely meant: the nearest by edit distance (ignoring
/// case), if it is near enough to be a slip rather than another word.
fn closest_type(name: &str) -> Option<&'static str> {
    let lower = name.to_lowercase();
    EventKind::TYPES
        .iter()
        .map(|t| (strsim::levenshtein(&lower, &t.to_lowercase()), *t))
        .filter(|(d, t)| *d <= (t.len() / 4).max(2))
        .min()
        .map(|(_, t)| t)
}

/// An optional org nr, written NNNNNN-NNNN and passing the Luhn check.
fn decode_org_nr(o: &mut Obj<'_>) -> Result<Option<String>, Rejection> {
    Ok(match o.opt("org_nr") {
        None => None,
        Some(v) => {
            let text = o.str_of("org_nr", v)?;
            check_org_nr(text).map_err(|rule| {
                let message = if rule == Rule::OrgNrMalformed {
                    "an org nr is written NNNNNN-NNNN"
                } else {
                    "this org nr fails the Luhn check: one digit is wrong"
                };
                Rejection::new(rule, "org_nr", json_text(v), message)
            })?;
            Some(text.to_string())
        }
    })
}

/// The members of a registration or a change of members: ids once, shares per Finsam §5.
fn decode_members(o: &mut Obj<'_>) -> Result<Vec<Member>, Rejection> {
    let items = o.array("members")?;
    if items.is_empty() || items.len() > MEMBERS_MAX {
        return Err(Rejection::new(
            Rule::MemberKindMissing,
            "members",
            json_text(&Json::Array(items.to_vec())),
            format!("a förbund has between 1 and {MEMBERS_MAX} members"),
        ));
    }
    let mut members: Vec<Member> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = o.item_path("members", i);
        let mut m = Obj::new(item, &path)?;
        let member = Member {
            id: m.slug("id")?,
            name: m.text("name", NAME_CHARS_MAX)?,
            kind: {
                let v = m.req("kind")?;
                m.enum_of("kind", v, MemberKind::parse, MemberKind::allowed())?
            },
            share: {
                let v = m.req("share")?;
                m.share_of("share", v)?
            },
        };
        m.finish()?;
        if members.iter().any(|x| x.id == member.id) {
            return Err(Rejection::new(
                Rule::MemberDuplicate,
                format!("{path}.id"),
                format!("\"{}\"", member.id),
                "each member id appears once",
            ));
        }
        members.push(member);
    }
    check_member_shares(&members)?;
    Ok(members)
}

/// A step of the path after the year end is dated after it.
fn check_after_year(year: i32, date: NaiveDate) -> Result<(), Rejection> {
    if date.year() > year {
        Ok(())
    } else {
        Err(Rejection::new(
            Rule::YearNotOver,
            "date",
            format!("\"{date}\""),
            format!(
                "the report of {year}, its audit and the discharge come after the year's end: date it in {} or later",
                year + 1
            ),
        ))
    }
}

fn check_year_matches_date(year: i32, date: NaiveDate) -> Result<(), Rejection> {
    if year == date.year() {
        Ok(())
    } else {
        Err(Rejection::new(
            Rule::YearMustMatchDate,
            "year",
            year.to_string(),
            format!("a money event is booked in the year it concerns: `year` must equal the year of `date` ({date})"),
        ))
    }
}

/// Finsam §5: the shares add up to 1, and to 0.50 / 0.25 / 0.25 by kind.
fn check_member_shares(members: &[Member]) -> Result<(), Rejection> {
    use rust_decimal::Decimal;
    let total: Decimal = members.iter().map(|m| m.share.decimal()).sum();
    if total != Decimal::ONE {
        return Err(Rejection::new(
            Rule::SharesMustSumToOne,
            "members[].share",
            format!("\"{}\"", total.normalize()),
            "the members' shares must add up to exactly 1",
        ));
    }
    for (kind, expected) in [
        (MemberKind::Staten, Decimal::new(50, 2)),
        (MemberKind::Region, Decimal::new(25, 2)),
        (MemberKind::Kommun, Decimal::new(25, 2)),
    ] {
        let sum: Decimal = members.iter().filter(|m| m.kind == kind).map(|m| m.share.decimal()).sum();
        if !members.iter().any(|m| m.kind == kind) {
            return Err(Rejection::new(
                Rule::MemberKindMissing,
                "members",
                "",
                format!("a förbund has at least one member of kind \"{kind}\" (Finsam §5)"),
            ));
        }
        if sum != expected {
            return Err(Rejection::new(
                Rule::SharesByKind,
                format!("members[kind={kind}].share"),
                format!("\"{}\"", sum.normalize()),
                format!(
                    "by Finsam §5 the {kind} members together pay {}; shares are staten 0.50, region 0.25, kommuner 0.25",
                    expected.normalize()
                ),
            ));
        }
    }
    Ok(())
}

fn decode_budget(o: &mut Obj<'_>) -> Result<EventKind, Rejection> {
    let year = o.year("year")?;
    let decision = o.decision()?;
    let status = match o.opt("status") {
        None => BudgetStatus::Adopted,
        Some(v) => o.enum_of("status", v, BudgetStatus::parse, BudgetStatus::allowed())?,
    };
    let mut ids: Vec<Slug> = Vec::new();
    let mut unique = |id: &Slug, path: String| -> Result<(), Rejection> {
        if ids.contains(id) {
            return Err(Rejection::new(
                Rule::BudgetLineDuplicate,
                path,
                format!("\"{id}\""),
                "each line id appears once in a budget (income and costs together)",
            ));
        }
        ids.push(id.clone());
        Ok(())
    };
    let mut income = Vec::new();
    let income_items = o.array("income")?;
    let cost_items = o.array("costs")?;
    if income_items.len() + cost_items.len() > LINES_PER_BUDGET_MAX {
        return Err(Rejection::new(
            Rule::BatchTooLarge,
            "costs",
            "",
            format!("a budget has at most {LINES_PER_BUDGET_MAX} lines"),
        ));
    }
    for (i, item) in income_items.iter().enumerate() {
        let path = o.item_path("income", i);
        let mut l = Obj::new(item, &path)?;
        let line = IncomeLine { id: l.slug("id")?, name: l.text("name", NAME_CHARS_MAX)?, amount: l.amount("amount")? };
        l.not_negative("amount", line.amount)?;
        l.finish()?;
        unique(&line.id, format!("{path}.id"))?;
        income.push(line);
    }
    let mut costs = Vec::new();
    for (i, item) in cost_items.iter().enumerate() {
        let path = o.item_path("costs", i);
        let mut l = Obj::new(item, &path)?;
        let line = CostLine {
            id: l.slug("id")?,
            name: l.text("name", NAME_CHARS_MAX)?,
            category: {
                let v = l.req("category")?;
                l.enum_of("category", v, Category::parse, Category::allowed())?
            },
            insats: l.opt_slug("insats")?,
            group: l.opt_text("group", NAME_CHARS_MAX)?,
            amount: l.amount("amount")?,
            note: l.opt_text("note", TEXT_CHARS_MAX)?,
            nature: l.opt_nature()?,
        };
        l.not_negative("amount", line.amount)?;
        l.finish()?;
        unique(&line.id, format!("{path}.id"))?;
        costs.push(line);
    }
    let mut transfers = Vec::new();
    for (i, item) in o.opt_array("transfers")?.into_iter().flatten().enumerate() {
        let path = o.item_path("transfers", i);
        let mut l = Obj::new(item, &path)?;
        let line =
            TransferLine { from: l.slug("from")?, name: l.text("name", NAME_CHARS_MAX)?, amount: l.amount("amount")? };
        l.not_negative("amount", line.amount)?;
        l.finish()?;
        transfers.push(line);
    }
    let stated = match o.opt("stated") {
        None => None,
        Some(v) => Some(Box::new(decode_stated(v, &o.field("stated"))?)),
    };
    Ok(EventKind::BudgetAdopted { year, decision, status, income, costs, transfers, stated })
}

fn decode_stated(value: &Json<'_>, path: &str) -> Result<Stated, Rejection> {
    let mut s = Obj::new(value, path)?;
    let mut stated = Stated {
        costs_total: s.opt_amount("costs_total")?,
        income_total: s.opt_amount("income_total")?,
        result: s.opt_amount("result")?,
        opening_equity: s.opt_amount("opening_equity")?,
        closing_equity: s.opt_amount("closing_equity")?,
        available: s.opt_amount("available")?,
        direct_total: s.opt_amount("direct_total")?,
        transfers_total: s.opt_amount("transfers_total")?,
        ..Stated::default()
    };
    if let Some(v) = s.opt("by_category") {
        let mut c = Obj::new(v, &s.field("by_category"))?;
        for category in Category::ALL {
            if let Some(amount) = c.opt(category.as_str()).map(|v| c.amount_of(category.as_str(), v)).transpose()? {
                stated.by_category.push((*category, amount));
            }
        }
        c.finish()?;
    }
    if let Some(v) = s.opt("by_group") {
        let map = v.as_object().ok_or_else(|| s.wrong_type("by_group", v, "an object of group name to amount"))?;
        let g = Obj { map, path: s.field("by_group"), seen: Vec::new() };
        for (name, v) in map.iter() {
            if stated.by_group.iter().any(|(seen, _)| seen == name) {
                // JSON input keeps the last of repeated members before this reads it; a log
                // line read as a tree keeps both, and finsam never writes such a line.
                return Err(Rejection::new(
                    Rule::ValueNotAllowed,
                    g.field(name),
                    json_text(v),
                    "each group appears once in `by_group`",
                ));
            }
            stated.by_group.push((name.to_string(), g.amount_of(name, v)?));
        }
    }
    if let Some(v) = s.opt("shares") {
        let mut c = Obj::new(v, &s.field("shares"))?;
        for which in StatedShare::ALL {
            if let Some(share) = c.opt(which.as_str()).map(|v| c.share_of(which.as_str(), v)).transpose()? {
                stated.shares.push((*which, share));
            }
        }
        c.finish()?;
    }
    s.finish()?;
    Ok(stated)
}
