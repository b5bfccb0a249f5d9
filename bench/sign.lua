-- wrk script: POST pre-made /sign bodies (one JSON document per line of BODIES), each exactly once.
-- Tokens are single use: once the bodies run out the script sends cheap GET /health requests (not
-- counted) until the run's duration ends. Counters live in each thread's Lua state;
-- done() (which runs in the main state) adds them up through the thread handles from setup().
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bodies = {}
  sent = 0
  ok = 0
  bad = 0
  for line in io.lines(os.getenv("BODIES")) do
    bodies[#bodies + 1] = line
  end
end

function request()
  if sent < #bodies then
    sent = sent + 1
    return wrk.format("POST", "/sign", {["Content-Type"] = "application/json"}, bodies[sent])
  end
  return wrk.format("GET", "/health")
end

function response(status, headers, body)
  if status == 201 then
    ok = ok + 1
  elseif status ~= 200 then
    bad = bad + 1
    if bad <= 3 then
      io.stderr:write("non-201 answer " .. status .. ": " .. body .. "\n")
    end
  end
end

function done(summary, latency, requests)
  local total_ok, total_bad = 0, 0
  for _, t in ipairs(threads) do
    total_ok = total_ok + t:get("ok")
    total_bad = total_bad + t:get("bad")
  end
  io.write(string.format("RESULT ok=%d bad=%d errors=%d duration_us=%d p50_us=%d p99_us=%d\n",
    total_ok, total_bad, summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout, summary.duration,
    latency:percentile(50), latency:percentile(99)))
end
