// homeagent's local page: no framework, no external files. Live data comes from server-sent events
// (/api/events); the camera view asks for one snapshot a second, only while it is shown.
"use strict";

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

async function api(path, body) {
  const opts = body === undefined ? {} : {
    method: "POST", body: JSON.stringify(body),
    headers: {"Content-Type": "application/json", "X-Homeagent": "1"},
  };
  const r = await fetch(path, {credentials: "same-origin", ...opts});
  const data = await r.json().catch(() => ({}));
  if (r.status === 401 && path !== "/api/login") showLogin();
  return {ok: r.ok, status: r.status, data};
}

// ---- login ------------------------------------------------------------------------------------------------
function showLogin() { $("#login").hidden = false; $("#token").focus(); }

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const r = await api("/api/login", {token: $("#token").value});
  if (!r.ok) { $("#login-error").textContent = "Wrong token."; return; }
  $("#login").hidden = true;
  start();
});

// ---- views ------------------------------------------------------------------------------------------------
let view = "status";
for (const b of document.querySelectorAll("nav button")) {
  b.addEventListener("click", () => show(b.dataset.view));
}
function show(name) {
  view = name;
  for (const b of document.querySelectorAll("nav button")) b.classList.toggle("active", b.dataset.view === name);
  for (const s of document.querySelectorAll(".view")) s.hidden = s.id !== "view-" + name;
  if (name === "camera") { loadZones(); camera.start(); } else camera.stop();
  if (name === "sentence") loadSet();
}
document.addEventListener("visibilitychange", () => {
  if (document.hidden) camera.stop(); else if (view === "camera") camera.start();
});

// ---- status -----------------------------------------------------------------------------------------------
function stateClass(s) {
  s = String(s);
  if (s === "running" || s === "true") return "good";
  if (s.startsWith("failed") || s.startsWith("stalled") || s === "false") return "bad";
  return "warn";
}
function card(title, rows) {
  const dl = el("dl");
  for (const [k, v] of rows) {
    if (v === undefined || v === null) continue;
    const cls = ["state", "connected", "recognition"].includes(k) ? stateClass(v) : "";
    dl.append(el("dt", {}, k), el("dd", {class: cls}, typeof v === "boolean" ? (v ? "yes" : "no") : v));
  }
  return el("div", {class: "card"}, el("h3", {}, title), dl);
}
function renderStatus(s) {
  $("#site").textContent = s.site_id;
  const cards = [
    card("Audio", Object.entries(s.audio)),
    s.video ? card("Video", Object.entries(s.video)) : card("Video", [["source", "none"]]),
    card("Broker", [["address", s.broker.host + ":" + s.broker.port], ["connected", s.broker.connected],
                    ["outbox", s.broker.outbox]]),
    card("Commands", [["set", s.speech.commands], ["recognizer", s.speech.recognizer], ["model", s.speech.model],
                      ["name", s.speech.model_name || null], ["version", s.speech.model_version],
                      ["swaps", s.speech.generation]]),
    card("Models & OTA", s.ota ? [["state", s.ota.state], ["installed", s.ota.installed_version],
                                  ["latest", s.ota.latest_version]] : [["OTA", "off (no ota.public_key_file)"]]),
    s.fusion ? card("Fusion", Object.entries(s.fusion)) : card("Fusion", [["state", "off (no camera)"]]),
    card("Process", [["CPU", s.process.cpu_percent + " %"], ["RSS", s.process.rss_mb + " MB"],
                     ["uptime", Math.round(s.uptime_s) + " s"]]),
  ];
  $("#cards").replaceChildren(...cards);
}

function addDecision(d) {
  const body = $("#decisions tbody");
  if (body.querySelector(`tr[data-seq="${d.seq}"]`)) return;
  const slots = Object.entries(d.slots || {}).map(([k, v]) => `${k}=${v}`).join(" ");
  const t = new Date(d.time * 1000).toLocaleTimeString();
  const conf = typeof d.confidence === "number" ? d.confidence.toFixed(2) : "–";
  const tr = el("tr", {"data-seq": d.seq, class: "decision " + d.kind},
    el("td", {}, t), el("td", {}, el("span", {class: "kind " + d.kind}, d.kind)),
    el("td", {}, (d.intent || "–") + (slots ? " " + slots : "")), el("td", {}, d.reason),
    el("td", {}, (d.modalities || []).join(" + ") || "–"), el("td", {}, conf));
  body.prepend(tr);
  while (body.rows.length > 50) body.deleteRow(-1);
  $("#no-decisions").hidden = true;
}

// ---- privacy ----------------------------------------------------------------------------------------------
let privacy = {mic_muted: false, camera_off: false};
function renderPrivacy(p) {
  privacy = p;
  $("#mic-muted").checked = p.mic_muted;
  $("#camera-off").checked = p.camera_off;
  document.body.dataset.micMuted = p.mic_muted;
  document.body.dataset.cameraOff = p.camera_off;
  if (p.camera_off) camera.blank("The camera is off (privacy switch): no image is shown or kept.");
}
for (const [id, key] of [["#mic-muted", "mic_muted"], ["#camera-off", "camera_off"]]) {
  $(id).addEventListener("change", async (ev) => {
    const r = await api("/api/privacy", {[key]: ev.target.checked});
    if (r.ok) renderPrivacy(r.data); else ev.target.checked = !ev.target.checked;
  });
}

// ---- live events ------------------------------------------------------------------------------------------
let events = null;
function connect() {
  if (events) events.close();
  events = new EventSource("/api/events");
  events.addEventListener("decision", (e) => addDecision(JSON.parse(e.data)));
  events.addEventListener("privacy", (e) => renderPrivacy(JSON.parse(e.data)));
  events.addEventListener("status", (e) => renderStatus(JSON.parse(e.data)));
  events.onopen = () => { $("#link").textContent = "live"; $("#link").className = "pill ok"; };
  events.onerror = () => { $("#link").textContent = "reconnecting"; $("#link").className = "pill bad"; };
}

async function start() {
  const r = await api("/api/status");
  if (!r.ok) return;
  renderStatus(r.data.status);
  if (r.data.privacy) renderPrivacy(r.data.privacy);
  for (const d of r.data.decisions) addDecision(d);
  connect();
  if (view === "camera") camera.start();
}

// ---- try a sentence ---------------------------------------------------------------------------------------
let setLoaded = false;
async function loadSet() {
  if (setLoaded) return;
  const r = await api("/api/sentence");
  if (!r.ok) return;
  setLoaded = true;
  const s = r.data;
  $("#set-name").textContent = s.name + (s.error ? " – " + s.error : "");
  $("#set-slots").replaceChildren(...Object.entries(s.slots).map(([k, vs]) =>
    el("div", {class: "intent"}, el("b", {}, "{" + k + "}"), " ", vs.join(", "))));
  $("#set-intents").replaceChildren(...Object.entries(s.intents).map(([k, ss]) =>
    el("div", {class: "intent"}, el("b", {}, k), ": ", ss.join(" · "))));
}
$("#sentence-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const r = await api("/api/sentence", {sentence: $("#sentence").value});
  const out = $("#sentence-result");
  if (!r.ok) { out.textContent = r.data.error || "refused"; return; }
  const d = r.data;
  const slots = (o) => Object.entries(o || {}).map(([k, v]) => `${k}=${v}`).join(", ");
  if (d.intent) {
    out.replaceChildren(el("div", {class: "intent match"}, "intent ", el("b", {}, d.intent),
                           Object.keys(d.slots).length ? " with slots " + slots(d.slots) : " (no slots)"));
  } else {
    const parts = [el("div", {class: "intent nomatch"}, "no intent: " + d.why)];
    if (d.closest) parts.push(el("div", {class: "muted"}, `closest: "${d.closest.sentence}" → ${d.closest.intent}`
      + (Object.keys(d.closest.slots).length ? " (" + slots(d.closest.slots) + ")" : "")
      + ` – ${Math.round(d.closest.similarity * 100)} % alike`));
    out.replaceChildren(...parts);
  }
});

// ---- camera and zones -------------------------------------------------------------------------------------
const zones = {};     // name -> {device, polygon: [[x, y], ...]}
let selected = null;
let frame = null;     // the last snapshot: {img, width, height, hands}
const canvas = $("#zone-canvas");
const ctx = canvas.getContext("2d");

const camera = {
  timer: null,
  start() { if (!this.timer) this.tick(); },
  stop() { clearTimeout(this.timer); this.timer = null; },
  async tick() {
    this.timer = -1;
    const r = await api("/api/snapshot");
    if (this.timer === null) return;  // stopped meanwhile
    const d = r.data;
    if (d.camera_off) this.blank("The camera is off (privacy switch): no image is shown or kept.");
    else if (d.no_camera) this.blank("This agent has no camera.");
    else if (d.image) {
      const img = new Image();
      img.onload = () => { frame = {img, width: d.width, height: d.height, hands: d.hands}; draw(); };
      img.src = d.image;
      $("#camera-note").textContent = "";
    }
    this.timer = setTimeout(() => this.tick(), 1000);
  },
  blank(text) { frame = null; $("#camera-note").textContent = text; draw(); },
};

function draw() {
  if (frame && (canvas.width !== frame.width || canvas.height !== frame.height)) {
    canvas.width = frame.width; canvas.height = frame.height;
  }
  ctx.fillStyle = "#111"; ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (frame) ctx.drawImage(frame.img, 0, 0, canvas.width, canvas.height);
  const lw = Math.max(2, canvas.width / 320);
  for (const [name, z] of Object.entries(zones)) {
    const sel = name === selected;
    ctx.beginPath();
    z.polygon.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.closePath();
    ctx.fillStyle = sel ? "rgba(37, 99, 235, .30)" : "rgba(250, 204, 21, .22)";
    ctx.strokeStyle = sel ? "#60a5fa" : "#facc15"; ctx.lineWidth = lw;
    ctx.fill(); ctx.stroke();
    ctx.fillStyle = "#fff"; ctx.font = `${Math.round(lw * 7)}px system-ui`;
    const top = Math.min(...z.polygon.map((q) => q[1])), left = Math.min(...z.polygon.map((q) => q[0]));
    ctx.fillText(name + (z.device ? " → " + z.device : ""), left + 4, top > lw * 9 ? top - lw * 2 : top + lw * 8);
    if (sel) for (const [x, y] of z.polygon) { ctx.fillStyle = "#fff"; ctx.fillRect(x - lw * 2, y - lw * 2, lw * 4, lw * 4); }
  }
  for (const h of (frame ? frame.hands : [])) drawHand(h, lw);
}

const BONES = [[0, 1], [1, 2], [2, 3], [3, 4], [0, 5], [5, 6], [6, 7], [7, 8], [5, 9], [9, 10], [10, 11], [11, 12],
               [9, 13], [13, 14], [14, 15], [15, 16], [13, 17], [0, 17], [17, 18], [18, 19], [19, 20]];
function drawHand(h, lw) {
  const p = h.landmarks;
  ctx.strokeStyle = "#34d399"; ctx.lineWidth = lw;
  for (const [a, b] of BONES) { ctx.beginPath(); ctx.moveTo(...p[a]); ctx.lineTo(...p[b]); ctx.stroke(); }
  ctx.fillStyle = "#10b981";
  for (const [x, y] of p) { ctx.beginPath(); ctx.arc(x, y, lw * 1.5, 0, 7); ctx.fill(); }
  const [ox, oy] = h.ray.origin, [dx, dy] = h.ray.direction, far = 4 * Math.max(canvas.width, canvas.height);
  ctx.strokeStyle = h.target ? "#f43f5e" : "rgba(244, 63, 94, .6)"; ctx.setLineDash([lw * 4, lw * 3]);
  ctx.beginPath(); ctx.moveTo(ox, oy); ctx.lineTo(ox + dx * far, oy + dy * far); ctx.stroke(); ctx.setLineDash([]);
}

// mouse: image coordinates of an event
function at(ev) {
  const r = canvas.getBoundingClientRect();
  return [(ev.clientX - r.left) * canvas.width / r.width, (ev.clientY - r.top) * canvas.height / r.height];
}
function inside([x, y], poly) {
  let inn = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i], [xj, yj] = poly[j];
    if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) inn = !inn;
  }
  return inn;
}
let drag = null;
canvas.addEventListener("mousedown", (ev) => {
  const p = at(ev), grab = 10 * canvas.width / canvas.getBoundingClientRect().width;
  if (selected && zones[selected]) {
    const k = zones[selected].polygon.findIndex(([x, y]) => Math.hypot(x - p[0], y - p[1]) <= grab);
    if (k >= 0) { drag = {mode: "vertex", k, last: p}; return; }
  }
  const hit = Object.keys(zones).reverse().find((n) => inside(p, zones[n].polygon));
  if (hit) { select(hit); drag = {mode: "move", last: p}; return; }
  drag = {mode: "draw", start: p, name: null};
});
window.addEventListener("mousemove", (ev) => {
  if (!drag) return;
  const p = at(ev);
  if (drag.mode === "draw") {
    if (!drag.name && Math.hypot(p[0] - drag.start[0], p[1] - drag.start[1]) < 6) return;
    if (!drag.name) { drag.name = freeName(); zones[drag.name] = {device: "", polygon: []}; select(drag.name); }
    const [x0, y0] = drag.start;
    zones[drag.name].polygon = [[x0, y0], [p[0], y0], [p[0], p[1]], [x0, p[1]]];
  } else if (drag.mode === "move") {
    const dx = p[0] - drag.last[0], dy = p[1] - drag.last[1];
    zones[selected].polygon = zones[selected].polygon.map(([x, y]) => [x + dx, y + dy]);
  } else {
    zones[selected].polygon[drag.k] = p;
  }
  drag.last = p;
  draw();
});
window.addEventListener("mouseup", () => { if (drag) { drag = null; renderZoneList(); draw(); } });

function freeName() { let i = 1; while (zones["zone" + i]) i++; return "zone" + i; }
function select(name) {
  selected = name;
  $("#zone-editor").hidden = !name;
  if (name) { $("#zone-name").value = name; $("#zone-device").value = zones[name].device; }
  renderZoneList(); draw();
}
function renderZoneList() {
  $("#zone-list").replaceChildren(...Object.entries(zones).map(([n, z]) => {
    const li = el("li", {class: n === selected ? "sel" : ""}, n, " → ", z.device || "(no device)");
    li.addEventListener("click", () => select(n));
    return li;
  }));
}
$("#zone-name").addEventListener("change", (ev) => {
  const name = ev.target.value.trim();
  if (!selected || !name || name === selected) return;  // an emptied box keeps the name until one is typed
  if (zones[name]) { ev.target.value = selected; return; }
  zones[name] = zones[selected]; delete zones[selected]; select(name);
});
$("#zone-device").addEventListener("input", (ev) => {
  if (selected) { zones[selected].device = ev.target.value.trim(); renderZoneList(); draw(); }
});
$("#zone-delete").addEventListener("click", () => { if (selected) { delete zones[selected]; select(null); } });

async function loadZones() {
  const r = await api("/api/zones");
  if (!r.ok) return;
  for (const k of Object.keys(zones)) delete zones[k];
  Object.assign(zones, r.data.zones);
  $("#devices").replaceChildren(...r.data.devices.map((d) => el("option", {value: d})));
  $("#zones-save").disabled = !r.data.editable;
  if (!r.data.editable) $("#zones-result").textContent = "Read only: the daemon runs without a config file.";
  select(null);
}
$("#zones-save").addEventListener("click", async () => {
  const out = $("#zones-result");
  const body = {};
  for (const [n, z] of Object.entries(zones)) {
    body[n] = {device: z.device, polygon: z.polygon.map(([x, y]) => [Math.round(x * 10) / 10, Math.round(y * 10) / 10])};
  }
  const r = await api("/api/zones", {zones: body});
  out.className = r.ok ? "good" : "error";
  out.textContent = r.ok ? "Saved: the agent uses these zones now." : (r.data.problems || [r.data.error]).join("\n");
});

start();
