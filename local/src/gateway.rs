//! Plays API Gateway's HTTP API: checks the JWT as its authorizer would, turns the request into
//! the same payload v2 event Lambda receives, and calls the function the route belongs to.

use std::sync::Arc;

use axum::body::{to_bytes, Body as AxumBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine;
use lambda_edge::http::{body_too_large, error_response, MAX_BODY_BYTES};
use lambda_http::Body;
use serde_json::json;
use service::Services;

pub struct Gateway {
    pub services: Services,
    pub jwt_secret: String,
}

pub fn router(gateway: Arc<Gateway>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(gateway)
}

async fn handle(State(gw): State<Arc<Gateway>>, req: Request) -> Response {
    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    let claims = match crate::jwt::verify(&gw.jwt_secret, auth.as_deref()) {
        Ok(c) => c,
        Err(why) => return plain(StatusCode::UNAUTHORIZED, json!({"error": {"code": "unauthorized", "message": why}})),
    };
    let (parts, body) = req.into_parts();
    // Read no further than the limit: a longer body is refused as the functions refuse it.
    let body = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => return into_axum(error_response(&body_too_large())),
    };
    let headers: serde_json::Map<String, serde_json::Value> =
        parts.headers.iter().filter_map(|(k, v)| Some((k.as_str().to_string(), json!(v.to_str().ok()?)))).collect();
    let raw_query = parts.uri.query().unwrap_or_default();
    let query: serde_json::Map<String, serde_json::Value> =
        url_pairs(raw_query).into_iter().map(|(k, v)| (k, json!(v))).collect();
    let event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.uri.path(),
        "rawQueryString": raw_query,
        "headers": headers,
        "queryStringParameters": query,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": parts.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost"),
            "domainPrefix": "local",
            "http": { "method": parts.method.as_str(), "path": parts.uri.path(), "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "local" },
            "requestId": ulid::Ulid::generate().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": "",
            "timeEpoch": 0,
            "authorizer": { "jwt": { "claims": claims, "scopes": null } }
        },
        "body": base64::engine::general_purpose::STANDARD.encode(&body),
        "isBase64Encoded": true
    });
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(r) => r,
        Err(e) => {
            return plain(StatusCode::BAD_REQUEST, json!({"error": {"code": "bad_request", "message": e.to_string()}}))
        }
    };
    let is_create = parts.method == axum::http::Method::POST && parts.uri.path().trim_end_matches('/') == "/v1/imports";
    let result = if is_create {
        create_import::handler(&gw.services, request).await
    } else {
        import_api::handler(&gw.services, request).await
    };
    match result {
        Ok(response) => into_axum(response),
        Err(e) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": {"code": "internal_error", "message": e.to_string()}}),
        ),
    }
}

fn url_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec =
                |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
            (dec(k), dec(v))
        })
        .collect()
}

fn into_axum(response: lambda_http::Response<Body>) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Empty => Vec::new(),
        Body::Text(t) => t.into_bytes(),
        Body::Binary(b) => b,
        _ => Vec::new(),
    };
    Response::from_parts(parts, AxumBody::from(bytes))
}

fn plain(status: StatusCode, body: serde_json::Value) -> Response {
    let mut r = Response::new(AxumBody::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
    r
}
