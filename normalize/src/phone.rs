//! Phone numbers to E.164 (`+` country calling code + national significant number, at most 15 digits).
//!
//! Input may contain spaces, dashes, dots, slashes and parentheses (full-width forms typed with CJK
//! input methods are accepted too). A number is international when it starts with `+` or with an
//! international call prefix of the default region (`00` everywhere, plus regional prefixes such as
//! `011` in NANP regions, `010` in Japan, `0011` in Australia, `810` in Russia); otherwise it is a
//! national number of the default region, whose trunk prefix (`0` in most countries, `1` in NANP,
//! `8` in Russia) is removed. The national significant number must have a plausible length for its
//! country calling code.
//!
//! ```
//! use crm_normalize::phone::{to_e164, PhoneError};
//!
//! assert_eq!(to_e164("030 123456", "DE").as_deref(), Ok("+4930123456"));
//! assert_eq!(to_e164("0086 13800138000", "DE").as_deref(), Ok("+8613800138000"));
//! assert_eq!(to_e164("+44 (0)20 7946 0958", "US").as_deref(), Ok("+442079460958"));
//! assert_eq!(to_e164("call me", "CN"), Err(PhoneError::InvalidCharacters));
//! ```

use std::fmt;

/// Why a phone number could not be normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneError {
    /// The input contains no digits at all (empty or only separators).
    Empty,
    /// The input contains something other than digits, separators and one leading `+`
    /// (letters, extensions such as `ext. 12` / `x12`, `*`, `#`, ...).
    InvalidCharacters,
    /// The default region is not a supported ISO 3166 alpha-2 code (the offending value).
    UnknownRegion(String),
    /// The national number has fewer digits than its country allows.
    TooShort,
    /// The national number has more digits than its country allows, or E.164's 15 digits are exceeded.
    TooLong,
    /// The international number does not start with an assigned country calling code.
    UnknownCountryCode,
}

impl PhoneError {
    /// Stable machine-readable code: `"UNKNOWN_REGION"` for a bad default region (a
    /// configuration problem), `"INVALID_PHONE"` for every problem with the number itself.
    pub fn code(&self) -> &'static str {
        match self {
            PhoneError::UnknownRegion(_) => "UNKNOWN_REGION",
            PhoneError::Empty
            | PhoneError::InvalidCharacters
            | PhoneError::TooShort
            | PhoneError::TooLong
            | PhoneError::UnknownCountryCode => "INVALID_PHONE",
        }
    }
}

impl fmt::Display for PhoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PhoneError::Empty => f.write_str("phone number is empty"),
            PhoneError::InvalidCharacters => f.write_str(
                "phone number contains invalid characters (only digits, spaces, '-', '.', '/', \
                 parentheses and a leading '+' are allowed)",
            ),
            PhoneError::UnknownRegion(region) => write!(
                f,
                "unknown region {region:?} (expected an ISO 3166 alpha-2 code such as CN, US or DE)"
            ),
            PhoneError::TooShort => {
                f.write_str("phone number is too short for its country calling code")
            }
            PhoneError::TooLong => {
                f.write_str("phone number is too long for its country calling code")
            }
            PhoneError::UnknownCountryCode => {
                f.write_str("phone number starts with an unknown country calling code")
            }
        }
    }
}

impl std::error::Error for PhoneError {}

/// Numbering facts of one region.
struct Region {
    /// ISO 3166 alpha-2 code, upper case.
    alpha2: &'static str,
    /// Country calling code.
    calling_code: u16,
    /// National trunk prefixes (tried in order). A prefix starting with `0` is always removed
    /// (national significant numbers of these countries never start with 0); any other prefix
    /// (`1` in NANP, `8` in Russia) only when that turns an implausible length into a plausible one.
    trunk: &'static [&'static str],
    /// International call prefixes besides the universal `00`, most specific first.
    intl: &'static [&'static str],
    /// Plausible lengths of the national significant number (fixed line, mobile, toll-free).
    min: u8,
    /// See `min`.
    max: u8,
}

const fn region(
    alpha2: &'static str,
    calling_code: u16,
    trunk: &'static [&'static str],
    intl: &'static [&'static str],
    min: u8,
    max: u8,
) -> Region {
    Region {
        alpha2,
        calling_code,
        trunk,
        intl,
        min,
        max,
    }
}

const T0: &[&str] = &["0"];
const NO_TRUNK: &[&str] = &[];
const NO_INTL: &[&str] = &[];
const NANP_INTL: &[&str] = &["011"];
const SOVIET_INTL: &[&str] = &["810"];

/// Supported regions. The first region listed for a calling code (US for +1, RU for +7) supplies
/// the length range and trunk prefix used for international numbers with that code.
static REGIONS: &[Region] = &[
    // East and South-East Asia
    region("CN", 86, T0, NO_INTL, 9, 11),
    region("HK", 852, NO_TRUNK, &["001", "0080", "009"], 8, 9),
    region("MO", 853, NO_TRUNK, NO_INTL, 8, 8),
    region("TW", 886, T0, &["002", "005", "006", "007", "009"], 8, 9),
    region("JP", 81, T0, &["010"], 9, 10),
    region(
        "KR",
        82,
        T0,
        &["00700", "001", "002", "005", "006", "008"],
        8,
        10,
    ),
    region("SG", 65, NO_TRUNK, &["000", "001", "002", "008"], 8, 11),
    region("ID", 62, T0, &["001", "007", "008", "009"], 7, 12),
    region("TH", 66, T0, &["001", "007", "008", "009"], 8, 10),
    region("VN", 84, T0, NO_INTL, 8, 10),
    region("MY", 60, T0, NO_INTL, 8, 10),
    region("PH", 63, T0, NO_INTL, 8, 10),
    // South Asia
    region("IN", 91, T0, NO_INTL, 10, 11),
    region("PK", 92, T0, NO_INTL, 9, 10),
    region("BD", 880, T0, NO_INTL, 8, 10),
    region("LK", 94, T0, NO_INTL, 9, 9),
    // Oceania
    region("AU", 61, T0, &["0011"], 9, 10),
    region("NZ", 64, T0, NO_INTL, 8, 10),
    // Americas
    region("US", 1, &["1"], NANP_INTL, 10, 10),
    region("CA", 1, &["1"], NANP_INTL, 10, 10),
    // Old national prefixes 01/044/045 and the old mobile marker 1 (+52 1 ...) are dropped.
    region("MX", 52, &["01", "044", "045", "1"], NO_INTL, 10, 10),
    region(
        "BR",
        55,
        T0,
        &[
            "0012", "0014", "0015", "0021", "0023", "0031", "0041", "0043",
        ],
        10,
        11,
    ),
    region("AR", 54, T0, NO_INTL, 10, 11),
    region("CL", 56, NO_TRUNK, NO_INTL, 9, 9),
    region("CO", 57, NO_TRUNK, &["005", "007", "009"], 10, 10),
    region("PE", 51, T0, NO_INTL, 8, 9),
    // Europe
    region("GB", 44, T0, NO_INTL, 7, 10),
    region("IE", 353, T0, NO_INTL, 7, 10),
    region("DE", 49, T0, NO_INTL, 5, 13),
    region("FR", 33, T0, NO_INTL, 9, 9),
    region("ES", 34, NO_TRUNK, NO_INTL, 9, 9),
    region("IT", 39, NO_TRUNK, NO_INTL, 6, 11),
    region("NL", 31, T0, NO_INTL, 7, 10),
    region("BE", 32, T0, NO_INTL, 8, 9),
    region("CH", 41, T0, NO_INTL, 9, 9),
    region("AT", 43, T0, NO_INTL, 4, 13),
    region("SE", 46, T0, NO_INTL, 6, 10),
    region("NO", 47, NO_TRUNK, NO_INTL, 8, 8),
    region("DK", 45, NO_TRUNK, NO_INTL, 8, 8),
    region("FI", 358, T0, NO_INTL, 5, 12),
    region("PL", 48, NO_TRUNK, NO_INTL, 9, 9),
    region("PT", 351, NO_TRUNK, NO_INTL, 9, 9),
    region("GR", 30, NO_TRUNK, NO_INTL, 10, 10),
    region("CZ", 420, NO_TRUNK, NO_INTL, 9, 9),
    region("SK", 421, T0, NO_INTL, 9, 9),
    region("HU", 36, &["06"], NO_INTL, 8, 9),
    region("RO", 40, T0, NO_INTL, 9, 9),
    region("UA", 380, T0, NO_INTL, 9, 9),
    region("RU", 7, &["8"], SOVIET_INTL, 10, 10),
    region("KZ", 7, &["8"], SOVIET_INTL, 10, 10),
    region("TR", 90, T0, NO_INTL, 10, 10),
    // Middle East and Africa
    region("AE", 971, T0, NO_INTL, 7, 9),
    region("SA", 966, T0, NO_INTL, 9, 10),
    region("QA", 974, NO_TRUNK, NO_INTL, 7, 8),
    region("KW", 965, NO_TRUNK, NO_INTL, 8, 8),
    region("IL", 972, T0, &["012", "013", "014", "018"], 8, 10),
    region("EG", 20, T0, NO_INTL, 8, 10),
    region("MA", 212, T0, NO_INTL, 9, 9),
    region("ZA", 27, T0, NO_INTL, 9, 9),
    region("NG", 234, T0, &["009"], 7, 10),
    region("KE", 254, T0, &["000"], 9, 9),
];

/// Every assigned country calling code (ITU-T E.164 list; the set is prefix-free).
static CALLING_CODES: &[u16] = &[
    1, 7, //
    20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54, 55, 56,
    57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98, //
    211, 212, 213, 216, 218, 220, 221, 222, 223, 224, 225, 226, 227, 228, 229, 230, 231, 232, 233,
    234, 235, 236, 237, 238, 239, 240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252,
    253, 254, 255, 256, 257, 258, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269, 290, 291, 297,
    298, 299, //
    350, 351, 352, 353, 354, 355, 356, 357, 358, 359, 370, 371, 372, 373, 374, 375, 376, 377, 378,
    379, 380, 381, 382, 383, 385, 386, 387, 389, 420, 421, 423, //
    500, 501, 502, 503, 504, 505, 506, 507, 508, 509, 590, 591, 592, 593, 594, 595, 596, 597, 598,
    599, //
    670, 672, 673, 674, 675, 676, 677, 678, 679, 680, 681, 682, 683, 685, 686, 687, 688, 689, 690,
    691, 692, //
    800, 808, 850, 852, 853, 855, 856, 870, 878, 880, 881, 882, 883, 886, 888, //
    960, 961, 962, 963, 964, 965, 966, 967, 968, 970, 971, 972, 973, 974, 975, 976, 977, 979, 992,
    993, 994, 995, 996, 998,
];

/// National significant number lengths for calling codes without a region entry.
const GENERIC_MIN: usize = 4;
const GENERIC_MAX: usize = 14;
/// E.164: at most 15 digits, country calling code included.
const E164_MAX_DIGITS: usize = 15;
/// Digits kept while scanning: E.164's 15 plus the longest international prefix (5) and slack.
const MAX_SCANNED_DIGITS: usize = 24;

/// Normalise a phone number to E.164 (`"+8613800138000"`).
///
/// Accepts spaces, dashes, dots, slashes and parentheses as separators. A leading `+` or an
/// international prefix of `default_region` (`00`, or e.g. `011` in NANP regions) means the number
/// already carries its country calling code; otherwise `default_region` (ISO 3166 alpha-2,
/// case-insensitive, e.g. `"CN"`, `"us"`, `"DE"`, `"GB"`) gives the country code and its national
/// trunk prefix is removed (`0` in DE/GB/FR/CN..., `1` in NANP). A national number that already
/// starts with the region's calling code but is too long without it (`"8613800138000"` for CN) is
/// read as international. The national significant number must have a plausible length for its
/// country (per-country ranges for the supported regions, 4..=14 digits otherwise) and the result at
/// most 15 digits. The region is only consulted when the number is not written with a `+`.
///
/// # Errors
///
/// [`PhoneError::Empty`] without digits, [`PhoneError::InvalidCharacters`] for letters, extensions
/// or a misplaced `+`, [`PhoneError::UnknownRegion`] when the default region is needed but
/// unsupported, [`PhoneError::UnknownCountryCode`], [`PhoneError::TooShort`], [`PhoneError::TooLong`].
///
/// ```
/// use crm_normalize::phone::{to_e164, PhoneError};
///
/// assert_eq!(to_e164("+86 138-0013-8000", "US").as_deref(), Ok("+8613800138000"));
/// assert_eq!(to_e164("1-415-555-2671", "us").as_deref(), Ok("+14155552671"));
/// assert_eq!(to_e164("020 7946 0958", "GB").as_deref(), Ok("+442079460958"));
/// assert_eq!(
///     to_e164("138 0013 8000", "XX"),
///     Err(PhoneError::UnknownRegion("XX".into()))
/// );
/// ```
pub fn to_e164(input: &str, default_region: &str) -> Result<String, PhoneError> {
    let scanned = scan(input)?;
    let digits = scanned.digits();
    if scanned.plus {
        return international(digits);
    }
    let region = find_region(default_region)
        .ok_or_else(|| PhoneError::UnknownRegion(default_region.trim().to_owned()))?;

    // International call prefixes: the universal "00" first (by far the most common in written
    // numbers), then the regional ones. When several match ("00" and "001" in Singapore), the first
    // that yields a plausible number wins; when none does, the longest matching prefix explains why.
    let mut best_error: Option<(usize, PhoneError)> = None;
    for prefix in std::iter::once(&"00").chain(region.intl) {
        if let Some(rest) = digits.strip_prefix(prefix.as_bytes()) {
            match international(rest) {
                Ok(number) => return Ok(number),
                Err(error) => {
                    if best_error
                        .as_ref()
                        .is_none_or(|(len, _)| prefix.len() > *len)
                    {
                        best_error = Some((prefix.len(), error));
                    }
                }
            }
        }
    }
    match best_error {
        Some((_, error)) => Err(error),
        None => national(region, digits),
    }
}

/// The country calling code of a region (ISO 3166 alpha-2, case-insensitive; `"UK"` is accepted
/// for `"GB"`), or `None` for an unsupported region.
///
/// ```
/// use crm_normalize::phone::calling_code;
///
/// assert_eq!(calling_code("CN"), Some(86));
/// assert_eq!(calling_code("ca"), Some(1));
/// assert_eq!(calling_code("XX"), None);
/// ```
pub fn calling_code(region: &str) -> Option<u16> {
    find_region(region).map(|r| r.calling_code)
}

/// The ISO 3166 alpha-2 codes accepted as `default_region`, in table order.
///
/// ```
/// assert!(crm_normalize::phone::supported_regions().any(|r| r == "DE"));
/// ```
pub fn supported_regions() -> impl Iterator<Item = &'static str> {
    REGIONS.iter().map(|r| r.alpha2)
}

/// Digits of the input and whether it started with `+`.
struct Scanned {
    buf: [u8; MAX_SCANNED_DIGITS],
    len: usize,
    plus: bool,
}

impl Scanned {
    fn digits(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

fn scan(input: &str) -> Result<Scanned, PhoneError> {
    let mut scanned = Scanned {
        buf: [0; MAX_SCANNED_DIGITS],
        len: 0,
        plus: false,
    };
    let mut total_digits = 0usize;
    for c in input.chars() {
        let c = crate::fold_width(c);
        match c {
            '0'..='9' => {
                if total_digits < MAX_SCANNED_DIGITS {
                    scanned.buf[total_digits] = c as u8;
                }
                total_digits += 1;
            }
            '+' if total_digits == 0 && !scanned.plus => scanned.plus = true,
            '-' | '.' | '/' | '(' | ')' => {}
            // Hyphen, non-breaking hyphen, figure dash, en/em dash, horizontal bar, minus sign.
            '\u{2010}'..='\u{2015}' | '\u{2212}' => {}
            c if c.is_whitespace() => {}
            _ => return Err(PhoneError::InvalidCharacters),
        }
    }
    if total_digits == 0 {
        return Err(PhoneError::Empty);
    }
    if total_digits > MAX_SCANNED_DIGITS {
        return Err(PhoneError::TooLong);
    }
    scanned.len = total_digits;
    Ok(scanned)
}

fn find_region(region: &str) -> Option<&'static Region> {
    let region = region.trim();
    let region = if region.eq_ignore_ascii_case("UK") {
        "GB"
    } else {
        region
    };
    REGIONS
        .iter()
        .find(|r| r.alpha2.eq_ignore_ascii_case(region))
}

/// The region whose numbering facts apply to a calling code (first table entry with that code).
fn region_for_code(calling_code: u16) -> Option<&'static Region> {
    REGIONS.iter().find(|r| r.calling_code == calling_code)
}

/// Digits after the `+` (or after an international prefix): calling code + national number.
fn international(digits: &[u8]) -> Result<String, PhoneError> {
    let Some((calling_code, code_len)) = split_calling_code(digits) else {
        return Err(if digits.len() < 3 {
            PhoneError::TooShort
        } else {
            PhoneError::UnknownCountryCode
        });
    };
    let rest = &digits[code_len..];
    let nsn = match region_for_code(calling_code) {
        // A trunk prefix written after the country code ("+44 (0)20 ...") is dropped.
        Some(region) => strip_trunk(region, rest),
        None => rest,
    };
    finish(calling_code, code_len, nsn)
}

/// A national number of `region`.
fn national(region: &Region, digits: &[u8]) -> Result<String, PhoneError> {
    let code_len = decimal_len(region.calling_code);
    let nsn = strip_trunk(region, digits);
    match finish(region.calling_code, code_len, nsn) {
        Err(PhoneError::TooLong) if starts_with_code(digits, region.calling_code) => {
            // "8613800138000" with region CN: the country code was written without '+'.
            international(digits).map_err(|_| PhoneError::TooLong)
        }
        result => result,
    }
}

fn strip_trunk<'a>(region: &Region, nsn: &'a [u8]) -> &'a [u8] {
    let plausible = |len: usize| (usize::from(region.min)..=usize::from(region.max)).contains(&len);
    for prefix in region.trunk {
        if let Some(rest) = nsn.strip_prefix(prefix.as_bytes())
            && (prefix.starts_with('0') || (!plausible(nsn.len()) && plausible(rest.len())))
        {
            return rest;
        }
    }
    nsn
}

/// Validates the national significant number and formats the E.164 string.
fn finish(calling_code: u16, code_len: usize, nsn: &[u8]) -> Result<String, PhoneError> {
    let (min, max) = match region_for_code(calling_code) {
        Some(region) => (usize::from(region.min), usize::from(region.max)),
        None => (GENERIC_MIN, GENERIC_MAX),
    };
    let max = max.min(E164_MAX_DIGITS - code_len);
    if nsn.len() < min {
        return Err(PhoneError::TooShort);
    }
    if nsn.len() > max {
        return Err(PhoneError::TooLong);
    }
    if calling_code == 86 {
        check_cn(nsn)?;
    }
    let mut out = String::with_capacity(1 + code_len + nsn.len());
    out.push('+');
    out.push_str(&calling_code.to_string());
    out.extend(nsn.iter().map(|&d| char::from(d)));
    Ok(out)
}

/// Chinese mobile numbers (13x..19x) always have exactly 11 digits.
fn check_cn(nsn: &[u8]) -> Result<(), PhoneError> {
    if let [b'1', b'3'..=b'9', ..] = nsn {
        return match nsn.len() {
            ..11 => Err(PhoneError::TooShort),
            11 => Ok(()),
            _ => Err(PhoneError::TooLong),
        };
    }
    Ok(())
}

/// Splits an assigned calling code (1 to 3 digits) off the front of `digits`.
fn split_calling_code(digits: &[u8]) -> Option<(u16, usize)> {
    if digits.first() == Some(&b'0') {
        return None;
    }
    let mut code = 0u16;
    for (i, &d) in digits.iter().take(3).enumerate() {
        code = code * 10 + u16::from(d - b'0');
        if CALLING_CODES.contains(&code) {
            return Some((code, i + 1));
        }
    }
    None
}

fn decimal_len(n: u16) -> usize {
    match n {
        0..=9 => 1,
        10..=99 => 2,
        100..=999 => 3,
        1000..=9999 => 4,
        _ => 5,
    }
}

fn starts_with_code(digits: &[u8], calling_code: u16) -> bool {
    split_calling_code(digits).is_some_and(|(code, _)| code == calling_code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(input: &str, region: &str) -> String {
        match to_e164(input, region) {
            Ok(s) => s,
            Err(e) => panic!("{input:?} / {region}: unexpected error {e:?}"),
        }
    }

    // --- the brief's required cases -------------------------------------------------------

    #[test]
    fn required_cases() {
        assert_eq!(ok("138 0013 8000", "CN"), "+8613800138000");
        assert_eq!(ok("+86 138-0013-8000", "US"), "+8613800138000");
        assert_eq!(ok("0086 13800138000", "DE"), "+8613800138000");
        assert_eq!(ok("(415) 555-2671", "US"), "+14155552671");
        assert_eq!(ok("1-415-555-2671", "us"), "+14155552671");
        assert_eq!(ok("030 123456", "DE"), "+4930123456");
        assert_eq!(ok("020 7946 0958", "GB"), "+442079460958");
        assert_eq!(to_e164("12", "CN"), Err(PhoneError::TooShort));
        assert_eq!(to_e164("abc", "CN"), Err(PhoneError::InvalidCharacters));
        assert_eq!(
            to_e164("138 0013 8000", "XX"),
            Err(PhoneError::UnknownRegion("XX".to_owned()))
        );
    }

    // --- characters -------------------------------------------------------------------------

    #[test]
    fn empty_input() {
        assert_eq!(to_e164("", "CN"), Err(PhoneError::Empty));
        assert_eq!(to_e164("   ", "CN"), Err(PhoneError::Empty));
        assert_eq!(to_e164(" ( ) - . ", "CN"), Err(PhoneError::Empty));
        assert_eq!(to_e164("+", "CN"), Err(PhoneError::Empty));
    }

    #[test]
    fn separators_are_ignored() {
        assert_eq!(ok("415.555.2671", "US"), "+14155552671");
        assert_eq!(ok("415/555 2671", "US"), "+14155552671");
        assert_eq!(ok("  +1 (415) 555-2671  ", "DE"), "+14155552671");
        assert_eq!(ok("138\u{2013}0013\u{2014}8000", "CN"), "+8613800138000");
        assert_eq!(ok("138\u{00A0}0013\t8000", "CN"), "+8613800138000");
        assert_eq!(ok("(+86) 138 0013 8000", "US"), "+8613800138000");
    }

    #[test]
    fn full_width_input_is_accepted() {
        assert_eq!(
            ok("＋８６ １３８－００１３－８０００", "US"),
            "+8613800138000"
        );
        assert_eq!(
            ok("１３８\u{3000}００１３\u{3000}８０００", "CN"),
            "+8613800138000"
        );
        assert_eq!(ok("（０１０）１２３４５６７８", "CN"), "+861012345678");
    }

    #[test]
    fn invalid_characters() {
        for input in [
            "abc",
            "138 0013 8000 ext. 12",
            "415-555-2671 x123",
            "+1 415 555 2671#",
            "*21#",
            "1-800-FLOWERS",
            "138_0013_8000",
            "tel:+14155552671",
        ] {
            assert_eq!(
                to_e164(input, "US"),
                Err(PhoneError::InvalidCharacters),
                "{input}"
            );
        }
    }

    #[test]
    fn plus_only_at_the_start() {
        assert_eq!(
            to_e164("86+13800138000", "CN"),
            Err(PhoneError::InvalidCharacters)
        );
        assert_eq!(
            to_e164("++8613800138000", "CN"),
            Err(PhoneError::InvalidCharacters)
        );
        assert_eq!(
            to_e164("+86 138 +0013 8000", "CN"),
            Err(PhoneError::InvalidCharacters)
        );
    }

    // --- regions ----------------------------------------------------------------------------

    #[test]
    fn region_is_case_insensitive_and_trimmed() {
        assert_eq!(ok("138 0013 8000", "cn"), "+8613800138000");
        assert_eq!(ok("138 0013 8000", " Cn "), "+8613800138000");
        assert_eq!(ok("020 7946 0958", "uk"), "+442079460958");
    }

    #[test]
    fn unknown_region_only_matters_for_national_numbers() {
        assert_eq!(
            to_e164("138 0013 8000", ""),
            Err(PhoneError::UnknownRegion(String::new()))
        );
        assert_eq!(
            to_e164("138 0013 8000", "CHN"),
            Err(PhoneError::UnknownRegion("CHN".to_owned()))
        );
        assert_eq!(
            to_e164("0086 138 0013 8000", "ZZ"),
            Err(PhoneError::UnknownRegion("ZZ".to_owned()))
        );
        assert_eq!(ok("+86 138 0013 8000", ""), "+8613800138000");
        assert_eq!(ok("+86 138 0013 8000", "XX"), "+8613800138000");
    }

    #[test]
    fn calling_codes_of_required_regions() {
        let expected = [
            ("CN", 86),
            ("HK", 852),
            ("TW", 886),
            ("JP", 81),
            ("KR", 82),
            ("SG", 65),
            ("IN", 91),
            ("ID", 62),
            ("TH", 66),
            ("VN", 84),
            ("MY", 60),
            ("PH", 63),
            ("AU", 61),
            ("NZ", 64),
            ("US", 1),
            ("CA", 1),
            ("MX", 52),
            ("BR", 55),
            ("AR", 54),
            ("GB", 44),
            ("IE", 353),
            ("DE", 49),
            ("FR", 33),
            ("ES", 34),
            ("IT", 39),
            ("NL", 31),
            ("BE", 32),
            ("CH", 41),
            ("AT", 43),
            ("SE", 46),
            ("NO", 47),
            ("DK", 45),
            ("FI", 358),
            ("PL", 48),
            ("PT", 351),
            ("RU", 7),
            ("TR", 90),
            ("AE", 971),
            ("SA", 966),
            ("ZA", 27),
            ("NG", 234),
            ("EG", 20),
            ("IL", 972),
        ];
        for (region, code) in expected {
            assert_eq!(calling_code(region), Some(code), "{region}");
            assert_eq!(
                calling_code(&region.to_ascii_lowercase()),
                Some(code),
                "{region}"
            );
        }
        assert_eq!(calling_code("XX"), None);
        assert_eq!(calling_code(""), None);
        assert_eq!(calling_code("C"), None);
        assert_eq!(calling_code("UK"), Some(44));
    }

    #[test]
    fn region_table_is_consistent() {
        for (i, r) in REGIONS.iter().enumerate() {
            assert_eq!(r.alpha2.len(), 2, "{}", r.alpha2);
            assert!(r.alpha2.bytes().all(|b| b.is_ascii_uppercase()));
            assert!(
                REGIONS[..i].iter().all(|other| other.alpha2 != r.alpha2),
                "duplicate {}",
                r.alpha2
            );
            assert!(
                CALLING_CODES.contains(&r.calling_code),
                "{} has unassigned code",
                r.alpha2
            );
            assert!(r.min >= 4 && r.min <= r.max, "{}", r.alpha2);
            assert!(
                decimal_len(r.calling_code) + usize::from(r.max) <= E164_MAX_DIGITS,
                "{} exceeds E.164",
                r.alpha2
            );
            for p in r.trunk.iter().chain(r.intl) {
                assert!(!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            }
        }
        assert_eq!(supported_regions().count(), REGIONS.len());
    }

    #[test]
    fn calling_code_list_is_prefix_free_and_sorted() {
        for w in CALLING_CODES.windows(2) {
            assert!(w[0] < w[1], "{} {}", w[0], w[1]);
        }
        for &a in CALLING_CODES {
            for &b in CALLING_CODES {
                if a != b {
                    let (a, b) = (a.to_string(), b.to_string());
                    assert!(!b.starts_with(&a), "{a} is a prefix of {b}");
                }
            }
        }
    }

    // --- national numbers -------------------------------------------------------------------

    #[test]
    fn trunk_prefix_zero_is_stripped() {
        assert_eq!(ok("010 1234 5678", "CN"), "+861012345678");
        assert_eq!(ok("0755-8765 4321", "CN"), "+8675587654321");
        assert_eq!(ok("01 23 45 67 89", "FR"), "+33123456789");
        assert_eq!(ok("06 12 34 56 78", "fr"), "+33612345678");
        assert_eq!(ok("0151 23456789", "DE"), "+4915123456789");
        assert_eq!(ok("07911 123456", "GB"), "+447911123456");
        assert_eq!(ok("03-1234-5678", "JP"), "+81312345678");
        assert_eq!(ok("090-1234-5678", "JP"), "+819012345678");
        assert_eq!(ok("010-1234-5678", "KR"), "+821012345678");
        assert_eq!(ok("02 9876 5432", "AU"), "+61298765432");
        assert_eq!(ok("0412 345 678", "AU"), "+61412345678");
        assert_eq!(ok("098765 43210", "IN"), "+919876543210");
        assert_eq!(ok("0912 345 678", "TW"), "+886912345678");
        assert_eq!(ok("0532 123 45 67", "TR"), "+905321234567");
        assert_eq!(ok("050-123-4567", "IL"), "+972501234567");
        assert_eq!(ok("012 345 6789", "ZA"), "+27123456789");
        assert_eq!(ok("0803 123 4567", "NG"), "+2348031234567");
        assert_eq!(ok("010 1234 5678", "EG"), "+201012345678");
        assert_eq!(ok("050 123 4567", "AE"), "+971501234567");
        assert_eq!(ok("020 123 4567", "NL"), "+31201234567");
        assert_eq!(ok("044 668 18 00", "CH"), "+41446681800");
        assert_eq!(ok("01 234 5678", "IE"), "+35312345678");
        assert_eq!(ok("08-123 456 78", "SE"), "+46812345678");
        assert_eq!(ok("(11) 98765-4321", "BR"), "+5511987654321");
        assert_eq!(ok("011 98765-4321", "BR"), "+5511987654321");
    }

    #[test]
    fn regions_without_trunk_prefix_keep_every_digit() {
        assert_eq!(ok("9123 4567", "SG"), "+6591234567");
        assert_eq!(ok("2345 6789", "HK"), "+85223456789");
        assert_eq!(ok("06 1234 5678", "IT"), "+390612345678");
        assert_eq!(ok("333 123 4567", "IT"), "+393331234567");
        assert_eq!(ok("612 345 678", "ES"), "+34612345678");
        assert_eq!(ok("12 34 56 78", "DK"), "+4512345678");
        assert_eq!(ok("412 34 567", "NO"), "+4741234567");
        assert_eq!(ok("512 345 678", "PL"), "+48512345678");
        assert_eq!(ok("912 345 678", "PT"), "+351912345678");
        assert_eq!(ok("55 1234 5678", "MX"), "+525512345678");
    }

    #[test]
    fn cn_mobile_numbers_need_no_trunk_prefix() {
        assert_eq!(ok("13800138000", "CN"), "+8613800138000");
        assert_eq!(ok("199 1234 5678", "CN"), "+8619912345678");
        assert_eq!(ok("400-123-4567", "CN"), "+864001234567");
    }

    #[test]
    fn cn_mobile_numbers_have_exactly_eleven_digits() {
        assert_eq!(to_e164("138 0013 800", "CN"), Err(PhoneError::TooShort));
        assert_eq!(to_e164("+86 138 0013 800", "US"), Err(PhoneError::TooShort));
        // Beijing land lines ("10" + 8 digits) are not mobiles.
        assert_eq!(ok("+86 10 1234 5678", "US"), "+861012345678");
    }

    #[test]
    fn nanp_trunk_one_is_stripped_only_when_needed() {
        assert_eq!(ok("1 (415) 555-2671", "US"), "+14155552671");
        assert_eq!(ok("14155552671", "CA"), "+14155552671");
        assert_eq!(ok("416-555-0199", "ca"), "+14165550199");
        assert_eq!(to_e164("555-2671", "US"), Err(PhoneError::TooShort));
        assert_eq!(to_e164("415 555 26710", "US"), Err(PhoneError::TooLong));
    }

    #[test]
    fn russian_trunk_eight_is_length_aware() {
        assert_eq!(ok("8 (916) 123-45-67", "RU"), "+79161234567");
        assert_eq!(ok("916 123-45-67", "RU"), "+79161234567");
        // 800 numbers start with the trunk digit but are complete without it.
        assert_eq!(ok("800 555 35 35", "RU"), "+78005553535");
        assert_eq!(ok("8 800 555 35 35", "RU"), "+78005553535");
    }

    #[test]
    fn other_trunk_prefixes() {
        assert_eq!(ok("06 1 234 5678", "HU"), "+3612345678");
        assert_eq!(ok("01 55 1234 5678", "MX"), "+525512345678");
        assert_eq!(ok("044 55 1234 5678", "MX"), "+525512345678");
        assert_eq!(ok("+52 1 55 1234 5678", "US"), "+525512345678");
    }

    #[test]
    fn national_number_with_country_code_but_no_plus() {
        assert_eq!(ok("86 138 0013 8000", "CN"), "+8613800138000");
        assert_eq!(ok("44 20 7946 0958", "GB"), "+442079460958");
        assert_eq!(
            to_e164("86 138 0013 8000 1", "CN"),
            Err(PhoneError::TooLong)
        );
    }

    // --- international numbers --------------------------------------------------------------

    #[test]
    fn plus_numbers_ignore_the_default_region() {
        for region in ["CN", "US", "DE", "GB", "JP"] {
            assert_eq!(ok("+49 30 123456", region), "+4930123456");
            assert_eq!(ok("+1 415 555 2671", region), "+14155552671");
            assert_eq!(ok("+7 916 123 45 67", region), "+79161234567");
            assert_eq!(ok("+852 2345 6789", region), "+85223456789");
            assert_eq!(ok("+971 50 123 4567", region), "+971501234567");
        }
    }

    #[test]
    fn trunk_zero_after_country_code_is_dropped() {
        assert_eq!(ok("+44 (0)20 7946 0958", "US"), "+442079460958");
        assert_eq!(ok("+49 (0) 30 123456", "US"), "+4930123456");
        assert_eq!(ok("+86 010 1234 5678", "US"), "+861012345678");
        // Italy has no trunk prefix: the 0 belongs to the number.
        assert_eq!(ok("+39 06 1234 5678", "US"), "+390612345678");
    }

    #[test]
    fn international_prefixes() {
        assert_eq!(ok("011 86 138 0013 8000", "US"), "+8613800138000");
        assert_eq!(ok("011 44 20 7946 0958", "CA"), "+442079460958");
        assert_eq!(ok("00 44 20 7946 0958", "FR"), "+442079460958");
        assert_eq!(ok("00 1 415 555 2671", "CN"), "+14155552671");
        assert_eq!(ok("010 1 415 555 2671", "JP"), "+14155552671");
        assert_eq!(ok("0011 44 20 7946 0958", "AU"), "+442079460958");
        assert_eq!(ok("810 49 30 123456", "RU"), "+4930123456");
        assert_eq!(ok("001 86 138 0013 8000", "KR"), "+8613800138000");
        assert_eq!(ok("00700 86 138 0013 8000", "KR"), "+8613800138000");
        assert_eq!(ok("001 86 138 0013 8000", "HK"), "+8613800138000");
        assert_eq!(ok("002 86 138 0013 8000", "TW"), "+8613800138000");
        assert_eq!(ok("0014 1 415 555 2671", "BR"), "+14155552671");
        // "00" works everywhere, and wins when the regional prefix gives nonsense.
        assert_eq!(ok("0086 138 0013 8000", "US"), "+8613800138000");
        assert_eq!(ok("0086 138 0013 8000", "KR"), "+8613800138000");
        assert_eq!(ok("001 415 555 2671", "SG"), "+14155552671");
    }

    #[test]
    fn japanese_011_is_a_national_area_code() {
        // Sapporo: 011 is trunk 0 + area code 11, not an international prefix outside NANP.
        assert_eq!(ok("011-123-4567", "JP"), "+81111234567");
    }

    #[test]
    fn unknown_country_codes() {
        assert_eq!(
            to_e164("+999 1234 5678", "US"),
            Err(PhoneError::UnknownCountryCode)
        );
        assert_eq!(
            to_e164("+0 1234 5678", "US"),
            Err(PhoneError::UnknownCountryCode)
        );
        assert_eq!(
            to_e164("00 0 1234 5678", "DE"),
            Err(PhoneError::UnknownCountryCode)
        );
        assert_eq!(to_e164("+8", "US"), Err(PhoneError::TooShort));
    }

    #[test]
    fn codes_without_region_entry_use_generic_lengths() {
        // +251 Ethiopia, +995 Georgia: not in the region table.
        assert_eq!(ok("+251 91 123 4567", "US"), "+251911234567");
        assert_eq!(ok("+995 555 12 34 56", "US"), "+995555123456");
        assert_eq!(to_e164("+251 123", "US"), Err(PhoneError::TooShort));
        assert_eq!(ok("+251 1234", "US"), "+2511234");
        assert_eq!(ok("+251 1234 5678 9012", "US"), "+251123456789012");
        assert_eq!(
            to_e164("+251 1234 5678 9012 3", "US"),
            Err(PhoneError::TooLong)
        );
    }

    // --- lengths ----------------------------------------------------------------------------

    #[test]
    fn too_short() {
        assert_eq!(to_e164("1", "CN"), Err(PhoneError::TooShort));
        assert_eq!(to_e164("12", "CN"), Err(PhoneError::TooShort));
        assert_eq!(to_e164("0301", "DE"), Err(PhoneError::TooShort));
        assert_eq!(to_e164("+1 415 555", "CN"), Err(PhoneError::TooShort));
        assert_eq!(to_e164("+44 20", "CN"), Err(PhoneError::TooShort));
        assert_eq!(to_e164("+1", "CN"), Err(PhoneError::TooShort));
        assert_eq!(to_e164("1234 567", "FR"), Err(PhoneError::TooShort));
    }

    #[test]
    fn too_long() {
        assert_eq!(to_e164("138 0013 8000 1", "CN"), Err(PhoneError::TooLong));
        assert_eq!(to_e164("+1 415 555 26711", "CN"), Err(PhoneError::TooLong));
        assert_eq!(to_e164("01 23 45 67 89 0", "FR"), Err(PhoneError::TooLong));
        // E.164 allows 15 digits in total.
        assert_eq!(
            to_e164("+49 1234 5678 9012 34", "US"),
            Err(PhoneError::TooLong)
        );
        assert_eq!(ok("+49 1234 5678 9012 3", "US"), "+491234567890123");
        assert_eq!(
            to_e164("1234567890123456789012345678901234567890", "US"),
            Err(PhoneError::TooLong)
        );
    }

    #[test]
    fn results_are_valid_e164() {
        let inputs = [
            ("138 0013 8000", "CN"),
            ("(415) 555-2671", "US"),
            ("030 123456", "DE"),
            ("+44 (0)20 7946 0958", "FR"),
            ("0086 13800138000", "DE"),
        ];
        for (input, region) in inputs {
            let e164 = ok(input, region);
            assert!(e164.starts_with('+'));
            assert!(e164[1..].bytes().all(|b| b.is_ascii_digit()));
            assert!(e164.len() - 1 <= E164_MAX_DIGITS);
            // Normalising a normalised number is a no-op, whatever the region.
            assert_eq!(ok(&e164, "JP"), e164);
        }
    }

    // --- errors -----------------------------------------------------------------------------

    #[test]
    fn error_codes_and_messages() {
        assert_eq!(PhoneError::Empty.code(), "INVALID_PHONE");
        assert_eq!(PhoneError::InvalidCharacters.code(), "INVALID_PHONE");
        assert_eq!(PhoneError::TooShort.code(), "INVALID_PHONE");
        assert_eq!(PhoneError::TooLong.code(), "INVALID_PHONE");
        assert_eq!(PhoneError::UnknownCountryCode.code(), "INVALID_PHONE");
        assert_eq!(
            PhoneError::UnknownRegion("XX".into()).code(),
            "UNKNOWN_REGION"
        );
        assert_eq!(
            PhoneError::TooShort.to_string(),
            "phone number is too short for its country calling code"
        );
        assert!(
            PhoneError::UnknownRegion("XX".into())
                .to_string()
                .contains("\"XX\"")
        );
        let all = [
            PhoneError::Empty,
            PhoneError::InvalidCharacters,
            PhoneError::UnknownRegion("XX".into()),
            PhoneError::TooShort,
            PhoneError::TooLong,
            PhoneError::UnknownCountryCode,
        ];
        for e in &all {
            assert!(e.to_string().contains("phone number") || e.to_string().contains("region"));
        }
        let boxed: Box<dyn std::error::Error> = Box::new(PhoneError::Empty);
        assert_eq!(boxed.to_string(), "phone number is empty");
    }
}
