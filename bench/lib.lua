-- What the benchmark scripts share, loaded with dofile as bench/generate.lua is: running
-- commands as whole processes, and medians.
--   local lib = dofile(here .. "/lib.lua")
--   local run, timed = lib.runner(env)
local proc = require("gt.proc")
local sys = require("gt.sys")

local lib = {}

--- Returns run and timed for commands with the variables of `env` (read at each run, so the
--- caller may add to it later). run(argv, extra, stdin) adds the variables of `extra`, feeds
--- `stdin`, and returns the command's stdout, raising when it fails; timed(argv, extra) returns
--- the milliseconds a run took.
function lib.runner(env)
  local function run(argv, extra, stdin)
    local e = {}
    for k, v in pairs(env) do e[k] = v end
    for k, v in pairs(extra or {}) do e[k] = v end
    local r = assert(proc.run({ argv = argv, env = e, stdin = stdin }))
    if r.code ~= 0 then
      error(("%s failed (%s): %s%s"):format(table.concat(argv, " "), tostring(r.code), r.stdout, r.stderr))
    end
    return r.stdout
  end
  local function timed(argv, extra)
    local t0 = sys.clock_ms()
    run(argv, extra)
    return sys.clock_ms() - t0
  end
  return run, timed
end

--- The median of the numbers in `list` (left as it is).
function lib.median(list)
  local s = {}
  for i, v in ipairs(list) do s[i] = v end
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

return lib
