-- A clinic's morning in one wrk script: submissions (with unique Idempotency-Keys),
-- trend reads, FHIR searches and logins, in fixed proportions per thread.
-- Settings come from the environment (written by bench/load_mixed.py).
--
-- Per-category latency, client side: wrk's Lua has no clock and response() does not say
-- which request it answers, so each request carries an X-Request-ID ("<category>-<thread>-
-- <counter>", which tracker echoes), request() notes the monotonic time (clock_gettime
-- through LuaJIT's ffi) just before wrk writes the request, and response() looks the echoed
-- ID up when the answer has been read. That is wrk's own latency, queueing included.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } mixed_timespec;
int clock_gettime(int clock_id, mixed_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local now_buffer = ffi.new("mixed_timespec")
local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, now_buffer)
  return tonumber(now_buffer.tv_sec) * 1000 + tonumber(now_buffer.tv_nsec) / 1e6
end
local cookie = os.getenv("LOAD_COOKIE")
local csrf = os.getenv("LOAD_CSRF")
local bearer = os.getenv("LOAD_TOKEN")
local patients = tonumber(os.getenv("LOAD_PATIENTS"))
local email = os.getenv("LOAD_EMAIL")
local password = os.getenv("LOAD_PASSWORD")
-- Idempotency-Keys are unique per run; set a prefix when several wrk runs share a database.
local key_prefix = os.getenv("LOAD_KEY_PREFIX") or "load"

local counter = 0
-- thread_id is a global that setup() sets in each thread (a file-level local of the same
-- name would hide it: every thread was thread 0, with the same random patients and the
-- same Idempotency-Keys, so half the submissions were replays of the other thread's).
thread_id = 0
local next_thread_id = 0
local statuses = {}
local threads = {}
local sent_at = {}  -- X-Request-ID -> when request() built it (ms)
-- Globals, so done() can copy them out of each thread: "<X-Request-ID> <ms>" per answer, and
-- answers whose X-Request-ID was missing or unknown.
samples = {}
unmatched = 0

function setup(thread)
  thread:set("thread_id", next_thread_id)
  next_thread_id = next_thread_id + 1
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(thread_id * 7919 + 17)
end

local function patient()
  return math.random(1, patients)
end

local function tagged(category, headers)
  local id = category .. "-" .. thread_id .. "-" .. counter
  headers["X-Request-ID"] = id
  sent_at[id] = now_ms()
  return headers
end

-- Each block of 20 requests holds 5 submissions, 7 trends, 7 searches and 1 login, in an
-- order shuffled per block. In counter order (0-4 submit … 19 login) every thread sent its
-- submissions right after its login, all at once, and its reads well after: the categories
-- arrived in waves, so each one's latency said more about the order than about its cost.
local block = {}
local function next_pick()
  local slot = counter % 20
  if slot == 0 then
    for i = 0, 19 do block[i] = i end
    for i = 19, 1, -1 do
      local j = math.random(0, i)
      block[i], block[j] = block[j], block[i]
    end
  end
  return block[slot]
end

request = function()
  local pick = next_pick()
  counter = counter + 1
  if pick < 5 then  -- 25 %: a patient's app submits a PHQ-9
    local body = string.format(
      '{"instrument":"phq9","answers":[%d,1,2,0,1,2,1,0,0],"completed_at":"2026-03-01T09:30:00Z"}',
      counter % 4)
    return wrk.format("POST", "/api/v1/patients/" .. patient() .. "/responses", tagged("submit", {
      ["Content-Type"] = "application/json", ["Cookie"] = cookie, ["X-CSRF-Token"] = csrf,
      ["Idempotency-Key"] = key_prefix .. "-" .. thread_id .. "-" .. counter}), body)
  elseif pick < 12 then  -- 35 %: a clinician opens a trend
    return wrk.format("GET", "/api/v1/patients/" .. patient() .. "/trends/phq9",
      tagged("trend", {["Cookie"] = cookie}))
  elseif pick < 19 then  -- 35 %: the EHR pulls Observations
    return wrk.format("GET", "/fhir/Observation?patient=" .. patient() .. "&_count=50",
      tagged("fhir", {["Authorization"] = "Bearer " .. bearer}))
  else  -- 5 %: someone logs in
    return wrk.format("POST", "/api/v1/auth/login",
      tagged("login", {["Content-Type"] = "application/json"}),
      string.format('{"email":"%s","password":"%s"}', email, password))
  end
end

response = function(status, headers, body)
  local done_at = now_ms()
  statuses[status] = (statuses[status] or 0) + 1
  local id = headers["X-Request-ID"] or headers["x-request-id"]
  local started = id and sent_at[id]
  if started then
    sent_at[id] = nil
    samples[#samples + 1] = string.format("%s %.3f", id, done_at - started)
  else
    unmatched = unmatched + 1
  end
end

done = function(summary, latency, requests)
  -- Every answer's ID and latency, for bench/load_mixed.py to take percentiles of.
  local path = os.getenv("LOAD_SAMPLES")
  if path then
    local out = assert(io.open(path, "w"))
    local missing = 0
    for _, thread in ipairs(threads) do
      for _, line in ipairs(thread:get("samples")) do
        out:write(line, "\n")
      end
      missing = missing + thread:get("unmatched")
    end
    out:write("unmatched ", missing, "\n")
    out:close()
  end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    "RESULT requests=%d seconds=%.1f rps=%.1f p50_ms=%.2f p99_ms=%.2f socket_or_status_errors=%d non_2xx=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors, summary.errors.status))
end
