//! The caller's account beyond its sessions: the one change of a derived username, the bot
//! badge, personal access tokens for scripts, and two-factor sign-in. Managing tokens and
//! the second factor needs a signed-in session; the auth service refuses a personal
//! token (403), so that a leaked script token cannot mint more or lock its owner out.

use axum::{Json, extract::State};
use dchat_proto::auth::v1::{
    CreatePersonalTokenRequest, DisableTotpRequest, PersonalToken, RevokePersonalTokenRequest, SetBotRequest,
    SetUsernameRequest, Token, TotpCode,
};

use crate::{
    auth::CurrentUser,
    dto::{
        CreateTokenBody, OK, OkView, RecoveryCodesView, RevokeTokenBody, SetBotBody, SetUsernameBody, TokenCreatedView,
        TokenView, TokensView, TotpCodeBody, TotpDisableBody, TotpSetupView, TotpStatusView,
    },
    error::{ApiError, ApiJson},
    state::GatewayState,
};

/// How long a personal token lives when its creator does not say.
const DEFAULT_TOKEN_DAYS: u32 = 30;

fn token_view(token: PersonalToken) -> TokenView {
    TokenView {
        token_id: token.token_id,
        name: token.name,
        created_ms: token.created_ms,
        last_used_ms: token.last_used_ms,
        expires_ms: token.expires_ms,
    }
}

fn session_token(user: &CurrentUser) -> Token {
    Token { access_token: user.token.clone() }
}

/// # POST /api/profile/username
///
/// Replaces a username derived from the email (accounts registered by email alone) with one
/// the caller chooses; allowed once. 409 when taken, 403 when changed or chosen before.
#[utoipa::path(
    post,
    path = "/api/profile/username",
    tag = "account",
    summary = "Choose a username in place of the one derived from the email (once)",
    request_body = crate::dto::SetUsernameBody,
    responses((status = 200, description = "OK", body = crate::dto::OkView), crate::dto::Refusals)
)]
pub(crate) async fn set_username(
    State(state): State<GatewayState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<SetUsernameBody>,
) -> Result<Json<OkView>, ApiError> {
    let request = SetUsernameRequest { user_id: user.user_id, username: body.username };
    let updated = state.auth().set_username(request).await?.into_inner();
    state.profile_seen(&updated, true);
    Ok(Json(OK))
}

/// # POST /api/profile/bot
///
/// Marks the caller's account as a bot (a script or an integration, shown with a badge
/// wherever it writes), or not.
#[utoipa::path(
    post,
    path = "/api/profile/bot",
    tag = "account",
    summary = "Mark the caller's account as a bot, or not",
    request_body = crate::dto::SetBotBody,
    responses((status = 200, description = "OK", body = crate::dto::OkView), crate::dto::Refusals)
)]
pub(crate) async fn set_bot(
    State(state): State<GatewayState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<SetBotBody>,
) -> Result<Json<OkView>, ApiError> {
    let updated = state.auth().set_bot(SetBotRequest { user_id: user.user_id, bot: body.bot }).await?.into_inner();
    state.profile_seen(&updated, true);
    Ok(Json(OK))
}

/// # GET /api/tokens
///
/// The caller's live personal access tokens, the last used first: names and dates, never
/// the secrets.
#[utoipa::path(
    get,
    path = "/api/tokens",
    tag = "account",
    summary = "The caller's personal access tokens",
    responses((status = 200, description = "OK", body = crate::dto::TokensView), crate::dto::Refusals)
)]
pub(crate) async fn list_tokens(
    State(state): State<GatewayState>,
    user: CurrentUser,
) -> Result<Json<TokensView>, ApiError> {
    let tokens = state.auth().list_personal_tokens(session_token(&user)).await?.into_inner().tokens;
    Ok(Json(TokensView { ok: true, tokens: tokens.into_iter().map(token_view).collect() }))
}

/// # POST /api/tokens
///
/// Creates a personal access token for scripts (`Authorization: Bearer <token>`), named,
/// ending after `expires_in_days` (1 to 365, default 30). The answer holds the secret, this
/// once; only its digest is kept.
#[utoipa::path(
    post,
    path = "/api/tokens",
    tag = "account",
    summary = "Create a personal access token (its secret is shown once)",
    request_body = crate::dto::CreateTokenBody,
    responses((status = 200, description = "OK", body = crate::dto::TokenCreatedView), crate::dto::Refusals)
)]
pub(crate) async fn create_token(
    State(state): State<GatewayState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<CreateTokenBody>,
) -> Result<Json<TokenCreatedView>, ApiError> {
    let request = CreatePersonalTokenRequest {
        access_token: user.token,
        name: body.name,
        expires_in_days: body.expires_in_days.unwrap_or(DEFAULT_TOKEN_DAYS),
    };
    let created = state.auth().create_personal_token(request).await?.into_inner();
    let info = created.info.ok_or(ApiError::Internal)?;
    Ok(Json(TokenCreatedView { ok: true, token: created.token, info: token_view(info) }))
}

/// # POST /api/tokens/revoke
///
/// Revokes one of the caller's personal access tokens; connections opened with it close.
/// 404 for an id that is not one of theirs.
#[utoipa::path(
    post,
    path = "/api/tokens/revoke",
    tag = "account",
    summary = "Revoke a personal access token",
    request_body = crate::dto::RevokeTokenBody,
    responses((status = 200, description = "OK", body = crate::dto::OkView), crate::dto::Refusals)
)]
pub(crate) async fn revoke_token(
    State(state): State<GatewayState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<RevokeTokenBody>,
) -> Result<Json<OkView>, ApiError> {
    let request = RevokePersonalTokenRequest { access_token: user.token, token_id: body.token_id };
    state.auth().revoke_personal_token(request).await?;
    Ok(Json(OK))
}

/// # GET /api/2fa
///
/// Whether the caller signs in with a second factor, and how many recovery codes are left.
#[utoipa::path(
    get,
    path = "/api/2fa",
    tag = "account",
    summary = "Whether two-factor sign-in is on",
    responses((status = 200, description = "OK", body = crate::dto::TotpStatusView), crate::dto::Refusals)
)]
pub(crate) async fn totp_status(
    State(state): State<GatewayState>,
    user: CurrentUser,
) -> Result<Json<TotpStatusView>, ApiError> {
    let status = state.auth().get_totp_status(session_token(&user)).await?.into_inner();
    Ok(Json(TotpStatusView { ok: true, enabled: status.enabled, recovery_codes_left: status.recovery_codes_left }))
}

/// # POST /api/2fa/setup
///
/// Starts two-factor enrolment: a fresh secret for the authenticator app. Nothing changes
/// at sign-in until `/api/2fa/enable` confirms it. 403 when it is on already.
#[utoipa::path(
    post,
    path = "/api/2fa/setup",
    tag = "account",
    summary = "Start two-factor enrolment",
    responses((status = 200, description = "OK", body = crate::dto::TotpSetupView), crate::dto::Refusals)
)]
pub(crate) async fn totp_setup(
    State(state): State<GatewayState>,
    user: CurrentUser,
) -> Result<Json<TotpSetupView>, ApiError> {
    let enrolment = state.auth().begin_totp(session_token(&user)).await?.into_inner();
    Ok(Json(TotpSetupView { ok: true, secret: enrolment.secret_base32, otpauth_url: enrolment.otpauth_url }))
}

/// # POST /api/2fa/enable
///
/// Turns two-factor sign-in on, given a code the app computed from the setup's secret.
/// Answers ten recovery codes, this once. 401 for a wrong code.
#[utoipa::path(
    post,
    path = "/api/2fa/enable",
    tag = "account",
    summary = "Confirm two-factor enrolment; answers the recovery codes once",
    request_body = crate::dto::TotpCodeBody,
    responses((status = 200, description = "OK", body = crate::dto::RecoveryCodesView), crate::dto::Refusals)
)]
pub(crate) async fn totp_enable(
    State(state): State<GatewayState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<TotpCodeBody>,
) -> Result<Json<RecoveryCodesView>, ApiError> {
    let request = TotpCode { access_token: user.token, code: body.code };
    let codes = state.auth().enable_totp(request).await?.into_inner().codes;
    Ok(Json(RecoveryCodesView { ok: true, recovery_codes: codes }))
}

/// # POST /api/2fa/disable
///
/// Turns two-factor sign-in off, given the account's password (403 when wrong).
#[utoipa::path(
    post,
    path = "/api/2fa/disable",
    tag = "account",
    summary = "Turn two-factor sign-in off",
    request_body = crate::dto::TotpDisableBody,
    responses((status = 200, description = "OK", body = crate::dto::OkView), crate::dto::Refusals)
)]
pub(crate) async fn totp_disable(
    State(state): State<GatewayState>,
    user: CurrentUser,
    ApiJson(body): ApiJson<TotpDisableBody>,
) -> Result<Json<OkView>, ApiError> {
    state.auth().disable_totp(DisableTotpRequest { access_token: user.token, password: body.password }).await?;
    Ok(Json(OK))
}
