//! One score of one record.

/// One score of one record: a value from 0 to 100, an optional grade and the
/// reasons behind it, most important first. A plugin may return several
/// scores per record under different names; the host stores one per
/// (record, plugin, name).
///
/// ```
/// use crm_plugin_sdk::Score;
///
/// let s = Score::new("lead", 84)
///     .with_grade("A")
///     .with_reason("title 'VP Sales' is senior (+25)");
/// assert_eq!(s.grade.as_deref(), Some("A"));
/// assert_eq!(s.reasons.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Score {
    /// Name of the score, e.g. `lead`.
    pub name: String,
    /// 0..=100.
    pub value: u8,
    /// Optional grade, e.g. `A`.
    pub grade: Option<String>,
    /// Human-readable reasons, most important first.
    pub reasons: Vec<String>,
}

impl Score {
    /// A score named `name`; `value` is clamped to 100.
    ///
    /// ```
    /// assert_eq!(crm_plugin_sdk::Score::new("health", 250).value, 100);
    /// ```
    pub fn new(name: impl Into<String>, value: u8) -> Self {
        Self {
            name: name.into(),
            value: value.min(100),
            grade: None,
            reasons: Vec::new(),
        }
    }

    /// A score from a points total of any size, clamped to 0..=100.
    ///
    /// ```
    /// use crm_plugin_sdk::Score;
    /// assert_eq!(Score::from_points("lead", -5).value, 0);
    /// assert_eq!(Score::from_points("lead", 140).value, 100);
    /// assert_eq!(Score::from_points("lead", 42).value, 42);
    /// ```
    pub fn from_points(name: impl Into<String>, points: i64) -> Self {
        // The clamp makes the conversion lossless.
        Self::new(name, points.clamp(0, 100) as u8)
    }

    /// This score with a grade.
    ///
    /// ```
    /// let s = crm_plugin_sdk::Score::new("lead", 30).with_grade("C");
    /// assert_eq!(s.grade.as_deref(), Some("C"));
    /// ```
    pub fn with_grade(mut self, grade: impl Into<String>) -> Self {
        self.grade = Some(grade.into());
        self
    }

    /// This score with one more reason (after the existing ones).
    ///
    /// ```
    /// let s = crm_plugin_sdk::Score::new("lead", 10).with_reason("a").with_reason("b");
    /// assert_eq!(s.reasons, ["a", "b"]);
    /// ```
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reasons.push(reason.into());
        self
    }

    /// This score with more reasons (after the existing ones).
    ///
    /// ```
    /// let s = crm_plugin_sdk::Score::new("lead", 10).with_reasons(["a", "b"]);
    /// assert_eq!(s.reasons.len(), 2);
    /// ```
    pub fn with_reasons<I, S>(mut self, reasons: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.reasons.extend(reasons.into_iter().map(Into::into));
        self
    }
}
