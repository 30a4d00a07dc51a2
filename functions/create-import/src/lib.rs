//! `POST /v1/imports`: validates the body, stores the import and answers with its signed upload.

use lambda_edge::http::{body_bytes, error_response, respond, tenant_of};
use lambda_http::{Body, Error, Request, Response};
use service::{api, Services};

pub async fn handler(svc: &Services, req: Request) -> Result<Response<Body>, Error> {
    let tenant = match tenant_of(&req) {
        Ok(t) => t,
        Err(e) => return Ok(error_response(&e)),
    };
    let body = match body_bytes(&req) {
        Ok(b) => b,
        Err(e) => return Ok(error_response(&e)),
    };
    let key = req.headers().get("idempotency-key").map(|v| v.to_str().unwrap_or("\u{0}"));
    Ok(respond(201, api::create_import(svc, &tenant, body, key).await))
}
