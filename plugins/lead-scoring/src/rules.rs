//! The scoring rules, as plain functions over typed records.

use crm_plugin_sdk::{Score, models::Contact};

use crate::Config;

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
        let mut hits: Vec<(i64, String)> = Vec::with_capacity(5);

        if let Some(title) = contact
            .title
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            && let Some(tier) = self.titles.tier(title)
        {
            let p = points(cfg.weight_title, tier.fraction());
            hits.push((p, reason(p, &["title '", title, "' is ", tier.label()])));
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
            let mut n = String::new();
            push_int(&mut n, employees, false);
            hits.push((p, reason(p, &["company has ", &n, " employees"])));
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
            let mut n = String::new();
            push_int(&mut n, days, false);
            let when: [&str; 2] = match days {
                0 => ["today", ""],
                1 => ["1 day ago", ""],
                _ => [&n, " days ago"],
            };
            let p = points(cfg.weight_recency, fraction);
            hits.push((p, reason(p, &["last activity ", when[0], when[1]])));
        }

        if let Some(count) = contact.recent_activity_count {
            let fraction = band_at_least(
                count as f64,
                [cfg.frequency_high, cfg.frequency_medium, cfg.frequency_low].map(|n| n as f64),
            );
            let noun = if count == 1 { "activity" } else { "activities" };
            let p = points(cfg.weight_frequency, fraction);
            let mut n = String::new();
            push_int(&mut n, count, false);
            hits.push((p, reason(p, &[&n, " ", noun, " in the last 90 days"])));
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
            hits.push((p, reason(p, &["open deals worth ", &amount(value)])));
        }

        hits.retain(|(p, _)| *p != 0);
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
    TitleMatcher::new(cfg).tier(title)
}

/// One title keyword, prepared.
#[derive(Debug, Clone)]
enum Keyword {
    /// Latin script: lower-case words that must appear consecutively.
    Words(Vec<String>),
    /// Other scripts: lower-case text that must appear anywhere.
    Text(String),
}

/// The tiers' keywords, junior first, prepared for matching many titles.
#[derive(Debug, Clone)]
struct TitleMatcher {
    tiers: Vec<(Tier, Vec<Keyword>)>,
}

impl TitleMatcher {
    fn new(cfg: &Config) -> Self {
        let prepare = |keywords: &[String]| {
            keywords
                .iter()
                .map(|k| k.trim())
                .filter_map(|k| {
                    if k.is_ascii() {
                        let words: Vec<String> =
                            ascii_words(k).map(str::to_ascii_lowercase).collect();
                        (!words.is_empty()).then_some(Keyword::Words(words))
                    } else {
                        Some(Keyword::Text(k.to_lowercase()))
                    }
                })
                .collect()
        };
        TitleMatcher {
            tiers: vec![
                (Tier::Junior, prepare(&cfg.title_junior)),
                (Tier::Senior, prepare(&cfg.title_senior)),
                (Tier::Director, prepare(&cfg.title_director)),
                (Tier::Manager, prepare(&cfg.title_manager)),
            ],
        }
    }

    fn tier(&self, title: &str) -> Option<Tier> {
        let words: Vec<&str> = ascii_words(title).collect();
        // A keyword in another script cannot occur in an ASCII title.
        let lower = (!title.is_ascii()).then(|| title.to_lowercase());
        let matches = |k: &Keyword| match k {
            Keyword::Words(phrase) => contains_phrase(&words, phrase),
            Keyword::Text(text) => lower.as_deref().is_some_and(|l| l.contains(text.as_str())),
        };
        self.tiers
            .iter()
            .find(|(_, keywords)| keywords.iter().any(matches))
            .map(|(tier, _)| *tier)
    }
}

/// Runs of ASCII letters and digits: "VP, Sales (APAC)" -> VP Sales APAC.
fn ascii_words(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// Whether the (lower-case) words of `phrase` appear consecutively in
/// `words`, ignoring ASCII case.
fn contains_phrase(words: &[&str], phrase: &[String]) -> bool {
    !phrase.is_empty()
        && words.windows(phrase.len()).any(|window| {
            window
                .iter()
                .zip(phrase)
                .all(|(w, p)| w.eq_ignore_ascii_case(p))
        })
}

/// `parts` joined, then the points: `["company has ", "500", " employees"]`
/// and 12 give "company has 500 employees (+12)". Built by hand rather than
/// with `format!`: reasons are made for every record of every batch, and
/// the formatting machinery is a large share of that work in wasm.
fn reason(points: i64, parts: &[&str]) -> String {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = String::with_capacity(len + 8);
    for p in parts {
        out.push_str(p);
    }
    out.push_str(" (");
    push_int(&mut out, points, true);
    out.push(')');
    out
}

/// Append `n` in decimal, with a `+` for non-negative numbers if `plus`.
fn push_int(out: &mut String, n: i64, plus: bool) {
    if n < 0 {
        out.push('-');
    } else if plus {
        out.push('+');
    }
    let mut v = n.unsigned_abs();
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    // ASCII digits: always valid UTF-8.
    out.push_str(std::str::from_utf8(&digits[i..]).unwrap_or_default());
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

/// `1234567.5` -> "1,234,567.50"; whole amounts without decimals.
fn amount(value: f64) -> String {
    // Integer formatting (cents) is exact for any amount a deal can hold and
    // much cheaper than float formatting; beyond 2^53 cents fall back.
    let cents = (value * 100.0).round();
    if !cents.is_finite() || cents.abs() >= 9.007_199_254_740_992e15 {
        return format!("{value:.2}");
    }
    let cents = cents as i64;
    let (sign, cents) = if cents < 0 {
        ("-", -cents)
    } else {
        ("", cents)
    };
    let mut int = String::with_capacity(20);
    push_int(&mut int, cents / 100, false);
    let mut grouped = String::with_capacity(int.len() + int.len() / 3 + 4);
    grouped.push_str(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if cents % 100 != 0 {
        let c = (cents % 100) as u8;
        grouped.push('.');
        grouped.push(char::from(b'0' + c / 10));
        grouped.push(char::from(b'0' + c % 10));
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_grouped() {
        assert_eq!(amount(0.0), "0");
        assert_eq!(amount(999.0), "999");
        assert_eq!(amount(200_000.0), "200,000");
        assert_eq!(amount(1_234_567.5), "1,234,567.50");
        assert_eq!(amount(-5_000.0), "-5,000");
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
            reason(12, &["company has ", "500", " employees"]),
            "company has 500 employees (+12)"
        );
        assert_eq!(reason(0, &["x"]), "x (+0)");
        assert_eq!(reason(-7, &["x"]), "x (-7)");
        let mut s = String::new();
        push_int(&mut s, i64::MIN, false);
        assert_eq!(s, i64::MIN.to_string());
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
