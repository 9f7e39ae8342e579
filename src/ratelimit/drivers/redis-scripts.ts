import type { RateLimitAlgorithmName, RateLimitPolicy } from '../rate-limit-store.js';

/**
 * The Redis driver's Lua: each algorithm is one function that repeats `algorithms/*.ts` operation by
 * operation (same integer arithmetic on doubles, same order), so both drivers decide identically;
 * the conformance suite holds them to it. Each function returns
 * `allowed (1|0), remaining, resetMs, retryAfterMs` and writes the charged state only when `apply`
 * is true: the multi-policy script decides every policy first and applies them only if all allow.
 * (A flag rather than a returned closure: creating closures per call cost Redis ~8% throughput.)
 *
 * States are little-endian doubles packed with Redis's bundled `struct` library: exact for every
 * integer below 2^53 (Lua's tostring prints only 14 significant digits) and about ten times cheaper
 * to read than parsing text with string.match, which shows in Redis CPU per decision. Every write
 * sets a PX expiry: the time until the state decides like no state, plus `slack` ms so clock skew
 * between nodes never drops live state.
 * Arguments: k (state key), k2 (the log's running sum; unused by the others), now, cost, limit,
 * W (windowMs), slack, apply.
 */
const PRELUDE = `
local unpack2, pack2 = struct.unpack, struct.pack
`;

const FIXED_WINDOW = `
local function fixed_window(k, k2, now, cost, limit, W, slack, apply)
  local start, count, t = now, 0, now
  local v = redis.call('GET', k)
  if v then
    local s, c = unpack2('<dd', v)
    if now < s + W then
      start = s; count = c; t = math.max(now, s)
    end
  end
  if count + cost <= limit then
    local charged = count + cost
    local reset = 0
    if charged > 0 then reset = start + W - t end
    if apply and cost > 0 then
      redis.call('SET', k, pack2('<dd', start, charged), 'PX', start + W - t + slack)
    end
    return 1, limit - charged, reset, 0
  end
  local reset = start + W - t
  return 0, limit - count, reset, reset
end
`;

const SLIDING_WINDOW_LOG = `
local function sliding_window_log(k, k2, now, cost, limit, W, slack, apply)
  local t = now
  local newest, newestCost = nil, 0
  local used, live = 0, 0
  local last = redis.call('LINDEX', k, -1)
  if last then
    newest, newestCost = unpack2('<dd', last)
    t = math.max(now, newest)
    local s = redis.call('GET', k2)
    if s then
      used = unpack2('<d', s)
    else
      for _, e in ipairs(redis.call('LRANGE', k, 0, -1)) do
        local _, c = unpack2('<dd', e); used = used + c
      end
    end
    -- Skip (not remove) entries that left the window: deciding never writes.
    local first = redis.call('LINDEX', k, 0)
    while first do
      local ts, c = unpack2('<dd', first)
      if ts > t - W then break end
      used = used - c
      live = live + 1
      first = redis.call('LINDEX', k, live)
    end
  end
  if used + cost <= limit then
    local reset = 0
    if cost > 0 then reset = W elseif used > 0 then reset = newest + W - t end
    if apply and cost > 0 then
      if live > 0 then redis.call('LTRIM', k, live, -1) end
      if newest == t then
        redis.call('LSET', k, -1, pack2('<dd', t, newestCost + cost))
      else
        redis.call('RPUSH', k, pack2('<dd', t, cost))
      end
      redis.call('PEXPIRE', k, W + slack)
      redis.call('SET', k2, pack2('<d', used + cost), 'PX', W + slack)
    end
    return 1, limit - used - cost, reset, 0
  end
  local need = used + cost - limit
  local freed, retry = 0, 0
  for _, e in ipairs(redis.call('LRANGE', k, live, -1)) do
    local ts, c = unpack2('<dd', e)
    freed = freed + c
    if freed >= need then retry = ts + W - t; break end
  end
  return 0, limit - used, newest + W - t, retry
end
`;

const SLIDING_WINDOW_COUNTER = `
local function swc_reset(curr, prev, start, t, W)
  if curr > 0 then return start + 2 * W - t end
  if prev > 0 then return start + W - t end
  return 0
end
local function sliding_window_counter(k, k2, now, cost, limit, W, slack, apply)
  local t = now
  local sStart, sCurr, sPrev
  local v = redis.call('GET', k)
  if v then
    sStart, sCurr, sPrev = unpack2('<ddd', v)
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
    if apply and cost > 0 then
      redis.call('SET', k, pack2('<ddd', start, charged, prev), 'PX', start + 2 * W - t + slack)
    end
    return 1, available - cost, swc_reset(charged, prev, start, t, W), 0
  end
  local room = limit - curr - cost
  local retryAt
  if room >= 0 then
    retryAt = start + (W - math.floor((room * W) / prev))
  else
    retryAt = start + W + (W - math.floor(((limit - cost) * W) / curr))
  end
  return 0, available, swc_reset(curr, prev, start, t, W), retryAt - t
end
`;

const TOKEN_BUCKET = `
local function token_bucket(k, k2, now, cost, limit, W, slack, apply)
  local capacity = limit * W
  local level, t = capacity, now
  local v = redis.call('GET', k)
  if v then
    local l, last = unpack2('<dd', v)
    t = math.max(now, last)
    local elapsed = t - last
    if elapsed >= W then level = capacity else level = l + math.min(elapsed * limit, capacity - l) end
  end
  local tokens = math.floor(level / W)
  local need = cost * W
  if need <= level then
    local nextLevel = level - need
    local reset = math.ceil((capacity - nextLevel) / limit)
    if apply and cost > 0 then
      redis.call('SET', k, pack2('<dd', nextLevel, t), 'PX', reset + slack)
    end
    return 1, tokens - cost, reset, 0
  end
  return 0, tokens, math.ceil((capacity - level) / limit), math.ceil((need - level) / limit)
end
`;

const GCRA = `
local function gcra(k, k2, now, cost, limit, W, slack, apply)
  local capacity = limit * W
  local t, backlog = now, 0
  local v = redis.call('GET', k)
  if v then
    local tatMs, rem = unpack2('<dd', v)
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
    if apply and cost > 0 then
      local whole = math.floor(nextBacklog / limit)
      redis.call('SET', k, pack2('<dd', t + whole, nextBacklog - whole * limit), 'PX', reset + slack)
    end
    return 1, tokens - cost, reset, 0
  end
  return 0, tokens, math.ceil(backlog / limit), math.ceil((backlog + need - capacity) / limit)
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
 * One policy: its algorithm with its limit, window and slack compiled in as constants, so a
 * decision sends only KEYS = the state key (and the log's sum key) and ARGV = now, cost, as short
 * text. (Five numbers per call, as text or packed, cost measurably more client and Redis CPU than
 * two; a deployment has a handful of policies, so a handful of cached scripts.) Returns allowed
 * (1|0), remaining, resetMs, retryAfterMs as four little-endian doubles (32 bytes): a bulk string
 * costs Redis far less to reply than a four-element array (~0.6 µs of server CPU per decision).
 */
export function singlePolicyScript(policy: RateLimitPolicy, slackMs: number): string {
  const { fn, source, keys } = ALGORITHM_LUA[policy.algorithm];
  for (const n of [policy.limit, policy.windowMs, slackMs]) {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`not a non-negative safe integer: ${n}`);
  }
  return `${PRELUDE}${source}
return pack2('<dddd', ${fn}(KEYS[1], ${keys === 2 ? 'KEYS[2]' : 'nil'},
  tonumber(ARGV[1]), tonumber(ARGV[2]), ${policy.limit}, ${policy.windowMs}, ${slackMs}, true))
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
 * Decides every policy without writing; if all allow, runs each again with `apply` (same inputs,
 * same decision) to write it; else re-reads the allowing ones with cost 0 so they report their
 * uncharged state. Returns allowed, remaining, resetMs,
 * retryAfterMs per policy, as 4 × n little-endian doubles.
 */
export const MULTI_POLICY_SCRIPT = `${PRELUDE}${FIXED_WINDOW}${SLIDING_WINDOW_LOG}${SLIDING_WINDOW_COUNTER}${TOKEN_BUCKET}${GCRA}
local byCode = { fixed_window, sliding_window_log, sliding_window_counter, token_bucket, gcra }
local now, cost, slack = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local n = (#ARGV - 3) / 3
local results, all = {}, true
local flat = {}
for i = 1, n do
  local fn = byCode[tonumber(ARGV[3 * i + 1])]
  local limit, W = tonumber(ARGV[3 * i + 2]), tonumber(ARGV[3 * i + 3])
  local a, r, reset, retry = fn(KEYS[2 * i - 1], KEYS[2 * i], now, cost, limit, W, slack, false)
  results[i] = {a, r, reset, retry}
  if a == 0 then all = false end
end
for i = 1, n do
  local fn = byCode[tonumber(ARGV[3 * i + 1])]
  local limit, W = tonumber(ARGV[3 * i + 2]), tonumber(ARGV[3 * i + 3])
  if all then
    -- Same inputs, nothing written yet: the same decision, now applied.
    fn(KEYS[2 * i - 1], KEYS[2 * i], now, cost, limit, W, slack, true)
  elseif results[i][1] == 1 then
    local a, r, reset, retry = fn(KEYS[2 * i - 1], KEYS[2 * i], now, 0, limit, W, slack, false)
    results[i] = {a, r, reset, retry}
  end
end
for i = 1, n do
  for j = 1, 4 do flat[4 * (i - 1) + j] = results[i][j] end
end
return pack2('<' .. string.rep('d', 4 * n), unpack(flat))
`;
