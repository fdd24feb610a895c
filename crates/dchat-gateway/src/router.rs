//! The HTTP routes. Building the router needs no socket, so it can be served anywhere.

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};

use crate::{error::ApiError, rest, state::GatewayState};

/// Request bodies larger than this are refused with 413.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every HTTP route of the gateway.
pub fn router(state: GatewayState) -> Router {
    let api = Router::new()
        .route("/register", post(rest::session::register))
        .route("/login", post(rest::session::login))
        .route("/logout", post(rest::session::logout))
        .route("/me", get(rest::session::me))
        .route("/profile/setname", post(rest::session::set_name))
        .route("/user/lookup", get(rest::session::lookup))
        .route("/sessions", get(rest::sessions::list))
        .route("/sessions/revoke", post(rest::sessions::revoke))
        .route("/password", post(rest::sessions::change_password))
        .route("/profile/username", post(rest::account::set_username))
        .route("/profile/bot", post(rest::account::set_bot))
        .route("/tokens", get(rest::account::list_tokens).post(rest::account::create_token))
        .route("/tokens/revoke", post(rest::account::revoke_token))
        .route("/2fa", get(rest::account::totp_status))
        .route("/2fa/setup", post(rest::account::totp_setup))
        .route("/2fa/enable", post(rest::account::totp_enable))
        .route("/2fa/disable", post(rest::account::totp_disable))
        .route("/room/webhooks", get(rest::webhooks::list).post(rest::webhooks::create))
        .route("/room/webhooks/delete", post(rest::webhooks::delete))
        .route("/hooks/{token}", post(rest::webhooks::post))
        .route("/room/create", post(rest::rooms::create))
        .route("/room/join", post(rest::rooms::join))
        .route("/room/leave", post(rest::rooms::leave))
        .route("/room/list", get(rest::rooms::list))
        .route("/room/public", get(rest::rooms::public))
        .route("/room/members", get(rest::rooms::members))
        .route("/message/append", post(rest::messages::append))
        .route("/message/list", get(rest::messages::list))
        .route("/presence/heartbeat", post(rest::presence::heartbeat))
        .route("/presence/roster", get(rest::presence::roster))
        .route("/ws", get(crate::live::upgrade))
        .fallback(|| async { ApiError::NotFound("no such API route".to_owned()) })
        .layer(axum::middleware::map_response(explain_method_not_allowed));
    // gRPC requests (`POST /gateway.v1.GatewayService/<Method>`) share the port with HTTP.
    let grpc = tonic::service::Routes::new(crate::grpc::service(state.clone())).into_axum_router();
    let web_dir = state.config().web_dir.clone();
    Router::new()
        .nest("/api", api)
        .route("/register", post(rest::forms::register))
        .route("/login", post(rest::forms::login))
        .route("/send", post(rest::forms::send))
        .route("/history", get(rest::forms::history))
        .route("/logout", get(rest::forms::logout).post(rest::forms::logout))
        .route("/healthz", get(crate::ops::healthz))
        .route("/readyz", get(crate::ops::readyz))
        .route("/metrics", get(crate::ops::metrics))
        .route("/openapi.json", get(crate::ops::openapi))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::ops::record))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
        .merge(grpc)
        .merge(crate::web::web_router(web_dir))
        .fallback(not_found)
}

/// A route asked with a method it does not take: the JSON error every other refusal has.
/// The `Allow` header that lists the methods it does take is axum's, set on the way out.
async fn explain_method_not_allowed(response: Response) -> Response {
    if response.status() != StatusCode::METHOD_NOT_ALLOWED {
        return response;
    }
    let message = "this route does not take that method; the Allow header lists those it does";
    let mut explained = ApiError::MethodNotAllowed(message.to_owned()).into_response();
    if let Some(allow) = response.headers().get(header::ALLOW) {
        explained.headers_mut().insert(header::ALLOW, allow.clone());
    }
    explained
}

/// Any other path: 404, or, to a gRPC client, UNIMPLEMENTED as gRPC says it.
async fn not_found(headers: HeaderMap) -> Response {
    let grpc = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|content_type| content_type.as_bytes().starts_with(b"application/grpc"));
    if grpc {
        tonic::Status::unimplemented("no such gRPC method").into_http()
    } else {
        ApiError::NotFound("no such page or route".to_owned()).into_response()
    }
}
