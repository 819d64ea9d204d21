//! Calendar dates, just enough for birth dates and ages.

/// A valid Gregorian date; orders chronologically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    year: i32,
    month: u32,
    day: u32,
}

impl Date {
    /// Parse `YYYY-MM-DD`; the date part of an RFC 3339 timestamp works too.
    ///
    /// ```
    /// use data_quality::Date;
    ///
    /// assert!(Date::parse("2008-02-29").is_some());
    /// assert!(Date::parse("2026-11-23T10:00:00Z").is_some());
    /// assert!(Date::parse("2007-02-29").is_none());
    /// assert!(Date::parse("23/11/2026").is_none());
    /// ```
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let s = s
            .get(..10)
            .filter(|_| s.len() == 10 || s[10..].starts_with(['T', ' ']))?;
        let bytes = s.as_bytes();
        if bytes[4] != b'-' || bytes[7] != b'-' {
            return None;
        }
        let number = |range: std::ops::Range<usize>| -> Option<u32> {
            let part = &s[range];
            part.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| part.parse().ok())?
        };
        let year = i32::try_from(number(0..4)?).ok()?;
        let (month, day) = (number(5..7)?, number(8..10)?);
        let date = Self { year, month, day };
        ((1..=12).contains(&month) && (1..=date.days_in_month()).contains(&day)).then_some(date)
    }

    fn days_in_month(self) -> u32 {
        match self.month {
            4 | 6 | 9 | 11 => 30,
            2 if self.year % 4 == 0 && (self.year % 100 != 0 || self.year % 400 == 0) => 29,
            2 => 28,
            _ => 31,
        }
    }

    /// Whole years from `self` (a birth date) to `on`.
    ///
    /// ```
    /// use data_quality::Date;
    ///
    /// let birth = Date::parse("2010-06-15").unwrap();
    /// assert_eq!(birth.age_on(Date::parse("2026-06-14").unwrap()), 15);
    /// assert_eq!(birth.age_on(Date::parse("2026-06-15").unwrap()), 16);
    /// ```
    pub fn age_on(self, on: Date) -> i64 {
        let years = i64::from(on.year) - i64::from(self.year);
        if (on.month, on.day) < (self.month, self.day) {
            years - 1
        } else {
            years
        }
    }
}
