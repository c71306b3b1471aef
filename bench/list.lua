-- `gt polecat list` with 1,000 polecats (real worktrees of a small repository), as whole
-- processes, paired with `git --version` (the cost of starting a process that does nothing)
-- and `git worktree list` in the same bare repository (what the git CLI needs to list them).
--
--   gt -l bench/list.lua [polecats=1000] [runs=21]     env: BENCH_DIR (default /tmp/gt-bench)
local fs = require("gt.fs")
local sys = require("gt.sys")

local count = tonumber(arg[1]) or 1000
local runs = tonumber(arg[2]) or 21
local root = (os.getenv("BENCH_DIR") or "/tmp/gt-bench") .. "/list"
local env = { HOME = root .. "/home", GT_TOWN = false, GT_RIG = false, NO_COLOR = "1",
  GIT_CONFIG_NOSYSTEM = "1" }

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "bench"
local lib = dofile(here .. "/lib.lua")
local run = lib.runner(env)
local median = lib.median

if fs.stat(root) then assert(fs.remove_tree(root)) end
assert(fs.mkdir_p(env.HOME))
local f = assert(io.open(env.HOME .. "/.gitconfig", "w"))
f:write("[user]\n\tname = Bench\n\temail = bench@example.com\n")
f:close()
local src = root .. "/src"
run({ "git", "init", "-q", "-b", "main", src })
for i = 1, 20 do
  local g = assert(io.open(("%s/file%d.txt"):format(src, i), "w"))
  g:write(("file %d\n"):format(i))
  g:close()
end
run({ "git", "-C", src, "add", "-A" })
run({ "git", "-C", src, "commit", "-q", "-m", "initial" })
run({ gt.executable, "init", root .. "/town" })
run({ gt.executable, "--town", root .. "/town", "rig", "add", "small", src })

-- The polecats are real: spawned through the lifecycle API in this process.
local town = require("gt.town").open(root .. "/town")
local rig = town:find_rig("small")
local polecat = require("gt.polecat")
local t0 = sys.clock_ms()
for i = 1, count do
  polecat.add(rig, ("p%04d"):format(i), { fetch = false })
end
io.stderr:write(("spawned %d polecats in %.1f s\n"):format(count, (sys.clock_ms() - t0) / 1000))
rig:close()
town:close()

local list = { gt.executable, "--town", root .. "/town", "--rig", "small", "polecat", "list" }
local json = { table.unpack(list) }
json[#json + 1] = "--json"
local cases = {
  { "gt polecat list", list },
  { "gt polecat list --json", json },
  { "git worktree list", { "git", "-C", root .. "/town/small/.repo.git", "worktree", "list" } },
  { "git --version", { "git", "--version" } },
}
local lines = select(2, run(list):gsub("\n", ""))
assert(lines == count + 1, "expected a header and " .. count .. " rows, got " .. lines .. " lines")
local times = {}
for _, c in ipairs(cases) do times[c[1]] = {} end
for r = 1, runs do
  for k = 0, #cases - 1 do -- rotate the order every run
    local c = cases[(r + k) % #cases + 1]
    local s = sys.clock_ms()
    run(c[2])
    table.insert(times[c[1]], sys.clock_ms() - s)
  end
end
local base = median(times["git --version"])
for _, c in ipairs(cases) do
  local m = median(times[c[1]])
  print(("%-24s %7.1f ms  (%.1fx git --version)"):format(c[1], m, m / base))
end
