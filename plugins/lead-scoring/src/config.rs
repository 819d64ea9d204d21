//! The plugin's configuration: one field per `[config.*]` key of `plugin.toml`.

use std::borrow::Cow;

use serde::Deserialize;

/// A title keyword: the defaults are borrowed (building the default
/// configuration allocates no keyword), configured ones are owned.
pub type Keyword = Cow<'static, str>;

/// Settings of the lead score. Missing keys take the defaults below, which
/// are the manifest's defaults (a test keeps the two equal). The defaults
/// are built before every parse (serde's container default), so they
/// allocate nothing but four small vectors: a fresh instance parses the
/// configuration on every call, one record or many.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct Config {
    /// Minimum score for grade A.
    pub grade_a: i64,
    /// Minimum score for grade B; below it the grade is C.
    pub grade_b: i64,

    /// Points for a senior title.
    pub weight_title: i64,
    /// Points for a large company.
    pub weight_company_size: i64,
    /// Points for a recent last activity.
    pub weight_recency: i64,
    /// Points for many recent activities.
    pub weight_frequency: i64,
    /// Points for a large open deal value.
    pub weight_deal_value: i64,

    /// Keywords of junior titles: no title points.
    pub title_junior: Vec<Keyword>,
    /// Keywords of C-level, founder, owner and VP titles: full title points.
    pub title_senior: Vec<Keyword>,
    /// Keywords of director titles: 80% of the title points.
    pub title_director: Vec<Keyword>,
    /// Keywords of manager titles: 50% of the title points.
    pub title_manager: Vec<Keyword>,

    /// Employees from which a company is large (full points).
    pub company_size_large: i64,
    /// Employees from which a company is medium (60%).
    pub company_size_medium: i64,
    /// Employees from which a company is small (30%).
    pub company_size_small: i64,

    /// Days since the last activity for full points.
    pub recency_hot_days: i64,
    /// Days since the last activity for 60%.
    pub recency_warm_days: i64,
    /// Days since the last activity for 30%.
    pub recency_cool_days: i64,

    /// Activities in the last 90 days for full points.
    pub frequency_high: i64,
    /// Activities in the last 90 days for 60%.
    pub frequency_medium: i64,
    /// Activities in the last 90 days for 30%.
    pub frequency_low: i64,

    /// Open deal value for full points.
    pub deal_value_large: f64,
    /// Open deal value for 60%.
    pub deal_value_medium: f64,
    /// Open deal value for 30%.
    pub deal_value_small: f64,
}

fn words(list: &[&'static str]) -> Vec<Keyword> {
    list.iter().map(|s| Cow::Borrowed(*s)).collect()
}

impl Default for Config {
    fn default() -> Self {
        Self {
            grade_a: 70,
            grade_b: 40,
            weight_title: 25,
            weight_company_size: 20,
            weight_recency: 20,
            weight_frequency: 15,
            weight_deal_value: 20,
            title_junior: words(&[
                "assistant",
                "intern",
                "trainee",
                "student",
                "junior",
                "助理",
                "实习",
                "学生",
            ]),
            title_senior: words(&[
                "ceo",
                "cto",
                "cfo",
                "coo",
                "cmo",
                "cio",
                "cso",
                "cpo",
                "chief",
                "founder",
                "co-founder",
                "cofounder",
                "owner",
                "president",
                "vp",
                "svp",
                "evp",
                "vice president",
                "partner",
                "managing director",
                "general manager",
                "gm",
                "chairman",
                "董事长",
                "总经理",
                "总裁",
                "创始人",
                "首席",
                "合伙人",
                "老板",
                "副总",
                "董事",
                "厂长",
            ]),
            title_director: words(&["director", "head", "principal", "总监", "部长", "主任"]),
            title_manager: words(&[
                "manager",
                "lead",
                "supervisor",
                "经理",
                "主管",
                "负责人",
                "组长",
            ]),
            company_size_large: 1000,
            company_size_medium: 200,
            company_size_small: 50,
            recency_hot_days: 7,
            recency_warm_days: 30,
            recency_cool_days: 90,
            frequency_high: 10,
            frequency_medium: 4,
            frequency_low: 1,
            deal_value_large: 1_000_000.0,
            deal_value_medium: 100_000.0,
            deal_value_small: 10_000.0,
        }
    }
}
