//! A small client of the HTTP API, as a user's script would be: create, upload, poll.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::Error;

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    pub fn new(base: impl Into<String>, token: impl Into<String>) -> Self {
        Self { http: reqwest::Client::new(), base: base.into(), token: token.into() }
    }

    /// Any route: the status and the JSON body (null when empty).
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<(u16, Value), Error> {
        let mut req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| Error::Client(e.to_string()))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| Error::Client(e.to_string()))?;
        let value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        Ok((status, value))
    }

    pub async fn get(&self, path: &str) -> Result<(u16, Value), Error> {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn create_import(&self, body: &Value) -> Result<Value, Error> {
        match self.call(reqwest::Method::POST, "/v1/imports", Some(body)).await? {
            (201, import) => Ok(import),
            (status, answer) => Err(Error::Client(format!("create answered {status}: {answer}"))),
        }
    }

    /// PUTs the file to the import's signed upload URL with the headers it asks for.
    pub async fn upload(&self, import: &Value, file: Vec<u8>) -> Result<(), Error> {
        let link = &import["links"]["upload"];
        let url = link["url"].as_str().ok_or_else(|| Error::Client("the import has no upload link".into()))?;
        let mut req = self.http.put(url).body(file);
        if let Some(headers) = link["headers"].as_object() {
            for (k, v) in headers {
                req = req.header(k, v.as_str().unwrap_or_default());
            }
        }
        let resp = req.send().await.map_err(|e| Error::Client(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(Error::Client(format!("upload answered {}", resp.status())));
        }
        Ok(())
    }

    /// Polls the import until its status is final.
    pub async fn wait_final(&self, id: &str, timeout: Duration) -> Result<Value, Error> {
        let started = Instant::now();
        loop {
            let (status, import) = self.get(&format!("/v1/imports/{id}")).await?;
            if status != 200 {
                return Err(Error::Client(format!("poll answered {status}: {import}")));
            }
            let state = import["status"].as_str().unwrap_or_default();
            if matches!(state, "completed" | "failed" | "expired" | "timed_out" | "interrupted") {
                return Ok(import);
            }
            if started.elapsed() > timeout {
                return Err(Error::Client(format!("import {id} still {state} after {timeout:?}")));
            }
            // Each poll is two reads of the table: often enough to see a step finish, not so
            // often that waiting tests load the emulator they wait on.
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// One whole import: create, upload, wait.
    pub async fn import_file(&self, body: &Value, file: Vec<u8>, timeout: Duration) -> Result<Value, Error> {
        let import = self.create_import(body).await?;
        self.upload(&import, file).await?;
        let id = import["id"].as_str().unwrap_or_default().to_string();
        self.wait_final(&id, timeout).await
    }
}
