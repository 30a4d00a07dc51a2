//! Status changes of an import.

use aws_sdk_dynamodb::types::AttributeValue;

use domain::error::Result;
use domain::import::{Phase, Status};
use domain::time_fmt;
use service::ports::Finished;

use super::attributes::{n, s};
use super::layout::{sweep_soon, tenant_status};
use super::store::DynamoStore;

/// A status change of an import, applied only from the statuses in `from`.
pub(super) struct Transition<'a> {
    pub(super) from: &'a [Status],
    pub(super) to: Status,
    pub(super) phase: Option<Phase>,
    /// The timestamp attribute the change sets to now.
    pub(super) stamp: Option<&'static str>,
    pub(super) reason: Option<&'a str>,
    pub(super) files: Finished,
    /// The run the import must still be at.
    pub(super) run: Option<u32>,
}

impl DynamoStore {
    /// False when the import was in none of the `from` statuses.
    pub(super) async fn transition(&self, tenant_id: &str, import_id: &str, t: Transition<'_>) -> Result<bool> {
        let mut sets = vec!["#status = :to", "#ts = :ts", "#sweep = :sweep", "#ua = :now"];
        let mut names =
            vec![("#status", "status"), ("#ts", "tenant_status"), ("#sweep", "sweep_at"), ("#ua", "updated_at")];
        let mut values = vec![
            (":to", s(t.to.as_str())),
            (":ts", s(tenant_status(tenant_id, t.to))),
            (":sweep", sweep_soon()),
            (":now", s(time_fmt::rfc3339(time_fmt::now()))),
        ];
        if let Some(phase) = t.phase {
            sets.push("#phase = :phase");
            names.push(("#phase", "phase"));
            values.push((":phase", s(phase.as_str())));
        }
        if let Some(stamp) = t.stamp {
            sets.push("#stamp = :now");
            names.push(("#stamp", stamp));
        }
        if let Some(reason) = t.reason {
            sets.push("#reason = :reason");
            names.push(("#reason", "reason"));
            values.push((":reason", s(reason)));
        }
        if t.files.has_errors_file {
            sets.push("#hef = :true");
            names.push(("#hef", "has_errors_file"));
        }
        if t.files.has_results_file {
            sets.push("#hrf = :true");
            names.push(("#hrf", "has_results_file"));
        }
        if t.files.has_errors_file || t.files.has_results_file {
            values.push((":true", AttributeValue::Bool(true)));
        }
        let from: Vec<String> = (0..t.from.len()).map(|i| format!(":from{i}")).collect();
        let from_values: Vec<(String, AttributeValue)> =
            t.from.iter().zip(&from).map(|(st, k)| (k.clone(), s(st.as_str()))).collect();
        let mut condition = format!("#status IN ({})", from.join(", "));
        let mut values: Vec<(&str, AttributeValue)> = values;
        if let Some(run) = t.run {
            condition.push_str(" AND #pr.#run = :runno");
            names.extend([("#pr", "progress"), ("#run", "run")]);
            values.push((":runno", n(run)));
        }
        values.extend(from_values.iter().map(|(k, v)| (k.as_str(), v.clone())));
        self.update_import(tenant_id, import_id, &format!("SET {}", sets.join(", ")), &condition, &names, values).await
    }
}
