-- Batch. ARGV[3] a fresh token id prefix, ARGV[4...] the calls, in order,
-- each as two values: its op (as waitroom.Op: 1 Register, 2 Position,
-- 3 Heartbeat, 4 Enter, 5 Arrive, 6 Claim, 7 Release) and its visitor.
-- Every call runs at one now, on one z loaded with the fields of them all,
-- as its own script would; the zone is written once, at the end.
-- Reply: {'OK', the reply of each call as its own script's, ...} or
-- {'NOZONE'}.
local OPS = {['1'] = register1, ['2'] = position1, ['3'] = heartbeat1, ['4'] = enter1, ['5'] = arrive1,
  ['6'] = claim1, ['7'] = release1}
-- Refuse a bad call before anything is written (a script is not undone).
if (#ARGV - 3) % 2 ~= 0 then return redis.error_reply('batch: odd number of call arguments') end
for i = 4, #ARGV, 2 do
  if not OPS[ARGV[i]] then return redis.error_reply('batch: unknown op ' .. ARGV[i]) end
end
local now = clock()
local z = load(now, 'qseq', 'head', 'cap', 'rate', 'sess', 'open', 'credit', 'cat', 'total', 'last', 'fseq')
if not z then return {'NOZONE'} end
local prefix = ARGV[3]
local out, w = {'OK'}, nil
for i = 4, #ARGV, 2 do
  local n = #out
  local reply, x = OPS[ARGV[i]](z, now, ARGV[i + 1], prefix .. '.' .. n)
  out[n + 1] = reply
  w = merge(w, x)
end
finish(z, now, w)
return out
