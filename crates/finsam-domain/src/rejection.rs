//! Rejections: every reason an input is refused is a named rule that reads as a fact.
//!
//! A rejection names the line (when the input came from a file), the field, the value and the
//! rule, so a kansli member can find and fix the mistake without reading code.

use std::fmt;

/// The rules an event or a batch can break. `code()` is the stable machine name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    InputNotUtf8,
    LineTooLong,
    BatchTooLarge,
    BatchEmpty,
    NotJson,
    NotAnObject,
    MissingField,
    UnknownField,
    WrongJsonType,
    UnknownEventType,
    AmountMalformed,
    AmountMustBePositive,
    AmountMustNotBeNegative,
    AmountMustNotBeZero,
    ShareMalformed,
    SharesMustSumToOne,
    SharesByKind,
    DateInvalid,
    DateOutOfRange,
    YearOutOfRange,
    YearMustMatchDate,
    SlugMalformed,
    TextEmpty,
    TextTooLong,
    TextControlCharacter,
    OrgNrMalformed,
    OrgNrFailsLuhn,
    ValueNotAllowed,
    ForbundUnknown,
    ForbundAlreadyRegistered,
    ForbundDissolved,
    EventBeforeRegistration,
    MemberUnknown,
    MemberDuplicate,
    MemberKindMissing,
    InsatsUnknown,
    InsatsAlreadyExists,
    BudgetMissing,
    BudgetLineUnknown,
    BudgetLineDuplicate,
    LineAndInsatsDisagree,
    CostNeedsLineOrInsats,
    OpeningBalanceAlreadyRecorded,
    GrantWouldBecomeNegative,
    MergerNamesItself,
    MergerListsForbundTwice,
    EstimateNotForMergingForbund,
    TransferWithoutMerger,
    TransferFromDissolvedForbund,
    TakeoverDate,
    TakeoverTwice,
    ForbundTakenOver,
    NothingChanged,
    MemberKindChanged,
    YearClosed,
    YearAlreadyClosed,
    YearClosedOutOfOrder,
    YearNotOver,
    CorrectionOfUnknownSeq,
    CorrectionOfCorrection,
    CorrectionNotAllowed,
    CorrectionOfOtherForbund,
    EventAlreadyCorrected,
    IdempotencyKeyReused,
    HeadMoved,
    InvoiceDuplicate,
    InvoiceUnknown,
    InvoiceOverpaid,
    CreditNoteExceedsInvoice,
    CreditNoteSign,
    InvoiceHasPayments,
    AccrualNeedsIncomeLineOrMember,
    ContributionHasPayments,
    PayrollTaxExceedsPay,
    InstallmentsMustSumToAmount,
    ReportNotAdopted,
    AuditReportMissing,
}

impl Rule {
    /// The rule in Swedish, for the people who use the web app's forms: what is wrong and, where
    /// it helps, what to do. (The CLI and the API keep their English messages, which name the
    /// specifics of each case.)
    pub fn swedish(self) -> &'static str {
        use Rule::*;
        match self {
            InputNotUtf8 => "Texten är inte giltig UTF-8.",
            LineTooLong => "Raden är för lång.",
            BatchTooLarge => "För många händelser på en gång.",
            BatchEmpty => "Det finns inget att registrera.",
            NotJson => "Raden är inte giltig JSON.",
            NotAnObject => "En händelse skrivs som ett JSON-objekt.",
            MissingField => "Uppgiften saknas och måste fyllas i.",
            UnknownField => "Uppgiften hör inte till den här sortens händelse.",
            WrongJsonType => "Uppgiften har fel form.",
            UnknownEventType => "Okänd sorts händelse.",
            AmountMalformed => "Beloppet kan inte läsas: skriv kronor med högst två decimaler, t.ex. 1 500,50.",
            AmountMustBePositive => "Beloppet måste vara större än noll.",
            AmountMustNotBeNegative => "Beloppet får inte vara negativt.",
            AmountMustNotBeZero => "Beloppet får inte vara noll.",
            ShareMalformed => "Andelen kan inte läsas: skriv ett tal mellan 0 och 1, t.ex. 0,25.",
            SharesMustSumToOne => "Medlemmarnas andelar ska tillsammans bli 100 %.",
            SharesByKind => "Staten ska ha hälften, regionen en fjärdedel och kommunerna tillsammans en fjärdedel.",
            DateInvalid => "Datumet är inte giltigt här.",
            DateOutOfRange => "Datumet ligger utanför det som kan registreras.",
            YearOutOfRange => "Året ligger utanför det som kan registreras.",
            YearMustMatchDate => "Året ska vara samma som datumets år.",
            SlugMalformed => "Id:t kan inte läsas: små bokstäver a–z, siffror och bindestreck.",
            TextEmpty => "Texten får inte vara tom.",
            TextTooLong => "Texten är för lång.",
            TextControlCharacter => "Texten innehåller otillåtna styrtecken.",
            OrgNrMalformed => "Organisationsnumret skrivs NNNNNN-NNNN.",
            OrgNrFailsLuhn => "Organisationsnumrets kontrollsiffra stämmer inte.",
            ValueNotAllowed => "Värdet är inte ett av de tillåtna.",
            ForbundUnknown => "Förbundet finns inte.",
            ForbundAlreadyRegistered => "Förbundet är redan registrerat.",
            ForbundDissolved => "Förbundet är upplöst och tar inte emot nya händelser.",
            EventBeforeRegistration => "Datumet ligger före förbundets registrering.",
            MemberUnknown => "Medlemmen finns inte i förbundet vid det datumet.",
            MemberDuplicate => "Medlemmen finns redan i listan.",
            MemberKindMissing => "Alla tre parter måste finnas: staten, regionen och minst en kommun.",
            InsatsUnknown => "Insatsen finns inte.",
            InsatsAlreadyExists => "Det finns redan en insats med det id:t.",
            BudgetMissing => "Det finns ingen budget för året; anta budgeten först.",
            BudgetLineUnknown => "Budgetraden finns inte i årets budget.",
            BudgetLineDuplicate => "Budgetraden finns två gånger.",
            LineAndInsatsDisagree => "Budgetraden hör till en annan insats.",
            CostNeedsLineOrInsats => "Ange budgetrad eller insats (eller båda).",
            OpeningBalanceAlreadyRecorded => "Den ingående balansen är redan registrerad.",
            GrantWouldBecomeNegative => "Ändringen skulle göra de beviljade medlen negativa.",
            MergerNamesItself => "Ett förbund kan inte gå samman med sig självt.",
            MergerListsForbundTwice => "Ett förbund står två gånger i sammanläggningen.",
            EstimateNotForMergingForbund => "Uppskattningen gäller ett förbund som inte ingår i sammanläggningen.",
            TransferWithoutMerger => "Det finns inget beslut om sammanläggning med det förbundet.",
            TransferFromDissolvedForbund => "Förbundet som ska föra över är redan upplöst.",
            TakeoverDate => "Övertagandet dateras den dag sammanläggningen träder i kraft.",
            TakeoverTwice => "Förbundets tillgångar och skulder är redan övertagna.",
            ForbundTakenOver => "Förbundets böcker är övertagna av det nya förbundet; registrera där.",
            NothingChanged => "Ändringen ändrar ingenting.",
            MemberKindChanged => "En medlem kan inte byta slag (stat, region, kommun).",
            YearClosed => "Året är stängt i bokslutet; registrera i ett öppet år eller rätta med en rättelse.",
            YearAlreadyClosed => "Året är redan stängt.",
            YearClosedOutOfOrder => "Åren stängs i tur och ordning; stäng det tidigare året först.",
            YearNotOver => "Ett år kan stängas först när det är slut.",
            CorrectionOfUnknownSeq => "Det finns ingen händelse med det numret.",
            CorrectionOfCorrection => "En rättelse rättas inte; rätta den ursprungliga händelsen.",
            CorrectionNotAllowed => "Den här sortens händelse kan inte rättas så.",
            CorrectionOfOtherForbund => "Händelsen hör till ett annat förbunds böcker.",
            EventAlreadyCorrected => "Händelsen är redan rättad.",
            IdempotencyKeyReused => "Samma nyckel användes redan för en annan händelse.",
            HeadMoved => "Loggen har ändrats sedan sidan lästes; läs om och försök igen.",
            InvoiceDuplicate => "Det finns redan en faktura med det numret.",
            InvoiceUnknown => "Fakturan finns inte (eller är redan rättad).",
            InvoiceOverpaid => "Betalningen är större än det som återstår av fakturan.",
            CreditNoteExceedsInvoice => "Kreditnotan är större än fakturan.",
            CreditNoteSign => "En kreditnota har ett negativt belopp, en faktura ett positivt.",
            InvoiceHasPayments => "Fakturan har betalningar eller kreditnotor; rätta dem först.",
            AccrualNeedsIncomeLineOrMember => "En intäktsperiodisering anger antingen intäktsrad eller medlem.",
            ContributionHasPayments => "Beslutet har betalningar; rätta dem först.",
            PayrollTaxExceedsPay => "Den avdragna skatten kan inte vara större än lönerna och arvodena.",
            InstallmentsMustSumToAmount => "Faktureringsplanens delar ska tillsammans bli hela bidraget.",
            ReportNotAdopted => "Styrelsen har inte antagit årsredovisningen för året ännu.",
            AuditReportMissing => "Det finns ingen revisionsberättelse för året ännu.",
        }
    }

    /// The stable snake_case name printed in messages and JSON.
    pub fn code(self) -> &'static str {
        use Rule::*;
        match self {
            InputNotUtf8 => "input_not_utf8",
            LineTooLong => "line_too_long",
            BatchTooLarge => "batch_too_large",
            BatchEmpty => "batch_empty",
            NotJson => "not_json",
            NotAnObject => "not_an_object",
            MissingField => "missing_field",
            UnknownField => "unknown_field",
            WrongJsonType => "wrong_json_type",
            UnknownEventType => "unknown_event_type",
            AmountMalformed => "amount_malformed",
            AmountMustBePositive => "amount_must_be_positive",
            AmountMustNotBeNegative => "amount_must_not_be_negative",
            AmountMustNotBeZero => "amount_must_not_be_zero",
            ShareMalformed => "share_malformed",
            SharesMustSumToOne => "shares_must_sum_to_one",
            SharesByKind => "shares_by_kind_50_25_25",
            DateInvalid => "date_invalid",
            DateOutOfRange => "date_out_of_range",
            YearOutOfRange => "year_out_of_range",
            YearMustMatchDate => "year_must_match_date",
            SlugMalformed => "slug_malformed",
            TextEmpty => "text_empty",
            TextTooLong => "text_too_long",
            TextControlCharacter => "text_control_character",
            OrgNrMalformed => "org_nr_malformed",
            OrgNrFailsLuhn => "org_nr_fails_luhn",
            ValueNotAllowed => "value_not_allowed",
            ForbundUnknown => "forbund_unknown",
            ForbundAlreadyRegistered => "forbund_already_registered",
            ForbundDissolved => "forbund_dissolved",
            EventBeforeRegistration => "event_before_registration",
            MemberUnknown => "member_unknown",
            MemberDuplicate => "member_duplicate",
            MemberKindMissing => "member_kind_missing",
            InsatsUnknown => "insats_unknown",
            InsatsAlreadyExists => "insats_already_exists",
            BudgetMissing => "budget_missing",
            BudgetLineUnknown => "budget_line_unknown",
            BudgetLineDuplicate => "budget_line_duplicate",
            LineAndInsatsDisagree => "line_and_insats_disagree",
            CostNeedsLineOrInsats => "cost_needs_line_or_insats",
            OpeningBalanceAlreadyRecorded => "opening_balance_already_recorded",
            GrantWouldBecomeNegative => "grant_would_become_negative",
            MergerNamesItself => "merger_names_itself",
            MergerListsForbundTwice => "merger_lists_forbund_twice",
            EstimateNotForMergingForbund => "estimate_not_for_merging_forbund",
            TransferWithoutMerger => "transfer_without_merger",
            TransferFromDissolvedForbund => "transfer_from_dissolved_forbund",
            TakeoverDate => "takeover_date",
            TakeoverTwice => "takeover_twice",
            ForbundTakenOver => "forbund_taken_over",
            NothingChanged => "nothing_changed",
            MemberKindChanged => "member_kind_changed",
            YearClosed => "year_closed",
            YearAlreadyClosed => "year_already_closed",
            YearClosedOutOfOrder => "year_closed_out_of_order",
            YearNotOver => "year_not_over",
            CorrectionOfUnknownSeq => "correction_of_unknown_seq",
            CorrectionOfCorrection => "correction_of_correction",
            CorrectionNotAllowed => "correction_not_allowed",
            CorrectionOfOtherForbund => "correction_of_other_forbund",
            EventAlreadyCorrected => "event_already_corrected",
            IdempotencyKeyReused => "idempotency_key_reused",
            HeadMoved => "head_moved",
            InvoiceDuplicate => "invoice_duplicate",
            InvoiceUnknown => "invoice_unknown",
            InvoiceOverpaid => "invoice_overpaid",
            CreditNoteExceedsInvoice => "credit_note_exceeds_invoice",
            CreditNoteSign => "credit_note_sign",
            InvoiceHasPayments => "invoice_has_payments",
            AccrualNeedsIncomeLineOrMember => "accrual_needs_income_line_or_member",
            ContributionHasPayments => "contribution_has_payments",
            PayrollTaxExceedsPay => "payroll_tax_exceeds_pay",
            InstallmentsMustSumToAmount => "installments_must_sum_to_amount",
            ReportNotAdopted => "report_not_adopted",
            AuditReportMissing => "audit_report_missing",
        }
    }
}

/// A refused input: where, which field, what value, and which rule it breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// 1-based line of the input file, when the input came from one.
    pub line: Option<usize>,
    /// The field path, e.g. `members[2].share`; empty for the whole line.
    pub field: String,
    /// The offending value as JSON text (shortened), or empty.
    pub value: String,
    pub rule: Rule,
    /// The rule in words, specific to this case.
    pub message: String,
}

/// How much of an offending value a message repeats.
const VALUE_CHARS_MAX: usize = 80;

impl Rejection {
    pub fn new(rule: Rule, field: impl Into<String>, value: impl Into<String>, message: impl Into<String>) -> Self {
        let mut value: String = value.into();
        if value.chars().count() > VALUE_CHARS_MAX {
            value = value.chars().take(VALUE_CHARS_MAX).collect::<String>() + "…";
        }
        Rejection { line: None, field: field.into(), value, rule, message: message.into() }
    }

    /// The same rejection, placed on a line of the input.
    pub fn at_line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }
}

impl Rejection {
    /// The refusal in one line, its words given: "line 2, field `amount`, value "12.345":
    /// MESSAGE [rule amount_malformed]" with `words` = ["line", "field", "value", "rule"] (the
    /// Swedish CLI gives its own words and message).
    pub fn render(&self, words: [&str; 4], message: &str) -> String {
        let [line_w, field_w, value_w, rule_w] = words;
        let mut parts = Vec::new();
        if let Some(line) = self.line {
            parts.push(format!("{line_w} {line}"));
        }
        if !self.field.is_empty() {
            parts.push(format!("{field_w} `{}`", self.field));
        }
        if !self.value.is_empty() {
            parts.push(format!("{value_w} {}", self.value));
        }
        let rule = self.rule.code();
        if parts.is_empty() {
            format!("{message} [{rule_w} {rule}]")
        } else {
            format!("{}: {message} [{rule_w} {rule}]", parts.join(", "))
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(["line", "field", "value", "rule"], &self.message))
    }
}

impl std::error::Error for Rejection {}
