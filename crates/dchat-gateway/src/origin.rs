//! Cross-site request checks: a browser sends the session cookie with a request that
//! another site's page makes (a form post, a link), so every state-changing request that a
//! cookie could authenticate, and every WebSocket upgrade, must come from a page of this
//! server or of an origin the operator allowed.
//!
//! Browsers say where a request comes from in `Origin` (on every cross-origin request
//! but plain navigations, and on every POST) and `Sec-Fetch-Site`. A request with neither
//! comes from something that is not a browser (curl, the seed's Locust files, a gRPC
//! client), which no other site can drive with the user's cookie, and passes.

use axum::http::{HeaderMap, Method, header};

use crate::{error::ApiError, state::GatewayState};

/// Refuses a request that a page of a foreign site made.
pub(crate) fn same_site_only(state: &GatewayState, headers: &HeaderMap, what: &str) -> Result<(), ApiError> {
    if from_foreign_page(state, headers) {
        return Err(ApiError::Forbidden(format!("{what} from another site's page is refused")));
    }
    Ok(())
}

/// Whether a method changes state (RFC 9110 section 9.2.1: all but the safe ones).
pub(crate) fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
}

fn from_foreign_page(state: &GatewayState, headers: &HeaderMap) -> bool {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        let host = headers.get(header::HOST).and_then(|host| host.to_str().ok()).unwrap_or_default();
        let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
        let same_origin = !host.is_empty() && origin_host == host;
        return !(same_origin || state.config().allowed_origins.iter().any(|allowed| allowed == origin));
    }
    // No Origin (a navigation): the browser's own word, where it gives one. A sibling
    // subdomain ("same-site") is another site as far as its pages go.
    headers.get("sec-fetch-site").is_some_and(|site| !matches!(site.as_bytes(), b"same-origin" | b"none"))
}
