-- wrk script for bench/sidebyside.py: POST each pre-made body (one JSON document a line in $BODIES) to
-- $TARGET exactly once (one-time tokens), then cheap GET /health (not counted) until the run ends.
-- Prints one RESULT line from the main state.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  bodies, sent, ok, bad, target = {}, 0, 0, 0, os.getenv("TARGET")
  for line in io.lines(os.getenv("BODIES")) do bodies[#bodies + 1] = line end
end
function request()
  if sent < #bodies then
    sent = sent + 1
    return wrk.format("POST", target, {["Content-Type"] = "application/json"}, bodies[sent])
  end
  return wrk.format("GET", "/health")
end
function response(status, headers, body)
  if status == 201 then ok = ok + 1 elseif status ~= 200 then
    bad = bad + 1
    if bad <= 2 then io.stderr:write("answer " .. status .. ": " .. string.sub(body, 1, 200) .. "\n") end
  end
end
function done(summary, latency, requests)
  local o, b = 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); b = b + t:get("bad") end
  io.write(string.format("RESULT ok=%d bad=%d duration_us=%d p50_us=%d p99_us=%d\n", o, b,
    summary.duration, latency:percentile(50), latency:percentile(99)))
end
