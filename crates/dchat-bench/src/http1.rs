//! A lean HTTP/1.1 client for the request-response scenarios (the seed's workload and REST
//! ingest): one keep-alive connection per simulated user, driven by hyper's
//! connection-level client.
//!
//! The load generator shares the machine's two cores with the server it measures, so what
//! it spends per request the server cannot use. reqwest parses the URL, clones its client,
//! checks a connection out of its pool and builds a header map for every request: about a
//! third of the generator's CPU under the seed's closed loop (perf). Here a request is a
//! path, two prepared headers and a body.

use http::{
    HeaderValue, Method, Request, StatusCode,
    header::{AUTHORIZATION, CONTENT_TYPE, HOST},
};
use http_body_util::{BodyExt, Full};
use hyper::{body::Bytes, client::conn::http1::SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::BenchError;

/// One connection to the server; requests on it go one at a time.
#[derive(Debug)]
pub(crate) struct Http1 {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
}

/// What a request came back with.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
}

impl Http1 {
    /// Connects to `base` (`http://host:port`).
    pub(crate) async fn connect(base: &str) -> Result<Self, BenchError> {
        let authority = base
            .strip_prefix("http://")
            .map(|rest| rest.trim_end_matches('/'))
            .ok_or_else(|| BenchError::Protocol(format!("{base}: the load generator speaks plain http:// only")))?;
        let host = HeaderValue::from_str(authority).map_err(|err| BenchError::Protocol(format!("{base}: {err}")))?;
        let stream = TcpStream::connect(authority).await.map_err(|err| io_failed(base, &err))?;
        stream.set_nodelay(true).map_err(|err| io_failed(base, &err))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        // The connection's IO runs beside the requests; it ends when the sender is dropped.
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "benchmark connection closed");
            }
        });
        Ok(Self { sender, host })
    }

    /// Sends one request and reads the whole answer. `json` is the request body, if any.
    pub(crate) async fn send(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&HeaderValue>,
        json: Option<Vec<u8>>,
    ) -> Result<Answer, BenchError> {
        let mut request = Request::builder().method(method).uri(path).header(HOST, &self.host);
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, token);
        }
        let body = match json {
            Some(json) => {
                request = request.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Full::new(Bytes::from(json))
            }
            None => Full::new(Bytes::new()),
        };
        let request = request.body(body).map_err(|err| BenchError::Protocol(format!("{path}: {err}")))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Answer { status, body })
    }
}

/// The `Authorization` header of a bearer token, made once per user.
pub(crate) fn bearer(token: &str) -> Result<HeaderValue, BenchError> {
    HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|err| BenchError::Protocol(format!("the server issued a token unfit for a header: {err}")))
}

fn io_failed(base: &str, err: &std::io::Error) -> BenchError {
    BenchError::Protocol(format!("connecting to {base}: {err}"))
}
