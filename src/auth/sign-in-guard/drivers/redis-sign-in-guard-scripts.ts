import type { BackoffRules } from '../sign-in-guard-store.js';

/**
 * The Redis driver's Lua: `decideAttempt`, `refundAttempt` and `stateExpiresAtMs` from
 * `attempt-backoff.ts`, repeated operation by operation (same integer arithmetic on doubles, same
 * order), so both drivers decide identically; the conformance suite holds them to it.
 *
 * A state is four little-endian doubles (failures, lastFailureMs, lockouts, lockedUntilMs) packed
 * with Redis's bundled `struct` library: exact for every integer below 2^53. Every write sets a PX
 * expiry: the time until the state decides like no state, plus `slack` ms so clock skew between
 * nodes never drops live state; a state that decides like no state is deleted instead.
 * Rules travel as 8 numbers, in the order of `RULE_FIELDS`.
 */
export const RULE_FIELDS = [
  'freeFailures',
  'baseDelayMs',
  'maxDelayMs',
  'lockAfterFailures',
  'baseLockMs',
  'maxLockMs',
  'forgiveMs',
  'lockoutMemoryMs',
] as const satisfies readonly (keyof BackoffRules)[];

export function ruleArgs(rules: BackoffRules): number[] {
  return RULE_FIELDS.map((field) => rules[field]);
}

const PRELUDE = `
local unpack2, pack2 = struct.unpack, struct.pack
local function doubled(base, exponent, max)
  local value, i = base, 0
  while i < exponent and value < max do value = value * 2; i = i + 1 end
  return math.min(value, max)
end
-- r: free, baseDelay, maxDelay, lockAfter, baseLock, maxLock, forgive, lockoutMemory
local function rules(first)
  local r = {}
  for j = 1, 8 do r[j] = tonumber(ARGV[first + j - 1]) end
  return r
end
-- stateExpiresAtMs: from then on the state decides like no state.
local function expires_at(f, l, lo, lu, r)
  local owed = f * r[7]
  local at = math.max(l, lu) + owed
  if lo > 0 or f >= r[4] then at = math.max(at, l + r[6] + math.max(r[8], owed)) end
  return at
end
-- A state that has expired on the callers' clock reads as none (as the memory driver's lookup does),
-- even while the key lives on through its slack.
local function read(k, r, now)
  local v = redis.call('GET', k)
  if v then
    local f, l, lo, lu = unpack2('<dddd', v)
    if expires_at(f, l, lo, lu, r) > now then return f, l, lo, lu end
  end
  return 0, 0, 0, 0
end
local function write(k, f, l, lo, lu, r, now, slack)
  if f == 0 and lo == 0 then redis.call('DEL', k); return end
  local at = expires_at(f, l, lo, lu, r)
  if at <= now then redis.call('DEL', k); return end
  redis.call('SET', k, pack2('<dddd', f, l, lo, lu), 'PX', at - now + slack)
end
`;

/**
 * `SignInGuardStore.admit`: KEYS = the keys; ARGV = now, slack, then 8 rule numbers per key.
 * Decides every key, then writes either every charged state (all admitted) or the states whose
 * lock fell due or whose lockouts were forgotten. Returns outcome (0 admitted, 1 delayed, 2
 * locked) and retryAfterMs per key, as a flat array of integers.
 */
export const ADMIT_SCRIPT = `${PRELUDE}
local now, slack = tonumber(ARGV[1]), tonumber(ARGV[2])
local out, steps, all = {}, {}, true
for i = 1, #KEYS do
  local r = rules(3 + 8 * (i - 1))
  local f, l, lo, lu = read(KEYS[i], r, now)
  local changed = false
  if f >= r[4] then
    lo = lo + 1
    lu = l + doubled(r[5], lo - 1, r[6])
    f = math.min(r[1], r[4] - 1)
    changed = true
  end
  if lo > 0 and now >= lu + r[8] then
    lo = 0; lu = 0; changed = true
  end
  local outcome, retry, cf, cl = 0, 0, 0, 0
  if lu > now then
    outcome = 2; retry = lu - now
  else
    local forgiven = math.floor(math.max(0, now - math.max(l, lu)) / r[7])
    local ef = math.max(0, f - forgiven)
    if ef > 0 and ef >= r[1] then
      local readyAt = l + doubled(r[2], ef - r[1], r[3])
      if now < readyAt then outcome = 1; retry = readyAt - now end
    end
    if outcome == 0 then cf = ef + 1; cl = math.max(now, l) end
  end
  if outcome ~= 0 then all = false end
  steps[i] = { r, f, l, lo, lu, changed, cf, cl }
  out[2 * i - 1] = outcome
  out[2 * i] = retry
end
for i = 1, #KEYS do
  local s = steps[i]
  if all then
    write(KEYS[i], s[7], s[8], s[4], s[5], s[1], now, slack)
  elseif s[6] then
    write(KEYS[i], s[2], s[3], s[4], s[5], s[1], now, slack)
  end
end
return out
`;

/** `SignInGuardStore.refund`: KEYS = the key; ARGV = now, slack, 8 rule numbers. */
export const REFUND_SCRIPT = `${PRELUDE}
local now, slack = tonumber(ARGV[1]), tonumber(ARGV[2])
local r = rules(3)
local f, l, lo, lu = read(KEYS[1], r, now)
if f == 0 then return 0 end
write(KEYS[1], f - 1, l, lo, lu, r, now, slack)
return 1
`;
