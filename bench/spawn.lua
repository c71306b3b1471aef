-- Spawn and remove on a generated 20,000-file repository: gt against the git CLI doing the same
-- work, in one run, as median ratios of paired rounds (A B, B A, ...).
--
--   gt -l bench/spawn.lua [rounds=5]        env: BENCH_DIR (default /tmp/gt-bench), BENCH_MB (150)
--
-- gt:  `gt polecat add` (lock, ledger, branch + worktree from origin/main, tuned checkout) and
--      `gt polecat remove` (safety classification incl. status, delete, prune, branch delete).
-- git: `git worktree add -b ... origin/main` and `git status --porcelain` + `git worktree remove
--      --force` + `git branch -D` (docs/design.md §7).
-- The repository (bench/generate.lua) has the shape of the measured baseline (docs/design.md
-- §7). It is generated once and kept in BENCH_DIR.
local fs = require("gt.fs")
local sys = require("gt.sys")
local branch = require("gt.branch")

local rounds = tonumber(arg[1]) or 5
local root = os.getenv("BENCH_DIR") or "/tmp/gt-bench"
local megabytes = tonumber(os.getenv("BENCH_MB") or "150")
local env = { HOME = root .. "/home", GT_TOWN = false, GT_RIG = false, NO_COLOR = "1",
  GIT_CONFIG_NOSYSTEM = "1" }

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "bench"
local lib = dofile(here .. "/lib.lua")
local run, timed = lib.runner(env)

local function write(path, data)
  local f = assert(io.open(path, "wb"))
  assert(f:write(data))
  assert(f:close())
end

local generate_repository = dofile(here .. "/generate.lua")

local function generate(dir)
  io.stderr:write(("generating a 20,000-file repository (%d MiB) in %s\n"):format(megabytes, dir))
  generate_repository(dir, megabytes, run)
end

local median = lib.median

-- Setup ------------------------------------------------------------------------------------
assert(fs.mkdir_p(env.HOME))
write(env.HOME .. "/.gitconfig", "[user]\n\tname = Bench\n\temail = bench@example.com\n")
local src = root .. "/large-src"
if not fs.stat(src .. "/.git") then
  if fs.stat(src) then assert(fs.remove_tree(src)) end
  generate(src)
end
local origin = root .. "/large-origin.git"
if not fs.stat(origin) then run({ "git", "clone", "-q", "--bare", src, origin }) end

-- The CLI works in a clone of origin (with origin/main), as in the baseline.
local clone = root .. "/cli-clone"
if fs.stat(clone) then assert(fs.remove_tree(clone)) end
run({ "git", "clone", "-q", origin, clone })
run({ "git", "-C", clone, "config", "gc.auto", "0" })
local town = root .. "/town"
if fs.stat(town) then assert(fs.remove_tree(town)) end
run({ gt.executable, "init", town })
run({ gt.executable, "--town", town, "rig", "add", "large", origin })
local wtroot = root .. "/cli-wt"
if fs.stat(wtroot) then assert(fs.remove_tree(wtroot)) end
assert(fs.mkdir_p(wtroot))

local files = run({ "git", "-C", clone, "ls-files" })
local count = select(2, files:gsub("\n", ""))
io.stderr:write(("repository: %d files; %d rounds\n"):format(count, rounds))

-- Paired rounds -------------------------------------------------------------------------------
local results = { gt_spawn = {}, git_spawn = {}, gt_remove = {}, git_remove = {} }
local gt_in_rig = { gt.executable, "--town", town, "--rig", "large" }

local function gt_round(i)
  local name = "bench" .. i
  local add = { table.unpack(gt_in_rig) }
  for _, a in ipairs({ "polecat", "add", name, "--no-fetch" }) do add[#add + 1] = a end
  results.gt_spawn[i] = timed(add)
  local remove = { table.unpack(gt_in_rig) }
  for _, a in ipairs({ "polecat", "remove", name }) do remove[#remove + 1] = a end
  results.gt_remove[i] = timed(remove)
end

local function git_round(i)
  local b = ("polecat/cli%d-%s"):format(i, branch.base36(sys.now_ms()))
  local wt = wtroot .. "/cli" .. i
  results.git_spawn[i] = timed({ "git", "-C", clone, "worktree", "add", "-q", "-b", b, wt, "origin/main" })
  local t0 = sys.clock_ms()
  local status = run({ "git", "-C", wt, "status", "--porcelain" })
  assert(status == "", "CLI worktree unexpectedly dirty")
  run({ "git", "-C", clone, "worktree", "remove", "--force", wt })
  run({ "git", "-C", clone, "branch", "-q", "-D", b })
  results.git_remove[i] = sys.clock_ms() - t0
end

for i = 1, rounds do
  if i % 2 == 1 then gt_round(i); git_round(i) else git_round(i); gt_round(i) end
  io.stderr:write(("round %d: gt add %.0f ms, git add %.0f ms; gt remove %.0f ms, git remove %.0f ms\n"):format(
    i, results.gt_spawn[i], results.git_spawn[i], results.gt_remove[i], results.git_remove[i]))
end

local function ratio(a, b)
  local r = {}
  for i = 1, rounds do r[i] = results[a][i] / results[b][i] end
  return median(r)
end

print(("spawn  (%d files): gt %.0f ms, git CLI %.0f ms, ratio gt/git %.2f (median of %d pairs)"):format(
  count, median(results.gt_spawn), median(results.git_spawn), ratio("gt_spawn", "git_spawn"), rounds))
print(("remove (%d files): gt %.0f ms, git CLI %.0f ms, ratio gt/git %.2f (median of %d pairs)"):format(
  count, median(results.gt_remove), median(results.git_remove), ratio("gt_remove", "git_remove"), rounds))
local cycle = {}
for i = 1, rounds do
  cycle[i] = (results.gt_spawn[i] + results.gt_remove[i]) / (results.git_spawn[i] + results.git_remove[i])
end
print(("cycle  (spawn + remove): ratio gt/git %.2f"):format(median(cycle)))
