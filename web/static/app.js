// Sharp Eyes command center page. No framework: fetch + EventSource. The server decides what
// this user may see; the page only shows it.
"use strict";

const $ = (id) => document.getElementById(id);
let csrf = "";
let me = null;
let incidents = new Map(); // id -> row
let cameras = new Map(); // id -> row
let selected = null;
let clipPoll = null; // timer: the detail asks again while its clip is pending
let soundOn = true;
let source = null;

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json" };
  if (options.method && options.method !== "GET") headers["X-CSRF-Token"] = csrf;
  const r = await fetch(path, { credentials: "same-origin", ...options, headers });
  if (r.status === 401) { showLogin(); throw new Error("signed out"); }
  const body = r.status === 204 ? null : await r.json();
  if (!r.ok) throw new Error(body && body.error ? body.error : `HTTP ${r.status}`);
  return body;
}

function showLogin() {
  if (source) { source.close(); source = null; }
  $("app").hidden = true;
  $("login").hidden = false;
}

async function start() {
  try {
    const r = await fetch("/api/me", { credentials: "same-origin" });
    if (r.status !== 200) return showLogin();
    const body = await r.json();
    enter(body);
  } catch (e) {
    showLogin();
  }
}

function enter(body) {
  me = body.user;
  csrf = body.csrf;
  $("login").hidden = true;
  $("app").hidden = false;
  const scope = me.role === "admin" ? "all villages" : me.villages.join(", ") || "no villages";
  $("who").textContent = `${me.username} (${me.role}; ${scope})`;
  document.body.dataset.role = me.role;
  reload();
  connect();
  // In-process fps and last frames change without status events: refresh the grid now and then
  // (heartbeats from workers come as `camera` events too).
  if (!window.healthTimer) {
    window.healthTimer = setInterval(() => {
      if (!me || $("app").hidden) return;
      api("/api/cameras").then((cams) => {
        cameras = new Map(cams.map((c) => [c.id, c]));
        renderCameras();
      }).catch(() => {});
    }, 10000);
  }
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("login-error").textContent = "";
  try {
    const r = await fetch("/api/login", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: $("username").value, password: $("password").value }),
    });
    const body = await r.json();
    if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
    $("password").value = "";
    enter(body);
  } catch (err) {
    $("login-error").textContent = err.message;
  }
});

$("logout").addEventListener("click", async () => {
  try { await api("/api/logout", { method: "POST" }); } catch (e) { /* signed out anyway */ }
  showLogin();
});

$("sound").addEventListener("click", () => {
  soundOn = !soundOn;
  $("sound").textContent = soundOn ? "Sound: on" : "Sound: off";
});

for (const id of ["f-village", "f-camera", "f-kind", "f-severity", "f-state"]) {
  $(id).addEventListener("change", render);
}

async function reload() {
  const [rows, cams] = await Promise.all([api("/api/incidents?limit=500"), api("/api/cameras")]);
  incidents = new Map(rows.map((r) => [r.id, r]));
  cameras = new Map(cams.map((c) => [c.id, c]));
  render();
  renderCameras();
}

function connect() {
  if (source) source.close();
  setConn("connecting", "connecting…");
  source = new EventSource("/api/events");
  source.addEventListener("hello", () => {
    setConn("live", "live");
    reload().catch(() => {});
  });
  source.addEventListener("incident", (e) => {
    const row = JSON.parse(e.data);
    const isNew = !incidents.has(row.id);
    incidents.set(row.id, row);
    render();
    if (isNew && row.severity === "critical") cue();
    if (selected === row.id) showDetail(row.id);
  });
  source.addEventListener("camera", (e) => {
    const c = JSON.parse(e.data);
    cameras.set(c.id, c);
    renderCameras();
  });
  source.addEventListener("resync", () => reload().catch(() => {}));
  // EventSource reconnects by itself; say so while it does, and check the session.
  source.onerror = () => {
    setConn("lost", "connection lost — reconnecting…");
    fetch("/api/me", { credentials: "same-origin" })
      .then((r) => { if (r.status === 401) showLogin(); })
      .catch(() => {});
  };
}

function setConn(state, text) {
  const c = $("conn");
  c.dataset.state = state;
  c.textContent = text;
}

function cue() {
  if (!soundOn) return;
  try {
    const ctx = new (window.AudioContext || window.webkitAudioContext)();
    const o = ctx.createOscillator();
    const g = ctx.createGain();
    o.frequency.value = 880;
    g.gain.value = 0.2;
    o.connect(g).connect(ctx.destination);
    o.start();
    o.stop(ctx.currentTime + 0.4);
  } catch (e) { /* no audio device */ }
}

function option(select, value) {
  if ([...select.options].some((o) => o.value === value)) return;
  const o = document.createElement("option");
  o.value = value;
  o.textContent = value;
  select.appendChild(o);
}

function render() {
  const f = {
    village: $("f-village").value, camera: $("f-camera").value, kind: $("f-kind").value,
    severity: $("f-severity").value, state: $("f-state").value,
  };
  const rows = [...incidents.values()].sort((a, b) => (a.last_time < b.last_time ? 1 : -1));
  for (const r of rows) { option($("f-village"), r.village); option($("f-camera"), r.camera_id); }
  const shown = rows.filter((r) =>
    (!f.village || r.village === f.village) && (!f.camera || r.camera_id === f.camera) &&
    (!f.kind || r.kind === f.kind) && (!f.severity || r.severity === f.severity) &&
    (!f.state || r.state === f.state));
  const list = $("incidents");
  list.replaceChildren(...shown.map(item));
  $("empty").hidden = shown.length > 0;
  $("empty").textContent = rows.length ? "No alerts match the filters." : "No alerts. All quiet.";
}

function item(r) {
  const li = document.createElement("li");
  const open = r.state === "new" || r.state === "acknowledged" || r.state === "dispatched";
  li.className = `incident ${r.severity}${open ? " open" : ""}${selected === r.id ? " selected" : ""}`;
  li.dataset.id = r.id;
  li.dataset.kind = r.kind;
  li.dataset.village = r.village;
  li.dataset.state = r.state;
  let img;
  if (r.has_snapshot) {
    img = document.createElement("img");
    img.alt = "snapshot";
    img.src = `/api/incidents/${encodeURIComponent(r.id)}/snapshot`;
  } else {
    img = document.createElement("div");
    img.className = "nosnap";
    img.textContent = "no picture";
  }
  const text = document.createElement("div");
  const kind = document.createElement("div");
  kind.className = "kind";
  kind.textContent = `${r.kind.replaceAll("_", " ")}${r.zone ? " · " + r.zone : ""}`;
  const where = document.createElement("div");
  where.className = "muted";
  where.textContent = `${r.camera_name} · ${r.village} · ${new Date(r.last_time).toLocaleString()}`;
  const msg = document.createElement("div");
  msg.textContent = r.message || "";
  text.append(kind, where, msg);
  const state = document.createElement("span");
  state.className = `state ${r.state}`;
  state.textContent = r.state.replace("_", " ");
  li.append(img, text, state);
  li.addEventListener("click", () => showDetail(r.id));
  return li;
}

async function showDetail(id) {
  selected = id;
  for (const li of document.querySelectorAll(".incident")) {
    li.classList.toggle("selected", li.dataset.id === id);
  }
  const d = await api(`/api/incidents/${encodeURIComponent(id)}`);
  const r = d.incident;
  $("detail").hidden = false;
  $("detail").dataset.id = r.id;
  $("d-title").textContent = `${r.kind.replaceAll("_", " ")} (${r.severity})`;
  $("d-where").textContent = `${r.camera_name} · ${r.village}${r.zone ? " · zone " + r.zone : ""} · since ${new Date(r.first_time).toLocaleString()}`;
  const objects = (r.alert && r.alert.objects) || [];
  const tracks = objects
    .map((o) => `${o.class}${o.track_id != null ? " #" + o.track_id : ""} (${Math.round(o.score * 100)} %)`)
    .join(", ");
  $("d-message").textContent = (r.message || "") + (tracks ? ` — tracks: ${tracks}` : "");
  $("d-state").textContent = r.state.replace("_", " ");
  const img = $("d-snapshot");
  img.hidden = !r.has_snapshot;
  if (r.has_snapshot) img.src = `/api/incidents/${encodeURIComponent(r.id)}/snapshot`;
  showClip(r.id, d.clip);
  const canAct = me.role !== "viewer";
  const allowed = {
    new: ["acknowledge", "false_alarm"],
    acknowledged: ["dispatch", "resolve", "false_alarm"],
    dispatched: ["resolve", "false_alarm"],
  }[r.state] || [];
  for (const b of document.querySelectorAll("#d-actions button")) {
    b.disabled = !canAct || !allowed.includes(b.dataset.action);
  }
  $("d-note").disabled = !canAct;
  $("d-error").textContent = "";
  $("d-timeline").replaceChildren(...d.timeline.map((t) => {
    const li = document.createElement("li");
    li.textContent = `${new Date(t.time).toLocaleTimeString()} — ${t.what === "action" ? t.username + ": " : ""}${t.detail}`;
    return li;
  }));
}

// The event clip: `clip` is null (none), "pending" (written after the alert; the incident is
// sent again when it arrives, and the detail also asks every 5 s) or "ready".
function showClip(id, clip) {
  const video = $("d-clip");
  const url = `/api/incidents/${encodeURIComponent(id)}/clip`;
  video.hidden = clip !== "ready";
  $("d-clip-note").hidden = clip !== "pending";
  if (clip === "ready") {
    // Set once: the detail is shown again on every change of the incident, mid-play.
    if (video.dataset.src !== url) {
      video.dataset.src = url;
      video.src = url;
    }
  } else if (video.dataset.src) {
    delete video.dataset.src;
    video.removeAttribute("src");
    video.load();
  }
  clearTimeout(clipPoll);
  if (clip === "pending") {
    clipPoll = setTimeout(() => {
      if (selected === id) showDetail(id).catch(() => {});
    }, 5000);
  }
}

for (const b of document.querySelectorAll("#d-actions button")) {
  b.addEventListener("click", async () => {
    if (!selected) return;
    try {
      const row = await api(`/api/incidents/${encodeURIComponent(selected)}/actions`, {
        method: "POST",
        body: JSON.stringify({ action: b.dataset.action, note: $("d-note").value }),
      });
      $("d-note").value = "";
      incidents.set(row.id, row);
      render();
      showDetail(row.id);
    } catch (e) {
      $("d-error").textContent = e.message;
    }
  });
}

function renderCameras() {
  const grid = $("cameras");
  const byVillage = new Map();
  for (const c of cameras.values()) {
    if (!byVillage.has(c.village)) byVillage.set(c.village, []);
    byVillage.get(c.village).push(c);
  }
  const nodes = [];
  for (const [village, cams] of [...byVillage.entries()].sort()) {
    const h = document.createElement("div");
    h.className = "village";
    h.textContent = village || "(no village)";
    nodes.push(h);
    for (const c of cams.sort((a, b) => a.name.localeCompare(b.name))) {
      const div = document.createElement("div");
      div.className = `camera ${c.state}`;
      div.dataset.id = c.id;
      const fps = c.fps != null ? ` · ${c.fps.toFixed(1)} fps` : "";
      const last = c.last_frame ? ` · last frame ${new Date(c.last_frame).toLocaleTimeString()}` : "";
      div.innerHTML = "";
      const name = document.createElement("div");
      name.textContent = c.name;
      if (c.worker) {
        const worker = document.createElement("span");
        worker.className = "muted worker";
        worker.textContent = ` on ${c.worker}`;
        name.append(worker);
      }
      const state = document.createElement("div");
      state.className = "state";
      state.textContent = c.state.replace("_", " ");
      const more = document.createElement("div");
      more.className = "muted";
      more.textContent = `since ${new Date(c.since).toLocaleTimeString()} · ${c.reconnects} reconnects${fps}${last}${c.reason ? " · " + c.reason : ""}`;
      div.append(name, state, more);
      // Tampering (covered, defocused, moved, frozen): a mark until camera_restored.
      if (c.tampered && c.tampered.length) {
        div.classList.add("tampered");
        const mark = document.createElement("div");
        mark.className = "tamper";
        mark.textContent = `tampered: ${c.tampered.join(", ")}`;
        div.append(mark);
      }
      nodes.push(div);
    }
  }
  grid.replaceChildren(...nodes);
  $("no-cameras").hidden = cameras.size > 0;
}

start();
