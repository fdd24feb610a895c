//! Who is calling: the `CurrentUser` extractor, from a bearer token or the session cookie.

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, header, request::Parts},
};

use crate::{error::ApiError, state::GatewayState};

/// Name of the HttpOnly session cookie.
pub(crate) const COOKIE_NAME: &str = "dchat_token";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub(crate) struct CurrentUser {
    pub(crate) user_id: String,
    pub(crate) display_name: String,
    pub(crate) token: String,
    /// When the session ends unless used again (ms since the epoch), as last verified.
    pub(crate) session_ends_ms: i64,
    /// The account as the auth service answered for the token (for `/api/me`).
    pub(crate) account: dchat_proto::auth::v1::User,
}

/// The token of an `Authorization` value of the form `Bearer <token>`.
pub(crate) fn bearer_token(authorization: &str) -> Option<String> {
    let token = authorization.strip_prefix("Bearer ").or_else(|| authorization.strip_prefix("bearer "))?;
    Some(token.trim().to_owned())
}

/// The token in `Authorization: Bearer`, or else in the session cookie.
pub(crate) fn token_from_headers(headers: &HeaderMap) -> Option<String> {
    if let Some(token) = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok()).and_then(bearer_token)
    {
        return Some(token);
    }
    cookie(headers, COOKIE_NAME).map(str::to_owned)
}

/// The value of the cookie `name`, if the request carries it.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(cookie, _)| *cookie == name)
        .map(|(_, value)| value)
}

impl FromRequestParts<GatewayState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &GatewayState) -> Result<Self, Self::Rejection> {
        let headers = &parts.headers;
        let bearer = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok()).and_then(bearer_token);
        let token = match bearer {
            Some(token) => token,
            None => {
                let Some(token) = cookie(headers, COOKIE_NAME) else {
                    return Err(ApiError::Unauthenticated("log in first".to_owned()));
                };
                // Another site's page can make the browser send the cookie, not a header.
                if crate::origin::changes_state(&parts.method) {
                    crate::origin::same_site_only(state, headers, "a request")?;
                }
                token.to_owned()
            }
        };
        Self::from_token(state, token).await
    }
}

impl CurrentUser {
    /// The caller a token (from wherever it came) belongs to.
    pub(crate) async fn from_token(state: &GatewayState, token: String) -> Result<Self, ApiError> {
        let user = state.verify(&token).await.map_err(ApiError::from)?;
        Ok(Self {
            user_id: user.user_id.clone(),
            display_name: user.display_name.clone(),
            token,
            session_ends_ms: user.token_expires_ms,
            account: user,
        })
    }
}

/// `Set-Cookie` for a new session.
pub(crate) fn session_cookie(token: &str, state: &GatewayState) -> String {
    let secure = if state.config().secure_cookies { "; Secure" } else { "" };
    format!(
        "{COOKIE_NAME}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={}{secure}",
        state.config().cookie_max_age_secs
    )
}

/// Adds the known-device cookie of a login (see `device`) to its answer.
pub(crate) fn with_device_cookie(
    mut response: axum::response::Response,
    cookie: Option<String>,
) -> axum::response::Response {
    if let Some(cookie) = cookie.and_then(|cookie| axum::http::HeaderValue::try_from(cookie).ok()) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// `Set-Cookie` that deletes the session cookie.
pub(crate) fn expired_cookie() -> String {
    format!("{COOKIE_NAME}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0")
}

/// The caller's IP address: the TCP peer's, or, when the peer is a trusted proxy (the
/// `ui` role), the last untrusted address of `X-Forwarded-For`. Unspecified when unknown
/// (a router driven without a socket).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientIp(pub(crate) std::net::IpAddr);

impl FromRequestParts<GatewayState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &GatewayState) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |info| info.0.ip());
        let trusted = &state.config().trusted_proxies;
        if !trusted.contains(&peer) {
            return Ok(Self(peer));
        }
        // Walk the chain from the nearest hop; the first address we do not trust is the client.
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        let client = forwarded
            .rsplit(',')
            .filter_map(|hop| hop.trim().parse::<std::net::IpAddr>().ok())
            .find(|hop| !trusted.contains(hop))
            .unwrap_or(peer);
        Ok(Self(client))
    }
}

/// Where a sign-in comes from, for the user's list of sessions: the User-Agent the client
/// sent and its address as [`ClientIp`] found it. Always set here, never taken from the
/// client's own request.
pub(crate) fn sign_in_client(user_agent: Option<&str>, ip: std::net::IpAddr) -> dchat_proto::auth::v1::Client {
    dchat_proto::auth::v1::Client { user_agent: user_agent.unwrap_or_default().to_owned(), address: ip.to_string() }
}

/// The User-Agent header, when it is text.
pub(crate) fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::USER_AGENT).and_then(|value| value.to_str().ok())
}

/// A login that worked: the session, and the `Set-Cookie` that marks the browser as a
/// known device of the account (see `device`).
#[derive(Debug)]
pub(crate) struct LoggedIn {
    pub(crate) session: dchat_proto::auth::v1::AuthResponse,
    pub(crate) device_cookie: String,
}

/// Logs in through the auth service, which holds the failed-login limits: of `ip`, of the
/// account from `ip`, and of the account, which a device that signed in to it before
/// (`headers` carry its cookie, so the request says `known_device`) does not wait for.
pub(crate) async fn limited_login(
    state: &GatewayState,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    mut request: dchat_proto::auth::v1::LoginRequest,
) -> Result<LoggedIn, ApiError> {
    request.client = Some(sign_in_client(user_agent(headers), ip));
    let account = if request.username.is_empty() { request.email.clone() } else { request.username.clone() };
    // A foreign page must not sign the browser in to an account of its choosing.
    crate::origin::same_site_only(state, headers, "a login")?;
    let account = crate::device::normalized(&account);
    let device = &state.config().device_key;
    request.known_device = device.recognizes(headers, &account);
    match state.auth().login(request).await {
        Ok(session) => Ok(LoggedIn {
            session: session.into_inner(),
            device_cookie: device.cookie(&account, state.config().secure_cookies),
        }),
        Err(status) => {
            // The password was right: the client asks for the second factor and tries again.
            if status.code() == tonic::Code::FailedPrecondition {
                return Err(ApiError::SecondFactorRequired(status.message().to_owned()));
            }
            Err(status.into())
        }
    }
}
