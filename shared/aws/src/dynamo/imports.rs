//! The imports table as the `ImportStore`: imports, their status changes and their ledger.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, PutRequest, TransactWriteItem, WriteRequest};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::keys;
use domain::error::{Error, Result};
use domain::idempotency::KeyClaim;
use domain::import::{Import, Phase, Plan, Progress, RunStart, Status};
use domain::revert_state::{RevertState, RevertStatus, MAX_LISTED_CONFLICTS, MAX_LISTED_CONFLICT_BYTES};
use domain::template::{AutoWord, TemplateUse};
use domain::time_fmt;
use service::ports::{
    Applied, ChunkCount, CleanupStep, Finished, ImportKey, ImportStore, Kept, Page, Restart, RunSettings, StoredImport,
};

use super::attributes::{av, n, s, text};
use super::counters::{increments, stats_update};
use super::errors::{conditional, ddb_err, refused_as_data, ser_err};
use super::items::{ttl_of, ImportItem};
use super::layout::{
    batch_sk_prefix, batches_sk_prefix, chunk_sk, decode_cursor, encode_cursor, import_key, ledger_pk, page_sk_prefix,
    removal_sk_prefix, seen_sk_prefix, sweep_after, sweep_shard, sweep_soon, tenant_status, EVENT_SK_PREFIX, NOTED,
    REVERT_SK_PREFIX, STATUS_INDEX, SWEEP_INDEX, SWEEP_SHARDS,
};
use super::ledger::{ledger_put, CREATED, PART_IMAGES};
use super::store::{DynamoStore, Partition};
use super::throttle::contention_pause;
use super::transitions::Transition;

/// Due imports a round reads per query of [`SWEEP_INDEX`]: what it holds in memory at once.
pub(super) const DUE_PAGE: i32 = 100;

/// Where a round's reading of [`SWEEP_INDEX`] goes on: a shard, after the key last read
/// (`sweep_at`, `pk`, `sk`), if any.
#[derive(Default, Serialize, Deserialize)]
pub(super) struct DueCursor {
    pub(super) shard: u32,
    pub(super) after: Option<(i64, String, String)>,
}

#[async_trait]
impl ImportStore for DynamoStore {
    async fn create(&self, import: &Import, own_settings: &[String]) -> Result<bool> {
        let item = ImportItem {
            pk: import.tenant_id.clone(),
            sk: import.id.clone(),
            ttl: ttl_of(import),
            import: import.clone(),
            progress: Progress::default(),
            requested_mappings: import.mappings.clone(),
            own_settings: own_settings.to_vec(),
            source_etag: None,
            published: Some(BTreeMap::new()),
            tenant_status: tenant_status(&import.tenant_id, import.status),
            sweep_shard: sweep_shard(&import.id),
            sweep_at: Some(sweep_after(import.created_at)),
            batch_counted_at: None,
        };
        let result = self
            .client
            .put_item()
            .table_name(&self.imports)
            .set_item(Some(serde_dynamo::to_item(&item).map_err(ser_err)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        conditional(refused_as_data(result)?)
    }

    async fn claim_key(&self, tenant_id: &str, key: &str, fingerprint: &str, import_id: &str) -> Result<KeyClaim> {
        // Beside the tenant's imports, in a partition of its own so listings never see it.
        let pk = format!("idempotency#{tenant_id}");
        let ttl = time_fmt::now().unix_timestamp() + domain::idempotency::KEY_TTL_SECS;
        let result = self
            .client
            .put_item()
            .table_name(&self.imports)
            .item("pk", s(&pk))
            .item("sk", s(key))
            .item("import_id", s(import_id))
            .item("fingerprint", s(fingerprint))
            .item("ttl", n(ttl))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        if conditional(result)? {
            return Ok(KeyClaim::Claimed);
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.imports)
            .key("pk", s(&pk))
            .key("sk", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(ddb_err)?;
        let item = out.item.unwrap_or_default();
        let held = |k: &str| text(&item, k).unwrap_or_default().to_string();
        Ok(KeyClaim::Held { import_id: held("import_id"), fingerprint: held("fingerprint") })
    }

    async fn get(&self, tenant_id: &str, import_id: &str) -> Result<Option<StoredImport>> {
        let Some(item) = self.import_item::<ImportItem>(tenant_id, import_id, None).await? else {
            return Ok(None);
        };
        Ok(Some(self.with_counters(item).await?.into()))
    }

    async fn progress(&self, tenant_id: &str, import_id: &str) -> Result<Option<Progress>> {
        let key = (tenant_id.to_string(), import_id.to_string());
        self.progress_reads.read(key, || self.read_progress(tenant_id, import_id)).await
    }

    async fn list(
        &self,
        tenant_id: &str,
        status: Option<Status>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Import>> {
        // A status's imports from their own index: a page reads those it lists, whatever else
        // the tenant holds.
        let by_status = status.map(|st| tenant_status(tenant_id, st));
        let mut start = match cursor {
            Some(c) => {
                let mut key = import_key(tenant_id, &decode_cursor(c)?);
                if let Some(ts) = &by_status {
                    key.insert("tenant_status".into(), s(ts));
                }
                Some(key)
            }
            None => None,
        };
        let mut items = Vec::new();
        loop {
            let mut req = self
                .client
                .query()
                .table_name(&self.imports)
                .scan_index_forward(false)
                .limit((limit - items.len()) as i32)
                .set_exclusive_start_key(start.take());
            req = match &by_status {
                Some(ts) => req
                    .index_name(STATUS_INDEX)
                    .key_condition_expression("#ts = :ts")
                    .expression_attribute_names("#ts", "tenant_status")
                    .expression_attribute_values(":ts", s(ts)),
                None => req.key_condition_expression("pk = :pk").expression_attribute_values(":pk", s(tenant_id)),
            };
            let out = req.send().await.map_err(ddb_err)?;
            let mut found = out.items.unwrap_or_default();
            if let Some(st) = status {
                // The index holds keys: the items themselves, as they are now, newest first, of
                // the status still.
                let keys = found.iter().filter_map(|key| text(key, "sk")).map(|sk| (tenant_id.to_string(), sk.into()));
                found = self.batch_get(&self.imports, keys.collect::<Vec<_>>()).await?;
                found.retain(|item| text(item, "status") == Some(st.as_str()));
                found.sort_by(|a, b| text(b, "sk").cmp(&text(a, "sk")));
            }
            let page = found.into_iter().map(|item| async move {
                let item: ImportItem = serde_dynamo::from_item(item).map_err(ser_err)?;
                Ok::<_, Error>(self.with_counters(item).await?.import)
            });
            for import in futures::future::join_all(page).await {
                items.push(import?);
            }
            start = out.last_evaluated_key;
            if start.is_none() || items.len() >= limit {
                break;
            }
        }
        let next_cursor = match (&start, items.last()) {
            (Some(_), Some(last)) => Some(encode_cursor(&last.id)),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    async fn save_plan(&self, tenant_id: &str, import_id: &str, plan: &Plan) -> Result<bool> {
        // Queued, its chunks about to be sent: transforming.
        let queue = if plan.queue { ", #status = :queued, #ts = :ts, #sweep = :sweep" } else { "" };
        let phase = if plan.queue { Phase::Transforming } else { Phase::Prevalidation };
        let expression = format!(
            "SET #etag = :etag, #fh = :fh, #map = :map, #um = :um, #file = :file, #st.#rows = :rows, \
             #pr.#ct = :ct, #pr.#planned = :true, #huf = :true, #phase = :phase, #ua = :now, #sr = :sr, #dv = :dv, \
             #clip = :clip, #sug = :sug{queue} \
             REMOVE #links.#upload"
        );
        let mut names = vec![
            ("#sr", "sample_records"),
            ("#dv", "distinct_values"),
            ("#clip", "clipped"),
            ("#sug", "suggested_template"),
            ("#run", "run"),
            ("#etag", "source_etag"),
            ("#fh", "file_headers"),
            ("#map", "mappings"),
            ("#um", "unmapped_headers"),
            ("#file", "file"),
            ("#st", "stats"),
            ("#rows", "rows"),
            ("#pr", "progress"),
            ("#ct", "chunks_total"),
            ("#huf", "has_upload_file"),
            ("#phase", "phase"),
            ("#ua", "updated_at"),
            ("#links", "links"),
            ("#upload", "upload"),
            ("#status", "status"),
            ("#planned", "planned"),
        ];
        let mut values = vec![
            (":etag", av(&plan.source_etag)?),
            (":fh", av(&plan.file_headers)?),
            (":map", av(&plan.mappings)?),
            (":um", av(&plan.unmapped_headers)?),
            (":file", av(&plan.file)?),
            (":rows", n(plan.file.rows)),
            (":ct", n(plan.chunks_total)),
            (":true", AttributeValue::Bool(true)),
            (":phase", s(phase.as_str())),
            (":now", s(time_fmt::rfc3339(time_fmt::now()))),
            (":awaiting", s(Status::AwaitingUpload.as_str())),
            (":queued", s(Status::Queued.as_str())),
            (":run", n(plan.run)),
            (":sr", av(&plan.sample_records)?),
            (":dv", av(&plan.distinct_values)?),
            (":clip", av(&plan.clipped)?),
            (":sug", av(&plan.suggested_template)?),
        ];
        if plan.queue {
            names.extend([("#ts", "tenant_status"), ("#sweep", "sweep_at")]);
            values.extend([(":ts", s(tenant_status(tenant_id, Status::Queued))), (":sweep", sweep_soon())]);
        }
        let condition = "#status IN (:awaiting, :queued) AND #pr.#run = :run";
        self.update_import(tenant_id, import_id, &expression, condition, &names, values).await
    }

    async fn preview_ready(&self, tenant_id: &str, import_id: &str, run: u32) -> Result<bool> {
        let t = Transition {
            from: &[Status::AwaitingUpload, Status::Queued],
            to: Status::PreviewReady,
            phase: Some(Phase::Prevalidation),
            stamp: None,
            reason: None,
            files: Finished::default(),
            run: Some(run),
        };
        self.transition(tenant_id, import_id, t).await
    }

    async fn settle_template(
        &self,
        tenant_id: &str,
        import_id: &str,
        run: u32,
        settings: &RunSettings,
        template: Option<TemplateUse>,
    ) -> Result<bool> {
        let Some(mut item) = self.import_item::<ImportItem>(tenant_id, import_id, None).await? else {
            return Ok(false);
        };
        if item.progress.run != run || item.import.template != Some(TemplateUse::Auto(AutoWord::Auto)) {
            return Ok(false);
        }
        settings.apply(&mut item.import);
        item.import.template = template;
        item.import.updated_at = time_fmt::now();
        if let Some(mappings) = &settings.mappings {
            item.requested_mappings = mappings.clone();
        }
        let status = item.import.status;
        self.replace_item(&item, status, run).await
    }

    async fn restart(&self, tenant_id: &str, import_id: &str, restart: &Restart) -> Result<bool> {
        let Some(mut item) = self.import_item::<ImportItem>(tenant_id, import_id, None).await? else {
            return Ok(false);
        };
        if item.import.status != restart.from || item.progress.run != restart.run {
            return Ok(false);
        }
        restart.apply(&mut item.import);
        item.import.updated_at = time_fmt::now();
        if let Some(mappings) = &restart.settings.mappings {
            item.requested_mappings = mappings.clone();
        }
        item.progress = Progress { run: restart.run + 1, rehearsal: restart.rehearsal(), ..Progress::default() };
        item.tenant_status = tenant_status(tenant_id, Status::Queued);
        item.sweep_shard = sweep_shard(import_id);
        item.sweep_at = Some(sweep_after(item.import.updated_at));
        self.replace_item(&item, restart.from, restart.run).await
    }

    async fn batch_outcomes(
        &self,
        tenant_id: &str,
        import_id: &str,
        run: u32,
        chunk: u64,
    ) -> Result<BTreeMap<u64, String>> {
        let prefix = batch_sk_prefix(run, chunk);
        let mut out = BTreeMap::new();
        let ledger = Partition { table: &self.imports, pk: ledger_pk(tenant_id, import_id), prefix: Some(&prefix) };
        self.each_item(ledger, Some("sk, outcomes"), |item| {
            let batch = text(&item, "sk").and_then(|sk| sk.strip_prefix(&prefix)).and_then(|b| b.parse().ok());
            if let (Some(batch), Some(outcomes)) = (batch, text(&item, "outcomes")) {
                out.insert(batch, outcomes.to_string());
            }
        })
        .await?;
        Ok(out)
    }

    async fn record_chunk(&self, tenant_id: &str, import_id: &str, run: u32, count: &ChunkCount<'_>) -> Result<bool> {
        let ttl = self.import_ttl(tenant_id, import_id).await?;
        let chunk = count.chunk;
        for attempt in 0..5u32 {
            let progress =
                [("chunks_transformed", 1), ("batches_planned", count.batches), ("rows_transformed", chunk.rows)];
            let inc = increments(count.tally, &progress);
            let start = RunStart { chunk: chunk.index, at: count.began };
            let items = vec![
                ledger_put(&self.imports, tenant_id, import_id, chunk_sk(run, chunk.index), ttl, &[], &[])?,
                stats_update(&self.imports, tenant_id, import_id, run, inc, &start)?,
            ];
            match self.transact(items).await? {
                Applied::Now => return Ok(true),
                Applied::Before => return Ok(false),
                Applied::Conflict => tokio::time::sleep(contention_pause(attempt)).await,
            }
        }
        Err(Error::Contention(format!("chunk {} of {import_id}", chunk.index)))
    }

    async fn complete(&self, tenant_id: &str, import_id: &str, run: u32, files: Finished) -> Result<bool> {
        let t = Transition {
            from: &[Status::Queued, Status::Processing],
            to: Status::Completed,
            // The phase it ended in: an overwrite's cleanup, a merge's processing.
            phase: None,
            stamp: Some("completed_at"),
            reason: None,
            files,
            run: Some(run),
        };
        self.transition(tenant_id, import_id, t).await
    }

    async fn due(&self, now: OffsetDateTime, cursor: Option<&str>) -> Result<Page<ImportKey>> {
        let DueCursor { shard, after } = match cursor {
            Some(c) => serde_json::from_str(c).map_err(ser_err)?,
            None => DueCursor::default(),
        };
        let start = after.map(|(at, pk, sk)| {
            let mut key = HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))]);
            key.insert("sweep_shard".into(), n(shard));
            key.insert("sweep_at".into(), n(at));
            key
        });
        let out = self
            .client
            .query()
            .table_name(&self.imports)
            .index_name(SWEEP_INDEX)
            .key_condition_expression("#shard = :shard AND #at <= :now")
            .expression_attribute_names("#shard", "sweep_shard")
            .expression_attribute_names("#at", "sweep_at")
            .expression_attribute_values(":shard", n(shard))
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .limit(DUE_PAGE)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(ddb_err)?;
        let key = |item: &HashMap<String, AttributeValue>| {
            let at = item.get("sweep_at").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok());
            Some((at?, text(item, "pk")?.to_string(), text(item, "sk")?.to_string()))
        };
        let items = out.items().iter().filter_map(key).map(|(_, pk, sk)| (pk, sk)).collect();
        let next = match out.last_evaluated_key.as_ref().and_then(key) {
            Some(after) => Some(DueCursor { shard, after: Some(after) }),
            None => (shard + 1 < SWEEP_SHARDS).then(|| DueCursor { shard: shard + 1, after: None }),
        };
        let next_cursor = next.map(|c| serde_json::to_string(&c).map_err(ser_err)).transpose()?;
        Ok(Page { items, next_cursor })
    }

    async fn reschedule(
        &self,
        tenant_id: &str,
        import_id: &str,
        seen: OffsetDateTime,
        next: OffsetDateTime,
    ) -> Result<bool> {
        self.update_import(
            tenant_id,
            import_id,
            "SET #at = :next",
            "#at = :seen",
            &[("#at", "sweep_at")],
            vec![(":next", n(next.unix_timestamp())), (":seen", n(seen.unix_timestamp()))],
        )
        .await
    }

    async fn finish(
        &self,
        tenant_id: &str,
        import_id: &str,
        from: &[Status],
        to: Status,
        reason: &str,
    ) -> Result<bool> {
        let t = Transition {
            from,
            to,
            phase: None,
            stamp: Some("completed_at"),
            reason: Some(reason),
            files: Finished::default(),
            run: None,
        };
        let stopped = self.transition(tenant_id, import_id, t).await?;
        self.close_counters(tenant_id, import_id).await?;
        Ok(stopped)
    }

    async fn delete(&self, tenant_id: &str, import_id: &str) -> Result<bool> {
        // The ledger first: while the import item exists, a failed delete can be asked again.
        self.delete_ledger(tenant_id, import_id).await?;
        let running = [Status::Queued, Status::Processing];
        let result = self
            .client
            .delete_item()
            .table_name(&self.imports)
            .set_key(Some(import_key(tenant_id, import_id)))
            .condition_expression("attribute_exists(pk) AND NOT (#status IN (:r0, :r1))")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":r0", s(running[0].as_str()))
            .expression_attribute_values(":r1", s(running[1].as_str()))
            .send()
            .await;
        let deleted = conditional(result)?;
        if deleted {
            // An event mark put while the ledger was swept; none can follow (`mark_published`).
            self.delete_ledger(tenant_id, import_id).await?;
        }
        Ok(deleted)
    }

    async fn begin_cleanup(&self, tenant_id: &str, import_id: &str, run: u32) -> Result<bool> {
        self.update_import(
            tenant_id,
            import_id,
            "SET #phase = :cleanup, #ua = :now",
            "#status IN (:q, :p) AND #pr.#run = :run AND #phase <> :cleanup",
            &[("#phase", "phase"), ("#ua", "updated_at"), ("#status", "status"), ("#pr", "progress"), ("#run", "run")],
            vec![
                (":cleanup", s(Phase::Cleanup.as_str())),
                (":now", s(time_fmt::rfc3339(time_fmt::now()))),
                (":q", s(Status::Queued.as_str())),
                (":p", s(Status::Processing.as_str())),
                (":run", n(run)),
            ],
        )
        .await
    }

    async fn note_seen(&self, tenant_id: &str, import_id: &str, run: u32, identifiers: &[String]) -> Result<()> {
        let ttl = self.import_ttl(tenant_id, import_id).await?;
        let requests = identifiers
            .iter()
            .map(|id| {
                let prefix = seen_sk_prefix(run);
                let mut put = PutRequest::builder()
                    .item("pk", s(ledger_pk(tenant_id, import_id)))
                    .item("sk", s(keys::sort_key(&prefix, id)))
                    .item("ttl", n(ttl));
                if !keys::fits(&prefix, id) {
                    put = put.item(NOTED, s(id));
                }
                let put = put.build().map_err(ser_err)?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>>>()?;
        self.write_all(&self.imports, requests).await
    }

    async fn page_ended(&self, tenant_id: &str, import_id: &str, run: u32, page: &str) -> Result<bool> {
        let out = self
            .client
            .get_item()
            .table_name(&self.imports)
            .key("pk", s(ledger_pk(tenant_id, import_id)))
            .key("sk", s(keys::sort_key(&page_sk_prefix(run), page)))
            .projection_expression("sk")
            .consistent_read(true)
            .send()
            .await
            .map_err(ddb_err)?;
        Ok(out.item.is_some())
    }

    async fn end_page(&self, tenant_id: &str, import_id: &str, run: u32, page: &str) -> Result<()> {
        let ttl = self.import_ttl(tenant_id, import_id).await?;
        self.client
            .put_item()
            .table_name(&self.imports)
            .item("pk", s(ledger_pk(tenant_id, import_id)))
            .item("sk", s(keys::sort_key(&page_sk_prefix(run), page)))
            .item("ttl", n(ttl))
            .send()
            .await
            .map_err(ddb_err)?;
        Ok(())
    }

    async fn cleanup_step(&self, tenant_id: &str, import_id: &str, run: u32, step: CleanupStep) -> Result<bool> {
        let flag = match step {
            CleanupStep::GuardPassed => "guard_passed",
            CleanupStep::RemovalDone => "removal_done",
        };
        self.update_import(
            tenant_id,
            import_id,
            "SET #pr.#flag = :true, #ua = :now",
            "#status IN (:q, :p) AND #pr.#run = :run",
            &[("#pr", "progress"), ("#flag", flag), ("#ua", "updated_at"), ("#status", "status"), ("#run", "run")],
            vec![
                (":true", AttributeValue::Bool(true)),
                (":now", s(time_fmt::rfc3339(time_fmt::now()))),
                (":q", s(Status::Queued.as_str())),
                (":p", s(Status::Processing.as_str())),
                (":run", n(run)),
            ],
        )
        .await
    }

    async fn begin_revert(&self, tenant_id: &str, import_id: &str, state: &RevertState) -> Result<bool> {
        self.update_import(
            tenant_id,
            import_id,
            "SET #rv = :state, #ua = :now",
            "#status = :completed AND (attribute_not_exists(#rv) OR attribute_type(#rv, :null))",
            &[("#rv", "revert"), ("#ua", "updated_at"), ("#status", "status")],
            vec![
                (":state", av(state)?),
                (":now", s(time_fmt::rfc3339(time_fmt::now()))),
                (":completed", s(Status::Completed.as_str())),
                (":null", s("NULL")),
            ],
        )
        .await
    }

    async fn kept_before_images(&self, tenant_id: &str, import_id: &str, run: u32) -> Result<Vec<(String, Kept)>> {
        let mut units = Vec::new();
        let texts = |item: &HashMap<String, AttributeValue>, name: &str| -> Vec<String> {
            let list = item.get(name).and_then(|v| v.as_l().ok()).map(Vec::as_slice).unwrap_or_default();
            list.iter().filter_map(|v| v.as_s().ok()).cloned().collect()
        };
        for prefix in [batches_sk_prefix(run), removal_sk_prefix(run)] {
            let ledger = Partition { table: &self.imports, pk: ledger_pk(tenant_id, import_id), prefix: Some(&prefix) };
            self.each_item(ledger, Some(&format!("sk, before_images, {PART_IMAGES}, {CREATED}")), |item| {
                let Some(sk) = text(&item, "sk") else { return };
                let kept = Kept {
                    before_images: text(&item, "before_images").map(str::to_string),
                    created: texts(&item, CREATED),
                };
                if kept != Kept::default() {
                    units.push((sk.to_string(), kept));
                }
                // A batch applied in parts kept an object per part: each is a unit to revert.
                for (i, key) in texts(&item, PART_IMAGES).into_iter().enumerate() {
                    units.push((format!("{sk}~{i}"), Kept { before_images: Some(key), created: vec![] }));
                }
            })
            .await?;
        }
        Ok(units)
    }

    async fn plan_revert(&self, tenant_id: &str, import_id: &str, units: u64) -> Result<()> {
        // Planned before: the same units, already counted.
        self.update_import(
            tenant_id,
            import_id,
            "SET #rv.#total = :n",
            "#rv.#st = :reverting AND (attribute_not_exists(#rv.#total) OR attribute_type(#rv.#total, :null))",
            &[("#rv", "revert"), ("#total", "units_total"), ("#st", "status")],
            vec![(":n", n(units)), (":reverting", av(&RevertStatus::Reverting)?), (":null", s("NULL"))],
        )
        .await?;
        Ok(())
    }

    async fn finish_revert(&self, tenant_id: &str, import_id: &str) -> Result<bool> {
        let mut listed = Vec::new();
        let ledger =
            Partition { table: &self.imports, pk: ledger_pk(tenant_id, import_id), prefix: Some(REVERT_SK_PREFIX) };
        self.each_item(ledger, Some("conflicts"), |item| {
            listed.extend(text(&item, "conflicts").into_iter().flat_map(str::lines).map(str::to_string));
        })
        .await?;
        listed.sort();
        listed.truncate(MAX_LISTED_CONFLICTS);
        // The import item stays well within DynamoDB's 400 KB whatever the identifiers' length.
        let mut bytes = 0;
        listed.retain(|id| {
            bytes += id.len();
            bytes <= MAX_LISTED_CONFLICT_BYTES
        });
        let now = s(time_fmt::rfc3339(time_fmt::now()));
        self.update_import(
            tenant_id,
            import_id,
            "SET #rv.#st = :reverted, #rv.#ca = :now, #rv.#ci = :listed, #ua = :now, #sweep = :sweep",
            "#rv.#st = :reverting AND #rv.#total = #rv.#done",
            &[
                ("#rv", "revert"),
                ("#st", "status"),
                ("#ca", "completed_at"),
                ("#ci", "conflict_identifiers"),
                ("#ua", "updated_at"),
                ("#total", "units_total"),
                ("#done", "units_done"),
                ("#sweep", "sweep_at"),
            ],
            vec![
                (":sweep", sweep_soon()),
                (":reverted", av(&RevertStatus::Reverted)?),
                (":reverting", av(&RevertStatus::Reverting)?),
                (":now", now),
                (":listed", av(&listed)?),
            ],
        )
        .await
    }

    async fn fail_revert(&self, tenant_id: &str, import_id: &str, reason: &str) -> Result<bool> {
        self.update_import(
            tenant_id,
            import_id,
            "SET #rv.#st = :failed, #rv.#reason = :reason, #ua = :now",
            "#rv.#st = :reverting",
            &[("#rv", "revert"), ("#st", "status"), ("#reason", "reason"), ("#ua", "updated_at")],
            vec![
                (":failed", av(&RevertStatus::Failed)?),
                (":reverting", av(&RevertStatus::Reverting)?),
                (":reason", s(reason)),
                (":now", s(time_fmt::rfc3339(time_fmt::now()))),
            ],
        )
        .await
    }

    async fn resume_revert(&self, tenant_id: &str, import_id: &str) -> Result<bool> {
        self.update_import(
            tenant_id,
            import_id,
            "SET #rv.#st = :reverting, #ua = :now REMOVE #rv.#reason",
            "#rv.#st = :failed",
            &[("#rv", "revert"), ("#st", "status"), ("#reason", "reason"), ("#ua", "updated_at")],
            vec![
                (":failed", av(&RevertStatus::Failed)?),
                (":reverting", av(&RevertStatus::Reverting)?),
                (":now", s(time_fmt::rfc3339(time_fmt::now()))),
            ],
        )
        .await
    }

    async fn interrupt(&self, tenant_id: &str, import_id: &str) -> Result<bool> {
        let t = Transition {
            from: &[Status::AwaitingUpload, Status::PreviewReady, Status::Queued, Status::Processing],
            to: Status::Interrupted,
            phase: None,
            stamp: Some("interrupted_at"),
            reason: Some("interrupted"),
            files: Finished::default(),
            run: None,
        };
        let stopped = self.transition(tenant_id, import_id, t).await?;
        self.close_counters(tenant_id, import_id).await?;
        Ok(stopped)
    }

    async fn fail(&self, tenant_id: &str, import_id: &str, run: u32, from: &[Status], reason: &str) -> Result<bool> {
        let t = Transition {
            from,
            to: Status::Failed,
            phase: None,
            stamp: Some("completed_at"),
            reason: Some(reason),
            files: Finished::default(),
            run: Some(run),
        };
        let stopped = self.transition(tenant_id, import_id, t).await?;
        self.close_counters(tenant_id, import_id).await?;
        Ok(stopped)
    }

    async fn mark_published(&self, tenant_id: &str, import_id: &str, key: &str) -> Result<()> {
        // An item of the ledger, not a second write of the import item: a step writes the import
        // once for its message, and its change's event is marked beside it.
        let ttl = match self.import_ttl(tenant_id, import_id).await {
            Err(Error::NotFound) => return Ok(()),
            ttl => ttl?,
        };
        // Only beside an import that still exists: a mark put after a DELETE swept the ledger
        // would outlive the import.
        let exists = ConditionCheck::builder()
            .table_name(&self.imports)
            .set_key(Some(import_key(tenant_id, import_id)))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(ser_err)?;
        let mark = Put::builder()
            .table_name(&self.imports)
            .item("pk", s(ledger_pk(tenant_id, import_id)))
            .item("sk", s(format!("{EVENT_SK_PREFIX}{key}")))
            .item("at", s(time_fmt::rfc3339(time_fmt::now())))
            .item("ttl", n(ttl))
            .build()
            .map_err(ser_err)?;
        let items = vec![
            TransactWriteItem::builder().condition_check(exists).build(),
            TransactWriteItem::builder().put(mark).build(),
        ];
        // Before: the import is gone, and its mark with it.
        self.transact(items).await.map(|_| ())
    }

    async fn published(&self, tenant_id: &str, import_id: &str) -> Result<BTreeSet<String>> {
        let mut marked = BTreeSet::new();
        let ledger =
            Partition { table: &self.imports, pk: ledger_pk(tenant_id, import_id), prefix: Some(EVENT_SK_PREFIX) };
        self.each_item(ledger, Some("sk"), |item| {
            marked.extend(text(&item, "sk").and_then(|sk| sk.strip_prefix(EVENT_SK_PREFIX)).map(str::to_string));
        })
        .await?;
        Ok(marked)
    }
}

impl DynamoStore {
    /// Puts the import's item whole while it is still in `status` at `run` (as it was read);
    /// false when it no longer is.
    async fn replace_item(&self, item: &ImportItem, status: Status, run: u32) -> Result<bool> {
        let result = self
            .client
            .put_item()
            .table_name(&self.imports)
            .set_item(Some(serde_dynamo::to_item(item).map_err(ser_err)?))
            .condition_expression("#status = :from AND #pr.#run = :run")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#pr", "progress")
            .expression_attribute_names("#run", "run")
            .expression_attribute_values(":from", s(status.as_str()))
            .expression_attribute_values(":run", n(run))
            .send()
            .await;
        conditional(refused_as_data(result)?)
    }

    /// The import's progress, its batches counted from the counter shards once every chunk is.
    async fn read_progress(&self, tenant_id: &str, import_id: &str) -> Result<Option<Progress>> {
        #[derive(Deserialize)]
        struct ProgressItem {
            progress: Progress,
        }
        let Some(item) = self.import_item::<ProgressItem>(tenant_id, import_id, Some("progress")).await? else {
            return Ok(None);
        };
        let mut progress = item.progress;
        // Until every chunk is transformed the batches done decide nothing: the shards wait.
        if progress.planned && progress.chunks_transformed == progress.chunks_total {
            let counts = self.shard_counts(tenant_id, import_id, progress.run, Some("batches_done")).await?;
            progress.batches_done += counts.batches_done;
        }
        Ok(Some(progress))
    }
}
