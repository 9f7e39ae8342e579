-- wrk script for bench/auth.ts: every request is a POST to the URL (a sign-in endpoint) with the
-- next JSON body of a file of bodies, one a line (`{"email":"…","password":"…"}` of N users), in
-- order, round-robin:
--
--   wrk -tT ... -H 'Content-Type: application/json' -s bench/servers/auth-sign-in.lua URL -- BODIES_FILE T
--
-- In order rather than at random so that the requests in flight at any moment (at most one per
-- connection) are for different users while N exceeds the connections: the sign-in guard's
-- per-account count, which holds an attempt as a failure until its password is found correct,
-- then never sees one account attempted several times at once. Each wrk thread starts at its own
-- offset into the list (T, the wrk thread count, spaces them out). Headers given with -H are sent
-- on every request.

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

local requests = {}
local counter = 0

function init(args)
  local name = args[1] or error("usage: -s auth-sign-in.lua URL -- BODIES_FILE THREADS")
  local threadCount = tonumber(args[2] or "1")
  local file = assert(io.open(name, "r"))
  for line in file:lines() do
    if line ~= "" then requests[#requests + 1] = wrk.format("POST", nil, nil, line) end
  end
  file:close()
  if #requests == 0 then error("no bodies in " .. name) end
  -- Thread t of T starts (t - 1) / T of the way into the list.
  counter = math.floor(((id or 1) - 1) * #requests / threadCount)
end

function request()
  counter = counter + 1
  return requests[((counter - 1) % #requests) + 1]
end
