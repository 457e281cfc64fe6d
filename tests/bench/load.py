"""Load generation: ``wrk`` with a Lua script posting distinct callbacks, or a Python fallback.

Every request carries a distinct, realistic body: a C2B confirmation whose
``TransID`` is ``TAG`` + thread number + counter, or a successful STK callback
for the pre-created request ``ws_CO_TAG…`` with the receipt of the same number.
Each wrk thread stops after its share of the fixed request count; the run's
duration is measured inside the script (``clock_gettime`` through LuaJIT's
FFI), from the first request sent to the last thread stopping, so wrk's own
``-d`` upper bound does not enter the figures.

Without ``wrk`` on PATH the same bodies are posted by :mod:`tests.bench.pyload`
(httpx on asyncio, in its own process) — slower than wrk, so it can be the
bottleneck for the bare endpoint; the result says which generator ran.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.bench.server import ACCOUNTS, PREFIX

__all__ = [
    "PHONE_HASHES",
    "checkout_id",
    "confirmation_body",
    "generator",
    "receipt",
    "run_load",
    "stk_callback_body",
    "threads_for",
]

TRANS_TIME = "20240710101603"
PHONE_HASHES = [
    hashlib.sha256(f"2547{n:08d}".encode()).hexdigest() for n in range(10_000_000, 10_000_064)
]
AMOUNT = "500.00"


def generator() -> str:
    """Return ``"wrk"`` when wrk is installed, else ``"python"`` (the fallback)."""
    if os.environ.get("MPESA_BENCH_LOADGEN", "") == "python":
        return "python"
    return "wrk" if shutil.which("wrk") else "python"


def threads_for(connections: int) -> int:
    """Return the generator threads for ``connections`` (one per core at most)."""
    return max(1, min(connections, os.cpu_count() or 1, 2))


def receipt(tag: str, thread: int, n: int) -> str:
    """Return the M-Pesa receipt of request ``n`` of ``thread`` (10 characters, like Daraja's)."""
    return f"{tag}{thread}{n:06d}"


def checkout_id(tag: str, thread: int, n: int) -> str:
    """Return the CheckoutRequestID the STK callback of that request names."""
    return f"ws_CO_{tag}{thread}{n:06d}"


def confirmation_body(tag: str, thread: int, n: int) -> dict[str, Any]:
    """Return the C2B confirmation of request ``n`` (what the Lua script sends)."""
    return {
        "TransactionType": "Pay Bill",
        "TransID": receipt(tag, thread, n),
        "TransTime": TRANS_TIME,
        "TransAmount": AMOUNT,
        "BusinessShortCode": "174379",
        "BillRefNumber": ACCOUNTS[n % len(ACCOUNTS)],
        "InvoiceNumber": "",
        "OrgAccountBalance": "10500.00",
        "ThirdPartyTransID": "",
        "MSISDN": PHONE_HASHES[n % len(PHONE_HASHES)],
        "FirstName": "JOHN",
        "MiddleName": "",
        "LastName": "DOE",
    }


def stk_callback_body(tag: str, thread: int, n: int) -> str:
    """Return the successful STK callback of request ``n`` as Daraja sends it (bare numbers)."""
    return (
        '{"Body":{"stkCallback":{"MerchantRequestID":"29115-34620561-1",'
        f'"CheckoutRequestID":"{checkout_id(tag, thread, n)}","ResultCode":0,'
        '"ResultDesc":"The service request is processed successfully.",'
        '"CallbackMetadata":{"Item":[{"Name":"Amount","Value":500.00},'
        f'{{"Name":"MpesaReceiptNumber","Value":"{receipt(tag, thread, n)}"}},'
        f'{{"Name":"Balance"}},{{"Name":"TransactionDate","Value":{TRANS_TIME}}},'
        '{"Name":"PhoneNumber","Value":254708374149}]}}}}'
    )


_LUA = r"""
local ffi = require("ffi")
ffi.cdef[[ typedef struct { long tv_sec; long tv_nsec; } mpesa_ts;
           int clock_gettime(int, mpesa_ts *); ]]
local ts = ffi.new("mpesa_ts")
local function now_us()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local KIND, TAG, SHARE, DONE_FILE = "@KIND@", "@TAG@", @SHARE@, "@DONE@"
local ACCOUNTS = {@ACCOUNTS@}
local HASHES = {@HASHES@}
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  sent, answered, ok, first, last = 0, 0, 0, 0, 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

local function confirmation(id, n)
  return string.format(
    '{"TransactionType":"Pay Bill","TransID":"%s","TransTime":"@TIME@",' ..
    '"TransAmount":"@AMOUNT@","BusinessShortCode":"174379","BillRefNumber":"%s",' ..
    '"InvoiceNumber":"","OrgAccountBalance":"10500.00","ThirdPartyTransID":"",' ..
    '"MSISDN":"%s","FirstName":"JOHN","MiddleName":"","LastName":"DOE"}',
    id, ACCOUNTS[(n % #ACCOUNTS) + 1], HASHES[(n % #HASHES) + 1])
end

local function stk(id, n)
  return string.format(
    '{"Body":{"stkCallback":{"MerchantRequestID":"29115-34620561-1",' ..
    '"CheckoutRequestID":"ws_CO_%s","ResultCode":0,' ..
    '"ResultDesc":"The service request is processed successfully.",' ..
    '"CallbackMetadata":{"Item":[{"Name":"Amount","Value":@AMOUNT@},' ..
    '{"Name":"MpesaReceiptNumber","Value":"%s"},{"Name":"Balance"},' ..
    '{"Name":"TransactionDate","Value":@TIME@},{"Name":"PhoneNumber","Value":254708374149}]}}}}',
    id, id)
end

function request()
  sent = sent + 1
  if first == 0 then first = now_us() end
  local id = string.format("%s%d%06d", TAG, tid, sent)
  local body
  if KIND == "confirmation" then body = confirmation(id, sent) else body = stk(id, sent) end
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  answered = answered + 1
  if status == 200 then ok = ok + 1 end
  if answered >= SHARE and last == 0 then
    last = now_us()
    local f = io.open(DONE_FILE, "a")
    f:write(tid, "\n")
    f:close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local first_us, last_us, total_sent, total_ok = nil, 0, 0, 0
  for _, t in ipairs(threads) do
    local f, l = t:get("first"), t:get("last")
    if first_us == nil or f < first_us then first_us = f end
    if l > last_us then last_us = l end
    total_sent = total_sent + t:get("sent")
    total_ok = total_ok + t:get("ok")
  end
  local e = summary.errors
  io.write(string.format(
    '\nRESULT {"answered":%d,"ok":%d,"sent":%d,"seconds":%.6f,' ..
    '"p50_ms":%.3f,"p95_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, total_ok, total_sent, (last_us - first_us) / 1e6,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def _lua(kind: str, tag: str, share: int, done: Path) -> str:
    values = {
        "@KIND@": kind,
        "@TAG@": tag,
        "@SHARE@": str(share),
        "@DONE@": str(done),
        "@ACCOUNTS@": ",".join(f'"{a}"' for a in ACCOUNTS),
        "@HASHES@": ",".join(f'"{h}"' for h in PHONE_HASHES),
        "@TIME@": TRANS_TIME,
        "@AMOUNT@": AMOUNT,
    }
    text = _LUA
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def path_for(kind: str) -> str:
    """Return the callback path of ``kind`` (``confirmation`` or ``stk``) on both servers."""
    return f"{PREFIX}/confirmation" if kind == "confirmation" else f"{PREFIX}/stk-push/callback"


def run_load(base_url: str, kind: str, tag: str, connections: int, requests: int) -> dict[str, Any]:
    """Post ``requests`` distinct ``kind`` callbacks over ``connections`` connections.

    ``requests`` is rounded down to a multiple of the generator's threads. Returns
    the answered count, requests/s, latency percentiles (ms) and errors.
    """
    threads = threads_for(connections)
    share = requests // threads
    url = base_url + path_for(kind)
    if generator() == "python":
        result = _run_python(url, kind, tag, connections, threads, share)
    else:
        result = _run_wrk(url, kind, tag, connections, threads, share)
    result.update(
        generator=generator(),
        connections=connections,
        threads=threads,
        requests=share * threads,
        rps=result["answered"] / result["seconds"] if result["seconds"] else 0.0,
    )
    return result


def _run_wrk(
    url: str, kind: str, tag: str, connections: int, threads: int, share: int
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        done = tmp / "done"
        done.touch()
        script = tmp / "load.lua"
        script.write_text(_lua(kind, tag, share, done))
        process = subprocess.Popen(
            [
                "wrk",
                "-t",
                str(threads),
                "-c",
                str(connections),
                "-d",
                "1200s",
                "--timeout",
                "30s",
                "-s",
                str(script),
                url,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 1200
        # wrk's main thread sleeps for the whole -d: once every thread has stopped
        # (each wrote its line), interrupt it so it prints the summary.
        while process.poll() is None and time.monotonic() < deadline:
            if len(done.read_text().split()) >= threads:
                process.send_signal(signal.SIGINT)
                break
            time.sleep(0.02)
        out, err = process.communicate(timeout=60)
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    if not lines:
        raise RuntimeError(f"wrk printed no result:\n{out}\n{err}")
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return result


def _run_python(
    url: str, kind: str, tag: str, connections: int, threads: int, share: int
) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.bench.pyload",
            url,
            kind,
            tag,
            str(connections),
            str(threads),
            str(share),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"the Python load generator failed:\n{out.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result
