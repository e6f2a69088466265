// pushgate admin: progressive enhancement only; every page works without this script.
"use strict";

function csrfToken(form) {
  const field = form.querySelector('input[name="csrf_token"]');
  return field ? field.value : "";
}

// Compose: refresh the preview while typing (the same fragment the Preview button renders).
function livePreview() {
  const form = document.getElementById("compose-form");
  const target = document.getElementById("preview");
  if (!form || !target) return;
  let timer = null;
  let sequence = 0;
  const refresh = async () => {
    const mine = ++sequence;
    const body = new URLSearchParams(new FormData(form));
    const answer = await fetch(form.dataset.preview, {
      method: "POST", body, credentials: "same-origin", headers: { "X-CSRF-Token": csrfToken(form) },
    });
    if (answer.ok && mine === sequence) target.innerHTML = await answer.text();
  };
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  });
}

// Compose: while a tag target is typed, show how many devices it reaches now (or where the
// expression stops parsing), asking the server at most once per pause in the typing.
function liveAudience() {
  const form = document.getElementById("compose-form");
  const field = document.getElementById("c-values");
  const shown = document.getElementById("audience-count");
  if (!form || !field || !shown) return;
  let timer = null;
  let sequence = 0;
  const refresh = async () => {
    const mine = ++sequence;
    const chosen = form.querySelector('input[name="audience"]:checked');
    if (!chosen || chosen.value !== "tags" || !field.value.trim()) {
      shown.textContent = "";
      shown.className = "";
      return;
    }
    const query = new URLSearchParams({ tags: field.value });
    for (const box of form.querySelectorAll('input[name="providers"]:checked')) query.append("providers", box.value);
    const answer = await fetch(`${field.dataset.countUrl}?${query}`, { credentials: "same-origin" });
    // A signed-out session is answered with the login page, not JSON: show nothing then.
    if (mine !== sequence || !(answer.headers.get("content-type") || "").startsWith("application/json")) return;
    const result = await answer.json();
    if (answer.ok) {
      const devices = result.devices.toLocaleString("en");
      const users = result.users.toLocaleString("en");
      shown.textContent = `Reaches ${devices} device${result.devices === 1 ? "" : "s"} (${users} user${result.users === 1 ? "" : "s"}) now.`;
      shown.className = "notice";
    } else {
      shown.textContent = result.error || "not a valid target";
      if (typeof result.position === "number") {
        shown.textContent += `\n${field.value.replace(/\s/g, " ")}\n${" ".repeat(result.position)}^`;
      }
      shown.className = "error pointer";
    }
  };
  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  };
  form.addEventListener("input", later);
  form.addEventListener("change", later);
  later();
}

// A send's page: follow the counters until the send is finished, then reload once for the
// outcome table and the chart.
function followSend() {
  const live = document.getElementById("send-live");
  if (!live || live.dataset.running !== "yes") return;
  const poll = async () => {
    const answer = await fetch(live.dataset.statusUrl, { credentials: "same-origin" });
    if (!answer.ok) return;
    const status = await answer.json();
    for (const element of document.querySelectorAll("[data-field]")) {
      const value = status[element.dataset.field];
      if (value !== undefined) element.textContent = String(value);
    }
    if (status.running) setTimeout(poll, 1000);
    else window.location.reload();
  };
  setTimeout(poll, 1000);
}

// Devices: one checkbox selects every device on the page.
function selectAll() {
  const all = document.getElementById("select-all");
  if (!all) return;
  all.addEventListener("change", () => {
    for (const box of document.querySelectorAll('input[name="device"]')) box.checked = all.checked;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  livePreview();
  liveAudience();
  followSend();
  selectAll();
});
