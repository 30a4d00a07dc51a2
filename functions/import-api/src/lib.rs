//! The routes after create: reading imports and records of the caller's tenant, PATCH, DELETE
//! and revert, the parts of a multipart upload; the tenant's templates and schemas; the tenant's
//! webhook secret and its rotation.

use lambda_edge::http::{body_bytes, empty, error_response, query_of, respond, segments, tenant_of};
use lambda_http::http::Method;
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
    let query = query_of(&req);
    let path = segments(&req);
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    if req.method() == Method::PUT {
        return Ok(match path.as_slice() {
            ["v1", "templates", id] => respond(200, api::put_template(svc, &tenant, id, body).await),
            ["v1", "schemas", resource] => respond(200, api::put_schema(svc, &tenant, resource, body).await),
            _ => empty(405),
        });
    }
    if req.method() == Method::PATCH {
        return Ok(match path.as_slice() {
            ["v1", "imports", id] => respond(200, api::patch_import(svc, &tenant, id, body).await),
            _ => empty(405),
        });
    }
    if req.method() == Method::DELETE {
        return Ok(match path.as_slice() {
            ["v1", "imports", id] => match api::delete_import(svc, &tenant, id).await {
                Ok(()) => empty(204),
                Err(e) => error_response(&e),
            },
            ["v1", "imports", id, "upload"] => match api::uploads::abort(svc, &tenant, id).await {
                Ok(()) => empty(204),
                Err(e) => error_response(&e),
            },
            ["v1", "templates", id] => match api::delete_template(svc, &tenant, id).await {
                Ok(()) => empty(204),
                Err(e) => error_response(&e),
            },
            _ => empty(405),
        });
    }
    if req.method() == Method::POST {
        return Ok(match path.as_slice() {
            ["v1", "imports", id, "revert"] => respond(202, api::revert_import(svc, &tenant, id).await),
            ["v1", "imports", id, "upload", "complete"] => respond(200, api::uploads::complete(svc, &tenant, id).await),
            ["v1", "webhooks", "secret", "rotate"] => respond(200, api::rotate_webhook_secret(svc, &tenant).await),
            ["v1", "templates"] => respond(201, api::create_template(svc, &tenant, body).await),
            _ => empty(405),
        });
    }
    if req.method() != Method::GET {
        return Ok(empty(405));
    }
    Ok(match path.as_slice() {
        ["v1", "imports"] => respond(200, api::list_imports(svc, &tenant, &query).await),
        ["v1", "imports", id] => respond(200, api::get_import(svc, &tenant, id).await),
        ["v1", "imports", id, "upload", "parts"] => respond(200, api::uploads::parts(svc, &tenant, id, &query).await),
        ["v1", "webhooks", "secret"] => respond(200, api::webhook_secret(svc, &tenant).await),
        ["v1", "templates"] => respond(200, api::list_templates(svc, &tenant, &query).await),
        ["v1", "templates", id] => respond(200, api::get_template(svc, &tenant, id, &query).await),
        ["v1", "schemas", resource] => respond(200, api::get_schema(svc, &tenant, resource).await),
        ["v1", "records", resource] => respond(200, api::list_records(svc, &tenant, resource, &query).await),
        ["v1", "records", resource, identifier] => {
            respond(200, api::get_record(svc, &tenant, resource, identifier).await)
        }
        _ => error_response(&domain::Error::NotFound),
    })
}
