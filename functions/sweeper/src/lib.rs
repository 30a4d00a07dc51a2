//! The sweeper, on a schedule: imports whose upload never arrived expire, imports not final
//! within their maximum duration time out, and imports past their retention are deleted with
//! their files. The scheduled event itself carries nothing we need.

use lambda_runtime::{Error, LambdaEvent};
use service::pipeline::sweep;
use service::Services;

pub async fn handler(svc: &Services, _event: LambdaEvent<serde_json::Value>) -> Result<sweep::Swept, Error> {
    Ok(sweep::run(svc, domain::time_fmt::now()).await?)
}
