// The supervisor's web page in a real browser (Debian's chromium, driven by
// playwright-core): what a person would see while the herd is changed under
// it by the herd command and by the page's own buttons.
//
//   node tests/browser/page.test.mjs --url http://127.0.0.1:PORT/ \
//        --token HEX --herd '["/path/herd","-c","/path/herd.conf"]' \
//        --artifacts DIR [--readme-shot FILE]
//
// The herd must be running (tests/e2e/test_browser.py starts and stops it).
// Screenshots of every step go to DIR; --readme-shot also gets the one of
// the whole herd up. Every wait has a deadline; the browser is always
// closed and its profile directory removed. Exit 0 on success, 1 with a
// message on failure.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--no-proxy-server",
];
const TOTAL_DEADLINE_MS = 75000; /* the whole run, browser start included */
const SHOWN_WITHIN_MS = 2000; /* a change the herd command made, on the page */
const NAMES = ["Alford", "Bolden", "Hamilton", "Parker", "Powell"];
const LINKS = [["Alford", "Parker"], ["Alford", "Powell"], ["Bolden", "Parker"],
               ["Bolden", "Powell"], ["Hamilton", "Parker"]];
const COLOUR_UP = "rgb(31, 138, 69)"; /* style.css --up */
const COLOUR_DOWN = "rgb(201, 52, 52)"; /* style.css --down */

class Failure extends Error {}

let supervisorGone = false; /* after the last step's herd stop */

function fail(msg) {
  throw new Failure(msg);
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i];
    if (!k.startsWith("--") || i + 1 >= argv.length) fail("bad argument " + k);
    out[k.slice(2)] = argv[i + 1];
  }
  for (const k of ["url", "token", "herd", "artifacts"])
    if (!out[k]) fail("missing --" + k);
  out.herd = JSON.parse(out.herd);
  return out;
}

let args;
try {
  args = parseArgs(process.argv.slice(2));
} catch (e) {
  console.error("FAIL: " + e.message);
  process.exit(2);
}
const t0 = Date.now();
const log = (msg) => console.log("# %s %s", ((Date.now() - t0) / 1000).toFixed(2).padStart(6), msg);

function herd(...cmd) {
  const argv = args.herd.concat(cmd);
  try {
    const out = execFileSync(argv[0], argv.slice(1), { timeout: 30000, encoding: "utf8",
                                                       stdio: ["ignore", "pipe", "pipe"] });
    log("herd " + cmd.join(" ") + " -> 0");
    return out;
  } catch (e) {
    fail("herd " + cmd.join(" ") + " failed (" + (e.status ?? e.signal ?? e.message) + "):\n" +
         (e.stdout || "") + (e.stderr || ""));
  }
}

function herdStatus() {
  const out = herd("status", "--json");
  try {
    return JSON.parse(out);
  } catch (e) {
    fail("herd status --json is not JSON: " + out);
  }
}

function statusOf(st, name) {
  const s = st.servers.find((x) => x.name === name);
  if (!s) fail("herd status --json lacks " + name);
  return s;
}

/* What the page shows, read from the DOM as drawn: states and pids from the
 * data attributes, the text on each card and edge, and the computed style
 * that tells a person the state (the edge's colour and dashes, the cut
 * mark). */
function snapshot(page) {
  return page.evaluate(() => {
    const css = (el) => (el ? getComputedStyle(el) : null);
    const out = { status: {}, servers: {}, links: {}, message: {}, token: "" };
    const st = document.getElementById("status");
    out.status = { state: st.dataset.state, text: st.textContent };
    for (const g of document.querySelectorAll("[data-server]")) {
      out.servers[g.dataset.server] = {
        state: g.dataset.state, pid: g.dataset.pid, inSync: g.dataset.inSync, managed: g.dataset.managed,
        text: Array.from(g.querySelectorAll("text")).map((t) => t.textContent).join(" | "),
      };
    }
    for (const g of document.querySelectorAll("[data-link]")) {
      const edge = css(g.querySelector(".edge"));
      const mark = css(g.querySelector(".cutmark"));
      out.links[g.dataset.link] = {
        state: g.dataset.state, label: g.querySelector(".label").textContent,
        stroke: edge.stroke, dashes: edge.strokeDasharray, cutMark: mark.display !== "none",
      };
    }
    const m = document.getElementById("message");
    out.message = { kind: m.dataset.kind, status: m.dataset.status, text: m.textContent };
    out.token = document.getElementById("token-state").dataset.token;
    out.tokenNeededShown = !document.getElementById("token-needed").hidden;
    out.address = window.location.href;
    out.panel = document.getElementById("panel").dataset.selected;
    out.panelTitle = document.getElementById("panel-title").textContent;
    out.buttons = {};
    for (const b of document.querySelectorAll("#actions button")) out.buttons[b.dataset.action] = !b.disabled;
    return out;
  });
}

function link(snap, a, b) {
  return snap.links[a + " " + b] || snap.links[b + " " + a];
}

function describe(snap) {
  const s = Object.entries(snap.servers).map(([n, v]) => n + "=" + v.state + "/" + v.pid).join(" ");
  const l = Object.entries(snap.links).map(([n, v]) => n.replace(" ", "-") + "=" + v.state).join(" ");
  return "status: " + snap.status.text + "\n  servers: " + s + "\n  links: " + l +
    "\n  message: [" + snap.message.kind + " " + snap.message.status + "] " + snap.message.text;
}

/* Polls the page every 50 ms until pred(snapshot) holds; the elapsed time
 * in ms, or a failure saying what the page showed last. */
async function until(page, what, ms, pred) {
  const start = Date.now();
  let snap = null;
  for (;;) {
    snap = await snapshot(page);
    let ok = false;
    try {
      ok = pred(snap);
    } catch (e) {
      if (e instanceof Failure) throw e; /* the predicate saw it cannot come */
      ok = false;
    }
    if (ok) {
      const took = Date.now() - start;
      log(what + ": " + took + " ms");
      return took;
    }
    if (Date.now() - start > ms)
      fail("the page did not show " + what + " within " + ms + " ms; it shows\n  " + describe(snap));
    await new Promise((r) => setTimeout(r, 50));
  }
}

let shotCount = 0;
async function shot(page, name) {
  shotCount += 1;
  const file = path.join(args.artifacts, String(shotCount).padStart(2, "0") + "-" + name + ".png");
  await page.screenshot({ path: file });
  return file;
}

function allUp(snap) {
  return snap.status.state === "live" &&
    NAMES.every((n) => snap.servers[n] && snap.servers[n].state === "up" && snap.servers[n].pid) &&
    LINKS.every(([a, b]) => link(snap, a, b) && link(snap, a, b).state === "up");
}

function check(cond, msg) {
  if (!cond) fail(msg);
}

/* An up edge is solid green, a down one dashed red, a cut one carries the
 * cut mark: what tells them apart on screen, not only the attribute. */
function checkDrawn(snap, a, b) {
  const l = link(snap, a, b);
  if (l.state === "up")
    check(l.stroke === COLOUR_UP && l.dashes === "none" && !l.cutMark,
          a + "-" + b + " up but not drawn solid green: " + JSON.stringify(l));
  else if (l.state === "down")
    check(l.stroke === COLOUR_DOWN && l.dashes !== "none" && !l.cutMark,
          a + "-" + b + " down but not drawn dashed red: " + JSON.stringify(l));
  else if (l.state === "cut")
    check(l.cutMark && l.stroke !== COLOUR_UP && l.stroke !== COLOUR_DOWN && /cut/.test(l.label),
          a + "-" + b + " cut but not drawn with the cut mark: " + JSON.stringify(l));
}

async function openPage(ctx, url, errors) {
  const page = await ctx.newPage();
  page.on("pageerror", (e) => errors.push("script error: " + e.message));
  page.on("console", (m) => {
    /* A refused change is logged by the browser as a failed load (403): the
     * test causes it, and so does stopping the supervisor at the end.
     * Anything else at error level is a fault of the page,
     * a CSP violation included. */
    const expected = /Failed to load resource: .* 403/.test(m.text()) ||
      (supervisorGone && /Failed to load resource: net::ERR_CONNECTION_REFUSED/.test(m.text()));
    if (m.type() === "error" && !expected)
      errors.push("console: " + m.text());
  });
  await page.goto(url, { timeout: 10000 });
  return page;
}

async function scenario(ctx, errors) {
  const base = args.url;
  const withToken = base + "#token=" + args.token;

  /* 1. The default herd: all five up, the five links up, records flowing. */
  const page = await openPage(ctx, withToken, errors);
  await until(page, "all servers and links up", 10000, allUp);
  let snap = await snapshot(page);
  check(!snap.address.includes("token"), "the token stays in the address bar: " + snap.address);
  check(snap.token === "present", "the token from the address was not taken: " + snap.token);
  for (const [a, b] of LINKS) checkDrawn(snap, a, b);
  /* For the picture: records crossing, every server in sync (under steady
   * traffic a digest may differ for a moment, so that part may give up). */
  const flowing = (s) =>
    LINKS.some(([a, b]) => /^[1-9][0-9.,]* rec\/s$|^0\.[1-9] rec\/s$/.test(link(s, a, b).label));
  try {
    await until(page, "records crossing the links, all in sync", 6000, (s) =>
      flowing(s) && NAMES.every((n) => s.servers[n].inSync === "true"));
  } catch (e) {
    if (!(e instanceof Failure)) throw e;
    await until(page, "records crossing the links", 5000, flowing);
  }
  /* The picture of the herd (the README's): Parker's panel open. */
  await page.click('[data-server="Parker"]', { timeout: 5000 });
  await until(page, "Parker's panel", 2000, (s) => s.panel === "server Parker" && s.panelTitle === "Parker");
  const file = await shot(page, "herd");
  if (args["readme-shot"]) fs.copyFileSync(file, args["readme-shot"]);

  /* 2. herd stop Parker: Parker and its three links down within 2 s. */
  herd("stop", "Parker");
  const parkerLinks = LINKS.filter(([a, b]) => a === "Parker" || b === "Parker");
  await until(page, "Parker down and its links down", SHOWN_WITHIN_MS, (s) =>
    s.servers.Parker.state === "down" && s.servers.Parker.pid === "" &&
    /\bdown\b/.test(s.servers.Parker.text) &&
    parkerLinks.every(([a, b]) => link(s, a, b).state === "down"));
  snap = await snapshot(page);
  for (const [a, b] of parkerLinks) checkDrawn(snap, a, b);
  check(link(snap, "Alford", "Powell").state === "up", "Alford-Powell not up while Parker is stopped");
  await shot(page, "parker-stopped");
  herd("start", "Parker");
  await until(page, "the herd up again after herd start Parker", 10000, allUp);

  /* 3. herd cut Alford Powell: that edge drawn cut; herd heal: up again. */
  herd("cut", "Alford", "Powell");
  await until(page, "Alford-Powell cut", SHOWN_WITHIN_MS, (s) => link(s, "Alford", "Powell").state === "cut");
  snap = await snapshot(page);
  checkDrawn(snap, "Alford", "Powell");
  check(LINKS.filter(([a, b]) => a + b !== "AlfordPowell").every(([a, b]) => link(snap, a, b).state === "up"),
        "cutting Alford-Powell changed other links:\n  " + describe(snap));
  await shot(page, "alford-powell-cut");
  herd("heal", "Alford", "Powell");
  await until(page, "Alford-Powell healed", 5000, (s) => link(s, "Alford", "Powell").state === "up");
  checkDrawn(await snapshot(page), "Alford", "Powell");
  await shot(page, "alford-powell-healed");

  /* 4. A click on kill (with the token): the server restarts, the page
   * shows its new pid, the one herd status gives. */
  snap = await snapshot(page);
  const oldPid = snap.servers.Bolden.pid;
  await page.click('[data-server="Bolden"]', { timeout: 5000 });
  await until(page, "Bolden's panel", 2000, (s) => s.panel === "server Bolden");
  await page.click('#actions [data-action="kill"]', { timeout: 5000 });
  await until(page, "the kill answered", 10000, (s) => {
    check(s.message.kind !== "error" && s.message.kind !== "refused",
          "the kill was not done: " + s.message.text);
    return s.message.kind === "ok";
  });
  await until(page, "Bolden up with a new pid", 10000, (s) =>
    s.servers.Bolden.state === "up" && s.servers.Bolden.pid !== "" && s.servers.Bolden.pid !== oldPid);
  snap = await snapshot(page);
  const st = statusOf(herdStatus(), "Bolden");
  check(String(st.pid) === snap.servers.Bolden.pid,
        "the page shows Bolden's pid " + snap.servers.Bolden.pid + ", herd status " + st.pid);
  check(st.restarts >= 1, "herd status counts no restart of Bolden: " + JSON.stringify(st));
  await shot(page, "bolden-killed");
  await page.close();

  /* 5. Without the token (a new tab: its own sessionStorage) a click on
   * stop is refused: the page says so, Hamilton stays up. */
  const before = statusOf(herdStatus(), "Hamilton");
  check(before.state === "up" && before.pid, "Hamilton not up before the refused stop");
  const bare = await openPage(ctx, base, errors);
  await until(bare, "the herd, read-only", 10000, (s) => allUp(s) && s.token === "absent");
  await bare.click('[data-server="Hamilton"]', { timeout: 5000 });
  await until(bare, "the token-needed note", 2000, (s) => s.tokenNeededShown);
  await bare.click('#actions [data-action="stop"]', { timeout: 5000 });
  await until(bare, "the refusal (403)", 5000, (s) =>
    s.message.kind === "refused" && s.message.status === "403" && /refused/.test(s.message.text) &&
    /token is needed/.test(s.message.text));
  await shot(bare, "refused-without-token");

  /* A wrong token pasted in the field is refused the same way. */
  await bare.fill("#token-input", "0".repeat(64));
  await bare.click("#token-set");
  await until(bare, "the pasted token taken", 2000, (s) => s.token === "present");
  await bare.click('#actions [data-action="stop"]', { timeout: 5000 });
  await until(bare, "the refusal of a wrong token (403)", 5000, (s) =>
    s.message.kind === "refused" && s.message.status === "403" && /not the supervisor's/.test(s.message.text));
  await shot(bare, "refused-wrong-token");

  const after = statusOf(herdStatus(), "Hamilton");
  check(after.state === "up" && after.pid === before.pid,
        "Hamilton changed after refused stops: before " + JSON.stringify([before.state, before.pid]) +
        ", after " + JSON.stringify([after.state, after.pid]));
  snap = await snapshot(bare);
  check(snap.servers.Hamilton.state === "up" && snap.servers.Hamilton.pid === String(before.pid),
        "the page shows Hamilton changed after refused stops:\n  " + describe(snap));

  /* 6. The supervisor gone: the page says it cannot reach it. */
  supervisorGone = true;
  herd("stop");
  await until(bare, "supervisor unreachable", 3000, (s) =>
    s.status.state === "unreachable" && /supervisor unreachable/.test(s.status.text));
  await shot(bare, "supervisor-gone");

  /* 7. A supervisor that runs only Alford and Parker (the others could be
   * another machine's): the page comes back by itself; the three it does
   * not run, with nothing answering for them, are drawn unknown, and their
   * panel offers cut and heal but not stop, start, restart or kill. */
  herd("start", "--only", "Alford,Parker");
  const others = ["Bolden", "Hamilton", "Powell"];
  await until(bare, "the servers it does not run as unknown", 10000, (s) =>
    s.status.state === "live" && s.servers.Alford.state === "up" && s.servers.Parker.state === "up" &&
    others.every((n) => s.servers[n].state === "unknown" && s.servers[n].managed === "false") &&
    link(s, "Alford", "Parker").state === "up" && link(s, "Bolden", "Powell").state === "unknown");
  await bare.click('[data-server="Powell"]', { timeout: 5000 });
  await until(bare, "Powell's panel, process buttons off", 2000, (s) =>
    s.panel === "server Powell" && s.buttons.cut && s.buttons.heal &&
    !s.buttons.stop && !s.buttons.start && !s.buttons.restart && !s.buttons.kill);
  await shot(bare, "only-alford-parker");
  herd("stop");
  await bare.close();
}

async function main() {
  if (!fs.existsSync(CHROMIUM)) fail(CHROMIUM + " is missing: apt-get install chromium");
  let chromium;
  try {
    ({ chromium } = await import("playwright-core"));
  } catch (e) {
    fail("playwright-core is missing (" + e.message + "): npm ci --prefix tests/browser");
  }
  fs.mkdirSync(args.artifacts, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "herd-browser-"));
  let ctx = null;
  const errors = [];
  const deadline = setTimeout(async () => {
    console.error("FAIL: the browser test passed its deadline of " + TOTAL_DEADLINE_MS + " ms");
    try {
      if (ctx) await ctx.close();
    } finally {
      fs.rmSync(profile, { recursive: true, force: true });
      process.exit(1);
    }
  }, TOTAL_DEADLINE_MS);
  let failed = null;
  try {
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 20000,
      viewport: { width: 1280, height: 800 },
    });
    const browser = ctx.browser();
    log("chromium " + (browser ? browser.version() : "started"));
    await scenario(ctx, errors);
    if (errors.length) fail("the page reported errors:\n  " + errors.join("\n  "));
  } catch (e) {
    failed = e;
    for (const p of ctx ? ctx.pages() : []) {
      try {
        await p.screenshot({ path: path.join(args.artifacts, "failure.png") });
      } catch (e2) {
        /* the page may be gone */
      }
    }
  } finally {
    if (ctx) await ctx.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
    clearTimeout(deadline);
  }
  if (failed) {
    console.error("FAIL: " + (failed instanceof Failure ? failed.message : failed.stack || failed));
    if (errors.length) console.error("page errors:\n  " + errors.join("\n  "));
    process.exit(1);
  }
  log("ok: " + shotCount + " screenshots in " + args.artifacts);
}

main().catch((e) => {
  console.error("FAIL: " + (e instanceof Failure ? e.message : e.stack || e));
  process.exit(1);
});
