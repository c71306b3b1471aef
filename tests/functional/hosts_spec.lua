-- A town on several machines (docs/design.md §3.7): two towns on this machine, with different
-- GT_HOST, share one ledger on the throwaway PostgreSQL server (scripts/test) and stand in for
-- two hosts. Names are unique across hosts, each host acts on its own polecats only, the
-- journal's recovery finishes only its host's operations, and a server that goes away loses
-- nothing. Without a server (GT_TEST_PG unset) these specs are pending.
local helpers = require("helpers")
local witness = require("witness")
local fs = require("gt.fs")
local sys = require("gt.sys")
local pg = require("gt.pg")

local server_it = helpers.pg_admin and it or pending
local _ -- discarded results (code, _, err = ...)
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "tests/functional"
local root = fs.realpath(here .. "/../..")

local quote = helpers.quote

--- Two towns sharing one new server ledger, with rig "demo" cloned from one origin in each:
--- { url, origin, alpha = {town, rig, name, host}, beta = {...} }.
local function two_hosts()
  local dir = helpers.tmpdir("hosts")
  local o = helpers.origin(dir)
  local url = helpers.pg_ledger()
  local hosts = { url = url, origin = o.origin, work = o.work }
  for _, host in ipairs({ "alpha", "beta" }) do
    local town = dir .. "/" .. host
    local code, _, err = helpers.gt({ "init", "--ledger", url, town }, { env = { GT_HOST = host } })
    assert(code == 0, err)
    code, _, err = helpers.gt({ "--town", town, "rig", "add", "demo", o.origin }, { env = { GT_HOST = host } })
    assert(code == 0, err)
    hosts[host] = { town = town, rig = town .. "/demo", name = "demo", host = host }
  end
  return hosts
end

--- Runs gt on host `h` (a two_hosts entry) in its rig; returns code, stdout, stderr.
local function on(h, args, env)
  local full = { "--town", h.town, "--rig", h.name }
  for _, a in ipairs(args) do full[#full + 1] = a end
  local e = { GT_HOST = h.host }
  for k, v in pairs(env or {}) do e[k] = v end
  return helpers.gt(full, { env = e })
end

--- Runs the commands { host = entry, args = {...} } all at once (helpers.run_all), each in rig
--- demo of its host's town; returns their results { code, stdout, stderr } in order.
local function run_all(commands)
  local list = {}
  for i, c in ipairs(commands) do
    local args = { "--town", c.host.town, "--rig", "demo" }
    for _, a in ipairs(c.args) do args[#args + 1] = a end
    list[i] = { args = args, env = { GT_HOST = c.host.host } }
  end
  return helpers.run_all(list)
end

--- Rows of one query on the shared ledger.
local function query(url, sql, ...)
  local db <close> = assert(pg.open(url))
  local rows = {}
  for row in db:rows(sql, ...) do rows[#rows + 1] = row end
  return rows
end

--- Checks that the ledger, host `h`'s disk and its git records agree: its live polecats are
--- exactly the worktree folders and git's worktree records of its rig, each on its branch, and
--- no operation of it is unfinished.
local function assert_agree(url, h)
  local live = {}
  for _, row in ipairs(query(url, "SELECT name, branch, worktree FROM agents WHERE host = ? AND " ..
      "state NOT IN ('removed', 'failed') ORDER BY name", h.host)) do
    live[#live + 1] = row.name
    assert.is_truthy(fs.stat(row.worktree), row.worktree)
    assert.equal(row.branch, helpers.git(row.worktree, "symbolic-ref", "--short", "HEAD"))
  end
  assert.same(live, witness.ls(h.rig .. "/polecats"))
  assert.same(live, witness.records(h))
  assert.same({}, query(url, "SELECT id FROM operations WHERE host = ? AND status = 'running'", h.host))
end

describe("a ledger several hosts share", function()
  server_it("lists every host's polecats with a HOST column; each host acts on its own only", function()
    local h = two_hosts()
    assert.equal(0, (on(h.alpha, { "polecat", "add", "a" })))
    assert.equal(0, (on(h.beta, { "polecat", "add", "b" })))
    local code, out, err = on(h.beta, { "polecat", "list" })
    assert.equal(0, code, err)
    local lines = helpers.lines(out)
    assert.matches("^NAME%s+HOST%s+STATE", lines[1])
    assert.matches("^a%s+alpha%s+working", lines[2])
    assert.matches("^b%s+beta%s+working", lines[3])
    code, out = on(h.alpha, { "polecat", "list", "--host", "beta" })
    assert.equal(0, code)
    assert.equal(2, #helpers.lines(out)) -- one host listed: no HOST column
    assert.matches("^NAME%s+STATE", helpers.lines(out)[1])
    assert.matches("^b%s+working", helpers.lines(out)[2])

    -- The name is the whole town's: beta cannot take it, nor change alpha's worktree.
    code, _, err = on(h.beta, { "polecat", "add", "a" })
    assert.equal(1, code)
    assert.matches("polecat a already exists in rig demo %(working on polecat/a%-%w+, host alpha%)", err)
    for _, args in ipairs({ { "polecat", "remove", "a" }, { "polecat", "remove", "--force", "a" },
        { "polecat", "status", "a" }, { "polecat", "done", "a" }, { "polecat", "run", "a", "--", "true" },
        { "polecat", "path", "a" } }) do
      code, out, err = on(h.beta, args)
      assert.equal(4, code, table.concat(args, " ") .. ": " .. err)
      assert.equal("", out)
      assert.matches("polecat a of rig demo is on host alpha, not this one %(beta%): run the command " ..
        "there; nothing was changed\n$", err)
    end
    assert.equal("working", query(h.url, "SELECT state FROM agents WHERE id = 'demo/a'")[1].state)
    -- --all and --idle select this host's polecats only.
    code, _, err = on(h.beta, { "polecat", "remove", "--all" })
    assert.equal(0, code, err)
    assert.same({ "a" }, witness.ls(h.alpha.rig .. "/polecats"))
    assert.same({}, witness.ls(h.beta.rig .. "/polecats"))
    assert.equal(0, (on(h.alpha, { "polecat", "remove", "a" })))
    -- A removed name is free for any host.
    assert.equal(0, (on(h.beta, { "polecat", "add", "a" })))
    assert.equal("beta", query(h.url, "SELECT host FROM agents WHERE id = 'demo/a'")[1].host)
    assert_agree(h.url, h.alpha)
    assert_agree(h.url, h.beta)
  end)

  server_it("8 processes on two hosts claim one name: exactly one wins", function()
    local h = two_hosts()
    local commands = {}
    for i = 1, 8 do commands[i] = { host = i % 2 == 0 and h.alpha or h.beta, args = { "polecat", "add", "x" } } end
    local results = run_all(commands)
    local winners = 0
    for _, r in ipairs(results) do
      if r.code == 0 then
        winners = winners + 1
      else
        assert.is_true(r.code == 1 or r.code == 5, r.stderr)
        assert.matches("polecat x", r.stderr)
      end
    end
    assert.equal(1, winners)
    assert.equal(1, #query(h.url, "SELECT id FROM agents WHERE state NOT IN ('removed', 'failed')"))
    local folders = #witness.ls(h.alpha.rig .. "/polecats") + #witness.ls(h.beta.rig .. "/polecats")
    assert.equal(1, folders)
    assert_agree(h.url, h.alpha)
    assert_agree(h.url, h.beta)
  end)

  server_it("a name another host works on is busy (exit 5), naming that host", function()
    local h = two_hosts()
    local signal = helpers.tmpdir("sig") .. "/paused"
    local job = assert(io.popen(("env GT_HOST=alpha GT_FAULT=add.checkout=pause GT_FAULT_PAUSE_MS=3000 " ..
      "GT_FAULT_SIGNAL=%s %s --town %s --rig demo polecat add a 2>&1"):format(quote(signal),
      quote(gt.executable), quote(h.alpha.town)), "r"))
    local deadline = sys.clock_ms() + 60000
    while not helpers.exists(signal) and sys.clock_ms() < deadline do sys.sleep_ms(10) end
    local code, out, err = on(h.beta, { "polecat", "add", "a" }, { GT_LOCK_TIMEOUT_MS = "100" })
    job:read("a")
    job:close()
    assert.equal(5, code, out .. err)
    assert.matches("^gt: polecat add: polecat a of rig demo is busy: gt alpha pid %d+ holds its name on the " ..
      "ledger server %(for more than 100 ms%); try again when it is done\n$", err)
    assert.same({}, witness.ls(h.beta.rig .. "/polecats"))
    assert_agree(h.url, h.alpha)
  end)

  server_it("pool names are claimed across hosts: no name twice", function()
    local h = two_hosts()
    local commands = {}
    for i = 1, 6 do commands[i] = { host = i % 2 == 0 and h.alpha or h.beta, args = { "polecat", "add" } } end
    for _, r in ipairs(run_all(commands)) do assert.equal(0, r.code, r.stderr) end
    local names = {}
    for _, row in ipairs(query(h.url, "SELECT name FROM agents WHERE state = 'working'")) do
      assert.is_nil(names[row.name], row.name)
      names[row.name] = true
    end
    assert.equal(6, #query(h.url, "SELECT name FROM agents WHERE state = 'working'"))
    assert_agree(h.url, h.alpha)
    assert_agree(h.url, h.beta)
  end)

  server_it("200 mixed operations from both hosts leave ledger, disks and git in agreement", function()
    local h = two_hosts()
    -- Two workers on each host, each a shell loop of 50 adds and removes of a few shared
    -- names, at once: many collide, which is the point.
    local dir = helpers.tmpdir("mixed")
    local lines = {}
    for w = 1, 4 do
      local host = w <= 2 and h.alpha or h.beta
      local gt_cmd = ("env GT_HOST=%s GT_LOCK_TIMEOUT_MS=20000 %s --town %s --rig demo"):format(host.host,
        quote(gt.executable), quote(host.town))
      local body = {}
      for i = 1, 50 do
        local name = "n" .. ((w * 7 + i * 3) % 5)
        local op = (i + w) % 3 == 0 and "remove" or "add"
        body[#body + 1] = ("%s polecat %s %s >/dev/null 2>>%s/%d.err; echo %s %s $? >>%s/%d.log"):format(
          gt_cmd, op, name, dir, w, op, name, dir, w)
      end
      lines[#lines + 1] = "(" .. table.concat(body, "\n") .. ") &"
    end
    lines[#lines + 1] = "wait"
    local r = helpers.run({ "sh", "-c", table.concat(lines, "\n") }, { timeout_ms = 600000 })
    assert.equal(0, r.code, r.stderr)
    local ran, ok = 0, 0
    for w = 1, 4 do
      for line in (helpers.read(("%s/%d.log"):format(dir, w)) or ""):gmatch("[^\n]+") do
        local op, _, code = line:match("^(%S+) (%S+) (%d+)$")
        ran = ran + 1
        code = tonumber(code)
        if code == 0 then ok = ok + 1 end
        -- A refusal (exists, on another host, busy) is fine; a crash or a failure half-way is not.
        assert.is_true(code == 0 or code == 1 or code == 4 or code == 5, line .. ": " ..
          (helpers.read(("%s/%d.err"):format(dir, w)) or ""))
        if code == 1 then assert.equal("add", op, line) end
      end
    end
    assert.equal(200, ran)
    assert.is_true(ok > 20, ok .. " operations succeeded")
    for _, host in ipairs({ h.alpha, h.beta }) do
      witness.settle(host)
      assert_agree(h.url, host)
      local code, _, err = helpers.gt({ "--town", host.town, "doctor" }, { env = { GT_HOST = host.host } })
      assert.equal(0, code, err)
    end
  end)

  server_it("recovery finishes its own host's operations only; doctor lists the others'", function()
    local h = two_hosts()
    local r = helpers.run({ gt.executable, "--town", h.alpha.town, "--rig", "demo", "polecat", "add", "k" },
      { env = { GT_HOST = "alpha", GT_FAULT = "add.checkout=kill" } })
    assert.equal(9, r.signal, r.stderr)
    assert.equal(1, #query(h.url, "SELECT id FROM operations WHERE status = 'running' AND host = 'alpha'"))
    -- Beta's doctor sees it and leaves it alone, even with --fix.
    local code, out, err = helpers.gt({ "--town", h.beta.town, "doctor", "--fix" }, { env = { GT_HOST = "beta" } })
    assert.equal(0, code, out .. err)
    assert.matches("note demo/k: an add of host alpha %(pid %d+%) is unfinished: under way, or gt doctor " ..
      "%-%-fix on alpha ends it", out)
    assert.equal(1, #query(h.url, "SELECT id FROM operations WHERE status = 'running'"))
    -- Beta cannot take the name meanwhile; alpha's next command on it rolls the add back.
    code, _, err = on(h.beta, { "polecat", "add", "k" })
    assert.equal(1, code)
    assert.matches("already exists", err)
    assert.is_truthy(fs.lstat(h.alpha.rig .. "/polecats/k"))
    code, _, err = on(h.alpha, { "polecat", "add", "k" })
    assert.equal(0, code, err)
    assert.matches("rolled back an interrupted add of k", err)
    assert_agree(h.url, h.alpha)
    assert_agree(h.url, h.beta)
  end)

  server_it("one rig: a host that sets its default branch sets it for all", function()
    local h = two_hosts()
    helpers.git(h.work, "push", "-q", "origin", "main:trunk")
    local code, _, err = helpers.gt({ "--town", h.alpha.town, "rig", "set-default", "demo", "trunk" },
      { env = { GT_HOST = "alpha" } })
    assert.equal(0, code, err)
    local out
    code, out, err = helpers.gt({ "--town", h.beta.town, "--rig", "demo", "polecat", "add", "b", "--json" },
      { env = { GT_HOST = "beta" } })
    assert.equal(0, code, err)
    assert.equal(helpers.git(h.work, "rev-parse", "HEAD"), require("gt.json").decode(out).start)
    code, out = helpers.gt({ "--town", h.beta.town, "rig", "list" }, { env = { GT_HOST = "beta" } })
    assert.equal(0, code)
    assert.matches("demo%s+trunk", out)
  end)

  server_it("rig remove refuses while another host has polecats in the rig", function()
    local h = two_hosts()
    assert.equal(0, (on(h.alpha, { "polecat", "add", "a" })))
    local code, _, err = helpers.gt({ "--town", h.beta.town, "rig", "remove", "demo" }, { env = { GT_HOST = "beta" } })
    assert.equal(3, code)
    assert.matches("rig demo has polecats on other hosts %(a on alpha%): remove them there first; " ..
      "nothing was removed", err)
    assert.is_truthy(fs.lstat(h.beta.rig .. "/.repo.git"))
    assert.equal(1, #query(h.url, "SELECT name FROM rigs"))
  end)
end)

describe("a ledger server that goes away", function()
  local dir

  --- Starts a server of its own in a new folder under /tmp (its user must reach it):
  --- returns the folder and the conninfo of a new database on it.
  local function start_server()
    dir = ("/tmp/gtpg-spec-%d-%d"):format(sys.pid(), sys.now_ms() % 1000000)
    local r = helpers.run({ "bash", root .. "/scripts/pg-tmp", "start", dir })
    assert(r.code == 0, r.stderr)
    local admin = r.stdout:gsub("\n$", "")
    local db <close> = assert(pg.open(admin))
    assert(db:exec("CREATE DATABASE town"))
    return admin:gsub("dbname=%S+", "dbname=town")
  end
  local function server(cmd) return helpers.run({ "bash", root .. "/scripts/pg-tmp", cmd, dir }) end

  --- A new town whose ledger is `url`, with rig demo: its folder.
  local function town_on(url)
    local base = helpers.tmpdir("town")
    local o = helpers.origin(base)
    local town = base .. "/town"
    assert.equal(0, (helpers.gt({ "init", "--ledger", url, town })))
    assert.equal(0, (helpers.gt({ "--town", town, "rig", "add", "demo", o.origin })))
    return town
  end

  after_each(function()
    if dir then
      server("stop")
      fs.remove_tree(dir)
      dir = nil
    end
  end)

  server_it("down at the start: one line, exit 1, nothing made; a password never shown", function()
    local url = start_server()
    server("stop")
    local base = helpers.tmpdir("down")
    local code, out, err = helpers.gt({ "init", "--ledger", url, base .. "/town" })
    assert.equal(1, code)
    assert.equal("", out)
    assert.equal(1, #helpers.lines(err), err)
    assert.matches("^gt: init: cannot open the ledger on its server: ", err)
    assert.is_false(helpers.exists(base .. "/town"))
    local secret = ("postgresql://gt:s3cr3t-pw@/town?host=%s"):format(dir)
    code, _, err = helpers.gt({ "init", "--ledger", secret, base .. "/town" })
    assert.equal(1, code)
    assert.is_nil(err:find("s3cr3t", 1, true), err)
    assert.matches("postgresql://gt@/town", err)
  end)

  --- Runs gt `args` in rig demo of `town` paused at fault point `point`; stops the server while
  --- it waits there, then lets it go on. Returns what it printed, "exit N" last.
  local function stopped_at(town, point, args)
    local signal = helpers.tmpdir("signal") .. "/at-" .. point
    local env, set = { "env" }, {}
    for k, v in pairs(helpers.env({ GT_FAULT = point .. "=pause", GT_FAULT_PAUSE_MS = "1500",
        GT_FAULT_SIGNAL = signal })) do
      if v == false then env[#env + 1] = "-u " .. k else set[#set + 1] = quote(k .. "=" .. v) end
    end
    for _, a in ipairs(set) do env[#env + 1] = a end -- after every -u
    local argv = {}
    for _, a in ipairs(args) do argv[#argv + 1] = quote(a) end
    local job = assert(io.popen(("%s %s --town %s --rig demo %s 2>&1; echo \"exit $?\""):format(
      table.concat(env, " "), quote(gt.executable), quote(town), table.concat(argv, " ")), "r"))
    local deadline = sys.clock_ms() + 60000
    while not helpers.exists(signal) and sys.clock_ms() < deadline do sys.sleep_ms(10) end
    if not helpers.exists(signal) then error(point .. " was not reached: " .. job:read("a")) end
    server("stop")
    local said = job:read("a")
    job:close()
    return said
  end

  server_it("lost in the middle of a remove: the next command finishes it, the work saved", function()
    local url = start_server()
    local town = town_on(url)
    assert.equal(0, (helpers.gt({ "--town", town, "--rig", "demo", "polecat", "add", "r" })))
    local wt = town .. "/demo/polecats/r/demo"
    helpers.write(wt .. "/feature.txt", "only here\n")
    helpers.git(wt, "add", "feature.txt")
    helpers.git(wt, "commit", "-q", "-m", "unpushed work")
    local tip = helpers.git(wt, "rev-parse", "HEAD")
    local said = stopped_at(town, "remove.salvaged", { "polecat", "remove", "--force", "r" })
    assert.matches("exit 1\n$", said)
    assert(server("start").code == 0)
    local code, out, err = helpers.gt({ "--town", town, "--rig", "demo", "polecat", "remove", "--force", "r" })
    assert.equal(0, code, out .. err)
    witness.settle({ town = town, rig = town .. "/demo", name = "demo" })
    assert.is_false(helpers.exists(town .. "/demo/polecats/r"))
    assert.same({}, query(url, "SELECT id FROM agents WHERE state NOT IN ('removed', 'failed')"))
    assert.same({}, query(url, "SELECT id FROM operations WHERE status = 'running'"))
    -- The commit that existed nowhere else is in a salvage.
    local refs = helpers.git(town .. "/demo/.repo.git", "for-each-ref", "--format=%(objectname)", "refs/gt/salvage/")
    local found = false
    for oid in refs:gmatch("%x+") do
      found = found or helpers.run({ "git", "-C", town .. "/demo/.repo.git", "merge-base", "--is-ancestor",
        tip, oid }).code == 0
    end
    assert.is_true(found, "no salvage holds " .. tip)
  end)

  server_it("killed during an add and started again: nothing lost, no row without its worktree", function()
    local url = start_server()
    local town = town_on(url)
    assert.equal(0, (helpers.gt({ "--town", town, "--rig", "demo", "polecat", "add", "keep" })))
    helpers.write(town .. "/demo/polecats/keep/demo/work.txt", "unsaved\n")
    -- The add stops after its worktree is made, the server is killed, then the add goes on.
    local said = stopped_at(town, "add.checkout", { "polecat", "add", "k" })
    assert.matches("exit 1\n$", said)
    -- Commands fail cleanly while it is down, and change nothing.
    local code, _, err = helpers.gt({ "--town", town, "--rig", "demo", "polecat", "list" })
    assert.equal(1, code)
    assert.equal(1, #helpers.lines(err), err)
    -- Started again: the next command on the name finishes the interrupted add's rollback.
    local r = server("start")
    assert(r.code == 0, r.stderr)
    local out
    code, out, err = helpers.gt({ "--town", town, "--rig", "demo", "doctor", "--fix" })
    assert.equal(0, code, out .. err)
    local rows = query(url, "SELECT name, worktree FROM agents WHERE state NOT IN ('removed', 'failed')")
    for _, row in ipairs(rows) do assert.is_truthy(fs.stat(row.worktree), row.name) end
    assert.equal(1, #rows)
    assert.equal("keep", rows[1].name)
    assert.equal("unsaved\n", helpers.read(town .. "/demo/polecats/keep/demo/work.txt"))
    assert.same({ "keep" }, witness.ls(town .. "/demo/polecats"))
    assert.same({}, query(url, "SELECT id FROM operations WHERE status = 'running'"))
    assert.equal(0, (helpers.gt({ "--town", town, "--rig", "demo", "polecat", "add", "k" })))
  end)
end)
