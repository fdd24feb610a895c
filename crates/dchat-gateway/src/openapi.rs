//! The OpenAPI document of the HTTP API, generated from the handlers' `#[utoipa::path]`
//! attributes and the JSON shapes' `ToSchema` derives: what is documented is what is routed
//! and parsed, required fields included. `openapi.json` beside this file is the committed
//! copy, which a test holds to the generated one (`DCHAT_UPDATE_OPENAPI=1` rewrites it).

use std::sync::OnceLock;

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "dchat HTTP API",
        version = "1",
        description = "The seed-compatible JSON API of dchat. Errors are {\"error\":{\"code\",\"message\"}}. \
            Real-time delivery is the WebSocket at /api/ws (see README)."
    ),
    paths(
        crate::rest::session::register,
        crate::rest::session::login,
        crate::rest::session::logout,
        crate::rest::session::me,
        crate::rest::session::set_name,
        crate::rest::session::lookup,
        crate::rest::sessions::list,
        crate::rest::sessions::revoke,
        crate::rest::sessions::change_password,
        crate::rest::account::set_username,
        crate::rest::account::set_bot,
        crate::rest::account::list_tokens,
        crate::rest::account::create_token,
        crate::rest::account::revoke_token,
        crate::rest::account::totp_status,
        crate::rest::account::totp_setup,
        crate::rest::account::totp_enable,
        crate::rest::account::totp_disable,
        crate::rest::rooms::create,
        crate::rest::rooms::join,
        crate::rest::rooms::leave,
        crate::rest::rooms::list,
        crate::rest::rooms::public,
        crate::rest::rooms::members,
        crate::rest::webhooks::list,
        crate::rest::webhooks::create,
        crate::rest::webhooks::delete,
        crate::rest::webhooks::post,
        crate::rest::messages::append,
        crate::rest::messages::list,
        crate::rest::presence::heartbeat,
        crate::rest::presence::roster,
        crate::live::upgrade,
        crate::rest::forms::register,
        crate::rest::forms::login,
        crate::rest::forms::send,
        crate::rest::forms::history,
        crate::rest::forms::logout,
        crate::ops::healthz,
        crate::ops::readyz,
        crate::ops::metrics,
    )
)]
struct ApiDoc;

/// The document, made once.
pub(crate) fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        ApiDoc::openapi().to_pretty_json().unwrap_or_else(|err| {
            tracing::error!(error = %err, "failed to write the OpenAPI document");
            String::from("{}")
        })
    })
}

#[cfg(test)]
mod tests {
    /// The committed `openapi.json` is the generated document, so that a change to a route
    /// or a JSON shape shows in review as a change to the document.
    #[test]
    fn the_committed_document_is_the_generated_one() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/openapi.json");
        let generated = format!("{}\n", super::document());
        if std::env::var_os("DCHAT_UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, &generated).expect("write openapi.json");
        }
        let committed = std::fs::read_to_string(&path).expect("read openapi.json");
        assert!(
            committed == generated,
            "src/openapi.json is not the generated document; run `DCHAT_UPDATE_OPENAPI=1 cargo test -p dchat-gateway openapi` and review the diff"
        );
    }
}
