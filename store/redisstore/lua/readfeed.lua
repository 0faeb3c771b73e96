-- ReadFeed without waiting (read only). ARGV[3] after, ARGV[4] limit.
-- Reply: {'OK', entries} (entries as XRANGE returns them), {'TRIMMED',
-- first kept seq, feed seq} or {'NOZONE'}.
local z = load(clock(), 'fseq')
if not z then return {'NOZONE'} end
local after, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
if after > z.fseq then return {'TRIMMED', 0, z.fseq} end
if after == z.fseq then return {'OK', {}} end
local e = redis.call('XRANGE', KF, int(after + 1) .. '-0', '+', 'COUNT', limit)
local first = 0
if #e > 0 then first = tonumber(string.match(e[1][1], '^(%d+)')) end
if first ~= after + 1 then return {'TRIMMED', first, z.fseq} end
return {'OK', e}
