--- gt.stats: how long the lifecycle's commands take, from the journal: every add, reuse and
--- remove is an operation with its start and end (gt.store), so the figures cost nothing to
--- keep and cover every command that finished, whoever ran it.
local store = require("gt.store")
local layout = require("gt.layout")

local stats = {}

--- The kinds of operation measured, in the order they are shown.
stats.KINDS = { "add", "reuse", "remove" }

local function median(sorted)
  local n = #sorted
  if n == 0 then return nil end
  if n % 2 == 1 then return sorted[(n + 1) // 2] end
  return (sorted[n // 2] + sorted[n // 2 + 1]) // 2
end

--- Per rig (only `rig_name` when given) and kind: { rig, kind, count, median_ms, worst_ms },
--- sorted by rig, then kind in stats.KINDS order.
function stats.collect(town, rig_name)
  local by = {}
  for _, op in ipairs(store.ops_done(town:ledger(), stats.KINDS)) do
    local r = layout.split_id(op.agent)
    if r and (rig_name == nil or r == rig_name) and op.finished_at then
      local key = r .. "\0" .. op.kind
      by[key] = by[key] or { rig = r, kind = op.kind, times = {} }
      local t = by[key].times
      t[#t + 1] = op.finished_at - op.started_at
    end
  end
  local order = {}
  for i, k in ipairs(stats.KINDS) do order[k] = i end
  local rows = {}
  for _, e in pairs(by) do
    table.sort(e.times)
    rows[#rows + 1] = { rig = e.rig, kind = e.kind, count = #e.times, median_ms = median(e.times),
      worst_ms = e.times[#e.times] }
  end
  table.sort(rows, function(a, b)
    if a.rig ~= b.rig then return a.rig < b.rig end
    return order[a.kind] < order[b.kind]
  end)
  return rows
end

return stats
