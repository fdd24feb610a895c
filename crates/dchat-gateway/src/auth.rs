//! Who is calling: the `CurrentUser` extractor, from a bearer token or the session cookie.

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, header, request::Parts},
};
use dchat_proto::auth::v1::Token;

use crate::{error::ApiError, state::GatewayState};

/// Name of the HttpOnly session cookie.
pub(crate) const COOKIE_NAME: &str = "dchat_token";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub(crate) struct CurrentUser {
    pub(crate) user_id: String,
    pub(crate) email: String,
    pub(crate) username: String,
    pub(crate) display_name: String,
    pub(crate) token: String,
}

/// The token in `Authorization: Bearer`, or else in the session cookie.
pub(crate) fn token_from_headers(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok())
        && let Some(token) = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer "))
    {
        return Some(token.trim().to_owned());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, token)| token.to_owned())
}

impl FromRequestParts<GatewayState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &GatewayState) -> Result<Self, Self::Rejection> {
        let Some(token) = token_from_headers(&parts.headers) else {
            return Err(ApiError::Unauthenticated("log in first".to_owned()));
        };
        let user =
            state.auth().verify(Token { access_token: token.clone() }).await.map_err(ApiError::from)?.into_inner();
        Ok(Self {
            user_id: user.user_id,
            email: user.email,
            username: user.username,
            display_name: user.display_name,
            token,
        })
    }
}

/// `Set-Cookie` for a new session.
pub(crate) fn session_cookie(token: &str, state: &GatewayState) -> String {
    let secure = if state.inner.config.secure_cookies { "; Secure" } else { "" };
    format!(
        "{COOKIE_NAME}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={}{secure}",
        state.inner.config.cookie_max_age_secs
    )
}

/// `Set-Cookie` that deletes the session cookie.
pub(crate) fn expired_cookie() -> String {
    format!("{COOKIE_NAME}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0")
}
