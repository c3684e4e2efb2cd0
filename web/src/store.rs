//! The command center's embedded database (SQLite): incidents built from the alerts, their
//! actions (who did what, when, with which note), camera health, users, sessions, the audit
//! log and the dead letters (Kafka messages it refused). File I/O; every write is one
//! transaction.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sharpeyes_core::{Alert, StatusEvent, StatusKind, UnixMillis};

use crate::model::{Action, Role, State, User, transition};

/// A store error: the database said no, or a request broke a rule.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("no incident {0}")]
    NoIncident(String),
    #[error("{0}")]
    Refused(String),
}

impl StoreError {
    /// True when the failure is the database's or its disk's, not the data's: busy or locked
    /// by another connection, disk full, I/O error, read-only, cannot open, corrupt, or an
    /// error SQLite does not name further. The same write may succeed later (or once a person
    /// has acted), so the Kafka reader retries it for ever and never drops the message.
    ///
    /// False for what one message's data can cause while the database accepts others: a
    /// constraint (or a trigger's `RAISE`), a string or blob over SQLite's size limit, a type
    /// mismatch, a parameter out of range, a value that does not convert; and for
    /// [`StoreError::NoIncident`] and [`StoreError::Refused`], which are about a request.
    pub fn is_transient(&self) -> bool {
        use rusqlite::ErrorCode as C;
        match self {
            StoreError::Db(rusqlite::Error::SqliteFailure(e, _)) => !matches!(
                e.code,
                C::ConstraintViolation | C::TooBig | C::TypeMismatch | C::ParameterOutOfRange
            ),
            // Failures of the file or the connection, whatever the data.
            StoreError::Db(
                rusqlite::Error::SqliteSingleThreadedMode
                | rusqlite::Error::InvalidPath(_)
                | rusqlite::Error::NulError(_),
            ) => true,
            // Conversions of values to and from SQL, and misuse of a statement by this
            // crate: the same data fails the same way again.
            StoreError::Db(_) => false,
            StoreError::NoIncident(_) | StoreError::Refused(_) => false,
        }
    }
}

/// A Kafka message the store could not take after [`crate::feed::MAX_PERMANENT_FAILURES`]
/// attempts that failed for the message's own sake ([`StoreError::is_transient`] false): kept
/// in `dead_letters` with its raw bytes, so a person can see why and replay it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeadLetter {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The message key, as sent.
    pub key: Option<Vec<u8>>,
    /// The message value, as sent.
    pub payload: Vec<u8>,
    /// The event's id, when the payload decoded as one.
    pub event_id: Option<String>,
    /// The last error, for people.
    pub reason: String,
    pub attempts: u32,
}

/// One incident as the feed shows it: the latest alert of it, its state and place.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IncidentRow {
    pub id: String,
    pub camera_id: String,
    pub camera_name: String,
    pub village: String,
    pub kind: String,
    pub severity: String,
    pub zone: Option<String>,
    /// The latest alert's lifecycle (`new`, `update`, `end`).
    pub lifecycle: String,
    pub state: State,
    pub first_time: String,
    pub last_time: String,
    pub message: Option<String>,
    pub has_snapshot: bool,
    /// The latest alert (schema v1).
    pub alert: serde_json::Value,
}

/// One step of an incident's timeline: an alert or an operator's action.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimelineEntry {
    pub time: String,
    /// `alert` or `action`.
    pub what: String,
    /// Alert: its lifecycle and message; action: the action and note.
    pub detail: String,
    pub username: Option<String>,
    pub state: Option<State>,
}

/// A camera as the health grid shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CameraRow {
    pub id: String,
    pub name: String,
    pub village: String,
    pub state: String,
    pub reason: Option<String>,
    /// When the state last changed.
    pub since: String,
    /// Times it went offline (reconnects).
    pub reconnects: u64,
    /// Frames per second decoded: from the pipeline in this process or the camera's heartbeats
    /// (none before the first, and none while unassigned).
    pub fps: Option<f64>,
    /// Last decoded frame, from the same sources.
    pub last_frame: Option<String>,
    /// The worker process running the camera, as its latest status event or heartbeat said;
    /// none without a cluster, or while unassigned.
    pub worker: Option<String>,
    /// Tampering now (`camera_tampered` not yet followed by its `camera_restored`): `covered`,
    /// `defocused`, `moved`, `frozen`, sorted; empty when none.
    pub tampered: Vec<String>,
}

/// Filters of the feed (all optional).
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
pub struct Filter {
    pub village: Option<String>,
    pub camera: Option<String>,
    pub kind: Option<String>,
    pub severity: Option<String>,
    pub state: Option<String>,
    pub limit: Option<u32>,
}

/// An audit log line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditEntry {
    pub time: String,
    pub username: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

/// The database, shared by the server's handlers.
pub struct Store {
    conn: Mutex<Connection>,
    /// The alerts' pictures, kept as data beside the database (never read from a path a
    /// message names).
    snapshots: crate::snapshots::SnapshotStore,
    /// The alerts' event clips, kept like the snapshots.
    clips: crate::clips::ClipStore,
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE IF NOT EXISTS incidents (
  id TEXT PRIMARY KEY, camera_id TEXT NOT NULL, camera_name TEXT NOT NULL, village TEXT NOT NULL,
  kind TEXT NOT NULL, severity TEXT NOT NULL, zone TEXT, lifecycle TEXT NOT NULL,
  state TEXT NOT NULL, first_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL, message TEXT,
  snapshot TEXT, alert_json TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS incidents_last ON incidents(last_ms DESC);
CREATE INDEX IF NOT EXISTS incidents_village_last ON incidents(village, last_ms DESC);
CREATE TABLE IF NOT EXISTS alerts (
  id TEXT PRIMARY KEY, incident TEXT NOT NULL, lifecycle TEXT NOT NULL, event_ms INTEGER NOT NULL,
  message TEXT, json TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS alerts_incident ON alerts(incident, event_ms);
CREATE TABLE IF NOT EXISTS actions (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, incident TEXT NOT NULL, username TEXT NOT NULL,
  action TEXT NOT NULL, from_state TEXT NOT NULL, to_state TEXT NOT NULL, note TEXT NOT NULL,
  at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS cameras (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, village TEXT NOT NULL, state TEXT NOT NULL,
  reason TEXT, changed_ms INTEGER NOT NULL, reconnects INTEGER NOT NULL DEFAULT 0,
  fps REAL, last_frame_ms INTEGER, worker TEXT, tampered TEXT);
CREATE TABLE IF NOT EXISTS users (
  username TEXT PRIMARY KEY, password_hash TEXT NOT NULL, role TEXT NOT NULL,
  villages TEXT NOT NULL, created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
  token_hash TEXT PRIMARY KEY, username TEXT NOT NULL, csrf TEXT NOT NULL,
  expires_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, username TEXT NOT NULL,
  action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letters (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, topic TEXT NOT NULL,
  kafka_partition INTEGER NOT NULL, kafka_offset INTEGER NOT NULL, msg_key BLOB,
  payload BLOB NOT NULL, event_id TEXT, reason TEXT NOT NULL, attempts INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS dead_letters_place
  ON dead_letters(topic, kafka_partition, kafka_offset);
";

/// Brings a database made by an older build up to [`SCHEMA`] (`CREATE TABLE IF NOT EXISTS`
/// leaves existing tables as they were): adds the columns they lack.
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    const ADDED: &[(&str, &str, &str)] = &[
        ("cameras", "worker", "TEXT"),
        ("cameras", "tampered", "TEXT"),
    ];
    for (table, column, kind) in ADDED {
        let has: bool = conn.query_row(
            "SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2",
            params![table, column],
            |r| r.get(0),
        )?;
        if !has {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
            tracing::info!(table, column, "command center database: column added");
        }
    }
    Ok(())
}

fn rfc(ms: i64) -> String {
    UnixMillis(ms).to_rfc3339()
}

impl Store {
    /// Opens (creating) the database at `path`, creating its tables.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        migrate(&conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
            snapshots: crate::snapshots::SnapshotStore::beside(path),
            clips: crate::clips::ClipStore::beside(path),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The connection, for tests that make the database fail (a trigger, a page limit, a
    /// short busy timeout).
    #[cfg(test)]
    pub(crate) fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> T) -> T {
        f(&self.conn())
    }

    /// Records an alert. Returns the incident as it now stands, or None when this alert was
    /// already recorded (at-least-once delivery: the same id twice changes nothing).
    pub fn ingest_alert(&self, alert: &Alert) -> Result<Option<IncidentRow>, StoreError> {
        let json = serde_json::to_string(alert).expect("an alert always encodes");
        let ms = alert.event_millis().map_or(0, |t| t.0);
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let fresh = tx.execute(
            "INSERT OR IGNORE INTO alerts (id, incident, lifecycle, event_ms, message, json) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                alert.id,
                alert.incident,
                alert.lifecycle.as_str(),
                ms,
                alert.message,
                json
            ],
        )? == 1;
        if !fresh {
            return Ok(None);
        }
        tx.execute(
            "INSERT INTO incidents (id, camera_id, camera_name, village, kind, severity, zone, \
               lifecycle, state, first_ms, last_ms, message, snapshot, alert_json) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'new', ?9, ?9, ?10, ?11, ?12) \
             ON CONFLICT(id) DO UPDATE SET lifecycle = ?8, last_ms = max(last_ms, ?9), \
               first_ms = min(first_ms, ?9), message = coalesce(?10, message), \
               snapshot = coalesce(?11, snapshot), alert_json = ?12, \
               severity = ?6, camera_name = ?3, village = ?4",
            params![
                alert.incident,
                alert.camera.id.as_str(),
                alert.camera.name,
                alert.camera.village,
                alert.kind.as_str(),
                alert.severity.as_str(),
                alert.zone,
                alert.lifecycle.as_str(),
                ms,
                alert.message,
                // The id of the alert whose picture this is; the picture itself arrives as
                // data (crate::snapshots). What the alert says its path was is never used.
                alert.snapshot.as_ref().map(|_| alert.id.as_str()),
                json
            ],
        )?;
        tx.commit()?;
        drop(conn);
        self.incident(&alert.incident)
    }

    /// Records a camera status event (schema v1 or v2); returns the camera as it now stands.
    /// A state change (online, offline, unassigned) older than the one stored changes nothing;
    /// a heartbeat sets only the live numbers and the worker, never the state (a camera first
    /// known from a heartbeat starts in the heartbeat's state); `camera_tampered` and
    /// `camera_restored` add and remove their reason in [`CameraRow::tampered`], nothing else.
    pub fn ingest_status(&self, s: &StatusEvent) -> Result<CameraRow, StoreError> {
        let ms = UnixMillis::parse_rfc3339(&s.event_time).map_or(0, |t| t.0);
        let camera = (s.camera.id.as_str(), &s.camera.name, &s.camera.village);
        match s.kind {
            StatusKind::CameraHeartbeat => self.volatile(|c| {
                c.execute(
                    "INSERT INTO cameras (id, name, village, state, changed_ms, fps, \
                       last_frame_ms, worker) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                     ON CONFLICT(id) DO UPDATE SET fps = ?6, \
                       last_frame_ms = coalesce(?7, last_frame_ms), worker = ?8",
                    params![
                        camera.0,
                        camera.1,
                        camera.2,
                        s.state.as_str(),
                        ms,
                        s.fps,
                        s.last_frame_millis().map(|t| t.0),
                        s.worker
                    ],
                )
            })?,
            StatusKind::CameraTampered | StatusKind::CameraRestored => {
                // The set of reasons is kept, not the latest event: a camera can be covered
                // and frozen at once, and the restoring of one leaves the other.
                let reason = s.reason.as_deref().unwrap_or_default();
                let mut now: std::collections::BTreeSet<String> = self
                    .camera(camera.0)?
                    .map(|c| c.tampered.into_iter().collect())
                    .unwrap_or_default();
                if s.kind == StatusKind::CameraTampered {
                    now.insert(reason.to_owned());
                } else {
                    now.remove(reason);
                }
                let joined = now.into_iter().collect::<Vec<_>>().join(",");
                self.conn().execute(
                    "INSERT INTO cameras (id, name, village, state, changed_ms, tampered) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                     ON CONFLICT(id) DO UPDATE SET tampered = ?6",
                    params![camera.0, camera.1, camera.2, s.state.as_str(), ms, joined],
                )?
            }
            StatusKind::CameraOnline | StatusKind::CameraOffline | StatusKind::CameraUnassigned => {
                let offline = i64::from(s.kind == StatusKind::CameraOffline);
                // Nobody runs an unassigned camera: no worker, no frame rate.
                let unassigned = s.kind == StatusKind::CameraUnassigned;
                self.conn().execute(
                    "INSERT INTO cameras (id, name, village, state, reason, changed_ms, \
                       reconnects, worker) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                     ON CONFLICT(id) DO UPDATE SET name = ?2, village = ?3, state = ?4, \
                       reason = ?5, changed_ms = ?6, reconnects = reconnects + ?7, worker = ?8, \
                       fps = CASE WHEN ?9 THEN NULL ELSE fps END \
                     WHERE ?6 >= changed_ms",
                    params![
                        camera.0,
                        camera.1,
                        camera.2,
                        s.state.as_str(),
                        s.reason,
                        ms,
                        offline,
                        s.worker,
                        unassigned
                    ],
                )?
            }
        };
        self.camera(s.camera.id.as_str())
            .map(|c| c.expect("just written"))
    }

    /// Live numbers of a camera the pipeline in this process runs.
    pub fn camera_live(
        &self,
        id: &str,
        fps: f64,
        last_frame: Option<UnixMillis>,
    ) -> Result<(), StoreError> {
        self.volatile(|c| {
            c.execute(
                "UPDATE cameras SET fps = ?2, last_frame_ms = ?3 WHERE id = ?1",
                params![id, fps, last_frame.map(|t| t.0)],
            )
        })?;
        Ok(())
    }

    /// Runs `f` with `synchronous = NORMAL`: for the live numbers (fps, last frame), rewritten
    /// every few seconds, whose last few seconds may be lost to a power cut. Everything else
    /// (alerts, actions, users, sessions, audit) is written with `synchronous = FULL`, so a
    /// Kafka offset is committed only for what is on disk.
    fn volatile<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let conn = self.conn();
        conn.execute_batch("PRAGMA synchronous = NORMAL")?;
        let out = f(&conn);
        conn.execute_batch("PRAGMA synchronous = FULL")?;
        Ok(out?)
    }

    fn camera(&self, id: &str) -> Result<Option<CameraRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, name, village, state, reason, changed_ms, reconnects, fps, \
                 last_frame_ms, worker, tampered FROM cameras WHERE id = ?1",
                [id],
                camera_row,
            )
            .optional()?)
    }

    /// The cameras `user` may see, by village then name.
    pub fn cameras(&self, user: &User) -> Result<Vec<CameraRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT id, name, village, state, reason, changed_ms, reconnects, fps, last_frame_ms, \
             worker, tampered FROM cameras WHERE {} ORDER BY village, name",
            scope_sql(1)
        ))?;
        let rows = stmt.query_map(params![scope(user)], camera_row)?;
        let mut out = Vec::new();
        for r in rows {
            let r = r?;
            if user.sees(&r.village) {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// The incident `id` (whoever may see it).
    pub fn incident(&self, id: &str) -> Result<Option<IncidentRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("{INCIDENT_SELECT} WHERE id = ?1"),
                [id],
                incident_row,
            )
            .optional()?)
    }

    /// The incidents `user` may see that match `filter`, newest first. The village scope and
    /// the limit are applied in SQL (index `incidents_village_last`), so a user of one village
    /// never makes the server read the county's incidents.
    pub fn incidents(&self, user: &User, filter: &Filter) -> Result<Vec<IncidentRow>, StoreError> {
        let limit = filter.limit.unwrap_or(200).clamp(1, 1000);
        let conn = self.conn();
        let mut stmt = conn.prepare(&incidents_sql(user.role != Role::Admin))?;
        let rows = stmt.query_map(
            params![
                filter.village,
                filter.camera,
                filter.kind,
                filter.severity,
                filter.state,
                scope(user),
                limit
            ],
            incident_row,
        )?;
        let mut out = Vec::new();
        for r in rows {
            let r = r?;
            // The SQL scope already did this; a second look costs nothing.
            if user.sees(&r.village) {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// The alerts and actions of an incident, oldest first.
    pub fn timeline(&self, id: &str) -> Result<Vec<TimelineEntry>, StoreError> {
        let conn = self.conn();
        let mut out: Vec<(i64, i64, TimelineEntry)> = Vec::new();
        let mut stmt = conn.prepare(
            "SELECT event_ms, rowid, lifecycle, message FROM alerts WHERE incident = ?1",
        )?;
        for r in stmt.query_map([id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })? {
            let (ms, rowid, lifecycle, message) = r?;
            out.push((
                ms,
                rowid,
                TimelineEntry {
                    time: rfc(ms),
                    what: "alert".into(),
                    detail: match message {
                        Some(m) => format!("{lifecycle}: {m}"),
                        None => lifecycle,
                    },
                    username: None,
                    state: None,
                },
            ));
        }
        let mut stmt = conn.prepare(
            "SELECT at_ms, seq, username, action, to_state, note FROM actions WHERE incident = ?1",
        )?;
        for r in stmt.query_map([id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })? {
            let (ms, seq, username, action, to, note) = r?;
            out.push((
                ms,
                seq,
                TimelineEntry {
                    time: rfc(ms),
                    what: "action".into(),
                    detail: if note.is_empty() {
                        action
                    } else {
                        format!("{action}: {note}")
                    },
                    username: Some(username),
                    state: State::parse(&to),
                },
            ));
        }
        out.sort_by_key(|(ms, seq, e)| (*ms, e.what == "action", *seq));
        Ok(out.into_iter().map(|(_, _, e)| e).collect())
    }

    /// Applies `action` by `user` to incident `id`, with the audit line, in one transaction.
    pub fn act(
        &self,
        id: &str,
        user: &User,
        action: Action,
        note: &str,
        now: UnixMillis,
    ) -> Result<IncidentRow, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let (state, village): (String, String) = tx
            .query_row(
                "SELECT state, village FROM incidents WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .ok_or_else(|| StoreError::NoIncident(id.into()))?;
        // An incident outside the user's villages is one they cannot know of: the same answer
        // as none, naming no village.
        if !user.sees(&village) {
            return Err(StoreError::NoIncident(id.into()));
        }
        if !user.may_act(&village) {
            return Err(StoreError::Refused(format!(
                "{} may not act on incidents",
                user.username
            )));
        }
        let from = State::parse(&state).unwrap_or(State::New);
        let to = transition(from, action).map_err(StoreError::Refused)?;
        tx.execute(
            "UPDATE incidents SET state = ?2 WHERE id = ?1",
            params![id, to.as_str()],
        )?;
        tx.execute(
            "INSERT INTO actions (incident, username, action, from_state, to_state, note, at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                id,
                user.username,
                action.as_str(),
                from.as_str(),
                to.as_str(),
                note,
                now.0
            ],
        )?;
        tx.execute(
            "INSERT INTO audit (at_ms, username, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                now.0,
                user.username,
                action.as_str(),
                format!("incident {id}"),
                format!("{} -> {}; note: {note}", from.as_str(), to.as_str())
            ],
        )?;
        tx.commit()?;
        drop(conn);
        self.incident(id)?
            .ok_or_else(|| StoreError::NoIncident(id.into()))
    }

    /// Appends one audit line (sign-in, sign-out, user management).
    pub fn audit(
        &self,
        now: UnixMillis,
        username: &str,
        action: &str,
        target: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO audit (at_ms, username, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![now.0, username, action, target, detail],
        )?;
        Ok(())
    }

    /// The newest `limit` audit lines, newest first.
    pub fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT at_ms, username, action, target, detail FROM audit ORDER BY seq DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            Ok(AuditEntry {
                time: rfc(r.get(0)?),
                username: r.get(1)?,
                action: r.get(2)?,
                target: r.get(3)?,
                detail: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Creates or replaces a user, and ends the sessions of the one it replaces (in the same
    /// transaction): whoever signed in with the old password, role or villages signs in again.
    pub fn put_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        villages: &BTreeSet<String>,
        now: UnixMillis,
    ) -> Result<(), StoreError> {
        let villages = serde_json::to_string(villages).expect("strings encode");
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO users (username, password_hash, role, villages, created_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(username) DO UPDATE SET \
             password_hash = ?2, role = ?3, villages = ?4",
            params![username, password_hash, role.as_str(), villages, now.0],
        )?;
        tx.execute("DELETE FROM sessions WHERE username = ?1", [username])?;
        tx.commit()?;
        Ok(())
    }

    /// Removes a user and their sessions. False when there was no such user.
    pub fn remove_user(&self, username: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let removed = tx.execute("DELETE FROM users WHERE username = ?1", [username])? == 1;
        tx.execute("DELETE FROM sessions WHERE username = ?1", [username])?;
        tx.commit()?;
        Ok(removed)
    }

    /// Sets a user's password hash and ends their sessions. False when there is no such user.
    pub fn set_password(&self, username: &str, password_hash: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let found = tx.execute(
            "UPDATE users SET password_hash = ?2 WHERE username = ?1",
            params![username, password_hash],
        )? == 1;
        tx.execute("DELETE FROM sessions WHERE username = ?1", [username])?;
        tx.commit()?;
        Ok(found)
    }

    /// (user, password hash) of `username`.
    pub fn user(&self, username: &str) -> Result<Option<(User, String)>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT username, role, villages, password_hash FROM users WHERE username = ?1",
                [username],
                |r| {
                    let role: String = r.get(1)?;
                    let villages: String = r.get(2)?;
                    Ok((
                        User {
                            username: r.get(0)?,
                            role: Role::parse(&role).unwrap_or(Role::Viewer),
                            villages: serde_json::from_str(&villages).unwrap_or_default(),
                        },
                        r.get::<_, String>(3)?,
                    ))
                },
            )
            .optional()?)
    }

    pub fn create_session(
        &self,
        token_hash: &str,
        username: &str,
        csrf: &str,
        expires: UnixMillis,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO sessions (token_hash, username, csrf, expires_ms) VALUES (?1, ?2, ?3, ?4)",
            params![token_hash, username, csrf, expires.0],
        )?;
        Ok(())
    }

    /// The user and CSRF token of a live session; expired sessions are deleted.
    pub fn session(
        &self,
        token_hash: &str,
        now: UnixMillis,
    ) -> Result<Option<(User, String)>, StoreError> {
        let found: Option<(String, String)> = {
            let conn = self.conn();
            conn.execute("DELETE FROM sessions WHERE expires_ms <= ?1", [now.0])?;
            conn.query_row(
                "SELECT username, csrf FROM sessions WHERE token_hash = ?1",
                [token_hash],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
        };
        match found {
            None => Ok(None),
            Some((username, csrf)) => Ok(self.user(&username)?.map(|(u, _)| (u, csrf))),
        }
    }

    /// The user of a session that is still live at `now`, as the database says now (another
    /// process, `sharpeyes user …`, may have changed or removed them). Reads only: the live
    /// feed asks this every second for every page.
    pub fn session_user(
        &self,
        token_hash: &str,
        now: UnixMillis,
    ) -> Result<Option<User>, StoreError> {
        let username: Option<String> = self
            .conn()
            .query_row(
                "SELECT username FROM sessions WHERE token_hash = ?1 AND expires_ms > ?2",
                params![token_hash, now.0],
                |r| r.get(0),
            )
            .optional()?;
        match username {
            None => Ok(None),
            Some(username) => Ok(self.user(&username)?.map(|(u, _)| u)),
        }
    }

    /// Retention: deletes incidents whose last alert is older than `incidents_before` (with
    /// their alerts, actions and snapshots) and audit records older than `audit_before`.
    /// Returns (incidents, audit records) deleted.
    pub fn sweep(
        &self,
        incidents_before: Option<UnixMillis>,
        audit_before: Option<UnixMillis>,
    ) -> Result<(usize, usize), StoreError> {
        let mut pictures = Vec::new();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut incidents = 0;
        if let Some(before) = incidents_before {
            {
                let mut stmt = tx.prepare(
                    "SELECT a.id FROM alerts a JOIN incidents i ON a.incident = i.id \
                     WHERE i.last_ms < ?1",
                )?;
                for id in stmt.query_map([before.0], |r| r.get::<_, String>(0))? {
                    pictures.push(id?);
                }
            }
            tx.execute(
                "DELETE FROM alerts WHERE incident IN (SELECT id FROM incidents WHERE last_ms < ?1)",
                [before.0],
            )?;
            tx.execute(
                "DELETE FROM actions WHERE incident IN \
                 (SELECT id FROM incidents WHERE last_ms < ?1)",
                [before.0],
            )?;
            incidents = tx.execute("DELETE FROM incidents WHERE last_ms < ?1", [before.0])?;
        }
        let audit = match audit_before {
            Some(before) => tx.execute("DELETE FROM audit WHERE at_ms < ?1", [before.0])?,
            None => 0,
        };
        tx.commit()?;
        drop(conn);
        for id in pictures {
            if let Some(p) = self.snapshots.path_for(&id) {
                let _ = std::fs::remove_file(p);
            }
            self.clips.remove(&id);
        }
        Ok((incidents, audit))
    }

    /// The snapshots this command center has received.
    pub fn snapshots(&self) -> &crate::snapshots::SnapshotStore {
        &self.snapshots
    }

    /// The event clips this command center has received.
    pub fn clips(&self) -> &crate::clips::ClipStore {
        &self.clips
    }

    /// (id of the alert whose clip it is, village) of incident `id`, if one of its alerts names
    /// a clip (the `new` one); the clip is in [`Store::clips`] once it has arrived. What the
    /// alert says its path was is never used.
    pub fn clip_alert(&self, id: &str) -> Result<Option<(String, String)>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT a.id, i.village FROM alerts a JOIN incidents i ON a.incident = i.id \
                 WHERE i.id = ?1 AND json_extract(a.json, '$.clip') IS NOT NULL \
                 ORDER BY a.event_ms LIMIT 1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// The incident alert `alert_id` belongs to, if it is known.
    pub fn incident_of(&self, alert_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT incident FROM alerts WHERE id = ?1",
                [alert_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// (id of the alert whose picture it is, village) of incident `id`, if its alerts had a
    /// picture; the picture is in [`Store::snapshots`] once it has arrived.
    pub fn snapshot_alert(&self, id: &str) -> Result<Option<(String, String)>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT snapshot, village FROM incidents WHERE id = ?1 AND snapshot IS NOT NULL",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// Keeps `letter` in `dead_letters` (never swept by retention). Returns false when the
    /// same message (topic, partition, offset and payload) is there already: read again after
    /// a restart that came before its offset was committed.
    pub fn dead_letter(&self, letter: &DeadLetter, now: UnixMillis) -> Result<bool, StoreError> {
        let added = self.conn().execute(
            "INSERT INTO dead_letters (at_ms, topic, kafka_partition, kafka_offset, msg_key, \
               payload, event_id, reason, attempts) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 WHERE NOT EXISTS (SELECT 1 FROM \
               dead_letters WHERE topic = ?2 AND kafka_partition = ?3 AND kafka_offset = ?4 \
               AND payload = ?6)",
            params![
                now.0,
                letter.topic,
                letter.partition,
                letter.offset,
                letter.key,
                letter.payload,
                letter.event_id,
                letter.reason,
                letter.attempts
            ],
        )?;
        Ok(added == 1)
    }

    /// The newest `limit` dead letters, newest first, with when they were kept.
    pub fn dead_letters(&self, limit: u32) -> Result<Vec<(String, DeadLetter)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT at_ms, topic, kafka_partition, kafka_offset, msg_key, payload, event_id, \
             reason, attempts FROM dead_letters ORDER BY seq DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            Ok((
                rfc(r.get(0)?),
                DeadLetter {
                    topic: r.get(1)?,
                    partition: r.get(2)?,
                    offset: r.get(3)?,
                    key: r.get(4)?,
                    payload: r.get(5)?,
                    event_id: r.get(6)?,
                    reason: r.get(7)?,
                    attempts: r.get(8)?,
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
        Ok(())
    }
}

/// The feed's query; `?6`: [`scope`], `?7`: the limit. Scoped to some villages, it reads
/// through `incidents_village_last` (told so: without statistics SQLite would rather walk
/// the whole county's incidents by time than sort a village's few).
fn incidents_sql(scoped: bool) -> String {
    let from = if scoped {
        INCIDENT_SELECT.replace(
            "FROM incidents",
            "FROM incidents INDEXED BY incidents_village_last",
        )
    } else {
        INCIDENT_SELECT.to_owned()
    };
    format!(
        "{from} WHERE {} AND (?1 IS NULL OR village = ?1) AND (?2 IS NULL OR camera_id = ?2) \
         AND (?3 IS NULL OR kind = ?3) AND (?4 IS NULL OR severity = ?4) \
         AND (?5 IS NULL OR state = ?5) ORDER BY last_ms DESC, id DESC LIMIT ?7",
        scope_sql(6)
    )
}

/// The villages a user sees, as SQL on parameter `?{n}`: [`scope`]'s JSON array, NULL for
/// everything.
fn scope_sql(n: u8) -> String {
    format!("(?{n} IS NULL OR village IN (SELECT value FROM json_each(?{n})))")
}

/// The parameter of [`scope_sql`]: None for an admin, else the user's villages as JSON.
fn scope(user: &User) -> Option<String> {
    (user.role != Role::Admin)
        .then(|| serde_json::to_string(&user.villages).expect("strings encode"))
}

const INCIDENT_SELECT: &str = "SELECT id, camera_id, camera_name, village, kind, severity, zone, \
    lifecycle, state, first_ms, last_ms, message, snapshot, alert_json FROM incidents";

fn incident_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<IncidentRow> {
    let state: String = r.get(8)?;
    let json: String = r.get(13)?;
    Ok(IncidentRow {
        id: r.get(0)?,
        camera_id: r.get(1)?,
        camera_name: r.get(2)?,
        village: r.get(3)?,
        kind: r.get(4)?,
        severity: r.get(5)?,
        zone: r.get(6)?,
        lifecycle: r.get(7)?,
        state: State::parse(&state).unwrap_or(State::New),
        first_time: rfc(r.get(9)?),
        last_time: rfc(r.get(10)?),
        message: r.get(11)?,
        has_snapshot: r.get::<_, Option<String>>(12)?.is_some(),
        alert: serde_json::from_str(&json).unwrap_or(serde_json::Value::Null),
    })
}

fn camera_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CameraRow> {
    Ok(CameraRow {
        id: r.get(0)?,
        name: r.get(1)?,
        village: r.get(2)?,
        state: r.get(3)?,
        reason: r.get(4)?,
        since: rfc(r.get(5)?),
        reconnects: r.get::<_, i64>(6)?.max(0) as u64,
        fps: r.get(7)?,
        last_frame: r.get::<_, Option<i64>>(8)?.map(rfc),
        worker: r.get(9)?,
        tampered: r
            .get::<_, Option<String>>(10)?
            .map(|t| {
                t.split(',')
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sharpeyes_core::{CameraId, CameraRef, CameraState, Clock, SystemClock};

    const T: i64 = 1_795_459_860_000;

    fn memory() -> Store {
        Store::open(Path::new(":memory:")).expect("in-memory store")
    }

    fn cam(id: &str, village: &str) -> CameraRef {
        CameraRef {
            id: CameraId::new(id).expect("id"),
            name: format!("{id} name"),
            village: village.into(),
        }
    }

    pub(super) fn operator_of(village: &str) -> User {
        User {
            username: format!("op-{village}"),
            role: Role::Operator,
            villages: [village.to_owned()].into(),
        }
    }

    fn heartbeat(id: &str, t: i64, state: CameraState, fps: f64, last: Option<i64>) -> StatusEvent {
        StatusEvent::heartbeat(
            cam(id, "Xiaohe"),
            UnixMillis(t),
            state,
            fps,
            last.map(UnixMillis),
        )
        .with_worker(Some("w2".into()))
    }

    #[test]
    fn a_heartbeat_sets_fps_last_frame_and_worker_but_never_the_state() {
        let s = memory();
        let online = StatusEvent::new(
            cam("gate", "Xiaohe"),
            UnixMillis(T),
            CameraState::Online,
            None,
        )
        .with_worker(Some("w1".into()));
        let before = s.ingest_status(&online).unwrap();
        assert_eq!(before.worker.as_deref(), Some("w1"));
        assert_eq!((before.fps, &before.last_frame), (None, &None));
        // A heartbeat that (wrongly) says stalled, 10 s later, from another worker.
        let row = s
            .ingest_status(&heartbeat(
                "gate",
                T + 10_000,
                CameraState::Stalled,
                12.5,
                Some(T + 9_950),
            ))
            .unwrap();
        assert_eq!(row.state, "online");
        assert_eq!(
            (row.since.as_str(), row.reconnects),
            (before.since.as_str(), 0)
        );
        assert_eq!(row.fps, Some(12.5));
        assert_eq!(row.last_frame, Some(UnixMillis(T + 9_950).to_rfc3339()));
        assert_eq!(row.worker.as_deref(), Some("w2"));
        // No frame in the last heartbeat: the last frame known stays.
        let row = s
            .ingest_status(&heartbeat(
                "gate",
                T + 20_000,
                CameraState::Online,
                0.0,
                None,
            ))
            .unwrap();
        assert_eq!(
            (row.fps, row.last_frame),
            (Some(0.0), Some(UnixMillis(T + 9_950).to_rfc3339()))
        );
    }

    #[test]
    fn a_camera_first_known_from_a_heartbeat_takes_its_state_and_village() {
        let s = memory();
        let row = s
            .ingest_status(&heartbeat("pond", T, CameraState::Connecting, 0.0, None))
            .unwrap();
        assert_eq!(
            (row.state.as_str(), row.village.as_str()),
            ("connecting", "Xiaohe")
        );
        assert_eq!((row.reconnects, row.worker.as_deref()), (0, Some("w2")));
        assert_eq!(s.cameras(&operator_of("Xiaohe")).unwrap(), vec![row]);
        assert!(
            s.cameras(&operator_of("Dahe")).unwrap().is_empty(),
            "village scope"
        );
    }

    #[test]
    fn an_unassigned_camera_has_no_worker_and_no_frame_rate() {
        let s = memory();
        s.ingest_status(&heartbeat("gate", T, CameraState::Online, 15.0, Some(T)))
            .unwrap();
        let row = s
            .ingest_status(&StatusEvent::unassigned(
                cam("gate", "Xiaohe"),
                UnixMillis(T + 1000),
                Some("no worker has capacity".into()),
            ))
            .unwrap();
        assert_eq!(row.state, "unassigned");
        assert_eq!(row.reason.as_deref(), Some("no worker has capacity"));
        assert_eq!((row.worker, row.fps, row.reconnects), (None, None, 0));
        assert_eq!(row.since, UnixMillis(T + 1000).to_rfc3339());
        // Assigned again: online on a worker, which counts no reconnect either.
        let row = s
            .ingest_status(
                &StatusEvent::new(
                    cam("gate", "Xiaohe"),
                    UnixMillis(T + 2000),
                    CameraState::Online,
                    None,
                )
                .with_worker(Some("w3".into())),
            )
            .unwrap();
        assert_eq!(
            (row.state.as_str(), row.worker.as_deref(), row.reconnects),
            ("online", Some("w3"), 0)
        );
    }

    #[test]
    fn tampering_marks_the_camera_until_each_reason_is_restored() {
        let s = memory();
        let at = |ms| UnixMillis(T + ms);
        let online = StatusEvent::new(cam("gate", "Xiaohe"), at(0), CameraState::Online, None);
        s.ingest_status(&online).unwrap();
        let tamper = |ms, on, reason| {
            s.ingest_status(&StatusEvent::tamper(
                cam("gate", "Xiaohe"),
                at(ms),
                CameraState::Online,
                on,
                reason,
            ))
            .unwrap()
        };
        assert_eq!(tamper(1000, true, "frozen").tampered, ["frozen"]);
        assert_eq!(
            tamper(2000, true, "covered").tampered,
            ["covered", "frozen"]
        );
        let row = tamper(3000, false, "frozen");
        assert_eq!(row.tampered, ["covered"]);
        // The camera's state and its time are the health's, not the tampering's.
        assert_eq!(
            (row.state.as_str(), row.since),
            ("online", at(0).to_rfc3339())
        );
        assert!(tamper(4000, false, "covered").tampered.is_empty());
    }

    #[test]
    fn version_1_events_are_still_ingested() {
        let s = memory();
        let v1 = r#"{"schema_version":1,"id":"0190d5a2-7c1e-7000-8000-000000000001","kind":"camera_offline","camera":{"id":"gate","name":"Gate","village":"Xiaohe"},"state":"offline","reason":"connection refused","event_time":"2026-11-23T18:51:00.000Z","emitted_time":"2026-11-23T18:51:00.000Z"}"#;
        let e: StatusEvent = serde_json::from_str(v1).unwrap();
        let row = s.ingest_status(&e).unwrap();
        assert_eq!(
            (row.state.as_str(), row.reconnects, row.worker),
            ("offline", 1, None)
        );
    }

    fn sessions_of(s: &Store, token_hashes: &[&str]) -> Vec<Option<String>> {
        token_hashes
            .iter()
            .map(|h| {
                s.session_user(h, UnixMillis(T))
                    .unwrap()
                    .map(|u| u.username)
            })
            .collect()
    }

    #[test]
    fn replacing_removing_or_re_passwording_a_user_ends_only_their_sessions() {
        let s = memory();
        let x: BTreeSet<String> = ["Xiaohe".to_string()].into();
        let far = UnixMillis(T + 3_600_000);
        s.put_user("wang", "h1", Role::Operator, &x, UnixMillis(T))
            .unwrap();
        s.put_user("li", "h1", Role::Operator, &x, UnixMillis(T))
            .unwrap();
        for (token, user) in [("w1", "wang"), ("w2", "wang"), ("l1", "li")] {
            s.create_session(token, user, "csrf", far).unwrap();
        }
        let all = ["w1", "w2", "l1"];
        assert_eq!(
            sessions_of(&s, &all),
            [Some("wang".into()), Some("wang".into()), Some("li".into())]
        );
        // `user add` again, same role and villages: a new password, so sign in again.
        s.put_user("wang", "h2", Role::Operator, &x, UnixMillis(T))
            .unwrap();
        assert_eq!(sessions_of(&s, &all), [None, None, Some("li".into())]);
        s.create_session("w3", "wang", "csrf", far).unwrap();
        assert!(s.set_password("wang", "h3").unwrap());
        assert_eq!(s.user("wang").unwrap().unwrap().1, "h3");
        assert_eq!(sessions_of(&s, &["w3", "l1"]), [None, Some("li".into())]);
        s.create_session("w4", "wang", "csrf", far).unwrap();
        assert!(s.remove_user("wang").unwrap());
        assert!(s.user("wang").unwrap().is_none());
        assert_eq!(sessions_of(&s, &["w4", "l1"]), [None, Some("li".into())]);
        assert!(!s.remove_user("wang").unwrap(), "already gone");
        assert!(!s.set_password("wang", "h4").unwrap(), "no such user");
    }

    #[test]
    fn a_session_user_is_none_once_expired_and_reflects_the_user_as_stored() {
        let s = memory();
        let x: BTreeSet<String> = ["Xiaohe".to_string()].into();
        s.put_user("wang", "h1", Role::Operator, &x, UnixMillis(T))
            .unwrap();
        s.create_session("w1", "wang", "csrf", UnixMillis(T + 1000))
            .unwrap();
        let user = s.session_user("w1", UnixMillis(T + 999)).unwrap().unwrap();
        assert_eq!((user.role, user.villages), (Role::Operator, x));
        assert_eq!(s.session_user("w1", UnixMillis(T + 1000)).unwrap(), None);
        assert_eq!(s.session_user("nope", UnixMillis(T)).unwrap(), None);
    }

    #[test]
    fn acting_outside_ones_villages_is_no_such_incident() {
        let s = memory();
        let mut a = Alert::new(
            sharpeyes_core::AlertKind::Fall,
            CameraId::new("gate").expect("id"),
            UnixMillis(T),
            &[],
            (640, 360),
        );
        a.camera = cam("gate", "Xiaohe");
        s.ingest_alert(&a).unwrap();
        let village = "Xiaohe";
        let outsider = operator_of("Elsewhere");
        let e = s
            .act(
                &a.incident,
                &outsider,
                Action::Acknowledge,
                "",
                UnixMillis(T),
            )
            .unwrap_err();
        assert!(matches!(e, StoreError::NoIncident(_)), "{e}");
        assert!(!e.to_string().contains(village), "{e}");
        let viewer = User {
            role: Role::Viewer,
            ..operator_of(village)
        };
        let e = s
            .act(&a.incident, &viewer, Action::Acknowledge, "", UnixMillis(T))
            .unwrap_err();
        assert!(matches!(e, StoreError::Refused(_)), "{e}");
    }

    #[test]
    fn only_what_a_message_can_cause_is_not_transient() {
        use rusqlite::ffi;
        let code = |c| StoreError::Db(rusqlite::Error::SqliteFailure(ffi::Error::new(c), None));
        for c in [
            ffi::SQLITE_BUSY,
            ffi::SQLITE_BUSY_SNAPSHOT,
            ffi::SQLITE_LOCKED,
            ffi::SQLITE_FULL,
            ffi::SQLITE_IOERR,
            ffi::SQLITE_IOERR_FSYNC,
            ffi::SQLITE_READONLY,
            ffi::SQLITE_CANTOPEN,
            ffi::SQLITE_NOMEM,
            ffi::SQLITE_CORRUPT,
            ffi::SQLITE_NOTADB,
            ffi::SQLITE_PROTOCOL,
            ffi::SQLITE_ERROR,
        ] {
            assert!(code(c).is_transient(), "{}", code(c));
        }
        for c in [
            ffi::SQLITE_CONSTRAINT,
            ffi::SQLITE_CONSTRAINT_TRIGGER,
            ffi::SQLITE_CONSTRAINT_NOTNULL,
            ffi::SQLITE_TOOBIG,
            ffi::SQLITE_MISMATCH,
            ffi::SQLITE_RANGE,
        ] {
            assert!(!code(c).is_transient(), "{}", code(c));
        }
        assert!(!StoreError::Db(rusqlite::Error::IntegralValueOutOfRange(1, -1)).is_transient());
        assert!(!StoreError::Refused("no".into()).is_transient());
        assert!(!StoreError::NoIncident("i".into()).is_transient());
    }

    #[test]
    fn a_trigger_refusing_one_alert_is_not_transient_and_leaves_others_stored() {
        let s = memory();
        s.conn()
            .execute_batch(
                "CREATE TRIGGER poison BEFORE INSERT ON alerts WHEN NEW.message = 'poison' \
                 BEGIN SELECT RAISE(ABORT, 'poison refused'); END;",
            )
            .unwrap();
        let mut a = Alert::new(
            sharpeyes_core::AlertKind::Fall,
            CameraId::new("gate").expect("id"),
            UnixMillis(T),
            &[],
            (640, 360),
        );
        a.message = Some("poison".into());
        let e = s.ingest_alert(&a).unwrap_err();
        assert!(!e.is_transient(), "{e}");
        assert!(s.incident(&a.incident).unwrap().is_none(), "rolled back");
        a.id = "another".into();
        a.message = Some("fine".into());
        assert!(s.ingest_alert(&a).unwrap().is_some());
    }

    #[test]
    fn an_older_database_gets_the_worker_column() {
        let dir = std::env::temp_dir().join(format!(
            "sharpeyes-store-migrate-{}-{}",
            std::process::id(),
            SystemClock.now().0
        ));
        let path = dir.join("cc.db");
        std::fs::create_dir_all(&dir).unwrap();
        {
            let old = Connection::open(&path).unwrap();
            old.execute_batch(
                "CREATE TABLE cameras (id TEXT PRIMARY KEY, name TEXT NOT NULL, \
                 village TEXT NOT NULL, state TEXT NOT NULL, reason TEXT, \
                 changed_ms INTEGER NOT NULL, reconnects INTEGER NOT NULL DEFAULT 0, fps REAL, \
                 last_frame_ms INTEGER);
                 INSERT INTO cameras VALUES ('gate', 'Gate', 'Xiaohe', 'online', NULL, 0, 2, NULL, NULL);",
            )
            .unwrap();
        }
        let admin = User {
            username: "a".into(),
            role: Role::Admin,
            villages: BTreeSet::new(),
        };
        // Opened twice: the second open finds the column there and keeps what it holds.
        for worker_before in [None, Some("w2")] {
            let s = Store::open(&path).expect("opens and migrates");
            let rows = s.cameras(&admin).unwrap();
            assert_eq!(
                (
                    rows[0].id.as_str(),
                    rows[0].reconnects,
                    rows[0].worker.as_deref()
                ),
                ("gate", 2, worker_before)
            );
            let row = s
                .ingest_status(&heartbeat("gate", T, CameraState::Online, 5.0, None))
                .unwrap();
            assert_eq!(row.worker.as_deref(), Some("w2"));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[cfg(test)]
mod scope_and_retention_tests {
    use super::tests::operator_of;
    use super::*;
    use sharpeyes_core::{AlertKind, CameraId, CameraRef};

    const T: i64 = 1_795_459_860_000;

    fn alert(village: &str, t: i64) -> Alert {
        let mut a = Alert::new(
            AlertKind::Fall,
            CameraId::new("cam").unwrap(),
            UnixMillis(T + t),
            &[],
            (640, 360),
        );
        a.camera = CameraRef {
            id: a.camera.id.clone(),
            name: "cam".into(),
            village: village.into(),
        };
        a
    }

    #[test]
    fn a_scoped_listing_is_filtered_and_limited_in_sql_on_the_village_index() {
        let s = Store::open(Path::new(":memory:")).unwrap();
        for i in 0..50 {
            s.ingest_alert(&alert("Dahe", 1000 + i)).unwrap();
        }
        for i in 0..3 {
            s.ingest_alert(&alert("Xiaohe", i)).unwrap();
        }
        let filter = Filter {
            limit: Some(2),
            ..Filter::default()
        };
        let rows = s.incidents(&operator_of("Xiaohe"), &filter).unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r.village == "Xiaohe"));
        let plan: Vec<String> = {
            let conn = s.conn();
            let mut stmt = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {}", incidents_sql(true)))
                .unwrap();
            let none = None::<String>;
            let params = params![
                none,
                none,
                none,
                none,
                none,
                scope(&operator_of("Xiaohe")),
                2
            ];
            stmt.query_map(params, |r| r.get::<_, String>(3))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        assert!(
            plan.iter().any(|l| l.contains("incidents_village_last")),
            "{plan:?}"
        );
        let synchronous: i64 = s
            .conn()
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(synchronous, 2, "FULL");
    }

    #[test]
    fn retention_deletes_old_incidents_with_their_alerts_and_old_audit_records_only() {
        let s = Store::open(Path::new(":memory:")).unwrap();
        let old = alert("Xiaohe", 0);
        let new = alert("Xiaohe", 86_400_000);
        s.ingest_alert(&old).unwrap();
        s.ingest_alert(&new).unwrap();
        s.audit(UnixMillis(T), "admin", "user_add", "a", "")
            .unwrap();
        s.audit(UnixMillis(T + 86_400_000), "admin", "user_add", "b", "")
            .unwrap();
        let cut = Some(UnixMillis(T + 1000));
        assert_eq!(s.sweep(cut, cut).unwrap(), (1, 1));
        assert!(s.incident(&old.incident).unwrap().is_none());
        assert!(s.incident(&new.incident).unwrap().is_some());
        assert!(s.timeline(&old.incident).unwrap().is_empty());
        assert_eq!(s.audit_log(10).unwrap().len(), 1);
        assert_eq!(
            s.sweep(None, None).unwrap(),
            (0, 0),
            "None keeps everything"
        );
    }
}
