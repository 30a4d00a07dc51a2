//! The HTTP API as the CLI uses it: JSON in and out, errors with the API's own message, and the
//! signed upload and download URLs, which take no bearer token.

use std::io::SeekFrom;
use std::ops::Range;
use std::path::Path;

use futures::TryStreamExt;
use reqwest::{header, Method};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWrite, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use crate::CliError;

pub struct Api {
    http: reqwest::Client,
    endpoint: String,
    token: String,
}

impl Api {
    pub fn new(endpoint: &str, token: &str) -> Self {
        Self { http: reqwest::Client::new(), endpoint: endpoint.trim_end_matches('/').to_string(), token: token.into() }
    }

    /// Any route; a status outside 2xx is an error carrying the API's message and field errors.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, CliError> {
        let mut req = self.http.request(method.clone(), format!("{}{path}", self.endpoint)).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        let error = &value["error"];
        let mut message =
            error["message"].as_str().map_or_else(|| String::from_utf8_lossy(&bytes).into(), String::from);
        for detail in error["details"].as_array().into_iter().flatten() {
            let field = detail["field"].as_str().unwrap_or("?");
            message.push_str(&format!("; {field}: {}", detail["message"].as_str().unwrap_or("invalid")));
        }
        Err(CliError::Api { method: method.to_string(), path: path.into(), status: status.as_u16(), message })
    }

    pub async fn get(&self, path: &str) -> Result<Value, CliError> {
        self.call(Method::GET, path, None).await
    }

    /// Streams `bytes` of a file to a signed link (the import's upload link, or one part of a
    /// multipart upload), with the headers it was signed with, reporting each piece sent.
    pub async fn put(
        &self,
        link: &Value,
        file: &Path,
        bytes: Range<u64>,
        mut sent: impl FnMut(u64) + Send + 'static,
    ) -> Result<(), CliError> {
        let url = link["url"].as_str().ok_or_else(|| CliError::Usage("the import has no upload link".into()))?;
        let method = link["method"].as_str().unwrap_or("PUT").parse::<Method>().unwrap_or(Method::PUT);
        let mut opened = tokio::fs::File::open(file).await.map_err(CliError::io(file.display().to_string()))?;
        opened.seek(SeekFrom::Start(bytes.start)).await.map_err(CliError::io(file.display().to_string()))?;
        let len = bytes.end - bytes.start;
        let stream =
            ReaderStream::with_capacity(opened.take(len), 256 * 1024).inspect_ok(move |piece| sent(piece.len() as u64));
        // S3 wants the length up front: the body streams, it is not sent chunked.
        let mut req =
            self.http.request(method, url).header(header::CONTENT_LENGTH, len).body(reqwest::Body::wrap_stream(stream));
        for (name, value) in link["headers"].as_object().into_iter().flatten() {
            req = req.header(name, value.as_str().unwrap_or_default());
        }
        let resp = req.send().await?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            let message = resp.text().await.unwrap_or_default();
            let path = match link["part_number"].as_u64() {
                Some(n) => format!("(part {n})"),
                None => "(upload link)".into(),
            };
            return Err(CliError::Api { method: "PUT".into(), path, status, message });
        }
        Ok(())
    }

    /// Streams what a signed link serves into the file `to`; the number of bytes written.
    pub async fn download(&self, url: &str, to: &Path) -> Result<u64, CliError> {
        let what = to.display().to_string();
        let mut file = tokio::fs::File::create(to).await.map_err(CliError::io(what.clone()))?;
        self.download_into(url, &mut file, &what).await
    }

    /// Streams what a signed link serves to stdout. A reader that went away (`| head`) ends
    /// the output, not the command, as `summary::emit` does.
    pub async fn download_to_stdout(&self, url: &str) -> Result<u64, CliError> {
        match self.download_into(url, &mut tokio::io::stdout(), "stdout").await {
            Err(CliError::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
            other => other,
        }
    }

    async fn download_into(&self, url: &str, to: &mut (impl AsyncWrite + Unpin), what: &str) -> Result<u64, CliError> {
        let resp = self.http.get(url).send().await?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            return Err(CliError::Api {
                method: "GET".into(),
                path: "(download link)".into(),
                status,
                message: String::new(),
            });
        }
        let mut pieces = resp.bytes_stream();
        let mut written = 0;
        while let Some(piece) = pieces.try_next().await? {
            to.write_all(&piece).await.map_err(CliError::io(what))?;
            written += piece.len() as u64;
        }
        to.flush().await.map_err(CliError::io(what))?;
        Ok(written)
    }
}
