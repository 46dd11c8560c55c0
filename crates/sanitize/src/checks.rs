//! Pure checksum and structure checks used by the detectors.

use sha2::{Digest, Sha256};

/// Luhn check over the ASCII digits of `s` (other bytes ignored).
pub(crate) fn luhn(s: &str) -> bool {
    let mut sum = 0u32;
    let mut double = false;
    let mut n = 0;
    for b in s.bytes().rev().filter(u8::is_ascii_digit) {
        let mut d = u32::from(b - b'0');
        if double {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        double = !double;
        n += 1;
    }
    n > 0 && sum.is_multiple_of(10)
}

/// IBAN lengths by country (ISO 13616 registry); countries not listed are checked by mod-97 and
/// the general 15–34 length only.
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SC", 31),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
];

/// Whether `compact` (no spaces, upper case) is a valid IBAN: known-country length and mod 97 = 1.
pub(crate) fn iban(compact: &str) -> bool {
    let b = compact.as_bytes();
    if !(15..=34).contains(&b.len())
        || !b[..2].iter().all(u8::is_ascii_uppercase)
        || !b[2..4].iter().all(u8::is_ascii_digit)
        || !b[4..].iter().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    {
        return false;
    }
    if let Some((_, len)) = IBAN_LENGTHS.iter().find(|(cc, _)| cc.as_bytes() == &b[..2])
        && *len != b.len()
    {
        return false;
    }
    let mut rem = 0u32;
    for &c in b[4..].iter().chain(&b[..4]) {
        if c.is_ascii_digit() {
            rem = (rem * 10 + u32::from(c - b'0')) % 97;
        } else {
            let v = u32::from(c - b'A') + 10;
            rem = (rem * 100 + v) % 97;
        }
    }
    rem == 1
}

const BASE58: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Decodes base58check; returns the payload (version byte included, checksum removed).
pub(crate) fn base58check(s: &str) -> Option<Vec<u8>> {
    let mut bytes: Vec<u8> = Vec::with_capacity(s.len());
    for c in s.bytes() {
        let mut carry = BASE58.iter().position(|&a| a == c)? as u32;
        for b in bytes.iter_mut().rev() {
            carry += u32::from(*b) * 58;
            *b = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            bytes.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let zeros = s.bytes().take_while(|&c| c == b'1').count();
    let mut out = vec![0u8; zeros];
    out.extend_from_slice(&bytes);
    if out.len() < 5 {
        return None;
    }
    let (payload, check) = out.split_at(out.len() - 4);
    let digest = Sha256::digest(Sha256::digest(payload));
    (digest[..4] == *check).then(|| payload.to_vec())
}

/// Whether `s` is a bech32 or bech32m string with a valid checksum (one case only).
pub(crate) fn bech32(s: &str) -> bool {
    const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    const GEN: [u32; 5] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3];
    if s.len() > 90 || (s.bytes().any(|c| c.is_ascii_lowercase()) && s.bytes().any(|c| c.is_ascii_uppercase())) {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    let Some(sep) = lower.rfind('1') else {
        return false;
    };
    let (hrp, data) = (&lower[..sep], &lower[sep + 1..]);
    if hrp.is_empty() || data.len() < 6 {
        return false;
    }
    let mut values: Vec<u8> = hrp.bytes().map(|c| c >> 5).collect();
    values.push(0);
    values.extend(hrp.bytes().map(|c| c & 31));
    for c in data.bytes() {
        match CHARSET.iter().position(|&a| a == c) {
            Some(v) => values.push(v as u8),
            None => return false,
        }
    }
    let mut chk: u32 = 1;
    for v in values {
        let top = chk >> 25;
        chk = ((chk & 0x1ff_ffff) << 5) ^ u32::from(v);
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk == 1 || chk == 0x2bc8_30a3
}

/// German tax ID (Steuer-ID): 11 digits, no leading zero, one digit repeated two or three times
/// in the first ten, and the ISO 7064 MOD 11,10 check digit.
pub(crate) fn steuer_id(digits: &[u8]) -> bool {
    if digits.len() != 11 || digits[0] == 0 {
        return false;
    }
    let mut counts = [0u8; 10];
    for &d in &digits[..10] {
        counts[usize::from(d)] += 1;
    }
    let distinct = counts.iter().filter(|&&c| c > 0).count();
    if !(8..=9).contains(&distinct) || counts.iter().any(|&c| c > 3) {
        return false;
    }
    let mut product = 10u32;
    for &d in &digits[..10] {
        let mut sum = (u32::from(d) + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (sum * 2) % 11;
    }
    let check = match 11 - product {
        10 => 0,
        c => c,
    };
    check == u32::from(digits[10])
}

/// US SSN rules: area not 000, 666 or 9xx; group not 00; serial not 0000.
pub(crate) fn ssn(area: &str, group: &str, serial: &str) -> bool {
    area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
}

/// UK National Insurance number prefix rules (letters only; the regex fixed the shape).
pub(crate) fn nino_prefix(a: u8, b: u8) -> bool {
    let first_ok = !b"DFIQUV".contains(&a);
    let second_ok = !b"DFIOQUV".contains(&b);
    let pair = [a, b];
    let banned = [b"BG", b"GB", b"KN", b"NK", b"NT", b"TN", b"ZZ"];
    first_ok && second_ok && !banned.iter().any(|p| **p == pair)
}

/// Dutch BSN (burgerservicenummer): 9 digits passing the 11-test
/// (9·d1 + 8·d2 + … + 2·d8 − d9 ≡ 0 mod 11), not all zeros.
pub(crate) fn bsn(digits: &[u8]) -> bool {
    if digits.len() != 9 || digits.iter().all(|&d| d == 0) {
        return false;
    }
    let sum: i32 =
        digits[..8].iter().zip((2..=9).rev()).map(|(&d, w)| i32::from(d) * w).sum::<i32>() - i32::from(digits[8]);
    sum.rem_euclid(11) == 0
}

/// French NIR (INSEE number): 13 characters (digits, or `2A`/`2B` for Corsica in the department)
/// and a two-digit key equal to 97 − (number mod 97).
pub(crate) fn insee(compact: &str) -> bool {
    let b = compact.as_bytes();
    if b.len() != 15 || !matches!(b[0], b'1' | b'2' | b'3' | b'4' | b'7' | b'8') {
        return false;
    }
    let mut body = compact[..13].to_owned();
    // Corsica: 2A counts as 19, 2B as 18 (in the number, not in the text).
    let corsica = match &body[5..7] {
        "2A" => Some(1_000_000),
        "2B" => Some(2_000_000),
        _ => None,
    };
    if corsica.is_some() {
        body.replace_range(5..7, "20");
    }
    let (Ok(mut n), Ok(key)) = (body.parse::<u64>(), compact[13..].parse::<u64>()) else {
        return false;
    };
    if let Some(sub) = corsica {
        n -= sub;
    }
    (1..=97).contains(&key) && 97 - n % 97 == key
}

/// Italian codice fiscale: 16 upper-case characters whose last is the check letter (odd and even
/// positions weighted by the official tables; digits may be replaced by letters, "omocodia").
pub(crate) fn codice_fiscale(code: &[u8]) -> bool {
    const ODD: [u32; 26] =
        [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23];
    if code.len() != 16 || !code.iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) {
        return false;
    }
    let mut sum = 0u32;
    for (i, &c) in code[..15].iter().enumerate() {
        let v = if c.is_ascii_digit() { u32::from(c - b'0') } else { u32::from(c - b'A') };
        sum += if i % 2 == 0 { ODD[v as usize] } else { v };
    }
    u32::from(code[15] - b'A') == sum % 26
}

const DNI_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

/// Spanish DNI (8 digits and a letter) or NIE (`X`/`Y`/`Z`, 7 digits and a letter): the letter
/// is the number mod 23 (the NIE's first letter counts as 0, 1, 2).
pub(crate) fn dni(compact: &str) -> bool {
    let b = compact.as_bytes();
    if b.len() != 9 || !b[8].is_ascii_uppercase() {
        return false;
    }
    let lead = match b[0] {
        b'X' => b'0',
        b'Y' => b'1',
        b'Z' => b'2',
        d if d.is_ascii_digit() => d,
        _ => return false,
    };
    if !b[1..8].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut n = u32::from(lead - b'0');
    for &d in &b[1..8] {
        n = n * 10 + u32::from(d - b'0');
    }
    DNI_LETTERS[(n % 23) as usize] == b[8]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_known_values() {
        assert!(luhn("4111 1111 1111 1111"));
        assert!(luhn("378282246310005"));
        assert!(!luhn("4111 1111 1111 1112"));
    }

    #[test]
    fn iban_known_values() {
        assert!(iban("DE89370400440532013000"));
        assert!(iban("GB82WEST12345698765432"));
        assert!(iban("FR1420041010050500013M02606"));
        assert!(!iban("DE89370400440532013001"));
        assert!(!iban("DE8937040044053201300"), "wrong length for DE");
    }

    #[test]
    fn bitcoin_known_values() {
        let p = base58check("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa");
        assert_eq!(p.map(|p| (p.len(), p[0])), Some((21, 0)));
        assert!(base58check("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb").is_none());
        assert!(bech32("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"));
        assert!(bech32("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4"));
        assert!(!bech32("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5"));
        assert!(bech32("bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297"));
    }

    #[test]
    fn steuer_id_example() {
        let d: Vec<u8> = "86095742719".bytes().map(|b| b - b'0').collect();
        assert!(steuer_id(&d));
        let bad: Vec<u8> = "86095742718".bytes().map(|b| b - b'0').collect();
        assert!(!steuer_id(&bad));
    }

    #[test]
    fn national_ids_known_values() {
        let d = |s: &str| -> Vec<u8> { s.bytes().map(|b| b - b'0').collect() };
        assert!(bsn(&d("111222333")));
        assert!(bsn(&d("123456782")));
        assert!(!bsn(&d("123456789")));
        assert!(insee("255081416802538"));
        assert!(!insee("255081416802539"));
        assert!(codice_fiscale(b"RSSMRA85T10A562S"));
        assert!(!codice_fiscale(b"RSSMRA85T10A562T"));
        assert!(dni("12345678Z"));
        assert!(!dni("12345678A"));
        assert!(dni("X1234567L"));
    }
}
