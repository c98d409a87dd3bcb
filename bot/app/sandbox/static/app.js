/* Kuaibao sandbox page: one person plays every role. Plain JS, no build step. Every text the bot or a person sent
   is put in with textContent (never as HTML). */
"use strict";

const LANG = (navigator.languages && navigator.languages[0]) || navigator.language || "zh-CN";

const state = {
  strings: {}, timezone: undefined, now: 0, map: { south: -1, north: 1, west: -1, east: 1, places: [], labels: [] }, personas: [], chats: {}, keyboards: {}, commands: [], bot: null,
  current: null, actor: null, unread: {}, live: {}, mapMode: null, mapPoint: null,
};

const $ = (id) => document.getElementById(id);
const t = (key) => state.strings[key] || key;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

async function api(path, body) {
  let response;
  try {
    response = await fetch(`${path}?lang=${encodeURIComponent(LANG)}`, {
      method: "POST",
      headers: body instanceof FormData ? {} : { "Content-Type": "application/json" },
      body: body instanceof FormData ? body : JSON.stringify({ lang: LANG, ...body }),
    });
  } catch (e) {
    toast(t("disconnected")); // the sandbox stopped: nothing was sent
    return null;
  }
  let answer = {};
  try { answer = await response.json(); } catch (e) { answer = { ok: false, error: String(response.status) }; }
  if (!response.ok || answer.ok === false) { toast(answer.error || String(response.status)); return null; }
  return answer;
}

function toast(text) {
  const box = $("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 2600);
}

function popup(text) {
  $("alert-text").textContent = text;
  $("alert-dialog").hidden = false;
}

// ---- personas ---------------------------------------------------------------------------------------
function persona(id) { return state.personas.find((p) => p.id === id); }
function people() { return state.personas.filter((p) => p.kind === "person"); }

function renderPersonas() {
  for (const [listId, kind] of [["people", "person"], ["groups", "group"]]) {
    const list = $(listId);
    list.replaceChildren();
    for (const p of state.personas.filter((x) => x.kind === kind)) {
      const unread = state.unread[p.id] || 0;
      const item = el("li", {
        "data-persona": String(p.id),
        class: [p.id === state.current ? "current" : "", p.active === false ? "inactive" : ""].join(" ").trim(),
        onclick: () => openChat(p.id),
      }, el("span", { class: "name", text: p.name }), el("span", { class: "detail", text: p.detail || "" }));
      if (unread) item.append(el("span", { class: "badge", text: String(unread) }));
      list.append(item);
    }
  }
}

function openChat(id) {
  state.current = id;
  state.unread[id] = 0;
  const p = persona(id);
  if (p && p.kind === "person") state.actor = id;
  if (!state.actor && people().length) state.actor = people()[0].id;
  localStorage.setItem("kuaibao.current", String(id));
  $("layout").classList.add("in-chat");
  closeMenus();
  renderPersonas();
  renderChat();
  $("composer-input").focus();
}

function actor() {
  const p = persona(state.current);
  if (p && p.kind === "person") return p.id;
  return state.actor;
}

// ---- the chat ---------------------------------------------------------------------------------------
function renderChat() {
  const p = persona(state.current);
  const box = $("messages");
  const reading = box.scrollHeight - box.scrollTop - box.clientHeight > 60 && box.dataset.chat === String(state.current);
  const kept = box.scrollTop;
  box.dataset.chat = String(state.current);
  box.replaceChildren();
  $("empty-chat").textContent = p ? "" : t("choose_chat");
  $("composer").hidden = !p;
  if (!p) { $("chat-name").textContent = ""; $("acting").hidden = true; $("reply-keyboard").hidden = true; return; }
  $("chat-name").textContent = p.kind === "person" ? `${p.name} · ${t("private_chat")}` : p.name;
  const acting = $("acting");
  acting.hidden = p.kind !== "group";
  if (p.kind === "group") {
    const select = $("acting-select");
    select.replaceChildren(...people().map((x) => el("option", { value: String(x.id), text: x.name })));
    select.value = String(state.actor);
  }
  const messages = state.chats[String(p.id)] || [];
  for (const m of messages) box.append(...renderMessage(m));
  renderKeyboard();
  box.scrollTop = reading ? kept : box.scrollHeight; // someone reading further up is not pulled down
}

function isBot(m) { return m.from && state.bot && m.from.id === state.bot.id; }

function renderMessage(m) {
  const mine = !isBot(m) && m.from && m.from.id === actor();
  const bubble = el("div", { class: mine ? "msg mine" : "msg", "data-message": String(m.message_id) });
  const group = persona(state.current) && persona(state.current).kind === "group";
  if (!mine && (group || !isBot(m))) {
    const who = isBot(m) ? (state.bot.first_name || "Kuaibao") : ((persona(m.from.id) || {}).name || m.from.first_name);
    bubble.append(el("div", { class: "from", text: who }));
  }
  if (m.photo) {
    const file = m.photo[m.photo.length - 1].file_id;
    bubble.append(el("img", { src: `/api/file/${encodeURIComponent(file)}`, alt: "photo", loading: "lazy" }));
  }
  if (m.document) {
    bubble.append(el("a", {
      href: `/api/file/${encodeURIComponent(m.document.file_id)}`, download: m.document.file_name || "file",
      text: `📄 ${m.document.file_name || m.document.file_id}`,
    }));
  }
  if (m.location) bubble.append(renderPlace(m));
  const text = m.text || m.caption;
  if (text) bubble.append(el("div", { class: "text" }, commandLinks(text)));
  if (m.sticker) bubble.append(el("div", { class: "text", text: m.sticker.emoji || "🙂" }));
  const when = new Date((m.edit_date || m.date) * 1000);
  const stamp = when.toLocaleTimeString(LANG, { hour: "2-digit", minute: "2-digit", timeZone: state.timezone });
  bubble.append(el("div", { class: "meta", text: m.edit_date ? `${t("edited")} ${stamp}` : stamp }));
  const parts = [bubble];
  const rows = (m.reply_markup || {}).inline_keyboard;
  if (rows && rows.length) {
    const ikb = el("div", { class: "ikb" });
    for (const row of rows) {
      const line = el("div", { class: "row" });
      for (const b of row) {
        const button = el("button", { type: "button", text: b.text, "data-button": b.text });
        if (b.callback_data) button.addEventListener("click", () => press(m, b, button));
        else if (b.url) button.addEventListener("click", () => toast(b.url));
        else button.disabled = true;
        line.append(button);
      }
      ikb.append(line);
    }
    parts.push(el("div", { class: mine ? "ikb-wrap mine" : "ikb-wrap" }, ikb));
  }
  return parts;
}

// /commands in a message can be tapped, as in Telegram's apps: they are sent as the person now acting; so is a
// bot link with ?start=CODE (an invite): opening it sends /start CODE, as Telegram does
function commandLinks(text) {
  const part = document.createDocumentFragment();
  const found = /(^|[\s：:，,（(])(\/[a-z][a-z0-9_]{0,31}|https:\/\/t\.me\/[A-Za-z0-9_]+\?start=([A-Za-z0-9_-]{1,64}))(?=$|[\s.,:;)）。，：])/g;
  let at = 0;
  let match;
  while ((match = found.exec(text)) !== null) {
    const start = match.index + match[1].length;
    part.append(document.createTextNode(text.slice(at, start)));
    const shown = match[2];
    const code = match[3];
    part.append(el("a", { class: "cmd-link", href: "#", text: shown,
      onclick: (event) => {
        event.preventDefault();
        if (code) { openChat(actor()); sendText(`/start ${code}`); } // a bot link opens the private chat with it
        else sendText(shown);
      } }));
    at = start + shown.length;
  }
  part.append(document.createTextNode(text.slice(at)));
  return part;
}

function renderPlace(m) {
  const loc = m.location;
  const box = el("div", { class: "place" });
  const map = el("div", { class: "mini-map" });
  const [mx, my] = toXY(loc.latitude, loc.longitude);
  const x = mx / 3;
  const y = my / 2;
  if (x >= 0 && x <= 100 && y >= 0 && y <= 100) {
    const pin = el("span", { text: "📍" });
    pin.style.left = `${x}%`;
    pin.style.top = `${y}%`;
    map.append(pin);
  }
  const live = loc.live_period && !(state.now && state.now > m.date + loc.live_period); // shared, not yet run out
  box.append(map, el("div", {
    text: `${live ? "📡 " + t("live_location") : "📍"} ${loc.latitude.toFixed(5)}, ${loc.longitude.toFixed(5)}`,
  }));
  if (live && m.from && m.from.id === actor()) {
    box.append(el("button", { type: "button", class: "move", text: t("move_location"),
      onclick: () => openMap({ mode: "move", message: m.message_id }) }));
  }
  return box;
}

function renderKeyboard() {
  const box = $("reply-keyboard");
  const markup = state.keyboards[String(state.current)];
  box.replaceChildren();
  if (!markup || !markup.keyboard) { box.hidden = true; return; }
  for (const row of markup.keyboard) {
    const line = el("div", { class: "row" });
    for (const b of row) {
      const label = typeof b === "string" ? b : b.text;
      const button = el("button", { type: "button", text: label });
      if (b.request_location) button.addEventListener("click", () => openMap({ mode: "location" }));
      else button.addEventListener("click", () => sendText(label));
      line.append(button);
    }
    box.append(line);
  }
  box.hidden = false;
}

// ---- what a person does -----------------------------------------------------------------------------
function where() { return { as: actor(), chat: state.current }; }

async function sendText(text) {
  if (!text.trim() || !actor()) return;
  closeMenus();
  await api("/api/act", { action: "text", text, ...where() });
}

async function press(m, b, button) {
  button.disabled = true;
  const answer = await api("/api/act", { action: "press", message_id: m.message_id, data: b.callback_data, ...where() });
  button.disabled = false;
  if (answer && answer.text) (answer.alert ? popup : toast)(answer.text);
}

async function upload(kind, input) {
  const file = input.files && input.files[0];
  input.value = "";
  if (!file) return;
  const form = new FormData();
  form.append("as", String(actor()));
  form.append("chat", String(state.current));
  form.append("kind", kind);
  form.append("lang", LANG);
  form.append("file", file, file.name);
  closeMenus();
  await api("/api/upload", form);
}

function closeMenus() {
  $("commands-menu").hidden = true;
  $("attach-menu").hidden = true;
}

function renderCommands() {
  const menu = $("commands-menu");
  menu.replaceChildren(...state.commands.map((c) => el("button", { type: "button", onclick: () => sendText(`/${c.command}`) },
    el("span", { class: "cmd", text: `/${c.command}` }), el("span", { text: c.description }))));
}

// ---- the map (offline: the office's area drawn, with its places and labels; no tiles from outside) ----------
function drawMap() {
  const svg = $("map");
  const ns = "http://www.w3.org/2000/svg";
  const add = (tag, attrs, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text) node.textContent = text;
    svg.append(node);
    return node;
  };
  svg.replaceChildren();
  for (let i = 1; i < 6; i++) add("line", { x1: i * 50, y1: 0, x2: i * 50, y2: 200, stroke: "#c5dbbd" });
  for (let i = 1; i < 4; i++) add("line", { x1: 0, y1: i * 50, x2: 300, y2: i * 50, stroke: "#c5dbbd" });
  for (const label of state.map.labels || []) {
    const [x, y] = toXY(label.lat, label.lon);
    add("text", { x, y, fill: "#5d6b5a", "font-size": 12, "text-anchor": "middle" }, label.text);
  }
  for (const place of state.map.places || []) {
    const [x, y] = toXY(place.lat, place.lon);
    add("circle", { cx: x, cy: y, r: 3, fill: "#5d6b5a" });
  }
  add("text", { id: "map-pin", x: -20, y: -20, "font-size": 18, "text-anchor": "middle" }, "📍");
  $("map-places").replaceChildren(...(state.map.places || []).map((p) => el("button", { type: "button", text: p.name,
    onclick: () => pick(p.lat, p.lon) })));
}

function mapClicked(event) {
  const box = $("map").getBoundingClientRect();
  const x = ((event.clientX - box.left) / box.width) * 300;
  const y = ((event.clientY - box.top) / box.height) * 200;
  const m = state.map;
  pick(m.north - (y / 200) * (m.north - m.south), m.west + (x / 300) * (m.east - m.west));
}

function toXY(lat, lon) {
  const m = state.map;
  return [((lon - m.west) / (m.east - m.west)) * 300, ((m.north - lat) / (m.north - m.south)) * 200];
}

function pick(lat, lon) {
  state.mapPoint = { lat: Number(lat.toFixed(5)), lon: Number(lon.toFixed(5)) };
  const [x, y] = toXY(lat, lon);
  const pin = $("map-pin");
  pin.setAttribute("x", String(x));
  pin.setAttribute("y", String(y));
  $("map-coords").textContent = `${state.mapPoint.lat}, ${state.mapPoint.lon}`;
  $("map-send").disabled = false;
}

function openMap(mode) {
  closeMenus();
  state.mapMode = mode;
  state.mapPoint = null;
  $("map-title").textContent = mode.mode === "live" ? t("live_location") : mode.mode === "move" ? t("move_location") : t("pick_place");
  $("map-coords").textContent = t("offline");
  $("map-send").disabled = true;
  $("map-dialog").hidden = false;
}

async function sendPlace() {
  const mode = state.mapMode;
  const point = state.mapPoint;
  $("map-dialog").hidden = true;
  if (!mode || !point) return;
  if (mode.mode === "move") await api("/api/act", { action: "move", message_id: mode.message, ...point, ...where() });
  else await api("/api/act", { action: mode.mode === "live" ? "live" : "location", ...point, ...where() });
}

// ---- live updates -----------------------------------------------------------------------------------
function apply(event) {
  document.body.dataset.events = String(Number(document.body.dataset.events || 0) + 1); // (tests wait on it)
  if (event.kind === "clock") { showClock(event); return; }
  if (event.kind === "note") { showNote(event.text); return; }
  if (event.kind === "answer") return; // shown by the press that asked
  let chat;
  if (event.kind === "delete") {
    chat = String(event.chat_id);
    state.chats[chat] = (state.chats[chat] || []).filter((m) => m.message_id !== event.message_id);
  } else {
    const m = event.message;
    chat = String(m.chat.id);
    const list = state.chats[chat] || (state.chats[chat] = []);
    const at = list.findIndex((x) => x.message_id === m.message_id);
    if (at >= 0) list[at] = m; else list.push(m);
    if ("keyboard" in event) {
      if (event.keyboard) state.keyboards[chat] = event.keyboard; else delete state.keyboards[chat];
    }
    if (event.kind === "new" && String(state.current) !== chat && isBot(m)) {
      state.unread[Number(chat)] = (state.unread[Number(chat)] || 0) + 1;
      renderPersonas();
    }
    if ((!persona(Number(chat)) && Number(chat) < 0) || (m.from && !isBot(m) && !persona(m.from.id))) refreshPersonas();
  }
  if (String(state.current) === chat) renderChat();
}

function showClock(clock) {
  const before = state.now;
  state.now = Date.parse(clock.now) / 1000;
  if (before && state.current) renderChat(); // a live location may have run out
  $("clock").textContent = clock.local;
  $("clock").title = clock.offset ? `+${Math.round(clock.offset / 60)} min` : "";
}

function showNote(text) {
  const banner = $("banner");
  banner.textContent = text;
  banner.hidden = false;
}

async function refreshPersonas() {
  try {
    const response = await fetch(`/api/state?lang=${encodeURIComponent(LANG)}`);
    const fresh = await response.json();
    state.personas = fresh.personas;
    renderPersonas();
  } catch (e) {
    showNote(t("disconnected"));
  }
}

function listen() {
  const source = new EventSource("/api/events");
  source.onmessage = (message) => apply(JSON.parse(message.data));
  source.onerror = () => {
    source.close();
    setTimeout(connect, 1500); // the sandbox restarted, or this page fell behind: load everything again
  };
}

function connect() {
  load().then(() => {
    if ($("banner").textContent === t("disconnected")) $("banner").hidden = true;
    listen();
  }, () => {
    showNote(t("disconnected"));
    setTimeout(connect, 3000);
  });
}

async function load() {
  const response = await fetch(`/api/state?lang=${encodeURIComponent(LANG)}`);
  if (!response.ok) throw new Error(String(response.status));
  const fresh = await response.json();
  Object.assign(state, {
    strings: fresh.strings, personas: fresh.personas, chats: fresh.chats, keyboards: fresh.keyboards,
    commands: fresh.commands, bot: fresh.bot, timezone: fresh.timezone, map: fresh.map,
  });
  drawMap();
  document.documentElement.lang = fresh.locale === "en" ? "en" : "zh-Hans";
  document.title = t("title");
  $("title").textContent = t("title");
  $("people-title").textContent = t("people");
  $("groups-title").textContent = t("groups");
  $("add-person").textContent = `+ ${t("add_person")}`;
  $("acting-label").textContent = t("acting_as");
  $("composer-input").placeholder = t("type_message");
  $("send").title = t("send");
  $("commands").title = t("commands");
  $("attach").title = t("attach");
  $("attach-photo").textContent = `🖼 ${t("photo")}`;
  $("attach-file").textContent = `📄 ${t("file")}`;
  $("attach-location").textContent = `📍 ${t("location")}`;
  $("attach-live").textContent = `📡 ${t("live_location")}`;
  $("clock-10m").textContent = t("plus_10m");
  $("clock-1h").textContent = t("plus_1h");
  $("clock-next").textContent = t("next_deadline");
  $("map-cancel").textContent = t("cancel");
  $("map-send").textContent = t("send_here");
  $("back").title = t("back");
  showClock(fresh.clock);
  renderCommands();
  const saved = Number(localStorage.getItem("kuaibao.current"));
  if (!state.current && saved && persona(saved)) state.current = saved;
  if (!state.actor) state.actor = (persona(state.current) && persona(state.current).kind === "person") ? state.current : (people()[0] || {}).id;
  renderPersonas();
  renderChat();
  if (state.current) $("layout").classList.add("in-chat");
}

function wire() {
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("composer-input");
    const text = input.value;
    input.value = "";
    sendText(text);
  });
  $("composer-input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("commands").addEventListener("click", () => { $("attach-menu").hidden = true; $("commands-menu").hidden = !$("commands-menu").hidden; });
  $("attach").addEventListener("click", () => { $("commands-menu").hidden = true; $("attach-menu").hidden = !$("attach-menu").hidden; });
  $("attach-photo").addEventListener("click", () => $("photo-input").click());
  $("attach-file").addEventListener("click", () => $("file-input").click());
  $("photo-input").addEventListener("change", () => upload("photo", $("photo-input")));
  $("file-input").addEventListener("change", () => upload("document", $("file-input")));
  $("attach-location").addEventListener("click", () => openMap({ mode: "location" }));
  $("attach-live").addEventListener("click", () => openMap({ mode: "live" }));
  $("map-cancel").addEventListener("click", () => { $("map-dialog").hidden = true; });
  $("map-send").addEventListener("click", sendPlace);
  $("alert-ok").addEventListener("click", () => { $("alert-dialog").hidden = true; });
  $("back").addEventListener("click", () => { $("layout").classList.remove("in-chat"); });
  $("acting-select").addEventListener("change", (event) => { state.actor = Number(event.target.value); renderChat(); });
  for (const id of ["clock-10m", "clock-1h", "clock-next"]) {
    $(id).addEventListener("click", async () => {
      const answer = await api("/api/act", { action: "clock", step: $(id).dataset.step });
      if (answer) showClock(answer.clock);
    });
  }
  $("add-person").addEventListener("click", async () => {
    const name = window.prompt(t("add_person_name"));
    if (!name) return;
    const answer = await api("/api/act", { action: "person", name });
    if (answer) { await refreshPersonas(); openChat(answer.id); }
  });
  $("map").addEventListener("click", mapClicked);
  window.addEventListener("focus", () => { refreshPersonas(); }); // people registered meanwhile (the CLI, invites)
}

document.addEventListener("DOMContentLoaded", () => {
  wire();
  connect();
});
