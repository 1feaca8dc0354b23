/* The herd, drawn live: servers as nodes, links as edges, from the
 * supervisor's view (GET /api/state, polled every POLL_MS, one request at a
 * time). A click selects a server or a link; the panel's buttons POST the
 * change with the token (X-Herd-Token) that `herd web` puts in the address
 * (#token=...), kept in sessionStorage. No framework, no build step. */
"use strict";

(function () {
  const POLL_MS = 500;
  const STATE_TIMEOUT_MS = 3000;
  const ACTION_TIMEOUT_MS = 30000;
  const TOKEN_KEY = "herd-token";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const CARD_W = 200;
  const CARD_H = 100;
  const EDGE_LEN = 290; /* the layout's ideal distance between neighbours */
  const MIN_VIEW_W = 900;
  const MIN_VIEW_H = 600;

  const SERVER_ACTIONS = [
    { action: "stop", label: "Stop", process: true },
    { action: "start", label: "Start", process: true },
    { action: "restart", label: "Restart", process: true },
    { action: "kill", label: "Kill", process: true },
    { action: "cut", label: "Cut links", process: false },
    { action: "heal", label: "Heal links", process: false },
  ];
  const LINK_ACTIONS = [
    { action: "cut", label: "Cut" },
    { action: "heal", label: "Heal" },
  ];

  const $ = (id) => document.getElementById(id);

  let view = null; /* the last state received */
  let shapeKey = ""; /* servers and links the drawing was made for */
  let nodes = new Map(); /* name -> node elements */
  let edges = new Map(); /* "A B" -> edge elements */
  let selected = null; /* {kind: "server", name} or {kind: "link", a, b} */
  let busy = false; /* a change is in flight */
  let polling = false;
  let pollAgain = false;
  let pollTimer = 0;
  let memoryToken = ""; /* when sessionStorage is not available */

  /* ---- formatting ---------------------------------------------------- */

  function num(n) {
    return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US");
  }

  function rate(x) {
    if (x === null || x === undefined) return "–";
    if (x === 0) return "0";
    if (x < 10) return x.toFixed(1);
    return Math.round(x).toLocaleString("en-US");
  }

  function duration(ms) {
    if (ms === null || ms === undefined) return "–";
    const s = Math.floor(ms / 1000);
    if (s < 60) return s + "s";
    const m = Math.floor(s / 60);
    if (m < 60) return m + "m" + String(s % 60).padStart(2, "0") + "s";
    const h = Math.floor(m / 60);
    if (h < 24) return h + "h" + String(m % 60).padStart(2, "0") + "m";
    return Math.floor(h / 24) + "d" + String(h % 24).padStart(2, "0") + "h";
  }

  function rtt(us) {
    if (!us) return "–";
    const ms = us / 1000;
    return (ms < 1 ? ms.toFixed(2) : ms.toFixed(1)) + " ms";
  }

  function syncWord(v) {
    return v === true ? "true" : v === false ? "false" : "unknown";
  }

  /* ---- the token ----------------------------------------------------- */

  function getToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || "";
    } catch (e) {
      return memoryToken;
    }
  }

  function setToken(t) {
    memoryToken = t;
    try {
      if (t) sessionStorage.setItem(TOKEN_KEY, t);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) {
      /* memoryToken holds it for this page */
    }
    showTokenState();
    refreshButtons();
  }

  /* #token=... from `herd web`: kept, then taken out of the address bar
   * (not left in the history or a bookmark). */
  function tokenFromAddress() {
    const hash = window.location.hash.replace(/^#/, "");
    if (!hash) return;
    const t = new URLSearchParams(hash).get("token");
    if (t) setToken(t.trim());
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }

  function showTokenState() {
    const has = getToken() !== "";
    const st = $("token-state");
    st.dataset.token = has ? "present" : "absent";
    st.textContent = has ? "changes enabled" : "read-only: a token is needed for changes";
    $("token-forget").hidden = !has;
    $("token-needed").hidden = has;
  }

  function bindTokenForm() {
    $("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const input = $("token-input");
      const t = input.value.trim();
      input.value = "";
      if (t) {
        setToken(t);
        message("ok", "Token set for this tab.");
      }
    });
    $("token-forget").addEventListener("click", () => {
      setToken("");
      message("ok", "Token forgotten: the page is read-only.");
    });
  }

  /* ---- requests ------------------------------------------------------ */

  async function request(path, options, timeoutMs) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    try {
      return await fetch(path, Object.assign({ cache: "no-store", signal: ctl.signal }, options));
    } finally {
      clearTimeout(timer);
    }
  }

  /* One request at a time: the next starts POLL_MS after this one started,
   * or right after it ends if it took longer (or a change asked for it). */
  async function poll() {
    polling = true;
    const started = performance.now();
    try {
      const r = await request("/api/state", { headers: { Accept: "application/json" } },
                              STATE_TIMEOUT_MS);
      if (!r.ok) throw new Error("HTTP " + r.status);
      const v = await r.json();
      if (!v || !Array.isArray(v.servers) || !Array.isArray(v.links))
        throw new Error("not a herd state");
      render(v);
    } catch (e) {
      unreachable(e);
    }
    polling = false;
    const wait = pollAgain ? 0 : Math.max(0, POLL_MS - (performance.now() - started));
    pollAgain = false;
    pollTimer = setTimeout(poll, wait);
  }

  function pollNow() {
    if (polling) {
      pollAgain = true;
      return;
    }
    clearTimeout(pollTimer);
    poll();
  }

  function unreachable(err) {
    const st = $("status");
    st.dataset.state = "unreachable";
    const why = !err ? "error" : err.name === "AbortError" ? "no answer in time"
      : err instanceof TypeError ? "no connection" : err.message;
    st.textContent = "supervisor unreachable (" + why + ") · retrying" +
      (view ? " · showing the last state seen" : "");
    $("graph").classList.add("stale");
    $("panel").classList.add("stale");
  }

  /* ---- the layout ---------------------------------------------------- */

  /* Deterministic: the servers start on a circle in herd.conf's order, then
   * a fixed number of force steps (neighbours pull, everyone pushes, a weak
   * pull to the middle) with a falling step bound. Same herd, same picture. */
  function layout(names, pairs) {
    const n = names.length;
    const index = new Map(names.map((name, i) => [name, i]));
    const r0 = Math.max(EDGE_LEN, (EDGE_LEN * n) / (2 * Math.PI));
    const p = names.map((_, i) => {
      const a = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(n, 1);
      return { x: r0 * Math.cos(a), y: r0 * Math.sin(a) };
    });
    const e = [];
    for (const [a, b] of pairs) {
      const i = index.get(a);
      const j = index.get(b);
      if (i !== undefined && j !== undefined && i !== j) e.push([i, j]);
    }
    const k = EDGE_LEN;
    const steps = 400;
    for (let s = 0; s < steps; s++) {
      const limit = (k / 2) * (1 - s / steps) + 0.5;
      const d = p.map(() => ({ x: 0, y: 0 }));
      for (let i = 0; i < n; i++) {
        for (let j = i + 1; j < n; j++) {
          const dx = p[i].x - p[j].x;
          const dy = p[i].y - p[j].y;
          const dist = Math.max(1, Math.hypot(dx, dy));
          const f = (k * k) / dist;
          d[i].x += (dx / dist) * f;
          d[i].y += (dy / dist) * f;
          d[j].x -= (dx / dist) * f;
          d[j].y -= (dy / dist) * f;
        }
      }
      for (const [i, j] of e) {
        const dx = p[i].x - p[j].x;
        const dy = p[i].y - p[j].y;
        const dist = Math.max(1, Math.hypot(dx, dy));
        const f = (dist * dist) / k;
        d[i].x -= (dx / dist) * f;
        d[i].y -= (dy / dist) * f;
        d[j].x += (dx / dist) * f;
        d[j].y += (dy / dist) * f;
      }
      for (let i = 0; i < n; i++) {
        d[i].x -= p[i].x * 0.3;
        d[i].y -= p[i].y * 0.3;
        const len = Math.hypot(d[i].x, d[i].y);
        if (len > 0) {
          const step = Math.min(len, limit);
          p[i].x += (d[i].x / len) * step;
          p[i].y += (d[i].y / len) * step;
        }
      }
    }
    return levelled(p);
  }

  /* Turns the picture so that its long axis lies across the screen (the
   * graph pane is wider than high), the first server on the left. */
  function levelled(p) {
    const n = p.length;
    if (n < 2) return p;
    let mx = 0;
    let my = 0;
    for (const q of p) {
      mx += q.x / n;
      my += q.y / n;
    }
    let sxx = 0;
    let syy = 0;
    let sxy = 0;
    for (const q of p) {
      sxx += (q.x - mx) * (q.x - mx);
      syy += (q.y - my) * (q.y - my);
      sxy += (q.x - mx) * (q.y - my);
    }
    const angle = 0.5 * Math.atan2(2 * sxy, sxx - syy);
    const c = Math.cos(-angle);
    const s = Math.sin(-angle);
    const out = p.map((q) => ({ x: (q.x - mx) * c - (q.y - my) * s, y: (q.x - mx) * s + (q.y - my) * c }));
    if (out[0].x > 0) for (const q of out) q.x = -q.x;
    return out;
  }

  /* ---- drawing ------------------------------------------------------- */

  function svg(tag, attrs, parent) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (parent) parent.appendChild(node);
    return node;
  }

  function linkKey(a, b) {
    return a + " " + b;
  }

  function sameLink(sel, a, b) {
    return sel && sel.kind === "link" &&
      ((sel.a === a && sel.b === b) || (sel.a === b && sel.b === a));
  }

  /* Makes the nodes and edges for this set of servers and links. */
  function build(v) {
    const names = v.servers.map((s) => s.name);
    const pairs = v.links.map((l) => [l.a, l.b]);
    const p = layout(names, pairs);
    const at = new Map(names.map((name, i) => [name, p[i]]));

    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    for (const q of p) {
      minX = Math.min(minX, q.x);
      minY = Math.min(minY, q.y);
      maxX = Math.max(maxX, q.x);
      maxY = Math.max(maxY, q.y);
    }
    if (!p.length) {
      minX = minY = maxX = maxY = 0;
    }
    const pad = 30;
    let w = maxX - minX + CARD_W + 2 * pad;
    let h = maxY - minY + CARD_H + 2 * pad;
    const cx = (minX + maxX) / 2;
    const cy = (minY + maxY) / 2;
    w = Math.max(w, MIN_VIEW_W);
    h = Math.max(h, MIN_VIEW_H);
    $("graph").setAttribute("viewBox", [cx - w / 2, cy - h / 2, w, h].map(Math.round).join(" "));

    const linkLayer = $("links");
    const nodeLayer = $("nodes");
    linkLayer.replaceChildren();
    nodeLayer.replaceChildren();
    nodes = new Map();
    edges = new Map();

    for (const l of v.links) {
      const a = at.get(l.a);
      const b = at.get(l.b);
      if (!a || !b) continue;
      edges.set(linkKey(l.a, l.b), drawEdge(linkLayer, l.a, l.b, a, b));
    }
    for (const s of v.servers) nodes.set(s.name, drawNode(nodeLayer, s.name, at.get(s.name)));
  }

  function drawEdge(layer, aName, bName, a, b) {
    const g = svg("g", { class: "link", "data-link": linkKey(aName, bName), "data-state": "unknown",
                         tabindex: 0, role: "button",
                         "aria-label": "link " + aName + " – " + bName }, layer);
    const coords = { x1: a.x, y1: a.y, x2: b.x, y2: b.y };
    svg("line", Object.assign({ class: "hit" }, coords), g);
    svg("line", Object.assign({ class: "edge" }, coords), g);
    const mx = (a.x + b.x) / 2;
    const my = (a.y + b.y) / 2;
    const angle = (Math.atan2(b.y - a.y, b.x - a.x) * 180) / Math.PI;
    /* The cut mark: a gap in the line between two bars, like a cable cut. */
    const mark = svg("g", { class: "cutmark", transform: "translate(" + mx + " " + my + ") rotate(" + angle + ")" }, g);
    svg("rect", { class: "gap", x: -8, y: -12, width: 16, height: 24 }, mark);
    svg("line", { class: "bar", x1: -7, y1: -11, x2: -3, y2: 11 }, mark);
    svg("line", { class: "bar", x1: 3, y1: -11, x2: 7, y2: 11 }, mark);
    /* The label beside the middle, on the side away from the line. */
    const len = Math.max(1, Math.hypot(b.x - a.x, b.y - a.y));
    let nx = -(b.y - a.y) / len;
    let ny = (b.x - a.x) / len;
    if (ny > 0) {
      nx = -nx;
      ny = -ny;
    }
    const lx = mx + nx * 20;
    const ly = my + ny * 20 + 4;
    const label = svg("text", { class: "label",
                                "text-anchor": Math.abs(nx) < 0.3 ? "middle" : nx < 0 ? "end" : "start" }, g);
    const main = svg("tspan", { class: "main", x: lx, y: ly }, label);
    const sub = svg("tspan", { class: "sub", x: lx, y: ly + 15 }, label);
    const title = svg("title", {}, g);
    g.addEventListener("click", (ev) => {
      ev.stopPropagation();
      select({ kind: "link", a: aName, b: bName });
    });
    g.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        select({ kind: "link", a: aName, b: bName });
      }
    });
    /* above: the label sits over the line, so a second line goes up */
    return { g, label, main, sub, lx, ly, above: ny < -0.5, title };
  }

  function drawNode(layer, name, q) {
    const g = svg("g", { class: "node", "data-server": name, "data-state": "unknown",
                         "data-pid": "", "data-in-sync": "unknown", "data-managed": "false",
                         transform: "translate(" + q.x + " " + q.y + ")",
                         tabindex: 0, role: "button", "aria-label": "server " + name }, layer);
    const left = -CARD_W / 2;
    const top = -CARD_H / 2;
    svg("rect", { class: "card", x: left, y: top, width: CARD_W, height: CARD_H, rx: 10 }, g);
    svg("rect", { class: "stripe", x: left, y: top, width: CARD_W, height: 6, rx: 3 }, g);
    const title = svg("text", { class: "name", x: left + 14, y: top + 30 }, g);
    title.textContent = name;
    const syncDot = svg("circle", { class: "sync-dot", cx: -left - 16, cy: top + 25, r: 6 }, g);
    const sync = svg("text", { class: "sync", x: -left - 28, y: top + 29, "text-anchor": "end" }, g);
    const line1 = svg("text", { class: "line state-line", x: left + 14, y: top + 52 }, g);
    const line2 = svg("text", { class: "line", x: left + 14, y: top + 71 }, g);
    const line3 = svg("text", { class: "line", x: left + 14, y: top + 90 }, g);
    const tip = svg("title", {}, g);
    g.addEventListener("click", (ev) => {
      ev.stopPropagation();
      select({ kind: "server", name });
    });
    g.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        select({ kind: "server", name });
      }
    });
    return { g, sync, syncDot, line1, line2, line3, tip };
  }

  function stateLine(s) {
    let t = s.state;
    if (s.pid) t += " · pid " + s.pid;
    else if (s.state === "down" && s.last_exit) t += " · " + s.last_exit;
    if (!s.managed) t += s.state === "unknown" ? " · not answering" : " · not run here";
    return t;
  }

  function updateNode(n, s) {
    const d = n.g.dataset;
    d.state = s.state || "unknown";
    d.pid = s.pid ? String(s.pid) : "";
    d.inSync = syncWord(s.in_sync);
    d.managed = s.managed ? "true" : "false";
    n.g.classList.toggle("selected", !!selected && selected.kind === "server" && selected.name === s.name);
    n.sync.textContent = s.in_sync === true ? "in sync" : s.in_sync === false ? "differs" : "";
    n.line1.textContent = stateLine(s);
    n.line2.textContent = "clients " + num(s.clients) + " · records " + num(s.records);
    const r = s.rates;
    n.line3.textContent = r ? "updates " + rate(r.updates_in) + " in · " + rate(r.updates_out) + " out /s"
                            : "updates –";
    n.tip.textContent = s.name + " (" + (s.address || "?") + "): " + stateLine(s) +
      (s.note ? "\n" + s.note : "");
  }

  /* An edge's label: [its first line, a second (why it is down) or ""]. */
  function edgeLabel(l) {
    const r = l.rates;
    const known = r && (typeof r.a_to_b === "number" || typeof r.b_to_a === "number");
    const flow = known ? rate((r.a_to_b || 0) + (r.b_to_a || 0)) + " rec/s" : "";
    switch (l.state) {
      case "up":
        return [flow || "up", ""];
      case "down": {
        const why = l.why && l.why.length > 28 ? l.why.slice(0, 27) + "…" : l.why;
        return ["down" + (l.since_ms !== null && l.since_ms !== undefined ? " " + duration(l.since_ms) : ""),
                why ? "(" + why + ")" : ""];
      }
      case "cut":
        return ["cut", ""];
      default:
        return ["unknown", ""];
    }
  }

  function updateEdge(e, l) {
    e.g.dataset.state = l.state || "unknown";
    e.g.classList.toggle("selected", sameLink(selected, l.a, l.b));
    const [first, second] = edgeLabel(l);
    const up = second !== "" && e.above ? 15 : 0;
    e.main.textContent = first;
    e.sub.textContent = second;
    e.main.setAttribute("y", String(e.ly - up));
    e.sub.setAttribute("y", String(e.ly + 15 - up));
    e.title.textContent = l.a + " – " + l.b + ": " + (l.state || "unknown") +
      (l.why ? " (" + l.why + ")" : "") + (l.note ? "\n" + l.note : "");
  }

  function summary(v) {
    const up = v.servers.filter((s) => s.state === "up").length;
    const linksUp = v.links.filter((l) => l.state === "up").length;
    const sync = v.in_sync === true ? "in sync" : v.in_sync === false ? "out of sync" : "sync unknown";
    return up + " of " + v.servers.length + " servers up · " + linksUp + " of " + v.links.length +
      " links up · " + sync + (v.supervisor_pid ? " · supervisor pid " + v.supervisor_pid : "");
  }

  function render(v) {
    const key = JSON.stringify([v.servers.map((s) => s.name), v.links.map((l) => [l.a, l.b])]);
    if (key !== shapeKey) {
      shapeKey = key;
      build(v);
    }
    view = v;
    for (const s of v.servers) {
      const n = nodes.get(s.name);
      if (n) updateNode(n, s);
    }
    for (const l of v.links) {
      const e = edges.get(linkKey(l.a, l.b));
      if (e) updateEdge(e, l);
    }
    const st = $("status");
    st.dataset.state = "live";
    st.dataset.inSync = syncWord(v.in_sync);
    st.textContent = summary(v);
    $("graph").classList.remove("stale");
    $("panel").classList.remove("stale");
    showPanel();
  }

  /* ---- the panel ----------------------------------------------------- */

  function select(sel) {
    selected = sel;
    const panel = $("panel");
    panel.dataset.selected = sel ? (sel.kind === "server" ? "server " + sel.name : "link " + sel.a + " " + sel.b) : "";
    buildActions();
    message("", "");
    if (view) render(view);
    else showPanel();
  }

  function findServer(name) {
    return view ? view.servers.find((s) => s.name === name) : undefined;
  }

  function findLink(sel) {
    return view ? view.links.find((l) => sameLink(sel, l.a, l.b)) : undefined;
  }

  function buildActions() {
    const box = $("actions");
    box.replaceChildren();
    if (!selected) return;
    const list = selected.kind === "server" ? SERVER_ACTIONS : LINK_ACTIONS;
    for (const a of list) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = a.label;
      b.dataset.action = a.action;
      b.className = "action action-" + a.action;
      b.addEventListener("click", () => runAction(a));
      box.appendChild(b);
    }
    refreshButtons();
  }

  function refreshButtons() {
    const has = getToken() !== "";
    const s = selected && selected.kind === "server" ? findServer(selected.name) : undefined;
    for (const b of $("actions").querySelectorAll("button")) {
      const a = SERVER_ACTIONS.find((x) => x.action === b.dataset.action);
      const foreign = selected && selected.kind === "server" && a && a.process && s && !s.managed;
      b.disabled = busy || !!foreign;
      b.classList.toggle("locked", !has);
      b.title = foreign ? "not run by this supervisor"
        : has ? "" : "a token is needed: the supervisor will refuse this";
    }
  }

  function row(dl, term, value) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = value === null || value === undefined || value === "" ? "–" : String(value);
    dl.append(dt, dd);
  }

  function showServer(s) {
    $("panel-title").textContent = s.name;
    $("panel-sub").textContent = stateLine(s) +
      (s.managed ? " · run by this supervisor" : " · not run by this supervisor");
    const dl = $("details");
    dl.replaceChildren();
    row(dl, "address", s.address);
    row(dl, "peer address", s.peer_address);
    row(dl, "state", s.state);
    row(dl, "pid", s.pid);
    row(dl, "uptime", s.uptime_ms === null || s.uptime_ms === undefined ? null : duration(s.uptime_ms));
    row(dl, "restarts", s.restarts);
    row(dl, "last exit", s.last_exit);
    row(dl, "in sync", s.in_sync === true ? "yes" : s.in_sync === false ? "no: its digest differs" : null);
    row(dl, "records", num(s.records));
    row(dl, "digest", s.digest);
    row(dl, "clients", num(s.clients));
    const r = s.rates;
    if (r) {
      row(dl, "updates in / out", rate(r.updates_in) + " / " + rate(r.updates_out) + " per s");
      row(dl, "IAMAT / WHATSAT", rate(r.iamat) + " / " + rate(r.whatsat) + " per s");
      row(dl, "places misses", rate(r.places_misses) + " per s");
    }
    const c = s.stats && s.stats.counters;
    if (c) {
      row(dl, "connections", num(c.connections));
      row(dl, "invalid / stale / refused", num(c.invalid) + " / " + num(c.stale) + " / " + num(c.refused));
    }
    if (s.note) row(dl, "note", s.note);

    const table = $("neighbours");
    const body = table.querySelector("tbody");
    body.replaceChildren();
    const nbs = (s.stats && Array.isArray(s.stats.neighbours)) ? s.stats.neighbours : [];
    table.hidden = nbs.length === 0;
    for (const nb of nbs) {
      const tr = document.createElement("tr");
      const cells = [nb.name, nb.state + (nb.why && nb.state !== "up" ? " (" + nb.why + ")" : ""),
                     rtt(nb.rtt_us), num(nb.sent), num(nb.received)];
      for (const text of cells) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
  }

  function showLink(l) {
    $("panel-title").textContent = l.a + " – " + l.b;
    $("panel-sub").textContent = "link " + l.state +
      (l.since_ms !== null && l.since_ms !== undefined ? " for " + duration(l.since_ms) : "") +
      (l.why ? " (" + l.why + ")" : "");
    const dl = $("details");
    dl.replaceChildren();
    row(dl, "state", l.state);
    row(dl, "since", l.since_ms === null || l.since_ms === undefined ? null : duration(l.since_ms));
    row(dl, "why", l.why);
    row(dl, "round trip", l.rtt_us === null || l.rtt_us === undefined ? null : rtt(l.rtt_us));
    if (l.rates) {
      row(dl, l.a + " → " + l.b, rate(l.rates.a_to_b) + " records/s");
      row(dl, l.b + " → " + l.a, rate(l.rates.b_to_a) + " records/s");
    }
    if (l.note) row(dl, "note", l.note);
    $("neighbours").hidden = true;
  }

  function showPanel() {
    const empty = !selected;
    $("panel-empty").hidden = !empty;
    $("panel-body").hidden = empty;
    if (empty) return;
    if (selected.kind === "server") {
      const s = findServer(selected.name);
      if (s) showServer(s);
    } else {
      const l = findLink(selected);
      if (l) showLink(l);
    }
    refreshButtons();
  }

  function message(kind, text, status) {
    const m = $("message");
    m.dataset.kind = kind;
    m.dataset.status = status ? String(status) : "";
    m.textContent = text;
  }

  /* ---- changes ------------------------------------------------------- */

  function actionPath(a) {
    const e = encodeURIComponent;
    if (selected.kind === "server") return "/api/servers/" + e(selected.name) + "/" + a.action;
    return "/api/links/" + e(selected.a) + "/" + e(selected.b) + "/" + a.action;
  }

  function actionWhat(a) {
    const target = selected.kind === "server" ? selected.name : selected.a + " – " + selected.b;
    return a.label + " " + target;
  }

  async function runAction(a) {
    if (busy || !selected) return;
    const token = getToken();
    const what = actionWhat(a);
    const path = actionPath(a);
    busy = true;
    refreshButtons();
    message("pending", what + "…");
    const headers = { Accept: "application/json" };
    if (token) headers["X-Herd-Token"] = token;
    try {
      const r = await request(path, { method: "POST", headers }, ACTION_TIMEOUT_MS);
      let body = null;
      try {
        body = await r.json();
      } catch (e) {
        body = null;
      }
      if (r.ok) {
        message("ok", what + ": " + ((body && body.message) || "done"), r.status);
      } else if (r.status === 403) {
        message("refused", what + " refused by the supervisor (403" +
          (body && body.error ? ": " + body.error : "") + "). " +
          (token ? "The token is not the supervisor's: run herd web for the current one."
                 : "A token is needed: run herd web and open its address."), r.status);
      } else {
        message("error", what + " failed (" + r.status + (body && body.error ? ": " + body.error : "") + ")",
                r.status);
      }
    } catch (e) {
      message("error", what + ": no answer from the supervisor (" +
        (e.name === "AbortError" ? "timed out" : e.message) + ")");
    }
    busy = false;
    refreshButtons();
    pollNow();
  }

  /* ---- start --------------------------------------------------------- */

  function start() {
    tokenFromAddress();
    bindTokenForm();
    showTokenState();
    $("graph").addEventListener("click", () => select(null));
    document.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape") select(null);
    });
    poll();
  }

  start();
})();
