//! The HTTP client the workflow commands use to talk to a running `shuyu serve`.
//!
//! Plain HTTP/1.1 over one TCP connection per request (hyper's `client::conn::http1`). The server
//! listens on the domain's network; where it must be reached from outside, a reverse proxy
//! terminates TLS in front of it (see `deploy/`), and this client talks to the server on the
//! inside. Every request carries the caller's bearer token; the token is never printed.
//!
//! Error replies (`{"error":{"status","code","message"}}`) become a [`Failure`] with the exit code
//! of the command line: 403, 409 and 429 (a quota) are refusals by policy (1); 400, 404, 413, 415 and 422 are bad
//! input (2); anything else, such as 401 or 500, exits 1.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, Context};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::Failure;

/// How long connecting to the server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request may take, uploads and downloads included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
/// Largest page the server hands out.
const MAX_PAGE: usize = 500;

/// A server address: `http://host[:port][/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerUrl {
    /// Host name or address, without IPv6 brackets (for connecting).
    host: String,
    /// Port (80 when the URL names none).
    port: u16,
    /// The authority as written (for the `Host` header).
    authority: String,
    /// Path prefix without a trailing slash (empty, or e.g. `/shuyu` behind a proxy).
    prefix: String,
}

impl ServerUrl {
    /// Parses `--server`. Only `http://` is accepted: TLS is a reverse proxy's job.
    pub(crate) fn parse(text: &str) -> anyhow::Result<Self> {
        let usage = "give --server as http://HOST:PORT, e.g. http://127.0.0.1:8080";
        let uri: Uri = text
            .trim()
            .parse()
            .map_err(|e| anyhow!("--server '{text}' is not a URL ({e}); {usage}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(anyhow!(
                    "--server '{text}': this client speaks plain HTTP to the server on the \
                     domain's network; TLS is terminated by a reverse proxy in front of the \
                     server, so give the server's inside address as http://HOST:PORT"
                ))
            }
            Some(other) => {
                return Err(anyhow!(
                    "--server '{text}': unknown scheme '{other}'; {usage}"
                ))
            }
            None => {
                return Err(anyhow!(
                    "--server '{text}' has no http:// in front; {usage}"
                ))
            }
        }
        let authority = uri
            .authority()
            .ok_or_else(|| anyhow!("--server '{text}' names no host; {usage}"))?;
        if authority.as_str().contains('@') {
            return Err(anyhow!(
                "--server '{text}': user names in the URL are not used; give the token with --token"
            ));
        }
        if uri.query().is_some() {
            return Err(anyhow!("--server '{text}' must not have a query (?...)"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if host.is_empty() {
            return Err(anyhow!("--server '{text}' names no host; {usage}"));
        }
        Ok(Self {
            host,
            port: authority.port_u16().unwrap_or(80),
            authority: authority.as_str().to_string(),
            prefix: uri.path().trim_end_matches('/').to_string(),
        })
    }

    /// The request target for an API path such as `/v1/jobs?limit=5`.
    pub(crate) fn target(&self, path: &str) -> String {
        format!("{}{}", self.prefix, path)
    }
}

impl std::fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.authority, self.prefix)
    }
}

/// Percent-encodes one path segment or query value (everything but `A-Za-z0-9-._~`).
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Builds `path?k=v&...` from the parameters that are set, values percent-encoded.
pub(crate) fn with_query(path: &str, params: &[(&str, Option<String>)]) -> String {
    let mut out = path.to_string();
    let mut separator = if path.contains('?') { '&' } else { '?' };
    for (key, value) in params {
        if let Some(value) = value {
            out.push(separator);
            out.push_str(key);
            out.push('=');
            out.push_str(&encode(value));
            separator = '&';
        }
    }
    out
}

/// The error body every API error carries.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: String,
    message: String,
}

/// Maps an HTTP error status and the server's message to the command line's exit code.
pub(crate) fn http_failure(status: StatusCode, code: &str, message: &str) -> Failure {
    let code = if code.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        code.to_string()
    };
    match status.as_u16() {
        403 | 409 | 429 => Failure::Refused(message.to_string()),
        400 | 404 | 413 | 415 | 422 => {
            Failure::Error(anyhow!("{message} ({} {code})", status.as_u16()))
        }
        _ => Failure::Failed(format!("{message} ({} {code})", status.as_u16())),
    }
}

/// A decoded JSON answer together with the JSON as the server sent it (for `--json`).
#[derive(Debug)]
pub(crate) struct Reply<T> {
    /// The answer as a model type.
    pub value: T,
    /// The answer as sent.
    pub raw: serde_json::Value,
}

/// A page of a list (`{"items":[...],"next":cursor|null}`).
#[derive(Debug, Deserialize)]
struct RawPage {
    items: Vec<serde_json::Value>,
    #[serde(default)]
    next: Option<String>,
}

/// Every item of a list, followed page by page.
#[derive(Debug)]
pub(crate) struct Listing<T> {
    /// The items, in the server's order.
    pub items: Vec<T>,
    /// The items as sent.
    pub raw: Vec<serde_json::Value>,
    /// The cursor after the last item shown, when `--limit` stopped before the end.
    pub next: Option<String>,
}

impl<T> Listing<T> {
    /// The listing as one JSON page, for `--json`.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "items": self.raw, "next": self.next })
    }
}

/// A connection-per-request client for one server and one token.
pub(crate) struct Client {
    url: ServerUrl,
    token: Option<String>,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("Client")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

/// A request body.
enum Body {
    /// No body.
    Empty,
    /// A JSON document.
    Json(Vec<u8>),
    /// Raw bytes with their content type.
    Raw(&'static str, Vec<u8>),
}

impl Client {
    /// A client for `url`, authenticating with `token`.
    pub(crate) fn new(url: ServerUrl, token: Option<String>) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .context("cannot start the HTTP client's runtime")?;
        Ok(Self {
            url,
            token,
            runtime,
        })
    }

    /// The server's address as given.
    pub(crate) fn url(&self) -> &ServerUrl {
        &self.url
    }

    /// Sends one request and returns the body of a success; error statuses become a
    /// [`Failure`] carrying the server's message.
    fn send(&self, method: Method, path: &str, body: Body) -> Result<Bytes, Failure> {
        let (status, bytes) = self
            .runtime
            .block_on(self.exchange(method, path, body, None))?;
        if status.is_success() {
            return Ok(bytes);
        }
        Err(error_reply(status, &bytes))
    }

    /// `GET path` into a file: the body is streamed to `file`. Error statuses become a
    /// [`Failure`]; `file` is then left empty.
    pub(crate) fn download(&self, path: &str, file: &mut std::fs::File) -> Result<u64, Failure> {
        let mut written = 0u64;
        let (status, bytes) = self.runtime.block_on(self.exchange(
            Method::GET,
            path,
            Body::Empty,
            Some((file, &mut written)),
        ))?;
        if status.is_success() {
            return Ok(written);
        }
        Err(error_reply(status, &bytes))
    }

    /// `GET path` decoded as `T`.
    pub(crate) fn get<T: DeserializeOwned>(&self, path: &str) -> Result<Reply<T>, Failure> {
        decode(&self.send(Method::GET, path, Body::Empty)?)
    }

    /// `POST path` with a JSON body, decoded as `T`.
    pub(crate) fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<Reply<T>, Failure> {
        let json = serde_json::to_vec(body).context("cannot encode the request")?;
        decode(&self.send(Method::POST, path, Body::Json(json))?)
    }

    /// `POST path` without a body, decoded as `T`.
    pub(crate) fn post_empty<T: DeserializeOwned>(&self, path: &str) -> Result<Reply<T>, Failure> {
        decode(&self.send(Method::POST, path, Body::Empty)?)
    }

    /// `POST path` with raw bytes, decoded as `T`.
    pub(crate) fn post_raw<T: DeserializeOwned>(
        &self,
        path: &str,
        content_type: &'static str,
        bytes: Vec<u8>,
    ) -> Result<Reply<T>, Failure> {
        decode(&self.send(Method::POST, path, Body::Raw(content_type, bytes))?)
    }

    /// Every item of the list at `path`, following `next` until the end or `limit` items.
    pub(crate) fn list<T: DeserializeOwned>(
        &self,
        path: &str,
        limit: Option<usize>,
    ) -> Result<Listing<T>, Failure> {
        self.list_after(path, limit, None)
    }

    /// Like [`Client::list`], starting after the cursor `start` (a previous listing's `next`)
    /// instead of at the beginning.
    pub(crate) fn list_after<T: DeserializeOwned>(
        &self,
        path: &str,
        limit: Option<usize>,
        start: Option<String>,
    ) -> Result<Listing<T>, Failure> {
        let mut items = Vec::new();
        let mut raw = Vec::new();
        let mut after = start;
        loop {
            let want = limit.map_or(MAX_PAGE, |l| l.saturating_sub(items.len()).min(MAX_PAGE));
            if want == 0 {
                return Ok(Listing {
                    items,
                    raw,
                    next: after,
                });
            }
            let page_path = with_query(
                path,
                &[("limit", Some(want.to_string())), ("after", after.clone())],
            );
            let page: Reply<RawPage> = decode(&self.send(Method::GET, &page_path, Body::Empty)?)?;
            for value in page.value.items {
                let item: T = serde_json::from_value(value.clone()).map_err(|e| {
                    Failure::Failed(format!(
                        "the server's answer to GET {path} is not what this client expects: {e}"
                    ))
                })?;
                items.push(item);
                raw.push(value);
            }
            let next = page.value.next;
            let full = limit.is_some_and(|l| items.len() >= l);
            match next {
                Some(cursor) if !full && after.as_deref() != Some(cursor.as_str()) => {
                    after = Some(cursor);
                }
                next => {
                    return Ok(Listing {
                        items,
                        raw,
                        next: if full { next } else { None },
                    })
                }
            }
        }
    }

    /// One request on a fresh connection. With `sink`, a successful body is streamed to the
    /// file instead of returned.
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Body,
        sink: Option<(&mut std::fs::File, &mut u64)>,
    ) -> Result<(StatusCode, Bytes), Failure> {
        let what = format!("{method} {}{path}", self.url);
        let unreachable = |e: &dyn std::fmt::Display| {
            Failure::Error(anyhow!("cannot reach the server at {} ({e})", self.url))
        };
        let stream = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio::net::TcpStream::connect((self.url.host.as_str(), self.url.port)),
        )
        .await
        .map_err(|e| unreachable(&e))?
        .map_err(|e| unreachable(&e))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(&e))?;
        // The connection does the I/O; it ends when the exchange below is done.
        let driver = tokio::spawn(connection);

        let mut request = Request::builder()
            .method(method)
            .uri(self.url.target(path))
            .header(HOST, &self.url.authority)
            .header(USER_AGENT, concat!("shuyu/", env!("CARGO_PKG_VERSION")))
            .header(ACCEPT, "application/json");
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let bytes = match body {
            Body::Empty => Vec::new(),
            Body::Json(bytes) => {
                request = request.header(CONTENT_TYPE, "application/json");
                bytes
            }
            Body::Raw(content_type, bytes) => {
                request = request.header(CONTENT_TYPE, content_type);
                bytes
            }
        };
        let request = request
            .header(CONTENT_LENGTH, bytes.len())
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| Failure::Error(anyhow!("{what}: cannot build the request ({e})")))?;

        let result = tokio::time::timeout(REQUEST_TIMEOUT, async {
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| Failure::Failed(format!("{what}: {e}")))?;
            let status = response.status();
            let mut incoming = response.into_body();
            match sink {
                Some((file, written)) if status.is_success() => {
                    while let Some(frame) = incoming.frame().await {
                        let frame = frame.map_err(|e| Failure::Failed(format!("{what}: {e}")))?;
                        if let Ok(data) = frame.into_data() {
                            file.write_all(&data)
                                .context("cannot write the downloaded file")?;
                            *written += data.len() as u64;
                        }
                    }
                    file.flush().context("cannot write the downloaded file")?;
                    Ok((status, Bytes::new()))
                }
                _ => {
                    let bytes = incoming
                        .collect()
                        .await
                        .map_err(|e| Failure::Failed(format!("{what}: {e}")))?
                        .to_bytes();
                    Ok((status, bytes))
                }
            }
        })
        .await
        .map_err(|_| {
            Failure::Failed(format!(
                "{what}: no answer within {} s",
                REQUEST_TIMEOUT.as_secs()
            ))
        })?;
        driver.abort();
        result
    }
}

/// The failure an error status stands for, with the server's message when it sent one.
fn error_reply(status: StatusCode, bytes: &[u8]) -> Failure {
    match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(body) => http_failure(status, &body.error.code, &body.error.message),
        Err(_) => {
            let text = String::from_utf8_lossy(bytes);
            let text = text.trim();
            let message = if text.is_empty() {
                "the server gave no reason".to_string()
            } else {
                text.chars().take(300).collect()
            };
            http_failure(status, "", &message)
        }
    }
}

/// Decodes a JSON answer, keeping it as sent.
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<Reply<T>, Failure> {
    let raw: serde_json::Value = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(bytes)
            .map_err(|e| Failure::Failed(format!("the server's answer is not JSON: {e}")))?
    };
    let value = serde_json::from_value(raw.clone()).map_err(|e| {
        Failure::Failed(format!(
            "the server's answer is not what this client expects: {e}"
        ))
    })?;
    Ok(Reply { value, raw })
}

/// Reads a file the user named, saying which one could not be read.
pub(crate) fn read_file(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls() {
        let url = ServerUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("127.0.0.1", 8080));
        assert_eq!(url.target("/v1/whoami"), "/v1/whoami");
        assert_eq!(url.to_string(), "http://127.0.0.1:8080");

        let url = ServerUrl::parse("http://data.example.gov/shuyu/").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("data.example.gov", 80));
        assert_eq!(url.target("/v1/jobs?limit=5"), "/shuyu/v1/jobs?limit=5");

        let url = ServerUrl::parse("http://[::1]:9000/").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("::1", 9000));
        assert_eq!(url.authority, "[::1]:9000");
        assert_eq!(url.target("/v1/audit"), "/v1/audit");

        for bad in [
            "https://x:1",
            "127.0.0.1:8080",
            "ftp://x",
            "http://x/?a=1",
            "http://u:p@x",
            "",
        ] {
            assert!(ServerUrl::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn queries_are_encoded() {
        assert_eq!(encode("a b/ç?&"), "a%20b%2F%C3%A7%3F%26");
        assert_eq!(encode("job-1_a.b~"), "job-1_a.b~");
        assert_eq!(
            with_query(
                "/v1/audit",
                &[
                    ("job", Some("j 1".into())),
                    ("action", None),
                    ("limit", Some("5".into()))
                ]
            ),
            "/v1/audit?job=j%201&limit=5"
        );
        assert_eq!(
            with_query("/v1/audit?job=x", &[("after", Some("c1".into()))]),
            "/v1/audit?job=x&after=c1"
        );
    }

    #[test]
    fn statuses_map_to_exit_codes() {
        let code = |status: u16| {
            let status = StatusCode::from_u16(status).unwrap();
            match http_failure(status, "x", "why") {
                Failure::Refused(_) | Failure::Failed(_) => 1,
                Failure::Error(_) => 2,
            }
        };
        for status in [403, 409, 429, 401, 500, 503] {
            assert_eq!(code(status), 1, "{status}");
        }
        for status in [400, 404, 413, 415, 422] {
            assert_eq!(code(status), 2, "{status}");
        }
        let body = br#"{"error":{"status":409,"code":"conflict","message":"agreement agr-1 is terminated"}}"#;
        match error_reply(StatusCode::CONFLICT, body) {
            Failure::Refused(message) => assert_eq!(message, "agreement agr-1 is terminated"),
            other => panic!("{other:?}"),
        }
    }
}
