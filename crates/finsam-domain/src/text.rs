//! Which characters a text may hold, and how an unprintable one is shown.
//!
//! A text that reaches a terminal, a table, a CSV cell, a SIE file or a journal must not be
//! able to start a new line, move the cursor, or reverse the direction of what follows. So
//! every text field and the actor refuse C0 and C1 control characters, DEL, the line and
//! paragraph separators U+2028/U+2029, and the bidirectional marks, embeddings, overrides and
//! isolates (U+061C, U+200E–U+200F, U+202A–U+202E, U+2066–U+2069).

/// True for a character no text of finsam may hold.
pub fn is_forbidden(c: char) -> bool {
    c.is_control() // C0, DEL and C1
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{061C}' | '\u{200E}' | '\u{200F}')
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// The first forbidden character of `text`, with its position (in characters, from 1).
pub fn first_forbidden(text: &str) -> Option<(usize, char)> {
    text.chars().enumerate().find(|(_, c)| is_forbidden(*c)).map(|(i, c)| (i + 1, c))
}

/// `text` with every forbidden character written as `\u{…}`, so that it can be shown safely.
pub fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_forbidden(c) {
            out.push_str(&format!("\\u{{{:04X}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// The rule's message for a forbidden character at `position`.
pub fn forbidden_message(position: usize, c: char) -> String {
    format!(
        "character {position} is U+{:04X}, a control or direction character; texts hold printable characters only (a line break, tab or direction mark could forge output)",
        c as u32
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_direction_characters_are_forbidden_and_letters_are_not() {
        for c in [
            '\n', '\r', '\t', '\0', '\u{1b}', '\u{7f}', '\u{85}', '\u{9b}', '\u{2028}', '\u{2029}', '\u{202E}',
            '\u{2066}', '\u{2069}',
        ] {
            assert!(is_forbidden(c), "{:04X}", c as u32);
        }
        for c in ['a', 'Å', 'ö', '§', ' ', '–', '€', '\u{00A0}'] {
            assert!(!is_forbidden(c), "{:04X}", c as u32);
        }
        assert_eq!(escaped("a\nb\u{202E}c"), "a\\u{000A}b\\u{202E}c");
        assert_eq!(first_forbidden("Bidrag\u{1b}[2J"), Some((7, '\u{1b}')));
    }
}
