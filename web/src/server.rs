//! The HTTP server: the page, the JSON API behind it, the live feed (server-sent events),
//! `/metrics` and `/healthz`. Network I/O (axum on tokio); decisions about who may do what are
//! in [`crate::model`], storage in [`crate::store`].
//!
//! API (JSON; every route but `/healthz`, the page and its assets needs a session cookie;
//! POST routes but login also need the `X-CSRF-Token` header of the session):
//!
//! | method, path | what | errors |
//! |---|---|---|
//! | `POST /api/login` `{username, password}` | sets the session cookie; `{user, csrf}` | 401 |
//! | `POST /api/logout` | ends the session | 401, 403 (CSRF) |
//! | `GET /api/me` | `{user, csrf}` | 401 |
//! | `GET /api/incidents?village&camera&kind&severity&state&limit` | incidents the user may see, newest first | 401 |
//! | `GET /api/incidents/{id}` | `{incident, timeline}` | 401, 403 (village), 404 |
//! | `GET /api/incidents/{id}/snapshot` | the JPEG | 401, 403, 404 |
//! | `POST /api/incidents/{id}/actions` `{action, note}` | acknowledge / dispatch / resolve / false_alarm; the incident | 400, 401, 403 (viewer, village, CSRF), 404, 409 (not allowed from its state) |
//! | `GET /api/cameras` | camera health the user may see: `[{id, name, village, state, reason, since, reconnects, fps, last_frame, worker}]`; `state` also `unassigned` (no worker has room for it); `fps`, `last_frame` (null until known) from the pipeline in this process or the cameras' heartbeats on Kafka; `worker` (null without a cluster) from the latest status event or heartbeat | 401 |
//! | `GET /api/events` | SSE: `incident` and `camera` events the user may see (a `camera` event, a camera row as above, for every status event and heartbeat) | 401 |
//! | `GET /api/audit?limit` | the audit log (admins) | 401, 403 |
//! | `GET /metrics` | Prometheus text (a session, or `Authorization: Bearer` the metrics token) | 401 |
//! | `GET /healthz` | `ok` | |

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::Stream;
use serde::{Deserialize, Serialize};
use sharpeyes_core::{Clock, SystemClock};
use tokio::sync::broadcast;

use crate::auth;
use crate::feed::FeedEvent;
use crate::model::{Action, Role, User};
use crate::store::{Filter, Store, StoreError};

const INDEX_HTML: &str = include_str!("../static/index.html");
const APP_JS: &str = include_str!("../static/app.js");
const STYLE_CSS: &str = include_str!("../static/style.css");

/// Settings of the server.
#[derive(Clone, Debug)]
pub struct WebOptions {
    /// Sessions end this long after sign-in. Default 12 h.
    pub session_ttl: Duration,
    /// Mark the cookie `Secure` (behind TLS). Default false (plain HTTP on a LAN or loopback).
    pub secure_cookie: bool,
    /// `Authorization: Bearer <token>` opens `/metrics` without a session (for Prometheus).
    pub metrics_token: Option<String>,
}

impl Default for WebOptions {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(12 * 3600),
            secure_cookie: false,
            metrics_token: None,
        }
    }
}

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub feed: broadcast::Sender<FeedEvent>,
    pub options: Arc<WebOptions>,
    pub stats: Arc<WebStats>,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct WebStats {
    pub logins: AtomicU64,
    pub failed_logins: AtomicU64,
    pub actions: AtomicU64,
    pub sse_clients: AtomicU64,
}

/// An API error: status and a message for people.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoIncident(id) => {
                ApiError(StatusCode::NOT_FOUND, format!("no incident {id}"))
            }
            StoreError::Refused(m) => ApiError(StatusCode::CONFLICT, m),
            StoreError::Db(e) => {
                tracing::error!(error = %e, "database error");
                ApiError(StatusCode::INTERNAL_SERVER_ERROR, "database error".into())
            }
        }
    }
}

fn unauthorized() -> ApiError {
    ApiError(StatusCode::UNAUTHORIZED, "sign in first".into())
}

fn forbidden(m: impl Into<String>) -> ApiError {
    ApiError(StatusCode::FORBIDDEN, m.into())
}

/// The session of a request: (user, csrf token, token hash).
fn session(st: &AppState, headers: &HeaderMap) -> Result<(User, String, String), ApiError> {
    let token = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| auth::cookie(c, auth::SESSION_COOKIE))
        .ok_or_else(unauthorized)?;
    let hash = auth::token_hash(token);
    let (user, csrf) = st
        .store
        .session(&hash, SystemClock.now())?
        .ok_or_else(unauthorized)?;
    Ok((user, csrf, hash))
}

/// Like [`session`], for a state-changing request: the CSRF header must match.
fn session_for_change(st: &AppState, headers: &HeaderMap) -> Result<(User, String), ApiError> {
    let (user, csrf, hash) = session(st, headers)?;
    let sent = headers
        .get(auth::CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !auth::same_token(sent, &csrf) {
        return Err(forbidden("missing or wrong X-CSRF-Token"));
    }
    Ok((user, hash))
}

/// The router with every route.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route(
            "/app.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    APP_JS,
                )
            }),
        )
        .route(
            "/style.css",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
                    STYLE_CSS,
                )
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/me", get(me))
        .route("/api/incidents", get(incidents))
        .route("/api/incidents/{id}", get(incident))
        .route("/api/incidents/{id}/snapshot", get(snapshot))
        .route("/api/incidents/{id}/actions", post(act))
        .route("/api/cameras", get(cameras))
        .route("/api/events", get(events))
        .route("/api/audit", get(audit))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'",
        ),
    );
    r
}

async fn index() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        INDEX_HTML,
    )
}

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    password: String,
}

#[derive(Serialize)]
struct Me {
    user: User,
    csrf: String,
}

fn session_cookie(st: &AppState, token: &str, max_age_s: u64) -> HeaderValue {
    let secure = if st.options.secure_cookie {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}",
        auth::SESSION_COOKIE
    ))
    .expect("a token is a valid header value")
}

async fn login(
    AxState(st): AxState<AppState>,
    Json(body): Json<LoginBody>,
) -> Result<Response, ApiError> {
    let now = SystemClock.now();
    let found = st.store.user(&body.username)?;
    let password = body.password.clone();
    let hash = found
        .as_ref()
        .map_or_else(|| auth::dummy_hash().to_owned(), |(_, h)| h.clone());
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    let Some((user, _)) = found.filter(|_| ok) else {
        st.stats.failed_logins.fetch_add(1, Ordering::Relaxed);
        let _ = st
            .store
            .audit(now, &body.username, "login_failed", "session", "");
        tracing::warn!(username = %body.username, "failed sign-in");
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "wrong user name or password".into(),
        ));
    };
    let token = auth::new_token();
    let csrf = auth::new_token();
    let ttl = st.options.session_ttl;
    st.store.create_session(
        &auth::token_hash(&token),
        &user.username,
        &csrf,
        now.plus_ms(ttl.as_millis() as i64),
    )?;
    st.stats.logins.fetch_add(1, Ordering::Relaxed);
    st.store
        .audit(now, &user.username, "login", "session", user.role.as_str())?;
    let mut r = Json(Me { user, csrf }).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&st, &token, ttl.as_secs()),
    );
    Ok(r)
}

async fn logout(AxState(st): AxState<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let (user, hash) = session_for_change(&st, &headers)?;
    st.store.delete_session(&hash)?;
    st.store
        .audit(SystemClock.now(), &user.username, "logout", "session", "")?;
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&st, "", 0));
    Ok(r)
}

async fn me(AxState(st): AxState<AppState>, headers: HeaderMap) -> Result<Json<Me>, ApiError> {
    let (user, csrf, _) = session(&st, &headers)?;
    Ok(Json(Me { user, csrf }))
}

async fn incidents(
    AxState(st): AxState<AppState>,
    headers: HeaderMap,
    Query(filter): Query<Filter>,
) -> Result<Response, ApiError> {
    let (user, _, _) = session(&st, &headers)?;
    Ok(Json(st.store.incidents(&user, &filter)?).into_response())
}

async fn incident(
    AxState(st): AxState<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (user, _, _) = session(&st, &headers)?;
    let row = st
        .store
        .incident(&id)?
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no incident {id}")))?;
    if !user.sees(&row.village) {
        return Err(forbidden(format!(
            "{} is not one of your villages",
            row.village
        )));
    }
    let timeline = st.store.timeline(&id)?;
    Ok(Json(serde_json::json!({ "incident": row, "timeline": timeline })).into_response())
}

async fn snapshot(
    AxState(st): AxState<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (user, _, _) = session(&st, &headers)?;
    let (alert, village) = st
        .store
        .snapshot_alert(&id)?
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no snapshot for {id}")))?;
    if !user.sees(&village) {
        return Err(forbidden(format!("{village} is not one of your villages")));
    }
    let store = st.store.clone();
    let bytes = tokio::task::spawn_blocking(move || store.snapshots().get(&alert))
        .await
        .ok()
        .flatten()
        .ok_or_else(|| {
            ApiError(
                StatusCode::NOT_FOUND,
                "snapshot not received yet, or no longer kept".into(),
            )
        })?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Deserialize)]
struct ActBody {
    action: String,
    #[serde(default)]
    note: String,
}

async fn act(
    AxState(st): AxState<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<ActBody>,
) -> Result<Response, ApiError> {
    let (user, _) = session_for_change(&st, &headers)?;
    let action = match body.action.as_str() {
        "acknowledge" => Action::Acknowledge,
        "dispatch" => Action::Dispatch,
        "resolve" => Action::Resolve,
        "false_alarm" => Action::FalseAlarm,
        other => {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                format!(
                    "unknown action {other:?}; known: acknowledge, dispatch, resolve, false_alarm"
                ),
            ));
        }
    };
    if body.note.len() > 2000 {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "note: at most 2000 bytes".into(),
        ));
    }
    if user.role == Role::Viewer {
        return Err(forbidden("viewers cannot act on incidents"));
    }
    let row = st
        .store
        .incident(&id)?
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no incident {id}")))?;
    if !user.may_act(&row.village) {
        return Err(forbidden(format!(
            "{} is not one of your villages",
            row.village
        )));
    }
    let row = st
        .store
        .act(&id, &user, action, body.note.trim(), SystemClock.now())?;
    st.stats.actions.fetch_add(1, Ordering::Relaxed);
    tracing::info!(incident = %id, user = %user.username, action = action.as_str(), state = row.state.as_str(), "incident action");
    let _ = st.feed.send(FeedEvent::Incident(row.clone()));
    Ok(Json(row).into_response())
}

async fn cameras(AxState(st): AxState<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let (user, _, _) = session(&st, &headers)?;
    Ok(Json(st.store.cameras(&user)?).into_response())
}

#[derive(Deserialize)]
struct Limit {
    limit: Option<u32>,
}

async fn audit(
    AxState(st): AxState<AppState>,
    headers: HeaderMap,
    Query(q): Query<Limit>,
) -> Result<Response, ApiError> {
    let (user, _, _) = session(&st, &headers)?;
    if user.role != Role::Admin {
        return Err(forbidden("the audit log is for admins"));
    }
    Ok(Json(st.store.audit_log(q.limit.unwrap_or(200).clamp(1, 5000))?).into_response())
}

async fn events(
    AxState(st): AxState<AppState>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let (user, _, _) = session(&st, &headers)?;
    let rx = st.feed.subscribe();
    let stats = st.stats.clone();
    stats.sse_clients.fetch_add(1, Ordering::Relaxed);
    struct Guard(Arc<WebStats>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.sse_clients.fetch_sub(1, Ordering::Relaxed);
        }
    }
    let guard = Guard(stats);
    let hello = SseEvent::default().event("hello").data(format!(
        "{{\"time\":\"{}\"}}",
        SystemClock.now().to_rfc3339()
    ));
    let stream = futures::stream::unfold(
        (rx, user, Some(hello), guard),
        |(mut rx, user, first, guard)| async move {
            if let Some(h) = first {
                return Some((Ok(h), (rx, user, None, guard)));
            }
            loop {
                match rx.recv().await {
                    Ok(ev) => {
                        if !user.sees(ev.village()) {
                            continue;
                        }
                        let (name, data) = match &ev {
                            FeedEvent::Incident(r) => ("incident", serde_json::to_string(r)),
                            FeedEvent::Camera(c) => ("camera", serde_json::to_string(c)),
                        };
                        let data = data.unwrap_or_default();
                        return Some((
                            Ok(SseEvent::default().event(name).data(data)),
                            (rx, user, None, guard),
                        ));
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        // Tell the page to reload its lists: it missed n events.
                        let ev = SseEvent::default().event("resync").data(n.to_string());
                        return Some((Ok(ev), (rx, user, None, guard)));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

async fn metrics(AxState(st): AxState<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let bearer_ok = st.options.metrics_token.as_deref().is_some_and(|t| {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|sent| auth::same_token(sent, t))
    });
    if !bearer_ok {
        session(&st, &headers)?;
    }
    let admin = User {
        username: "metrics".into(),
        role: Role::Admin,
        villages: Default::default(),
    };
    let mut by_state = std::collections::BTreeMap::new();
    for r in st.store.incidents(
        &admin,
        &Filter {
            limit: Some(1000),
            ..Filter::default()
        },
    )? {
        *by_state.entry(r.state.as_str()).or_insert(0u64) += 1;
    }
    let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let mut out = String::new();
    out.push_str("# HELP sharpeyes_web_incidents Incidents among the newest 1000, by state.\n# TYPE sharpeyes_web_incidents gauge\n");
    for s in crate::model::State::ALL {
        out.push_str(&format!(
            "sharpeyes_web_incidents{{state=\"{}\"}} {}\n",
            s.as_str(),
            by_state.get(s.as_str()).copied().unwrap_or(0)
        ));
    }
    for (name, help, kind, v) in [
        (
            "sharpeyes_web_logins_total",
            "Successful sign-ins.",
            "counter",
            g(&st.stats.logins),
        ),
        (
            "sharpeyes_web_failed_logins_total",
            "Refused sign-ins.",
            "counter",
            g(&st.stats.failed_logins),
        ),
        (
            "sharpeyes_web_actions_total",
            "Operator actions on incidents.",
            "counter",
            g(&st.stats.actions),
        ),
        (
            "sharpeyes_web_sse_clients",
            "Pages connected to the live feed.",
            "gauge",
            g(&st.stats.sse_clients),
        ),
    ] {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
        ));
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}
