// The operator page: plain JavaScript over the kit's internal API and the host's own.
"use strict";

const KIT = "/api/internal/mpesa";
const FINAL = new Set(["COMPLETED", "FAILED", "CANCELLED", "EXPIRED"]);
const $ = (id) => document.getElementById(id);
let hostInfo = null;
let policies = [];

// The key comes from the link the host printed (#key=…) or from the form; it is kept
// for this tab only.
function apiKey() { return sessionStorage.getItem("sampleHostApiKey") || ""; }
function takeKeyFromHash() {
  const match = /(?:^|[#&])key=([^&]+)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem("sampleHostApiKey", decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname);
  }
}

// What an operator should read for each stable error code of the kit.
const EXPLAIN = {
  unknown_account: "Unknown account: no policy has this payment account number.",
  invalid_phone_number: "Invalid phone number: use a Kenyan mobile number such as 0708374149.",
  invalid_account_reference: "Invalid account number.",
  stk_disabled: "STK push is disabled on this host (MPESA_STK_ENABLED=false).",
  stk_push_in_progress: "This phone already has a prompt open.",
  unauthenticated: "That key was refused: enter the key the sample host printed at start.",
  simulator_off: "The simulator is not running.",
  statement_too_large: "That statement file is too large.",
};

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(path, options = {}) {
  const headers = Object.assign({ "X-API-Key": apiKey() }, options.headers || {});
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(options.json);
  }
  const response = await fetch(path, Object.assign({}, options, { headers }));
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!response.ok) {
    const err = (data && data.error) || {};
    if (response.status === 401) showKeyPanel();
    throw new ApiError(response.status, err.code || `http_${response.status}`,
                       err.message || text || response.statusText);
  }
  return data;
}

function showError(err) {
  const box = $("error");
  box.textContent = EXPLAIN[err.code] || sentence(err.message || String(err));
  box.dataset.code = err.code || "";
  box.hidden = false;
}
// One sentence per error: the page's own explanation for a known code, otherwise the
// kit's message as it stands (capitalised, with a full stop), never both.
function sentence(text) {
  const trimmed = String(text).trim();
  if (!trimmed) return "Something went wrong.";
  const first = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}
function clearMessages() { $("error").hidden = true; $("notice").hidden = true; }
function notice(text) { const box = $("notice"); box.textContent = text; box.hidden = false; }

function showKeyPanel() {
  $("key-panel").hidden = false;
  $("api-key").value = apiKey();
}

function cell(row, text) { const td = document.createElement("td"); td.textContent = text ?? ""; row.appendChild(td); return td; }
function kes(value) { return value == null ? "" : `KES ${Number(value).toLocaleString("en-KE", { minimumFractionDigits: 2 })}`; }
// Kenyan operators read dates day-first, 24-hour, in Nairobi time: 03/12/2026 14:05.
const NAIROBI = new Intl.DateTimeFormat("en-GB", {
  timeZone: "Africa/Nairobi", day: "2-digit", month: "2-digit", year: "numeric",
  hour: "2-digit", minute: "2-digit", hourCycle: "h23",
});
function when(value) {
  if (!value) return "";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  const part = Object.fromEntries(NAIROBI.formatToParts(date).map((p) => [p.type, p.value]));
  return `${part.day}/${part.month}/${part.year} ${part.hour}:${part.minute}`;
}

// -- policies -----------------------------------------------------------------------

async function loadPolicies() {
  policies = (await api("/api/policies")).items;
  const body = $("policies").querySelector("tbody");
  body.replaceChildren();
  for (const p of policies) {
    const row = document.createElement("tr");
    row.dataset.account = p.paymentAccountNumber;
    cell(row, p.number); cell(row, p.customer); cell(row, p.product); cell(row, kes(p.premium));
    cell(row, p.paymentAccountNumber); cell(row, kes(p.received));
    const badge = document.createElement("span");
    badge.className = `badge ${p.paid ? "paid" : "due"}`;
    badge.textContent = p.paid ? "Paid" : "Due";
    cell(row, "").appendChild(badge);
    const pick = document.createElement("button");
    pick.type = "button"; pick.className = "secondary"; pick.textContent = "Select";
    pick.addEventListener("click", () => selectPolicy(p));
    cell(row, "").appendChild(pick);
    body.appendChild(row);
  }
}

function selectPolicy(p) {
  $("pay-account").value = p.paymentAccountNumber;
  $("pay-phone").value = p.phone;
  const due = Math.max(Number(p.premium) - Number(p.received), 1);
  $("pay-amount").value = String(Math.ceil(due));
}

// -- STK push -----------------------------------------------------------------------

function formValues() {
  return {
    accountReference: $("pay-account").value.trim(),
    phoneNumber: $("pay-phone").value.trim(),
    amount: $("pay-amount").value.trim(),
  };
}

function showPrompt(dto) {
  $("pay-status").hidden = false;
  $("pay-checkout").textContent = dto.checkoutRequestID || dto.id;
  const state = $("pay-state");
  state.textContent = dto.status;
  state.dataset.status = dto.status;
  const detail = [];
  if (dto.resultDesc) detail.push(dto.resultDesc);
  if (dto.mpesaReceiptNumber) detail.push(`receipt ${dto.mpesaReceiptNumber}`);
  if (dto.status === "PENDING") detail.push("waiting for the customer…");
  $("pay-detail").textContent = detail.join(" · ");
}

async function requestPayment() {
  const values = formValues();
  const dto = await api(`${KIT}/stk-push/initiate`, {
    method: "POST",
    json: Object.assign({ transactionDesc: "Premium" }, values),
  });
  showPrompt(dto);
  let current = dto;
  const deadline = Date.now() + 120000;
  while (!FINAL.has(current.status) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    current = await api(`${KIT}/stk-push/${dto.id}`);
    showPrompt(current);
  }
  await refresh();
}

async function withButton(button, work) {
  clearMessages();
  button.disabled = true;
  try { await work(); } catch (err) { showError(err); } finally { button.disabled = false; }
}

async function promptWithOutcome(outcome) {
  const values = formValues();
  await api("/api/simulator/stk-outcome", { method: "POST", json: { outcome, phoneNumber: values.phoneNumber } });
  await requestPayment();
}

async function c2bPayment() {
  const answer = await api("/api/simulator/c2b-payment", { method: "POST", json: formValues() });
  notice(answer.message);
  setTimeout(refresh, (hostInfo && hostInfo.simulator ? 1500 : 0));
}

// -- statements ---------------------------------------------------------------------

async function uploadStatement() {
  const file = $("statement-file").files[0];
  if (!file) throw new ApiError(400, "invalid_request", "Choose a statement file first.");
  // A new upload replaces the last one's figures; a failed one must not leave them up.
  $("statement-result").hidden = true;
  $("statement-failures").replaceChildren();
  for (const id of ["stat-total", "stat-matched", "stat-duplicates", "stat-gaps", "stat-failed", "stat-status"]) {
    $(id).textContent = "";
  }
  const form = new FormData();
  form.append("file", file);
  let result;
  try {
    result = await api(`${KIT}/statements`, { method: "POST", body: form });
  } catch (err) {
    if (err.status === 404 || err.status === 405) {
      throw new ApiError(err.status, "not_available", "Statement upload is not available in this version of the kit.");
    }
    throw err;
  }
  $("statement-result").hidden = false;
  $("stat-total").textContent = result.totalStatementItems;
  $("stat-matched").textContent = result.matchedIpnRecords;
  $("stat-duplicates").textContent = result.duplicateStatementRecords;
  $("stat-gaps").textContent = result.gapsFilled;
  $("stat-failed").textContent = (result.failedItems || []).length;
  $("stat-status").textContent = result.status;
  const failures = $("statement-failures");
  failures.replaceChildren();
  for (const item of result.failedItems || []) {
    const li = document.createElement("li");
    li.textContent = `row ${item.row}: ${item.reason}`;
    failures.appendChild(li);
  }
  await refresh();
}

async function downloadSample() {
  const response = await fetch("/api/sample-statement.csv", { headers: { "X-API-Key": apiKey() } });
  if (!response.ok) throw new ApiError(response.status, "http_" + response.status, await response.text());
  const name = (/filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "") || [])[1] || "statement.csv";
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = name;
  link.click();
}

// -- payments -----------------------------------------------------------------------

async function loadPayments() {
  const body = $("payments").querySelector("tbody");
  let rows;
  try {
    const items = (await api(`${KIT}/payments?limit=15`)).items;
    $("payments-note").textContent = "Every payment the kit recorded, newest first.";
    rows = items.map((p) => [p.transactionReference, when(p.completionTime), p.accountNumber,
      kes(p.paidIn), p.source, p.mpesaStkPushRequestId ? `yes (${p.linkMethod || "linked"})` : "no"]);
  } catch (err) {
    if (err.status !== 404) throw err;
    // A kit without the payments list: show the insurer's own premiums instead.
    const items = (await api("/api/premiums")).items;
    $("payments-note").textContent = "Premiums the insurer recorded from the kit's events.";
    rows = items.map((p) => [p.receiptNumber, when(p.receivedAt), p.policyNumber, kes(p.amount),
      p.source, p.stkPushRequestId ? "yes" : "no"]);
  }
  body.replaceChildren();
  for (const values of rows) {
    const row = document.createElement("tr");
    row.dataset.receipt = values[0];
    for (const v of values) cell(row, v);
    body.appendChild(row);
  }
}

async function refresh() {
  await Promise.all([loadPolicies(), loadPayments()]);
}

// -- start --------------------------------------------------------------------------

async function start() {
  takeKeyFromHash();
  try {
    hostInfo = await api("/api/host");
  } catch (err) {
    hostInfo = null;
    $("app").hidden = true;
    showKeyPanel();
    if (err.status === 401) {
      $("env-banner").textContent = apiKey() ? "Not connected: key refused" : "Not connected: enter the API key";
      if (apiKey()) showError(err);
    } else {
      $("env-banner").textContent = "Not connected: the host did not answer";
      showError(err);
    }
    return;
  }
  $("key-panel").hidden = true;
  $("app").hidden = false;
  $("env-banner").textContent = hostInfo.simulator
    ? `Environment: ${hostInfo.environment} · Daraja simulator running in-process · short code ${hostInfo.shortCode}`
    : `Environment: ${hostInfo.environment} · short code ${hostInfo.shortCode}`;
  $("sim-panel").hidden = !hostInfo.simulator;
  await refresh();
  if (policies.length) selectPolicy(policies.find((p) => !p.paid) || policies[0]);
  document.body.dataset.ready = "true";
  setInterval(() => refresh().catch(() => {}), 4000);
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("sampleHostApiKey", $("api-key").value.trim());
  clearMessages();
  start().catch(showError);
});
$("pay-form").addEventListener("submit", (event) => {
  event.preventDefault();
  withButton($("pay-submit"), requestPayment);
});
$("sim-c2b").addEventListener("click", () => withButton($("sim-c2b"), c2bPayment));
$("sim-cancel").addEventListener("click", () => withButton($("sim-cancel"), () => promptWithOutcome("cancelled")));
$("sim-timeout").addEventListener("click", () => withButton($("sim-timeout"), () => promptWithOutcome("timeout")));
$("statement-form").addEventListener("submit", (event) => {
  event.preventDefault();
  withButton($("statement-upload"), uploadStatement);
});
$("statement-sample").addEventListener("click", () => withButton($("statement-sample"), downloadSample));

start().catch(showError);
