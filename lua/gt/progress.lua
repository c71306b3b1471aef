--- gt.progress: the one progress line of long work (a clone or fetch, the checkout of a new
--- worktree, the deletion of a large one, gt doctor's sweep).
---
---   local bar <close> = progress.start("Writing files")
---   repo:write_tree_into("HEAD", { progress = bar.callback })  -- nil when nothing is shown
---   bar:update(done, total, detail)                             -- or by hand
---
--- The line is drawn on stderr only when stderr is a terminal and gt --quiet was not given (not
--- with NO_COLOR either way: it has no colour), redrawn at most every 100 ms, and cleared
--- ("\r\27[K") when the reporter finishes (or is closed: an error clears it too) and before any
--- other output: gt.output clears it before each line it prints. Otherwise nothing is drawn,
--- and the callbacks are nil, so that C calls no Lua for it.
local sys = require("gt.sys")

local progress = {}

--- Whether gt --quiet (-q) was given: no progress is drawn.
progress.quiet = false

--- Redraws closer together than this are skipped (the last one of a count is always drawn).
progress.INTERVAL_MS = 100

local shown -- the reporter whose line is on the terminal now, or nil

--- Clears the progress line, if one is drawn (the reporter draws it again at its next update).
function progress.clear()
  if shown then
    io.stderr:write("\r\27[K")
    shown = nil
  end
end

--- Whether a progress line would be drawn now: stderr is a terminal, and not --quiet.
function progress.enabled()
  return not progress.quiet and sys.isatty("stderr")
end

--- `n` bytes, briefly: "512 B", "1.5 KiB", "23.0 MiB".
function progress.bytes(n)
  if n < 1024 then return ("%d B"):format(math.floor(n)) end
  local units = { "KiB", "MiB", "GiB", "TiB" }
  local i = 0
  repeat
    n, i = n / 1024, i + 1
  until n < 1024 or i == #units
  return ("%.1f %s"):format(n, units[i])
end

local Reporter = {}
Reporter.__index = Reporter
Reporter.__close = function(self) self:finish() end

--- The line for `done` of `total` (either may be nil) with `detail`, at most `width` columns.
local function render(label, done, total, detail, width)
  local text
  if total and total > 0 then
    local pct = math.floor(math.min(done or 0, total) * 100 / total)
    text = ("%s %3d%% (%d/%d)"):format(label, pct, done or 0, total)
  elseif done then
    text = ("%s: %d"):format(label, done)
  else
    text = label
  end
  if detail then text = text .. ", " .. detail end
  if total and total > 0 then
    local bar_width = math.min(width, 100) - #text - 4
    if bar_width >= 10 then
      local filled = math.floor(bar_width * math.min(done or 0, total) / total)
      text = text .. " [" .. string.rep("#", filled) .. string.rep(".", bar_width - filled) .. "]"
    end
  end
  return text:sub(1, width - 1)
end

--- Shows `done` of `total` (a count without a total: total nil; the label alone: both nil),
--- and `detail` after them. Drawn at most every 100 ms, except the last of a count.
function Reporter:update(done, total, detail)
  if not self.enabled then return end
  local now = sys.clock_ms()
  local last = total and done and done >= total
  if self.drawn_at and now - self.drawn_at < progress.INTERVAL_MS and not last then return end
  local text = render(self.label, done, total, detail, sys.term_width("stderr") or 80)
  if text == self.text and shown == self then return end
  self.drawn_at, self.text = now, text
  io.stdout:flush() -- what was said before comes first
  io.stderr:write("\r", text, "\27[K")
  shown = self
end

--- Ends the line: cleared if it is the one shown. Nothing is drawn afterwards.
function Reporter:finish()
  if shown == self then progress.clear() end
  self.enabled, self.callback = false, nil
end

--- A reporter labelled `label`. Its `callback` field is `function(done, total)` (for C
--- functions that report counts, as repo:write_tree_into does), or nil when nothing is drawn.
function progress.start(label)
  local self = setmetatable({ label = label, enabled = progress.enabled(), started_at = sys.clock_ms() },
    Reporter)
  if self.enabled then
    self.callback = function(done, total) self:update(done, total) end
  end
  return self
end

--- A reporter for a clone or fetch: its `callback` takes libgit2's transfer statistics (what
--- git.clone's and repo:fetch's `progress` get) and shows objects received of the total, bytes
--- and rate ("Receiving objects  40% (400/1000), 1.2 MiB | 800.0 KiB/s"), then the deltas
--- resolved. nil when nothing is drawn.
function progress.transfer(label)
  local self = progress.start(label)
  if self.enabled then
    local received = false -- all objects are in: the deltas are being resolved
    self.callback = function(stats)
      if stats.total_objects == 0 then return end
      if not received then
        local seconds = (sys.clock_ms() - self.started_at) / 1000
        local rate = seconds > 0 and stats.received_bytes / seconds or 0
        self:update(stats.received_objects, stats.total_objects,
          ("%s | %s/s"):format(progress.bytes(stats.received_bytes), progress.bytes(rate)))
        received = stats.received_objects >= stats.total_objects
      end
      if received and stats.total_deltas > 0 then
        self.label = "Resolving deltas"
        self:update(stats.indexed_deltas, stats.total_deltas)
      end
    end
  end
  return self
end

return progress
