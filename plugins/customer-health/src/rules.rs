//! The health rules, as a pure function over the facts of one company.

use serde::Deserialize;

use crate::Config;

/// Name of the score this plugin stores (`scores { name }` on a company).
pub const SCORE_NAME: &str = "health";

/// What the health of a company is computed from: the `company` fields of
/// the query in [`crate::crm::COMPANY`].
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Facts {
    /// Days since the last activity with the company; `None`: never.
    pub last_activity_days_ago: Option<i64>,
    /// Tickets not yet resolved or closed.
    #[serde(deserialize_with = "null_as_zero")]
    pub open_tickets_count: i64,
    /// Tickets that breached their SLA in the last 90 days.
    #[serde(deserialize_with = "null_as_zero")]
    pub sla_breaches_count: i64,
    /// Orders in the last 90 days.
    #[serde(deserialize_with = "null_as_zero")]
    pub orders_count: i64,
    /// Their total value.
    #[serde(deserialize_with = "null_as_zero_f64")]
    pub orders_value: f64,
}

/// The health of a company, 1..=100, and the reasons behind it: every rule
/// with the points it gave, the rules that cost the most points first.
///
/// ```
/// use customer_health::{health, Config, Facts};
///
/// let facts = Facts {
///     last_activity_days_ago: Some(3),
///     open_tickets_count: 0,
///     sla_breaches_count: 0,
///     orders_count: 4,
///     orders_value: 20_000.0,
/// };
/// let (value, reasons) = health(&Config::default(), &facts);
/// assert_eq!(value, 100);
/// assert_eq!(reasons[0], "last activity 3 days ago (+30 of 30)");
/// ```
pub fn health(cfg: &Config, facts: &Facts) -> (u8, Vec<String>) {
    let mut rules: Vec<(i64, i64, String)> = Vec::with_capacity(4);

    let recency = match facts.last_activity_days_ago {
        Some(days) => {
            let days = days.max(0);
            let fraction = band_at_most(
                days,
                [
                    cfg.recency_active_days,
                    cfg.recency_warm_days,
                    cfg.recency_cool_days,
                ],
            );
            let when = match days {
                0 => "today".to_owned(),
                1 => "1 day ago".to_owned(),
                n => format!("{n} days ago"),
            };
            (fraction, format!("last activity {when}"))
        }
        None => (0.0, "no activity on record".to_owned()),
    };
    rules.push(rule(cfg.weight_recency, recency));

    let open = facts.open_tickets_count.max(0);
    let fraction = match open {
        0 => 1.0,
        n if n <= cfg.open_tickets_few => 0.6,
        n if n <= cfg.open_tickets_many => 0.3,
        _ => 0.0,
    };
    let what = match open {
        0 => "no open tickets".to_owned(),
        1 => "1 open ticket".to_owned(),
        n => format!("{n} open tickets"),
    };
    rules.push(rule(cfg.weight_tickets, (fraction, what)));

    let breaches = facts.sla_breaches_count.max(0);
    let fraction = match breaches {
        0 => 1.0,
        n if n <= cfg.sla_breaches_few => 0.4,
        _ => 0.0,
    };
    let what = match breaches {
        0 => "no SLA breach in 90 days".to_owned(),
        1 => "1 SLA breach in 90 days".to_owned(),
        n => format!("{n} SLA breaches in 90 days"),
    };
    rules.push(rule(cfg.weight_sla, (fraction, what)));

    let orders = facts.orders_count.max(0);
    let fraction = if orders >= cfg.orders_frequent.max(1)
        || (orders > 0 && facts.orders_value >= cfg.orders_value_high)
    {
        1.0
    } else if orders > 0 {
        0.6
    } else {
        0.0
    };
    let what = match orders {
        0 => "no order in 90 days".to_owned(),
        1 => format!("1 order in 90 days worth {}", money(facts.orders_value)),
        n => format!("{n} orders in 90 days worth {}", money(facts.orders_value)),
    };
    rules.push(rule(cfg.weight_orders, (fraction, what)));

    let total: i64 = rules.iter().map(|(points, _, _)| points).sum();
    // Most points lost first: that is where the account needs attention.
    rules.sort_by_key(|(points, weight, _)| std::cmp::Reverse(weight - points));
    let reasons = rules.into_iter().map(|(_, _, reason)| reason).collect();
    // The clamp makes the conversion lossless; DOMAIN §6: health is 1..=100.
    (total.clamp(1, 100) as u8, reasons)
}

/// The grade of a health value: `healthy`, `watch` or `at-risk`.
///
/// ```
/// use customer_health::{grade, Config};
///
/// let cfg = Config::default();
/// assert_eq!(grade(&cfg, 85), "healthy");
/// assert_eq!(grade(&cfg, 60), "watch");
/// assert_eq!(grade(&cfg, 59), "at-risk");
/// ```
pub fn grade(cfg: &Config, value: u8) -> &'static str {
    let value = i64::from(value);
    if value >= cfg.grade_healthy {
        "healthy"
    } else if value >= cfg.threshold {
        "watch"
    } else {
        "at-risk"
    }
}

/// `(points, weight, reason)`: the reason carries the points it gave.
fn rule(weight: i64, (fraction, what): (f64, String)) -> (i64, i64, String) {
    let weight = weight.max(0);
    let points = (weight as f64 * fraction).round() as i64;
    (points, weight, format!("{what} (+{points} of {weight})"))
}

/// 1.0 at or below the first bound, 0.6 the second, 0.3 the third, else 0.
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

fn money(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

fn null_as_zero<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(Option::<i64>::deserialize(d)?.unwrap_or(0))
}

fn null_as_zero_f64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    // GraphQL money may arrive as a number or a decimal string.
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Money {
        Number(f64),
        Text(String),
    }
    Ok(match Option::<Money>::deserialize(d)? {
        Some(Money::Number(n)) => n,
        Some(Money::Text(s)) => s.trim().parse().map_err(serde::de::Error::custom)?,
        None => 0.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            last_activity_days_ago: Some(3),
            open_tickets_count: 0,
            sla_breaches_count: 0,
            orders_count: 3,
            orders_value: 5_000.0,
        }
    }

    #[test]
    fn a_busy_happy_customer_is_fully_healthy() {
        let (value, reasons) = health(&Config::default(), &facts());
        assert_eq!(value, 100);
        assert_eq!(reasons.len(), 4);
        assert_eq!(grade(&Config::default(), value), "healthy");
    }

    #[test]
    fn each_rule_costs_its_band() {
        let cfg = Config::default();
        let cases = [
            (
                Facts {
                    last_activity_days_ago: Some(20),
                    ..facts()
                },
                88,
            ), // 30 * 0.6 = 18
            (
                Facts {
                    last_activity_days_ago: Some(60),
                    ..facts()
                },
                79,
            ), // 9
            (
                Facts {
                    last_activity_days_ago: None,
                    ..facts()
                },
                70,
            ),
            (
                Facts {
                    open_tickets_count: 2,
                    ..facts()
                },
                92,
            ), // 20 * 0.6 = 12
            (
                Facts {
                    open_tickets_count: 5,
                    ..facts()
                },
                86,
            ), // 6
            (
                Facts {
                    open_tickets_count: 6,
                    ..facts()
                },
                80,
            ),
            (
                Facts {
                    sla_breaches_count: 1,
                    ..facts()
                },
                85,
            ), // 25 * 0.4 = 10
            (
                Facts {
                    sla_breaches_count: 3,
                    ..facts()
                },
                75,
            ),
            (
                Facts {
                    orders_count: 1,
                    ..facts()
                },
                90,
            ), // 25 * 0.6 = 15
            (
                Facts {
                    orders_count: 0,
                    ..facts()
                },
                75,
            ),
        ];
        for (facts, expected) in cases {
            assert_eq!(health(&cfg, &facts).0, expected, "{facts:?}");
        }
    }

    #[test]
    fn one_large_order_counts_as_frequent_ordering() {
        let f = Facts {
            orders_count: 1,
            orders_value: 250_000.0,
            ..facts()
        };
        assert_eq!(health(&Config::default(), &f).0, 100);
    }

    #[test]
    fn a_neglected_account_is_at_least_one_and_explains_the_worst_first() {
        let f = Facts {
            last_activity_days_ago: None,
            open_tickets_count: 9,
            sla_breaches_count: 4,
            orders_count: 0,
            orders_value: 0.0,
        };
        let (value, reasons) = health(&Config::default(), &f);
        assert_eq!(value, 1);
        assert_eq!(
            reasons,
            [
                "no activity on record (+0 of 30)",
                "4 SLA breaches in 90 days (+0 of 25)",
                "no order in 90 days (+0 of 25)",
                "9 open tickets (+0 of 20)",
            ]
        );
        assert_eq!(grade(&Config::default(), value), "at-risk");
    }

    #[test]
    fn weights_and_bands_come_from_the_configuration() {
        let cfg = Config {
            weight_recency: 70,
            weight_tickets: 10,
            weight_sla: 10,
            weight_orders: 10,
            recency_active_days: 1,
            ..Config::default()
        };
        // 3 days ago is now only "warm": 70 * 0.6 = 42.
        let (value, reasons) = health(&cfg, &facts());
        assert_eq!(value, 72);
        assert_eq!(reasons[0], "last activity 3 days ago (+42 of 70)");
    }

    #[test]
    fn facts_accept_nulls_and_decimal_strings() {
        let f: Facts = serde_json::from_value(serde_json::json!({
            "lastActivityDaysAgo": null,
            "openTicketsCount": null,
            "ordersCount": 2,
            "ordersValue": "1200.50",
        }))
        .unwrap();
        assert_eq!(f.open_tickets_count, 0);
        assert_eq!(f.orders_value, 1200.5);
        assert_eq!(f.last_activity_days_ago, None);
    }
}
