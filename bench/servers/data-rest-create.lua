-- wrk script for bench/data-rest.ts: every request is a POST of a new record to the URL, a JSON body
-- of the collection's four fields that differs from one request to the next:
--
--   {"title":"created PREFIX-THREAD-COUNTER","n":1000000+COUNTER,"tag":"tK","done":BOOL}
--
--   wrk ... -H 'Content-Type: application/json' -s bench/servers/data-rest-create.lua URL -- PREFIX
--
-- n starts at 1,000,000 so created rows sort after the seeded ones (n < 1,000,000) and leave the
-- first page of a filtered list, sorted by n, unchanged. Headers given with -H are sent on every
-- request.

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

local prefix = "run"
local counter = 0

function init(args)
  prefix = args[1] or prefix
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"title":"created %s-%d-%d","n":%d,"tag":"t%d","done":%s}',
    prefix, id or 0, counter, 1000000 + counter, counter % 20, counter % 2 == 0 and "true" or "false"
  )
  return wrk.format("POST", nil, nil, body)
end
