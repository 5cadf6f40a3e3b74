//! Encoding: the canonical JSON the log stores (contract field order, canonical amounts,
//! compact).

use super::*;

/// Writes the members of one JSON object as finsam's canonical JSON: compact, in the order they
/// are written, strings escaped as `serde_json` escapes them.
struct Out<'a> {
    buf: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Out<'a> {
    fn object(buf: &'a mut Vec<u8>, members: impl FnOnce(&mut Out<'_>)) {
        buf.push(b'{');
        members(&mut Out { buf, first: true });
        buf.push(b'}');
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
        string(self.buf, key);
        self.buf.push(b':');
    }

    fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        string(self.buf, value);
    }

    fn opt_str(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.str(key, v);
        }
    }

    fn date(&mut self, key: &str, date: NaiveDate) {
        self.key(key);
        // A date between YEAR_MIN and YEAR_MAX prints as YYYY-MM-DD: nothing to escape.
        use std::io::Write;
        let _ = write!(self.buf, "\"{date}\"");
    }

    fn opt_date(&mut self, key: &str, date: Option<NaiveDate>) {
        if let Some(d) = date {
            self.date(key, d);
        }
    }

    fn int(&mut self, key: &str, value: impl fmt::Display) {
        self.key(key);
        use std::io::Write;
        let _ = write!(self.buf, "{value}");
    }

    fn amount(&mut self, key: &str, amount: Amount) {
        self.str(key, &amount.canonical());
    }

    fn slug(&mut self, key: &str, slug: &Slug) {
        self.str(key, &slug.0);
    }

    fn opt_slug(&mut self, key: &str, slug: Option<&Slug>) {
        if let Some(s) = slug {
            self.slug(key, s);
        }
    }

    fn object_in(&mut self, key: &str, members: impl FnOnce(&mut Out<'_>)) {
        self.key(key);
        Out::object(self.buf, members);
    }

    /// An array of objects, one per item.
    fn objects<T>(&mut self, key: &str, items: &[T], members: impl Fn(&mut Out<'_>, &T)) {
        self.key(key);
        self.buf.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            Out::object(self.buf, |o| members(o, item));
        }
        self.buf.push(b']');
    }

    fn decision(&mut self, d: &Decision) {
        self.object_in("decision", |o| {
            o.str("body", &d.body);
            o.date("date", d.date);
            o.opt_str("paragraph", d.paragraph.as_deref());
        });
    }

    fn members(&mut self, members: &[Member]) {
        self.objects("members", members, |o, x| {
            o.slug("id", &x.id);
            o.str("name", &x.name);
            o.str("kind", x.kind.as_str());
            o.str("share", &x.share.canonical());
        });
    }
}

/// A JSON string, escaped by `serde_json`.
fn string(buf: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(&mut *buf, text).expect("writing to memory cannot fail");
}

impl Event {
    /// The canonical JSON the log stores: contract field order, canonical amounts, compact.
    /// The one encoder of an event: `to_json` reads these bytes back.
    pub fn write_canonical(&self, buf: &mut Vec<u8>) {
        Out::object(buf, |o| self.members(o));
    }

    /// `write_canonical` as a string.
    pub fn canonical(&self) -> String {
        let mut buf = Vec::with_capacity(512);
        self.write_canonical(&mut buf);
        String::from_utf8(buf).expect("JSON text written from strings is UTF-8")
    }

    /// The canonical JSON as a value (members in the canonical order).
    pub fn to_json(&self) -> Value {
        serde_json::from_str(&self.canonical()).expect("finsam's own JSON reads back")
    }

    fn members(&self, m: &mut Out<'_>) {
        use EventKind::*;
        m.str("type", self.type_name());
        m.slug("forbund", &self.forbund);
        m.date("date", self.date);
        match &self.kind {
            ForbundRegistered { name, org_nr, members } => {
                m.str("name", name);
                m.opt_str("org_nr", org_nr.as_deref());
                m.members(members);
            }
            MembersChanged { effective, members, decision } => {
                m.date("effective", *effective);
                m.members(members);
                m.decision(decision);
            }
            InsatsChanged { insats, effective, name, category, end, decision } => {
                m.slug("insats", insats);
                m.date("effective", *effective);
                m.opt_str("name", name.as_deref());
                m.opt_str("category", category.map(|c| c.as_str()));
                m.opt_date("end", *end);
                m.decision(decision);
            }
            RegistrationCorrected { name, org_nr, registered, reason, decision } => {
                m.opt_str("name", name.as_deref());
                m.opt_str("org_nr", org_nr.as_deref());
                m.opt_date("registered", *registered);
                m.str("reason", reason);
                m.decision(decision);
            }
            OpeningBalanceRecorded { equity, bank } => {
                m.amount("equity", *equity);
                m.amount("bank", *bank);
            }
            InsatsCreated { insats, name, category, owner, continues, end, decision } => {
                m.slug("insats", insats);
                m.str("name", name);
                m.str("category", category.as_str());
                m.opt_str("owner", owner.as_deref());
                if let Some(c) = continues {
                    m.object_in("continues", |o| {
                        o.slug("forbund", &c.forbund);
                        o.slug("insats", &c.insats);
                    });
                }
                m.opt_date("end", *end);
                m.decision(decision);
            }
            BudgetAdopted { year, decision, status, income, costs, transfers, stated } => {
                m.int("year", year);
                m.str("status", status.as_str());
                m.decision(decision);
                m.objects("income", income, |o, l| {
                    o.slug("id", &l.id);
                    o.str("name", &l.name);
                    o.amount("amount", l.amount);
                });
                m.objects("costs", costs, |o, l| {
                    o.slug("id", &l.id);
                    o.str("name", &l.name);
                    o.str("category", l.category.as_str());
                    o.opt_slug("insats", l.insats.as_ref());
                    o.opt_str("group", l.group.as_deref());
                    o.amount("amount", l.amount);
                    o.opt_str("note", l.note.as_deref());
                    o.opt_str("nature", l.nature.map(|n| n.as_str()));
                });
                if !transfers.is_empty() {
                    m.objects("transfers", transfers, |o, t| {
                        o.slug("from", &t.from);
                        o.str("name", &t.name);
                        o.amount("amount", t.amount);
                    });
                }
                if let Some(s) = stated {
                    m.object_in("stated", |o| stated_members(o, s));
                }
            }
            FundingGranted { insats, year, amount, decision } => {
                m.slug("insats", insats);
                m.int("year", year);
                m.amount("amount", *amount);
                m.decision(decision);
            }
            FundingChanged { insats, year, delta, reason, decision } => {
                m.slug("insats", insats);
                m.int("year", year);
                m.amount("delta", *delta);
                m.str("reason", reason);
                m.decision(decision);
            }
            ContributionReceived { member, year, amount, reference, payer } => {
                m.slug("member", member);
                m.int("year", year);
                m.amount("amount", *amount);
                m.str("reference", reference);
                m.opt_slug("payer", payer.as_ref());
            }
            ContributionDecided { member, year, amount, reference, decision, installments } => {
                m.slug("member", member);
                m.int("year", year);
                m.amount("amount", *amount);
                m.str("reference", reference);
                m.decision(decision);
                if !installments.is_empty() {
                    m.objects("installments", installments, |o, i| {
                        o.date("due", i.due);
                        o.amount("amount", i.amount);
                    });
                }
            }
            OtherIncomeRecorded { year, line, amount, reference, nature } => {
                m.int("year", year);
                m.slug("line", line);
                m.amount("amount", *amount);
                m.str("reference", reference);
                m.opt_str("nature", nature.map(|n| n.as_str()));
            }
            ForecastRecorded { year, line, amount, text } => {
                m.int("year", year);
                m.slug("line", line);
                m.amount("amount", *amount);
                m.str("text", text);
            }
            CostRecorded { year, line, insats, amount, reference, text, nature } => {
                m.int("year", year);
                m.opt_slug("line", line.as_ref());
                m.opt_slug("insats", insats.as_ref());
                m.amount("amount", *amount);
                m.str("reference", reference);
                m.str("text", text);
                m.opt_str("nature", nature.map(|n| n.as_str()));
            }
            InvoiceReceived {
                year,
                invoice,
                supplier,
                line,
                insats,
                amount,
                credits,
                due,
                reference,
                text,
                nature,
            } => {
                m.int("year", year);
                m.slug("invoice", invoice);
                m.str("supplier", supplier);
                m.opt_slug("line", line.as_ref());
                m.opt_slug("insats", insats.as_ref());
                m.amount("amount", *amount);
                m.opt_slug("credits", credits.as_ref());
                m.opt_date("due", *due);
                m.str("reference", reference);
                m.str("text", text);
                m.opt_str("nature", nature.map(|n| n.as_str()));
            }
            AccrualRecorded { year, kind, line, insats, member, amount, reference, text } => {
                m.int("year", year);
                m.str("kind", kind.as_str());
                m.opt_slug("line", line.as_ref());
                m.opt_slug("insats", insats.as_ref());
                m.opt_slug("member", member.as_ref());
                m.amount("amount", *amount);
                m.str("reference", reference);
                m.str("text", text);
            }
            PayrollRecorded { year, month, line, insats, staff, items, reference, text } => {
                m.int("year", year);
                m.int("month", month);
                m.opt_slug("line", line.as_ref());
                m.opt_slug("insats", insats.as_ref());
                if let Some(n) = staff {
                    m.int("staff", n);
                }
                for (item, amount) in items {
                    m.amount(item.as_str(), *amount);
                }
                m.str("reference", reference);
                m.str("text", text);
            }
            PayrollLiabilitiesPaid { items, reference } => {
                for (item, amount) in items {
                    m.amount(item.as_str(), *amount);
                }
                m.str("reference", reference);
            }
            InvoicePaid { invoice, amount, reference } => {
                m.slug("invoice", invoice);
                m.amount("amount", *amount);
                m.str("reference", reference);
            }
            MergerDecided { merging, effective, estimated_transfers, decision } => {
                m.key("merging");
                m.buf.push(b'[');
                for (i, s) in merging.iter().enumerate() {
                    if i > 0 {
                        m.buf.push(b',');
                    }
                    string(m.buf, &s.0);
                }
                m.buf.push(b']');
                m.date("effective", *effective);
                m.objects("estimated_transfers", estimated_transfers, |o, t| {
                    o.slug("from", &t.from);
                    o.amount("amount", t.amount);
                });
                m.decision(decision);
            }
            EquityTransferred { from, amount, reference } => {
                m.slug("from", from);
                m.amount("amount", *amount);
                m.str("reference", reference);
            }
            BalancesTakenOver { from, reference } => {
                m.slug("from", from);
                m.str("reference", reference);
            }
            ForbundDissolved { merged_into, decision } => {
                m.opt_slug("merged_into", merged_into.as_ref());
                m.decision(decision);
            }
            YearClosed { year, decision } => {
                m.int("year", year);
                m.decision(decision);
            }
            ReportTextRecorded { year, section, paragraphs, decision } => {
                m.int("year", year);
                m.str("section", section.as_str());
                m.key("paragraphs");
                m.buf.push(b'[');
                for (i, p) in paragraphs.iter().enumerate() {
                    if i > 0 {
                        m.buf.push(b',');
                    }
                    string(m.buf, p);
                }
                m.buf.push(b']');
                if let Some(d) = decision {
                    m.decision(d);
                }
            }
            UnderlagAttached { of, file } => {
                m.key("of");
                m.buf.push(b'[');
                for (i, seq) in of.iter().enumerate() {
                    if i > 0 {
                        m.buf.push(b',');
                    }
                    m.buf.extend_from_slice(seq.to_string().as_bytes());
                }
                m.buf.push(b']');
                m.object_in("file", |o| {
                    o.str("name", &file.name);
                    o.str("media_type", file.media_type.as_str());
                    o.int("size", file.size);
                    o.str("sha256", &file.sha256);
                });
            }
            AnnualReportAdopted { year, known_at, figures_sha256, decision } => {
                m.int("year", year);
                m.int("known_at", known_at);
                m.str("figures_sha256", figures_sha256);
                m.decision(decision);
            }
            AuditReportRecorded { year, auditor, role, appointed_by, verdict, remarks } => {
                m.int("year", year);
                m.str("auditor", auditor);
                m.str("role", role.as_str());
                m.opt_str("appointed_by", appointed_by.as_deref());
                m.str("verdict", verdict.as_str());
                m.opt_str("remarks", remarks.as_deref());
            }
            DischargeDecided { year, member, granted, decision } => {
                m.int("year", year);
                m.slug("member", member);
                m.key("granted");
                m.buf.extend_from_slice(if *granted { b"true" } else { b"false" });
                m.decision(decision);
            }
            EventCorrected { corrects, reason, decision } => {
                m.int("corrects", corrects);
                m.str("reason", reason);
                if let Some(d) = decision {
                    m.decision(d);
                }
            }
        }
        m.opt_str("idempotency_key", self.idempotency_key.as_deref());
        m.opt_str("note", self.note.as_deref());
    }
}

fn stated_members(m: &mut Out<'_>, s: &Stated) {
    for (key, value) in [
        ("costs_total", s.costs_total),
        ("income_total", s.income_total),
        ("result", s.result),
        ("opening_equity", s.opening_equity),
        ("closing_equity", s.closing_equity),
        ("available", s.available),
        ("direct_total", s.direct_total),
        ("transfers_total", s.transfers_total),
    ] {
        if let Some(v) = value {
            m.amount(key, v);
        }
    }
    if !s.by_category.is_empty() {
        m.object_in("by_category", |c| {
            for (category, amount) in &s.by_category {
                c.amount(category.as_str(), *amount);
            }
        });
    }
    if !s.by_group.is_empty() {
        m.object_in("by_group", |c| {
            for (group, amount) in &s.by_group {
                c.amount(group, *amount);
            }
        });
    }
    if !s.shares.is_empty() {
        m.object_in("shares", |c| {
            for (which, share) in &s.shares {
                c.str(which.as_str(), &share.canonical());
            }
        });
    }
}
