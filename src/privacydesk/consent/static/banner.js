/* privacydesk consent banner: embed with one <script src="https://<privacydesk>/consent/banner.js" defer>. */
(() => {
  "use strict";
  const me = document.currentScript;
  if (!me || window.privacydesk) return;
  const src = new URL(me.src);
  const base = src.origin;
  const api = base + "/api/v1/public/consent/";
  const COOKIE = "pd_consent";
  const LANGS = ["en", "pl", "ro", "fr", "cs"];
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");

  let stored = read();
  let choices = (stored && stored.c) || {};
  let cfg, root, dialog, fab, opener, styled;
  const ran = {}; // purposes whose scripts have run in this page

  function read() {
    const raw = document.cookie.split("; ").find((kv) => kv.startsWith(COOKIE + "="));
    try {
      return raw && JSON.parse(decodeURIComponent(raw.slice(COOKIE.length + 1)));
    } catch (e) {
      return null;
    }
  }

  function write(value, seconds) {
    const age = seconds > 0 ? "; max-age=" + Math.floor(seconds) : "";
    const secure = location.protocol == "https:" ? "; Secure" : "";
    document.cookie = `${COOKIE}=${encodeURIComponent(JSON.stringify(value))}; path=/; SameSite=Lax${age}${secure}`;
    stored = value;
  }

  function uuid() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 15) | 64; // version 4
    bytes[8] = (bytes[8] & 63) | 128; // RFC 4122 variant
    const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
    return hex.replace(/(.{8})(.{4})(.{4})(.{4})/, "$1-$2-$3-$4-");
  }

  // Tagged scripts (<script type="text/plain" data-category="purpose [purpose...]">) run once all their purposes are allowed.
  function unblock() {
    document.querySelectorAll('script[type="text/plain"][data-category]').forEach((blocked) => {
      const purposes = blocked.dataset.category.split(/\s+/);
      if (!purposes.every((p) => choices[p])) return;
      const script = document.createElement("script");
      for (const a of blocked.attributes) if (a.name != "type") script.setAttribute(a.name, a.value);
      script.nonce = blocked.nonce; // browsers hide a nonce from getAttribute: copied for pages with a Content-Security-Policy
      if (!blocked.hasAttribute("async")) script.async = false; // keep document order among external scripts
      script.text = blocked.text;
      purposes.forEach((p) => (ran[p] = 1));
      blocked.replaceWith(script);
    });
    document.dispatchEvent(new CustomEvent("privacydesk:consent", { detail: { ...choices } }));
  }

  // Removes the cookies of a withdrawn purpose on this host and every parent domain ("_ga*" names a prefix).
  function clearCookies(purpose) {
    const names = purpose.cookies.map((c) => c.name);
    const labels = location.hostname.split(".");
    for (const kv of document.cookie.split("; ")) {
      const name = kv.split("=")[0];
      if (!names.some((n) => n == name || (n.endsWith("*") && name.startsWith(n.slice(0, -1))))) continue;
      const domains = [""];
      for (let i = 0; i < labels.length - 1; i++) domains.push("; domain=" + labels.slice(i).join("."));
      for (const d of domains) document.cookie = `${name}=; path=/; max-age=0${d}`;
    }
  }

  function language() {
    const wanted = [me.dataset.lang, document.documentElement.lang, ...(navigator.languages || [])];
    return wanted.map((l) => (l || "").slice(0, 2).toLowerCase()).find((l) => LANGS.includes(l)) || "";
  }

  async function call(path, body) {
    const init = body && { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
    const response = await fetch(api + path, init);
    if (!response.ok) throw new Error(`privacydesk: ${path} answered ${response.status}`);
    return response.json();
  }

  async function decide(method, next) {
    const before = choices;
    choices = next;
    close();
    const withdrawn = cfg.purposes.filter((p) => before[p.id] && !next[p.id]);
    withdrawn.forEach(clearCookies);
    unblock();
    const id = (stored && stored.id) || uuid();
    let expiry = 0;
    try {
      const record = await call("decisions", {
        subject: "cid:" + id,
        choices: next,
        method,
        surface: "banner",
        language: cfg.language,
        text_hash: cfg.text_hash,
        policy_version: cfg.policy_version,
        page_url: location.href,
        gpc: !!navigator.globalPrivacyControl,
      });
      const ends = Object.values(record.expires_at || {}).filter(Boolean).map(Date.parse);
      expiry = ends.length ? Math.min(...ends) : Date.now() + 395 * 864e5; // nothing expires: still ask again in 13 months
    } catch (e) {
      console.warn(e); // unrecorded: honour the choice for this browsing session only
    }
    write({ id, v: cfg.policy_version, c: next, x: expiry, g: method == "gpc" ? 1 : 0 }, (expiry - Date.now()) / 1000);
    // Scripts already running cannot be stopped: a fresh page load is the only way to stop them.
    if (withdrawn.some((p) => ran[p.id])) location.reload();
  }

  const all = (value) => Object.fromEntries(cfg.purposes.map((p) => [p.id, value]));

  function cookieTable(cookies) {
    const t = cfg.texts;
    const head = [t.cookie_name, t.cookie_provider, t.cookie_domain, t.cookie_lifetime, t.cookie_purpose];
    const rows = cookies.map((c) => `<tr>${[c.name, c.provider, c.domain, c.lifetime, c.purpose].map((v) => `<td>${esc(v)}</td>`).join("")}</tr>`);
    return cookies.length
      ? `<details><summary>${esc(t.cookies)} (${cookies.length})</summary><table><thead><tr>${head
          .map((h) => `<th scope="col">${esc(h)}</th>`)
          .join("")}</tr></thead><tbody>${rows.join("")}</tbody></table></details>`
      : "";
  }

  function build() {
    const t = cfg.texts;
    const host = document.createElement("div");
    host.id = "privacydesk";
    host.style.display = "none"; // until the stylesheet is in
    root = host.attachShadow({ mode: "open" });
    const buttons = (third) =>
      `<div class="actions"><button data-do="accept">${esc(t.accept_all)}</button><button data-do="reject">${esc(
        t.reject_all
      )}</button>${third}</div>`;
    const purposes = cfg.purposes.map(
      (p) => `<section><label><input type="checkbox" role="switch" data-purpose="${esc(p.id)}"> ${esc(p.title)}</label>
        ${p.description ? `<p>${esc(p.description)}</p>` : ""}${cookieTable(p.cookies)}</section>`
    );
    const essential = cfg.essential_cookies.length
      ? `<section><label><input type="checkbox" role="switch" checked disabled> ${esc(t.essential_title)}</label>
        <p>${esc(t.essential_description)}</p>${cookieTable(cfg.essential_cookies)}</section>`
      : "";
    root.innerHTML = `<link rel="stylesheet" href="${base}/consent/banner.css${src.search}">
      <div class="backdrop"></div>
      <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="pd-title" aria-describedby="pd-text" tabindex="-1" lang="${esc(cfg.language)}">
        <div class="top"><h2 id="pd-title">${esc(t.title)}</h2><button class="close" data-do="close">${esc(t.close)}</button></div>
        <p class="revision">${esc(t.revision_notice)}</p>
        <div class="first"><p id="pd-text">${esc(t.description)}</p>${buttons(`<button data-do="customise">${esc(t.customise)}</button>`)}</div>
        <div class="second">${purposes.join("")}${essential}${buttons(`<button data-do="save">${esc(t.save)}</button>`)}</div>
      </div>
      <button class="reopen" data-do="open" aria-label="${esc(t.reopen)}" title="${esc(t.reopen)}" lang="${esc(cfg.language)}"><svg viewBox="0 0 24 24" width="24" height="24" aria-hidden="true"><path d="M12 2a10 10 0 1 0 10 10 4 4 0 0 1-5-5 4 4 0 0 1-5-5zm-4 9a1.5 1.5 0 1 1 0 3 1.5 1.5 0 0 1 0-3zm5 4a1.5 1.5 0 1 1 0 3 1.5 1.5 0 0 1 0-3zm-4-8a1 1 0 1 1 0 2 1 1 0 0 1 0-2z"/></svg></button>`;
    dialog = root.querySelector(".dialog");
    fab = root.querySelector(".reopen");
    fab.hidden = me.dataset.button == "off";
    // Shown once styled; unstyled rather than never if the stylesheet fails, so a choice stays possible.
    const link = root.querySelector("link");
    styled = new Promise((done) => (link.onload = link.onerror = done)).then(() => (host.style.display = ""));
    root.addEventListener("click", (e) => {
      const action = e.target.closest("[data-do]");
      if (action) actions[action.dataset.do]();
    });
    dialog.addEventListener("keydown", keys);
    document.body.append(host);
    // Focus that leaves the open dialog (a click on the page, assistive technology) is brought back.
    document.addEventListener("focusin", (e) => root.host.dataset.open && e.target != root.host && focusables()[0].focus());
  }

  const actions = {
    accept: () => decide("accept_all", all(true)),
    reject: () => decide("reject_all", all(false)),
    save: () => decide("custom", Object.fromEntries([...root.querySelectorAll("[data-purpose]")].map((i) => [i.dataset.purpose, i.checked]))),
    customise: () => layer(2),
    close,
    open: () => open(false),
  };

  function focusables() {
    return [...dialog.querySelectorAll("button, input:not([disabled]), summary")].filter((el) => el.getClientRects().length);
  }

  function keys(e) {
    if (e.key == "Escape" && (dialog.dataset.layer == 2 || stored)) {
      e.preventDefault();
      dialog.dataset.layer == 2 ? layer(1) : close();
    } else if (e.key == "Tab") {
      // Tab and Shift+Tab cycle through the dialog's controls and never leave it.
      e.preventDefault();
      const list = focusables();
      const at = list.indexOf(root.activeElement);
      const next = at < 0 ? (e.shiftKey ? list.length - 1 : 0) : (at + (e.shiftKey ? -1 : 1) + list.length) % list.length;
      list[next].focus();
    }
  }

  function layer(n) {
    dialog.dataset.layer = n;
    if (n == 2) {
      root.querySelectorAll("[data-purpose]").forEach((i) => (i.checked = !!choices[i.dataset.purpose]));
      focusables()[0].focus();
    } else root.querySelector('[data-do="customise"]').focus();
  }

  function open(revised) {
    opener = document.activeElement;
    dialog.classList.toggle("revised", revised);
    dialog.classList.toggle("decided", !!stored);
    root.host.dataset.open = 1;
    fab.classList.add("away");
    dialog.dataset.layer = 1;
    styled.then(() => root.host.dataset.open && dialog.focus());
  }

  function close() {
    if (!root.host.dataset.open) return;
    delete root.host.dataset.open;
    fab.classList.remove("away");
    // Focus goes back where it was; from the floating button's own click, back to that button.
    (opener == root.host ? fab : opener != document.body && opener)?.focus?.();
  }

  async function start() {
    cfg = await call("config" + (language() ? "?lang=" + language() : ""));
    build();
    const gpc = navigator.globalPrivacyControl === true;
    if (!stored) return gpc ? decide("gpc", all(false)) : open(false);
    if (stored.x && stored.x < Date.now()) choices = {};
    let revised = false;
    if (stored.v != cfg.policy_version) {
      // Choices that no longer count (a purpose revised materially, or never recorded) are forgotten and asked again.
      const stale = (await call(`subjects/${encodeURIComponent("cid:" + stored.id)}/choices`)).needs_decision;
      stale.forEach((p) => delete choices[p]);
      revised = stale.length > 0;
      write({ ...stored, c: choices, v: revised ? stored.v : cfg.policy_version }, (stored.x - Date.now()) / 1000);
    }
    if (!revised && cfg.purposes.every((p) => p.id in choices)) return;
    // A refusal by Global Privacy Control is renewed without asking; an explicit choice is asked for again.
    stored.g && gpc ? decide("gpc", all(false)) : open(revised);
  }

  window.privacydesk = { open: () => cfg && open(false), choices: () => ({ ...choices }) };
  document.addEventListener("click", (e) => {
    if (!e.target.closest || !e.target.closest("[data-privacydesk-open]")) return;
    e.preventDefault();
    window.privacydesk.open();
  });
  unblock(); // from the remembered choice, before any round trip
  start().catch((e) => console.warn(e));
})();
