-- The performance table: each row gt and the git CLI doing the same work side by side, the ratio
-- gt/git (median of alternated pairs: A B, B A, ...), the goal and whether it holds, on tmpfs
-- (/dev/shm) and on disk (BENCH_DIR), for a generated 20,000-file repository and, with --repo,
-- for a real one. Not a test: it prints figures (bench/run builds gt and runs this).
--
--   gt -l bench/table.lua [--repo PATH] [--rounds N] [--cycles N] [--rows 1,3,7]
--   env: BENCH_DIR (default /tmp/gt-bench; the generated repository is kept there and reused),
--        BENCH_SHM (default /dev/shm/gt-bench; removed at the end), BENCH_MB (150)
--
-- Rows (the git CLI command in brackets):
--   1 fresh spawn      gt polecat add --no-fetch      [git worktree add -b B PATH origin/main, bare clone]
--   1b threads         the same spawn with GT_JOBS=4 and 2, against GT_JOBS=1 [gt itself]
--   2 reuse spawn      gt polecat add NEW --no-fetch taking an idle polecat's worktree, origin/main
--                      3 commits ahead of it          [a fresh git worktree add]
--   3 remove (clean)   gt polecat remove, as the user waits for it (the background deletion of
--                      its trash is waited for untimed) [git worktree remove --force + git branch -D]
--   4 dirty check      gt polecat status NAME --json  [git status --porcelain], settled worktrees
--   5 list / start-up  gt polecat list, 1,000 polecats in the ledger; gt --version  [git --version]
--   6 parallel         CYCLES spawn+remove cycles by 4 workers at once vs one after another
--   7 --repo PATH      rows 1 and 3 on a clone of PATH
local proc = require("gt.proc")
local fs = require("gt.fs")
local sys = require("gt.sys")
local branch = require("gt.branch")

-- Arguments -------------------------------------------------------------------------------------
local opts = { rounds = 5, cycles = 20 }
local USAGE = "usage: bench/run [--repo PATH] [--rounds N (default 5)] [--cycles N (default 20)] " ..
  "[--rows 1,2,... (default all)]"
do
  local i = 1
  while i <= #arg do
    local a = arg[i]
    if a == "--repo" or a == "--rounds" or a == "--cycles" or a == "--rows" then
      opts[a:sub(3)] = assert(arg[i + 1], a .. " needs a value")
      i = i + 2
    elseif a == "-h" or a == "--help" then
      print(USAGE)
      os.exit(0)
    else
      error("unknown argument " .. a .. " (" .. USAGE .. ")")
    end
  end
  local only = opts.rows
  opts.rows = {}
  for n in (only or "1,2,3,4,5,6,7"):gmatch("[^,]+") do
    opts.rows[assert(math.tointeger(tonumber(n)), "--rows: row numbers, as 1,3,7")] = true
  end
  opts.rounds = assert(math.tointeger(tonumber(opts.rounds)), "--rounds: a whole number")
  opts.cycles = assert(math.tointeger(tonumber(opts.cycles)), "--cycles: a whole number")
  opts.cycles = math.max(4, opts.cycles // 4 * 4) -- 4 workers, the same share each
  if opts.repo then
    local r = proc.run({ argv = { "git", "-C", opts.repo, "rev-parse", "--absolute-git-dir" } })
    assert(r and r.code == 0, "--repo " .. opts.repo .. ": not a git repository")
    opts.repo = r.stdout:gsub("%s+$", "")
  end
end
local disk_root = os.getenv("BENCH_DIR") or "/tmp/gt-bench"
local shm_root = os.getenv("BENCH_SHM") or "/dev/shm/gt-bench"
local megabytes = tonumber(os.getenv("BENCH_MB") or "150")
local started = sys.clock_ms()

-- Helpers ---------------------------------------------------------------------------------------
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "bench"
local lib = dofile(here .. "/lib.lua")
local env = { GT_TOWN = false, GT_RIG = false, NO_COLOR = "1", GIT_CONFIG_NOSYSTEM = "1" }

local function say(fmt, ...) io.stderr:write(fmt:format(...), "\n") end

local run, timed = lib.runner(env)

local function write(path, data)
  local f = assert(io.open(path, "wb"))
  assert(f:write(data))
  assert(f:close())
end

local median = lib.median

local function fresh(dir)
  if fs.stat(dir) then assert(fs.remove_tree(dir)) end
  assert(fs.mkdir_p(dir))
end

local function cat(...)
  local t = {}
  for _, list in ipairs({ ... }) do for _, v in ipairs(list) do t[#t + 1] = v end end
  return t
end

local function trim(s) return (s:gsub("%s+$", "")) end

--- Runs `pairs` pairs of a() and b() (each returns milliseconds), alternating which goes first;
--- returns the medians of a, of b and of the pair-by-pair ratios a/b.
local function paired(n, a, b)
  local ta, tb, ratio = {}, {}, {}
  for i = 1, n do
    if i % 2 == 1 then ta[i] = a(i); tb[i] = b(i) else tb[i] = b(i); ta[i] = a(i) end
    ratio[i] = ta[i] / tb[i]
  end
  return median(ta), median(tb), median(ratio)
end

-- The generated repository ----------------------------------------------------------------------
-- The shape of the measured baseline (docs/design.md §7): 20x10x10 folders of 10 files of random
-- words, 6 commits, one pack; generated once into BENCH_DIR and reused.
local generate_repository = dofile(here .. "/generate.lua")

local function generate(dir)
  say("generating a 20,000-file repository (%d MiB) in %s", megabytes, dir)
  generate_repository(dir, megabytes, run)
end

-- A bench site: a town with one rig on a bare copy of a source, and the git CLI's bare clone ----
local Site = {}
Site.__index = Site

--- Sets up, under `root`, origin (a bare clone of `source`), a town whose rig `rig` clones it,
--- and a bare clone of origin with origin/* refs for the git CLI.
local function site(root, source, rig)
  fresh(root)
  local s = setmetatable({ root = root, rig = rig }, Site)
  env.HOME = root .. "/home"
  assert(fs.mkdir_p(env.HOME))
  write(env.HOME .. "/.gitconfig", "[user]\n\tname = Bench\n\temail = bench@example.com\n")
  s.origin = root .. "/origin.git"
  run({ "git", "clone", "-q", "--bare", source, s.origin })
  run({ "git", "-C", s.origin, "config", "gc.auto", "0" })
  s.default = trim(run({ "git", "-C", s.origin, "symbolic-ref", "--short", "HEAD" }))
  s.town = root .. "/town"
  run({ gt.executable, "init", s.town })
  run({ gt.executable, "--town", s.town, "rig", "add", rig, s.origin })
  s.gt = { gt.executable, "--town", s.town, "--rig", rig }
  s.cli = root .. "/cli.git"
  run({ "git", "clone", "-q", "--bare", s.origin, s.cli })
  run({ "git", "-C", s.cli, "config", "gc.auto", "0" })
  run({ "git", "-C", s.cli, "config", "remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*" })
  run({ "git", "-C", s.cli, "fetch", "-q", "origin" })
  s.wt = root .. "/cli-wt"
  assert(fs.mkdir_p(s.wt))
  s.files = select(2, run({ "git", "-C", s.origin, "ls-tree", "-r", "--name-only", "HEAD" }):gsub("\n", ""))
  s.serial = 0
  return s
end

function Site:next(prefix)
  self.serial = self.serial + 1
  return ("%s%d"):format(prefix, self.serial)
end

function Site:gt_add(name, extra)
  return timed(cat(self.gt, { "polecat", "add", name, "--no-fetch" }), extra)
end
--- gt polecat remove, timed as the user sees it: it returns once the folder is in the rig's
--- trash, deleted by a background gt. That deletion is waited for (untimed), so that it does
--- not run during the next measurement.
function Site:gt_remove(name)
  local t = timed(cat(self.gt, { "polecat", "remove", name }))
  self:wait_trash()
  return t
end

--- Waits (at most a minute) until the background deletions of the rig's trash are done.
function Site:wait_trash()
  local trash = self.town .. "/" .. self.rig .. "/.gt/trash"
  for _ = 1, 6000 do
    local names = fs.dir(trash)
    if not names or #names == 0 then return end
    sys.sleep_ms(10)
  end
end

--- `git worktree add -b B PATH origin/<default>` in the CLI's bare clone; returns ms, branch, path.
function Site:git_add()
  local name = self:next("cli")
  local b = ("polecat/%s-%s"):format(name, branch.base36(sys.now_ms()))
  local wt = self.wt .. "/" .. name
  local ms = timed({ "git", "-C", self.cli, "worktree", "add", "-q", "-b", b, wt, "origin/" .. self.default })
  return ms, b, wt
end

function Site:git_remove(b, wt)
  local t0 = sys.clock_ms()
  run({ "git", "-C", self.cli, "worktree", "remove", "--force", wt })
  run({ "git", "-C", self.cli, "branch", "-q", "-D", b })
  return sys.clock_ms() - t0
end

--- Moves origin's default branch 3 commits ahead (plumbing in the bare origin: no checkout).
function Site:advance(k)
  local index = self.root .. "/advance.index"
  local genv = { GIT_INDEX_FILE = index }
  local ref = "refs/heads/" .. self.default
  for j = 1, 3 do
    local blob = trim(run({ "git", "-C", self.origin, "hash-object", "-w", "--stdin" },
      nil, ("advance %d.%d\n"):format(k, j)))
    run({ "git", "-C", self.origin, "read-tree", ref }, genv)
    run({ "git", "-C", self.origin, "update-index", "--add", "--cacheinfo",
      "100644," .. blob .. ",bench-advance/" .. k .. "-" .. j .. ".txt" }, genv)
    local tree = trim(run({ "git", "-C", self.origin, "write-tree" }, genv))
    local commit = trim(run({ "git", "-C", self.origin, "commit-tree", tree, "-p", ref, "-m",
      "advance " .. k .. "." .. j }))
    run({ "git", "-C", self.origin, "update-ref", ref, commit })
  end
  os.remove(index)
end

-- The table -------------------------------------------------------------------------------------
local rows = {}
local cycle_estimates = {}

local function ms(v) return ("%.1f ms"):format(v) end

--- Adds a row: label, file system, gt figure, git figure, ratio, goal text, holds (bool).
local function row(label, where, gtv, gitv, ratio, goal, holds)
  local verdict = holds == nil and "n/a" or holds and "yes" or "NO"
  rows[#rows + 1] = { label, where, gtv, gitv, ratio, goal, verdict, order = #rows }
  say("  %s [%s]: gt %s, git %s, ratio %s (goal %s)", label, where, gtv, gitv, ratio, goal)
end

-- Rows 1 and 3 (and 7): fresh spawn and remove of a clean polecat.
local function spawn_remove(s, where, label_add, label_remove)
  local add, rem = {}, {}
  local gt_add, git_add, add_ratio = paired(opts.rounds, function(i)
    local name = s:next("f")
    add[i] = name
    return s:gt_add(name)
  end, function(i)
    local t, b, wt = s:git_add()
    rem[i] = { b, wt }
    return t
  end)
  local gt_rem, git_rem, rem_ratio = paired(opts.rounds, function(i)
    return s:gt_remove(add[i])
  end, function(i)
    return s:git_remove(rem[i][1], rem[i][2])
  end)
  row(label_add, where, ms(gt_add), ms(git_add), ("%.2fx"):format(add_ratio), "<= 0.70x",
    add_ratio <= 0.70)
  row(label_remove, where, ms(gt_rem), ms(git_rem), ("%.2fx"):format(rem_ratio),
    "<= 30 ms, <= 0.10x", gt_rem <= 30 and rem_ratio <= 0.10)
end

-- Row 1b: the checkout writer's threads (GT_JOBS): a fresh spawn with 4 and with 2 threads,
-- against 1 thread. The goal (4 threads <= 0.6x of 1) is for a machine with 4 cores or more.
local function threads(s, where, cores)
  for _, jobs in ipairs({ 4, 2 }) do
    local names = {}
    local many, one, ratio = paired(opts.rounds, function()
      names[#names + 1] = s:next("j")
      return s:gt_add(names[#names], { GT_JOBS = tostring(jobs) })
    end, function()
      names[#names + 1] = s:next("j")
      return s:gt_add(names[#names], { GT_JOBS = "1" })
    end)
    for _, name in ipairs(names) do run(cat(s.gt, { "polecat", "remove", "--wait", name })) end
    local applies = cores >= jobs
    row(("1b fresh spawn, GT_JOBS=%d vs GT_JOBS=1"):format(jobs), where, ms(many),
      ms(one) .. " (gt, 1)", ("%.2fx"):format(ratio), jobs == 4 and "<= 0.60x (4 cores)" or
      "falls", applies and (jobs == 4 and ratio <= 0.60 or ratio < 1) or nil)
  end
end

-- Row 2: reuse of an idle polecat's worktree, origin 3 commits ahead of it.
local function reuse(s, where)
  local k = 0
  local gt_t, git_t, ratio = paired(opts.rounds, function()
    k = k + 1
    local idle, new = s:next("idle"), s:next("reuse")
    run(cat(s.gt, { "polecat", "add", idle, "--no-fetch" }))
    s:advance(k)
    run(cat(s.gt, { "polecat", "done", idle })) -- fetches origin, then makes it idle
    local t = s:gt_add(new)
    local listing = run(cat(s.gt, { "polecat", "list", "--json" }))
    assert(not listing:find('"' .. idle .. '"', 1, true), "gt polecat add did not reuse the idle polecat")
    run(cat(s.gt, { "polecat", "remove", "--wait", new }))
    return t
  end, function()
    run({ "git", "-C", s.cli, "fetch", "-q", "origin" })
    local t, b, wt = s:git_add()
    s:git_remove(b, wt)
    return t
  end)
  row("2 spawn reusing an idle worktree (origin +3 commits)", where, ms(gt_t), ms(git_t),
    ("%.2fx"):format(ratio), "<= 0.15x", ratio <= 0.15)
end

-- Row 4: dirty check in settled worktrees.
local function status(s, where)
  local name = s:next("settled")
  run(cat(s.gt, { "polecat", "add", name, "--no-fetch" }))
  local _, b, wt = s:git_add()
  local gt_argv = cat(s.gt, { "polecat", "status", name, "--json" })
  local git_argv = { "git", "-C", wt, "status", "--porcelain" }
  run(gt_argv); run(git_argv) -- settle the indexes
  local gt_t, git_t, ratio = paired(opts.rounds * 3, function() return timed(gt_argv) end,
    function() return timed(git_argv) end)
  row("4 dirty check, settled worktree", where, ms(gt_t), ms(git_t), ("%.2fx"):format(ratio),
    "<= 1.2x", ratio <= 1.2)
  run(cat(s.gt, { "polecat", "remove", "--wait", name }))
  s:git_remove(b, wt)
end

-- Row 5: gt polecat list with 1,000 polecats (rows put in the ledger directly), gt --version.
local function list(root, where)
  local dir = root .. "/list"
  fresh(dir)
  local src = dir .. "/src"
  run({ "git", "init", "-q", "-b", "main", src })
  write(src .. "/README", "small\n")
  run({ "git", "-C", src, "add", "-A" })
  run({ "git", "-C", src, "commit", "-q", "-m", "initial" })
  local town_root = dir .. "/town"
  run({ gt.executable, "init", town_root })
  run({ gt.executable, "--town", town_root, "rig", "add", "small", src })
  local store = require("gt.store")
  local layout = require("gt.layout")
  local town = require("gt.town").open(town_root)
  local db = town:ledger()
  local rig_root = layout.rig_root(town.root, "small")
  store.tx(db, function()
    for i = 1, 1000 do
      local name = ("p%04d"):format(i)
      local id = layout.id("small", name)
      assert(store.agent_claim(db, { id = id, rig = "small", name = name,
        branch = ("polecat/%s-%s"):format(name, branch.base36(sys.now_ms())),
        worktree = layout.worktree(rig_root, "small", name) }))
      store.agent_set_state(db, id, "working")
    end
  end)
  town:close()
  local list_argv = { gt.executable, "--town", town_root, "--rig", "small", "polecat", "list" }
  local lines = select(2, run(list_argv):gsub("\n", ""))
  assert(lines == 1001, "expected a header and 1000 rows, got " .. lines .. " lines")
  local git_version = { "git", "--version" }
  local n = opts.rounds * 3
  local gt_t, git_t, ratio = paired(n, function() return timed(list_argv) end,
    function() return timed(git_version) end)
  row("5 gt polecat list, 1,000 polecats", where, ms(gt_t), ms(git_t) .. " (--version)",
    ("%.2fx"):format(ratio), "<= 25 ms", gt_t <= 25)
  local gv = { gt.executable, "--version" }
  gt_t, git_t, ratio = paired(n, function() return timed(gv) end,
    function() return timed(git_version) end)
  row("5 gt --version (touches no git)", where, ms(gt_t), ms(git_t) .. " (--version)",
    ("%.2fx"):format(ratio), "<= 25 ms, <= 1.0x", gt_t <= 25 and ratio <= 1.0)
end

-- Row 6: spawn/remove cycles by 4 workers at once, against the same cycles one after another.
local function parallel(s, where)
  local function workers(n, per, tag)
    local script = {}
    local gt_cmd = {}
    for _, a in ipairs(s.gt) do gt_cmd[#gt_cmd + 1] = "'" .. a .. "'" end
    gt_cmd = table.concat(gt_cmd, " ")
    local errs = s.root .. "/parallel.err"
    for w = 1, n do
      script[#script + 1] = ("(i=0; while [ $i -lt %d ]; do i=$((i+1)); " ..
        "%s polecat add %s%d-$i --no-fetch >/dev/null 2>>%s && " ..
        "%s polecat remove %s%d-$i >/dev/null 2>>%s || echo FAIL; done) &"):format(
        per, gt_cmd, tag, w, errs, gt_cmd, tag, w, errs)
    end
    script[#script + 1] = "wait"
    local t0 = sys.clock_ms()
    local out = run({ "sh", "-c", table.concat(script, "\n") })
    s:wait_trash() -- the removals' background deletions are part of the work
    local t = sys.clock_ms() - t0
    local failures = select(2, out:gsub("FAIL", ""))
    return t, failures
  end
  local n = opts.cycles
  local seq_t, seq_fail = workers(1, n, "s")
  local par_t, par_fail = workers(4, n // 4, "p")
  local left = run(cat(s.gt, { "polecat", "list", "--json" }))
  local leftover = select(2, left:gsub('"name"', ""))
  local throughput = seq_t / par_t
  cycle_estimates[#cycle_estimates + 1] = { where, seq_t + par_t }
  row(("6 %d spawn+remove cycles: 4 workers vs 1"):format(n), where,
    ("%.1f s (4-way)"):format(par_t / 1000), ("%.1f s (sequential, gt)"):format(seq_t / 1000),
    ("%.2fx"):format(throughput), ">= 1.5x throughput", throughput >= 1.5)
  row(("6 failures in those cycles (4-way + sequential)"):format(), where,
    ("%d + %d, %d left"):format(par_fail, seq_fail, leftover), "-", "-", "0", par_fail + seq_fail == 0
    and leftover == 0)
end

-- Main ------------------------------------------------------------------------------------------
local function df(path)
  local out = run({ "df", "-k", "--output=source,fstype,avail,target", path })
  local line = out:match("\n([^\n]+)") or ""
  local source, fstype, avail, target = line:match("(%S+)%s+(%S+)%s+(%d+)%s+(%S+)")
  return { fstype = fstype, avail_kib = tonumber(avail), target = target, source = source }
end

assert(fs.mkdir_p(disk_root))
local src = disk_root .. "/large-src"
if not fs.stat(src .. "/.git") then
  if fs.stat(src) then assert(fs.remove_tree(src)) end
  generate(src)
end

local places, notes = {}, {}
do
  local parent = shm_root:match("^(.*)/[^/]+$")
  local d = parent and fs.stat(parent) and df(parent)
  if d and d.fstype == "tmpfs" and d.avail_kib >= 4 * 1024 * 1024 then
    places[#places + 1] = { root = shm_root, kind = "tmpfs" }
  elseif d then
    notes[#notes + 1] = ("tmpfs skipped: %s is %s with %d MiB free (needs tmpfs, 4 GiB)"):format(
      parent, d.fstype, d.avail_kib // 1024)
  else
    notes[#notes + 1] = ("tmpfs skipped: %s does not exist"):format(parent or shm_root)
  end
  places[#places + 1] = { root = disk_root .. "/run", kind = "disk" }
end

local cores = math.tointeger(tonumber(trim(run({ "nproc" })))) or 1
local machine = { ("cores: %d (nproc)"):format(cores) }
for _, p in ipairs(places) do
  local parent = p.root:match("^(.*)/[^/]+$")
  assert(fs.mkdir_p(parent))
  local d = df(parent)
  p.name = p.kind == "tmpfs" and "tmpfs" or ("disk/" .. d.fstype)
  machine[#machine + 1] = ("%s: %s (%s on %s, %s)"):format(p.name, p.root, d.fstype, d.target, d.source)
end

for _, p in ipairs(places) do
  say("== %s: %s", p.name, p.root)
  local want = opts.rows
  if want[1] or want[2] or want[3] or want[4] or want[6] then
    local s = site(p.root, src, "large")
    say("generated repository: %d files; %d pairs a row", s.files, opts.rounds)
    if want[1] or want[3] then
      spawn_remove(s, p.name, ("1 fresh spawn, %d files"):format(s.files),
        ("3 remove a clean polecat, %d files"):format(s.files))
    end
    if want[1] then threads(s, p.name, cores) end
    if want[2] then reuse(s, p.name) end
    if want[4] then status(s, p.name) end
    if want[6] then parallel(s, p.name) end
  end
  if want[5] then list(p.root, p.name) end
  if opts.repo and want[7] then
    local r = site(p.root .. "/repo", opts.repo, "real")
    say("--repo %s: %d files", opts.repo, r.files)
    spawn_remove(r, p.name, ("7 fresh spawn, --repo (%d files)"):format(r.files),
      ("7 remove, --repo (%d files)"):format(r.files))
  end
  if p.root == shm_root then assert(fs.remove_tree(p.root)) end -- give the memory back
end
if not opts.repo then notes[#notes + 1] = "row 7 skipped: no --repo PATH given" end

-- Print ---------------------------------------------------------------------------------------
local header = { "row", "fs", "gt", "git CLI", "gt/git", "goal", "holds" }
local widths = {}
for c, h in ipairs(header) do widths[c] = #h end
for _, r in ipairs(rows) do
  for c, v in ipairs(r) do widths[c] = math.max(widths[c], #v) end
end
local function line(r)
  local cells = {}
  for c, v in ipairs(r) do cells[c] = v .. string.rep(" ", widths[c] - #v) end
  return (table.concat(cells, "  "):gsub("%s+$", ""))
end
for _, m in ipairs(machine) do print(m) end
print(("%s; %d pairs a row (x3 for rows 4 and 5), ratio = median of the pairs' ratios"):format(
  trim(run({ gt.executable, "--version" })), opts.rounds))
if opts.repo then print("--repo: " .. opts.repo) end
print("")
print(line(header))
-- By file system, then by row number (the rows are measured in another order).
local fs_order = {}
for i, p in ipairs(places) do fs_order[p.name] = i end
table.sort(rows, function(a, b)
  if a[2] ~= b[2] then return fs_order[a[2]] < fs_order[b[2]] end
  local na, nb = tonumber(a[1]:match("^%d+")), tonumber(b[1]:match("^%d+"))
  if na ~= nb then return na < nb end
  return a.order < b.order
end)
for _, r in ipairs(rows) do print(line(r)) end
print("")
for _, n in ipairs(notes) do print("note: " .. n) end
for _, e in ipairs(cycle_estimates) do
  print(("note: row 6 used %d cycles (--cycles N; default 20): on %s 200 cycles would take about " ..
    "%.0f min (sequential + 4-way)"):format(opts.cycles, e[1], e[2] * 200 / opts.cycles / 60000))
end
print(("took %.0f s"):format((sys.clock_ms() - started) / 1000))
