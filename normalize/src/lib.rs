//! Pure data-cleaning rules of the CRM (see `DOMAIN.md` §3, "Data quality").
//!
//! This crate has no dependencies and performs no I/O, so the very same rules run in the
//! host and inside WebAssembly plugins (`wasm32-wasip2`):
//!
//! * [`phone`]: phone numbers to E.164 (`+8613800138000`) with a configurable default region;
//! * [`email`]: trimmed, lower-cased and validated e-mail addresses, plus domain-typo suggestions;
//! * [`name`]: duplicate-detection keys for people and companies, and tidy capitalisation of names.
//!
//! Every error type has a human-readable [`Display`](std::fmt::Display) message (used as the
//! rejection reason of an import row) and a stable machine-readable `code()`.
//!
//! # Example
//!
//! ```
//! use crm_normalize::{email, name, phone};
//!
//! // Phone numbers: national input plus a default region, or international input.
//! assert_eq!(phone::to_e164("138 0013 8000", "CN").as_deref(), Ok("+8613800138000"));
//! assert_eq!(phone::to_e164("(415) 555-2671", "US").as_deref(), Ok("+14155552671"));
//! assert_eq!(phone::to_e164("12", "CN"), Err(phone::PhoneError::TooShort));
//!
//! // E-mail addresses.
//! assert_eq!(email::normalize("  Ada@Example.COM ").as_deref(), Ok("ada@example.com"));
//! assert_eq!(email::suggest_domain("gmial.com"), Some("gmail.com"));
//!
//! // Duplicate detection.
//! assert_eq!(name::person_key("Li", "Wei"), name::person_key("Wei", "Li"));
//! let a = name::company_key("Acme Electronics Co., Ltd.");
//! let b = name::company_key("ACME Electronics (Foshan) Limited");
//! assert_eq!(a, "acme electronics");
//! assert!(name::companies_match(&a, &b));
//! assert_eq!(name::tidy_person_name("o'neil"), "O'Neil");
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod email;
pub mod name;
pub mod phone;

/// Maps full-width ASCII variants (U+FF01..=U+FF5E, as typed with CJK input methods) and a few
/// CJK punctuation marks to their ASCII equivalents; every other character is returned unchanged.
pub(crate) fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        // Ideographic and half-width ideographic full stops (label separators in IDNA).
        '\u{3002}' | '\u{FF61}' => '.',
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::fold_width;

    #[test]
    fn fold_width_maps_full_width_ascii() {
        assert_eq!(fold_width('１'), '1');
        assert_eq!(fold_width('＋'), '+');
        assert_eq!(fold_width('＠'), '@');
        assert_eq!(fold_width('Ａ'), 'A');
        assert_eq!(fold_width('～'), '~');
        assert_eq!(fold_width('\u{3000}'), ' ');
        assert_eq!(fold_width('。'), '.');
        assert_eq!(fold_width('a'), 'a');
        assert_eq!(fold_width('张'), '张');
    }
}
