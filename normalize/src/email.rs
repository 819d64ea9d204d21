//! E-mail addresses: trimmed, lower-cased and validated, plus suggestions for common domain typos.
//!
//! ```
//! use crm_normalize::email::{normalize, suggest_domain, EmailError};
//!
//! assert_eq!(normalize("  Ada@Example.COM ").as_deref(), Ok("ada@example.com"));
//! assert_eq!(normalize("ada@localhost"), Err(EmailError::InvalidDomain));
//! assert_eq!(suggest_domain("qq.con"), Some("qq.com"));
//! ```

use std::fmt;

/// Maximum length of an address (RFC 5321 path limit minus the angle brackets), in bytes.
const MAX_ADDRESS_LEN: usize = 254;
/// Maximum length of the local part (RFC 5321), in bytes.
const MAX_LOCAL_LEN: usize = 64;
/// Maximum length of one domain label (RFC 1035), in bytes.
const MAX_LABEL_LEN: usize = 63;

/// Why an e-mail address was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailError {
    /// The input is empty or only whitespace.
    Empty,
    /// There is no `@`.
    MissingAt,
    /// The part before the last `@` is empty or contains spaces, another `@` or other characters
    /// not allowed unquoted (`()<>[]:;,\"`), or misplaced dots.
    InvalidLocalPart,
    /// The part after the `@` is not a domain name with at least two labels of `[a-z0-9-]`
    /// (not starting or ending with `-`) and an alphabetic top-level domain of two letters or more.
    InvalidDomain,
    /// The address is longer than 254 bytes, or its local part longer than 64.
    TooLong,
}

impl EmailError {
    /// Stable machine-readable code: always `"INVALID_EMAIL"` (the variant and the
    /// [`Display`](fmt::Display) message give the detail).
    pub fn code(&self) -> &'static str {
        "INVALID_EMAIL"
    }
}

impl fmt::Display for EmailError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EmailError::Empty => "e-mail address is empty",
            EmailError::MissingAt => "e-mail address has no '@'",
            EmailError::InvalidLocalPart => "e-mail address has an invalid part before the '@'",
            EmailError::InvalidDomain => "e-mail address has an invalid domain after the '@'",
            EmailError::TooLong => {
                "e-mail address is too long (at most 254 characters, 64 before the '@')"
            }
        })
    }
}

impl std::error::Error for EmailError {}

/// Trim, lower-case and validate an e-mail address.
///
/// Rules: exactly one `@` separating a non-empty local part without spaces from the domain; the
/// local part may use letters, digits, `.` (not first, last or doubled), ``!#$%&'*+/=?^_`{|}~-``
/// and non-ASCII letters; the domain has at least two dot-separated labels of `[a-z0-9-]`
/// (1..=63 characters, not starting or ending with `-`) and a top-level domain of at least two
/// letters (or an IDNA `xn--` label); at most 254 bytes in total and 64 before the `@`.
/// Full-width characters typed with CJK input methods (`ａｄａ＠ｑｑ．ｃｏｍ`) are folded to ASCII.
/// Quoted local parts and IP-address domains are not accepted.
///
/// # Errors
///
/// The first rule broken, as an [`EmailError`].
///
/// ```
/// use crm_normalize::email::{normalize, EmailError};
///
/// assert_eq!(
///     normalize("Ada.Lovelace+CRM@Example.co.UK").as_deref(),
///     Ok("ada.lovelace+crm@example.co.uk")
/// );
/// assert_eq!(normalize("ada@@x.com"), Err(EmailError::InvalidLocalPart));
/// assert_eq!(normalize("a b@x.com"), Err(EmailError::InvalidLocalPart));
/// assert_eq!(normalize("ada.example.com"), Err(EmailError::MissingAt));
/// ```
pub fn normalize(input: &str) -> Result<String, EmailError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(EmailError::Empty);
    }
    let mut address = String::with_capacity(trimmed.len());
    for c in trimmed.chars().map(crate::fold_width) {
        if c.is_ascii() {
            address.push(c.to_ascii_lowercase());
        } else {
            address.extend(c.to_lowercase());
        }
    }
    let Some(at) = address.rfind('@') else {
        return Err(EmailError::MissingAt);
    };
    let (local, domain) = (&address[..at], &address[at + 1..]);
    check_local(local)?;
    check_domain(domain)?;
    if address.len() > MAX_ADDRESS_LEN {
        return Err(EmailError::TooLong);
    }
    Ok(address)
}

fn check_local(local: &str) -> Result<(), EmailError> {
    if local.is_empty() || local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(EmailError::InvalidLocalPart);
    }
    let allowed = |c: char| {
        c.is_ascii_alphanumeric()
            || "!#$%&'*+/=?^_`{|}~-.".contains(c)
            || (!c.is_ascii() && !c.is_whitespace() && !c.is_control())
    };
    if !local.chars().all(allowed) {
        return Err(EmailError::InvalidLocalPart);
    }
    if local.len() > MAX_LOCAL_LEN {
        return Err(EmailError::TooLong);
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<(), EmailError> {
    let mut labels = 0usize;
    let mut last = "";
    for label in domain.split('.') {
        let valid = !label.is_empty()
            && label.len() <= MAX_LABEL_LEN
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            return Err(EmailError::InvalidDomain);
        }
        labels += 1;
        last = label;
    }
    let tld_ok = (last.len() >= 2 && last.bytes().all(|b| b.is_ascii_lowercase()))
        || (last.len() > 4 && last.starts_with("xn--"));
    if labels < 2 || !tld_ok {
        return Err(EmailError::InvalidDomain);
    }
    Ok(())
}

/// Popular mailbox providers: never corrected, and the targets of corrections.
static KNOWN_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "ymail.com",
    "hotmail.com",
    "outlook.com",
    "live.com",
    "msn.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "protonmail.com",
    "proton.me",
    "mail.com",
    "email.com",
    "gmx.com",
    "gmx.net",
    "gmx.de",
    "web.de",
    "t-online.de",
    "hotmail.co.uk",
    "hotmail.fr",
    "hotmail.de",
    "outlook.de",
    "yahoo.co.uk",
    "yahoo.co.jp",
    "yahoo.fr",
    "orange.fr",
    "free.fr",
    "libero.it",
    "yandex.ru",
    "mail.ru",
    "naver.com",
    "daum.net",
    "hanmail.net",
    "rediffmail.com",
    "zoho.com",
    "qq.com",
    "vip.qq.com",
    "foxmail.com",
    "163.com",
    "126.com",
    "vip.163.com",
    "yeah.net",
    "sina.com",
    "sina.cn",
    "vip.sina.com",
    "sohu.com",
    "aliyun.com",
    "139.com",
    "189.cn",
    "21cn.com",
    "tom.com",
    "live.cn",
];

/// Providers whose names are long and distinctive enough to correct by edit distance. Short names
/// (`qq`, `163`, `sina`, `live`...) are left out: one edit away from them are real, unrelated domains.
static FUZZY_TARGETS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "icloud.com",
    "protonmail.com",
    "foxmail.com",
    "aliyun.com",
    "yandex.ru",
    "rediffmail.com",
];

/// Misspellings of `com` and `net` (corrected only when the result is a known provider).
static COM_TYPOS: &[&str] = &[
    "con", "cmo", "ocm", "vom", "xom", "cpm", "cim", "coom", "comm", "cm", "om", "co", "c0m",
];
static NET_TYPOS: &[&str] = &["nte", "ent", "met", "bet", "ner", "nt", "ne"];

/// Common domain typos: `"gmial.com"` → `Some("gmail.com")`, `"hotmial.com"` → `"hotmail.com"`,
/// `"yahho.com"` → `"yahoo.com"`, `"qq.con"` → `"qq.com"`, `"163.con"` → `"163.com"`.
///
/// Returns `None` when the domain is a known provider, or nothing close enough is known. Case and
/// surrounding whitespace are ignored; a whole address is accepted too (its domain is used).
/// Corrections are: a misspelt `com`/`net` top-level domain of a known provider, then one edit
/// (insertion, deletion, substitution or transposition of adjacent letters; two for names of 11
/// characters or more with the same top-level domain) away from a long, distinctive provider
/// name, when exactly one is that close.
///
/// ```
/// use crm_normalize::email::suggest_domain;
///
/// assert_eq!(suggest_domain("gmial.com"), Some("gmail.com"));
/// assert_eq!(suggest_domain("Hotmial.com"), Some("hotmail.com"));
/// assert_eq!(suggest_domain("163.con"), Some("163.com"));
/// assert_eq!(suggest_domain("gmail.com"), None);
/// assert_eq!(suggest_domain("example.com"), None);
/// ```
pub fn suggest_domain(domain: &str) -> Option<&'static str> {
    let domain = domain.trim();
    let domain = domain.rsplit_once('@').map_or(domain, |(_, d)| d);
    let domain: String = domain
        .chars()
        .map(crate::fold_width)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let domain = domain.trim_end_matches('.');
    if domain.is_empty() || KNOWN_DOMAINS.contains(&domain) {
        return None;
    }

    // 1. Misspelt top-level domain of a known provider ("qq.con", "yeah.nte").
    let (name, tld) = domain.rsplit_once('.').unwrap_or((domain, ""));
    let fixed_tld = if COM_TYPOS.contains(&tld) {
        Some("com")
    } else if NET_TYPOS.contains(&tld) {
        Some("net")
    } else {
        None
    };
    let mut candidate = String::with_capacity(domain.len() + 1);
    if let Some(fixed) = fixed_tld {
        candidate.push_str(name);
        candidate.push('.');
        candidate.push_str(fixed);
        if let Some(&known) = KNOWN_DOMAINS.iter().find(|&&d| d == candidate) {
            return Some(known);
        }
    } else {
        candidate.push_str(domain);
    }

    // 2. A few edits away from a distinctive provider ("gmial.com", "hotmial.con").
    // Two edits only within the same top-level domain: "hotmail.ca" is not a typo of "hotmail.com".
    let candidate_tld = top_level(&candidate);
    let mut best: Option<(usize, &'static str)> = None;
    let mut tie = false;
    for &target in FUZZY_TARGETS {
        let same_tld = target.contains('.') && top_level(target) == candidate_tld;
        let limit = if target.len() >= 11 && same_tld { 2 } else { 1 };
        if let Some(d) = edit_distance(candidate.as_bytes(), target.as_bytes(), limit) {
            match best {
                Some((best_d, _)) if d > best_d => {}
                Some((best_d, _)) if d == best_d => tie = true,
                _ => {
                    best = Some((d, target));
                    tie = false;
                }
            }
        }
    }
    match best {
        Some((d, target)) if d > 0 && !tie => Some(target),
        _ => None,
    }
}

/// Optimal-string-alignment distance (Levenshtein plus adjacent transpositions) between two
/// short strings, or `None` when it exceeds `limit` (or the strings are longer than 64 bytes).
fn edit_distance(a: &[u8], b: &[u8], limit: usize) -> Option<usize> {
    const N: usize = 65;
    if a.len() >= N || b.len() >= N || a.len().abs_diff(b.len()) > limit {
        return None;
    }
    // Three rows (two back, previous, current) that take turns: no row is
    // copied. Distances are at most 64, so a byte holds each cell.
    let mut rows = [[0u8; N]; 3];
    for (j, cell) in rows[1].iter_mut().enumerate() {
        *cell = j as u8;
    }
    let (mut two_back, mut prev, mut cur) = (0, 1, 2);
    for i in 1..=a.len() {
        rows[cur][0] = i as u8;
        let mut row_min = i as u8;
        for j in 1..=b.len() {
            let cost = u8::from(a[i - 1] != b[j - 1]);
            let mut v = (rows[prev][j] + 1)
                .min(rows[cur][j - 1] + 1)
                .min(rows[prev][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(rows[two_back][j - 2] + 1);
            }
            rows[cur][j] = v;
            row_min = row_min.min(v);
        }
        if usize::from(row_min) > limit {
            return None;
        }
        (two_back, prev, cur) = (prev, cur, two_back);
    }
    let d = usize::from(rows[prev][b.len()]);
    (d <= limit).then_some(d)
}

/// What follows the last `.` of `domain` (`""` without one).
fn top_level(domain: &str) -> &str {
    domain
        .bytes()
        .rposition(|b| b == b'.')
        .map_or("", |dot| &domain[dot + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_cases() {
        assert_eq!(
            normalize("  Ada@Example.COM "),
            Ok("ada@example.com".to_owned())
        );
        assert!(normalize("ada@@x.com").is_err());
        assert!(normalize("ada@localhost").is_err());
        assert!(normalize("a b@x.com").is_err());
    }

    #[test]
    fn valid_addresses() {
        for (input, expected) in [
            ("ada@example.com", "ada@example.com"),
            ("\tADA@EXAMPLE.COM\n", "ada@example.com"),
            (
                "first.last@sub.example.co.uk",
                "first.last@sub.example.co.uk",
            ),
            ("ada+crm@example.com", "ada+crm@example.com"),
            ("o'neil@example.ie", "o'neil@example.ie"),
            ("x_y-z@my-company.com.cn", "x_y-z@my-company.com.cn"),
            ("12345@qq.com", "12345@qq.com"),
            ("a@b.co", "a@b.co"),
            ("ada@123.example.org", "ada@123.example.org"),
            ("ada@xn--fiqs8s.xn--fiqz9s", "ada@xn--fiqs8s.xn--fiqz9s"),
            ("ÉLODIE@example.fr", "élodie@example.fr"),
            ("用户@example.cn", "用户@example.cn"),
        ] {
            assert_eq!(normalize(input).as_deref(), Ok(expected), "{input}");
        }
    }

    #[test]
    fn full_width_input_is_folded() {
        assert_eq!(
            normalize("ａｄａ＠ｑｑ．ｃｏｍ").as_deref(),
            Ok("ada@qq.com")
        );
        assert_eq!(normalize("ada@qq。com").as_deref(), Ok("ada@qq.com"));
        assert_eq!(
            normalize("\u{3000}ada@qq.com\u{3000}").as_deref(),
            Ok("ada@qq.com")
        );
    }

    #[test]
    fn empty() {
        assert_eq!(normalize(""), Err(EmailError::Empty));
        assert_eq!(normalize("   \t"), Err(EmailError::Empty));
        assert_eq!(normalize("\u{3000}"), Err(EmailError::Empty));
    }

    #[test]
    fn missing_at() {
        assert_eq!(normalize("ada.example.com"), Err(EmailError::MissingAt));
        assert_eq!(normalize("ada"), Err(EmailError::MissingAt));
    }

    #[test]
    fn invalid_local_part() {
        for input in [
            "@example.com",
            "ada@@x.com",
            "a@b@x.com",
            "a b@x.com",
            "a\tb@x.com",
            ".ada@x.com",
            "ada.@x.com",
            "a..da@x.com",
            "a,da@x.com",
            "<ada>@x.com",
            "\"ada\"@x.com",
            "ada(home)@x.com",
            "a\u{0}@x.com",
        ] {
            assert_eq!(
                normalize(input),
                Err(EmailError::InvalidLocalPart),
                "{input}"
            );
        }
    }

    #[test]
    fn invalid_domain() {
        for input in [
            "ada@",
            "ada@localhost",
            "ada@x",
            "ada@.com",
            "ada@x.",
            "ada@x..com",
            "ada@x.c",
            "ada@x.c0m",
            "ada@x.123",
            "ada@-x.com",
            "ada@x-.com",
            "ada@x_y.com",
            "ada@x y.com",
            "ada@exämple.com",
            "ada@[192.168.0.1]",
            "ada@192.168.0.1",
            "ada@x.com.",
            "ada@xn--.com",
        ] {
            assert_eq!(normalize(input), Err(EmailError::InvalidDomain), "{input}");
        }
        let long_label = format!("ada@{}.com", "a".repeat(64));
        assert_eq!(normalize(&long_label), Err(EmailError::InvalidDomain));
        let max_label = format!("ada@{}.com", "a".repeat(63));
        assert!(normalize(&max_label).is_ok());
    }

    #[test]
    fn hyphens_inside_labels_are_fine() {
        assert!(normalize("ada@my-shop.example-1.com").is_ok());
        assert!(normalize("ada@a--b.com").is_ok());
    }

    #[test]
    fn too_long() {
        let local_64 = "a".repeat(64);
        assert!(normalize(&format!("{local_64}@x.com")).is_ok());
        assert_eq!(
            normalize(&format!("a{local_64}@x.com")),
            Err(EmailError::TooLong)
        );
        // 254 bytes in total is the limit; the domain is 4 labels of 61 letters + "com" = 251 bytes.
        let domain = format!(
            "{}com",
            "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghi.".repeat(4)
        );
        let at_limit = format!("a@{domain}");
        assert_eq!(at_limit.len(), 253);
        assert!(normalize(&at_limit).is_ok());
        let at_limit = format!("ab@{domain}");
        assert_eq!(at_limit.len(), 254);
        assert!(normalize(&at_limit).is_ok());
        assert_eq!(
            normalize(&format!("abc@{domain}")),
            Err(EmailError::TooLong)
        );
    }

    #[test]
    fn normalize_is_idempotent() {
        for input in [
            "  Ada@Example.COM ",
            "ａｄａ＠ｑｑ．ｃｏｍ",
            "X.Y+Z@Sub.Example.ORG",
        ] {
            let once = normalize(input).unwrap();
            assert_eq!(normalize(&once), Ok(once.clone()));
        }
    }

    #[test]
    fn error_codes_and_messages() {
        let all = [
            EmailError::Empty,
            EmailError::MissingAt,
            EmailError::InvalidLocalPart,
            EmailError::InvalidDomain,
            EmailError::TooLong,
        ];
        for e in &all {
            assert_eq!(e.code(), "INVALID_EMAIL");
            assert!(e.to_string().starts_with("e-mail address"), "{e}");
        }
        assert_eq!(
            EmailError::MissingAt.to_string(),
            "e-mail address has no '@'"
        );
        let boxed: Box<dyn std::error::Error> = Box::new(EmailError::Empty);
        assert_eq!(boxed.to_string(), "e-mail address is empty");
    }

    #[test]
    fn suggests_fixes_for_required_typos() {
        assert_eq!(suggest_domain("gmial.com"), Some("gmail.com"));
        assert_eq!(suggest_domain("hotmial.com"), Some("hotmail.com"));
        assert_eq!(suggest_domain("yahho.com"), Some("yahoo.com"));
        assert_eq!(suggest_domain("qq.con"), Some("qq.com"));
        assert_eq!(suggest_domain("163.con"), Some("163.com"));
    }

    #[test]
    fn suggests_fixes_for_other_typos() {
        for (typo, fixed) in [
            ("gamil.com", "gmail.com"),
            ("gmal.com", "gmail.com"),
            ("gmaill.com", "gmail.com"),
            ("gnail.com", "gmail.com"),
            ("gmail.co", "gmail.com"),
            ("gmail.cm", "gmail.com"),
            ("gmail.comm", "gmail.com"),
            ("gmial.con", "gmail.com"),
            ("yahooo.com", "yahoo.com"),
            ("yaho.com", "yahoo.com"),
            ("hotmai.com", "hotmail.com"),
            ("hotamil.com", "hotmail.com"),
            ("hotmial.con", "hotmail.com"),
            ("hotmil.co", "hotmail.com"),
            ("outlok.com", "outlook.com"),
            ("outllok.com", "outlook.com"),
            ("iclould.com", "icloud.com"),
            ("foxmial.com", "foxmail.com"),
            ("qq.cmo", "qq.com"),
            ("qq.co", "qq.com"),
            ("126.con", "126.com"),
            ("sina.con", "sina.com"),
            ("yeah.nte", "yeah.net"),
            ("hanmail.ent", "hanmail.net"),
        ] {
            assert_eq!(suggest_domain(typo), Some(fixed), "{typo}");
        }
    }

    #[test]
    fn suggestion_input_is_forgiving() {
        assert_eq!(suggest_domain("  GMIAL.COM "), Some("gmail.com"));
        assert_eq!(suggest_domain("ada@gmial.com"), Some("gmail.com"));
        assert_eq!(suggest_domain("ｑｑ．ｃｏｎ"), Some("qq.com"));
    }

    #[test]
    fn no_suggestion_for_correct_or_unrelated_domains() {
        for domain in [
            "gmail.com",
            "GMAIL.COM",
            "qq.com",
            "163.com",
            "126.com",
            "ymail.com",
            "mail.com",
            "hotmail.co.uk",
            "yahoo.co.jp",
            "example.com",
            "acme-electronics.cn",
            "company.co",
            "yahoo.cn",
            "hotmail.de",
            "hotmail.ca",
            "outlook.cn",
            "gmx.de",
            "",
            "com",
        ] {
            assert_eq!(suggest_domain(domain), None, "{domain}");
        }
    }

    #[test]
    fn ambiguous_typos_are_not_guessed() {
        // One edit from both 163.com and 126.com would be a guess; neither is fuzzy-matched.
        assert_eq!(suggest_domain("162.com"), None);
        assert_eq!(suggest_domain("aq.com"), None);
    }

    #[test]
    fn edit_distance_counts_transpositions_once() {
        assert_eq!(edit_distance(b"gmial", b"gmail", 2), Some(1));
        assert_eq!(edit_distance(b"abc", b"abc", 0), Some(0));
        assert_eq!(edit_distance(b"abc", b"abd", 1), Some(1));
        assert_eq!(edit_distance(b"abc", b"", 3), Some(3));
        assert_eq!(edit_distance(b"kitten", b"sitting", 3), Some(3));
        assert_eq!(edit_distance(b"kitten", b"sitting", 2), None);
        assert_eq!(edit_distance(b"a", b"abcd", 2), None);
    }
}
