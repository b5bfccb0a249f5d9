-- wrk script: POST pre-made /sign bodies (one JSON document per line of BODIES), each exactly once.
-- Tokens are single use, so the script stops sending when it runs out and counts non-201 answers.
local bodies = {}
local i = 0
local bad = 0
local path = os.getenv("BODIES")

function init(args)
  for line in io.lines(path) do
    bodies[#bodies + 1] = line
  end
end

function request()
  i = i + 1
  if i > #bodies then
    wrk.thread:stop()
    i = #bodies
  end
  return wrk.format("POST", "/sign", {["Content-Type"] = "application/json"}, bodies[i])
end

function response(status, headers, body)
  if status ~= 201 then
    bad = bad + 1
    if bad <= 3 then
      io.stderr:write("non-201 answer " .. status .. ": " .. body .. "\n")
    end
  end
end

function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d errors=%d non201=%d duration_us=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout, bad, summary.duration,
    latency:percentile(50), latency:percentile(99)))
end
