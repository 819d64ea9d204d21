//! Compiled plugin input queries give exactly what the GraphQL executor
//! gives, on SQLite and PostgreSQL: every field the plan understands, over
//! records with and without companies, tags, activities (recent and old),
//! open and closed deals, custom fields and dates.

use crm_host::plugin_host::InputPath;
use crm_tests::both_backends;
use crm_tests::server::*;
use serde_json::{Value, json};
use uuid::Uuid;

const ALL_SCOPES: [&str; 4] = ["read:contact", "read:company", "read:deal", "read:activity"];
/// Values of sensitive custom fields in the seed.
const NATIONAL_ID: &str = "110101199003077777";
const TAX_ID: &str = "91310000MA1K4XYZ0P";

/// How many `pii_read` audit records the tenant has.
async fn pii_reads(srv: &TestServer) -> u64 {
    use crm_core::entity::audit_log;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    audit_log::Entity::find()
        .filter(audit_log::Column::TenantId.eq(srv.tenant))
        .filter(audit_log::Column::Action.eq("pii_read"))
        .count(&srv.app.crm.db)
        .await
        .expect("audit log")
}

fn id_of(v: &Value) -> Uuid {
    Uuid::parse_str(v["id"].as_str().expect("id")).expect("uuid")
}

/// Companies, contacts, activities and deals with varied data; returns the
/// ids of (contacts, companies, deals).
async fn seed(srv: &TestServer) -> (Vec<Uuid>, Vec<Uuid>, Vec<Uuid>) {
    srv.ok(
        "mutation { defineCustomField(input: {entity: \"contact\", key: \"vin\", label: \"VIN\", kind: TEXT}) { key } }",
        json!({}),
    )
    .await;
    for (entity, key) in [("contact", "nationalId"), ("company", "taxId")] {
        srv.ok(
            "mutation($e: String!, $k: String!) { defineCustomField(input: {entity: $e, key: $k, kind: TEXT, sensitive: true}) { key } }",
            json!({"e": entity, "k": key}),
        )
        .await;
    }
    let mut companies = vec![];
    for (i, (name, employees, revenue)) in [
        ("Acme", Some(1200), Some(2.5e6)),
        ("Tiny", Some(8), None),
        ("Unknown", None, Some(1e9)),
    ]
    .into_iter()
    .enumerate()
    {
        let c = srv
            .ok(
                "mutation($i: CompanyInput!) { createCompany(input: $i) { id } }",
                json!({"i": {"name": name, "employeeCount": employees, "annualRevenue": revenue,
                    "domain": format!("{}.example.com", name.to_lowercase()), "country": "CN",
                    "city": if i == 0 { Value::from("Shanghai") } else { Value::Null },
                    "tags": if i == 1 { json!(["smb", "new"]) } else { json!([]) },
                    "customFields": if i == 0 { json!({"taxId": TAX_ID}) } else { json!({}) }}}),
            )
            .await;
        companies.push(id_of(&c["createCompany"]));
    }
    let mut contacts = vec![];
    for i in 0..7 {
        let company = (i < 5).then(|| companies[i % 3].to_string());
        let first = ["Li", "Ana", "", "Bo", "Kim", "Zoe", "Max"][i];
        let last = ["Wei", "Lopez", "Solo", "", "Park", "Ng", "Ray"][i];
        let title = [
            "CEO",
            "Engineer",
            "总经理",
            "Intern",
            "VP Sales",
            "Director",
            "Manager",
        ][i];
        let stage = [
            "PROSPECT", "ACTIVE", "AT_RISK", "CHURNED", "WON_BACK", "ACQUIRED", "PROSPECT",
        ][i];
        let phone = if i % 2 == 0 {
            Value::from("138 0013 8000")
        } else {
            Value::Null
        };
        let birth = if i == 1 {
            Value::from("1990-02-03")
        } else {
            Value::Null
        };
        let tags = if i % 3 == 0 {
            json!(["vip", "b2b"])
        } else {
            json!([])
        };
        let custom = if i == 2 {
            json!({"vin": "LSV123", "nationalId": NATIONAL_ID})
        } else {
            json!({})
        };
        let c = srv
            .ok(
                "mutation($i: ContactInput!) { createContact(input: $i) { id } }",
                json!({"i": {
                    "firstName": first, "lastName": last, "email": format!("p{i}@example.com"),
                    "phone": phone, "title": title, "lifecycleStage": stage, "birthDate": birth,
                    "companyId": company, "tags": tags, "customFields": custom,
                }}),
            )
            .await;
        contacts.push(id_of(&c["createContact"]));
    }
    // Activities: several recent ones for the first contacts, an old one.
    let now = chrono::Utc::now();
    for (contact, days_ago) in [(0, 1), (0, 3), (0, 40), (1, 10), (1, 200), (3, 95), (4, 0)] {
        srv.ok(
            "mutation($i: ActivityInput!) { createActivity(input: $i) { id } }",
            json!({"i": {"kind": "CALL", "subject": "call", "contactId": contacts[contact].to_string(),
                "occurredAt": (now - chrono::Duration::days(days_ago)).to_rfc3339()}}),
        )
        .await;
    }
    let p = srv
        .ok(
            "mutation { createPipeline(input: {name: \"Sales\", stages: [{name: \"Open\", probability: 0.2}, {name: \"Won\", probability: 1, isWon: true}]}) { id stages { id } } }",
            json!({}),
        )
        .await;
    let pid = p["createPipeline"]["id"]
        .as_str()
        .expect("pipeline")
        .to_string();
    let won = p["createPipeline"]["stages"][1]["id"]
        .as_str()
        .expect("stage")
        .to_string();
    let mut deals = vec![];
    for (contact, amount, closed) in [
        (0, 50_000.5, false),
        (0, 20_000.0, false),
        (1, 9_999.0, true),
        (2, 0.0, false),
    ] {
        let d = srv
            .ok(
                "mutation($i: DealInput!) { createDeal(input: $i) { id } }",
                json!({"i": {"name": format!("Deal {amount}"), "pipelineId": pid, "amount": amount,
                    "currency": "CNY", "contactId": contacts[contact].to_string(),
                    "expectedCloseDate": if closed { Value::Null } else { Value::from("2027-01-31") }}}),
            )
            .await;
        let id = id_of(&d["createDeal"]);
        if closed {
            srv.ok(
                "mutation($id: ID!, $s: ID!) { moveDeal(id: $id, stageId: $s) { id } }",
                json!({"id": id.to_string(), "s": won}),
            )
            .await;
        }
        deals.push(id);
    }
    (contacts, companies, deals)
}

async fn both_paths(
    srv: &TestServer,
    entity: &'static str,
    input: &str,
    scopes: &[&str],
    ids: &[Uuid],
) -> (Vec<(Uuid, String)>, Vec<(Uuid, String)>) {
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    let run = |path| {
        let scopes = scopes.clone();
        async move {
            let mut r = srv
                .app
                .plugins
                .input_records(srv.tenant, "probe", entity, input, scopes, ids, path)
                .await
                .unwrap_or_else(|e| panic!("{entity} {input}: {}", e.message));
            r.sort();
            r
        }
    };
    let planned = run(InputPath::Planned).await;
    let executed = run(InputPath::GraphQl).await;
    (planned, executed)
}

both_backends!(plans_match_the_executor, |srv: TestServer| async move {
    let (contacts, companies, deals) = seed(&srv).await;
    let mut with_missing = contacts.clone();
    with_missing.push(Uuid::now_v7()); // unknown ids are skipped by both
    let cases: [(&'static str, &str, &[Uuid]); 7] = [
        (
            "contact",
            "{ id title company { employeeCount } lastActivityDaysAgo recentActivityCount(days: 90) openDealsValue }",
            &with_missing,
        ),
        (
            "contact",
            "{ firstName lastName name email phone title lifecycleStage birthDate customFields createdAt updatedAt tags }",
            &contacts,
        ),
        (
            "contact",
            "{ activityCount week: recentActivityCount(days: 7) recentActivityCount lastActivityAt openDealsCount openDealsValue }",
            &contacts,
        ),
        (
            "contact",
            "company { id name domain industry employeeCount annualRevenue phone country city lifecycleStage customFields createdAt updatedAt tags } title",
            &contacts,
        ),
        (
            "company",
            "{ name domain industry employeeCount annualRevenue phone country city lifecycleStage customFields createdAt updatedAt tags }",
            &companies,
        ),
        (
            "deal",
            "{ name amount currency expectedCloseDate stageEnteredAt closedAt customFields createdAt updatedAt }",
            &deals,
        ),
        ("contact", "{ id }", &contacts[..1]),
    ];
    for (entity, input, ids) in cases {
        assert!(
            crm_graphql::InputPlan::compile(entity, input).is_some(),
            "{input} should compile (else this case tests nothing)"
        );
        let (planned, executed) = both_paths(&srv, entity, input, &ALL_SCOPES, ids).await;
        let expected = ids.len().min(if entity == "contact" {
            contacts.len()
        } else {
            ids.len()
        });
        assert_eq!(executed.len(), expected, "{input}");
        assert_eq!(planned, executed, "{entity} {input}");
    }

    // Sensitive custom fields: the cases above saw them masked on both
    // paths (no pii:read); with it both paths open them, and audit it.
    let mut pii = ALL_SCOPES.to_vec();
    pii.push("pii:read");
    let inputs = [
        (
            "contact",
            "{ customFields company { id customFields } }",
            &contacts,
        ),
        (
            "contact",
            "{ cf: customFields company { customFields } }",
            &contacts,
        ),
        ("company", "{ customFields }", &companies),
    ];
    let reads_before = pii_reads(&srv).await;
    for (entity, input, ids) in inputs {
        let (masked, _) = both_paths(&srv, entity, input, &ALL_SCOPES, ids).await;
        let masked = format!("{masked:?}");
        assert!(
            !masked.contains(NATIONAL_ID) && !masked.contains(TAX_ID),
            "{masked}"
        );
        assert!(!masked.contains("enc:v1:"), "{masked}");
        assert!(masked.contains("********"), "{masked}");
        let (planned, executed) = both_paths(&srv, entity, input, &pii, ids).await;
        assert_eq!(planned, executed, "{entity} {input}");
        let shown = format!("{planned:?}");
        assert!(
            shown.contains(if entity == "company" {
                TAX_ID
            } else {
                NATIONAL_ID
            }),
            "{shown}"
        );
        assert!(
            !shown.contains("enc:v1:") && !shown.contains("********"),
            "{shown}"
        );
    }
    assert!(
        pii_reads(&srv).await > reads_before,
        "reads that showed sensitive values are audited"
    );

    // The figures themselves, on the first contact: 2 activities in 7 days,
    // 3 in 90, open deals 70,000.5 (the won deal of another contact is closed).
    let (planned, _) = both_paths(
        &srv,
        "contact",
        "{ week: recentActivityCount(days: 7) recentActivityCount openDealsValue openDealsCount lastActivityDaysAgo tags company { employeeCount tags } }",
        &ALL_SCOPES,
        &contacts[..1],
    )
    .await;
    let doc: Value = serde_json::from_str(&planned[0].1).expect("json");
    assert_eq!(doc["week"], 2, "{doc}");
    assert_eq!(doc["recentActivityCount"], 3, "{doc}");
    assert_eq!(doc["openDealsValue"], 70_000.5, "{doc}");
    assert_eq!(doc["openDealsCount"], 2, "{doc}");
    assert_eq!(doc["lastActivityDaysAgo"], 1, "{doc}");
    assert_eq!(doc["company"]["employeeCount"], 1200, "{doc}");
    let mut tags: Vec<String> = serde_json::from_value(doc["tags"].clone()).expect("tags");
    tags.sort();
    assert_eq!(tags, ["b2b", "vip"]);

    // A plugin that may not read companies goes through the executor, and
    // both paths agree on what it sees.
    let input = "{ title company { name } }";
    let (planned, executed) =
        both_paths(&srv, "contact", input, &["read:contact"], &contacts).await;
    assert_eq!(planned, executed);
    // Without read:contact the query fails on either path.
    let denied = srv
        .app
        .plugins
        .input_records(
            srv.tenant,
            "probe",
            "contact",
            input,
            vec![],
            &contacts,
            InputPath::Planned,
        )
        .await;
    assert_eq!(
        denied.map_err(|e| e.code).err().as_deref(),
        Some("INPUT_QUERY")
    );

    // Another tenant's records are invisible to both.
    let other = srv.other_tenant("Other").await;
    let theirs = srv
        .gql_as(
            &other,
            "mutation { createContact(input: {firstName: \"Theirs\"}) { id } }",
            json!({}),
        )
        .await;
    let theirs = id_of(&theirs["data"]["createContact"]);
    let (planned, executed) =
        both_paths(&srv, "contact", "{ id firstName }", &ALL_SCOPES, &[theirs]).await;
    assert!(
        planned.is_empty() && executed.is_empty(),
        "{planned:?} {executed:?}"
    );
});

// Inside the transaction that creates a contact, the plan skips reading its
// engagement (nothing can refer to a record that did not exist): what it
// gives must be what reading it gives for a contact without activities or
// deals. And a contact that has some reads them whenever `created` is false.
both_backends!(
    a_created_contacts_engagement_is_known_empty,
    |srv: TestServer| async move {
        let (contacts, _, _) = seed(&srv).await;
        let fresh = srv
            .ok(
                "mutation { createContact(input: {firstName: \"New\", title: \"CTO\"}) { id } }",
                json!({}),
            )
            .await;
        let fresh = id_of(&fresh["createContact"]);
        let input = "{ id title activityCount week: recentActivityCount(days: 7) recentActivityCount lastActivityAt lastActivityDaysAgo openDealsValue openDealsCount tags }";
        let plan = crm_graphql::InputPlan::compile("contact", input).expect("compiles");
        let crm = &srv.app.crm;
        let run = |ids: Vec<Uuid>, created: bool| {
            let plan = &plan;
            async move {
                plan.run_on(&crm.db, crm.now(), srv.tenant, &ids, created)
                    .await
                    .expect("runs")
            }
        };
        // Statements each way: the counter is the server's, which runs
        // background work too, so the fewest of several runs.
        let statements = || srv.queries.load(std::sync::atomic::Ordering::SeqCst);
        let (mut with_skip, mut without) = (u64::MAX, u64::MAX);
        let (mut skipped, mut read) = (vec![], vec![]);
        for _ in 0..5 {
            let before = statements();
            skipped = run(vec![fresh], true).await;
            with_skip = with_skip.min(statements() - before);
            let before = statements();
            read = run(vec![fresh], false).await;
            without = without.min(statements() - before);
        }
        assert_eq!(skipped, read);
        assert!(
            with_skip < without,
            "engagement is not read: {with_skip} < {without} statements"
        );
        let doc: Value = serde_json::from_str(&read[0].1).expect("json");
        assert_eq!(doc["activityCount"], 0, "{doc}");
        assert_eq!(doc["lastActivityDaysAgo"], Value::Null, "{doc}");
        assert_eq!(doc["openDealsValue"], 0.0, "{doc}");

        // The seeded first contact has activities and open deals: read unless
        // the caller says the records were just created.
        let read = run(vec![contacts[0]], false).await;
        let doc: Value = serde_json::from_str(&read[0].1).expect("json");
        assert_eq!(doc["recentActivityCount"], 3, "{doc}");
        assert_eq!(doc["openDealsValue"], 70_000.5, "{doc}");
    }
);
