-- Thin helpers shared by the specs: temporary folders, real git repositories made with the git
-- CLI (an independent witness of what gt did), and running the gt binary under test.
local fs = require("gt.fs")
local proc = require("gt.proc")
local sys = require("gt.sys")

local helpers = {}

local tmp_root = os.getenv("TMPDIR") or "/tmp"
local counter = 0

--- Makes a new empty temporary directory and returns its real path.
function helpers.tmpdir(label)
  counter = counter + 1
  local path = ("%s/gt-test-%d-%d-%s"):format(tmp_root, sys.pid(), counter, label or "d")
  if fs.lstat(path) then assert(fs.remove_tree(path)) end
  assert(fs.mkdir_p(path))
  return assert(fs.realpath(path))
end

--- Writes `data` to `path`, creating parent folders.
function helpers.write(path, data)
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then assert(fs.mkdir_p(dir)) end
  local f = assert(io.open(path, "wb"))
  assert(f:write(data))
  assert(f:close())
end

--- Returns the content of `path`, or nil if it cannot be read.
function helpers.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local data = f:read("a")
  f:close()
  return data
end

--- True if something exists at `path` (links are not followed).
function helpers.exists(path)
  return fs.lstat(path) ~= nil
end

-- A home of its own for every process the specs start: git and gt read no user's config.
local home = helpers.tmpdir("home")
helpers.write(home .. "/.gitconfig", "[user]\n\tname = Test User\n\temail = test@example.com\n" ..
  "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n")

--- Environment for child processes: isolated HOME and XDG folders, fixed git identity.
function helpers.env(extra)
  local env = { HOME = home, XDG_CONFIG_HOME = home .. "/.config", XDG_STATE_HOME = home .. "/.state",
    XDG_DATA_HOME = home .. "/.data", GIT_CONFIG_NOSYSTEM = "1", GT_TOWN = false, GT_RIG = false,
    GT_LEDGER = false, GT_HOST = false,
    NO_COLOR = "1", LC_ALL = "C" }
  for k, v in pairs(extra or {}) do env[k] = v end
  return env
end

--- Runs a program; returns its result table (code, stdout, stderr).
function helpers.run(argv, opts)
  opts = opts or {}
  return assert(proc.run({ argv = argv, cwd = opts.cwd, env = helpers.env(opts.env),
    stdin = opts.stdin, timeout_ms = opts.timeout_ms or 120000 }))
end

--- Runs git in `dir` and returns its stdout without the final newline; fails the test if git
--- fails.
function helpers.git(dir, ...)
  local r = helpers.run({ "git", "-C", dir, ... })
  if r.code ~= 0 then
    error(("git %s failed (%s): %s"):format(table.concat({ ... }, " "), tostring(r.code), r.stderr), 2)
  end
  return (r.stdout:gsub("\n$", ""))
end

-- The ledger backend the specs run on: GT_TEST_BACKEND=postgresql puts every town a spec makes
-- with `gt init` on the throwaway server scripts/test starts (GT_TEST_PG, the conninfo of its
-- "postgres" database), each town in a schema of its own; otherwise towns keep sqlite ledgers.
helpers.backend = os.getenv("GT_TEST_BACKEND") == "postgresql" and "postgresql" or "sqlite"
helpers.pg_admin = os.getenv("GT_TEST_PG") ~= "" and os.getenv("GT_TEST_PG") or nil
if helpers.backend == "postgresql" then assert(helpers.pg_admin, "GT_TEST_BACKEND=postgresql needs GT_TEST_PG") end

local pg_database -- of this process, made on first use
local schemas = 0

--- A new, empty ledger on the test server: its conninfo (a schema of its own in a database of
--- this process). Nil when no server runs (GT_TEST_PG unset).
function helpers.pg_ledger()
  if not helpers.pg_admin then return nil end
  local pg = require("gt.pg")
  if not pg_database then
    pg_database = ("gt_%d_%d"):format(sys.pid(), sys.now_ms() % 100000000)
    local admin <close> = assert(pg.open(helpers.pg_admin))
    assert(admin:exec("CREATE DATABASE " .. pg_database))
  end
  schemas = schemas + 1
  local schema = ("t%d"):format(schemas)
  local base = helpers.pg_admin:gsub("dbname=%S+", "") .. " dbname=" .. pg_database
  local db <close> = assert(pg.open(base))
  assert(db:exec("CREATE SCHEMA " .. schema))
  return base .. " options='-c search_path=" .. schema .. "'"
end

--- Where a new ledger goes for a spec of the store: a fresh server ledger on the postgresql
--- backend, else the file `dir`/ledger.db.
function helpers.ledger_target(dir)
  if helpers.backend == "postgresql" then return helpers.pg_ledger() end
  return dir .. "/ledger.db"
end

--- `args` of gt, with `--ledger` on a fresh server ledger added to a `gt init` on the
--- postgresql backend.
local function with_ledger(args)
  if helpers.backend ~= "postgresql" then return args end
  local i = 1
  while args[i] == "--town" or args[i] == "--rig" or (args[i] or ""):match("^%-") do
    i = i + ((args[i] == "--town" or args[i] == "--rig") and 2 or 1)
  end
  if args[i] ~= "init" then return args end
  for _, a in ipairs(args) do if a == "--ledger" then return args end end
  local out = {}
  for k, a in ipairs(args) do
    out[#out + 1] = a
    if k == i then out[#out + 1] = "--ledger"; out[#out + 1] = helpers.pg_ledger() end
  end
  return out
end

--- Runs the gt binary under test with `args` (a list); returns code, stdout, stderr.
function helpers.gt(args, opts)
  opts = opts or {}
  local argv = { gt.executable }
  for _, a in ipairs(with_ledger(args)) do argv[#argv + 1] = a end
  local r = helpers.run(argv, opts)
  return r.code, r.stdout, r.stderr
end

--- Makes a bare origin repository with two commits on main (a.txt, src/b.txt) and a work
--- clone to push more from. Returns { origin = path, work = path }.
function helpers.origin(dir)
  dir = dir or helpers.tmpdir("origin")
  local work = dir .. "/work"
  helpers.git(dir, "init", "-q", "-b", "main", work)
  helpers.write(work .. "/a.txt", "hello\n")
  helpers.write(work .. "/src/b.txt", "bee\n")
  helpers.git(work, "add", "-A")
  helpers.git(work, "commit", "-q", "-m", "first")
  helpers.write(work .. "/a.txt", "hello\nworld\n")
  helpers.git(work, "commit", "-q", "-am", "second")
  helpers.git(dir, "clone", "-q", "--bare", work, dir .. "/origin.git")
  helpers.git(work, "remote", "add", "origin", dir .. "/origin.git")
  helpers.git(work, "fetch", "-q", "origin")
  helpers.git(work, "branch", "-q", "--set-upstream-to=origin/main", "main")
  return { origin = dir .. "/origin.git", work = work }
end

--- Adds a commit to origin's main (through the work clone); returns its id.
function helpers.push_commit(o, path, content, message)
  helpers.write(o.work .. "/" .. path, content)
  helpers.git(o.work, "add", "-A")
  helpers.git(o.work, "commit", "-q", "-m", message or ("change " .. path))
  helpers.git(o.work, "push", "-q", "origin", "main")
  return helpers.git(o.work, "rev-parse", "HEAD")
end

--- A town with rig "demo" cloned from a fresh origin. Returns { town, rig (path), origin, work }.
function helpers.fixture(rig_name)
  rig_name = rig_name or "demo"
  local dir = helpers.tmpdir("fx")
  local o = helpers.origin(dir)
  local town = dir .. "/town"
  local code, _, err = helpers.gt({ "init", town })
  assert(code == 0, err)
  code, _, err = helpers.gt({ "--town", town, "rig", "add", rig_name, o.origin })
  assert(code == 0, err)
  return { town = town, rig = town .. "/" .. rig_name, name = rig_name, origin = o.origin,
    work = o.work, dir = dir }
end

--- Runs gt inside rig `fx` with GT_FAULT=`fault` (gt.fault: "point=kill" or "point=error"),
--- plus opts.env; returns the whole result (code, signal, stdout, stderr).
function helpers.gt_fault(fx, fault, args, opts)
  opts = opts or {}
  local env = { GT_FAULT = fault }
  for k, v in pairs(opts.env or {}) do env[k] = v end
  local argv = { gt.executable, "--town", fx.town, "--rig", fx.name }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return helpers.run(argv, { env = env, cwd = opts.cwd })
end

--- Runs gt inside rig `fx` (with --town); returns code, stdout, stderr.
function helpers.gt_rig(fx, args, opts)
  local full = { "--town", fx.town, "--rig", fx.name }
  for _, a in ipairs(args) do full[#full + 1] = a end
  return helpers.gt(full, opts)
end

--- Quotes `s` for sh.
function helpers.quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- Runs gt commands all at once, as background jobs of one shell, and waits for every one.
--- Each command is a list of gt's arguments, or { args = {...}, env = {NAME = value} } for a
--- command with variables of its own. Returns their results { code, stdout, stderr } in order.
function helpers.run_all(commands)
  local dir = helpers.tmpdir("jobs")
  local lines = {}
  for i, c in ipairs(commands) do
    local argv = { "env" }
    for k, v in pairs(c.env or {}) do argv[#argv + 1] = helpers.quote(k .. "=" .. v) end
    argv[#argv + 1] = helpers.quote(gt.executable)
    for _, a in ipairs(c.args or c) do argv[#argv + 1] = helpers.quote(a) end
    lines[#lines + 1] = ("(%s >%s/%d.out 2>%s/%d.err; echo $? >%s/%d.code) &"):format(
      table.concat(argv, " "), dir, i, dir, i, dir, i)
  end
  lines[#lines + 1] = "wait"
  local r = helpers.run({ "sh", "-c", table.concat(lines, "\n") })
  assert(r.code == 0, r.stderr)
  local results = {}
  for i = 1, #commands do
    results[i] = { code = tonumber(helpers.read(("%s/%d.code"):format(dir, i))),
      stdout = helpers.read(("%s/%d.out"):format(dir, i)), stderr = helpers.read(("%s/%d.err"):format(dir, i)) }
  end
  return results
end

--- Lists the lines of a string.
function helpers.lines(s)
  local out = {}
  for l in s:gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end


-- Runs a function body in a fresh gt process (helpers.lua_child). It gets the body and its
-- arguments as strings, and writes what the body returned, or the error it raised, as a Lua
-- table constructor to the result file.
local CHILD = [=[
local result_file, body = ...
local errors = require("gt.errors")
local function ser(v, depth)
  local t = type(v)
  if t == "string" or t == "number" then return ("%q"):format(v) end
  if t == "boolean" or t == "nil" then return tostring(v) end
  if t == "table" and depth < 20 then
    local parts = {}
    for k, x in pairs(v) do parts[#parts + 1] = "[" .. ser(k, depth + 1) .. "]=" .. ser(x, depth + 1) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return ("%q"):format("<" .. t .. ">")
end
local fn = assert(load(body, "=body", "t"))
local r = table.pack(xpcall(fn, function(e)
  if errors.is(e) then return e end
  return debug.traceback(tostring(e), 2)
end, select(3, ...)))
local out
if r[1] then
  out = { ok = true, n = r.n - 1, table.unpack(r, 2, r.n) }
else
  local e = r[2]
  out = { ok = false, kind = errors.is(e) and e.kind or nil, message = errors.is(e) and e.message or e }
end
local f = assert(io.open(result_file, "w"))
assert(f:write("return ", ser(out, 0)))
assert(f:close())
]=]

--- Runs Lua code `body` (a function body: `...` are `args`, strings) in a fresh gt process
--- (gt -l), for what keeps state in a module or reads the environment: opts.env and opts.cwd
--- as helpers.run takes them. Returns { ok = true, n, [1..n] = what it returned } (strings,
--- numbers, booleans, tables of them) or { ok = false, kind (a gt error's), message }, with
--- the process's code, stdout and stderr.
function helpers.lua_child(body, args, opts)
  opts = opts or {}
  local result_file = helpers.tmpdir("child") .. "/result.lua"
  local argv = { gt.executable, "-l", "/dev/stdin", result_file, body }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  local r = assert(proc.run({ argv = argv, cwd = opts.cwd, env = helpers.env(opts.env), stdin = CHILD,
    timeout_ms = 60000 }))
  local data = helpers.read(result_file)
  if not data then
    error(("gt -l exited %s without a result: %s"):format(tostring(r.code), r.stderr), 2)
  end
  local res = assert(load(data, "=result", "t", {}))()
  res.code, res.stdout, res.stderr = r.code, r.stdout, r.stderr
  return res
end

--- As helpers.lua_child, returning what the body returned; fails the test when it raised.
function helpers.in_child(body, args, opts)
  local res = helpers.lua_child(body, args, opts)
  if not res.ok then error("the child raised: " .. tostring(res.message) .. "\n" .. res.stderr, 2) end
  return table.unpack(res, 1, res.n)
end

return helpers
