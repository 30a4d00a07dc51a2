//! Two imports of one tenant and resource type run at once over overlapping files, and
//! neither's writes break the other's stats. Outcomes that depend on which import reaches a
//! record first are checked through each import's results file: every row's outcome must agree
//! with the final record (its fields, `last_import_id` and `version`, one per write).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use domain::import::upload_key;
use domain::record::{ResourceType, StoredRecord};
use serde_json::{json, Value};
use service::pipeline::{prevalidate, process};
use tests::{download, host, receive_all, run_transform_queue, stat, IMPORT_TIMEOUT};

/// A contacts file: valid rows by identifier (first name, company) and a number of bad rows.
#[derive(Default)]
struct File {
    rows: BTreeMap<String, (String, String)>,
    invalid: u64,
}

impl File {
    fn add(&mut self, ids: impl IntoIterator<Item = String>, value: impl Fn(&str) -> (String, String)) {
        for id in ids {
            let v = value(&id);
            self.rows.insert(id, v);
        }
    }

    /// The rows in identifier order, a bad one after each of the first `invalid`.
    fn csv(&self) -> Vec<u8> {
        let mut out = String::from("email,first_name,company\n");
        for (i, (id, (first, company))) in self.rows.iter().enumerate() {
            out.push_str(&format!("{id},{first},{company}\n"));
            if (i as u64) < self.invalid {
                out.push_str(&format!("broken-{i}-at-example,Bad,Row\n"));
            }
        }
        out.into_bytes()
    }

    fn fields(&self, id: &str) -> Option<Value> {
        self.rows.get(id).map(|(first, company)| json!({"email": id, "first_name": first, "company": company}))
    }
}

fn ids(prefix: &str, n: usize) -> impl Iterator<Item = String> + '_ {
    (0..n).map(move |i| format!("{prefix}{i}@example.com"))
}

/// Both imports after running at once, with each row's outcome by identifier.
struct Ran {
    imports: [Value; 2],
    outcomes: [HashMap<String, String>; 2],
    /// How many records the tenant has.
    records: usize,
}

impl Ran {
    /// The two outcomes of identifiers, each pair one of `allowed` (`-`: not in that file).
    fn expect(&self, ids: impl IntoIterator<Item = String>, allowed: &[(&str, &str)]) {
        for id in ids {
            let pair = [0, 1].map(|i| self.outcomes[i].get(&id).map_or("-", String::as_str));
            assert!(allowed.contains(&(pair[0], pair[1])), "{id}: {pair:?}, expected one of {allowed:?}");
        }
    }

    fn total(&self, name: &str) -> u64 {
        self.imports.iter().map(|import| stat(import, name)).sum()
    }
}

/// Seeds the tenant with `seed`, then runs `a` and `b` at once, and checks what must hold
/// whatever their order: each import's stats, each row's outcome against the final records,
/// and that nothing else was written.
///
/// The local host's queue consumers take ten messages at a time and run them one after
/// another, so left to them one import mostly finishes before the other starts. The test runs
/// the steps itself instead, and the two imports' process batches pairwise at once: with both
/// files in identifier order, a pair is mostly about the same records.
async fn run_both(chunk_rows: u64, seed: &File, files: [&File; 2]) -> Ran {
    let host = host(|o| {
        o.chunk_rows = Some(chunk_rows);
        o.workers = 0;
    })
    .await;
    let svc = host.clients.services(host.settings.clone()).expect("services");
    let client = host.client("acme");
    let mut seed_id = String::new();
    if !seed.rows.is_empty() {
        let inputs: Vec<Value> = seed.rows.keys().filter_map(|id| seed.fields(id)).collect();
        let body = json!({"resource_type": "contact", "mode": "sync", "inputs": inputs});
        let seeded = client.create_import(&body).await.unwrap();
        assert_eq!(stat(&seeded, "created"), seed.rows.len() as u64, "{seeded}");
        seed_id = seeded["id"].as_str().unwrap().to_string();
    }

    let body = json!({"resource_type": "contact", "action": "merge"});
    let (a, b) = tokio::join!(client.create_import(&body), client.create_import(&body));
    let created = [a.unwrap(), b.unwrap()];
    let (a, b) = tokio::join!(client.upload(&created[0], files[0].csv()), client.upload(&created[1], files[1].csv()));
    a.unwrap();
    b.unwrap();
    let import_ids = created.map(|c| c["id"].as_str().unwrap().to_string());
    let keys = import_ids.each_ref().map(|id| upload_key("acme", id));
    let (a, b) = tokio::join!(prevalidate::run(&svc, &keys[0]), prevalidate::run(&svc, &keys[1]));
    a.unwrap();
    b.unwrap();
    run_transform_queue(&host, &svc).await;
    let mut batches: [Vec<(u64, u64, String)>; 2] = Default::default();
    for body in receive_all(&host, &host.settings.process_queue_url).await {
        let msg: Value = serde_json::from_str(&body).unwrap();
        let i = import_ids.iter().position(|id| msg["import_id"] == id.as_str()).unwrap();
        batches[i].push((msg["chunk"].as_u64().unwrap(), msg["batch"].as_u64().unwrap(), body));
    }
    batches.iter_mut().for_each(|b| b.sort());
    for k in 0..batches[0].len().max(batches[1].len()) {
        let step = |i: usize| {
            let (svc, body) = (&svc, batches[i].get(k).map(|(_, _, body)| body.as_str()));
            async move {
                match body {
                    Some(body) => process::run(svc, body).await,
                    None => Ok(()),
                }
            }
        };
        let (a, b) = tokio::join!(step(0), step(1));
        a.unwrap();
        b.unwrap();
    }
    // The last batches asked for the imports to be completed.
    run_transform_queue(&host, &svc).await;
    let (a, b) = tokio::join!(
        client.wait_final(&import_ids[0], IMPORT_TIMEOUT),
        client.wait_final(&import_ids[1], IMPORT_TIMEOUT)
    );
    let finished = [a.unwrap(), b.unwrap()];

    let mut outcomes = [HashMap::new(), HashMap::new()];
    for ((import, file), outcomes) in finished.iter().zip(files).zip(&mut outcomes) {
        assert_eq!(import["status"], "completed", "{import}");
        let rows = file.rows.len() as u64 + file.invalid;
        assert_eq!([stat(import, "rows"), stat(import, "processed")], [rows, rows], "{import}");
        assert_eq!([stat(import, "errors"), stat(import, "duplicates")], [file.invalid, 0], "{import}");
        let decided = ["created", "updated", "unchanged"].map(|s| stat(import, s));
        assert_eq!(decided.iter().sum::<u64>(), file.rows.len() as u64, "each valid row once: {import}");

        let results = String::from_utf8(download(&import["links"]["results_csv"]).await).unwrap();
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for line in results.lines().skip(1) {
            let cells: Vec<&str> = line.split(',').collect();
            let [_, _, outcome, key] = cells[..] else { panic!("results line {line}") };
            *counts.entry(outcome).or_default() += 1;
            if outcome != "error" {
                assert!(outcomes.insert(key.to_string(), outcome.to_string()).is_none(), "{key} twice");
            }
        }
        for (outcome, count) in counts {
            let name = if outcome == "error" { "errors" } else { outcome };
            assert_eq!(stat(import, name), count, "results and stats agree on {name}: {import}");
        }
    }

    let mut records: HashMap<String, StoredRecord> = HashMap::new();
    let mut cursor = None;
    loop {
        let page = svc.records.list("acme", ResourceType::Contact, 100, cursor.as_deref()).await.unwrap();
        records.extend(page.items.into_iter().map(|r| (r.identifier.clone(), r)));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let all: BTreeSet<&String> = seed.rows.keys().chain(files[0].rows.keys()).chain(files[1].rows.keys()).collect();
    assert_eq!(records.len(), all.len(), "one record per distinct identifier");
    for id in all {
        let record = records.get(id.as_str()).unwrap_or_else(|| panic!("{id} missing"));
        let seeded = seed.rows.contains_key(id);
        let outcome = |i: usize| outcomes[i].get(id.as_str()).map(String::as_str);
        let creates = (0..2).filter(|&i| outcome(i) == Some("created")).count();
        assert_eq!(creates, usize::from(!seeded), "{id}: created once, and only if new");
        let writers: Vec<usize> = (0..2).filter(|&i| matches!(outcome(i), Some("created" | "updated"))).collect();
        assert_eq!(record.version, u64::from(seeded) + writers.len() as u64, "{id}: one version per write");
        // The record holds the values of whoever wrote it last.
        let expected = match writers.iter().find(|&&i| record.last_import_id == import_ids[i]) {
            Some(&i) => files[i].fields(id),
            None => {
                assert!(writers.is_empty(), "{id}: last written by {}, not a writer", record.last_import_id);
                assert_eq!(record.last_import_id, seed_id, "{id}");
                seed.fields(id)
            }
        };
        assert_eq!(Some(Value::Object(record.fields.clone())), expected, "{id}");
    }
    Ran { imports: finished, outcomes, records: records.len() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_imports_of_overlapping_files_at_once_keep_exact_stats() {
    let seed_value = |id: &str| (format!("Seed {}", &id[..3]), "SeedCo".to_string());
    let mut seed = File::default();
    seed.add(ids("sab", 20).chain(ids("sno", 10)).chain(ids("sbo", 10)).chain(ids("sao", 10)), seed_value);
    seed.add(ids("sne", 10), seed_value);
    let (mut a, mut b) = (File { invalid: 3, ..File::default() }, File { invalid: 2, ..File::default() });
    // Stored records both change, differently.
    a.add(ids("sab", 20), |id| (format!("A {id}"), "ACo".into()));
    b.add(ids("sab", 20), |id| (format!("B {id}"), "BCo".into()));
    // Rows equal to the stored record in both.
    a.add(ids("sno", 10), seed_value);
    b.add(ids("sno", 10), seed_value);
    // Equal to the stored record in one file, changed in the other.
    a.add(ids("sbo", 10), seed_value);
    b.add(ids("sbo", 10), |id| (format!("B {id}"), "BCo".into()));
    // Stored records only one file has.
    a.add(ids("sao", 10), |id| (format!("A {id}"), "ACo".into()));
    // New identifiers in both, the same and different; new ones in one file.
    a.add(ids("nsame", 20), |id| (format!("Same {id}"), "SameCo".into()));
    b.add(ids("nsame", 20), |id| (format!("Same {id}"), "SameCo".into()));
    a.add(ids("ndiff", 20), |id| (format!("A {id}"), "ACo".into()));
    b.add(ids("ndiff", 20), |id| (format!("B {id}"), "BCo".into()));
    a.add(ids("aonly", 20), |id| (format!("A {id}"), "ACo".into()));
    b.add(ids("bonly", 25), |id| (format!("B {id}"), "BCo".into()));

    // Chunks of 7 rows: each import fans out over about twenty chunks and batches.
    let ran = run_both(7, &seed, [&a, &b]).await;

    ran.expect(ids("sab", 20), &[("updated", "updated")]);
    ran.expect(ids("sno", 10), &[("unchanged", "unchanged")]);
    // A's row is unchanged before B's write, and puts the stored values back after it.
    ran.expect(ids("sbo", 10), &[("unchanged", "updated"), ("updated", "updated")]);
    ran.expect(ids("sao", 10), &[("updated", "-")]);
    ran.expect(ids("sne", 10), &[("-", "-")]);
    ran.expect(ids("nsame", 20), &[("created", "unchanged"), ("unchanged", "created")]);
    ran.expect(ids("ndiff", 20), &[("created", "updated"), ("updated", "created")]);
    ran.expect(ids("aonly", 20), &[("created", "-")]);
    ran.expect(ids("bonly", 25), &[("-", "created")]);

    assert_eq!(ran.total("created"), 20 + 20 + 20 + 25, "each new identifier created by exactly one");
    assert!(stat(&ran.imports[0], "created") >= 20 && stat(&ran.imports[1], "created") >= 25);
    let changed_back = ran.outcomes[0].iter().filter(|(id, o)| id.starts_with("sbo") && *o == "updated").count();
    assert_eq!(ran.total("updated"), 40 + 10 + 10 + 20 + changed_back as u64);
    assert_eq!(ran.total("unchanged"), 20 + 20 + (10 - changed_back) as u64);
    assert_eq!(ran.records, 60 + 20 + 20 + 20 + 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_identical_identifiers_in_both_files_conflict_and_stay_exact() {
    let (mut a, mut b) = (File::default(), File::default());
    // Every identifier in both files, in the same order, so their batches race for the same
    // records: a third with equal rows, the rest with different ones.
    let value = |name: &'static str| {
        move |id: &str| match id.trim_start_matches('x').split('@').next().and_then(|n| n.parse::<u32>().ok()) {
            Some(n) if n % 3 == 0 => (format!("Same {id}"), "SameCo".to_string()),
            _ => (format!("{name} {id}"), format!("{name}Co")),
        }
    };
    a.add(ids("x", 1000), value("A"));
    b.add(ids("x", 1000), value("B"));
    let equal: BTreeSet<String> =
        a.rows.iter().filter(|(id, v)| b.rows[*id] == **v).map(|(id, _)| id.clone()).collect();
    assert_eq!(equal.len(), 334);

    let ran = run_both(100, &File::default(), [&a, &b]).await;

    ran.expect(equal.iter().cloned(), &[("created", "unchanged"), ("unchanged", "created")]);
    let different = ids("x", 1000).filter(|id| !equal.contains(id));
    ran.expect(different, &[("created", "updated"), ("updated", "created")]);
    assert_eq!(ran.total("created"), 1000);
    assert_eq!(ran.total("unchanged"), equal.len() as u64);
    assert_eq!(ran.total("updated"), 1000 - equal.len() as u64);
    assert_eq!(ran.records, 1000);
}
