use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_edge::logging::init();
    let svc = &aws_adapters::services_from_env().await?;
    run(service_fn(move |req| import_api::handler(svc, req))).await
}
