-- wrk script for bench/auth.ts: every request is a GET of a path picked at random from a file of
-- paths, one a line, optionally with a credential header from a second file (one `Name: value` a
-- line: an Authorization bearer token, an API key, a session Cookie). Path i carries credential
-- ((i - 1) mod K) + 1, so every credential is used and the pairing is the same in every run.
--
--   wrk ... -s bench/servers/auth-get.lua URL -- PATHS_FILE [CREDENTIALS_FILE]
--
-- Every request is formatted once, in init, with or without a credential, so the anonymous and the
-- authenticated runs cost wrk the same per request (one table lookup). The random sequence is
-- seeded with a constant per wrk thread. Headers given with -H are sent on every request as well.

local threads = 0

-- Runs in the main Lua state once per wrk thread; `id` becomes a global of that thread's state.
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

local requests = {}

local function lines(name)
  local out = {}
  local file = assert(io.open(name, "r"))
  for line in file:lines() do
    if line ~= "" then out[#out + 1] = line end
  end
  file:close()
  return out
end

function init(args)
  local pathsFile = args[1] or error("usage: -s auth-get.lua URL -- PATHS_FILE [CREDENTIALS_FILE]")
  local paths = lines(pathsFile)
  if #paths == 0 then error("no paths in " .. pathsFile) end
  local credentials = {}
  if args[2] then
    for _, line in ipairs(lines(args[2])) do
      local name, value = line:match("^([^:]+):%s*(.*)$")
      if not name then error("not a `Name: value` line in " .. args[2] .. ": " .. line) end
      credentials[#credentials + 1] = { name = name, value = value }
    end
    if #credentials == 0 then error("no credentials in " .. args[2]) end
  end
  for i, path in ipairs(paths) do
    -- wrk.format uses the table it is given instead of wrk.headers: copy the -H headers in.
    local headers = {}
    for name, value in pairs(wrk.headers) do
      headers[name] = value
    end
    if #credentials > 0 then
      local credential = credentials[((i - 1) % #credentials) + 1]
      headers[credential.name] = credential.value
    end
    requests[i] = wrk.format("GET", path, headers)
  end
  math.randomseed(1000 + (id or 0))
end

function request()
  return requests[math.random(#requests)]
end
