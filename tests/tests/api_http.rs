//! HTTP plumbing of /graphql (GET/POST, media types, GraphiQL), /healthz,
//! /metrics, query limits and the graphql-ws `events` subscription.

use crm_tests::both_backends;
use crm_tests::server::*;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

both_backends!(
    http_get_post_and_media_types,
    |srv: TestServer| async move {
        // GET with ?query=
        let resp = srv
            .http
            .get(srv.url())
            .bearer_auth(&srv.admin_key)
            .query(&[("query", "{ contacts { totalCount } }")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["data"]["contacts"]["totalCount"], 0, "{v}");

        // Mutations over GET are refused, and nothing is written.
        let resp = srv
            .http
            .get(srv.url())
            .bearer_auth(&srv.admin_key)
            .query(&[(
                "query",
                "mutation { createContact(input: {firstName: \"G\"}) { id } }",
            )])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405);
        assert_eq!(
            srv.ok("{ contacts { totalCount } }", json!({})).await["contacts"]["totalCount"],
            0
        );

        // graphql-response+json media type; syntax errors are then 400.
        let resp = srv
            .http
            .post(srv.url())
            .bearer_auth(&srv.admin_key)
            .header("Accept", "application/graphql-response+json")
            .json(&json!({"query": "{ contacts { totalCount } }"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/graphql-response+json")
        );
        let resp = srv
            .http
            .post(srv.url())
            .bearer_auth(&srv.admin_key)
            .header("Accept", "application/graphql-response+json")
            .json(&json!({"query": "{ contacts { "}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        let v: Value = resp.json().await.unwrap();
        assert!(v["errors"].is_array(), "{v}");
        // Plain JSON clients get 200 with errors.
        let r = srv.gql("{ contacts { ", json!({})).await;
        assert!(r["errors"].is_array(), "{r}");

        // Browser GET without a query gets GraphiQL.
        let resp = srv
            .http
            .get(srv.url())
            .header("Accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body = resp.text().await.unwrap();
        assert!(body.to_lowercase().contains("graphiql"), "{body}");

        let resp = srv
            .http
            .get(format!("http://{}/healthz", srv.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().await.unwrap().trim(), "ok");
        let resp = srv
            .http
            .get(format!("http://{}/metrics", srv.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(
            resp.text()
                .await
                .unwrap()
                .contains("crm_http_requests_total")
        );
    }
);

both_backends!(
    mutation_over_get_with_operation_name_is_refused,
    |srv: TestServer| async move {
        // A document whose first operation is a query but which selects a mutation
        // by operationName must be refused over GET too (GraphQL-over-HTTP).
        let doc = "query Q { __typename } mutation M { createContact(input: {firstName: \"Sneaky\"}) { id } }";
        let resp = srv
            .http
            .get(srv.url())
            .bearer_auth(&srv.admin_key)
            // async-graphql 7.2's GET parser reads `operation_name` (not `operationName`).
            .query(&[
                ("query", doc),
                ("operationName", "M"),
                ("operation_name", "M"),
            ])
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        let n = srv.ok("{ contacts { totalCount } }", json!({})).await["contacts"]["totalCount"]
            .as_i64()
            .unwrap();
        assert_eq!(n, 0, "a mutation ran over GET (status {status}): {body}");
        assert_eq!(status, 405, "{body}");
        // A leading comment must not hide the mutation either.
        let resp = srv
            .http
            .get(srv.url())
            .bearer_auth(&srv.admin_key)
            .query(&[(
                "query",
                "# hi\nmutation { createContact(input: {firstName: \"Sneaky\"}) { id } }",
            )])
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let n = srv.ok("{ contacts { totalCount } }", json!({})).await["contacts"]["totalCount"]
            .as_i64()
            .unwrap();
        assert_eq!(
            n, 0,
            "a mutation behind a comment ran over GET (status {status})"
        );
    }
);

both_backends!(query_limits, |srv: TestServer| async move {
    // Depth: nest company -> contacts -> edges -> node -> company ... well past 12.
    let mut q = String::from("id");
    for _ in 0..5 {
        q = format!("contacts {{ edges {{ node {{ company {{ {q} }} }} }} }}");
    }
    let q = format!("{{ companies {{ edges {{ node {{ {q} }} }} }} }}");
    let r = srv.gql(&q, json!({})).await;
    assert!(r["errors"].is_array(), "too-deep query must fail: {r}");
    assert!(r["data"].is_null(), "{r}");

    // Complexity: many aliased pages.
    let mut parts = vec![];
    for i in 0..500 {
        parts.push(format!(
            "a{i}: contacts(first: 1) {{ edges {{ node {{ id firstName lastName email }} }} }}"
        ));
    }
    let r = srv
        .gql(&format!("{{ {} }}", parts.join(" ")), json!({}))
        .await;
    assert!(r["errors"].is_array(), "too-complex query must fail: {r}");

    // An ordinary query is fine.
    srv.ok(
        "{ contacts(first: 100) { edges { node { id company { name } } } } }",
        json!({}),
    )
    .await;
});

async fn ws_connect(
    srv: &TestServer,
    key: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut req = format!("ws://{}/graphql", srv.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("ws connect");
    ws.send(Message::Text(
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {key}")}})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let ack = next_json(&mut ws).await.expect("connection_ack");
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    ws
}

async fn next_json(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Option<Value> {
    loop {
        match ws.next().await? {
            Ok(Message::Text(t)) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["type"] == "ping" {
                    ws.send(Message::Text(json!({"type": "pong"}).to_string().into()))
                        .await
                        .ok();
                    continue;
                }
                return Some(v);
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

both_backends!(
    subscription_events_are_tenant_scoped,
    |srv: TestServer| async move {
        let other = srv.other_tenant("Other Co").await;
        let mut ws = ws_connect(&srv, &srv.admin_key).await;
        ws.send(Message::Text(
        json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription { events(kinds: [\"contact.\"]) { kind recordId } }"}})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
        // Give the subscription a moment to register before events are published.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let r = srv
            .gql_as(
                &other,
                "mutation { createContact(input: {firstName: \"Theirs\"}) { id } }",
                json!({}),
            )
            .await;
        let theirs = r["data"]["createContact"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let mine = srv
            .ok(
                "mutation { createContact(input: {firstName: \"Mine\"}) { id } }",
                json!({}),
            )
            .await["createContact"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let msg = tokio::time::timeout(Duration::from_secs(10), next_json(&mut ws))
            .await
            .expect("event within 10s")
            .expect("message");
        assert_eq!(msg["type"], "next", "{msg}");
        assert_eq!(msg["id"], "1");
        assert_eq!(
            msg["payload"]["data"]["events"]["kind"], "contact.created",
            "{msg}"
        );
        assert_eq!(
            msg["payload"]["data"]["events"]["recordId"],
            mine.as_str(),
            "another tenant's event leaked: {msg} (theirs {theirs})"
        );
        // Nothing else (in particular not the other tenant's contact) arrives.
        let more = tokio::time::timeout(Duration::from_millis(800), next_json(&mut ws)).await;
        if let Ok(Some(m)) = more {
            assert_ne!(
                m["payload"]["data"]["events"]["recordId"],
                theirs.as_str(),
                "another tenant's event leaked: {m}"
            );
        }

        // A bad key is refused at connection_init.
        let mut req = format!("ws://{}/graphql", srv.addr)
            .into_client_request()
            .unwrap();
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        let (mut bad, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        bad.send(Message::Text(
            json!({"type": "connection_init", "payload": {"Authorization": "Bearer nope"}})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
        let m = tokio::time::timeout(Duration::from_secs(5), next_json(&mut bad))
            .await
            .expect("answer to bad init");
        assert!(
            m.is_none_or(|v| v["type"] != "connection_ack"),
            "bad key acknowledged"
        );
    }
);
