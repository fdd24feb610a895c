//! HTTP errors: `{"error": {"code": "...", "message": "..."}}` with the right status.
//!
//! Every failure a handler can meet converts into [`ApiError`] explicitly: a gRPC status
//! from a service, a rejected JSON body or query string. Internal details never reach the
//! client; they are logged once, here.

use axum::{
    Json,
    extract::{
        FromRequest, FromRequestParts, Request,
        rejection::{BytesRejection, JsonRejection, QueryRejection},
    },
    http::{StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use tonic::Code;

use dchat_websocket::ClientBodyError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthenticated(String),
    /// The password was right; the account signs in with a second factor too.
    #[error("{0}")]
    SecondFactorRequired(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    RateLimited { message: String, retry_after_secs: u64 },
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal,
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_argument"),
            Self::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Self::SecondFactorRequired(_) => (StatusCode::UNAUTHORIZED, "second_factor_required"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::RequestTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// The answer for a room one may not use: the same whether it does not exist or one is
    /// not a member, so that room ids cannot be probed.
    pub(crate) fn room_forbidden(room_id: &str) -> Self {
        Self::Forbidden(format!("room {room_id:?} does not exist or you are not a member"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let body = crate::dto::ErrorView {
            error: crate::dto::ErrorDetail { code: code.to_owned(), message: self.to_string() },
        };
        let mut response = (status, Json(body)).into_response();
        if let Self::RateLimited { retry_after_secs, .. } = self {
            response.headers_mut().insert(header::RETRY_AFTER, retry_after_secs.max(1).into());
        }
        response
    }
}

impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        let message = status.message().to_owned();
        match status.code() {
            Code::InvalidArgument | Code::OutOfRange => Self::BadRequest(message),
            Code::Unauthenticated => Self::Unauthenticated(message),
            Code::PermissionDenied => Self::Forbidden(message),
            Code::NotFound => Self::NotFound(message),
            Code::AlreadyExists | Code::FailedPrecondition => Self::Conflict(message),
            Code::ResourceExhausted => {
                // A service's limit: it says how long to wait and which limit refused.
                let metadata = status.metadata();
                let number = |key| metadata.get(key).and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
                let retry_after_secs = number(dchat_proto::RETRY_AFTER_METADATA).unwrap_or(1);
                if let Some(limit) = metadata.get(dchat_proto::LIMIT_METADATA).and_then(|value| value.to_str().ok()) {
                    crate::state::count_refusal(limit);
                }
                Self::RateLimited { message, retry_after_secs }
            }
            // A service that failed, or a call whose connection broke (UNKNOWN: a service
            // killed mid-call), is the client's cue to retry, not a fault of the request.
            // Logged once, where it is known: a service logs its own failures, so only a
            // call that never reached one (a transport error, which tonic gives as the
            // status's source) is the gateway's to report.
            _ => {
                if std::error::Error::source(&status).is_some() {
                    tracing::warn!(%status, "a service could not be reached");
                } else {
                    tracing::debug!(%status, "a service failed the call");
                }
                Self::Unavailable("a service is unavailable; try again shortly".to_owned())
            }
        }
    }
}

impl From<dchat_core::ValidationError> for ApiError {
    fn from(err: dchat_core::ValidationError) -> Self {
        Self::BadRequest(err.to_string())
    }
}

/// `axum::Json` with our error format for every rejection: a wrong content type is 415, a
/// body over the limit is 413, and anything malformed is 400, never a 5xx.
#[derive(Debug)]
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let request = refuse_declared_oversize(request).await?;
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(ApiError::UnsupportedMediaType("expected Content-Type: application/json".to_owned()))
            }
            Err(JsonRejection::BytesRejection(rejection)) => Err(ApiError::from_body(&rejection)),
            Err(rejection) => Err(ApiError::BadRequest(rejection.body_text())),
        }
    }
}

/// A declared body over the limit but at most this long is read (and dropped) before the
/// 413 goes out; a longer one is refused without reading it.
const DRAIN_BYTES: u64 = 1024 * 1024;

/// Refuses a request whose declared body is over the limit. A body of up to a mebibyte is
/// read and dropped first: a client still writing it when the server answered and closed
/// would fail with a broken pipe, or reuse a connection the server is closing, instead of
/// reading its 413; reading it keeps the connection usable. Waiting for ten gigabytes that
/// will be refused anyway would only hold the connection, so a longer one is refused at once.
pub(crate) async fn refuse_declared_oversize(request: Request) -> Result<Request, ApiError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok())
        .and_then(|length| length.parse::<u64>().ok());
    let Some(declared) = declared.filter(|&length| length > crate::router::MAX_BODY_BYTES as u64) else {
        return Ok(request);
    };
    if declared <= DRAIN_BYTES {
        // The body's deadline (see `dchat_websocket::serve`) bounds the wait.
        let mut body = request.into_body().into_data_stream();
        while let Some(Ok(_)) = body.next().await {}
    }
    Err(ApiError::PayloadTooLarge("request body is larger than 64 KiB".to_owned()))
}

impl ApiError {
    /// A request body that could not be read: over the limit (413), not sent in time
    /// (408), or broken (400).
    pub(crate) fn from_body(rejection: &BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::PayloadTooLarge("request body is larger than 64 KiB".to_owned())
        } else if let Some(fault @ ClientBodyError::TimedOut(_)) = ClientBodyError::find(rejection) {
            fault.into()
        } else {
            Self::BadRequest(rejection.body_text())
        }
    }
}

impl From<&ClientBodyError> for ApiError {
    fn from(fault: &ClientBodyError) -> Self {
        match fault {
            ClientBodyError::TimedOut(_) => Self::RequestTimeout("the request body did not arrive in time".to_owned()),
            ClientBodyError::Broken(_) => Self::BadRequest(fault.to_string()),
        }
    }
}

/// `axum::extract::Query` with our error format.
#[derive(Debug)]
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|query| Self(query.0))
            .map_err(|rejection: QueryRejection| ApiError::BadRequest(rejection.body_text()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_that_failed_or_broke_off_mid_call_is_503_never_500() {
        for code in [Code::Unknown, Code::Internal, Code::Unavailable, Code::DataLoss, Code::Aborted] {
            let (status, _) = ApiError::from(tonic::Status::new(code, "connection reset")).status_and_code();
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{code:?}");
        }
        let (status, _) = ApiError::from(tonic::Status::invalid_argument("bad")).status_and_code();
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}
