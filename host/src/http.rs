//! HTTP: `/graphql` (POST and GET per GraphQL-over-HTTP, GraphiQL for browsers,
//! graphql-ws subscriptions on the same path), `/hooks/<token>[/<path>]`
//! (plugin webhooks), `/healthz`, `/metrics`.

use crate::app::App;
use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLWebSocket};
use axum::Router;
use axum::extract::{FromRequestParts, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use crm_core::{CoreError, Principal};
use std::sync::atomic::Ordering;
use std::time::Instant;

pub fn router(app: App) -> Router {
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/hooks/{token}", axum::routing::any(webhook))
        .route("/hooks/{token}/{*rest}", axum::routing::any(webhook))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(app)
}

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let v = v.trim();
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
        .map(|s| s.trim().to_string())
}

async fn authenticate(app: &App, key: Option<String>) -> Result<Principal, CoreError> {
    match key {
        Some(k) if !k.is_empty() => crm_core::tenant::authenticate(&app.crm, &k).await,
        _ => Err(CoreError::Unauthenticated(
            "send `Authorization: Bearer <api key>`; `crm tenant create NAME` prints one".into(),
        )),
    }
}

/// Which media type the client prefers for the response.
fn wants_graphql_response(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains(GRAPHQL_RESPONSE))
}

fn error_body(e: &CoreError) -> serde_json::Value {
    serde_json::json!({"errors": [{"message": e.to_string(), "extensions": {"code": e.code()}}]})
}

fn respond(status: StatusCode, body: serde_json::Value, graphql_response: bool) -> Response {
    let ct = if graphql_response {
        GRAPHQL_RESPONSE
    } else {
        "application/json"
    };
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    r
}

async fn execute(
    app: &App,
    headers: &HeaderMap,
    req: async_graphql::Request,
    is_get: bool,
) -> Response {
    let gr = wants_graphql_response(headers);
    app.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    let principal = match authenticate(app, bearer(headers)).await {
        Ok(p) => p,
        Err(e) => {
            app.metrics.unauthenticated.fetch_add(1, Ordering::Relaxed);
            let status = if matches!(e, CoreError::Unauthenticated(_)) {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            let mut r = respond(status, error_body(&e), gr);
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
    };
    // GraphQL-over-HTTP: mutations are not allowed over GET. Decide on the
    // operation that would actually run, not on the text's first characters.
    if is_get && runs_mutation(&req) {
        let mut r = respond(
            StatusCode::METHOD_NOT_ALLOWED,
            serde_json::json!({"errors": [{"message": "mutations must be sent with POST", "extensions": {"code": "BAD_REQUEST"}}]}),
            gr,
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    let loaders = crm_graphql::Loaders::new(&app.crm, &principal);
    let mut req = req.data(principal).data(loaders);
    if let Some(origin) = public_origin(headers) {
        req = req.data(crm_graphql::PublicOrigin(origin));
    }
    let start = Instant::now();
    let resp = app.schema.execute(req).await;
    app.metrics
        .request_micros_total
        .fetch_add(start.elapsed().as_micros() as u64, Ordering::Relaxed);
    if !resp.errors.is_empty() {
        app.metrics.graphql_errors.fetch_add(1, Ordering::Relaxed);
    }
    // With the graphql-response media type, a request that failed before
    // execution (parse/validation: no data at all) is a 400.
    let status = if gr && resp.data == async_graphql::Value::Null && !resp.errors.is_empty() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = serde_json::to_value(&resp).unwrap_or_else(
        |_| serde_json::json!({"errors": [{"message": "response could not be encoded"}]}),
    );
    respond(status, body, gr)
}

async fn graphql_post(State(app): State<App>, headers: HeaderMap, req: GraphQLRequest) -> Response {
    execute(&app, &headers, req.into_inner(), false).await
}

async fn graphql_get(State(app): State<App>, req: axum::extract::Request) -> Response {
    let (mut parts, body) = req.into_parts();
    if let Ok(ws) = WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &()).await {
            Ok(p) => p,
            Err(e) => return e.into_response(),
        };
        let header_key = bearer(&parts.headers);
        app.metrics.ws_connections.fetch_add(1, Ordering::Relaxed);
        return ws
            .protocols(["graphql-transport-ws", "graphql-ws"])
            .on_upgrade(move |socket| async move {
                let schema = app.schema.clone();
                let app2 = app.clone();
                GraphQLWebSocket::new(socket, schema, protocol)
                    .on_connection_init(move |payload| async move {
                        // The key comes from the upgrade request's header or the
                        // connection_init payload (`{"Authorization": "Bearer ..."}`).
                        let from_payload = payload
                            .get("Authorization")
                            .or_else(|| payload.get("authorization"))
                            .and_then(|v| v.as_str())
                            .map(|s| s.trim().trim_start_matches("Bearer ").trim().to_string());
                        let p = authenticate(&app2, header_key.or(from_payload))
                            .await
                            .map_err(crm_graphql::to_gql_error)?;
                        let mut data = async_graphql::Data::default();
                        data.insert(crm_graphql::Loaders::new(&app2.crm, &p));
                        data.insert(p);
                        Ok(data)
                    })
                    .serve()
                    .await
            });
    }
    let has_query = parts.uri.query().is_some_and(|q| q.contains("query="));
    let browser = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if browser && !has_query {
        return Html(
            GraphiQLSource::build()
                .endpoint("/graphql")
                .subscription_endpoint("/graphql")
                .finish(),
        )
        .into_response();
    }
    let headers = parts.headers.clone();
    // async-graphql reads `operation_name`; the GraphQL-over-HTTP spec says `operationName`.
    let operation_name = parts
        .uri
        .query()
        .and_then(|q| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("operationName="))
        })
        .map(percent_decode);
    let req = axum::extract::Request::from_parts(parts, body);
    match GraphQLRequest::<async_graphql_axum::rejection::GraphQLRejection>::from_request(req, &())
        .await
    {
        Ok(r) => {
            let mut r = r.into_inner();
            if r.operation_name.is_none() {
                r.operation_name = operation_name;
            }
            execute(&app, &headers, r, true).await
        }
        Err(e) => {
            let body = serde_json::json!({"errors": [{"message": format!("bad GraphQL request: {}", e.0), "extensions": {"code": "BAD_REQUEST"}}]});
            respond(
                StatusCode::BAD_REQUEST,
                body,
                wants_graphql_response(&headers),
            )
        }
    }
}

/// Where clients reach this server: `CRM_PUBLIC_URL` (behind a proxy), else
/// the request's `Host` with `X-Forwarded-Proto` (default `http`).
fn public_origin(headers: &HeaderMap) -> Option<String> {
    static CONFIGURED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let configured = CONFIGURED.get_or_init(|| {
        std::env::var("CRM_PUBLIC_URL")
            .ok()
            .map(|u| u.trim().trim_end_matches('/').to_owned())
            .filter(|u| !u.is_empty())
    });
    if let Some(url) = configured {
        return Some(url.clone());
    }
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let plausible = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    let proto = match headers
        .get("x-forwarded-proto")
        .and_then(|p| p.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    plausible.then(|| format!("{proto}://{host}"))
}

/// A request to a plugin webhook's secret URL: checked, queued as one job
/// and answered `202 {"id": <delivery id>}` before the plugin runs.
async fn webhook(State(app): State<App>, req: axum::extract::Request) -> Response {
    let response = queue_webhook(&app, req).await;
    let counter = if response.status() == StatusCode::ACCEPTED {
        &app.metrics.webhooks_accepted
    } else {
        &app.metrics.webhooks_refused
    };
    counter.fetch_add(1, Ordering::Relaxed);
    response
}

async fn queue_webhook(app: &App, req: axum::extract::Request) -> Response {
    use crm_core::webhook::{Delivery, MAX_BODY, Refusal, accept};
    let refuse = |status: StatusCode, code: &str, message: String| {
        respond(
            status,
            serde_json::json!({"errors": [{"message": message, "extensions": {"code": code}}]}),
            false,
        )
    };
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_owned();
    if !matches!(method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") {
        let mut r = refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "BAD_REQUEST",
            format!("a webhook takes POST, PUT, PATCH or DELETE, not {method}"),
        );
        r.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static("POST, PUT, PATCH, DELETE"),
        );
        return r;
    }
    let rest = parts.uri.path().strip_prefix("/hooks/").unwrap_or_default();
    let (token, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "LIMIT_EXCEEDED",
            format!("a webhook body is at most {MAX_BODY} bytes"),
        );
    };
    let delivery = Delivery {
        method,
        path: path.to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    };
    let limits = &app.webhook_limits;
    let admit = |url: &str| limits.take(url, std::time::Instant::now());
    match accept(&app.crm, token, delivery, admit).await {
        Ok(id) => (
            StatusCode::ACCEPTED,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({"id": id}).to_string(),
        )
            .into_response(),
        Err(Refusal::Unknown) => refuse(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "no webhook has this URL (it may have been rotated); ask the CRM's operator for the \
             current one (createPluginWebhookUrl)"
                .into(),
        ),
        Err(e @ Refusal::Inactive(_)) => {
            let mut r = refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                e.to_string(),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            r
        }
        Err(e @ Refusal::RateLimited(wait)) => {
            let mut r = refuse(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED", e.to_string());
            let secs = wait.as_secs_f64().ceil().max(1.0).to_string();
            if let Ok(v) = HeaderValue::from_str(&secs) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Err(Refusal::Failed(e)) => {
            tracing::error!(error = %e, "webhook delivery could not be queued");
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                e.code(),
                "the delivery could not be queued; retry it".into(),
            )
        }
    }
}

async fn healthz(State(app): State<App>) -> Response {
    match app.crm.db.ping().await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("database unreachable: {e}\n"),
        )
            .into_response(),
    }
}

async fn metrics(State(app): State<App>) -> Response {
    let mut body = app
        .metrics
        .render(&app.plugins.call_counts(), &app.plugins.http_counts());
    if let Ok(counts) = crm_core::jobs::counts(&app.crm).await {
        body.push_str("# HELP crm_jobs Jobs in the durable queue by status (all processes).\n# TYPE crm_jobs gauge\n");
        for (status, n) in counts {
            body.push_str(&format!("crm_jobs{{status=\"{status}\"}} {n}\n"));
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

use axum::extract::FromRequest;

/// Whether executing `req` would run a mutation (or could: an ambiguous
/// multi-operation document that contains one).
fn runs_mutation(req: &async_graphql::Request) -> bool {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    let Ok(doc) = async_graphql::parser::parse_query(&req.query) else {
        return false;
    };
    match &doc.operations {
        DocumentOperations::Single(op) => op.node.ty == OperationType::Mutation,
        DocumentOperations::Multiple(ops) => match req.operation_name.as_deref() {
            Some(name) => ops
                .iter()
                .any(|(n, op)| n.as_str() == name && op.node.ty == OperationType::Mutation),
            None => ops.values().any(|op| op.node.ty == OperationType::Mutation),
        },
    }
}

/// Decode an `application/x-www-form-urlencoded` query-string value.
fn percent_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
