-- wrk script for bench/data-rest.ts: every request is a GET of a path picked at random from a file
-- of paths, one a line (the records of a collection by id, or the same list filtered by each tag).
--
--   wrk ... -s bench/servers/data-rest-paths.lua URL -- PATHS_FILE
--
-- The random sequence is seeded with a constant (per wrk thread), so two runs over files that list
-- the same rows in the same order ask for the same rows in the same order. Headers given with -H
-- (auth, application id) are sent on every request.

local threads = 0

-- Runs in the main Lua state once per wrk thread; `id` becomes a global of that thread's state.
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

local requests = {}

function init(args)
  local name = args[1] or error("usage: -s data-rest-paths.lua URL -- PATHS_FILE")
  local file = assert(io.open(name, "r"))
  for line in file:lines() do
    -- Formatted once here, so a request costs wrk one table lookup.
    if line ~= "" then requests[#requests + 1] = wrk.format("GET", line) end
  end
  file:close()
  if #requests == 0 then error("no paths in " .. name) end
  math.randomseed(1000 + (id or 0))
end

function request()
  return requests[math.random(#requests)]
end
