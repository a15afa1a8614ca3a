//! Chinese subject identifiers and their check characters.
//!
//! - Unified social credit code (统一社会信用代码, GB 32100-2015) of legal persons: 18 characters
//!   over a 31-character alphabet; characters 9–17 are an organization code (GB 11714) with its own
//!   check character, character 18 checks the first 17.
//! - Citizen ID number (公民身份号码, GB 11643) of persons: division code, birth date, sequence code
//!   (odd for men, even for women) and a mod-11 check character.
//!
//! The generator makes identifiers with these helpers, and the egress guard uses the validators to
//! recognise a real identifier in output cells.

use chrono::{Datelike, NaiveDate};

use crate::manifest::IdentifierKind;

/// Length of both a unified social credit code and a citizen ID number.
pub const ID_LEN: usize = 18;

/// The USCI alphabet: digits and uppercase letters without I, O, S, V, Z; a character's value is
/// its index here.
pub const USCI_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Weights of the first 17 USCI characters: 3^i mod 31.
const USCI_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Weights of the 8 organization-code body characters (GB 11714).
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// Weights of the first 17 citizen ID digits (GB 11643).
const CITIZEN_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// The first two digits of every GB/T 2260 division code: the provinces, autonomous regions,
/// municipalities, Taiwan, Hong Kong and Macao. Checking them keeps a USCI made only of digits
/// (which begins with an authority code like 91) from also passing as a citizen ID.
const PROVINCES: [&[u8; 2]; 34] = [
    b"11", b"12", b"13", b"14", b"15", b"21", b"22", b"23", b"31", b"32", b"33", b"34", b"35",
    b"36", b"37", b"41", b"42", b"43", b"44", b"45", b"46", b"50", b"51", b"52", b"53", b"54",
    b"61", b"62", b"63", b"64", b"65", b"71", b"81", b"82",
];

/// Citizen ID check characters indexed by the weighted sum mod 11.
const CITIZEN_CHECK: &[u8; 11] = b"10X98765432";

/// Why an identifier could not be built from the given parts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The administrative division code is not six ASCII digits.
    #[error("division code '{0}' must be 6 digits")]
    Division(String),
    /// A citizen ID's division code does not start with a province code.
    #[error("division code '{0}' does not start with a province code")]
    Province(String),
    /// The organization-code body is not 8 characters of the USCI alphabet.
    #[error("organization code body '{0}' must be 8 characters from the USCI alphabet")]
    OrgBody(String),
    /// The registration authority or category is not a USCI character.
    #[error("registration authority '{0}' and category '{1}' must be USCI characters")]
    Authority(char, char),
    /// The birth date cannot be written as YYYYMMDD.
    #[error("birth year {0} is outside 1000..=9999")]
    BirthYear(i32),
    /// The sequence code is outside 0..=999.
    #[error("sequence code {0} must be 0..=999")]
    Sequence(u16),
}

fn usci_value(c: u8) -> Option<u32> {
    USCI_ALPHABET.iter().position(|&a| a == c).map(|i| i as u32)
}

/// GB 11714 character value: digits 0–9, letters A=10 … Z=35 (unlike the USCI alphabet index).
fn org_value(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'A'..=b'Z' => Some(u32::from(c - b'A') + 10),
        _ => None,
    }
}

/// The GB 11714 check character of an 8-character organization-code body, or `None` if a
/// character is not a digit or uppercase letter.
pub fn org_code_check_char(body: &str) -> Option<char> {
    let bytes = body.as_bytes();
    if bytes.len() != 8 {
        return None;
    }
    let mut sum = 0;
    for (&c, w) in bytes.iter().zip(ORG_WEIGHTS) {
        sum += org_value(c)? * w;
    }
    Some(match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        c => char::from(b'0' + c as u8),
    })
}

/// The USCI check character (position 18) of the first 17 characters, or `None` if they are not
/// 17 characters of [`USCI_ALPHABET`].
pub fn usci_check_char(first17: &str) -> Option<char> {
    let bytes = first17.as_bytes();
    if bytes.len() != 17 {
        return None;
    }
    let mut sum = 0;
    for (&c, w) in bytes.iter().zip(USCI_WEIGHTS) {
        sum += usci_value(c)? * w;
    }
    Some(char::from(USCI_ALPHABET[((31 - sum % 31) % 31) as usize]))
}

/// Whether `s` is a unified social credit code: 18 characters of [`USCI_ALPHABET`], positions
/// 3–8 digits (the division code), a correct organization-code check character at position 17 and
/// a correct check character at position 18. Case-sensitive, as the standard is.
pub fn usci_is_valid(s: &str) -> bool {
    let b = s.as_bytes();
    // ASCII first, so that the slices below fall on character boundaries.
    b.len() == ID_LEN
        && s.is_ascii()
        && b[2..8].iter().all(u8::is_ascii_digit)
        && usci_check_char(&s[..17]).is_some_and(|c| c as u8 == b[17])
        && org_code_check_char(&s[8..16]).is_some_and(|c| c as u8 == b[16])
}

/// Builds a business-registered enterprise's code (authority '9' 工商, category '1' 企业) from a
/// 6-digit division code and an 8-character organization-code body.
pub fn make_usci(division: &str, org_body: &str) -> Result<String, IdError> {
    make_usci_with('9', '1', division, org_body)
}

/// Builds a unified social credit code from its parts, computing both check characters.
pub fn make_usci_with(
    authority: char,
    category: char,
    division: &str,
    org_body: &str,
) -> Result<String, IdError> {
    let in_alphabet = |c: char| c.is_ascii() && usci_value(c as u8).is_some();
    if !in_alphabet(authority) || !in_alphabet(category) {
        return Err(IdError::Authority(authority, category));
    }
    check_division(division)?;
    if org_body.len() != 8 || !org_body.bytes().all(|c| usci_value(c).is_some()) {
        return Err(IdError::OrgBody(org_body.to_string()));
    }
    let org_check =
        org_code_check_char(org_body).ok_or_else(|| IdError::OrgBody(org_body.to_string()))?;
    let mut code = String::with_capacity(ID_LEN);
    code.push(authority);
    code.push(category);
    code.push_str(division);
    code.push_str(org_body);
    code.push(org_check);
    // Every part was checked against the alphabet above, so the check character exists.
    let check = usci_check_char(&code).ok_or_else(|| IdError::OrgBody(org_body.to_string()))?;
    code.push(check);
    Ok(code)
}

fn check_division(division: &str) -> Result<(), IdError> {
    if division.len() == 6 && division.bytes().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(IdError::Division(division.to_string()))
    }
}

/// The citizen ID check character of the first 17 digits, or `None` if they are not 17 ASCII
/// digits.
pub fn citizen_id_check_char(first17: &str) -> Option<char> {
    let bytes = first17.as_bytes();
    if bytes.len() != 17 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = bytes
        .iter()
        .zip(CITIZEN_WEIGHTS)
        .map(|(&c, w)| u32::from(c - b'0') * w)
        .sum();
    Some(char::from(CITIZEN_CHECK[(sum % 11) as usize]))
}

/// Whether `s` is a citizen ID number: 17 digits starting with a province code, whose characters
/// 7–14 are a real calendar date, followed by the correct check character (a digit or uppercase
/// 'X').
pub fn citizen_id_is_valid(s: &str) -> bool {
    s.len() == ID_LEN
        && s.is_ascii()
        && is_province(s.as_bytes())
        && citizen_id_check_char(&s[..17]).is_some_and(|c| c as u8 == s.as_bytes()[17])
        && citizen_id_birth_date(s).is_some()
}

fn is_province(code: &[u8]) -> bool {
    PROVINCES.iter().any(|p| code.starts_with(&p[..]))
}

/// The birth date encoded in a citizen ID number (characters 7–14), if it is a real date.
pub fn citizen_id_birth_date(s: &str) -> Option<NaiveDate> {
    let digits = s.get(6..14)?;
    if !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| digits[r].parse::<u32>().ok();
    NaiveDate::from_ymd_opt(n(0..4)? as i32, n(4..6)?, n(6..8)?)
}

/// Builds a citizen ID number from a 6-digit division code, a birth date and a sequence code
/// (0..=999; odd for men, even for women), computing the check character.
pub fn make_citizen_id(division: &str, birth: NaiveDate, sequence: u16) -> Result<String, IdError> {
    check_division(division)?;
    if !is_province(division.as_bytes()) {
        return Err(IdError::Province(division.to_string()));
    }
    if !(1000..=9999).contains(&birth.year()) {
        return Err(IdError::BirthYear(birth.year()));
    }
    if sequence > 999 {
        return Err(IdError::Sequence(sequence));
    }
    let mut id = format!("{division}{}{sequence:03}", birth.format("%Y%m%d"));
    // 17 digits by construction.
    let check = citizen_id_check_char(&id).ok_or_else(|| IdError::Division(division.into()))?;
    id.push(check);
    Ok(id)
}

/// The kind of identifier `s` is, if it is a valid citizen ID number or unified social credit
/// code after trimming whitespace.
///
/// Lowercase letters are folded to uppercase first: the guard must not let `...002x` through
/// just because the standard writes `X`.
pub fn looks_like_identifier(s: &str) -> Option<IdentifierKind> {
    let s = s.trim();
    if s.len() != ID_LEN || !s.is_ascii() {
        return None;
    }
    classify(s.as_bytes())
}

/// Classifies exactly 18 ASCII bytes. A string that is both (possible for all-digit codes) counts
/// as a citizen ID, the more sensitive of the two.
fn classify(window: &[u8]) -> Option<IdentifierKind> {
    let mut buf = [0u8; ID_LEN];
    buf.copy_from_slice(window);
    buf.make_ascii_uppercase();
    let s = std::str::from_utf8(&buf).ok()?;
    if citizen_id_is_valid(s) {
        Some(IdentifierKind::CitizenId)
    } else if usci_is_valid(s) {
        Some(IdentifierKind::Usci)
    } else {
        None
    }
}

/// The kind of the first valid citizen ID or unified social credit code found anywhere in `text`,
/// including inside longer runs of letters and digits.
///
/// Both kinds are pure ASCII, so only runs of ASCII letters and digits can hold one; every
/// 18-character window of such a run is tried.
pub fn find_identifiers(text: &str) -> Option<IdentifierKind> {
    text.as_bytes()
        .split(|b| !b.is_ascii_alphanumeric())
        .filter(|run| run.len() >= ID_LEN)
        .flat_map(|run| run.windows(ID_LEN))
        .find_map(classify)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worked by hand:
    /// body 12345678 → Σ 1·3+2·7+3·9+4·10+5·5+6·8+7·4+8·2 = 201, 201 mod 11 = 3, 11−3 = 8 → '8'.
    /// code 91330106123456788: values 9,1,3,3,0,1,0,6,1,2,3,4,5,6,7,8,8 against the weights give
    /// Σ = 9+3+27+81+0+26+0+102+20+58+75+52+40+144+70+240+224 = 1171, 1171 mod 31 = 24,
    /// 31−24 = 7 → '7'.
    const HAND_USCI: &str = "913301061234567887";

    /// Worked by hand: 33010619900307001 → Σ 21+27+0+5+0+24+2+9+54+0+0+27+0+35+0+0+2 = 206,
    /// 206 mod 11 = 8 → "10X98765432"[8] = '4'.
    const HAND_CITIZEN: &str = "330106199003070014";

    /// The example printed in GB 11643-1999.
    const STANDARD_CITIZEN: &str = "11010519491231002X";

    fn mutations(s: &str) -> Vec<String> {
        let alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let mut out = Vec::new();
        for i in 0..s.len() {
            for &c in alphabet {
                if c != s.as_bytes()[i] {
                    let mut b = s.as_bytes().to_vec();
                    b[i] = c;
                    out.push(String::from_utf8(b).unwrap());
                }
            }
        }
        out
    }

    #[test]
    fn hand_computed_usci() {
        assert_eq!(org_code_check_char("12345678"), Some('8'));
        assert_eq!(usci_check_char("91330106123456788"), Some('7'));
        assert!(usci_is_valid(HAND_USCI));
        assert_eq!(make_usci("330106", "12345678").unwrap(), HAND_USCI);
    }

    #[test]
    fn org_check_char_edge_values() {
        // Σ = 0 → 11 − 0 = 11 → '0'.
        assert_eq!(org_code_check_char("00000000"), Some('0'));
        // "00000001": Σ = 2 → 11 − 2 = 9.
        assert_eq!(org_code_check_char("00000001"), Some('9'));
        // "00000005": Σ = 10 → 1; "00000006": Σ = 12 → 12 mod 11 = 1 → 10 → 'X'.
        assert_eq!(org_code_check_char("00000005"), Some('1'));
        assert_eq!(org_code_check_char("00000006"), Some('X'));
        assert_eq!(org_code_check_char("0000000"), None);
        assert_eq!(org_code_check_char("0000000a"), None);
    }

    #[test]
    fn hand_computed_citizen_ids() {
        assert_eq!(citizen_id_check_char("33010619900307001"), Some('4'));
        assert!(citizen_id_is_valid(HAND_CITIZEN));
        assert!(citizen_id_is_valid(STANDARD_CITIZEN));
        let birth = NaiveDate::from_ymd_opt(1990, 3, 7).unwrap();
        assert_eq!(make_citizen_id("330106", birth, 1).unwrap(), HAND_CITIZEN);
        assert_eq!(citizen_id_birth_date(HAND_CITIZEN), Some(birth));
    }

    #[test]
    fn every_single_character_mutation_is_rejected() {
        let with_letters = make_usci("330106", "MA2CD0XX").unwrap();
        for valid in [HAND_USCI, with_letters.as_str()] {
            assert!(usci_is_valid(valid), "{valid}");
            for m in mutations(valid) {
                assert!(!usci_is_valid(&m), "{m} accepted as USCI");
            }
        }
        for valid in [HAND_CITIZEN, STANDARD_CITIZEN] {
            for m in mutations(valid) {
                assert!(!citizen_id_is_valid(&m), "{m} accepted as citizen ID");
            }
        }
    }

    #[test]
    fn rejects_malformed() {
        assert!(!usci_is_valid(""));
        assert!(!usci_is_valid(&HAND_USCI[..17]));
        assert!(!usci_is_valid(&format!("{HAND_USCI}0")));
        let with_letters = make_usci("330106", "MA2CD0XX").unwrap();
        assert!(!usci_is_valid(&with_letters.to_lowercase()));
        assert!(!usci_is_valid("91330106一二345678"));
        // 18 bytes, not 18 characters: must be rejected, not panic on a char boundary.
        assert!(!usci_is_valid("9133010612345678一"));
        assert!(!citizen_id_is_valid("1101051949123100一"));
        assert_eq!(looks_like_identifier("1101051949123100一"), None);
        // Impossible date 1990-02-30 with a correct check character.
        let first17 = "33010619900230001";
        let id = format!("{first17}{}", citizen_id_check_char(first17).unwrap());
        assert!(!citizen_id_is_valid(&id));
        assert!(!citizen_id_is_valid("11010519491231002x"));
        assert!(make_usci("33010", "12345678").is_err());
        assert!(make_usci("330106", "1234567I").is_err());
        assert!(make_usci_with('I', '1', "330106", "12345678").is_err());
        let birth = NaiveDate::from_ymd_opt(1990, 3, 7).unwrap();
        assert!(make_citizen_id("330106", birth, 1000).is_err());
        assert_eq!(
            make_citizen_id("913301", birth, 1),
            Err(IdError::Province("913301".into()))
        );
    }

    #[test]
    fn generators_round_trip() {
        // A small linear congruential walk stands in for many seeds without depending on rand.
        let mut x: u64 = 0x2026_1101;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> 33
        };
        for _ in 0..5000 {
            let province = PROVINCES[(next() % PROVINCES.len() as u64) as usize];
            let division = format!(
                "{}{:04}",
                std::str::from_utf8(&province[..]).unwrap(),
                next() % 10000
            );
            let body: String = (0..8)
                .map(|_| char::from(USCI_ALPHABET[(next() % 31) as usize]))
                .collect();
            let code = make_usci(&division, &body).unwrap();
            assert!(usci_is_valid(&code), "{code}");
            assert_eq!(looks_like_identifier(&code), Some(IdentifierKind::Usci));

            let days = (next() % 40000) as i64;
            let birth = NaiveDate::from_ymd_opt(1920, 1, 1).unwrap() + chrono::Duration::days(days);
            let seq = (next() % 1000) as u16;
            let id = make_citizen_id(&division, birth, seq).unwrap();
            assert!(citizen_id_is_valid(&id), "{id}");
            assert_eq!(citizen_id_birth_date(&id), Some(birth));
            assert_eq!(looks_like_identifier(&id), Some(IdentifierKind::CitizenId));
        }
    }

    #[test]
    fn looks_like_and_find() {
        assert_eq!(looks_like_identifier(HAND_USCI), Some(IdentifierKind::Usci));
        assert_eq!(
            looks_like_identifier(&format!(" {STANDARD_CITIZEN}\n")),
            Some(IdentifierKind::CitizenId)
        );
        assert_eq!(
            looks_like_identifier("11010519491231002x"),
            Some(IdentifierKind::CitizenId)
        );
        assert_eq!(looks_like_identifier("hello"), None);
        assert_eq!(looks_like_identifier("110105194912310021"), None);
        // All digits, valid as a USCI, and would pass the citizen ID checksum and date checks; the
        // province code tells them apart.
        let digits_only = "913301125412055948";
        assert!(usci_is_valid(digits_only));
        assert!(!citizen_id_is_valid(digits_only));
        assert_eq!(
            looks_like_identifier(digits_only),
            Some(IdentifierKind::Usci)
        );

        assert_eq!(
            find_identifiers(&format!("法人 {STANDARD_CITIZEN}，企业")),
            Some(IdentifierKind::CitizenId)
        );
        assert_eq!(
            find_identifiers(&format!("code=X{HAND_USCI}Y;")),
            Some(IdentifierKind::Usci)
        );
        let with_letters = make_usci("330106", "MA2CD0XX").unwrap();
        assert_eq!(
            find_identifiers(&format!("代码{}", with_letters.to_lowercase())),
            Some(IdentifierKind::Usci)
        );
        assert_eq!(find_identifiers("收入均值 12345.67，共 10 组"), None);
        assert_eq!(find_identifiers(""), None);
        // Split by a separator: no longer one identifier.
        assert_eq!(find_identifiers("110105194912-31002X"), None);
    }
}
