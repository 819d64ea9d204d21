//! Demo data: one tenant, "Demo Motors & SaaS", with a realistic book of
//! business — users with a reporting line, companies in CN / US / DE (a few
//! near-duplicates for the merge demo), contacts (a few exact e-mail
//! duplicates), two pipelines with deals in every stage and a real stage
//! history, activities over the last 180 days, tasks, tickets of every
//! priority and status, products and orders.
//!
//! Everything goes through the ordinary domain commands (`record::create`,
//! `deal::move_deal`, ...), so validation, audit, events and plugin hooks run
//! exactly as for user input. The data is deterministic (a fixed xorshift
//! seed); timestamps are spread over the past by running the commands with a
//! seeding clock that is moved to each record's point in time.

use anyhow::Context;
use crm_core::activity::Activity;
use crm_core::company::Company;
use crm_core::contact::Contact;
use crm_core::deal::Deal;
use crm_core::order::Order;
use crm_core::pipeline::Pipeline;
use crm_core::product::Product;
use crm_core::task::Task;
use crm_core::ticket::Ticket;
use crm_core::{Clock, Crm, Principal, Role, Timestamp, record};
use data::*;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use uuid::Uuid;

/// Name of the demo tenant.
pub const TENANT_NAME: &str = "Demo Motors & SaaS";

/// How much demo data to create. [`SeedSize::default`] is the full demo.
#[derive(Debug, Clone, Copy)]
pub struct SeedSize {
    pub companies: usize,
    pub contacts: usize,
    /// Deals per pipeline (at least one per stage is always created).
    pub deals_per_pipeline: usize,
    /// Free-standing activities on contacts (deals get a few of their own on top).
    pub activities: usize,
    pub tasks: usize,
    pub tickets: usize,
    pub products: usize,
    pub orders: usize,
}

impl Default for SeedSize {
    fn default() -> Self {
        SeedSize {
            companies: 300,
            contacts: 2000,
            deals_per_pipeline: 90,
            activities: 3000,
            tasks: 200,
            tickets: 160,
            products: 20,
            orders: 150,
        }
    }
}

/// Whether the database has no tenant yet (first start: offer the demo).
pub async fn is_empty(crm: &Crm) -> anyhow::Result<bool> {
    Ok(crm_core::tenant::tenants(crm).await?.is_empty())
}

/// Create the demo tenant with the full data set; returns the tenant id and its admin API key.
pub async fn seed(crm: &Crm, progress: bool) -> anyhow::Result<(Uuid, String)> {
    seed_sized(crm, SeedSize::default(), progress).await
}

/// [`seed`] with a chosen amount of data (tests use a small one).
pub async fn seed_sized(
    crm: &Crm,
    size: SeedSize,
    progress: bool,
) -> anyhow::Result<(Uuid, String)> {
    let real_now = crm.now();
    let clock = Arc::new(SeedClock::new(real_now));
    // Same database, hooks and outbox nudge; only "now" is ours to move.
    let crm = &crm.clone().with_clock(clock.clone());
    let mut s = Seeder {
        crm,
        clock,
        real_now,
        rng: Rng::new(0x5EED_C0FF_EE12_3457),
        progress,
        tenant: Uuid::nil(),
        sys: Principal::system(Uuid::nil()),
        reps: vec![],
        manager: Uuid::nil(),
        support: Uuid::nil(),
        store_manager: Uuid::nil(),
        companies: vec![],
        contacts: vec![],
        deals: vec![],
        products: vec![],
    };
    s.clock.set(real_now - days(730));
    let (tenant, key) = crm_core::tenant::create_tenant(crm, TENANT_NAME, "CN")
        .await
        .context("creating the demo tenant")?;
    s.tenant = tenant.id;
    s.sys = Principal::system(tenant.id);
    s.users().await?;
    s.companies(size.companies).await?;
    s.contacts(size.contacts).await?;
    s.pipelines_and_deals(size.deals_per_pipeline).await?;
    s.activities(size.activities).await?;
    s.tasks(size.tasks).await?;
    s.tickets(size.tickets).await?;
    s.products(size.products).await?;
    s.orders(size.orders).await?;
    s.say("demo data ready");
    Ok((tenant.id, key))
}

/// A clock the seeder moves to each record's point in time.
struct SeedClock(AtomicI64);

impl SeedClock {
    fn new(at: Timestamp) -> Self {
        SeedClock(AtomicI64::new(at.timestamp_micros()))
    }
    fn set(&self, at: Timestamp) {
        self.0.store(at.timestamp_micros(), Ordering::Relaxed);
    }
}

impl Clock for SeedClock {
    fn now(&self) -> Timestamp {
        chrono::DateTime::from_timestamp_micros(self.0.load(Ordering::Relaxed)).unwrap_or_default()
    }
}

/// xorshift64: tiny, deterministic, good enough for demo data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    /// Uniform in `lo..hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo).max(1) as u64) as i64
    }
    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
}

fn days(n: i64) -> chrono::Duration {
    chrono::Duration::days(n)
}

/// (name, manager, fleet?, open stage names, their probabilities); Won and Lost follow.
type PipelineSpec = (&'static str, Uuid, bool, [&'static str; 4], [f64; 4]);

#[derive(Clone)]
struct Co {
    id: Uuid,
    name: String,
    country: &'static str,
    domain: String,
    owner: Uuid,
}

#[derive(Clone)]
struct Person {
    id: Uuid,
    company: usize,
    owner: Uuid,
}

struct SeededDeal {
    id: Uuid,
    company: usize,
    contact: Option<usize>,
    owner: Uuid,
    fleet: bool,
    created: Timestamp,
}

struct Seeder<'a> {
    crm: &'a Crm,
    clock: Arc<SeedClock>,
    real_now: Timestamp,
    rng: Rng,
    progress: bool,
    tenant: Uuid,
    sys: Principal,
    reps: Vec<Uuid>,
    manager: Uuid,
    support: Uuid,
    store_manager: Uuid,
    companies: Vec<Co>,
    contacts: Vec<Person>,
    deals: Vec<SeededDeal>,
    products: Vec<(Uuid, f64, &'static str)>,
}

impl Seeder<'_> {
    fn say(&self, msg: &str) {
        if self.progress {
            eprintln!("{msg}");
        }
    }

    fn tick(&self, what: &str, done: usize, total: usize) {
        let step = (total / 5).max(1);
        if self.progress && (done.is_multiple_of(step) || done == total) && done > 0 {
            eprintln!("seeding {what} {done}/{total}");
        }
    }

    /// The principal of a user (admin rights, but activities and audit name the user).
    fn as_user(&self, user: Uuid) -> Principal {
        let mut p = self.sys.clone();
        p.user_id = Some(user);
        p
    }

    /// A random instant in the last `max_days` days (never in the future).
    fn past(&mut self, max_days: i64) -> Timestamp {
        self.real_now - chrono::Duration::minutes(self.rng.range(30, max_days * 24 * 60))
    }

    async fn create<K: record::Kind>(
        &self,
        p: &Principal,
        input: Value,
    ) -> anyhow::Result<record::ModelOf<K>>
    where
        record::ModelOf<K>: sea_orm::IntoActiveModel<record::ActiveOf<K>>,
        record::ActiveOf<K>: sea_orm::ActiveModelBehavior + Send,
    {
        record::create::<K>(self.crm, p, input.clone())
            .await
            .with_context(|| format!("seeding {} {input}", K::NAME))
    }

    async fn users(&mut self) -> anyhow::Result<()> {
        self.say("seeding users");
        let sys = self.sys.clone();
        let crm = self.crm;
        let user = |name: &'static str, email: &'static str, role: Role, mgr: Option<Uuid>| {
            let sys = sys.clone();
            async move {
                crm_core::tenant::create_user(crm, &sys, name, email, role, mgr)
                    .await
                    .with_context(|| format!("seeding user {email}"))
                    .map(|u| u.id)
            }
        };
        self.manager = user(
            "Zhang Wei (Sales Manager)",
            "zhang.wei@demo-motors.example",
            Role::Manager,
            None,
        )
        .await?;
        let m = Some(self.manager);
        for (name, email) in [
            ("Li Na", "li.na@demo-motors.example"),
            ("Chen Jie", "chen.jie@demo-motors.example"),
            ("Emily Carter", "emily.carter@demo-motors.example"),
            ("Jonas Becker", "jonas.becker@demo-motors.example"),
        ] {
            let id = user(name, email, Role::Sales, m).await?;
            self.reps.push(id);
        }
        self.support = user(
            "Wang Fang (Support)",
            "wang.fang@demo-motors.example",
            Role::Support,
            None,
        )
        .await?;
        self.store_manager = user(
            "Liu Yang (Store Manager)",
            "liu.yang@demo-motors.example",
            Role::Manager,
            None,
        )
        .await?;
        Ok(())
    }

    async fn companies(&mut self, n: usize) -> anyhow::Result<()> {
        let mut names: HashSet<String> = HashSet::new();
        let mut specs: Vec<(String, &'static str, &'static str, &'static str)> = vec![];
        // Near-duplicates for the de-duplication and merge demo (DOMAIN §3).
        for (name, country, city, industry) in NEAR_DUPLICATES {
            if specs.len() < n {
                names.insert(name.to_string());
                specs.push((name.to_string(), country, city, industry));
            }
        }
        while specs.len() < n {
            let roll = self.rng.below(100);
            let (country, city) = if roll < 55 {
                ("CN", *self.rng.pick(CN_CITIES))
            } else if roll < 80 {
                ("US", *self.rng.pick(US_CITIES))
            } else {
                ("DE", *self.rng.pick(DE_CITIES))
            };
            let (industry, noun) = *self.rng.pick(INDUSTRIES);
            let stem = match country {
                "CN" => *self.rng.pick(CN_STEMS),
                "US" => *self.rng.pick(US_STEMS),
                _ => *self.rng.pick(DE_STEMS),
            };
            let legal = match country {
                "CN" => " Co., Ltd.",
                "US" => *self.rng.pick(&[" Inc.", " LLC", " Corp.", ""]),
                _ => *self.rng.pick(&[" GmbH", " AG", " GmbH & Co. KG"]),
            };
            let mut name = if country == "CN" && self.rng.chance(0.5) {
                format!("{city} {stem} {noun}{legal}")
            } else {
                format!("{stem} {noun}{legal}")
            };
            if names.contains(&name) {
                name = format!("{stem} {noun} {city}{legal}");
            }
            if names.contains(&name) {
                continue;
            }
            names.insert(name.clone());
            specs.push((name, country, city, industry));
        }
        for (i, (name, country, city, industry)) in specs.into_iter().enumerate() {
            let created = self.past(730);
            self.clock.set(created);
            let owner = *self.rng.pick(&self.reps);
            let tld = match country {
                "CN" => ".cn",
                "DE" => ".de",
                _ => ".com",
            };
            let domain = format!("{}{tld}", slug(&name));
            let employees = *self.rng.pick(&[8, 25, 60, 120, 250, 480, 900, 2500, 12000]) as i64
                + self.rng.range(0, 20);
            let revenue = (employees as f64) * self.rng.range(60, 260) as f64 * 1000.0;
            let phone = self.company_phone(country);
            let lifecycle = *self.rng.pick(&[
                "PROSPECT", "PROSPECT", "ACQUIRED", "ACTIVE", "ACTIVE", "ACTIVE", "AT_RISK",
                "CHURNED", "WON_BACK",
            ]);
            let mut tags = vec![];
            if employees > 2000 {
                tags.push("key-account");
            }
            if self.rng.chance(0.15) {
                tags.push("trade-show-2025");
            }
            let c = self
                .create::<Company>(
                    &self.as_user(owner),
                    json!({
                        "name": name, "domain": domain, "industry": industry,
                        "employeeCount": employees, "annualRevenue": revenue,
                        "phone": phone, "country": country, "city": city,
                        "ownerId": owner, "lifecycleStage": lifecycle, "tags": tags,
                    }),
                )
                .await?;
            self.companies.push(Co {
                id: c.id,
                name,
                country,
                domain,
                owner,
            });
            self.tick("companies", i + 1, n);
        }
        Ok(())
    }

    fn company_phone(&mut self, country: &str) -> String {
        match country {
            "CN" => format!(
                "0{} {} {}",
                self.rng
                    .pick(&["21", "10", "755", "20", "757", "571", "28"]),
                self.rng.range(5000, 8999),
                self.rng.digits(4)
            ),
            "US" => format!(
                "+1 {} {} {}",
                self.rng.pick(&["415", "512", "312", "212", "313", "206"]),
                self.rng.range(200, 989),
                self.rng.digits(4)
            ),
            _ => format!(
                "+49 {} {}",
                self.rng.pick(&["30", "89", "40", "711", "69", "221"]),
                self.rng.range(1_000_000, 9_999_999)
            ),
        }
    }

    fn mobile(&mut self, country: &str) -> String {
        match country {
            "CN" if self.rng.chance(0.15) => format!(
                "+86 {} {} {}",
                self.rng.pick(CN_MOBILE_PREFIXES),
                self.rng.digits(4),
                self.rng.digits(4)
            ),
            "CN" => format!(
                "{} {} {}",
                self.rng.pick(CN_MOBILE_PREFIXES),
                self.rng.digits(4),
                self.rng.digits(4)
            ),
            "US" => format!(
                "+1 ({}) {}-{}",
                self.rng
                    .pick(&["415", "650", "512", "312", "646", "313", "206"]),
                self.rng.range(200, 989),
                self.rng.digits(4)
            ),
            _ => format!(
                "+49 {} {}",
                self.rng.pick(&["151", "160", "170", "176"]),
                self.rng.range(10_000_000, 99_999_999)
            ),
        }
    }

    async fn contacts(&mut self, n: usize) -> anyhow::Result<()> {
        if self.companies.is_empty() {
            return Ok(());
        }
        let mut emails: HashSet<String> = HashSet::new();
        let mut taken: Vec<String> = vec![];
        // Five exact e-mail duplicates, spread through the data (DOMAIN §3).
        let dup_at: Vec<usize> = if n >= 40 {
            (1..=5).map(|k| n * k / 6 + 3).collect()
        } else {
            vec![]
        };
        for i in 0..n {
            // Bigger companies get more people: bias towards the first third.
            let ci = if self.rng.chance(0.3) {
                self.rng.below(self.companies.len().div_ceil(3))
            } else {
                self.rng.below(self.companies.len())
            };
            let co = self.companies[ci].clone();
            let (first, last, first_ascii, last_ascii) = match co.country {
                "CN" => {
                    let (fp, fh) = *self.rng.pick(CN_GIVEN);
                    let (lp, lh) = *self.rng.pick(CN_FAMILY);
                    if self.rng.chance(0.35) {
                        (fh.to_string(), lh.to_string(), fp, lp)
                    } else {
                        (fp.to_string(), lp.to_string(), fp, lp)
                    }
                }
                "US" => {
                    let f = *self.rng.pick(US_GIVEN);
                    let l = *self.rng.pick(US_FAMILY);
                    (f.to_string(), l.to_string(), f, l)
                }
                _ => {
                    let (f, fa) = *self.rng.pick(DE_GIVEN);
                    let (l, la) = *self.rng.pick(DE_FAMILY);
                    (f.to_string(), l.to_string(), fa, la)
                }
            };
            let email = if dup_at.contains(&i) && !taken.is_empty() {
                // Same person entered twice (e.g. at "Acme Electronics Foshan").
                Some(taken[self.rng.below(taken.len())].clone())
            } else if self.rng.chance(0.06) {
                None
            } else {
                let local = format!(
                    "{}.{}",
                    first_ascii.to_lowercase().replace(' ', ""),
                    last_ascii.to_lowercase().replace(' ', "")
                );
                let mut e = format!("{local}@{}", co.domain);
                let mut k = 2;
                while emails.contains(&e) {
                    e = format!("{local}{k}@{}", co.domain);
                    k += 1;
                }
                emails.insert(e.clone());
                taken.push(e.clone());
                Some(e)
            };
            let phone = (!self.rng.chance(0.1)).then(|| self.mobile(co.country));
            let title = match co.country {
                "CN" => *self.rng.pick(CN_TITLES),
                "DE" => *self.rng.pick(DE_TITLES),
                _ => *self.rng.pick(US_TITLES),
            };
            let lifecycle = *self.rng.pick(&[
                "PROSPECT", "PROSPECT", "PROSPECT", "ACQUIRED", "ACTIVE", "ACTIVE", "AT_RISK",
                "CHURNED", "WON_BACK",
            ]);
            let mut tags: Vec<&str> = vec![];
            if self.rng.chance(0.08) {
                tags.push("vip");
            }
            if title.contains("VP")
                || title.contains("Director")
                || title.contains("总")
                || title.contains("Geschäftsführer")
                || title.contains("CEO")
            {
                tags.push("decision-maker");
            }
            if self.rng.chance(0.2) {
                tags.push("newsletter");
            }
            let mut input = json!({
                "firstName": first, "lastName": last, "title": title,
                "companyId": co.id, "ownerId": co.owner, "lifecycleStage": lifecycle, "tags": tags,
            });
            if let Some(e) = email {
                input["email"] = e.into();
            }
            if let Some(p) = phone {
                input["phone"] = p.into();
            }
            if self.rng.chance(0.3) {
                let birth = chrono::NaiveDate::from_ymd_opt(
                    self.rng.range(1962, 2000) as i32,
                    self.rng.range(1, 13) as u32,
                    self.rng.range(1, 29) as u32,
                );
                if let Some(b) = birth {
                    input["birthDate"] = b.to_string().into();
                }
            }
            let created = self.past(700);
            self.clock.set(created);
            let c = self
                .create::<Contact>(&self.as_user(co.owner), input)
                .await?;
            self.contacts.push(Person {
                id: c.id,
                company: ci,
                owner: co.owner,
            });
            self.tick("contacts", i + 1, n);
        }
        Ok(())
    }

    async fn pipelines_and_deals(&mut self, per_pipeline: usize) -> anyhow::Result<()> {
        if self.companies.is_empty() {
            return Ok(());
        }
        self.clock.set(self.real_now - days(400));
        let specs: [PipelineSpec; 2] = [
            (
                "New business",
                self.manager,
                false,
                ["First contact", "Needs confirmed", "Quote", "Contract"],
                [0.1, 0.25, 0.5, 0.8],
            ),
            (
                "Fleet (automotive)",
                self.store_manager,
                true,
                ["Lead", "Test drive", "POC test", "Negotiation"],
                [0.1, 0.3, 0.5, 0.75],
            ),
        ];
        for (name, manager, fleet, open, prob) in specs {
            let mut stages: Vec<Value> = open
                .iter()
                .zip(prob)
                .map(|(n, p)| json!({"name": n, "probability": p, "isWon": false, "isLost": false}))
                .collect();
            stages.push(json!({"name": "Won", "probability": 1.0, "isWon": true, "isLost": false}));
            stages
                .push(json!({"name": "Lost", "probability": 0.0, "isWon": false, "isLost": true}));
            let p = self
                .create::<Pipeline>(
                    &self.sys,
                    json!({"name": name, "managerId": manager, "stages": stages}),
                )
                .await?;
            let stage_ids: Vec<Uuid> =
                crm_core::pipeline::stages_of(self.crm, self.tenant, &[p.id])
                    .await?
                    .into_iter()
                    .map(|s| s.id)
                    .collect();
            anyhow::ensure!(stage_ids.len() == 6, "pipeline {name} has 6 stages");
            let total = per_pipeline.max(stage_ids.len());
            for i in 0..total {
                // Every stage gets deals: the first round walks the stages in order.
                let target = if i < stage_ids.len() {
                    i
                } else {
                    *self.rng.pick(&[0, 0, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5])
                };
                self.deal(name, fleet, &stage_ids, target).await?;
                self.tick(&format!("deals ({name})"), i + 1, total);
            }
        }
        Ok(())
    }

    /// One deal, created in the first stage and moved to `target` (5 = lost,
    /// after reaching a random earlier stage) with realistic gaps in between.
    async fn deal(
        &mut self,
        pipeline: &str,
        fleet: bool,
        stages: &[Uuid],
        target: usize,
    ) -> anyhow::Result<()> {
        let ci = self.rng.below(self.companies.len());
        let co = self.companies[ci].clone();
        let contact = self
            .contacts
            .iter()
            .enumerate()
            .skip(self.rng.below(self.contacts.len().max(1)))
            .find(|(_, p)| p.company == ci)
            .or_else(|| {
                self.contacts
                    .iter()
                    .enumerate()
                    .find(|(_, p)| p.company == ci)
            })
            .map(|(i, _)| i);
        let owner = co.owner;
        let (name, amount) = if fleet {
            let units = *self.rng.pick(&[3, 5, 8, 12, 20, 40, 80]);
            let model = *self.rng.pick(&["EV-S sedan", "EV-X SUV", "eVan cargo"]);
            (
                format!("{} — {units}x {model}", co.name),
                units as f64 * self.rng.range(28_000, 52_000) as f64,
            )
        } else {
            let seats = *self.rng.pick(&[10, 25, 50, 100, 250, 500, 1000]);
            let plan = *self.rng.pick(&["Pro", "Enterprise", "Enterprise + API"]);
            (
                format!("{} — CRM {plan}, {seats} seats", co.name),
                seats as f64 * self.rng.range(300, 1200) as f64,
            )
        };
        // Big deals now and then (DOMAIN §5: over 5,000,000 gets watched).
        let amount = if self.rng.chance(0.03) {
            amount * 25.0
        } else {
            amount
        };
        let currency = match co.country {
            "CN" => "CNY",
            "DE" => "EUR",
            _ => "USD",
        };
        let amount = if currency == "CNY" {
            (amount * 7.0).round()
        } else {
            amount.round()
        };
        let path: Vec<usize> = if target == 5 {
            let reached = self.rng.below(4);
            (1..=reached).chain([5]).collect()
        } else {
            (1..=target).collect()
        };
        let gaps: Vec<i64> = path.iter().map(|_| self.rng.range(2, 25)).collect();
        let span: i64 = gaps.iter().sum::<i64>() + 1;
        let created = self.real_now - days(span + self.rng.range(0, (180 - span).max(1)));
        self.clock.set(created);
        let close = (self.real_now + days(self.rng.range(-20, 120))).date_naive();
        // The first stage implies the pipeline.
        let mut input = json!({
            "name": name,
            "stageId": stages.first().copied().unwrap_or_default(),
            "amount": amount, "currency": currency, "ownerId": owner, "companyId": co.id,
            "expectedCloseDate": close.to_string(),
        });
        if let Some(c) = contact {
            input["contactId"] = json!(self.contacts[c].id);
        }
        let p = self.as_user(owner);
        let d = self.create::<Deal>(&p, input).await?;
        let mut at = created;
        for (step, gap) in path.iter().zip(gaps) {
            at += days(gap) + chrono::Duration::minutes(self.rng.range(0, 600));
            self.clock.set(at.min(self.real_now));
            crm_core::deal::move_deal(self.crm, &p, d.id, stages[*step])
                .await
                .with_context(|| format!("moving deal {} in {pipeline}", d.id))?;
        }
        self.deals.push(SeededDeal {
            id: d.id,
            company: ci,
            contact,
            owner,
            fleet,
            created,
        });
        Ok(())
    }

    async fn activities(&mut self, n: usize) -> anyhow::Result<()> {
        if self.contacts.is_empty() {
            return Ok(());
        }
        // Each deal gets one or two touches (a test drive for fleet deals).
        let deal_total = self.deals.len();
        for i in 0..deal_total {
            let (id, ci, contact, owner, fleet, created) = {
                let d = &self.deals[i];
                (d.id, d.company, d.contact, d.owner, d.fleet, d.created)
            };
            let touches = 1 + self.rng.below(2);
            for t in 0..touches {
                let kind = if fleet && t == 0 {
                    "TEST_DRIVE"
                } else {
                    *self.rng.pick(&["CALL", "MEETING", "EMAIL"])
                };
                let span = (self.real_now - created).num_minutes().max(60);
                let at = created + chrono::Duration::minutes(self.rng.range(0, span));
                let mut input = self.activity_input(kind, at, owner);
                input["dealId"] = json!(id);
                input["companyId"] = json!(self.companies[ci].id);
                if let Some(c) = contact {
                    input["contactId"] = json!(self.contacts[c].id);
                }
                self.clock.set(at);
                self.create::<Activity>(&self.as_user(owner), input).await?;
            }
        }
        for i in 0..n {
            let who = self.contacts[self.rng.below(self.contacts.len())].clone();
            let kind = *self.rng.pick(&[
                "CALL", "CALL", "CALL", "EMAIL", "EMAIL", "EMAIL", "MEETING", "VISIT", "NOTE",
                "NOTE",
            ]);
            let at = self.past(180);
            let user = if self.rng.chance(0.15) {
                self.support
            } else {
                who.owner
            };
            let mut input = self.activity_input(kind, at, user);
            input["contactId"] = json!(who.id);
            input["companyId"] = json!(self.companies[who.company].id);
            self.clock.set(at);
            self.create::<Activity>(&self.as_user(user), input).await?;
            self.tick("activities", i + 1, n);
        }
        Ok(())
    }

    fn activity_input(&mut self, kind: &str, at: Timestamp, user: Uuid) -> Value {
        let (subjects, channels): (&[&str], &[&str]) = match kind {
            "CALL" => (CALL_SUBJECTS, &["phone", "phone", "wechat"]),
            "EMAIL" => (EMAIL_SUBJECTS, &["email"]),
            "MEETING" => (MEETING_SUBJECTS, &["video", "in person"]),
            "VISIT" => (VISIT_SUBJECTS, &["in person"]),
            "TEST_DRIVE" => (TEST_DRIVE_SUBJECTS, &["store"]),
            _ => (NOTE_SUBJECTS, &["internal"]),
        };
        json!({
            "kind": kind,
            "subject": *self.rng.pick(subjects),
            "content": *self.rng.pick(ACTIVITY_NOTES),
            "channel": *self.rng.pick(channels),
            "occurredAt": at.to_rfc3339(),
            "userId": user,
        })
    }

    async fn tasks(&mut self, n: usize) -> anyhow::Result<()> {
        if self.contacts.is_empty() {
            return Ok(());
        }
        for i in 0..n {
            let (entity, record, assignee) = if !self.deals.is_empty() && self.rng.chance(0.35) {
                let d = &self.deals[self.rng.below(self.deals.len())];
                ("DEAL", d.id, d.owner)
            } else if self.rng.chance(0.2) {
                let c = &self.companies[self.rng.below(self.companies.len())];
                ("COMPANY", c.id, c.owner)
            } else {
                let c = &self.contacts[self.rng.below(self.contacts.len())];
                ("CONTACT", c.id, c.owner)
            };
            let assignee = if self.rng.chance(0.1) {
                self.store_manager
            } else {
                assignee
            };
            let status = *self.rng.pick(&[
                "OPEN",
                "OPEN",
                "OPEN",
                "IN_PROGRESS",
                "DONE",
                "DONE",
                "CANCELLED",
            ]);
            // Some open tasks are overdue; done ones mostly lie in the past.
            let due_offset = match status {
                "DONE" | "CANCELLED" => self.rng.range(-60, -1),
                _ => self.rng.range(-10, 30),
            };
            let due = self.real_now + days(due_offset) + chrono::Duration::hours(9);
            let created = self.past(20).min(due);
            self.clock.set(created);
            let input = json!({
                "title": *self.rng.pick(TASK_TITLES),
                "description": *self.rng.pick(TASK_NOTES),
                "assigneeId": assignee, "dueAt": due.to_rfc3339(), "status": status,
                "recordEntity": entity, "recordId": record,
            });
            self.create::<Task>(&self.as_user(assignee), input).await?;
            self.tick("tasks", i + 1, n);
        }
        Ok(())
    }

    async fn tickets(&mut self, n: usize) -> anyhow::Result<()> {
        if self.contacts.is_empty() {
            return Ok(());
        }
        let p = self.as_user(self.support);
        for i in 0..n {
            let priority = ["P1", "P2", "P3", "P4"][i % 4];
            // Statuses cycle at a different pace so every (priority, status) pair occurs.
            let status = ["OPEN", "PENDING", "RESOLVED", "RESOLVED", "CLOSED"][(i / 4 + i) % 5];
            let who = self.contacts[self.rng.below(self.contacts.len())].clone();
            let (subject, description) = *self.rng.pick(TICKETS);
            let opened = self.past(90);
            self.clock.set(opened);
            let t = self
                .create::<Ticket>(
                    &p,
                    json!({
                        "subject": subject, "description": description, "priority": priority,
                        "status": "OPEN", "contactId": who.id,
                        "companyId": self.companies[who.company].id, "assigneeId": self.support,
                    }),
                )
                .await?;
            if status != "OPEN" {
                // Worked on later: some within the SLA, some not.
                let minutes = *self.rng.pick(&[12, 25, 50, 95, 180, 600, 1500, 4000]);
                let at = (opened + chrono::Duration::minutes(minutes)).min(self.real_now);
                self.clock.set(at);
                let mut patch = json!({"status": status});
                if status == "RESOLVED" || status == "CLOSED" {
                    patch["csat"] = (*self.rng.pick(&[5, 5, 5, 4, 4, 4, 3, 2, 1]) as i64).into();
                }
                record::update::<Ticket>(self.crm, &p, t.id, patch)
                    .await
                    .with_context(|| format!("updating ticket {}", t.id))?;
            }
            self.tick("tickets", i + 1, n);
        }
        Ok(())
    }

    async fn products(&mut self, n: usize) -> anyhow::Result<()> {
        self.clock.set(self.real_now - days(500));
        for (sku, name, price, currency) in PRODUCTS.iter().take(n) {
            let m = self
                .create::<Product>(
                    &self.sys,
                    json!({"sku": sku, "name": name, "price": price, "currency": currency}),
                )
                .await?;
            self.products.push((m.id, *price, currency));
        }
        Ok(())
    }

    async fn orders(&mut self, n: usize) -> anyhow::Result<()> {
        if self.products.is_empty() || self.contacts.is_empty() {
            return Ok(());
        }
        for i in 0..n {
            let who = self.contacts[self.rng.below(self.contacts.len())].clone();
            // One currency per order: lines come from products priced in it.
            let currency = self.products[self.rng.below(self.products.len())].2;
            let pool: Vec<(Uuid, f64)> = self
                .products
                .iter()
                .filter(|p| p.2 == currency)
                .map(|p| (p.0, p.1))
                .collect();
            let count = 1 + self.rng.below(3);
            let mut lines: Vec<Value> = vec![];
            let mut used: Vec<Uuid> = vec![];
            for _ in 0..count {
                let (id, price) = *self.rng.pick(&pool);
                if used.contains(&id) {
                    continue;
                }
                used.push(id);
                let qty = *self.rng.pick(&[1, 1, 2, 3, 5, 10, 25]);
                let discount = *self.rng.pick(&[1.0, 1.0, 0.95, 0.9]);
                lines.push(
                    json!({"productId": id, "quantity": qty, "unitPrice": (price * discount).round()}),
                );
            }
            let status = *self.rng.pick(&[
                "DRAFT",
                "CONFIRMED",
                "PAID",
                "PAID",
                "FULFILLED",
                "FULFILLED",
                "FULFILLED",
                "CANCELLED",
            ]);
            let at = self.past(365);
            self.clock.set(at);
            self.create::<Order>(
                &self.as_user(who.owner),
                json!({
                    "companyId": self.companies[who.company].id, "contactId": who.id,
                    "number": format!("SO-{}-{:05}", at.format("%Y"), i + 1),
                    "status": status, "currency": currency, "orderedAt": at.to_rfc3339(),
                    "lines": lines,
                }),
            )
            .await?;
            self.tick("orders", i + 1, n);
        }
        Ok(())
    }
}

fn slug(name: &str) -> String {
    let ascii = name
        .replace('ü', "ue")
        .replace('ö', "oe")
        .replace('ä', "ae")
        .replace('ß', "ss")
        .to_lowercase();
    let words: Vec<String> = ascii
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| {
            !w.is_empty() && !["co", "ltd", "inc", "llc", "corp", "gmbh", "ag", "kg"].contains(w)
        })
        .map(str::to_string)
        .collect();
    if words.is_empty() {
        "company".into()
    } else {
        words.join("-")
    }
}

/// Word lists the generator draws from.
mod data {
    /// (name, country, city, industry): the same customer under different names.
    pub const NEAR_DUPLICATES: &[(&str, &str, &str, &str)] = &[
        ("Acme Electronics", "CN", "Shenzhen", "Electronics"),
        ("Acme Electronics Foshan", "CN", "Foshan", "Electronics"),
        (
            "Shenzhen Huaxin Auto Parts Co., Ltd.",
            "CN",
            "Shenzhen",
            "Automotive",
        ),
        (
            "Huaxin Auto Parts (Shenzhen)",
            "CN",
            "Shenzhen",
            "Automotive",
        ),
        ("Müller Logistik GmbH", "DE", "Hamburg", "Logistics"),
        ("Mueller Logistik GmbH", "DE", "Hamburg", "Logistics"),
        ("Pioneer Fleet Services Inc.", "US", "Detroit", "Automotive"),
        ("Pioneer Fleet Services", "US", "Detroit", "Automotive"),
    ];
    pub const CN_CITIES: &[&str] = &[
        "Shanghai",
        "Beijing",
        "Shenzhen",
        "Guangzhou",
        "Foshan",
        "Hangzhou",
        "Chengdu",
        "Wuhan",
        "Suzhou",
    ];
    pub const US_CITIES: &[&str] = &[
        "San Francisco",
        "Austin",
        "Chicago",
        "New York",
        "Detroit",
        "Seattle",
    ];
    pub const DE_CITIES: &[&str] = &[
        "Berlin",
        "Munich",
        "Hamburg",
        "Stuttgart",
        "Frankfurt",
        "Cologne",
    ];
    /// (industry, name noun)
    pub const INDUSTRIES: &[(&str, &str)] = &[
        ("Automotive", "Auto Parts"),
        ("Automotive", "Motors"),
        ("Automotive dealership", "Auto Sales"),
        ("Software", "Software"),
        ("Software", "Cloud"),
        ("Electronics", "Electronics"),
        ("Manufacturing", "Precision Manufacturing"),
        ("Logistics", "Logistics"),
        ("Retail", "Retail"),
        ("FMCG", "Foods"),
        ("Medical devices", "Medical"),
        ("Telecom", "Telecom"),
        ("Education", "Education"),
        ("Energy", "New Energy"),
        ("Finance", "Leasing"),
    ];
    pub const CN_STEMS: &[&str] = &[
        "Huaxin", "Jinfeng", "Longteng", "Mingda", "Ruixiang", "Tianhe", "Xinyuan", "Zhongke",
        "Hengtai", "Baosheng", "Yongxing", "Kaiyuan", "Dongfang", "Haorun", "Shengshi", "Boyuan",
    ];
    pub const US_STEMS: &[&str] = &[
        "Acme",
        "Summit",
        "Pioneer",
        "Blue Ridge",
        "Redwood",
        "Harbor",
        "Keystone",
        "Lakeside",
        "Northstar",
        "Granite",
        "Silverline",
        "Evergreen",
    ];
    pub const DE_STEMS: &[&str] = &[
        "Schneider",
        "Becker",
        "Hoffmann",
        "Wagner",
        "Krüger",
        "Schäfer",
        "Rheinland",
        "Nordwerk",
        "Alpen",
        "Elbtal",
    ];
    pub const CN_MOBILE_PREFIXES: &[&str] = &[
        "130", "131", "135", "136", "138", "139", "150", "152", "158", "159", "176", "177", "186",
        "187", "188", "189", "199",
    ];
    /// (pinyin, hanzi)
    pub const CN_GIVEN: &[(&str, &str)] = &[
        ("Wei", "伟"),
        ("Fang", "芳"),
        ("Na", "娜"),
        ("Min", "敏"),
        ("Jing", "静"),
        ("Lei", "磊"),
        ("Jun", "军"),
        ("Yang", "洋"),
        ("Yong", "勇"),
        ("Yan", "艳"),
        ("Jie", "杰"),
        ("Tao", "涛"),
        ("Ming", "明"),
        ("Chao", "超"),
        ("Xiuying", "秀英"),
        ("Hui", "慧"),
        ("Qiang", "强"),
        ("Xiaoling", "晓玲"),
        ("Haoran", "浩然"),
        ("Zihan", "子涵"),
    ];
    pub const CN_FAMILY: &[(&str, &str)] = &[
        ("Wang", "王"),
        ("Li", "李"),
        ("Zhang", "张"),
        ("Liu", "刘"),
        ("Chen", "陈"),
        ("Yang", "杨"),
        ("Zhao", "赵"),
        ("Huang", "黄"),
        ("Zhou", "周"),
        ("Wu", "吴"),
        ("Xu", "徐"),
        ("Sun", "孙"),
        ("Ma", "马"),
        ("Zhu", "朱"),
        ("Hu", "胡"),
        ("Guo", "郭"),
    ];
    pub const US_GIVEN: &[&str] = &[
        "James",
        "Mary",
        "Robert",
        "Patricia",
        "John",
        "Jennifer",
        "Michael",
        "Linda",
        "David",
        "Elizabeth",
        "Sarah",
        "Daniel",
        "Jessica",
        "Kevin",
        "Emily",
        "Brian",
    ];
    pub const US_FAMILY: &[&str] = &[
        "Smith",
        "Johnson",
        "Williams",
        "Brown",
        "Jones",
        "Garcia",
        "Miller",
        "Davis",
        "Rodriguez",
        "Martinez",
        "Anderson",
        "Taylor",
        "Thomas",
        "Moore",
        "Nguyen",
        "Walker",
    ];
    /// (display, ascii for e-mail)
    pub const DE_GIVEN: &[(&str, &str)] = &[
        ("Lukas", "Lukas"),
        ("Anna", "Anna"),
        ("Jürgen", "Juergen"),
        ("Sabine", "Sabine"),
        ("Felix", "Felix"),
        ("Katrin", "Katrin"),
        ("Matthias", "Matthias"),
        ("Julia", "Julia"),
        ("Stefan", "Stefan"),
        ("Lena", "Lena"),
        ("Jörg", "Joerg"),
        ("Claudia", "Claudia"),
    ];
    pub const DE_FAMILY: &[(&str, &str)] = &[
        ("Müller", "Mueller"),
        ("Schmidt", "Schmidt"),
        ("Schneider", "Schneider"),
        ("Fischer", "Fischer"),
        ("Weber", "Weber"),
        ("Meyer", "Meyer"),
        ("Wagner", "Wagner"),
        ("Becker", "Becker"),
        ("Schulz", "Schulz"),
        ("Koch", "Koch"),
        ("Richter", "Richter"),
        ("Klein", "Klein"),
    ];
    pub const CN_TITLES: &[&str] = &[
        "总经理",
        "副总经理",
        "销售总监",
        "采购经理",
        "工程师",
        "高级工程师",
        "IT经理",
        "车队经理",
        "财务总监",
        "VP Sales",
        "Purchasing Director",
        "Fleet Manager",
        "Engineer",
        "CTO",
    ];
    pub const US_TITLES: &[&str] = &[
        "VP Sales",
        "VP Operations",
        "Director of IT",
        "Purchasing Director",
        "Fleet Manager",
        "Operations Manager",
        "Office Manager",
        "Software Engineer",
        "CFO",
        "CEO",
        "Buyer",
        "Account Manager",
    ];
    pub const DE_TITLES: &[&str] = &[
        "Geschäftsführer",
        "Einkaufsleiter",
        "Fuhrparkleiter",
        "IT-Leiter",
        "Director Sales",
        "Head of Procurement",
        "Engineer",
        "Manager Operations",
        "Ingenieur",
    ];
    pub const CALL_SUBJECTS: &[&str] = &[
        "Intro call",
        "Follow-up call",
        "Discussed pricing",
        "Checked budget timeline",
        "Renewal check-in",
        "电话回访",
        "Clarified requirements",
    ];
    pub const EMAIL_SUBJECTS: &[&str] = &[
        "Sent product brochure",
        "Quote sent",
        "Meeting recap",
        "Contract draft sent",
        "Holiday greetings",
        "报价单已发送",
        "Case study shared",
    ];
    pub const MEETING_SUBJECTS: &[&str] = &[
        "Demo for the buying team",
        "Quarterly business review",
        "Kick-off meeting",
        "Negotiation round",
        "需求确认会",
    ];
    pub const VISIT_SUBJECTS: &[&str] = &[
        "On-site visit",
        "Plant tour",
        "Visited the showroom",
        "客户拜访",
    ];
    pub const TEST_DRIVE_SUBJECTS: &[&str] = &[
        "Test drive EV-X SUV",
        "Test drive EV-S sedan",
        "Fleet test drive (3 vehicles)",
        "试驾 EV-X",
    ];
    pub const NOTE_SUBJECTS: &[&str] = &[
        "Decision maker changed",
        "Budget approved for Q3",
        "Competitor also bidding",
        "Prefers WeChat over e-mail",
        "Birthday next month",
    ];
    pub const ACTIVITY_NOTES: &[&str] = &[
        "Asked about winter range and charging at the depot.",
        "Wants a pilot with 10 users before rolling out.",
        "Procurement needs three quotes; we are one of them.",
        "Happy with support so far; asked about the API.",
        "Price is the main concern; will come back after the board meeting.",
        "客户关注售后服务和交付周期。",
        "Requested references from customers in the same industry.",
        "Interested in the maintenance package.",
    ];
    pub const TASK_TITLES: &[&str] = &[
        "Call back about the quote",
        "Send contract for signature",
        "Prepare demo",
        "Book a test drive",
        "Follow up after the trade show",
        "Send birthday card",
        "Check payment status with finance",
        "回访客户满意度",
        "Schedule quarterly review",
    ];
    pub const TASK_NOTES: &[&str] = &[
        "Customer asked to be contacted in the morning.",
        "Bring the updated price list.",
        "See last meeting notes.",
        "Asks about winter range.",
    ];
    /// (subject, description)
    pub const TICKETS: &[(&str, &str)] = &[
        (
            "System down: cannot log in",
            "All users get an error page since this morning.",
        ),
        (
            "Export to Excel broken",
            "The export button produces an empty file.",
        ),
        (
            "Charging station offline",
            "The 11 kW wallbox at the depot shows error E42.",
        ),
        (
            "Invoice amount wrong",
            "Invoice shows 12 seats, we have 10.",
        ),
        (
            "Question about the API rate limit",
            "How many requests per minute are allowed?",
        ),
        ("车辆无法充电", "客户反映车辆在快充桩无法充电。"),
        (
            "Request: add a custom field",
            "We need a field for the fleet cost centre.",
        ),
        (
            "Slow dashboard",
            "The sales dashboard takes 20 seconds to load.",
        ),
    ];
    /// (sku, name, price, currency)
    pub const PRODUCTS: &[(&str, &str, f64, &str)] = &[
        ("CRM-STARTER", "CRM Starter seat (year)", 240.0, "USD"),
        ("CRM-PRO", "CRM Pro seat (year)", 600.0, "USD"),
        ("CRM-ENT", "CRM Enterprise seat (year)", 1200.0, "USD"),
        ("CRM-API", "API add-on (year)", 3000.0, "USD"),
        ("SVC-ONBOARD", "Onboarding package", 5000.0, "USD"),
        ("SVC-PREMIUM", "Premium support (year)", 8000.0, "USD"),
        ("SVC-TRAIN", "Training day (on site)", 1500.0, "USD"),
        ("CRM-PRO-CN", "CRM 专业版席位 (年)", 4000.0, "CNY"),
        ("SVC-ONBOARD-CN", "实施服务包", 30000.0, "CNY"),
        ("EV-S", "EV-S sedan", 230000.0, "CNY"),
        ("EV-X", "EV-X SUV", 298000.0, "CNY"),
        ("EVAN", "eVan cargo", 260000.0, "CNY"),
        ("WALLBOX-11", "Wallbox charger 11 kW", 4500.0, "CNY"),
        ("CHG-CREDIT-50", "Charging credit 50", 50.0, "CNY"),
        ("WARRANTY-EXT", "Extended warranty 3 years", 12000.0, "CNY"),
        ("TYRES-WINTER", "Winter tyre set", 6800.0, "CNY"),
        ("MAINT-PKG", "Maintenance package (3 years)", 9000.0, "CNY"),
        ("EV-S-EU", "EV-S sedan (EU)", 42000.0, "EUR"),
        ("EV-X-EU", "EV-X SUV (EU)", 54000.0, "EUR"),
        ("WALLBOX-EU", "Wallbox charger 22 kW (EU)", 1400.0, "EUR"),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    async fn temp_crm() -> (Crm, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!("crm-demo-test-{}.db", Uuid::now_v7()));
        let crm = Crm::connect(&format!("sqlite://{}", path.display()))
            .await
            .expect("open test database");
        (crm, path)
    }

    fn cleanup(path: &std::path::Path) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    #[tokio::test]
    async fn small_seed_fills_every_stage_of_both_pipelines() {
        let (crm, path) = temp_crm().await;
        assert!(is_empty(&crm).await.expect("is_empty"));
        let size = SeedSize {
            companies: 20,
            contacts: 100,
            deals_per_pipeline: 12,
            activities: 40,
            tasks: 10,
            tickets: 12,
            products: 20,
            orders: 8,
        };
        let started = std::time::Instant::now();
        let (tenant, key) = seed_sized(&crm, size, false).await.expect("seed");
        eprintln!("small seed took {:?}", started.elapsed());
        assert!(key.starts_with("crm_"));
        assert!(!is_empty(&crm).await.expect("is_empty"));

        let count = |e: &'static str| {
            let crm = crm.clone();
            async move { record::all_ids(&crm, tenant, e).await.expect("ids").len() }
        };
        assert_eq!(count("company").await, 20);
        assert_eq!(count("contact").await, 100);
        assert_eq!(count("product").await, 20);
        assert_eq!(count("order").await, 8);
        assert_eq!(count("ticket").await, 12);
        assert_eq!(count("task").await, 10);
        assert!(count("activity").await >= 40);

        // Exactly five contacts repeat an earlier contact's e-mail.
        let contact_ids = record::all_ids(&crm, tenant, "contact").await.expect("ids");
        let people = record::get_many::<Contact>(&crm, tenant, &contact_ids)
            .await
            .expect("contacts");
        let with_email: Vec<&str> = people.iter().filter_map(|c| c.email.as_deref()).collect();
        let distinct: HashSet<&str> = with_email.iter().copied().collect();
        assert_eq!(with_email.len() - distinct.len(), 5);

        let sys = Principal::system(tenant);
        let users = crm_core::tenant::users(&crm, &sys).await.expect("users");
        assert_eq!(users.len(), 8);

        let deal_ids = record::all_ids(&crm, tenant, "deal").await.expect("ids");
        let deals = record::get_many::<Deal>(&crm, tenant, &deal_ids)
            .await
            .expect("deals");
        let mut per_stage: HashMap<Uuid, usize> = HashMap::new();
        for d in &deals {
            *per_stage.entry(d.stage_id).or_default() += 1;
        }
        let pipelines: HashSet<Uuid> = deals.iter().map(|d| d.pipeline_id).collect();
        assert_eq!(pipelines.len(), 2);
        let pl: Vec<Uuid> = pipelines.into_iter().collect();
        let stages = crm_core::pipeline::stages_of(&crm, tenant, &pl)
            .await
            .expect("stages");
        assert_eq!(stages.len(), 12);
        for s in &stages {
            assert!(
                per_stage.get(&s.id).copied().unwrap_or(0) > 0,
                "no deal in stage {}",
                s.name
            );
        }
        // Moves were recorded as stage history.
        let history = crm_core::deal::history_of(&crm, tenant, &deal_ids)
            .await
            .expect("history");
        assert!(history.len() > deals.len());
        cleanup(&path);
    }

    /// The full demo, timed: `cargo test -p crm-host --lib full_seed -- --ignored --nocapture`.
    #[tokio::test]
    #[ignore = "slow: seeds the full demo"]
    async fn full_seed_timing() {
        let (crm, path) = temp_crm().await;
        let started = std::time::Instant::now();
        let (tenant, _) = seed(&crm, true).await.expect("seed");
        eprintln!("full seed took {:?}", started.elapsed());
        for e in [
            "company", "contact", "deal", "activity", "task", "ticket", "order",
        ] {
            let n = record::all_ids(&crm, tenant, e).await.expect("ids").len();
            eprintln!("{e}: {n}");
        }
        cleanup(&path);
    }

    #[test]
    fn xorshift_is_deterministic() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        for _ in 0..100 {
            assert_eq!(a.next(), b.next());
        }
        assert!((0..1000).all(|_| a.below(7) < 7));
    }

    #[test]
    fn slugs_are_domain_safe() {
        assert_eq!(slug("Müller Logistik GmbH"), "mueller-logistik");
        assert_eq!(
            slug("Shenzhen Huaxin Auto Parts Co., Ltd."),
            "shenzhen-huaxin-auto-parts"
        );
    }
}
