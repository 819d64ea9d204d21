//! Names: duplicate-detection keys for people and companies, and tidy capitalisation.
//!
//! ```
//! use crm_normalize::name::{companies_match, company_key, person_key, tidy_person_name};
//!
//! assert_eq!(person_key("José", "Núñez"), person_key("NUNEZ", "jose"));
//! assert_eq!(company_key("深圳市腾讯计算机系统有限公司"), "深圳市腾讯计算机系统");
//! assert!(companies_match("acme electronics", "acme electronics foshan"));
//! assert_eq!(tidy_person_name("MARY-JANE"), "Mary-Jane");
//! ```

/// Key for duplicate detection of people.
///
/// Both parts are lower-cased, accents of Latin letters folded (`é` → `e`, `ß` → `ss`, `ø` → `o`,
/// Vietnamese and pinyin tone marks removed), apostrophes dropped (`O'Neil` = `ONeil`), every other
/// punctuation mark or run of whitespace made a single separator, and the resulting words sorted,
/// so `"Li Wei"` and `"Wei Li"` give the same key. Chinese characters and Hangul syllables are words
/// of their own, so a name written in one field (`"张伟"`) equals the same name split into family
/// and given name (`"伟"`, `"张"`).
///
/// ```
/// use crm_normalize::name::person_key;
///
/// assert_eq!(person_key("Li", "Wei"), "li wei");
/// assert_eq!(person_key("Wei", "Li"), "li wei");
/// assert_eq!(person_key(" Zoë ", "O'Brien-Smith"), "obrien smith zoe");
/// assert_eq!(person_key("伟", "张"), person_key("", "张伟"));
/// ```
pub fn person_key(first: &str, last: &str) -> String {
    let mut words = Words::with_capacity(first.len() + last.len());
    for part in [first, last] {
        for c in part.chars().flat_map(char::to_lowercase) {
            if is_combining_mark(c) || is_apostrophe(c) {
                continue;
            }
            if is_han_or_hangul(c) {
                words.end_word();
                words.push(c);
                words.end_word();
            } else if c.is_alphanumeric() {
                words.push_folded(c);
            } else {
                words.end_word();
            }
        }
        words.end_word();
    }
    words.sorted_key()
}

/// Key for duplicate detection of companies.
///
/// Lower-cased, accents folded, full stops and apostrophes removed (`A.C.M.E.` = `ACME`,
/// `Co.,Ltd.` = `Co Ltd`), every other punctuation mark made a word separator, and legal-form
/// words dropped from the end as long as something else remains: `inc`, `incorporated`, `ltd`,
/// `limited`, `llc`, `llp`, `gmbh`, `co`, `company`, `corp`, `corporation`, `plc`, `sa`, `ag`,
/// `bv`, `nv`, `pty`, `pte`, `pvt`, `srl`, `spa`, ..., `sa de cv`; Chinese `股份有限公司`,
/// `有限责任公司`, `有限公司`, `公司` and `集团` are dropped from the end of the last word. A leading
/// `the` is dropped too. Whitespace is collapsed to single spaces.
///
/// ```
/// use crm_normalize::name::company_key;
///
/// assert_eq!(company_key("Acme Electronics Co., Ltd."), "acme electronics");
/// assert_eq!(company_key("ACME ELECTRONICS (FOSHAN) CO.,LTD"), "acme electronics foshan");
/// assert_eq!(company_key("The Müller GmbH & Co. KG"), "muller");
/// assert_eq!(company_key("华为技术有限公司"), "华为技术");
/// ```
pub fn company_key(name: &str) -> String {
    let mut words = Words::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        if is_combining_mark(c) || is_apostrophe(c) || c == '.' {
            continue;
        }
        if c.is_alphanumeric() {
            words.push_folded(c);
        } else {
            words.end_word();
        }
    }
    words.end_word();

    let mut tokens: Vec<&str> = words.iter().collect();
    loop {
        let before = tokens.len();
        // Chinese legal forms are written without spaces: trim them off the last word.
        if let Some(last) = tokens.last_mut() {
            let word: &str = last;
            if let Some(rest) = CN_SUFFIXES.iter().find_map(|s| word.strip_suffix(s))
                && !rest.is_empty()
            {
                *last = rest;
                continue;
            }
        }
        if tokens.len() > 1 {
            let last = tokens[tokens.len() - 1];
            if CN_SUFFIXES.contains(&last) || LEGAL_SUFFIXES.contains(&last) {
                tokens.pop();
            } else if let Some(phrase) = LEGAL_PHRASES
                .iter()
                .find(|p| p.len() < tokens.len() && tokens.ends_with(p))
            {
                tokens.truncate(tokens.len() - phrase.len());
            }
        }
        if tokens.len() == before {
            break;
        }
    }
    if tokens.len() > 1 && tokens[0] == "the" {
        tokens.remove(0);
    }
    tokens.join(" ")
}

/// Single words that name a legal form (compared after lower-casing and removing full stops).
static LEGAL_SUFFIXES: &[&str] = &[
    "inc",
    "incorporated",
    "ltd",
    "ltda",
    "limited",
    "llc",
    "llp",
    "lp",
    "plc",
    "co",
    "coltd",
    "company",
    "corp",
    "corporation",
    "gmbh",
    "ag",
    "kg",
    "se",
    "sa",
    "sas",
    "sarl",
    "srl",
    "spa",
    "sl",
    "slu",
    "bv",
    "nv",
    "ab",
    "as",
    "asa",
    "oy",
    "oyj",
    "aps",
    "sro",
    "pty",
    "pte",
    "pvt",
    "private",
    "kk",
];

/// Multi-word legal forms, e.g. Mexican "S.A. de C.V." and "S. de R.L.".
static LEGAL_PHRASES: &[&[&str]] = &[&["de", "cv"], &["s", "de", "rl"], &["de", "rl"]];

/// Chinese legal forms, longest first.
static CN_SUFFIXES: &[&str] = &["股份有限公司", "有限责任公司", "有限公司", "公司", "集团"];

/// True when two company keys (from [`company_key`]) are likely the same customer.
///
/// That is when they are equal (and not empty), or when the words of one are the first words of
/// the other, i.e. the longer one only adds trailing location or branch words
/// (`"acme electronics"` vs `"acme electronics foshan"`), and the shorter key has at least two
/// words or at least six characters (so `"acme"` alone does not match `"acme tools"`).
///
/// ```
/// use crm_normalize::name::companies_match;
///
/// assert!(companies_match("acme electronics", "acme electronics foshan"));
/// assert!(companies_match("acme electronics foshan", "acme electronics"));
/// assert!(companies_match("siemens", "siemens shanghai"));
/// assert!(!companies_match("acme", "acme tools"));
/// assert!(!companies_match("acme electronics", "acme tools"));
/// ```
pub fn companies_match(a_key: &str, b_key: &str) -> bool {
    let mut a = a_key.split_whitespace();
    let mut b = b_key.split_whitespace();
    let mut common_words = 0usize;
    let mut common_chars = 0usize;
    loop {
        match (a.next(), b.next()) {
            (Some(x), Some(y)) if x == y => {
                if common_words > 0 {
                    common_chars += 1; // the separating space
                }
                common_words += 1;
                common_chars += x.chars().count();
            }
            (Some(_), Some(_)) => return false,
            (None, None) => return common_words > 0,
            (Some(_), None) | (None, Some(_)) => {
                return common_words >= 2 || common_chars >= 6;
            }
        }
    }
}

/// Title-case a person's name part written all in lower or all in upper case.
///
/// Every word starts with a capital, words being separated by spaces, hyphens, apostrophes and
/// full stops (`"JOHN"` → `"John"`, `"o'neil"` → `"O'Neil"`, `"mary-jane"` → `"Mary-Jane"`);
/// `Mc` prefixes get a capital after them (`"MCDONALD"` → `"McDonald"`). Input that already mixes
/// cases (`"McDonald"`, `"van der Berg"`) or contains non-Latin letters (`"张伟"`, `"Иван"`) keeps
/// its letters unchanged. Surrounding whitespace is always trimmed and inner runs collapsed.
///
/// ```
/// use crm_normalize::name::tidy_person_name;
///
/// assert_eq!(tidy_person_name("JOHN"), "John");
/// assert_eq!(tidy_person_name("o'neil"), "O'Neil");
/// assert_eq!(tidy_person_name("mary-jane"), "Mary-Jane");
/// assert_eq!(tidy_person_name("ÉLODIE"), "Élodie");
/// assert_eq!(tidy_person_name("DeVito"), "DeVito");
/// assert_eq!(tidy_person_name("张伟"), "张伟");
/// ```
pub fn tidy_person_name(s: &str) -> String {
    let collapsed = {
        let mut out = String::with_capacity(s.len());
        for word in s.split_whitespace() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
        out
    };
    let mut has_lower = false;
    let mut has_upper = false;
    for c in collapsed.chars() {
        if c.is_alphabetic() && !is_latin_letter(c) {
            return collapsed;
        }
        has_lower |= c.is_lowercase();
        has_upper |= c.is_uppercase();
    }
    if has_lower == has_upper {
        // Mixed case (deliberate capitalisation) or no cased letters at all.
        return collapsed;
    }

    let chars: Vec<char> = collapsed.chars().collect();
    let mut out = String::with_capacity(collapsed.len());
    let mut letters_in_word = 0usize;
    for (i, &c) in chars.iter().enumerate() {
        if is_combining_mark(c) {
            out.push(c);
        } else if c.is_alphabetic() {
            let capital = letters_in_word == 0 || (letters_in_word == 2 && after_mc(&chars, i));
            if capital {
                out.extend(c.to_uppercase());
            } else {
                out.extend(c.to_lowercase());
            }
            letters_in_word += 1;
        } else {
            out.push(c);
            letters_in_word = 0;
        }
    }
    out
}

/// True when `chars[i]` is the third letter of a word starting with "Mc" and at least one more
/// letter follows it ("mcdonald" → "McDonald", but "mcx" stays "Mcx").
fn after_mc(chars: &[char], i: usize) -> bool {
    i >= 2
        && chars[i - 2].eq_ignore_ascii_case(&'m')
        && chars[i - 1].eq_ignore_ascii_case(&'c')
        && chars.get(i + 1).is_some_and(|c| c.is_alphabetic())
}

/// Words collected into one buffer (no allocation per word).
struct Words {
    buf: String,
    /// Byte ranges of finished words in `buf`.
    spans: Vec<(usize, usize)>,
    /// Start of the word being built.
    start: usize,
}

impl Words {
    fn with_capacity(capacity: usize) -> Self {
        Words {
            buf: String::with_capacity(capacity),
            spans: Vec::new(),
            start: 0,
        }
    }

    fn push(&mut self, c: char) {
        self.buf.push(c);
    }

    fn push_folded(&mut self, c: char) {
        match fold_latin(c) {
            Some(folded) => self.buf.push_str(folded),
            None => self.buf.push(c),
        }
    }

    fn end_word(&mut self) {
        if self.buf.len() > self.start {
            self.spans.push((self.start, self.buf.len()));
            self.start = self.buf.len();
        }
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        self.spans.iter().map(|&(s, e)| &self.buf[s..e])
    }

    fn sorted_key(&self) -> String {
        let mut words: Vec<&str> = self.iter().collect();
        words.sort_unstable();
        words.join(" ")
    }
}

fn is_apostrophe(c: char) -> bool {
    matches!(
        c,
        '\'' | '\u{2018}' | '\u{2019}' | '\u{02BC}' | '`' | '\u{00B4}'
    )
}

fn is_combining_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}')
}

/// Han ideographs and Hangul syllables: one character is one name word.
fn is_han_or_hangul(c: char) -> bool {
    matches!(c,
        '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{3134F}'
        | '\u{AC00}'..='\u{D7A3}')
}

/// Letters of the Latin script (Basic Latin, Latin-1 Supplement, Extended-A/B, Extended Additional).
fn is_latin_letter(c: char) -> bool {
    c.is_ascii_alphabetic()
        || (matches!(c, '\u{00C0}'..='\u{024F}' | '\u{1E00}'..='\u{1EFF}') && c.is_alphabetic())
}

/// ASCII spelling of a lower-case accented Latin letter, or `None` when `c` needs no folding.
fn fold_latin(c: char) -> Option<&'static str> {
    if c.is_ascii() {
        return None;
    }
    Some(match c {
        // Latin-1 Supplement
        'à'..='å' => "a",
        'æ' => "ae",
        'ç' => "c",
        'è'..='ë' => "e",
        'ì'..='ï' => "i",
        'ð' => "d",
        'ñ' => "n",
        'ò'..='ö' | 'ø' => "o",
        'ù'..='ü' => "u",
        'ý' | 'ÿ' => "y",
        'þ' => "th",
        'ß' => "ss",
        // Latin Extended-A (upper- and lower-case forms alternate inside each range)
        '\u{0100}'..='\u{0105}' => "a",
        '\u{0106}'..='\u{010D}' => "c",
        '\u{010E}'..='\u{0111}' => "d",
        '\u{0112}'..='\u{011B}' => "e",
        '\u{011C}'..='\u{0123}' => "g",
        '\u{0124}'..='\u{0127}' => "h",
        '\u{0128}'..='\u{0131}' => "i",
        '\u{0132}'..='\u{0133}' => "ij",
        '\u{0134}'..='\u{0135}' => "j",
        '\u{0136}'..='\u{0138}' => "k",
        '\u{0139}'..='\u{0142}' => "l",
        '\u{0143}'..='\u{014B}' => "n",
        '\u{014C}'..='\u{0151}' => "o",
        '\u{0152}'..='\u{0153}' => "oe",
        '\u{0154}'..='\u{0159}' => "r",
        '\u{015A}'..='\u{0161}' | '\u{017F}' => "s",
        '\u{0162}'..='\u{0167}' => "t",
        '\u{0168}'..='\u{0173}' => "u",
        '\u{0174}'..='\u{0175}' => "w",
        '\u{0176}'..='\u{0178}' => "y",
        '\u{0179}'..='\u{017E}' => "z",
        // Latin Extended-B: Vietnamese horn letters, pinyin tone marks, Romanian comma letters
        '\u{01A0}'..='\u{01A1}' => "o",
        '\u{01AF}'..='\u{01B0}' => "u",
        '\u{01CD}'..='\u{01CE}' => "a",
        '\u{01CF}'..='\u{01D0}' => "i",
        '\u{01D1}'..='\u{01D2}' => "o",
        '\u{01D3}'..='\u{01DC}' => "u",
        '\u{0218}'..='\u{0219}' => "s",
        '\u{021A}'..='\u{021B}' => "t",
        // Latin Extended Additional: Vietnamese vowels with tone marks
        '\u{1E9E}' => "ss",
        '\u{1EA0}'..='\u{1EB7}' => "a",
        '\u{1EB8}'..='\u{1EC7}' => "e",
        '\u{1EC8}'..='\u{1ECB}' => "i",
        '\u{1ECC}'..='\u{1EE3}' => "o",
        '\u{1EE4}'..='\u{1EF1}' => "u",
        '\u{1EF2}'..='\u{1EF9}' => "y",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // --- person_key -------------------------------------------------------------------------

    #[test]
    fn person_key_sorts_first_and_last_name() {
        assert_eq!(person_key("Li", "Wei"), "li wei");
        assert_eq!(person_key("Li", "Wei"), person_key("Wei", "Li"));
        assert_eq!(person_key("Ada", "Lovelace"), "ada lovelace");
        assert_eq!(person_key("Lovelace", "Ada"), "ada lovelace");
        assert_eq!(person_key("Li Wei", ""), person_key("Wei", "Li"));
        assert_eq!(person_key("", "Wei Li"), person_key("Li", "Wei"));
    }

    #[test]
    fn person_key_lower_cases_and_collapses() {
        assert_eq!(person_key("  JOHN  ", "\tSMITH\n"), "john smith");
        assert_eq!(person_key("Mary   Ann", "Smith"), "ann mary smith");
        assert_eq!(
            person_key("Mary-Jane", "Smith"),
            person_key("mary jane", "SMITH")
        );
        assert_eq!(person_key("J.R.R.", "Tolkien"), "j r r tolkien");
        assert_eq!(person_key("Smith,", "John"), "john smith");
        assert_eq!(person_key("", ""), "");
        assert_eq!(person_key(" - ", " . "), "");
    }

    #[test]
    fn person_key_folds_accents() {
        assert_eq!(person_key("José", "Núñez"), "jose nunez");
        assert_eq!(person_key("Zoë", "Brontë"), "bronte zoe");
        assert_eq!(person_key("Jürgen", "Groß"), "gross jurgen");
        assert_eq!(person_key("Søren", "Kierkegaard"), "kierkegaard soren");
        assert_eq!(person_key("Łukasz", "Żółć"), "lukasz zolc");
        assert_eq!(person_key("François", "Lefèvre"), "francois lefevre");
        assert_eq!(person_key("Ægir", "Œuvre"), "aegir oeuvre");
        assert_eq!(person_key("Ștefan", "Țiriac"), "stefan tiriac");
        assert_eq!(person_key("Nguyễn", "Thị Ánh"), "anh nguyen thi");
        assert_eq!(person_key("Đặng", "Ưng"), "dang ung");
        assert_eq!(person_key("Lǚ", "Bù"), "bu lu");
        // Decomposed input (letter + combining accent) folds the same way.
        assert_eq!(person_key("Jose\u{301}", "Nun\u{303}ez"), "jose nunez");
    }

    #[test]
    fn person_key_ignores_apostrophes() {
        assert_eq!(person_key("Shaquille", "O'Neal"), "oneal shaquille");
        assert_eq!(
            person_key("Shaquille", "O\u{2019}Neal"),
            person_key("shaquille", "ONEAL")
        );
        assert_eq!(person_key("D`Angelo", "X"), "dangelo x");
    }

    #[test]
    fn person_key_splits_chinese_and_korean_characters() {
        assert_eq!(person_key("伟", "张"), "伟 张");
        assert_eq!(person_key("", "张伟"), person_key("伟", "张"));
        assert_eq!(person_key("张伟", ""), person_key("伟", "张"));
        assert_eq!(person_key("欧阳 明", ""), person_key("明", "欧阳"));
        assert_eq!(person_key("민수", "김"), person_key("", "김민수"));
        assert_eq!(person_key("约翰·史密斯", ""), person_key("约翰", "史密斯"));
    }

    #[test]
    fn person_key_keeps_other_scripts() {
        assert_eq!(person_key("Иван", "Петров"), "иван петров");
        assert_eq!(person_key("ПЕТРОВ", "иван"), "иван петров");
        assert_eq!(person_key("たなか", "ひろし"), "たなか ひろし");
    }

    // --- company_key ------------------------------------------------------------------------

    #[test]
    fn company_key_drops_legal_suffixes() {
        assert_eq!(
            company_key("Acme Electronics Co., Ltd."),
            "acme electronics"
        );
        assert_eq!(company_key("Acme Electronics Co.,Ltd."), "acme electronics");
        assert_eq!(company_key("Acme Electronics Co.Ltd"), "acme electronics");
        assert_eq!(company_key("Acme Electronics"), "acme electronics");
        assert_eq!(company_key("Acme, Inc."), "acme");
        assert_eq!(company_key("Acme Incorporated"), "acme");
        assert_eq!(company_key("Acme LLC"), "acme");
        assert_eq!(company_key("Acme L.L.C."), "acme");
        assert_eq!(company_key("Acme Ltd"), "acme");
        assert_eq!(company_key("Acme Limited"), "acme");
        assert_eq!(company_key("Acme GmbH"), "acme");
        assert_eq!(company_key("Acme GmbH & Co. KG"), "acme");
        assert_eq!(company_key("Acme Corp."), "acme");
        assert_eq!(company_key("Acme Corporation"), "acme");
        assert_eq!(company_key("Acme Company"), "acme");
        assert_eq!(company_key("Acme PLC"), "acme");
        assert_eq!(company_key("Acme S.A."), "acme");
        assert_eq!(company_key("Acme AG"), "acme");
        assert_eq!(company_key("Acme B.V."), "acme");
        assert_eq!(company_key("Acme Pty Ltd"), "acme");
        assert_eq!(company_key("Acme Pte. Ltd."), "acme");
        assert_eq!(company_key("Acme Private Limited"), "acme");
        assert_eq!(company_key("Acme S.A. de C.V."), "acme");
        assert_eq!(company_key("Acme S. de R.L."), "acme");
        assert_eq!(company_key("Acme S.p.A."), "acme");
    }

    #[test]
    fn company_key_removes_punctuation_and_collapses_whitespace() {
        assert_eq!(company_key("  ACME   Electronics  "), "acme electronics");
        assert_eq!(company_key("A.C.M.E. Tools"), "acme tools");
        assert_eq!(company_key("McDonald's Corporation"), "mcdonalds");
        assert_eq!(company_key("Johnson & Johnson"), "johnson johnson");
        assert_eq!(company_key("Coca-Cola Company"), "coca cola");
        assert_eq!(company_key("Acme (Foshan) Co., Ltd."), "acme foshan");
        assert_eq!(company_key("Société Générale S.A."), "societe generale");
        assert_eq!(company_key("The Home Depot, Inc."), "home depot");
    }

    #[test]
    fn company_key_drops_chinese_legal_suffixes() {
        assert_eq!(company_key("华为技术有限公司"), "华为技术");
        assert_eq!(company_key("阿里巴巴集团"), "阿里巴巴");
        assert_eq!(company_key("某某集团有限公司"), "某某");
        assert_eq!(company_key("某某科技股份有限公司"), "某某科技");
        assert_eq!(company_key("某某科技有限责任公司"), "某某科技");
        assert_eq!(company_key("某某贸易公司"), "某某贸易");
        assert_eq!(company_key("腾讯科技（深圳）有限公司"), "腾讯科技 深圳");
        assert_eq!(company_key("某某 有限公司"), "某某");
    }

    #[test]
    fn company_key_never_drops_everything() {
        assert_eq!(company_key("Limited"), "limited");
        assert_eq!(company_key("Co., Ltd."), "co");
        assert_eq!(company_key("有限公司"), "有限公司");
        assert_eq!(company_key("The"), "the");
        assert_eq!(company_key(""), "");
        assert_eq!(company_key(" ,. "), "");
    }

    #[test]
    fn company_key_keeps_suffix_words_in_the_middle() {
        assert_eq!(company_key("Co Op Bank"), "co op bank");
        assert_eq!(
            company_key("Limited Editions Books"),
            "limited editions books"
        );
    }

    // --- companies_match --------------------------------------------------------------------

    #[test]
    fn companies_match_equal_keys() {
        assert!(companies_match("acme electronics", "acme electronics"));
        assert!(companies_match("ibm", "ibm"));
        assert!(companies_match(" acme  electronics ", "acme electronics"));
        assert!(!companies_match("", ""));
        assert!(!companies_match("", "acme"));
    }

    #[test]
    fn companies_match_trailing_location_words() {
        assert!(companies_match(
            "acme electronics",
            "acme electronics foshan"
        ));
        assert!(companies_match(
            "acme electronics foshan",
            "acme electronics"
        ));
        assert!(companies_match(
            "acme electronics",
            "acme electronics foshan branch"
        ));
        // One long word is distinctive enough.
        assert!(companies_match("siemens", "siemens shanghai"));
        // Character counts apply to Chinese too: four characters are not enough on their own.
        assert!(!companies_match("腾讯科技", "腾讯科技 深圳"));
        assert!(companies_match(
            "深圳市腾讯计算机系统",
            "深圳市腾讯计算机系统 北京分部"
        ));
    }

    #[test]
    fn companies_match_rejects_short_or_different_prefixes() {
        assert!(!companies_match("acme", "acme tools"));
        assert!(!companies_match("ibm", "ibm china"));
        assert!(!companies_match("acme electronics", "acme tools"));
        assert!(!companies_match(
            "acme electronics foshan",
            "acme electronics shenzhen"
        ));
        assert!(!companies_match(
            "electronics foshan",
            "acme electronics foshan"
        ));
        assert!(!companies_match("acme elec", "acme electronics"));
    }

    #[test]
    fn company_keys_of_branches_match() {
        let hq = company_key("Acme Electronics Co., Ltd.");
        let branch = company_key("ACME ELECTRONICS FOSHAN");
        assert!(companies_match(&hq, &branch));
    }

    // --- tidy_person_name -------------------------------------------------------------------

    #[test]
    fn tidy_all_upper_or_lower() {
        assert_eq!(tidy_person_name("JOHN"), "John");
        assert_eq!(tidy_person_name("john"), "John");
        assert_eq!(tidy_person_name("o'neil"), "O'Neil");
        assert_eq!(tidy_person_name("O'NEIL"), "O'Neil");
        assert_eq!(tidy_person_name("o\u{2019}neil"), "O\u{2019}Neil");
        assert_eq!(tidy_person_name("mary-jane"), "Mary-Jane");
        assert_eq!(tidy_person_name("MARY JANE"), "Mary Jane");
        assert_eq!(tidy_person_name("j.r.r."), "J.R.R.");
        assert_eq!(tidy_person_name("d'angelo"), "D'Angelo");
        assert_eq!(tidy_person_name("van der berg"), "Van Der Berg");
    }

    #[test]
    fn tidy_accented_latin() {
        assert_eq!(tidy_person_name("ÉLODIE"), "Élodie");
        assert_eq!(tidy_person_name("josé"), "José");
        assert_eq!(tidy_person_name("ÅSA-LENA"), "Åsa-Lena");
        assert_eq!(tidy_person_name("NGUYỄN"), "Nguyễn");
        assert_eq!(tidy_person_name("łukasz"), "Łukasz");
        assert_eq!(tidy_person_name("strauß"), "Strauß");
    }

    #[test]
    fn tidy_mc_prefix() {
        assert_eq!(tidy_person_name("MCDONALD"), "McDonald");
        assert_eq!(tidy_person_name("mcdonald"), "McDonald");
        assert_eq!(tidy_person_name("mc"), "Mc");
        assert_eq!(tidy_person_name("mcx"), "Mcx");
        assert_eq!(tidy_person_name("mace"), "Mace");
    }

    #[test]
    fn tidy_leaves_mixed_case_alone() {
        assert_eq!(tidy_person_name("McDonald"), "McDonald");
        assert_eq!(tidy_person_name("DeVito"), "DeVito");
        assert_eq!(tidy_person_name("van der Berg"), "van der Berg");
        assert_eq!(tidy_person_name("John"), "John");
        assert_eq!(tidy_person_name("jOHN"), "jOHN");
    }

    #[test]
    fn tidy_leaves_non_latin_alone() {
        assert_eq!(tidy_person_name("张伟"), "张伟");
        assert_eq!(tidy_person_name("ИВАН"), "ИВАН");
        assert_eq!(tidy_person_name("иван"), "иван");
        assert_eq!(tidy_person_name("ΓΙΩΡΓΟΣ"), "ΓΙΩΡΓΟΣ");
        assert_eq!(tidy_person_name("JOHN 张"), "JOHN 张");
        assert_eq!(tidy_person_name("김민수"), "김민수");
    }

    #[test]
    fn tidy_whitespace() {
        assert_eq!(tidy_person_name("  JOHN   PAUL  "), "John Paul");
        assert_eq!(tidy_person_name("  McDonald "), "McDonald");
        assert_eq!(tidy_person_name(""), "");
        assert_eq!(tidy_person_name("   "), "");
        assert_eq!(tidy_person_name("123"), "123");
    }

    #[test]
    fn tidy_is_idempotent() {
        for s in ["JOHN", "o'neil", "mary-jane", "MCDONALD", "ÉLODIE", "张伟"] {
            let once = tidy_person_name(s);
            assert_eq!(tidy_person_name(&once), once);
        }
    }

    // --- helpers ----------------------------------------------------------------------------

    #[test]
    fn fold_latin_covers_both_cases_of_extended_a() {
        for c in '\u{0100}'..='\u{017F}' {
            let lower: String = c.to_lowercase().collect();
            let folded: String = lower
                .chars()
                .filter(|&c| !is_combining_mark(c))
                .map(|c| fold_latin(c).map_or_else(|| c.to_string(), str::to_owned))
                .collect();
            assert!(
                folded.bytes().all(|b| b.is_ascii_lowercase()),
                "{c} -> {folded}"
            );
        }
    }

    #[test]
    fn fold_latin_vietnamese_ranges() {
        assert_eq!(fold_latin('ạ'), Some("a"));
        assert_eq!(fold_latin('ặ'), Some("a"));
        assert_eq!(fold_latin('ẹ'), Some("e"));
        assert_eq!(fold_latin('ệ'), Some("e"));
        assert_eq!(fold_latin('ỉ'), Some("i"));
        assert_eq!(fold_latin('ị'), Some("i"));
        assert_eq!(fold_latin('ọ'), Some("o"));
        assert_eq!(fold_latin('ợ'), Some("o"));
        assert_eq!(fold_latin('ụ'), Some("u"));
        assert_eq!(fold_latin('ự'), Some("u"));
        assert_eq!(fold_latin('ỳ'), Some("y"));
        assert_eq!(fold_latin('ỹ'), Some("y"));
        assert_eq!(fold_latin('a'), None);
        assert_eq!(fold_latin('张'), None);
    }
}
