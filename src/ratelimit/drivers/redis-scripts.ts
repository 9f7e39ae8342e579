import type { RateLimitAlgorithmName } from '../rate-limit-store.js';

/**
 * The Redis driver's Lua: each algorithm is one function that repeats `algorithms/*.ts` operation by
 * operation (same integer arithmetic on doubles, same order), so both drivers decide identically;
 * the conformance suite holds them to it. Each function returns
 * `allowed (1|0), remaining, resetMs, retryAfterMs, commit` where `commit` is nil or a closure that
 * writes the charged state: deciding and writing are separate so the multi-policy script can write
 * all policies or none.
 *
 * States are short strings ("a:b" numbers, written with %d so 16-digit integers keep every digit;
 * Lua's tostring would print 14 significant digits). Every write sets a PX expiry: the time until the
 * state decides like no state, plus `slack` ms so clock skew between nodes never drops live state.
 * Arguments: k (state key), k2 (the log's running sum; unused by the others), now, cost, limit,
 * W (windowMs), slack.
 */
const PRELUDE = `
local function parse2(v)
  local a, b = string.match(v, '^(%-?%d+):(%-?%d+)$')
  return tonumber(a), tonumber(b)
end
`;

const FIXED_WINDOW = `
local function fixed_window(k, k2, now, cost, limit, W, slack)
  local start, count, t = now, 0, now
  local v = redis.call('GET', k)
  if v then
    local s, c = parse2(v)
    if now < s + W then
      start = s; count = c; t = math.max(now, s)
    end
  end
  if count + cost <= limit then
    local charged = count + cost
    local reset = 0
    if charged > 0 then reset = start + W - t end
    local commit = nil
    if cost > 0 then
      commit = function()
        redis.call('SET', k, string.format('%d:%d', start, charged), 'PX', start + W - t + slack)
      end
    end
    return 1, limit - charged, reset, 0, commit
  end
  local reset = start + W - t
  return 0, limit - count, reset, reset, nil
end
`;

const SLIDING_WINDOW_LOG = `
local function sliding_window_log(k, k2, now, cost, limit, W, slack)
  local t = now
  local newest, newestCost = nil, 0
  local used, live = 0, 0
  local last = redis.call('LINDEX', k, -1)
  if last then
    newest, newestCost = parse2(last)
    t = math.max(now, newest)
    local s = redis.call('GET', k2)
    if s then
      used = tonumber(s)
    else
      for _, e in ipairs(redis.call('LRANGE', k, 0, -1)) do
        local _, c = parse2(e); used = used + c
      end
    end
    -- Skip (not remove) entries that left the window: deciding never writes.
    local first = redis.call('LINDEX', k, 0)
    while first do
      local ts, c = parse2(first)
      if ts > t - W then break end
      used = used - c
      live = live + 1
      first = redis.call('LINDEX', k, live)
    end
  end
  if used + cost <= limit then
    local reset = 0
    if cost > 0 then reset = W elseif used > 0 then reset = newest + W - t end
    local commit = nil
    if cost > 0 then
      commit = function()
        if live > 0 then redis.call('LTRIM', k, live, -1) end
        if newest == t then
          redis.call('LSET', k, -1, string.format('%d:%d', t, newestCost + cost))
        else
          redis.call('RPUSH', k, string.format('%d:%d', t, cost))
        end
        redis.call('PEXPIRE', k, W + slack)
        redis.call('SET', k2, string.format('%d', used + cost), 'PX', W + slack)
      end
    end
    return 1, limit - used - cost, reset, 0, commit
  end
  local need = used + cost - limit
  local freed, retry = 0, 0
  for _, e in ipairs(redis.call('LRANGE', k, live, -1)) do
    local ts, c = parse2(e)
    freed = freed + c
    if freed >= need then retry = ts + W - t; break end
  end
  return 0, limit - used, newest + W - t, retry, nil
end
`;

const SLIDING_WINDOW_COUNTER = `
local function parse3(v)
  local a, b, c = string.match(v, '^(%-?%d+):(%-?%d+):(%-?%d+)$')
  return tonumber(a), tonumber(b), tonumber(c)
end
local function swc_reset(curr, prev, start, t, W)
  if curr > 0 then return start + 2 * W - t end
  if prev > 0 then return start + W - t end
  return 0
end
local function sliding_window_counter(k, k2, now, cost, limit, W, slack)
  local t = now
  local sStart, sCurr, sPrev
  local v = redis.call('GET', k)
  if v then
    sStart, sCurr, sPrev = parse3(v)
    t = math.max(now, sStart)
  end
  local start = t - (t % W)
  local prev, curr = 0, 0
  if v then
    if start == sStart then
      prev = sPrev; curr = sCurr
    elseif start == sStart + W then
      prev = sCurr
    end
  end
  local elapsed = t - start
  local prevPart = math.ceil((prev * (W - elapsed)) / W)
  local available = math.max(0, limit - curr - prevPart)
  if cost <= available then
    local charged = curr + cost
    local commit = nil
    if cost > 0 then
      commit = function()
        redis.call('SET', k, string.format('%d:%d:%d', start, charged, prev), 'PX', start + 2 * W - t + slack)
      end
    end
    return 1, available - cost, swc_reset(charged, prev, start, t, W), 0, commit
  end
  local room = limit - curr - cost
  local retryAt
  if room >= 0 then
    retryAt = start + (W - math.floor((room * W) / prev))
  else
    retryAt = start + W + (W - math.floor(((limit - cost) * W) / curr))
  end
  return 0, available, swc_reset(curr, prev, start, t, W), retryAt - t, nil
end
`;

const TOKEN_BUCKET = `
local function token_bucket(k, k2, now, cost, limit, W, slack)
  local capacity = limit * W
  local level, t = capacity, now
  local v = redis.call('GET', k)
  if v then
    local l, last = parse2(v)
    t = math.max(now, last)
    local elapsed = t - last
    if elapsed >= W then level = capacity else level = l + math.min(elapsed * limit, capacity - l) end
  end
  local tokens = math.floor(level / W)
  local need = cost * W
  if need <= level then
    local nextLevel = level - need
    local reset = math.ceil((capacity - nextLevel) / limit)
    local commit = nil
    if cost > 0 then
      commit = function()
        redis.call('SET', k, string.format('%d:%d', nextLevel, t), 'PX', reset + slack)
      end
    end
    return 1, tokens - cost, reset, 0, commit
  end
  return 0, tokens, math.ceil((capacity - level) / limit), math.ceil((need - level) / limit), nil
end
`;

const GCRA = `
local function gcra(k, k2, now, cost, limit, W, slack)
  local capacity = limit * W
  local t, backlog = now, 0
  local v = redis.call('GET', k)
  if v then
    local tatMs, rem = parse2(v)
    local floor = tatMs - W
    if rem > 0 then floor = floor + 1 end
    t = math.max(now, floor)
    if tatMs >= t then backlog = (tatMs - t) * limit + rem end
  end
  local tokens = math.floor((capacity - backlog) / W)
  local need = cost * W
  if backlog + need <= capacity then
    local nextBacklog = backlog + need
    local reset = math.ceil(nextBacklog / limit)
    local commit = nil
    if cost > 0 then
      commit = function()
        local whole = math.floor(nextBacklog / limit)
        redis.call('SET', k, string.format('%d:%d', t + whole, nextBacklog - whole * limit), 'PX', reset + slack)
      end
    end
    return 1, tokens - cost, reset, 0, commit
  end
  return 0, tokens, math.ceil(backlog / limit), math.ceil((backlog + need - capacity) / limit), nil
end
`;

interface AlgorithmLua {
  /** The Lua function's name. */
  fn: string;
  source: string;
  /** Keys the algorithm touches (the log keeps its running sum in a second key). */
  keys: 1 | 2;
}

export const ALGORITHM_LUA: Readonly<Record<RateLimitAlgorithmName, AlgorithmLua>> = {
  'fixed-window': { fn: 'fixed_window', source: FIXED_WINDOW, keys: 1 },
  'sliding-window-log': { fn: 'sliding_window_log', source: SLIDING_WINDOW_LOG, keys: 2 },
  'sliding-window-counter': { fn: 'sliding_window_counter', source: SLIDING_WINDOW_COUNTER, keys: 1 },
  'token-bucket': { fn: 'token_bucket', source: TOKEN_BUCKET, keys: 1 },
  gcra: { fn: 'gcra', source: GCRA, keys: 1 },
};

/**
 * One algorithm, one policy: KEYS = the state key (and the log's sum key);
 * ARGV = now, cost, limit, windowMs, slack. Returns {allowed, remaining, resetMs, retryAfterMs}.
 */
export function singlePolicyScript(algorithm: RateLimitAlgorithmName): string {
  const { fn, source, keys } = ALGORITHM_LUA[algorithm];
  return `${PRELUDE}${source}
local a, r, reset, retry, commit = ${fn}(KEYS[1], ${keys === 2 ? 'KEYS[2]' : 'nil'},
  tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
if commit then commit() end
return {a, r, reset, retry}
`;
}

/** Algorithm codes of the multi-policy script's ARGV. */
export const ALGORITHM_CODES: Readonly<Record<RateLimitAlgorithmName, number>> = {
  'fixed-window': 1,
  'sliding-window-log': 2,
  'sliding-window-counter': 3,
  'token-bucket': 4,
  gcra: 5,
};

/**
 * Several policies on one key, all or nothing (`RateLimitStore.takeAll`): KEYS = two per policy
 * (state key, sum key); ARGV = now, cost, slack, then per policy: algorithm code, limit, windowMs.
 * Decides every policy first; writes all of them only if all allow, else re-reads the allowing ones
 * with cost 0 so they report their uncharged state. Returns one {allowed, remaining, resetMs,
 * retryAfterMs} per policy.
 */
export const MULTI_POLICY_SCRIPT = `${PRELUDE}${FIXED_WINDOW}${SLIDING_WINDOW_LOG}${SLIDING_WINDOW_COUNTER}${TOKEN_BUCKET}${GCRA}
local byCode = { fixed_window, sliding_window_log, sliding_window_counter, token_bucket, gcra }
local now, cost, slack = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local n = (#ARGV - 3) / 3
local results, commits, all = {}, {}, true
for i = 1, n do
  local fn = byCode[tonumber(ARGV[3 * i + 1])]
  local limit, W = tonumber(ARGV[3 * i + 2]), tonumber(ARGV[3 * i + 3])
  local a, r, reset, retry, commit = fn(KEYS[2 * i - 1], KEYS[2 * i], now, cost, limit, W, slack)
  results[i] = {a, r, reset, retry}
  commits[i] = commit or false
  if a == 0 then all = false end
end
for i = 1, n do
  if all then
    if commits[i] then commits[i]() end
  elseif results[i][1] == 1 then
    local fn = byCode[tonumber(ARGV[3 * i + 1])]
    local a, r, reset, retry = fn(KEYS[2 * i - 1], KEYS[2 * i], now, 0,
      tonumber(ARGV[3 * i + 2]), tonumber(ARGV[3 * i + 3]), slack)
    results[i] = {a, r, reset, retry}
  end
end
return results
`;
