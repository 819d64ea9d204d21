//! The scoring rules, as plain functions over typed records.

use crm_plugin_sdk::{Score, models::Contact};

use crate::{Config, config::Keyword};

/// Name of the score this plugin computes.
pub const SCORE_NAME: &str = "lead";

/// Score a contact 0..=100 with a grade and the contributing rules as
/// reasons, most points first.
///
/// ```
/// use crm_plugin_sdk::models::Contact;
/// use lead_scoring::{score_contact, Config};
///
/// let contact = Contact { title: Some("VP Sales".into()), ..Contact::default() };
/// let score = score_contact(&Config::default(), &contact);
/// assert_eq!(score.value, 25);
/// assert_eq!(score.reasons, ["title 'VP Sales' is senior (+25)"]);
/// ```
pub fn score_contact(cfg: &Config, contact: &Contact) -> Score {
    Rules::new(cfg.clone()).score(contact)
}

/// A configuration prepared for scoring many contacts: the title keywords
/// are trimmed, lower-cased and split into words once, not once per record.
///
/// ```
/// use crm_plugin_sdk::models::Contact;
/// use lead_scoring::{Config, Rules};
///
/// let rules = Rules::new(Config::default());
/// let contact = Contact { title: Some("Head of IT".into()), ..Contact::default() };
/// assert_eq!(rules.score(&contact).value, 20);
/// ```
#[derive(Debug, Clone)]
pub struct Rules {
    cfg: Config,
    titles: TitleMatcher,
}

impl Rules {
    /// Prepare `cfg`.
    pub fn new(cfg: Config) -> Self {
        let titles = TitleMatcher::new(&cfg);
        Rules { cfg, titles }
    }

    /// Score one contact: see [`score_contact`].
    pub fn score(&self, contact: &Contact) -> Score {
        let cfg = &self.cfg;
        // Reasons are built only for rules that give points: they are most
        // of the work per record, and a rule worth nothing is not a reason.
        let mut hits: Vec<(i64, String)> = Vec::with_capacity(5);

        if let Some(title) = contact
            .title
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            && let Some(tier) = self.titles.tier(cfg, title)
        {
            let p = points(cfg.weight_title, tier.fraction());
            if p != 0 {
                let mut r = reason(title.len() + 24);
                r.push_str("title '");
                r.push_str(title);
                r.push_str("' is ");
                r.push_str(tier.label());
                hits.push((p, with_points(r, p)));
            }
        }

        if let Some(employees) = contact.company.as_ref().and_then(|c| c.employee_count) {
            let fraction = band_at_least(
                employees as f64,
                [
                    cfg.company_size_large,
                    cfg.company_size_medium,
                    cfg.company_size_small,
                ]
                .map(|n| n as f64),
            );
            let p = points(cfg.weight_company_size, fraction);
            if p != 0 {
                let mut r = reason(40);
                r.push_str("company has ");
                push_int(&mut r, employees, false);
                r.push_str(" employees");
                hits.push((p, with_points(r, p)));
            }
        }

        if let Some(days) = contact.last_activity_days_ago {
            let days = days.max(0);
            let fraction = band_at_most(
                days,
                [
                    cfg.recency_hot_days,
                    cfg.recency_warm_days,
                    cfg.recency_cool_days,
                ],
            );
            let p = points(cfg.weight_recency, fraction);
            if p != 0 {
                let mut r = reason(40);
                r.push_str("last activity ");
                match days {
                    0 => r.push_str("today"),
                    1 => r.push_str("1 day ago"),
                    _ => {
                        push_int(&mut r, days, false);
                        r.push_str(" days ago");
                    }
                }
                hits.push((p, with_points(r, p)));
            }
        }

        if let Some(count) = contact.recent_activity_count {
            let fraction = band_at_least(
                count as f64,
                [cfg.frequency_high, cfg.frequency_medium, cfg.frequency_low].map(|n| n as f64),
            );
            let p = points(cfg.weight_frequency, fraction);
            if p != 0 {
                let mut r = reason(48);
                push_int(&mut r, count, false);
                r.push_str(if count == 1 {
                    " activity"
                } else {
                    " activities"
                });
                r.push_str(" in the last 90 days");
                hits.push((p, with_points(r, p)));
            }
        }

        if let Some(value) = contact.open_deals_value {
            let fraction = band_at_least(
                value,
                [
                    cfg.deal_value_large,
                    cfg.deal_value_medium,
                    cfg.deal_value_small,
                ],
            );
            let p = points(cfg.weight_deal_value, fraction);
            if p != 0 {
                let mut r = reason(48);
                r.push_str("open deals worth ");
                push_amount(&mut r, value);
                hits.push((p, with_points(r, p)));
            }
        }

        // Stable: equal contributions keep the rules' order.
        hits.sort_by_key(|(p, _)| std::cmp::Reverse(p.abs()));
        let total: i64 = hits.iter().map(|(p, _)| p).sum();
        let grade = if total >= cfg.grade_a {
            "A"
        } else if total >= cfg.grade_b {
            "B"
        } else {
            "C"
        };
        let score = Score::from_points(SCORE_NAME, total).with_grade(grade);
        if hits.is_empty() {
            score.with_reason("no scoring rule matched")
        } else {
            score.with_reasons(hits.into_iter().map(|(_, reason)| reason))
        }
    }
}

/// How senior a title is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Assistants, interns, trainees: no title points.
    Junior,
    /// C-level, founders, owners, VPs: full title points.
    Senior,
    /// Directors and heads of: 80%.
    Director,
    /// Managers and leads: 50%.
    Manager,
}

impl Tier {
    fn fraction(self) -> f64 {
        match self {
            Tier::Junior => 0.0,
            Tier::Senior => 1.0,
            Tier::Director => 0.8,
            Tier::Manager => 0.5,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Tier::Junior => "junior",
            Tier::Senior => "senior",
            Tier::Director => "director-level",
            Tier::Manager => "manager-level",
        }
    }
}

/// The first tier whose keywords match `title`, junior first.
///
/// Keywords in Latin script match whole words, case-insensitively, so `cto`
/// does not match "Director"; other keywords (Chinese titles have no word
/// boundaries) match anywhere in the lower-cased title.
///
/// ```
/// use lead_scoring::{title_tier, Config, Tier};
///
/// let cfg = Config::default();
/// assert_eq!(title_tier(&cfg, "Co-Founder & CEO"), Some(Tier::Senior));
/// assert_eq!(title_tier(&cfg, "销售总监"), Some(Tier::Director));
/// assert_eq!(title_tier(&cfg, "Assistant to the CEO"), Some(Tier::Junior));
/// assert_eq!(title_tier(&cfg, "Art Director"), Some(Tier::Director));
/// assert_eq!(title_tier(&cfg, "Engineer"), None);
/// ```
pub fn title_tier(cfg: &Config, title: &str) -> Option<Tier> {
    TitleMatcher::new(cfg).tier(cfg, title)
}

/// The tiers in the order they are tried: the first that matches wins.
const TIERS: [Tier; 4] = [Tier::Junior, Tier::Senior, Tier::Director, Tier::Manager];

/// The keyword lists of `cfg`, in [`TIERS`] order.
fn keyword_lists(cfg: &Config) -> [&[Keyword]; 4] {
    [
        &cfg.title_junior,
        &cfg.title_senior,
        &cfg.title_director,
        &cfg.title_manager,
    ]
}

/// One Latin keyword: its lower-case words, joined by single spaces, at
/// `span` of [`TitleMatcher::latin`].
#[derive(Debug, Clone)]
struct LatinKey {
    /// Index into [`TIERS`].
    tier: u8,
    /// First byte of the phrase (a quick filter before comparing).
    first: u8,
    span: std::ops::Range<usize>,
}

/// The tiers' keywords prepared for matching many titles. Preparing is
/// cheap on purpose: the host creates a fresh instance for every call, so a
/// single-record call (a contact being created) prepares them again. Latin
/// keywords go into one buffer with no allocation per keyword; keywords in
/// other scripts are lower-cased the first time a non-ASCII title needs them.
#[derive(Debug, Clone)]
struct TitleMatcher {
    latin: String,
    /// Sorted by first byte.
    keys: Vec<LatinKey>,
    /// The keys starting with byte `b` are `keys[starts[b]..starts[b + 1]]`
    /// (keys are lower-case ASCII): a title word is compared with a few
    /// keywords, not all of them.
    starts: [u32; 129],
    other: std::sync::OnceLock<Vec<(u8, String)>>,
}

impl TitleMatcher {
    fn new(cfg: &Config) -> Self {
        let mut latin = String::with_capacity(512);
        let mut keys = Vec::with_capacity(64);
        for (tier, list) in keyword_lists(cfg).into_iter().enumerate() {
            // Separators around a Latin keyword are skipped anyway; only a
            // keyword that is not ASCII needs trimming (of, say, an
            // ideographic space) to tell whether it is Latin.
            for k in list.iter().map(|k| k.as_ref()).filter_map(latin_keyword) {
                let start = latin.len();
                push_lower_words(&mut latin, k);
                if latin.len() > start {
                    keys.push(LatinKey {
                        tier: tier as u8,
                        first: latin.as_bytes()[start],
                        span: start..latin.len(),
                    });
                }
            }
        }
        // Within a bucket the order does not matter (the lowest tier wins).
        keys.sort_unstable_by_key(|k| k.first);
        let mut starts = [0u32; 129];
        for k in &keys {
            starts[usize::from(k.first & 0x7f) + 1] += 1;
        }
        for b in 1..starts.len() {
            starts[b] += starts[b - 1];
        }
        TitleMatcher {
            latin,
            keys,
            starts,
            other: std::sync::OnceLock::new(),
        }
    }

    /// The first tier (in [`TIERS`] order) with a keyword in `title`.
    fn tier(&self, cfg: &Config, title: &str) -> Option<Tier> {
        let mut best = u8::MAX;
        let mut words = String::with_capacity(title.len());
        push_lower_words(&mut words, title);
        let w = words.as_bytes();
        // Each word start: the keywords starting with its first byte, as
        // whole words.
        let mut at = 0;
        while at < w.len() {
            let b = usize::from(w[at] & 0x7f);
            let bucket = self.starts[b] as usize..self.starts[b + 1] as usize;
            for k in self.keys.get(bucket).unwrap_or_default() {
                if k.tier >= best {
                    continue;
                }
                let phrase = &self.latin.as_bytes()[k.span.clone()];
                let end = at + phrase.len();
                if w[at..].starts_with(phrase) && (end == w.len() || w[end] == b' ') {
                    best = k.tier;
                }
            }
            at = w[at..]
                .iter()
                .position(|&b| b == b' ')
                .map_or(w.len(), |p| at + p + 1);
        }
        // A keyword in another script cannot occur in an ASCII title.
        if !title.is_ascii() && best > 0 {
            let lower = lower_case(title);
            let other = self.other.get_or_init(|| {
                let mut other = vec![];
                for (tier, list) in keyword_lists(cfg).into_iter().enumerate() {
                    for k in list.iter().map(|k| k.trim()).filter(|k| !k.is_ascii()) {
                        other.push((tier as u8, lower_case(k)));
                    }
                }
                other
            });
            for (tier, text) in other {
                // Titles and keywords are a few characters: a plain scan
                // beats setting up `str::contains`'s searcher.
                if *tier < best
                    && lower
                        .as_bytes()
                        .windows(text.len())
                        .any(|w| w == text.as_bytes())
                {
                    best = *tier;
                }
            }
        }
        TIERS.get(usize::from(best)).copied()
    }
}

/// `s` lower-cased, as `str::to_lowercase` would. Chinese and Japanese text
/// (U+3040..=U+9FFF: kana, bopomofo, enclosed and compatibility CJK,
/// ideographs) has no case, so a string of those and ASCII only needs its
/// ASCII lower-cased, which skips a Unicode table lookup per character (a
/// test checks the whole range).
fn lower_case(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii() || CASELESS_CJK.contains(&c)) {
        s.to_ascii_lowercase()
    } else {
        s.to_lowercase()
    }
}

/// Characters without case: kana through the unified ideographs.
const CASELESS_CJK: std::ops::RangeInclusive<char> = '\u{3040}'..='\u{9FFF}';

/// `keyword` if it is in Latin script (ASCII once trimmed).
fn latin_keyword(keyword: &str) -> Option<&str> {
    if keyword.is_ascii() {
        Some(keyword)
    } else {
        Some(keyword.trim()).filter(|k| k.is_ascii())
    }
}

/// Append the lower-cased runs of ASCII letters and digits of `s`, joined by
/// single spaces: "VP, Sales (APAC)" -> "vp sales apac". Every other byte
/// (punctuation, spaces, each byte of a non-ASCII character) separates
/// words. A byte loop: this runs for every keyword of every call.
fn push_lower_words(out: &mut String, s: &str) {
    let start = out.len();
    out.reserve(s.len());
    let mut gap = false;
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() {
            if gap && out.len() > start {
                out.push(' ');
            }
            gap = false;
            out.push(char::from(b.to_ascii_lowercase()));
        } else {
            gap = true;
        }
    }
}

/// An empty reason with room for `len` bytes and its points.
fn reason(len: usize) -> String {
    String::with_capacity(len + 8)
}

/// `text` followed by the signed points: "company has 500 employees (+12)".
/// Reasons are built by hand rather than with `format!`: they are made for
/// every record of every batch, and the formatting machinery is a large
/// share of that work in wasm.
fn with_points(mut text: String, points: i64) -> String {
    text.push_str(" (");
    push_int(&mut text, points, true);
    text.push(')');
    text
}

/// The decimal digits of `v`: `buf[start..]`, most significant first.
fn decimal(mut v: u64) -> ([u8; 20], usize) {
    let mut buf = [0u8; 20];
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    (buf, start)
}

/// Append `n` in decimal, with a `+` for non-negative numbers if `plus`.
fn push_int(out: &mut String, n: i64, plus: bool) {
    if n < 0 {
        out.push('-');
    } else if plus {
        out.push('+');
    }
    let (buf, start) = decimal(n.unsigned_abs());
    for &d in &buf[start..] {
        out.push(char::from(d));
    }
}

/// 1.0, 0.6 or 0.3 when `value` reaches the first, second or third threshold.
fn band_at_least(value: f64, [full, most, some]: [f64; 3]) -> f64 {
    if value >= full {
        1.0
    } else if value >= most {
        0.6
    } else if value >= some {
        0.3
    } else {
        0.0
    }
}

/// 1.0, 0.6 or 0.3 when `value` is at most the first, second or third threshold.
fn band_at_most(value: i64, [full, most, some]: [i64; 3]) -> f64 {
    if value <= full {
        1.0
    } else if value <= most {
        0.6
    } else if value <= some {
        0.3
    } else {
        0.0
    }
}

fn points(weight: i64, fraction: f64) -> i64 {
    // Weights are small integers: the product is exact enough and in range.
    (weight as f64 * fraction).round() as i64
}

/// Append `value` as money: `1234567.5` -> "1,234,567.50"; whole amounts
/// without decimals.
fn push_amount(out: &mut String, value: f64) {
    // Integer formatting (cents) is exact for any amount a deal can hold and
    // much cheaper than float formatting; beyond 2^53 cents fall back.
    let cents = (value * 100.0).round();
    if !cents.is_finite() || cents.abs() >= 9.007_199_254_740_992e15 {
        out.push_str(&format!("{value:.2}"));
        return;
    }
    let cents = cents as i64;
    if cents < 0 {
        out.push('-');
    }
    let cents = cents.unsigned_abs();
    let (buf, start) = decimal(cents / 100);
    let digits = &buf[start..];
    for (i, &d) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(char::from(d));
    }
    if !cents.is_multiple_of(100) {
        let c = (cents % 100) as u8;
        out.push('.');
        out.push(char::from(b'0' + c / 10));
        out.push(char::from(b'0' + c % 10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(value: f64) -> String {
        let mut s = String::new();
        push_amount(&mut s, value);
        s
    }

    #[test]
    fn amounts_are_grouped() {
        assert_eq!(amount(0.0), "0");
        assert_eq!(amount(999.0), "999");
        assert_eq!(amount(1000.0), "1,000");
        assert_eq!(amount(200_000.0), "200,000");
        assert_eq!(amount(1_234_567.5), "1,234,567.50");
        assert_eq!(amount(-5_000.0), "-5,000");
        assert_eq!(amount(0.05), "0.05");
        assert_eq!(amount(1e20), "100000000000000000000.00");
    }

    #[test]
    fn latin_keywords_match_whole_words_only() {
        let cfg = Config::default();
        // "cto" is inside "director", "vp" inside "mvp", "gm" inside "pigment".
        assert_eq!(title_tier(&cfg, "Director"), Some(Tier::Director));
        assert_eq!(title_tier(&cfg, "MVP Engineer"), None);
        assert_eq!(title_tier(&cfg, "Pigment chemist"), None);
        assert_eq!(
            title_tier(&cfg, "Vice President, Sales"),
            Some(Tier::Senior)
        );
        assert_eq!(title_tier(&cfg, "Managing Director"), Some(Tier::Senior));
        assert_eq!(title_tier(&cfg, "sales MANAGER"), Some(Tier::Manager));
    }

    #[test]
    fn multi_word_keywords_match_consecutive_words() {
        let cfg = Config::default();
        assert_eq!(title_tier(&cfg, "VICE-PRESIDENT"), Some(Tier::Senior));
        assert_eq!(
            title_tier(&cfg, "Vice Chair, President"),
            Some(Tier::Senior)
        );
        assert_eq!(title_tier(&cfg, "Vice chair"), None);
        assert_eq!(title_tier(&cfg, "Co-Founder"), Some(Tier::Senior));
        assert_eq!(title_tier(&cfg, "co founder"), Some(Tier::Senior));
        // A phrase cut short by the end of the title does not match.
        assert_eq!(title_tier(&cfg, "General"), None);
        assert_eq!(title_tier(&cfg, "  "), None);
        // The earliest tier wins wherever its keyword is.
        assert_eq!(title_tier(&cfg, "CEO's assistant"), Some(Tier::Junior));
        assert_eq!(title_tier(&cfg, "Lead Director"), Some(Tier::Director));
        let custom = Config {
            title_manager: vec!["  Team   LEAD ".into(), "!!".into()],
            ..Config::default()
        };
        assert_eq!(title_tier(&custom, "team lead, EMEA"), Some(Tier::Manager));
        assert_eq!(title_tier(&custom, "lead"), None);
    }

    #[test]
    fn chinese_titles_use_the_highest_tier_they_contain() {
        let cfg = Config::default();
        assert_eq!(title_tier(&cfg, "总经理"), Some(Tier::Senior)); // contains 经理 too
        assert_eq!(title_tier(&cfg, "副总经理"), Some(Tier::Senior));
        assert_eq!(title_tier(&cfg, "市场部经理"), Some(Tier::Manager));
        assert_eq!(title_tier(&cfg, "总经理助理"), Some(Tier::Junior));
        assert_eq!(title_tier(&cfg, "CEO助理"), Some(Tier::Junior));
    }

    #[test]
    fn reasons_are_joined_with_signed_points() {
        assert_eq!(
            with_points("company has 500 employees".into(), 12),
            "company has 500 employees (+12)"
        );
        assert_eq!(with_points("x".into(), 0), "x (+0)");
        assert_eq!(with_points("x".into(), -7), "x (-7)");
        let mut s = String::new();
        push_int(&mut s, i64::MIN, false);
        assert_eq!(s, i64::MIN.to_string());
    }

    #[test]
    fn cjk_characters_have_no_case() {
        for c in CASELESS_CJK {
            assert!(c.to_lowercase().eq([c]), "{c:?} has a lower case");
        }
        assert_eq!(lower_case("销售VP"), "销售vp");
        assert_eq!(lower_case("ÉQUIPE Président"), "équipe président");
    }

    #[test]
    fn bands() {
        assert_eq!(band_at_least(1000.0, [1000.0, 200.0, 50.0]), 1.0);
        assert_eq!(band_at_least(999.0, [1000.0, 200.0, 50.0]), 0.6);
        assert_eq!(band_at_least(50.0, [1000.0, 200.0, 50.0]), 0.3);
        assert_eq!(band_at_least(49.0, [1000.0, 200.0, 50.0]), 0.0);
        assert_eq!(band_at_most(7, [7, 30, 90]), 1.0);
        assert_eq!(band_at_most(91, [7, 30, 90]), 0.0);
    }
}
