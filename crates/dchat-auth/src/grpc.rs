//! `auth.v1.AuthService` over gRPC: decode, call [`AuthService`], encode.

use dchat_bus::Followed;
use dchat_core::{DisplayName, Email, RoomId, TokenName, UserId, UserName, ValidationError};
use dchat_proto::{
    auth::v1::{self as pb, auth_service_server},
    from_validation, internal,
};
use dchat_storage::StoreError;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::{
    AuthError, AuthService, Client, Login, Minted, Registration, SecondFactor, Session, SessionInfo, TokenInfo, User,
    WebhookInfo,
};

#[derive(Debug, Clone)]
pub struct AuthGrpc {
    service: AuthService,
    /// Ends open watch streams when the process is stopping.
    stopping: CancellationToken,
}

impl AuthGrpc {
    pub fn new(service: AuthService, stopping: CancellationToken) -> Self {
        Self { service, stopping }
    }

    /// The tonic service to add to a server.
    pub fn into_server(self) -> auth_service_server::AuthServiceServer<Self> {
        auth_service_server::AuthServiceServer::new(self)
    }
}

impl From<AuthError> for Status {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Invalid(err) => from_validation(err),
            AuthError::AlreadyExists(_) => Status::already_exists(err.to_string()),
            AuthError::BadCredentials | AuthError::InvalidToken | AuthError::BadSecondFactor => {
                Status::unauthenticated(err.to_string())
            }
            AuthError::SecondFactorRequired => Status::failed_precondition(err.to_string()),
            AuthError::NotFound(_) | AuthError::NoSuchSession | AuthError::NoSuchToken => {
                Status::not_found(err.to_string())
            }
            AuthError::WrongPassword | AuthError::SessionRequired | AuthError::NotAllowed(_) => {
                Status::permission_denied(err.to_string())
            }
            AuthError::Corrupt(message) => internal("read the auth database", &std::io::Error::other(message)),
            AuthError::Unavailable(message) => Status::unavailable(message),
            AuthError::RateLimited { limit, retry_after_secs } => {
                let mut status = Status::resource_exhausted(err.to_string());
                // The gateway answers 429 with Retry-After, and counts the refusal by limit.
                status.metadata_mut().insert(dchat_proto::RETRY_AFTER_METADATA, retry_after_secs.into());
                if let Ok(limit) = limit.parse() {
                    status.metadata_mut().insert(dchat_proto::LIMIT_METADATA, limit);
                }
                status
            }
            AuthError::Hashing(message) => internal("hash a password", &std::io::Error::other(message)),
            AuthError::Storage(StoreError::Unavailable(err)) => {
                tracing::warn!(error = %err, "the auth database is unavailable");
                Status::unavailable("the auth database is unavailable; retry")
            }
            AuthError::Storage(err) => internal("access the auth database", &err),
        }
    }
}

fn user_to_pb(user: User) -> pb::User {
    pb::User {
        user_id: user.user_id.to_string(),
        email: user.email.map(|email| email.to_string()).unwrap_or_default(),
        display_name: user.display_name.to_string(),
        username: user.username.to_string(),
        token_expires_ms: 0,
        bot: user.bot,
        username_changeable: user.username_derived,
    }
}

fn token_to_pb(TokenInfo { id, name, created_ms, last_used_ms, expires_ms }: TokenInfo) -> pb::PersonalToken {
    pb::PersonalToken { token_id: id, name, created_ms, last_used_ms, expires_ms }
}

fn webhook_to_pb(hook: WebhookInfo) -> pb::Webhook {
    pb::Webhook {
        webhook_id: hook.id,
        room_id: hook.room_id.to_string(),
        bot: Some(user_to_pb(hook.bot)),
        created_by: hook.created_by.map(|user_id| user_id.to_string()).unwrap_or_default(),
        created_ms: hook.created_ms,
        last_used_ms: hook.last_used_ms,
    }
}

fn ack() -> Response<pb::Ack> {
    Response::new(pb::Ack { success: true, error: String::new() })
}

fn parse<T>(raw: &str, parse: impl Fn(&str) -> Result<T, ValidationError>) -> Result<T, Status> {
    parse(raw).map_err(from_validation)
}

fn session_to_pb(session: Session) -> pb::AuthResponse {
    pb::AuthResponse {
        access_token: session.token,
        user: Some(user_to_pb(session.user)),
        expires_at_ms: session.expires_at_ms,
    }
}

/// Where a sign-in came from, as the gateway says (nothing, from a client calling us directly).
fn client(client: Option<pb::Client>) -> Client {
    let client = client.unwrap_or_default();
    Client { user_agent: client.user_agent, address: client.address }
}

fn optional<T>(raw: &str, parse: impl Fn(&str) -> Result<T, ValidationError>) -> Result<Option<T>, Status> {
    if raw.trim().is_empty() { Ok(None) } else { parse(raw).map(Some).map_err(from_validation) }
}

#[tonic::async_trait]
impl auth_service_server::AuthService for AuthGrpc {
    async fn register(&self, request: Request<pb::RegisterRequest>) -> Result<Response<pb::AuthResponse>, Status> {
        let req = request.into_inner();
        let email = optional(&req.email, Email::parse)?;
        let username = optional(&req.username, UserName::parse)?;
        if email.is_none() && username.is_none() {
            return Err(Status::invalid_argument("email or username: one of them is required"));
        }
        let display_name = optional(&req.display_name, DisplayName::parse)?;
        let registration = Registration { email, username, display_name, password: req.password };
        Ok(Response::new(session_to_pb(self.service.register(registration, client(req.client)).await?)))
    }

    async fn login(&self, request: Request<pb::LoginRequest>) -> Result<Response<pb::AuthResponse>, Status> {
        let req = request.into_inner();
        // The seed's variant 2 logs in by username through the same field as email.
        let (identifier, is_email) = if !req.username.is_empty() {
            (req.username.as_str(), false)
        } else {
            (req.email.as_str(), req.email.contains('@'))
        };
        if identifier.trim().is_empty() {
            return Err(Status::invalid_argument("email or username: one of them is required"));
        }
        // A malformed name cannot belong to an account: answer like any other bad login.
        let login = if is_email {
            Email::parse(identifier).map(Login::Email)
        } else {
            UserName::parse(identifier).map(Login::Username)
        };
        let Ok(login) = login else {
            return Err(AuthError::BadCredentials.into());
        };
        let second = SecondFactor(req.second_factor);
        Ok(Response::new(session_to_pb(
            self.service.login(login, &req.password, second, client(req.client), req.known_device).await?,
        )))
    }

    async fn verify(&self, request: Request<pb::Token>) -> Result<Response<pb::User>, Status> {
        let (user, expires_ms) = self.service.verify(&request.into_inner().access_token).await?;
        Ok(Response::new(pb::User { token_expires_ms: expires_ms, ..user_to_pb(user) }))
    }

    async fn logout(&self, request: Request<pb::Token>) -> Result<Response<pb::Ack>, Status> {
        self.service.logout(&request.into_inner().access_token).await?;
        Ok(ack())
    }

    async fn get_user(&self, request: Request<pb::UserId>) -> Result<Response<pb::User>, Status> {
        let user_id = UserId::parse(&request.into_inner().user_id).map_err(from_validation)?;
        Ok(Response::new(user_to_pb(self.service.user(user_id).await?)))
    }

    type WatchRevocationsStream = dchat_proto::BoxStream<pb::Revocation>;

    async fn watch_revocations(
        &self,
        _request: Request<pb::WatchRevocationsRequest>,
    ) -> Result<Response<Self::WatchRevocationsStream>, Status> {
        let revocations = self.service.revocations().changes.map(|revocation| match revocation {
            Followed::Change(seq, token_sha256) => Ok(pb::Revocation { token_sha256, seq }),
            Followed::Reset => Err(Status::data_loss("the revocation watch fell behind; reconnect")),
        });
        let marker = futures::stream::once(async { Ok(pb::Revocation::default()) });
        Ok(Response::new(Box::pin(marker.chain(revocations).take_until(self.stopping.clone().cancelled_owned()))))
    }

    async fn list_sessions(&self, request: Request<pb::Token>) -> Result<Response<pb::SessionList>, Status> {
        let sessions = self.service.sessions(&request.into_inner().access_token).await?;
        let sessions = sessions
            .into_iter()
            .map(|SessionInfo { session_id, created_ms, last_used_ms, expires_ms, user_agent, address, current }| {
                pb::SessionInfo { session_id, created_ms, last_used_ms, expires_ms, user_agent, address, current }
            })
            .collect();
        Ok(Response::new(pb::SessionList { sessions }))
    }

    async fn revoke_session(&self, request: Request<pb::RevokeSessionRequest>) -> Result<Response<pb::Ack>, Status> {
        let req = request.into_inner();
        if req.everywhere {
            self.service.sign_out_everywhere(&req.access_token).await?;
        } else {
            self.service.revoke_session(&req.access_token, &req.session_id).await?;
        }
        Ok(ack())
    }

    async fn change_password(&self, request: Request<pb::ChangePasswordRequest>) -> Result<Response<pb::Ack>, Status> {
        let req = request.into_inner();
        self.service.change_password(&req.access_token, &req.current_password, &req.new_password).await?;
        Ok(ack())
    }

    async fn set_display_name(
        &self,
        request: Request<pb::SetDisplayNameRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let req = request.into_inner();
        let user_id = UserId::parse(&req.user_id).map_err(from_validation)?;
        let display_name = DisplayName::parse(&req.display_name).map_err(from_validation)?;
        Ok(Response::new(user_to_pb(self.service.set_display_name(user_id, display_name).await?)))
    }

    async fn set_username(&self, request: Request<pb::SetUsernameRequest>) -> Result<Response<pb::User>, Status> {
        let req = request.into_inner();
        let user_id = parse(&req.user_id, UserId::parse)?;
        let username = parse(&req.username, UserName::parse)?;
        Ok(Response::new(user_to_pb(self.service.change_username(user_id, username).await?)))
    }

    async fn set_bot(&self, request: Request<pb::SetBotRequest>) -> Result<Response<pb::User>, Status> {
        let req = request.into_inner();
        let user_id = parse(&req.user_id, UserId::parse)?;
        Ok(Response::new(user_to_pb(self.service.set_bot(user_id, req.bot).await?)))
    }

    async fn create_personal_token(
        &self,
        request: Request<pb::CreatePersonalTokenRequest>,
    ) -> Result<Response<pb::PersonalTokenCreated>, Status> {
        let req = request.into_inner();
        let name = parse(&req.name, TokenName::parse)?;
        let Minted { secret, info } =
            self.service.create_personal_token(&req.access_token, name, req.expires_in_days).await?;
        Ok(Response::new(pb::PersonalTokenCreated { token: secret, info: Some(token_to_pb(info)) }))
    }

    async fn list_personal_tokens(
        &self,
        request: Request<pb::Token>,
    ) -> Result<Response<pb::PersonalTokenList>, Status> {
        let tokens = self.service.personal_tokens(&request.into_inner().access_token).await?;
        Ok(Response::new(pb::PersonalTokenList { tokens: tokens.into_iter().map(token_to_pb).collect() }))
    }

    async fn revoke_personal_token(
        &self,
        request: Request<pb::RevokePersonalTokenRequest>,
    ) -> Result<Response<pb::Ack>, Status> {
        let req = request.into_inner();
        self.service.revoke_personal_token(&req.access_token, &req.token_id).await?;
        Ok(ack())
    }

    async fn create_webhook(
        &self,
        request: Request<pb::CreateWebhookRequest>,
    ) -> Result<Response<pb::WebhookCreated>, Status> {
        let req = request.into_inner();
        let created_by = parse(&req.created_by, UserId::parse)?;
        let room_id = parse(&req.room_id, RoomId::parse)?;
        let name = parse(&req.name, DisplayName::parse)?;
        let Minted { secret, info } = self.service.create_webhook(created_by, room_id, name).await?;
        Ok(Response::new(pb::WebhookCreated { token: secret, info: Some(webhook_to_pb(info)) }))
    }

    async fn list_webhooks(&self, request: Request<pb::RoomRef>) -> Result<Response<pb::WebhookList>, Status> {
        let room_id = parse(&request.into_inner().room_id, RoomId::parse)?;
        let webhooks = self.service.webhooks(&room_id).await?;
        Ok(Response::new(pb::WebhookList { webhooks: webhooks.into_iter().map(webhook_to_pb).collect() }))
    }

    async fn delete_webhook(&self, request: Request<pb::DeleteWebhookRequest>) -> Result<Response<pb::Ack>, Status> {
        let req = request.into_inner();
        let room_id = parse(&req.room_id, RoomId::parse)?;
        self.service.delete_webhook(&room_id, &req.webhook_id).await?;
        Ok(ack())
    }

    async fn verify_webhook(&self, request: Request<pb::Token>) -> Result<Response<pb::WebhookIdentity>, Status> {
        let (bot, room_id, webhook_id) = self.service.webhook(&request.into_inner().access_token).await?;
        Ok(Response::new(pb::WebhookIdentity { bot: Some(user_to_pb(bot)), room_id: room_id.to_string(), webhook_id }))
    }

    async fn begin_totp(&self, request: Request<pb::Token>) -> Result<Response<pb::TotpEnrolment>, Status> {
        let enrolment = self.service.begin_totp(&request.into_inner().access_token).await?;
        Ok(Response::new(pb::TotpEnrolment {
            secret_base32: enrolment.secret_base32,
            otpauth_url: enrolment.otpauth_url,
        }))
    }

    async fn enable_totp(&self, request: Request<pb::TotpCode>) -> Result<Response<pb::RecoveryCodes>, Status> {
        let req = request.into_inner();
        let codes = self.service.enable_totp(&req.access_token, &req.code).await?;
        Ok(Response::new(pb::RecoveryCodes { codes }))
    }

    async fn disable_totp(&self, request: Request<pb::DisableTotpRequest>) -> Result<Response<pb::Ack>, Status> {
        let req = request.into_inner();
        self.service.disable_totp(&req.access_token, &req.password).await?;
        Ok(ack())
    }

    async fn get_totp_status(&self, request: Request<pb::Token>) -> Result<Response<pb::TotpStatus>, Status> {
        let status = self.service.totp_status(&request.into_inner().access_token).await?;
        Ok(Response::new(pb::TotpStatus { enabled: status.enabled, recovery_codes_left: status.recovery_codes_left }))
    }
}
