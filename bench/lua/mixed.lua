-- A clinic's morning in one wrk script: submissions (with unique Idempotency-Keys),
-- trend reads, FHIR searches and logins, in fixed proportions per thread.
-- Settings come from the environment (written by bench/load_mixed.py).
local cookie = os.getenv("LOAD_COOKIE")
local csrf = os.getenv("LOAD_CSRF")
local bearer = os.getenv("LOAD_TOKEN")
local patients = tonumber(os.getenv("LOAD_PATIENTS"))
local email = os.getenv("LOAD_EMAIL")
local password = os.getenv("LOAD_PASSWORD")
-- Idempotency-Keys are unique per run; set a prefix when several wrk runs share a database.
local key_prefix = os.getenv("LOAD_KEY_PREFIX") or "load"

local counter = 0
local thread_id = 0
local statuses = {}

function setup(thread)
  thread:set("thread_id", thread_id)
  thread_id = thread_id + 1
end

function init(args)
  math.randomseed(thread_id * 7919 + 17)
end

local function patient()
  return math.random(1, patients)
end

request = function()
  counter = counter + 1
  local pick = counter % 20
  if pick < 5 then  -- 25 %: a patient's app submits a PHQ-9
    local body = string.format(
      '{"instrument":"phq9","answers":[%d,1,2,0,1,2,1,0,0],"completed_at":"2026-03-01T09:30:00Z"}',
      counter % 4)
    return wrk.format("POST", "/api/v1/patients/" .. patient() .. "/responses", {
      ["Content-Type"] = "application/json", ["Cookie"] = cookie, ["X-CSRF-Token"] = csrf,
      ["Idempotency-Key"] = key_prefix .. "-" .. thread_id .. "-" .. counter}, body)
  elseif pick < 12 then  -- 35 %: a clinician opens a trend
    return wrk.format("GET", "/api/v1/patients/" .. patient() .. "/trends/phq9",
      {["Cookie"] = cookie})
  elseif pick < 19 then  -- 35 %: the EHR pulls Observations
    return wrk.format("GET", "/fhir/Observation?patient=" .. patient() .. "&_count=50",
      {["Authorization"] = "Bearer " .. bearer})
  else  -- 5 %: someone logs in
    return wrk.format("POST", "/api/v1/auth/login", {["Content-Type"] = "application/json"},
      string.format('{"email":"%s","password":"%s"}', email, password))
  end
end

response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    "RESULT requests=%d seconds=%.1f rps=%.1f p50_ms=%.2f p99_ms=%.2f socket_or_status_errors=%d non_2xx=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors, summary.errors.status))
end
