/**
 * The Lua scripts of the Redis cache driver. Each runs atomically in Redis, so a record and its
 * tag memberships never disagree in a way a reader or `deleteByTag` could observe.
 *
 * Layout under the store's prefix `P`:
 * - `P k:<key>`: a hash `{ m: "<storedAtMs> <freshUntilMs> <staleUntilMs>", v: <JSON or "" for
 *   not-found>, t: <tags joined by "\n"> }`, with a `PX` expiry at `staleUntilMs`.
 * - `P t:<tag>`: a set of the keys tagged `tag`, expiring no earlier than its longest-lived member.
 *
 * A member whose record has expired may linger in a tag set until the set expires or the tag is
 * deleted; `deleteByTag` checks each member's own tags before deleting it, so a key re-set later
 * without that tag is never removed by it. The scripts touch keys they compute (tag sets, members),
 * which standalone Redis allows; Redis Cluster needs every key in one slot (a `{…}` prefix).
 */

/** Splits a tag list: Lua patterns, with the line feed written as `string.char(10)`. */
const TAGS_OF = `
local NL = string.char(10)
local function tagsOf(list)
  local tags = {}
  if list then
    for tag in string.gmatch(list, '[^' .. NL .. ']+') do tags[#tags + 1] = tag end
  end
  return tags
end
`;

/**
 * KEYS[1] record key; ARGV: tag-set prefix, member (the caller's key), meta, JSON, PX ms, tags…
 * Replaces the record and moves its tag memberships from the old tags to the new ones.
 */
export const SET_SCRIPT = `${TAGS_OF}
local key, tagPrefix, member = KEYS[1], ARGV[1], ARGV[2]
local px = tonumber(ARGV[5])
local wanted, list = {}, {}
for i = 6, #ARGV do
  wanted[ARGV[i]] = true
  list[#list + 1] = ARGV[i]
end
for _, tag in ipairs(tagsOf(redis.call('HGET', key, 't'))) do
  if not wanted[tag] then redis.call('SREM', tagPrefix .. tag, member) end
end
redis.call('DEL', key)
redis.call('HSET', key, 'm', ARGV[3], 'v', ARGV[4], 't', table.concat(list, NL))
redis.call('PEXPIRE', key, px)
for _, tag in ipairs(list) do
  local tagKey = tagPrefix .. tag
  redis.call('SADD', tagKey, member)
  -- A new set has no TTL (PTTL -1): it gets one; an existing set only ever lives longer.
  if redis.call('PTTL', tagKey) < px then redis.call('PEXPIRE', tagKey, px) end
end
return 1
`;

/** KEYS[1] record key; ARGV: tag-set prefix, member. Deletes the record and its memberships. */
export const DELETE_SCRIPT = `${TAGS_OF}
for _, tag in ipairs(tagsOf(redis.call('HGET', KEYS[1], 't'))) do
  redis.call('SREM', ARGV[1] .. tag, ARGV[2])
end
return redis.call('DEL', KEYS[1])
`;

/**
 * KEYS[1] tag set; ARGV: record prefix, tag-set prefix, tag. Deletes every record still tagged
 * `tag`, their other memberships, and the set; returns how many records it deleted.
 */
export const DELETE_TAG_SCRIPT = `${TAGS_OF}
local recordPrefix, tagPrefix, target = ARGV[1], ARGV[2], ARGV[3]
local removed = 0
for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = recordPrefix .. member
  local tags = tagsOf(redis.call('HGET', key, 't'))
  local tagged = false
  for _, tag in ipairs(tags) do
    if tag == target then tagged = true end
  end
  if tagged then
    for _, tag in ipairs(tags) do
      if tag ~= target then redis.call('SREM', tagPrefix .. tag, member) end
    end
    removed = removed + redis.call('DEL', key)
  end
end
redis.call('DEL', KEYS[1])
return removed
`;
