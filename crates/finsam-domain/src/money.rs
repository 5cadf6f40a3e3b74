//! Money and shares: `rust_decimal` in kronor, parsed only from strings, never from floats.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The largest amount a single event may carry: one hundred billion kronor. A förbund's yearly
/// budget is in the tens of millions; anything near this limit is a typing error.
pub const AMOUNT_KR_MAX: i64 = 100_000_000_000;

/// An amount in kronor with at most two decimals (öre).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Amount(Decimal);

/// Why a text is not an amount. The `&'static str` is the rule, in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AmountError(pub &'static str);

impl Amount {
    pub const ZERO: Amount = Amount(Decimal::ZERO);

    /// Parses the strict form `-?(0|[1-9]D*)(.D{1,2})?`: no exponent, no sign `+`, no spaces,
    /// no commas, no leading zeros.
    pub fn parse(text: &str) -> Result<Amount, AmountError> {
        let digits = text.strip_prefix('-').unwrap_or(text);
        let (int, frac) = match digits.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (digits, None),
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int) || frac.is_some_and(|f| !all_digits(f)) {
            return Err(AmountError(
                "an amount is kronor written with digits and an optional point and öre, e.g. \"1500\" or \"1500.50\" (no spaces, exponent or comma)",
            ));
        }
        if int.len() > 1 && int.starts_with('0') {
            return Err(AmountError("an amount has no leading zeros (write \"7\", not \"007\")"));
        }
        if frac.is_some_and(|f| f.len() > 2) {
            return Err(AmountError("an amount has at most 2 decimals (öre)"));
        }
        if int.len() > 15 {
            return Err(AmountError("an amount may not exceed 100 000 000 000 kr"));
        }
        let value = Decimal::from_str(text).map_err(|_| AmountError("not a decimal number"))?;
        if value.abs() > Decimal::from(AMOUNT_KR_MAX) {
            return Err(AmountError("an amount may not exceed 100 000 000 000 kr"));
        }
        Ok(Amount(value))
    }

    pub fn from_decimal(value: Decimal) -> Amount {
        assert!(value.round_dp(2) == value, "amount {value} has more than 2 decimals");
        Amount(value)
    }

    pub fn kr(whole: i64) -> Amount {
        Amount(Decimal::from(whole))
    }

    pub fn decimal(self) -> Decimal {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    pub fn is_negative(self) -> bool {
        self.0.is_sign_negative() && !self.0.is_zero()
    }

    pub fn is_positive(self) -> bool {
        self.0.is_sign_positive() && !self.0.is_zero()
    }

    /// The canonical text stored in the log: whole kronor without decimals, otherwise exactly
    /// two decimals ("6200000", "1500.50").
    pub fn canonical(self) -> String {
        if self.0.is_zero() {
            "0".to_string()
        } else if self.0.fract().is_zero() {
            self.0.trunc().normalize().to_string()
        } else {
            format!("{:.2}", self.0)
        }
    }

    /// Human form: `1 918 000,00 kr` (space as thousands separator, comma before öre).
    pub fn human(self) -> String {
        format!("{} kr", self.human_number())
    }

    /// Human form without the unit, for table columns.
    pub fn human_number(self) -> String {
        // A zero reached by arithmetic may carry a minus sign; it is printed as zero.
        let value = if self.0.is_zero() { Decimal::ZERO } else { self.0 };
        let text = format!("{value:.2}");
        let (sign, rest) = match text.strip_prefix('-') {
            Some(r) => ("-", r),
            None => ("", text.as_str()),
        };
        let (int, frac) = rest.split_once('.').expect("formatted with two decimals");
        let mut grouped = String::with_capacity(int.len() + int.len() / 3);
        for (i, ch) in int.chars().enumerate() {
            if i > 0 && (int.len() - i) % 3 == 0 {
                grouped.push(' ');
            }
            grouped.push(ch);
        }
        format!("{sign}{grouped},{frac}")
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

impl std::ops::Add for Amount {
    type Output = Amount;
    fn add(self, rhs: Amount) -> Amount {
        Amount(self.0 + rhs.0)
    }
}

impl std::ops::Sub for Amount {
    type Output = Amount;
    fn sub(self, rhs: Amount) -> Amount {
        Amount(self.0 - rhs.0)
    }
}

impl std::ops::Neg for Amount {
    type Output = Amount;
    fn neg(self) -> Amount {
        // No negative zero: -0 would print as "-0,00 kr".
        if self.0.is_zero() {
            Amount::ZERO
        } else {
            Amount(-self.0)
        }
    }
}

impl std::ops::AddAssign for Amount {
    fn add_assign(&mut self, rhs: Amount) {
        self.0 += rhs.0;
    }
}

impl std::ops::SubAssign for Amount {
    fn sub_assign(&mut self, rhs: Amount) {
        self.0 -= rhs.0;
    }
}

impl std::iter::Sum for Amount {
    fn sum<I: Iterator<Item = Amount>>(iter: I) -> Amount {
        iter.fold(Amount::ZERO, |a, b| a + b)
    }
}

/// A fraction between 0 and 1 with at most 6 decimals, e.g. a member's share of the yearly
/// contributions ("0.25").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Share(Decimal);

impl Share {
    pub const SHARE_DECIMALS_MAX: usize = 6;

    pub fn parse(text: &str) -> Result<Share, AmountError> {
        let (int, frac) = text.split_once('.').unwrap_or((text, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !all_digits(int) || !all_digits(frac) || (text.contains('.') && frac.is_empty()) {
            return Err(AmountError(
                "a share is a decimal fraction between 0 and 1 written as a string, e.g. \"0.25\"",
            ));
        }
        if frac.len() > Self::SHARE_DECIMALS_MAX {
            return Err(AmountError("a share has at most 6 decimals"));
        }
        let value = Decimal::from_str(text).map_err(|_| AmountError("not a decimal number"))?;
        if value > Decimal::ONE {
            return Err(AmountError("a share lies between 0 and 1"));
        }
        Ok(Share(value))
    }

    pub fn from_decimal(value: Decimal) -> Share {
        Share(value)
    }

    pub fn decimal(self) -> Decimal {
        self.0
    }

    pub fn canonical(self) -> String {
        self.0.normalize().to_string()
    }
}

impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_parsed_strictly_from_text() {
        assert_eq!(Amount::parse("6200000").unwrap(), Amount::kr(6_200_000));
        assert_eq!(Amount::parse("1500.50").unwrap().canonical(), "1500.50");
        assert_eq!(Amount::parse("1500.5").unwrap().canonical(), "1500.50");
        assert_eq!(Amount::parse("1500.00").unwrap().canonical(), "1500");
        assert_eq!(Amount::parse("-12.30").unwrap().canonical(), "-12.30");
        for bad in
            ["", "1e9", "1.234", "+5", " 5", "5 ", "1 000", "1,50", ".5", "5.", "--5", "0x10", "1000000000000000"]
        {
            assert!(Amount::parse(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    /// The limit itself is an amount; the öre past it, either way, is not — whatever the
    /// digit-count rule lets through (12 digits before the point pass it).
    #[test]
    fn the_amount_limit_is_one_hundred_billion_kronor_to_the_ore() {
        assert_eq!(Amount::parse("100000000000").unwrap(), Amount::kr(AMOUNT_KR_MAX));
        assert_eq!(Amount::parse("-100000000000").unwrap(), -Amount::kr(AMOUNT_KR_MAX));
        assert_eq!(Amount::parse("99999999999.99").unwrap().canonical(), "99999999999.99");
        for over in ["100000000000.01", "-100000000000.01", "100000000001", "999999999999"] {
            let e = Amount::parse(over).unwrap_err();
            assert!(e.0.contains("100 000 000 000"), "{over}: {}", e.0);
        }
    }

    #[test]
    fn amounts_read_like_swedish_kronor() {
        assert_eq!(Amount::kr(1_918_000).human(), "1 918 000,00 kr");
        assert_eq!(Amount::parse("-1945000").unwrap().human(), "-1 945 000,00 kr");
        assert_eq!(Amount::parse("999.5").unwrap().human(), "999,50 kr");
        assert_eq!(Amount::ZERO.human(), "0,00 kr");
        // A sum that comes to nothing, negated, is still nothing: never "-0,00 kr".
        let nothing = Amount::parse("1066000").unwrap() + -Amount::parse("1066000").unwrap();
        assert_eq!((-nothing).human(), "0,00 kr");
        assert_eq!((-nothing).canonical(), "0");
        assert_eq!((-Amount::parse("0.50").unwrap() + Amount::parse("0.50").unwrap()).human(), "0,00 kr");
    }

    #[test]
    fn shares_are_fractions_written_as_text() {
        assert_eq!(Share::parse("0.25").unwrap().canonical(), "0.25");
        assert_eq!(Share::parse("0.2500").unwrap().canonical(), "0.25");
        assert_eq!(Share::parse("1").unwrap().canonical(), "1");
        for bad in ["1.5", "-0.1", "0.1234567", "x", "", ".5", "0."] {
            assert!(Share::parse(bad).is_err(), "{bad:?} must be rejected");
        }
    }
}
