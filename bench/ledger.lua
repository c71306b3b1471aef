-- The ledger's backends side by side: the same commands on a town whose ledger is sqlite and on
-- one whose ledger is on a PostgreSQL server (docs/design.md §3.7), alternated pair by pair.
--   gt -l bench/ledger.lua CONNINFO [--rounds N]     (bench/ledger starts a server and runs this)
-- CONNINFO names a database on the server that this benchmark may fill (a schema of its own is
-- made in it). Prints a table: add (a new polecat, no fetch), remove (--wait), list with 20
-- polecats, and the round trip gt ledger status measures, in milliseconds (medians).
local fs = require("gt.fs")
local sys = require("gt.sys")
local pg = require("gt.pg")

local conninfo = assert(arg[1], "usage: gt -l bench/ledger.lua CONNINFO [--rounds N]")
local rounds = 15
for i = 2, #arg do
  if arg[i] == "--rounds" then rounds = assert(math.tointeger(tonumber(arg[i + 1])), "--rounds N") end
end

local env = { GT_TOWN = false, GT_RIG = false, GT_LEDGER = false, NO_COLOR = "1", GIT_CONFIG_NOSYSTEM = "1",
  GIT_AUTHOR_NAME = "b", GIT_AUTHOR_EMAIL = "b@b", GIT_COMMITTER_NAME = "b", GIT_COMMITTER_EMAIL = "b@b" }

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "bench"
local lib = dofile(here .. "/lib.lua")
local run, timed = lib.runner(env)
local median = lib.median

-- A small origin (200 files): what is measured is gt and its ledger, not the checkout.
local dir = (os.getenv("BENCH_DIR") or "/tmp/gt-bench") .. "/ledger"
if fs.stat(dir) then assert(fs.remove_tree(dir)) end
assert(fs.mkdir_p(dir .. "/work"))
run({ "git", "init", "-q", "-b", "main", dir .. "/work" })
for i = 1, 200 do
  local f = assert(io.open(("%s/work/f%03d.txt"):format(dir, i), "w"))
  f:write(("line %d\n"):format(i):rep(20))
  f:close()
end
run({ "git", "-C", dir .. "/work", "add", "-A" })
run({ "git", "-C", dir .. "/work", "commit", "-q", "-m", "files" })
run({ "git", "clone", "-q", "--bare", dir .. "/work", dir .. "/origin.git" })

local schema = ("bench_%d"):format(sys.pid())
do
  local db <close> = assert(pg.open(conninfo))
  assert(db:exec("CREATE SCHEMA " .. schema))
end
local server = conninfo .. " options='-c search_path=" .. schema .. "'"

local towns = {}
for _, backend in ipairs({ "sqlite", "postgresql" }) do
  local town = dir .. "/" .. backend
  local init = { gt.executable, "init", town }
  if backend == "postgresql" then init = { gt.executable, "init", "--ledger", server, town } end
  run(init)
  run({ gt.executable, "--town", town, "rig", "add", "demo", dir .. "/origin.git" })
  local base = { gt.executable, "--town", town, "--rig", "demo" }
  for i = 1, 20 do run({ base[1], base[2], base[3], base[4], base[5], "polecat", "add", "--no-fetch", "p" .. i }) end
  towns[backend] = base
end

local function with(base, ...)
  local argv = {}
  for _, a in ipairs(base) do argv[#argv + 1] = a end
  for _, a in ipairs({ ... }) do argv[#argv + 1] = a end
  return argv
end

local results = { sqlite = { add = {}, remove = {}, list = {} }, postgresql = { add = {}, remove = {}, list = {} } }
local order = { "sqlite", "postgresql" }
for i = 1, rounds do
  local first, second = order[1 + (i % 2)], order[2 - (i % 2)]
  for _, backend in ipairs({ first, second }) do
    local base, r = towns[backend], results[backend]
    r.add[i] = timed(with(base, "polecat", "add", "--no-fetch", "x" .. i))
    r.list[i] = timed(with(base, "polecat", "list"))
    r.remove[i] = timed(with(base, "polecat", "remove", "--wait", "x" .. i))
  end
end

local status = {}
for _, backend in ipairs(order) do
  local out = run(with(towns[backend], "ledger", "status"))
  status[backend] = tonumber(out:match("latency%s+([%d.]+) ms"))
end

print(("ledger backends, %d alternated rounds, medians in ms (200-file origin, 20 live polecats)"):format(rounds))
print(("%-44s %10s %12s %8s"):format("", "sqlite", "postgresql", "ratio"))
for _, what in ipairs({ { "add", "gt polecat add --no-fetch" }, { "list", "gt polecat list (20 polecats)" },
    { "remove", "gt polecat remove --wait" } }) do
  local a, b = median(results.sqlite[what[1]]), median(results.postgresql[what[1]])
  print(("%-44s %10.1f %12.1f %7.2fx"):format(what[2], a, b, b / a))
end
print(("%-44s %10.3f %12.3f %7.1fx"):format("one round trip (gt ledger status)", status.sqlite, status.postgresql,
  status.postgresql / status.sqlite))

do
  local db <close> = assert(pg.open(conninfo))
  assert(db:exec("DROP SCHEMA " .. schema .. " CASCADE"))
end
