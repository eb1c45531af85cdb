/**
 * READ_HISTORY (read-only): the per-minute history hashes `{prefix}{minute}`
 * for `count` minutes from unix minute `from`, oldest first, each as HGETALL's
 * flat [field, value, ...] (empty when nothing happened that minute, or its
 * hash expired). One request whatever the window. ctx: { prefix, from, count }.
 */
export const READ_HISTORY = `
local ctx = cjson.decode(ARGV[1])
local out = {}
for i = 0, ctx.count - 1 do
  out[i + 1] = redis.call('HGETALL', ctx.prefix .. string.format('%.0f', ctx.from + i))
end
return out
`;
