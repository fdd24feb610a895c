//! `auth.v1.AuthService` over gRPC: decode, call [`AuthService`], encode.

use dchat_bus::BusEvent;
use dchat_core::{DisplayName, Email, UserId, UserName, ValidationError};
use dchat_proto::{
    auth::v1::{self as pb, auth_service_server},
    from_validation, internal,
};
use dchat_storage::StoreError;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::{AuthError, AuthService, Client, Login, Registration, Session, SessionInfo, User};

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
            AuthError::BadCredentials | AuthError::InvalidToken => Status::unauthenticated(err.to_string()),
            AuthError::NotFound(_) | AuthError::NoSuchSession => Status::not_found(err.to_string()),
            AuthError::WrongPassword => Status::permission_denied(err.to_string()),
            AuthError::Unavailable(message) => Status::unavailable(message),
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
        username: user.username.map(|username| username.to_string()).unwrap_or_default(),
        token_expires_ms: 0,
    }
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
        Ok(Response::new(session_to_pb(self.service.login(login, &req.password, client(req.client)).await?)))
    }

    async fn verify(&self, request: Request<pb::Token>) -> Result<Response<pb::User>, Status> {
        let (user, expires_ms) = self.service.verify(&request.into_inner().access_token).await?;
        Ok(Response::new(pb::User { token_expires_ms: expires_ms, ..user_to_pb(user) }))
    }

    async fn logout(&self, request: Request<pb::Token>) -> Result<Response<pb::Ack>, Status> {
        self.service.logout(&request.into_inner().access_token).await?;
        Ok(Response::new(pb::Ack { success: true, error: String::new() }))
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
        let revocations = self.service.revocations().map(|revocation| match revocation {
            BusEvent::Payload(token_sha256) => Ok(pb::Revocation { token_sha256 }),
            BusEvent::Gap => Err(Status::data_loss("the revocation watch fell behind; reconnect")),
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
        Ok(Response::new(pb::Ack { success: true, error: String::new() }))
    }

    async fn change_password(&self, request: Request<pb::ChangePasswordRequest>) -> Result<Response<pb::Ack>, Status> {
        let req = request.into_inner();
        self.service.change_password(&req.access_token, &req.current_password, &req.new_password).await?;
        Ok(Response::new(pb::Ack { success: true, error: String::new() }))
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
}
