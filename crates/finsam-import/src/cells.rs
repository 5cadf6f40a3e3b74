//! A budget's cells as a Swedish user writes them — "Administration", "Individinriktade
//! insatser", "köpta tjänster", "1 750 000", "1 750 000,50 kr" — read into the contract's
//! values, or the reason a cell cannot be read. The spreadsheet import and the web app's paste
//! form read cells with the same functions, so neither drops a cell it does not know.

use finsam_domain::event::{Category, Nature};

/// A label folded for comparison: lower-case, å ä ö as a a o, punctuation as spaces.
pub fn fold(text: &str) -> String {
    let folded: String = text
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'å' | 'ä' | 'á' | 'à' => 'a',
            'ö' | 'ø' | 'ó' => 'o',
            'é' | 'è' => 'e',
            'ü' => 'u',
            c if c.is_alphanumeric() => c,
            _ => ' ',
        })
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A budget line's category: the contract's id, or the words a budget prints for it.
pub fn category(text: &str) -> Result<Category, String> {
    let f = fold(text);
    if let Some(c) = Category::parse(&f) {
        return Ok(c);
    }
    let first = f.split(' ').next().unwrap_or("");
    let c = match first {
        "administration" | "adm" | "administrativa" | "gemensam" | "kansli" => Some(Category::Admin),
        "individ" | "individinriktad" | "individinriktade" | "individinriktat" | "individinsatser" => {
            Some(Category::Individ)
        }
        "struktur"
        | "strukturinriktad"
        | "strukturinriktade"
        | "strukturovergripande"
        | "strukturinsatser"
        | "metodutveckling" => Some(Category::Struktur),
        _ => None,
    };
    c.ok_or_else(|| {
        format!(
            "{text:?} är ingen kategori: skriv individ (individinriktade insatser), struktur (strukturinriktade insatser) eller admin (administration)"
        )
    })
}

/// A cost line's nature (kostnadsslag): empty for the line's default, else the contract's id
/// or the words for it.
pub fn nature(text: &str) -> Result<Option<Nature>, String> {
    let f = fold(text);
    if f.is_empty() {
        return Ok(None);
    }
    if let Some(n) = Nature::parse(&f.replace(' ', "_")) {
        return Ok(Some(n));
    }
    let n = match f.as_str() {
        "personal" | "personalkostnader" | "egen personal" | "personalkostnad" | "loner" => Some(Nature::Personnel),
        "kopta tjanster" | "kopt tjanst" | "tjanster" | "konsulter" => Some(Nature::Purchased),
        "lamnade bidrag" | "bidrag" | "bidrag till insatser" | "lamnade bidrag till insatser" => Some(Nature::Grants),
        "ovrigt" | "ovriga kostnader" | "ovriga" | "ovrig kostnad" => Some(Nature::Other),
        "finansiell" | "finansiella kostnader" | "rantekostnader" => Some(Nature::Financial),
        _ => None,
    };
    n.map(Some).ok_or_else(|| {
        format!("{text:?} är ingen kostnadsart: lämna tomt, eller skriv personal, köpta tjänster, lämnade bidrag, övrigt eller finansiell")
    })
}

/// An amount typed the Swedish way — `1 500,50`, `1500`, `-200,5`, `1 750 000 kr` — as the
/// contract's canonical text (`1500.50`), or what is wrong with it, in Swedish.
pub fn swedish_amount(text: &str) -> Result<String, &'static str> {
    let t: String = text.trim().chars().filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}' | '\u{2009}')).collect();
    let t = t.strip_suffix("kr").unwrap_or(&t).trim_end();
    let (negative, digits) = match t.strip_prefix('-').or_else(|| t.strip_prefix('−')) {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    if digits.is_empty() {
        return Err("Skriv ett belopp, t.ex. 1 500,50.");
    }
    if digits.contains('.') {
        return Err("Skriv beloppet med decimalkomma och mellanslag mellan tusentalen, t.ex. 1 500,50 (inte punkt).");
    }
    let (kronor, ore) = digits.split_once(',').unwrap_or((digits, ""));
    if kronor.is_empty() || !kronor.bytes().all(|b| b.is_ascii_digit()) || !ore.bytes().all(|b| b.is_ascii_digit()) {
        return Err("Beloppet får bara innehålla siffror, mellanslag och ett decimalkomma, t.ex. 1 500,50.");
    }
    if ore.len() > 2 || digits.ends_with(',') {
        return Err("Högst två decimaler (ören), t.ex. 1 500,50.");
    }
    let kronor = kronor.trim_start_matches('0');
    let kronor = if kronor.is_empty() { "0" } else { kronor };
    let canonical = if ore.is_empty() { kronor.to_string() } else { format!("{kronor}.{ore}") };
    let sign = if negative { "-" } else { "" };
    Ok(format!("{sign}{canonical}"))
}

/// An id made from a name, as the contract writes ids: "Samordningsteam Västerås" →
/// "samordningsteam-vasteras".
pub fn slug_of(name: &str) -> String {
    let f = fold(name);
    let words: Vec<String> = f
        .split(' ')
        .map(|w| w.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>())
        .filter(|w| !w.is_empty())
        .collect();
    let mut slug = words.join("-");
    if slug.len() > 64 {
        slug.truncate(64);
        slug = slug.trim_end_matches('-').to_string();
    }
    slug
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_labels_a_swedish_budget_prints_are_read() {
        assert_eq!(category("Administration"), Ok(Category::Admin));
        assert_eq!(category("Individinriktade insatser"), Ok(Category::Individ));
        assert_eq!(category("Strukturövergripande insatser"), Ok(Category::Struktur));
        assert_eq!(category(" struktur "), Ok(Category::Struktur));
        assert!(category("Övrigt").unwrap_err().contains("ingen kategori"));
        assert_eq!(nature("köpta tjänster"), Ok(Some(Nature::Purchased)));
        assert_eq!(nature("Köpta tjänster"), Ok(Some(Nature::Purchased)));
        assert_eq!(nature("kopta_tjanster"), Ok(Some(Nature::Purchased)));
        assert_eq!(nature("Egen personal"), Ok(Some(Nature::Personnel)));
        assert_eq!(nature(""), Ok(None));
        assert!(nature("resor").unwrap_err().contains("ingen kostnadsart"));
        assert_eq!(swedish_amount("1 750 000"), Ok("1750000".into()));
        assert_eq!(swedish_amount("1\u{a0}750\u{a0}000,50 kr"), Ok("1750000.50".into()));
        assert!(swedish_amount("1.750.000").is_err());
        assert!(swedish_amount("1 750,505").is_err());
        assert_eq!(
            slug_of("Processtöd Samverkansinsatser (egen personal)"),
            "processtod-samverkansinsatser-egen-personal"
        );
    }
}
