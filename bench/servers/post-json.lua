-- wrk script for bench/gateway-pipeline.ts: every request is a POST of the same JSON body with its
-- own Idempotency-Key, so a server that honours the header claims and stores a fresh key each time.
--
--   wrk ... -H 'Content-Type: application/json' -s bench/servers/post-json.lua URL -- PREFIX BODY
--
-- PREFIX must differ between wrk runs against one server (the bench passes a random UUID), or a
-- later run would replay the keys of an earlier one. Keys are structured-field strings,
-- "bench-PREFIX-THREAD-COUNTER", as draft-ietf-httpapi-idempotency-key-header requires.
-- Headers given with -H (Host, Origin, Content-Type) are sent on every request.

local threads = 0

-- Runs in the main Lua state once per wrk thread; `id` becomes a global of that thread's state.
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

local prefix = "run"
local body = "{}"
local headers = {}
local counter = 0

function init(args)
  prefix = args[1] or prefix
  body = args[2] or body
  -- wrk.format uses the table it is given instead of wrk.headers: copy the -H headers in once.
  for name, value in pairs(wrk.headers) do
    headers[name] = value
  end
end

function request()
  counter = counter + 1
  headers["Idempotency-Key"] = string.format('"bench-%s-%d-%d"', prefix, id or 0, counter)
  return wrk.format("POST", nil, headers, body)
end
