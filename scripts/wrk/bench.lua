-- wrk script of scripts/bench_http.py: one request shape per run, chosen by the environment.
--
--   BENCH_METHOD   GET or POST (default GET)
--   BENCH_PATH     the path of every GET, or of every POST
--   BENCH_SKUS     POST: comma-separated SKUs, taken round robin into each order
--   BENCH_BASKET   POST: SKUs per order (default 1)
--   BENCH_RUN      POST: a prefix making emails and Idempotency-Keys unique to the run
--
-- Every POST carries a unique email and Idempotency-Key (thread id, then a counter). Each
-- thread counts the answers with the expected status (201 for a POST, 200 for a GET) and the
-- others; done() prints one line, "BENCH_JSON {...}", with the counts and the latency
-- percentiles (microseconds) for the Python side to read.

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  method = os.getenv("BENCH_METHOD") or "GET"
  target = os.getenv("BENCH_PATH") or "/"
  run = os.getenv("BENCH_RUN") or "run"
  basket = tonumber(os.getenv("BENCH_BASKET") or "1")
  skus = {}
  for sku in string.gmatch(os.getenv("BENCH_SKUS") or "", "[^,]+") do
    table.insert(skus, sku)
  end
  counter = 0
  ok = 0
  bad = 0
  first_bad = ""
  expected = method == "POST" and 201 or 200
  headers = {
    ["Content-Type"] = "application/json",
    ["X-Forwarded-Proto"] = "https",
  }
end

function request()
  counter = counter + 1
  if method ~= "POST" then
    return wrk.format("GET", target, headers)
  end
  local key = string.format("%s-%d-%d", run, id, counter)
  local lines = {}
  for slot = 0, basket - 1 do
    -- Consecutive orders start one SKU apart; a basket's SKUs are spread over the list.
    local index = (counter + id * 7919 + slot * math.floor(#skus / basket)) % #skus + 1
    table.insert(lines, string.format('{"sku": "%s", "quantity": 1}', skus[index]))
  end
  local body = string.format(
    '{"email": "%s@example.com", "name": "Bench", "lines": [%s]}', key, table.concat(lines, ", ")
  )
  headers["Idempotency-Key"] = key
  return wrk.format("POST", target, headers, body)
end

function response(status, response_headers, body)
  if status == expected then
    ok = ok + 1
  else
    bad = bad + 1
    if first_bad == "" then
      first_bad = status .. " " .. string.sub(body or "", 1, 300)
    end
  end
end

function done(summary, latency, requests)
  local ok_total, bad_total, sample = 0, 0, ""
  for _, thread in ipairs(threads) do
    ok_total = ok_total + thread:get("ok")
    bad_total = bad_total + thread:get("bad")
    if sample == "" then
      sample = thread:get("first_bad")
    end
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "ok": %d, "unexpected_status": %d, ' ..
    '"socket_errors": %d, "timeouts": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, ' ..
    '"mean_us": %.1f, "max_us": %d, "first_bad": "%s"}\n',
    summary.requests, summary.duration, ok_total, bad_total,
    errors.connect + errors.read + errors.write, errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.mean, latency.max,
    string.gsub(string.gsub(sample, '\\', '\\\\'), '["%c]', "'")
  ))
end
