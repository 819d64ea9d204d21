//! End-to-end tests of records over GraphQL: CRUD, validation, tenancy, roles,
//! pagination, filters, merge, duplicates and DataLoader batching.

use crm_tests::both_backends;
use crm_tests::server::*;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::atomic::Ordering;

const CREATE_CONTACT: &str = "mutation($i: ContactInput!) { createContact(input: $i) { id firstName lastName email phone tags customFields company { id name } } }";

async fn contact(srv: &TestServer, input: Value) -> Value {
    srv.ok(CREATE_CONTACT, json!({"i": input})).await["createContact"].clone()
}

async fn company(srv: &TestServer, name: &str) -> String {
    let d = srv
        .ok(
            "mutation($n: String!) { createCompany(input: {name: $n}) { id } }",
            json!({"n": name}),
        )
        .await;
    d["createCompany"]["id"].as_str().unwrap().to_string()
}

async fn contact_count(srv: &TestServer) -> i64 {
    srv.ok("{ contacts { totalCount } }", json!({})).await["contacts"]["totalCount"]
        .as_i64()
        .unwrap()
}

fn ids(conn: &Value) -> Vec<String> {
    conn["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_string())
        .collect()
}

fn field_paths(r: &Value) -> Vec<(String, String)> {
    r["errors"][0]["extensions"]["fields"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    (
                        f["path"].as_str().unwrap_or("").to_string(),
                        f["code"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

both_backends!(contact_crud, |srv: TestServer| async move {
    let co = company(&srv, "Acme").await;
    let c = contact(&srv, json!({"firstName": "Li", "lastName": "Wei", "email": "LI@Example.com", "companyId": co, "tags": ["vip"]})).await;
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(c["email"], "li@example.com");
    assert_eq!(c["company"]["name"], "Acme");
    let d = srv
        .ok(
            "query($id: ID!) { contact(id: $id) { firstName lastName tags } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(d["contact"]["lastName"], "Wei");
    assert_eq!(d["contact"]["tags"], json!(["vip"]));
    let d = srv
        .ok(
            "mutation($id: ID!) { updateContact(id: $id, input: {title: \"CEO\", email: null}) { title email firstName } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(d["updateContact"]["title"], "CEO");
    assert_eq!(d["updateContact"]["email"], Value::Null);
    assert_eq!(d["updateContact"]["firstName"], "Li");
    let d = srv
        .ok(
            "mutation($id: ID!) { deleteContact(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(d["deleteContact"]["id"], id.as_str());
    let r = srv
        .gql(
            "query($id: ID!) { contact(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(error_code(&r), "NOT_FOUND", "{r}");
    assert_eq!(contact_count(&srv).await, 0);
});

both_backends!(company_crud, |srv: TestServer| async move {
    let id = company(&srv, "Foshan Motors").await;
    let d = srv
        .ok(
            "mutation($id: ID!) { updateCompany(id: $id, input: {industry: \"auto\", employeeCount: 42}) { name industry employeeCount } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(d["updateCompany"]["industry"], "auto");
    assert_eq!(d["updateCompany"]["employeeCount"], 42);
    assert_eq!(d["updateCompany"]["name"], "Foshan Motors");
    let d = srv
        .ok(
            "query($id: ID!) { company(id: $id) { name } companies { totalCount } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(d["company"]["name"], "Foshan Motors");
    assert_eq!(d["companies"]["totalCount"], 1);
    srv.ok(
        "mutation($id: ID!) { deleteCompany(id: $id) { id } }",
        json!({"id": id}),
    )
    .await;
    let r = srv
        .gql(
            "query($id: ID!) { company(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(error_code(&r), "NOT_FOUND", "{r}");
});

both_backends!(activity_task_ticket_crud, |srv: TestServer| async move {
    let c = contact(&srv, json!({"firstName": "A"})).await;
    let cid = c["id"].as_str().unwrap();
    let a = srv
        .ok("mutation($c: ID!) { createActivity(input: {kind: CALL, contactId: $c, subject: \"hello\"}) { id kind subject } }", json!({"c": cid}))
        .await;
    let aid = a["createActivity"]["id"].as_str().unwrap().to_string();
    assert_eq!(a["createActivity"]["kind"], "CALL");
    let d = srv
        .ok(
            "mutation($id: ID!) { updateActivity(id: $id, input: {subject: \"bye\"}) { subject } }",
            json!({"id": aid}),
        )
        .await;
    assert_eq!(d["updateActivity"]["subject"], "bye");
    srv.ok(
        "mutation($id: ID!) { deleteActivity(id: $id) { id } }",
        json!({"id": aid}),
    )
    .await;
    let r = srv
        .gql(
            "query($id: ID!) { activity(id: $id) { id } }",
            json!({"id": aid}),
        )
        .await;
    assert_eq!(error_code(&r), "NOT_FOUND", "{r}");

    let t = srv
        .ok(
            "mutation { createTask(input: {title: \"call back\"}) { id status } }",
            json!({}),
        )
        .await;
    let tid = t["createTask"]["id"].as_str().unwrap().to_string();
    let d = srv
        .ok(
            "mutation($id: ID!) { updateTask(id: $id, input: {status: DONE}) { status } }",
            json!({"id": tid}),
        )
        .await;
    assert_eq!(d["updateTask"]["status"], "DONE");
    srv.ok(
        "mutation($id: ID!) { deleteTask(id: $id) { id } }",
        json!({"id": tid}),
    )
    .await;
    assert_eq!(
        srv.ok("{ tasks { totalCount } }", json!({})).await["tasks"]["totalCount"],
        0
    );

    let k = srv
        .ok("mutation($c: ID!) { createTicket(input: {subject: \"broken\", priority: P2, contactId: $c}) { id status priority } }", json!({"c": cid}))
        .await;
    let kid = k["createTicket"]["id"].as_str().unwrap().to_string();
    assert_eq!(k["createTicket"]["priority"], "P2");
    let d = srv
        .ok(
            "mutation($id: ID!) { updateTicket(id: $id, input: {status: RESOLVED}) { status } }",
            json!({"id": kid}),
        )
        .await;
    assert_eq!(d["updateTicket"]["status"], "RESOLVED");
    srv.ok(
        "mutation($id: ID!) { deleteTicket(id: $id) { id } }",
        json!({"id": kid}),
    )
    .await;
    assert_eq!(
        srv.ok("{ tickets { totalCount } }", json!({})).await["tickets"]["totalCount"],
        0
    );
});

both_backends!(validation_email_phone_names, |srv: TestServer| async move {
    let r = srv
        .gql(
            CREATE_CONTACT,
            json!({"i": {"firstName": "X", "email": "not-an-email"}}),
        )
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.email", "{r}");
    assert!(r["data"].is_null() || r["data"]["createContact"].is_null());

    let r = srv
        .gql(CREATE_CONTACT, json!({"i": {"email": "a@b.com"}}))
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
    assert!(field_paths(&r).iter().any(|(_, c)| c == "REQUIRED"), "{r}");

    let r = srv
        .gql(
            CREATE_CONTACT,
            json!({"i": {"firstName": "  ", "lastName": ""}}),
        )
        .await;
    assert_eq!(
        error_code(&r),
        "BAD_USER_INPUT",
        "blank names must be rejected: {r}"
    );

    assert_eq!(
        contact_count(&srv).await,
        0,
        "rejected creates wrote nothing"
    );

    let c = contact(
        &srv,
        json!({"firstName": "Zhang", "phone": "138 0013 8000"}),
    )
    .await;
    assert_eq!(c["phone"], "+8613800138000");
    assert_eq!(contact_count(&srv).await, 1);
});

both_backends!(validation_custom_fields, |srv: TestServer| async move {
    srv.ok(
        "mutation { defineCustomField(input: {entity: \"contact\", key: \"vin\", kind: TEXT, required: false}) { key } }",
        json!({}),
    )
    .await;
    srv.ok(
        "mutation { defineCustomField(input: {entity: \"contact\", key: \"budget\", kind: NUMBER}) { key } }",
        json!({}),
    )
    .await;
    let r = srv
        .gql(
            CREATE_CONTACT,
            json!({"i": {"firstName": "A", "customFields": {"budget": "lots"}}}),
        )
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
    assert!(
        field_paths(&r)
            .iter()
            .any(|(p, _)| p == "input.customFields.budget"),
        "{r}"
    );

    let r = srv
        .gql(
            CREATE_CONTACT,
            json!({"i": {"firstName": "A", "customFields": {"color": "red"}}}),
        )
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
    assert!(
        field_paths(&r).contains(&("input.customFields.color".into(), "UNKNOWN_FIELD".into())),
        "{r}"
    );
    assert_eq!(contact_count(&srv).await, 0);

    let c = contact(
        &srv,
        json!({"firstName": "A", "customFields": {"vin": "LSV123", "budget": 5000}}),
    )
    .await;
    assert_eq!(c["customFields"]["vin"], "LSV123");
    assert_eq!(c["customFields"]["budget"].as_f64(), Some(5000.0));
    // On update, keys merge; null removes a key.
    let d = srv
        .ok(
            "mutation($id: ID!) { updateContact(id: $id, input: {customFields: {budget: null}}) { customFields } }",
            json!({"id": c["id"]}),
        )
        .await;
    assert_eq!(d["updateContact"]["customFields"]["vin"], "LSV123");
    assert!(
        d["updateContact"]["customFields"]
            .get("budget")
            .is_none_or(|v| v.is_null()),
        "{d}"
    );
});

both_backends!(tenancy_isolation, |srv: TestServer| async move {
    let c = contact(&srv, json!({"firstName": "Secret"})).await;
    let id = c["id"].as_str().unwrap();
    let other = srv.other_tenant("Other Co").await;
    let r = srv
        .gql_as(
            &other,
            "query($id: ID!) { contact(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(error_code(&r), "NOT_FOUND", "{r}");
    let r = srv
        .gql_as(
            &other,
            "{ contacts { totalCount edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(r["data"]["contacts"]["totalCount"], 0, "{r}");
    let r = srv
        .gql_as(
            &other,
            "mutation($id: ID!) { updateContact(id: $id, input: {firstName: \"Hacked\"}) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(error_code(&r), "NOT_FOUND", "{r}");
    let r = srv
        .gql_as(
            &other,
            "mutation($id: ID!) { deleteContact(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(error_code(&r), "NOT_FOUND", "{r}");
    // Another tenant's contact cannot be attached as a company link either.
    let oc = srv
        .gql_as(
            &other,
            "mutation { createCompany(input: {name: \"Theirs\"}) { id } }",
            json!({}),
        )
        .await;
    let ocid = oc["data"]["createCompany"]["id"].as_str().unwrap();
    let r = srv
        .gql(
            CREATE_CONTACT,
            json!({"i": {"firstName": "B", "companyId": ocid}}),
        )
        .await;
    assert!(
        r.get("errors").is_some(),
        "linking another tenant's company must fail: {r}"
    );
    let d = srv
        .ok(
            "query($id: ID!) { contact(id: $id) { firstName } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(d["contact"]["firstName"], "Secret");
});

both_backends!(roles_and_auth, |srv: TestServer| async move {
    let ro = srv.key_with_role("READ_ONLY").await;
    let sales = srv.key_with_role("SALES").await;
    let support = srv.key_with_role("SUPPORT").await;
    let c = contact(&srv, json!({"firstName": "A"})).await;
    let cid = c["id"].as_str().unwrap();

    let r = srv
        .gql_as(&ro, CREATE_CONTACT, json!({"i": {"firstName": "B"}}))
        .await;
    assert_eq!(error_code(&r), "FORBIDDEN", "{r}");
    let r = srv
        .gql_as(&ro, "{ contacts { totalCount } }", json!({}))
        .await;
    assert_eq!(r["data"]["contacts"]["totalCount"], 1, "{r}");

    let p = srv
        .ok("mutation { createPipeline(input: {name: \"P\", stages: [{name: \"New\", probability: 0.1}]}) { id } }", json!({}))
        .await;
    let pid = p["createPipeline"]["id"].as_str().unwrap();
    let r = srv
        .gql_as(&sales, "mutation($p: ID!) { createDeal(input: {name: \"D\", pipelineId: $p, amount: 10}) { id } }", json!({"p": pid}))
        .await;
    assert!(r.get("errors").is_none(), "SALES can create deals: {r}");
    let r = srv
        .gql_as(
            &sales,
            "mutation($id: ID!) { deleteContact(id: $id) { id } }",
            json!({"id": cid}),
        )
        .await;
    assert_eq!(error_code(&r), "FORBIDDEN", "{r}");
    assert_eq!(contact_count(&srv).await, 1);

    let t = srv
        .ok(
            "mutation { createTicket(input: {subject: \"s\", priority: P3}) { id } }",
            json!({}),
        )
        .await;
    let r = srv
        .gql_as(
            &support,
            "mutation($id: ID!) { updateTicket(id: $id, input: {status: PENDING}) { status } }",
            json!({"id": t["createTicket"]["id"]}),
        )
        .await;
    assert_eq!(r["data"]["updateTicket"]["status"], "PENDING", "{r}");

    let resp = srv
        .http
        .post(srv.url())
        .json(&json!({"query": "{ contacts { totalCount } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(error_code(&v), "UNAUTHENTICATED", "{v}");
    let r = srv
        .gql_as("crm_garbage_key", "{ contacts { totalCount } }", json!({}))
        .await;
    assert_eq!(error_code(&r), "UNAUTHENTICATED", "{r}");
});

both_backends!(pagination, |srv: TestServer| async move {
    for i in 0..25 {
        contact(
            &srv,
            json!({"firstName": format!("F{i:02}"), "lastName": "L"}),
        )
        .await;
    }
    let q = "query($a: String) { contacts(first: 7, after: $a, orderBy: [{field: FIRST_NAME, direction: ASC}]) { totalCount edges { cursor node { id firstName } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";
    let mut after: Value = Value::Null;
    let mut seen = vec![];
    let mut pages = 0;
    loop {
        let d = srv.ok(q, json!({"a": after})).await;
        let c = &d["contacts"];
        assert_eq!(c["totalCount"], 25);
        assert_eq!(c["pageInfo"]["hasPreviousPage"], pages > 0);
        seen.extend(ids(c));
        pages += 1;
        if !c["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = c["pageInfo"]["endCursor"].clone();
        assert!(pages < 10, "pagination does not terminate");
    }
    assert_eq!(pages, 4);
    assert_eq!(seen.len(), 25);
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        25,
        "duplicates across pages"
    );

    // last / before
    let d = srv
        .ok("{ contacts(last: 5, orderBy: [{field: FIRST_NAME, direction: ASC}]) { edges { cursor node { firstName } } pageInfo { hasPreviousPage hasNextPage startCursor } } }", json!({}))
        .await;
    let names: Vec<&str> = d["contacts"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["firstName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["F20", "F21", "F22", "F23", "F24"]);
    assert_eq!(d["contacts"]["pageInfo"]["hasPreviousPage"], true);
    let before = d["contacts"]["pageInfo"]["startCursor"].clone();
    let d = srv
        .ok(
            "query($b: String) { contacts(last: 3, before: $b, orderBy: [{field: FIRST_NAME, direction: ASC}]) { edges { node { firstName } } } }",
            json!({"b": before}),
        )
        .await;
    let names: Vec<&str> = d["contacts"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["firstName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["F17", "F18", "F19"]);

    let r = srv
        .gql("{ contacts(first: 101) { totalCount } }", json!({}))
        .await;
    assert_eq!(error_code(&r), "LIMIT_EXCEEDED", "{r}");
    let r = srv
        .gql("{ contacts(first: 100) { totalCount } }", json!({}))
        .await;
    assert!(r.get("errors").is_none(), "{r}");
    let r = srv
        .gql("{ contacts(after: \"garbage\") { totalCount } }", json!({}))
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
});

both_backends!(filters_and_ordering, |srv: TestServer| async move {
    contact(&srv, json!({"firstName": "Alice", "lastName": "Zhou", "email": "alice@acme.com", "tags": ["vip", "auto"]})).await;
    contact(
        &srv,
        json!({"firstName": "Bob", "lastName": "Yang", "email": "bob@other.com", "tags": ["auto"]}),
    )
    .await;
    contact(
        &srv,
        json!({"firstName": "Carol", "lastName": "Xu", "email": "carol@ACME.com"}),
    )
    .await;
    contact(&srv, json!({"firstName": "alfred", "lastName": "Wu"})).await;
    let q = "query($f: ContactFilter, $o: [ContactOrderBy!]) { contacts(filter: $f, orderBy: $o) { totalCount edges { node { firstName } } } }";
    let names = |d: &Value| -> Vec<String> {
        d["contacts"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["firstName"].as_str().unwrap().to_string())
            .collect()
    };
    let asc = json!([{"field": "FIRST_NAME", "direction": "ASC"}]);
    let d = srv
        .ok(q, json!({"f": {"email": {"contains": "ACME"}}, "o": asc}))
        .await;
    assert_eq!(names(&d), ["Alice", "Carol"]);
    let d = srv
        .ok(
            q,
            json!({"f": {"firstName": {"startsWith": "al"}}, "o": asc}),
        )
        .await;
    assert_eq!(
        d["contacts"]["totalCount"], 2,
        "startsWith ignores case: {d}"
    );
    let d = srv
        .ok(
            q,
            json!({"f": {"firstName": {"in": ["Bob", "Carol"]}}, "o": asc}),
        )
        .await;
    assert_eq!(names(&d), ["Bob", "Carol"]);
    let d = srv
        .ok(
            q,
            json!({"f": {"or": [{"firstName": {"eq": "Bob"}}, {"lastName": {"eq": "Wu"}}]}}),
        )
        .await;
    assert_eq!(d["contacts"]["totalCount"], 2);
    let d = srv
        .ok(q, json!({"f": {"and": [{"email": {"contains": "acme"}}, {"not": {"firstName": {"eq": "Alice"}}}]}, "o": asc}))
        .await;
    assert_eq!(names(&d), ["Carol"]);
    let d = srv
        .ok(q, json!({"f": {"email": {"isNull": true}}, "o": asc}))
        .await;
    assert_eq!(names(&d), ["alfred"]);
    let d = srv
        .ok(q, json!({"f": {"tags": {"contains": "vip"}}, "o": asc}))
        .await;
    assert_eq!(names(&d), ["Alice"]);
    let d = srv
        .ok(q, json!({"f": {"tags": {"contains": "auto"}}, "o": asc}))
        .await;
    assert_eq!(names(&d), ["Alice", "Bob"]);
    let d = srv
        .ok(
            q,
            json!({"f": {"not": {"tags": {"contains": "auto"}}}, "o": asc}),
        )
        .await;
    assert_eq!(d["contacts"]["totalCount"], 2, "{d}");
    let d = srv
        .ok(
            q,
            json!({"o": [{"field": "LAST_NAME", "direction": "DESC"}]}),
        )
        .await;
    assert_eq!(names(&d), ["Alice", "Bob", "Carol", "alfred"]);
    let d = srv
        .ok(
            q,
            json!({"o": [{"field": "LAST_NAME", "direction": "ASC"}]}),
        )
        .await;
    assert_eq!(names(&d), ["alfred", "Carol", "Bob", "Alice"]);
});

both_backends!(
    merge_contacts_keeps_everything,
    |srv: TestServer| async move {
        srv.ok("mutation { defineCustomField(input: {entity: \"contact\", key: \"vin\", kind: TEXT}) { key } }", json!({})).await;
        let s = contact(&srv, json!({"firstName": "Survivor", "tags": ["a"]})).await;
        let m = contact(
            &srv,
            json!({"firstName": "Merged", "tags": ["b"], "customFields": {"vin": "LSV9"}}),
        )
        .await;
        let sid = s["id"].as_str().unwrap();
        let mid = m["id"].as_str().unwrap();
        srv.ok("mutation($c: ID!) { createActivity(input: {kind: CALL, contactId: $c, subject: \"call m\"}) { id } }", json!({"c": mid})).await;
        srv.ok("mutation($c: ID!) { createTicket(input: {subject: \"t\", priority: P3, contactId: $c}) { id } }", json!({"c": mid})).await;
        let p = srv.ok("mutation { createPipeline(input: {name: \"P\", stages: [{name: \"New\"}]}) { id } }", json!({})).await;
        srv.ok(
        "mutation($p: ID!, $c: ID!) { createDeal(input: {name: \"D\", pipelineId: $p, amount: 5, contactId: $c}) { id } }",
        json!({"p": p["createPipeline"]["id"], "c": mid}),
    )
    .await;
        let d = srv
        .ok("mutation($s: ID!, $m: [ID!]!) { mergeContacts(survivorId: $s, mergedIds: $m) { id tags customFields } }", json!({"s": sid, "m": [mid]}))
        .await;
        let mut tags: Vec<String> =
            serde_json::from_value(d["mergeContacts"]["tags"].clone()).unwrap();
        tags.sort();
        assert_eq!(tags, ["a", "b"]);
        assert_eq!(d["mergeContacts"]["customFields"]["vin"], "LSV9");
        let d = srv
        .ok(
            "query($id: ID!) { contact(id: $id) { id timeline { edges { node { subject } } } deals { edges { node { name } } } tickets { edges { node { subject } } } } }",
            json!({"id": mid}),
        )
        .await;
        let c = &d["contact"];
        assert_eq!(c["id"], sid, "merged id resolves to the survivor");
        assert_eq!(c["timeline"]["edges"].as_array().unwrap().len(), 1, "{c}");
        assert_eq!(c["deals"]["edges"].as_array().unwrap().len(), 1, "{c}");
        assert_eq!(c["tickets"]["edges"].as_array().unwrap().len(), 1, "{c}");
        assert_eq!(contact_count(&srv).await, 1);
        // Merging into itself is rejected.
        let r = srv
            .gql(
                "mutation($s: ID!) { mergeContacts(survivorId: $s, mergedIds: [$s]) { id } }",
                json!({"s": sid}),
            )
            .await;
        assert!(r.get("errors").is_some(), "self-merge must fail: {r}");
    }
);

both_backends!(
    duplicates_and_merge_companies,
    |srv: TestServer| async move {
        let a = contact(&srv, json!({"firstName": "A", "email": "dup@example.com"})).await;
        let b = contact(&srv, json!({"firstName": "B", "email": "DUP@Example.COM"})).await;
        contact(
            &srv,
            json!({"firstName": "C", "email": "other@example.com"}),
        )
        .await;
        let d = srv
            .ok(
                "{ duplicates(entity: CONTACT) { reason key ids } }",
                json!({}),
            )
            .await;
        let groups = d["duplicates"].as_array().unwrap();
        let want: HashSet<String> = [
            a["id"].as_str().unwrap().to_string(),
            b["id"].as_str().unwrap().to_string(),
        ]
        .into();
        assert!(
            groups.iter().any(
                |g| serde_json::from_value::<HashSet<String>>(g["ids"].clone()).unwrap() == want
            ),
            "{d}"
        );
        let c1 = company(&srv, "Acme Electronics").await;
        let c2 = company(&srv, "Acme Electronics Foshan").await;
        company(&srv, "Totally Different Ltd").await;
        let d = srv
            .ok(
                "{ duplicates(entity: COMPANY) { reason key ids } }",
                json!({}),
            )
            .await;
        let want: HashSet<String> = [c1.clone(), c2.clone()].into();
        assert!(
            d["duplicates"]
                .as_array()
                .unwrap()
                .iter()
                .any(
                    |g| serde_json::from_value::<HashSet<String>>(g["ids"].clone()).unwrap()
                        == want
                ),
            "{d}"
        );
        let x = contact(&srv, json!({"firstName": "X", "companyId": c2})).await;
        let d = srv
        .ok("mutation($s: ID!, $m: [ID!]!) { mergeCompanies(survivorId: $s, mergedIds: $m) { id name } }", json!({"s": c1, "m": [c2]}))
        .await;
        assert_eq!(d["mergeCompanies"]["id"], c1.as_str());
        let d = srv
            .ok(
                "query($id: ID!) { contact(id: $id) { company { id } } }",
                json!({"id": x["id"]}),
            )
            .await;
        assert_eq!(
            d["contact"]["company"]["id"],
            c1.as_str(),
            "contacts move to the surviving company"
        );
        let d = srv
            .ok(
                "query($id: ID!) { company(id: $id) { id } companies { totalCount } }",
                json!({"id": c2}),
            )
            .await;
        assert_eq!(d["company"]["id"], c1.as_str());
        assert_eq!(d["companies"]["totalCount"], 2);
    }
);

both_backends!(dataloaders_no_n_plus_one, |srv: TestServer| async move {
    let users: Vec<String> = {
        let mut v = vec![];
        for i in 0..3 {
            let d = srv
                .ok(
                    "mutation($e: String!) { createUser(input: {name: \"U\", email: $e, role: SALES}) { id } }",
                    json!({"e": format!("u{i}@x.com")}),
                )
                .await;
            v.push(d["createUser"]["id"].as_str().unwrap().to_string());
        }
        v
    };
    let mut cos = vec![];
    for i in 0..10 {
        cos.push(company(&srv, &format!("Co {i}")).await);
    }
    for i in 0..50 {
        contact(
            &srv,
            json!({"firstName": format!("N{i}"), "companyId": cos[i % 10], "ownerId": users[i % 3], "tags": [format!("t{}", i % 4)]}),
        )
        .await;
    }
    let q = "query($n: Int) { contacts(first: $n) { edges { node { firstName company { name } owner { name } tags } } } }";
    // Warm up (e.g. lazily prepared statements).
    srv.ok(q, json!({"n": 5})).await;
    // The counter also sees the server's background polls (outbox relay, job
    // runner), which only ever add: the minimum over a few runs is the request's own cost.
    let mut small = u64::MAX;
    let mut big = u64::MAX;
    let mut d = json!(null);
    for _ in 0..5 {
        let before = srv.queries.load(Ordering::SeqCst);
        let r = srv.ok(q, json!({"n": 10})).await;
        small = small.min(srv.queries.load(Ordering::SeqCst) - before);
        assert_eq!(r["contacts"]["edges"].as_array().unwrap().len(), 10);
        let before = srv.queries.load(Ordering::SeqCst);
        d = srv.ok(q, json!({"n": 50})).await;
        big = big.min(srv.queries.load(Ordering::SeqCst) - before);
    }
    let edges = d["contacts"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 50);
    assert!(
        edges
            .iter()
            .all(|e| e["node"]["company"]["name"].is_string() && e["node"]["owner"]["name"] == "U")
    );
    assert_eq!(
        small, big,
        "statement count grows with page size: {small} vs {big}"
    );
    assert!(big < 20, "too many statements for one page: {big}");
});

/// The audit records of `action` in the test tenant, oldest first.
async fn audit_of(srv: &TestServer, action: &str) -> Vec<crm_core::entity::audit_log::Model> {
    use crm_core::entity::audit_log;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    audit_log::Entity::find()
        .filter(audit_log::Column::TenantId.eq(srv.tenant))
        .filter(audit_log::Column::Action.eq(action))
        .order_by_asc(audit_log::Column::Id)
        .all(&srv.app.crm.db)
        .await
        .expect("audit log")
}

both_backends!(sensitive_custom_fields, |srv: TestServer| async move {
    use crm_core::entity::event;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    const ID_NUMBER: &str = "110101199003077777";
    let d = srv
        .ok(
            "mutation { defineCustomField(input: {entity: \"contact\", key: \"nationalId\", kind: TEXT, sensitive: true}) { key sensitive } }",
            json!({}),
        )
        .await;
    assert_eq!(d["defineCustomField"]["sensitive"], true);
    srv.ok(
        "mutation { defineCustomField(input: {entity: \"contact\", key: \"vin\", kind: TEXT}) { key } }",
        json!({}),
    )
    .await;

    // The admin key has no `pii:read`: even its own write comes back masked.
    let c = contact(
        &srv,
        json!({"firstName": "Li", "customFields": {"nationalId": ID_NUMBER, "vin": "LSV1"}}),
    )
    .await;
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(
        c["customFields"],
        json!({"nationalId": "********", "vin": "LSV1"})
    );
    const READ: &str = "query($id: ID!) { contact(id: $id) { customFields } }";
    let sales = srv.key_with_role("SALES").await;
    let r = srv.gql_as(&sales, READ, json!({"id": id})).await;
    assert_eq!(
        r["data"]["contact"]["customFields"]["nationalId"], "********",
        "{r}"
    );
    assert!(
        audit_of(&srv, "pii_read").await.is_empty(),
        "masked reads are not audited"
    );

    // A key with `pii:read` sees the value, and that read is audited.
    let d = srv
        .ok(
            "mutation { createApiKey(input: {name: \"dpo\", role: READ_ONLY, scopes: [\"pii:read\"]}) { key } }",
            json!({}),
        )
        .await;
    let dpo = d["createApiKey"]["key"].as_str().unwrap().to_string();
    let r = srv.gql_as(&dpo, READ, json!({"id": id})).await;
    assert_eq!(
        r["data"]["contact"]["customFields"]["nationalId"], ID_NUMBER,
        "{r}"
    );
    let reads = audit_of(&srv, "pii_read").await;
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(reads[0].record_id.map(|r| r.to_string()), Some(id.clone()));
    assert_eq!(reads[0].actor_kind, "api_key");
    assert_eq!(reads[0].changes["fields"], json!(["nationalId"]));
    // A page of records is one audit statement, one record per record shown.
    contact(
        &srv,
        json!({"firstName": "Wang", "customFields": {"nationalId": "x"}}),
    )
    .await;
    contact(
        &srv,
        json!({"firstName": "Zhao", "customFields": {"vin": "only"}}),
    )
    .await;
    let r = srv
        .gql_as(
            &dpo,
            "{ contacts(first: 10) { edges { node { customFields } } } }",
            json!({}),
        )
        .await;
    assert!(r.get("errors").is_none(), "{r}");
    assert_eq!(audit_of(&srv, "pii_read").await.len(), 3);

    // Saving back what was shown masked keeps the value; other fields change.
    srv.ok(
        "mutation($id: ID!) { updateContact(id: $id, input: {customFields: {nationalId: \"********\", vin: \"LSV2\"}}) { id } }",
        json!({"id": id}),
    )
    .await;
    let r = srv.gql_as(&dpo, READ, json!({"id": id})).await;
    assert_eq!(
        r["data"]["contact"]["customFields"],
        json!({"nationalId": ID_NUMBER, "vin": "LSV2"})
    );

    // Domain events (subscriptions, webhooks, plugin handlers) carry it masked.
    let events = event::Entity::find()
        .filter(event::Column::TenantId.eq(srv.tenant))
        .filter(event::Column::Entity.eq("contact"))
        .all(&srv.app.crm.db)
        .await
        .unwrap();
    assert!(events.len() >= 2);
    for e in &events {
        assert!(
            !e.payload.to_string().contains(ID_NUMBER),
            "{} leaks: {}",
            e.kind,
            e.payload
        );
    }
    let created = events
        .iter()
        .find(|e| e.kind == "contact.created" && e.payload["id"] == id.as_str())
        .expect("created event");
    assert_eq!(created.payload["customFields"]["nationalId"], "********");
    assert_eq!(created.payload["customFields"]["vin"], "LSV1");

    // At rest the value is sealed: in the row and in the audit log.
    let row = crm_core::entity::contact::Entity::find_by_id(uuid::Uuid::parse_str(&id).unwrap())
        .one(&srv.app.crm.db)
        .await
        .unwrap()
        .unwrap();
    let stored = row.custom_fields["nationalId"].as_str().unwrap();
    assert!(
        stored.starts_with(crm_core::secrets::SEALED_PREFIX),
        "{stored}"
    );
    assert_eq!(row.custom_fields["vin"], "LSV2");
    let audit = audit_of(&srv, "updated").await;
    let update = audit.last().expect("update audited");
    assert!(update.changes["changes"]["customFields"].is_object());
    assert_eq!(
        update.changes["changes"]["customFields"]["from"]["nationalId"],
        update.changes["changes"]["customFields"]["to"]["nationalId"],
        "an unchanged sensitive value keeps its sealed form"
    );
    for a in audit_of(&srv, "created").await.iter().chain(&audit) {
        assert!(!a.changes.to_string().contains(ID_NUMBER), "{}", a.changes);
    }

    // The audit log over GraphQL: who changed and who read this record,
    // newest first, sensitive values masked; administrators only.
    const AUDIT: &str = "query($r: ID, $a: String, $n: Int, $after: String) { auditLog(recordId: $r, action: $a, first: $n, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { action actorKind entity recordId changes } } } }";
    let log = srv.ok(AUDIT, json!({"r": id})).await["auditLog"].clone();
    let actions: Vec<&str> = log["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["pii_read", "updated", "pii_read", "pii_read", "created"],
        "{log}"
    );
    assert_eq!(log["totalCount"], 5);
    assert!(!log.to_string().contains(ID_NUMBER), "{log}");
    assert_eq!(
        log["edges"][4]["node"]["changes"]["customFields"]["nationalId"],
        "********"
    );
    let page = srv.ok(AUDIT, json!({"r": id, "n": 2})).await["auditLog"].clone();
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let rest = srv
        .ok(
            AUDIT,
            json!({"r": id, "n": 10, "after": page["pageInfo"]["endCursor"]}),
        )
        .await["auditLog"]
        .clone();
    assert_eq!(rest["edges"].as_array().unwrap().len(), 3);
    let reads = srv.ok(AUDIT, json!({"a": "pii_read"})).await["auditLog"].clone();
    assert_eq!(reads["totalCount"], 4, "{reads}");
    let r = srv.gql_as(&sales, AUDIT, json!({"r": id})).await;
    assert_eq!(error_code(&r), "FORBIDDEN", "{r}");

    // Without a data key (PostgreSQL without CRM_DATA_KEY) a sensitive value
    // is refused, saying what to set; other writes go on.
    let keyless = srv
        .app
        .crm
        .clone()
        .with_data_key(crm_core::secrets::DataKey::none());
    let p = crm_core::Principal::system(srv.tenant);
    let err = crm_core::record::create::<crm_core::contact::Contact>(
        &keyless,
        &p,
        json!({"firstName": "Qian", "customFields": {"nationalId": "y"}}),
    )
    .await
    .unwrap_err();
    let fields = match &err {
        crm_core::CoreError::Invalid(f) => f.clone(),
        e => panic!("{e}"),
    };
    assert_eq!(fields[0].path, "input.customFields.nationalId");
    assert_eq!(fields[0].code, "DATA_KEY_MISSING");
    assert!(
        fields[0].message.contains("CRM_DATA_KEY"),
        "{}",
        fields[0].message
    );
    crm_core::record::create::<crm_core::contact::Contact>(
        &keyless,
        &p,
        json!({"firstName": "Qian", "customFields": {"vin": "ok"}}),
    )
    .await
    .expect("a write without sensitive values needs no key");
    // Opening with another key fails clearly instead of showing garbage.
    let other = crm_core::secrets::DataKey::from_hex(&"ab".repeat(32));
    let mut values = row.custom_fields.clone();
    let wrong = srv.app.crm.clone().with_data_key(other);
    let err = crm_core::custom_field::open_sealed(
        &wrong,
        srv.tenant,
        "contact",
        &mut values,
        &["nationalId"],
    )
    .unwrap_err();
    assert!(err.to_string().contains("another data key"), "{err}");
});

/// The custom fields contact `id` holds at rest (sealed values as sealed).
/// Run `write` while `txn` holds its locks, committing `txn` 300 ms in:
/// the write has started by then and must wait for it.
async fn committed_meanwhile<T>(
    write: impl std::future::Future<Output = T>,
    txn: crm_core::WriteTxn,
) -> T {
    let commit = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        txn.commit().await.unwrap();
    };
    tokio::join!(write, commit).0
}

async fn stored_custom_fields(srv: &TestServer, id: &str) -> Value {
    use sea_orm::EntityTrait;
    let id: uuid::Uuid = id.parse().unwrap();
    crm_core::entity::contact::Entity::find_by_id(id)
        .one(&srv.app.crm.db)
        .await
        .unwrap()
        .unwrap()
        .custom_fields
}

/// Define the contact text field `key` over GraphQL; the definition's id.
async fn define_contact_field(srv: &TestServer, key: &str, sensitive: bool) -> String {
    srv.ok(
        "mutation($k: String!, $s: Boolean!) { defineCustomField(input: {entity: \"contact\", key: $k, kind: TEXT, sensitive: $s}) { id } }",
        json!({"k": key, "s": sensitive}),
    )
    .await["defineCustomField"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

both_backends!(data_key_rotation_resumes, |srv: TestServer| async move {
    use crm_core::secrets::DataKey;
    srv.ok(
        "mutation { defineCustomField(input: {entity: \"contact\", key: \"nationalId\", kind: TEXT, sensitive: true}) { key } }",
        json!({}),
    )
    .await;
    srv.ok(
        "mutation { defineCustomField(input: {entity: \"company\", key: \"taxId\", kind: TEXT, sensitive: true}) { key } }",
        json!({}),
    )
    .await;
    contact(
        &srv,
        json!({"firstName": "Li", "customFields": {"nationalId": "A1"}}),
    )
    .await;
    contact(&srv, json!({"firstName": "Bo"})).await;
    srv.ok(
        "mutation { createCompany(input: {name: \"Acme\", customFields: {taxId: \"T9\"}}) { id } }",
        json!({}),
    )
    .await;
    let (_, new) = DataKey::generate().unwrap();
    let mut scanned = 0;
    let done = crm_core::custom_field::reseal_all(&srv.app.crm, &new, |n| scanned = n)
        .await
        .unwrap();
    assert_eq!((done.values, done.records, done.already), (2, 2, 0));
    assert_eq!(scanned, 3, "every record of every entity is looked at");
    // Run again (an interrupted rotation resumed): nothing left to do.
    let again = crm_core::custom_field::reseal_all(&srv.app.crm, &new, |_| {})
        .await
        .unwrap();
    assert_eq!((again.values, again.records, again.already), (0, 0, 2));
    // The server still holds the old key: its readers now fail clearly
    // rather than show anything (the rotation is run with servers stopped).
    let dpo = srv
        .ok(
            "mutation { createApiKey(input: {name: \"dpo\", role: READ_ONLY, scopes: [\"pii:read\"]}) { key } }",
            json!({}),
        )
        .await["createApiKey"]["key"]
        .as_str()
        .unwrap()
        .to_string();
    let r = srv
        .gql_as(
            &dpo,
            "{ companies { edges { node { customFields } } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&r), "INTERNAL", "{r}");
    // A value under a third key stops the rotation, naming the record.
    let (_, third) = DataKey::generate().unwrap();
    let stranger = srv
        .app
        .crm
        .clone()
        .with_data_key(DataKey::generate().unwrap().1);
    let err = crm_core::custom_field::reseal_all(&stranger, &third, |_| {})
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("field nationalId") || err.to_string().contains("field taxId"),
        "{err}"
    );
});

both_backends!(
    redefining_a_field_seals_or_opens_stored_values,
    |srv: TestServer| async move {
        use crm_core::custom_field::{NewDefinition, define};
        use crm_core::error::CoreError;
        use crm_core::secrets::DataKey;
        use sea_orm::EntityTrait;
        // Values a definition finds in place predate it (stored before
        // deleting a field cleared its values, or by a write racing the
        // definition): forget the definition alone to leave them behind.
        let delete = |id: String| {
            let crm = srv.app.crm.clone();
            async move {
                let id: uuid::Uuid = id.parse().unwrap();
                crm_core::entity::custom_field_def::Entity::delete_by_id(id)
                    .exec(&crm.db)
                    .await
                    .unwrap();
            }
        };
        const READ: &str = "query($id: ID!) { contact(id: $id) { customFields } }";
        let dpo = srv
            .ok(
                "mutation { createApiKey(input: {name: \"dpo\", role: READ_ONLY, scopes: [\"pii:read\"]}) { key } }",
                json!({}),
            )
            .await["createApiKey"]["key"]
            .as_str()
            .unwrap()
            .to_string();

        // Values stored while the field was not sensitive (and left behind)...
        let plain_def = define_contact_field(&srv, "nationalId", false).await;
        let c = contact(
            &srv,
            json!({"firstName": "Li", "customFields": {"nationalId": "A1"}}),
        )
        .await;
        let id = c["id"].as_str().unwrap().to_string();
        assert_eq!(
            stored_custom_fields(&srv, &id).await["nationalId"].clone(),
            json!("A1")
        );

        // ...are sealed when it is defined again as sensitive: no plain
        // value stays at rest, and they read as any sensitive value does.
        delete(plain_def).await;
        let sensitive_def = define_contact_field(&srv, "nationalId", true).await;
        let at_rest = stored_custom_fields(&srv, &id).await["nationalId"].clone();
        assert!(crm_core::secrets::is_sealed(&at_rest), "{at_rest}");
        let r = srv.gql(READ, json!({"id": id})).await;
        assert_eq!(
            r["data"]["contact"]["customFields"]["nationalId"],
            "********"
        );
        let r = srv.gql_as(&dpo, READ, json!({"id": id})).await;
        assert_eq!(
            r["data"]["contact"]["customFields"]["nationalId"], "A1",
            "{r}"
        );

        // Defining it as not sensitive opens them again.
        delete(sensitive_def).await;
        let plain_again = define_contact_field(&srv, "nationalId", false).await;
        assert_eq!(
            stored_custom_fields(&srv, &id).await["nationalId"].clone(),
            json!("A1")
        );
        let r = srv.gql(READ, json!({"id": id})).await;
        assert_eq!(
            r["data"]["contact"]["customFields"]["nationalId"], "A1",
            "{r}"
        );

        // Without a data key a field with stored values cannot become
        // sensitive, and nothing is written (no definition, values as they were).
        delete(plain_again).await;
        let admin = crm_core::Principal::system(srv.tenant);
        let new = |sensitive| NewDefinition {
            entity: "contact".into(),
            key: "nationalId".into(),
            label: String::new(),
            kind: "text".into(),
            options: vec![],
            required: false,
            sensitive,
        };
        let keyless = srv.app.crm.clone().with_data_key(DataKey::none());
        let codes = |e: CoreError| match e {
            CoreError::Invalid(errs) => errs
                .into_iter()
                .map(|f| (f.path, f.code))
                .collect::<Vec<_>>(),
            other => panic!("{other}"),
        };
        let err = define(&keyless, &admin, new(true)).await.unwrap_err();
        assert_eq!(
            codes(err),
            [(
                "input.sensitive".to_string(),
                "DATA_KEY_MISSING".to_string()
            )]
        );
        let defs = crm_core::custom_field::definitions(&srv.app.crm, srv.tenant, Some("contact"))
            .await
            .unwrap();
        assert!(defs.is_empty(), "{defs:?}");
        assert_eq!(
            stored_custom_fields(&srv, &id).await["nationalId"].clone(),
            json!("A1")
        );

        // A sealed value that the current key does not open stops a
        // non-sensitive definition the same way, naming what to do.
        let sealed_def = define_contact_field(&srv, "nationalId", true).await;
        delete(sealed_def).await;
        let stranger = srv
            .app
            .crm
            .clone()
            .with_data_key(DataKey::generate().unwrap().1);
        let err = define(&stranger, &admin, new(false)).await.unwrap_err();
        assert!(err.to_string().contains("restore the data key"), "{err}");
        assert_eq!(
            codes(err),
            [("input.sensitive".to_string(), "SEALED_VALUES".to_string())]
        );
        assert!(crm_core::secrets::is_sealed(
            &stored_custom_fields(&srv, &id).await["nationalId"].clone()
        ));
        let defs = crm_core::custom_field::definitions(&srv.app.crm, srv.tenant, Some("contact"))
            .await
            .unwrap();
        assert!(defs.is_empty(), "{defs:?}");
    }
);

both_backends!(
    deleting_a_field_deletes_its_values,
    |srv: TestServer| async move {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let national = define_contact_field(&srv, "nationalId", true).await;
        define_contact_field(&srv, "vin", false).await;
        let c = contact(
            &srv,
            json!({"firstName": "Li", "customFields": {"nationalId": "A1", "vin": "LSV1"}}),
        )
        .await;
        let id = c["id"].as_str().unwrap().to_string();
        let other = contact(&srv, json!({"firstName": "Bo"})).await;

        // The definition and its values go in one transaction; other
        // fields and records are untouched.
        srv.ok(
            "mutation($id: ID!) { deleteCustomField(id: $id) { id } }",
            json!({"id": national}),
        )
        .await;
        assert_eq!(
            stored_custom_fields(&srv, &id).await,
            json!({"vin": "LSV1"})
        );
        assert_eq!(
            stored_custom_fields(&srv, other["id"].as_str().unwrap()).await,
            json!({})
        );
        let audit = srv
            .ok(
                "query($id: ID!) { auditLog(recordId: $id) { edges { node { action entity changes } } } }",
                json!({"id": national}),
            )
            .await;
        assert_eq!(
            audit["auditLog"]["edges"][0]["node"],
            json!({"action": "delete", "entity": "custom_field", "changes": {
                "entity": "contact", "key": "nationalId", "sensitive": true, "recordsCleared": 1}})
        );
        // The record stays writable, and defining the key again does not
        // bring a deleted value back.
        let r = srv
            .ok(
                "mutation($id: ID!) { updateContact(id: $id, input: {lastName: \"Wei\"}) { lastName customFields } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(r["updateContact"]["customFields"], json!({"vin": "LSV1"}));
        define_contact_field(&srv, "nationalId", false).await;
        assert_eq!(
            stored_custom_fields(&srv, &id).await,
            json!({"vin": "LSV1"})
        );

        // A value no definition describes (stored before deletion cleared
        // values) does not block the record's next write: that write drops
        // it, and validators never see it.
        let uid: uuid::Uuid = id.parse().unwrap();
        crm_core::entity::contact::Entity::update_many()
            .col_expr(
                crm_core::entity::contact::Column::CustomFields,
                sea_orm::sea_query::Expr::value(json!({"vin": "LSV1", "legacy": "x"})),
            )
            .filter(crm_core::entity::contact::Column::Id.eq(uid))
            .exec(&srv.app.crm.db)
            .await
            .unwrap();
        let r = srv
            .ok(
                "mutation($id: ID!) { updateContact(id: $id, input: {lastName: \"Wang\"}) { customFields } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(r["updateContact"]["customFields"], json!({"vin": "LSV1"}));
        assert_eq!(
            stored_custom_fields(&srv, &id).await,
            json!({"vin": "LSV1"})
        );
        // Sending a value for an undefined key is still an error.
        let r = srv
            .gql(
                "mutation($id: ID!) { updateContact(id: $id, input: {customFields: {legacy: \"y\"}}) { id } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(
            field_paths(&r),
            [(
                "input.customFields.legacy".to_string(),
                "UNKNOWN_FIELD".to_string()
            )]
        );
    }
);

both_backends!(
    a_write_racing_a_redefinition_leaves_no_plain_value_at_rest,
    |srv: TestServer| async move {
        use crm_core::entity::custom_field_def as def;
        use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
        srv.ok(
            "mutation { a: defineCustomField(input: {entity: \"contact\", key: \"nationalId\", kind: TEXT}) { id } \
             b: defineCustomField(input: {entity: \"contact\", key: \"note\", kind: TEXT}) { id } }",
            json!({}),
        )
        .await;
        // A value of a field that is not sensitive and only looks sealed is
        // the caller's text, stored as given.
        let c = contact(
            &srv,
            json!({"firstName": "Li", "customFields": {"note": "enc:v1:not-sealed"}}),
        )
        .await;
        let id = c["id"].as_str().unwrap().to_string();
        assert_eq!(
            stored_custom_fields(&srv, &id).await,
            json!({"note": "enc:v1:not-sealed"})
        );

        // An update validates `nationalId` as a plain field while another
        // transaction makes the field sensitive (delete and define again),
        // and commits after it: the value must not land in plain text.
        let crm = srv.app.crm.clone();
        let redefine = crm.write_txn().await.unwrap();
        def::Entity::delete_many()
            .filter(def::Column::TenantId.eq(srv.tenant))
            .filter(def::Column::Key.eq("nationalId"))
            .exec(&*redefine)
            .await
            .unwrap();
        let now = crm.now();
        def::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            tenant_id: Set(srv.tenant),
            entity: Set("contact".into()),
            key: Set("nationalId".into()),
            label: Set("National ID".into()),
            kind: Set("text".into()),
            options: Set(json!([])),
            required: Set(false),
            sensitive: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&*redefine)
        .await
        .unwrap();
        // The update validates against the committed (plain) definition,
        // then waits for the redefinition: SQLite's write gate, or
        // PostgreSQL's lock on the deleted definition row.
        let r = committed_meanwhile(
            srv.gql(
                "mutation($id: ID!) { updateContact(id: $id, input: {customFields: {nationalId: \"B2\"}}) { id } }",
                json!({"id": id}),
            ),
            redefine,
        )
        .await;
        assert!(r.get("errors").is_none(), "{r}");
        let at_rest = stored_custom_fields(&srv, &id).await;
        assert_eq!(at_rest["note"], "enc:v1:not-sealed");
        // SQLite's update sees the new definition and seals the value;
        // PostgreSQL's saw the row it validated against deleted, so the
        // value went with it (as deleting a field deletes its values).
        match &at_rest["nationalId"] {
            Value::Null => {}
            v => assert!(crm_core::secrets::is_sealed(v), "plain at rest: {at_rest}"),
        }
        // Either way it reads masked, and a new write stores it sealed.
        let r = srv
            .ok(
                "mutation($id: ID!) { updateContact(id: $id, input: {customFields: {nationalId: \"C3\"}}) { customFields } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(r["updateContact"]["customFields"]["nationalId"], "********");
        let at_rest = stored_custom_fields(&srv, &id).await;
        assert!(
            crm_core::secrets::is_sealed(&at_rest["nationalId"]),
            "{at_rest}"
        );
        // Text that looks sealed, given for a sensitive field, is sealed
        // like any other value: the record stays readable and writable.
        srv.ok(
            "mutation($id: ID!) { updateContact(id: $id, input: {customFields: {nationalId: \"enc:v1:forged\"}}) { id } }",
            json!({"id": id}),
        )
        .await;
        let r = srv
            .ok(
                "mutation($id: ID!) { updateContact(id: $id, input: {lastName: \"Wei\"}) { lastName } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(r["updateContact"]["lastName"], "Wei");
        let dpo = srv
            .ok(
                "mutation { createApiKey(input: {name: \"dpo\", role: READ_ONLY, scopes: [\"pii:read\"]}) { key } }",
                json!({}),
            )
            .await["createApiKey"]["key"]
            .as_str()
            .unwrap()
            .to_string();
        let r = srv
            .gql_as(
                &dpo,
                "query($id: ID!) { contact(id: $id) { customFields } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(
            r["data"]["contact"]["customFields"],
            json!({"nationalId": "enc:v1:forged", "note": "enc:v1:not-sealed"}),
            "{r}"
        );
    }
);

both_backends!(
    concurrent_updates_of_different_fields_both_land,
    |srv: TestServer| async move {
        use crm_core::entity::contact as row;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let c = contact(
            &srv,
            json!({"firstName": "Li", "lastName": "Wei", "title": "Engineer"}),
        )
        .await;
        let id = c["id"].as_str().unwrap().to_string();
        let uid: uuid::Uuid = id.parse().unwrap();

        // Another write changes the title and commits while an update of the
        // last name, validated against the old row, waits for it (SQLite's
        // write gate, PostgreSQL's row lock): the update starts over from
        // the new row instead of writing the old title back.
        let crm = srv.app.crm.clone();
        let other = crm.write_txn().await.unwrap();
        row::Entity::update_many()
            .col_expr(row::Column::Title, sea_orm::sea_query::Expr::value("CTO"))
            .col_expr(
                row::Column::UpdatedAt,
                sea_orm::sea_query::Expr::value(crm.now()),
            )
            .filter(row::Column::Id.eq(uid))
            .exec(&*other)
            .await
            .unwrap();
        let r = committed_meanwhile(
            srv.gql(
                "mutation($id: ID!) { updateContact(id: $id, input: {lastName: \"Wang\"}) { title lastName } }",
                json!({"id": id}),
            ),
            other,
        )
        .await;
        assert_eq!(
            r["data"]["updateContact"],
            json!({"title": "CTO", "lastName": "Wang"}),
            "{r}"
        );
        let stored = row::Entity::find_by_id(uid)
            .one(&srv.app.crm.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (stored.title.as_deref(), stored.last_name.as_str()),
            (Some("CTO"), "Wang")
        );

        // Many clients updating one record at once: every field lands.
        let fields = [
            ("firstName", "Bo"),
            ("lastName", "Zhang"),
            ("title", "Head of IT"),
            ("email", "bo@example.com"),
        ];
        let updates = fields.iter().map(|(f, v)| {
            srv.gql(
                "mutation($id: ID!, $i: ContactInput!) { updateContact(id: $id, input: $i) { id } }",
                json!({"id": id, "i": {*f: v}}),
            )
        });
        for r in futures::future::join_all(updates).await {
            assert!(r.get("errors").is_none(), "{r}");
        }
        let r = srv
            .ok(
                "query($id: ID!) { contact(id: $id) { firstName lastName title email } }",
                json!({"id": id}),
            )
            .await;
        for (f, v) in fields {
            assert_eq!(r["contact"][f], v, "{r}");
        }
    }
);
