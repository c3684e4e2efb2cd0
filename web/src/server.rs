//! The HTTP server: the page, the JSON API behind it, the live feed (server-sent events),
//! `/metrics` and `/healthz`. Network I/O (axum on tokio); decisions about who may do what are
//! in [`crate::model`], storage in [`crate::store`].
//!
//! API (JSON; every route but `/healthz`, the page and its assets needs a session cookie;
//! POST routes but login also need the `X-CSRF-Token` header of the session):
//!
//! | method, path | what | errors |
//! |---|---|---|
//! | `POST /api/login` `{username, password}` | sets the session cookie; `{user, csrf}` | 400 (user name over 64 bytes, password over 1024), 401, 413, 429 (too many attempts from the address or for the name; `Retry-After`), 503 (every password check slot busy; `Retry-After`) |
//! | `POST /api/logout` | ends the session | 401, 403 (CSRF) |
//! | `GET /api/me` | `{user, csrf}` | 401 |
//! | `GET /api/incidents?village&camera&kind&severity&state&limit` | incidents the user may see, newest first | 401 |
//! | `GET /api/incidents/{id}` | `{incident, timeline, clip}`; `clip`: `null` (none), `"pending"` (its alert names one, not arrived yet), `"ready"` | 401, 404 (also outside the user's villages) |
//! | `GET /api/incidents/{id}/snapshot` | the JPEG | 401, 403, 404 |
//! | `GET /api/incidents/{id}/clip` | the event clip (`video/mp4`); one `Range: bytes=` range gives 206 with `Content-Range` | 401, 404 (none, not arrived yet, or outside the user's villages), 416 |
//! | `POST /api/incidents/{id}/actions` `{action, note}` | acknowledge / dispatch / resolve / false_alarm; the incident | 400, 401, 403 (viewer, CSRF), 404 (also outside the user's villages), 409 (not allowed from its state) |
//! | `GET /api/cameras` | camera health the user may see: `[{id, name, village, state, reason, since, reconnects, fps, last_frame, worker}]`; `state` also `unassigned` (no worker has room for it); `fps`, `last_frame` (null until known) from the pipeline in this process or the cameras' heartbeats on Kafka; `worker` (null without a cluster) from the latest status event or heartbeat | 401 |
//! | `GET /api/events` | SSE: `incident` and `camera` events the user may see (a `camera` event, a camera row as above, for every status event and heartbeat); the stream ends within 2 s of the session ending (logout, expiry, `user add` / `passwd` / `remove` from another process) or of a change to the user's role or villages | 401 |
//! | `GET /api/audit?limit` | the audit log (admins) | 401, 403 |
//! | `GET /metrics` | Prometheus text: with `Authorization: Bearer` the metrics token or an admin's session, everything; with another session, only the incidents of the user's villages | 401 |
//! | `GET /healthz` | `ok` | |
//!
//! Every request body is at most 16 KiB (413 beyond).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State as AxState};
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
use crate::limit::{LoginGuard, LoginLimits};
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
    /// Sign-in attempts per address and name, password checks at once.
    pub login: LoginLimits,
}

impl Default for WebOptions {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(12 * 3600),
            secure_cookie: false,
            metrics_token: None,
            login: LoginLimits::default(),
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
    /// Built from `options.login`.
    pub login: Arc<LoginGuard>,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct WebStats {
    pub logins: AtomicU64,
    pub failed_logins: AtomicU64,
    /// Sign-ins refused before the password was checked: 429 and 503.
    pub refused_logins: AtomicU64,
    pub actions: AtomicU64,
    pub sse_clients: AtomicU64,
    /// The Kafka reader's, shared with its [`crate::Feed`].
    pub feed: Arc<crate::feed::FeedStats>,
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

/// The largest request body accepted (bytes); the largest real one, an action with its
/// 2000-byte note, is far below.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// How often a live-feed stream asks the database whether its session still stands (the CLI
/// changes users from another process, so nothing tells this one).
const SESSION_RECHECK: Duration = Duration::from_secs(1);

/// The router with every route. Serve it with connect info (`SocketAddr`): sign-in limits
/// are per client address.
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
        .route("/api/incidents/{id}/clip", get(clip))
        .route("/api/incidents/{id}/actions", post(act))
        .route("/api/cameras", get(cameras))
        .route("/api/events", get(events))
        .route("/api/audit", get(audit))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
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

/// A refusal that says when to try again (429, 503).
fn retry_later(status: StatusCode, message: &str, after: Duration) -> Response {
    let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
    let mut r = ApiError(status, message.into()).into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    r
}

async fn login(
    AxState(st): AxState<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<LoginBody>,
) -> Result<Response, ApiError> {
    if body.username.is_empty() || body.username.len() > auth::MAX_USERNAME_BYTES {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("username: 1 to {} bytes", auth::MAX_USERNAME_BYTES),
        ));
    }
    if body.password.len() > auth::MAX_PASSWORD_BYTES {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("password: at most {} bytes", auth::MAX_PASSWORD_BYTES),
        ));
    }
    let now = SystemClock.now();
    // Logs carry a tag, never the name as typed (it may be a password in the wrong field).
    let tag = auth::user_tag(&body.username);
    let address = peer.ip();
    if let Err(after) = st.login.attempt(address, &body.username, now) {
        st.stats.refused_logins.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(user = %tag, %address, retry_after_s = after.as_secs(), "sign-in refused: too many attempts");
        return Ok(retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            "too many sign-in attempts; try again later",
            after,
        ));
    }
    let found = st.store.user(&body.username)?;
    let password = body.password.clone();
    let hash = found.as_ref().map(|(_, h)| h.clone());
    // An unknown name is checked against a dummy hash (as long as a wrong password), in a
    // slot like any other.
    let check = move || match &hash {
        Some(h) => auth::verify_password(&password, h),
        None => auth::verify_password(&password, auth::dummy_hash()),
    };
    let Ok(ok) = st.login.gate.run(check).await else {
        st.stats.refused_logins.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(user = %tag, %address, "sign-in refused: every password check slot is busy");
        return Ok(retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many sign-ins at once; try again in a moment",
            Duration::from_secs(1),
        ));
    };
    let known = found.is_some();
    let Some((user, _)) = found.filter(|_| ok) else {
        st.stats.failed_logins.fetch_add(1, Ordering::Relaxed);
        // The audit log names a user that exists (admins know them); an unknown name is kept
        // as its tag, like in the logs.
        let who = if known {
            body.username.clone()
        } else {
            format!("unknown {tag}")
        };
        let _ = st.store.audit(now, &who, "login_failed", "session", "");
        tracing::warn!(user = %tag, %address, "failed sign-in");
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "wrong user name or password".into(),
        ));
    };
    st.login.succeeded(address, &body.username);
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
    // Outside the user's villages it is the same 404 as none, naming no village.
    let row = st
        .store
        .incident(&id)?
        .filter(|r| user.sees(&r.village))
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no incident {id}")))?;
    let timeline = st.store.timeline(&id)?;
    let clip = st.store.clip_alert(&id)?.map(|(alert, _)| {
        if st.store.clips().has(&alert) {
            "ready"
        } else {
            "pending"
        }
    });
    Ok(
        Json(serde_json::json!({ "incident": row, "timeline": timeline, "clip": clip }))
            .into_response(),
    )
}

/// The incident's event clip, whole or one byte range (browsers ask for ranges to play, seek
/// and learn the duration). Scoped like the snapshot: outside the user's villages it is the
/// same 404 as none.
async fn clip(
    AxState(st): AxState<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    use crate::clips::ByteRange;
    let (user, _, _) = session(&st, &headers)?;
    let none = || ApiError(StatusCode::NOT_FOUND, format!("no clip for {id}"));
    let (alert, village) = st.store.clip_alert(&id)?.ok_or_else(none)?;
    if !user.sees(&village) {
        return Err(none());
    }
    let path = st.store.clips().path_for(&alert).ok_or_else(none)?;
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let read = tokio::task::spawn_blocking(move || read_range(&path, range.as_deref()))
        .await
        .ok()
        .and_then(Result::ok);
    let Some((range, len, body)) = read else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "clip not received yet, or no longer kept".into(),
        ));
    };
    let mut r = match range {
        ByteRange::Unsatisfiable => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{len}")).expect("ascii"),
            );
            return Ok(r);
        }
        ByteRange::Part(a, b) => {
            let mut r = (StatusCode::PARTIAL_CONTENT, body).into_response();
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {a}-{b}/{len}")).expect("ascii"),
            );
            r
        }
        ByteRange::Whole => body.into_response(),
    };
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    Ok(r)
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
        // Like the detail route: an incident of another village is one they cannot know of.
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no snapshot for {id}"),
        ));
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

/// The part of the file at `path` a `Range` header asks for: (what was served, the file's
/// length, the bytes).
fn read_range(
    path: &std::path::Path,
    range: Option<&str>,
) -> std::io::Result<(crate::clips::ByteRange, u64, Vec<u8>)> {
    use crate::clips::ByteRange;
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let range = ByteRange::parse(range, len);
    let (first, last) = match range {
        ByteRange::Whole if len > 0 => (0, len - 1),
        ByteRange::Part(a, b) => (a, b),
        ByteRange::Whole | ByteRange::Unsatisfiable => return Ok((range, len, Vec::new())),
    };
    f.seek(SeekFrom::Start(first))?;
    let mut body = vec![0; (last - first + 1) as usize];
    f.read_exact(&mut body)?;
    Ok((range, len, body))
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
    st.store
        .incident(&id)?
        .filter(|r| user.may_act(&r.village))
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no incident {id}")))?;
    let row = st
        .store
        .act(&id, &user, action, body.note.trim(), SystemClock.now())?;
    st.stats.actions.fetch_add(1, Ordering::Relaxed);
    tracing::info!(incident = %id, user = %auth::user_tag(&user.username), action = action.as_str(), state = row.state.as_str(), "incident action");
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
    let (user, _, token_hash) = session(&st, &headers)?;
    let rx = st.feed.subscribe();
    let stats = st.stats.clone();
    stats.sse_clients.fetch_add(1, Ordering::Relaxed);
    struct Guard(Arc<WebStats>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.sse_clients.fetch_sub(1, Ordering::Relaxed);
        }
    }
    let hello = SseEvent::default().event("hello").data(format!(
        "{{\"time\":\"{}\"}}",
        SystemClock.now().to_rfc3339()
    ));
    struct Live {
        rx: broadcast::Receiver<FeedEvent>,
        user: User,
        token_hash: String,
        store: Arc<Store>,
        recheck: tokio::time::Interval,
        first: Option<SseEvent>,
        _guard: Guard,
    }
    let mut recheck = tokio::time::interval(SESSION_RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let live = Live {
        rx,
        user,
        token_hash,
        store: st.store.clone(),
        recheck,
        first: Some(hello),
        _guard: Guard(stats),
    };
    let stream = futures::stream::unfold(live, |mut live| async move {
        if let Some(h) = live.first.take() {
            return Some((Ok(h), live));
        }
        loop {
            let received = tokio::select! {
                r = live.rx.recv() => r,
                _ = live.recheck.tick() => {
                    // The stream ends when the session does (logout, expiry, the user
                    // replaced, re-passworded or removed) or the user's scope changed; the
                    // page then signs in again or reconnects with what it may now see.
                    let now = SystemClock.now();
                    match live.store.session_user(&live.token_hash, now) {
                        Ok(Some(u)) if u == live.user => continue,
                        Ok(_) => {
                            tracing::info!(user = %auth::user_tag(&live.user.username), "live feed closed: session ended or scope changed");
                            return None;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "live feed closed: session not checked");
                            return None;
                        }
                    }
                }
            };
            match received {
                Ok(ev) => {
                    if !live.user.sees(ev.village()) {
                        continue;
                    }
                    let (name, data) = match &ev {
                        FeedEvent::Incident(r) => ("incident", serde_json::to_string(r)),
                        FeedEvent::Camera(c) => ("camera", serde_json::to_string(c)),
                    };
                    let data = data.unwrap_or_default();
                    return Some((Ok(SseEvent::default().event(name).data(data)), live));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Tell the page to reload its lists: it missed events. How many is not
                    // said: most may be of villages it does not see.
                    let ev = SseEvent::default().event("resync").data("");
                    return Some((Ok(ev), live));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
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
    // Prometheus (the token) and admins see the whole county; anyone else only the
    // incidents of their villages, and none of the server-wide counters (sign-ins, actions,
    // pages connected), which count other villages' people too.
    let viewer = if bearer_ok {
        User {
            username: "metrics".into(),
            role: Role::Admin,
            villages: Default::default(),
        }
    } else {
        session(&st, &headers)?.0
    };
    let county = viewer.role == Role::Admin;
    let mut by_state = std::collections::BTreeMap::new();
    for r in st.store.incidents(
        &viewer,
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
    let counters = [
        (
            "sharpeyes_web_logins_total",
            "Successful sign-ins.",
            "counter",
            g(&st.stats.logins),
        ),
        (
            "sharpeyes_web_failed_logins_total",
            "Sign-ins with a wrong user name or password.",
            "counter",
            g(&st.stats.failed_logins),
        ),
        (
            "sharpeyes_web_refused_logins_total",
            "Sign-ins refused before the password was checked (too many attempts: 429; every password check slot busy: 503).",
            "counter",
            g(&st.stats.refused_logins),
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
        (
            "sharpeyes_web_store_failures_total",
            "Attempts to store a Kafka message that failed (each then retried or dead-lettered).",
            "counter",
            g(&st.stats.feed.store_failures),
        ),
        (
            "sharpeyes_web_dead_letters_total",
            "Kafka messages the store refused for their own sake, kept in its dead_letters table instead of the feed.",
            "counter",
            g(&st.stats.feed.dead_letters),
        ),
    ];
    for (name, help, kind, v) in counters.into_iter().filter(|_| county) {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
        ));
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}
