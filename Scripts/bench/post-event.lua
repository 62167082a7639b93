-- wrk script: POST a ~200-byte event to /api/events, spread over 10 sessions.
local counter = 0
request = function()
  counter = counter + 1
  local body = string.format('{"sessionId":"wrk-%d","type":"bench","timestamp":"2026-11-24T12:00:00.000Z","data":{"n":%d,"pad":"%s"}}',
    counter % 10, counter, string.rep("x", 90))
  return wrk.format("POST", "/api/events", {["Content-Type"] = "application/json"}, body)
end
