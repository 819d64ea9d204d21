//! End-to-end tests of pipelines, deals, analytics, timelines and ticket SLAs.

use crm_tests::both_backends;
use crm_tests::server::*;
use serde_json::{Value, json};

/// A pipeline with stages (name, probability, won, lost); returns (pipeline id, stage ids).
async fn pipeline(srv: &TestServer, stages: &[(&str, f64, bool, bool)]) -> (String, Vec<String>) {
    let name = format!("Sales {}", stages[0].0);
    let st: Vec<Value> = stages
        .iter()
        .map(|(n, p, w, l)| json!({"name": n, "probability": p, "isWon": w, "isLost": l}))
        .collect();
    let d = srv
        .ok("mutation($s: [StageInput!]!, $n: String!) { createPipeline(input: {name: $n, stages: $s}) { id stages { id name } } }", json!({"s": st, "n": name}))
        .await;
    let p = &d["createPipeline"];
    let ids = p["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    (p["id"].as_str().unwrap().to_string(), ids)
}

async fn deal(srv: &TestServer, pid: &str, name: &str, amount: f64, owner: Option<&str>) -> String {
    let d = srv
        .ok(
            "mutation($p: ID!, $n: String!, $a: Float!, $o: ID) { createDeal(input: {name: $n, pipelineId: $p, amount: $a, ownerId: $o}) { id stage { name } } }",
            json!({"p": pid, "n": name, "a": amount, "o": owner}),
        )
        .await;
    d["createDeal"]["id"].as_str().unwrap().to_string()
}

async fn move_deal(srv: &TestServer, id: &str, stage: &str) -> Value {
    srv.ok("mutation($id: ID!, $s: ID!) { moveDeal(id: $id, stageId: $s) { id stage { name } closedAt } }", json!({"id": id, "s": stage}))
        .await["moveDeal"]
        .clone()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

both_backends!(deal_crud_and_move_history, |srv: TestServer| async move {
    let (pid, st) = pipeline(
        &srv,
        &[
            ("New", 0.1, false, false),
            ("Demo", 0.5, false, false),
            ("Won", 1.0, true, false),
        ],
    )
    .await;
    let id = deal(&srv, &pid, "Fleet", 1000.0, None).await;
    let d = srv
        .ok(
            "query($id: ID!) { deal(id: $id) { name amount stage { name } pipeline { name } } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        d["deal"]["stage"]["name"], "New",
        "a new deal starts in the first stage"
    );
    assert_eq!(d["deal"]["pipeline"]["name"], "Sales New");
    let d = srv
        .ok(
            "mutation($id: ID!) { updateDeal(id: $id, input: {amount: 1500}) { amount } }",
            json!({"id": id}),
        )
        .await;
    assert!(close(d["updateDeal"]["amount"].as_f64().unwrap(), 1500.0));
    let m = move_deal(&srv, &id, &st[1]).await;
    assert_eq!(m["stage"]["name"], "Demo");
    assert!(m["closedAt"].is_null());
    let m = move_deal(&srv, &id, &st[2]).await;
    assert!(m["closedAt"].is_string(), "won deals are closed: {m}");
    let d = srv
        .ok("query($id: ID!) { deal(id: $id) { stageHistory { fromStage { name } toStage { name } } } }", json!({"id": id}))
        .await;
    let h: Vec<(Value, Value)> = d["deal"]["stageHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["fromStage"]["name"].clone(), c["toStage"]["name"].clone()))
        .collect();
    assert!(h.contains(&(json!("New"), json!("Demo"))), "{d}");
    assert!(h.contains(&(json!("Demo"), json!("Won"))), "{d}");
    // Moving to another pipeline's stage moves the deal into that pipeline
    // (pipeline and stage always agree).
    let (_p2, st2) = pipeline(&srv, &[("Other", 0.1, false, false)]).await;
    let r = srv
        .gql("mutation($id: ID!, $s: ID!) { moveDeal(id: $id, stageId: $s) { stage { name pipeline { id } } pipeline { id } } }", json!({"id": id, "s": st2[0]}))
        .await;
    if r.get("errors").is_none() {
        let m = &r["data"]["moveDeal"];
        assert_eq!(
            m["pipeline"]["id"], m["stage"]["pipeline"]["id"],
            "deal pipeline and stage disagree: {r}"
        );
    }
    srv.ok(
        "mutation($id: ID!) { deleteDeal(id: $id) { id } }",
        json!({"id": id}),
    )
    .await;
    let r = srv
        .gql(
            "query($id: ID!) { deal(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(error_code(&r), "NOT_FOUND", "{r}");
});

both_backends!(funnel_conversion_rates, |srv: TestServer| async move {
    let (pid, st) = pipeline(
        &srv,
        &[
            ("S1", 0.1, false, false),
            ("S2", 0.4, false, false),
            ("S3", 0.8, false, false),
            ("Lost", 0.0, false, true),
        ],
    )
    .await;
    let d: Vec<String> = {
        let mut v = vec![];
        for i in 0..4 {
            v.push(deal(&srv, &pid, &format!("D{i}"), 100.0, None).await);
        }
        v
    };
    move_deal(&srv, &d[0], &st[1]).await;
    move_deal(&srv, &d[0], &st[2]).await;
    move_deal(&srv, &d[1], &st[1]).await;
    move_deal(&srv, &d[3], &st[3]).await;
    let f = srv
        .ok("query($p: ID!) { pipelineFunnel(pipelineId: $p) { stage { name } reached current conversionRate } }", json!({"p": pid}))
        .await;
    let rows = f["pipelineFunnel"].as_array().unwrap();
    let by = |n: &str| {
        rows.iter()
            .find(|r| r["stage"]["name"] == n)
            .unwrap_or_else(|| panic!("{n} missing: {f}"))
            .clone()
    };
    assert_eq!(by("S1")["reached"], 4, "{f}");
    assert_eq!(by("S2")["reached"], 2, "{f}");
    assert_eq!(by("S3")["reached"], 1, "{f}");
    assert!(by("S1")["conversionRate"].is_null());
    assert!(
        close(by("S2")["conversionRate"].as_f64().unwrap(), 50.0),
        "{f}"
    );
    assert!(
        close(by("S3")["conversionRate"].as_f64().unwrap(), 50.0),
        "{f}"
    );
    assert_eq!(by("S1")["current"], 1);
    assert_eq!(by("S2")["current"], 1);
    assert_eq!(by("S3")["current"], 1);
    assert_eq!(by("Lost")["current"], 1);
    assert_eq!(by("Lost")["reached"], 1);
    assert!(by("Lost")["conversionRate"].is_null());
});

both_backends!(forecast_and_won_by_owner, |srv: TestServer| async move {
    let (pid, st) = pipeline(
        &srv,
        &[
            ("Qualify", 0.2, false, false),
            ("Propose", 0.6, false, false),
            ("Won", 1.0, true, false),
            ("Lost", 0.0, false, true),
        ],
    )
    .await;
    let mut users = vec![];
    for i in 0..2 {
        let d = srv
            .ok("mutation($e: String!) { createUser(input: {name: \"Rep\", email: $e, role: SALES}) { id } }", json!({"e": format!("rep{i}@x.com")}))
            .await;
        users.push(d["createUser"]["id"].as_str().unwrap().to_string());
    }
    let a = deal(&srv, &pid, "A", 1000.0, Some(&users[0])).await;
    let _b = deal(&srv, &pid, "B", 500.0, Some(&users[0])).await;
    let c = deal(&srv, &pid, "C", 2000.0, Some(&users[1])).await;
    let w1 = deal(&srv, &pid, "W1", 300.0, Some(&users[0])).await;
    let w2 = deal(&srv, &pid, "W2", 700.0, Some(&users[0])).await;
    let w3 = deal(&srv, &pid, "W3", 50.0, Some(&users[1])).await;
    let l = deal(&srv, &pid, "L", 9999.0, Some(&users[1])).await;
    move_deal(&srv, &c, &st[1]).await;
    let _ = a;
    for w in [&w1, &w2, &w3] {
        move_deal(&srv, w, &st[2]).await;
    }
    move_deal(&srv, &l, &st[3]).await;
    let f = srv
        .ok("query($p: ID) { forecast(pipelineId: $p) { lines { stage { name } deals amount weighted } totalAmount weightedTotal } }", json!({"p": pid}))
        .await;
    let fc = &f["forecast"];
    let lines = fc["lines"].as_array().unwrap();
    let line = |n: &str| {
        lines
            .iter()
            .find(|x| x["stage"]["name"] == n)
            .unwrap_or_else(|| panic!("{n} missing: {f}"))
    };
    assert!(
        close(line("Qualify")["amount"].as_f64().unwrap(), 1500.0),
        "{f}"
    );
    assert!(
        close(line("Qualify")["weighted"].as_f64().unwrap(), 300.0),
        "{f}"
    );
    assert!(
        close(line("Propose")["weighted"].as_f64().unwrap(), 1200.0),
        "{f}"
    );
    assert!(
        lines
            .iter()
            .all(|x| x["stage"]["name"] != "Won" && x["stage"]["name"] != "Lost"),
        "only open deals: {f}"
    );
    assert!(close(fc["weightedTotal"].as_f64().unwrap(), 1500.0), "{f}");
    assert!(close(fc["totalAmount"].as_f64().unwrap(), 3500.0), "{f}");

    let d = srv
        .ok("{ wonValueByOwner { ownerId deals amount } }", json!({}))
        .await;
    let rows = d["wonValueByOwner"].as_array().unwrap();
    let row = |u: &str| {
        rows.iter()
            .find(|r| r["ownerId"] == u)
            .unwrap_or_else(|| panic!("{u} missing: {d}"))
    };
    assert_eq!(row(&users[0])["deals"], 2);
    assert!(
        close(row(&users[0])["amount"].as_f64().unwrap(), 1000.0),
        "{d}"
    );
    assert_eq!(row(&users[1])["deals"], 1);
    assert!(
        close(row(&users[1])["amount"].as_f64().unwrap(), 50.0),
        "{d}"
    );
    assert_eq!(rows.len(), 2, "lost/open deals are not won: {d}");
    assert_eq!(
        rows[0]["ownerId"],
        users[0].as_str(),
        "sorted by amount desc"
    );
});

both_backends!(
    contact_timeline_newest_first,
    |srv: TestServer| async move {
        let d = srv
            .ok(
                "mutation { createContact(input: {firstName: \"T\"}) { id } }",
                json!({}),
            )
            .await;
        let cid = d["createContact"]["id"].as_str().unwrap().to_string();
        let other = srv
            .ok(
                "mutation { createContact(input: {firstName: \"O\"}) { id } }",
                json!({}),
            )
            .await;
        for (s, at) in [
            ("first", "2024-01-01T10:00:00Z"),
            ("third", "2024-03-01T10:00:00Z"),
            ("second", "2024-02-01T10:00:00Z"),
        ] {
            srv.ok(
            "mutation($c: ID!, $s: String!, $at: DateTime!) { createActivity(input: {kind: CALL, contactId: $c, subject: $s, occurredAt: $at}) { id } }",
            json!({"c": cid, "s": s, "at": at}),
        )
        .await;
        }
        srv.ok(
        "mutation($c: ID!) { createActivity(input: {kind: EMAIL, contactId: $c, subject: \"not mine\"}) { id } }",
        json!({"c": other["createContact"]["id"]}),
    )
    .await;
        let d = srv
        .ok("query($id: ID!) { contact(id: $id) { activityCount timeline { edges { node { kind subject } } } } }", json!({"id": cid}))
        .await;
        let subj: Vec<&str> = d["contact"]["timeline"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["subject"].as_str().unwrap())
            .collect();
        assert_eq!(subj, ["third", "second", "first"], "{d}");
        assert_eq!(d["contact"]["timeline"]["edges"][0]["node"]["kind"], "CALL");
        assert_eq!(d["contact"]["activityCount"], 3);
    }
);

both_backends!(ticket_sla_due_times, |srv: TestServer| async move {
    let d = srv
        .ok(
            "mutation { p1: createTicket(input: {subject: \"down\", priority: P1}) { createdAt firstResponseDueAt resolutionDueAt responseBreached } p2: createTicket(input: {subject: \"slow\", priority: P2}) { createdAt firstResponseDueAt } }",
            json!({}),
        )
        .await;
    let ts = |v: &Value| chrono_like(v.as_str().unwrap());
    let p1 = &d["p1"];
    assert_eq!(
        ts(&p1["firstResponseDueAt"]) - ts(&p1["createdAt"]),
        30 * 60,
        "{d}"
    );
    assert!(p1["resolutionDueAt"].is_string());
    assert!(ts(&p1["resolutionDueAt"]) > ts(&p1["firstResponseDueAt"]));
    assert_eq!(p1["responseBreached"], false);
    let p2 = &d["p2"];
    assert_eq!(
        ts(&p2["firstResponseDueAt"]) - ts(&p2["createdAt"]),
        2 * 3600,
        "{d}"
    );
});

/// Seconds since the epoch of an RFC 3339 UTC timestamp (no chrono dependency here).
fn chrono_like(s: &str) -> i64 {
    // YYYY-MM-DDTHH:MM:SS[.frac](Z|+00:00)
    let (date, time) = s.split_once('T').unwrap();
    let mut d = date.split('-').map(|x| x.parse::<i64>().unwrap());
    let (y, m, day) = (d.next().unwrap(), d.next().unwrap(), d.next().unwrap());
    let t: String = time.chars().take(8).collect();
    let mut t = t.split(':').map(|x| x.parse::<i64>().unwrap());
    let (hh, mm, ss) = (t.next().unwrap(), t.next().unwrap(), t.next().unwrap());
    // Days from civil (Howard Hinnant).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    days * 86400 + hh * 3600 + mm * 60 + ss
}
