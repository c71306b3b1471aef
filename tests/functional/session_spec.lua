-- gt polecat run|logs|stop, add --run, and what list, status and remove make of sessions: real
-- programs in real worktrees, their processes checked in /proc, the sessions table read with
-- plain SQL (witness), exit statuses as the shell sees them.
local helpers = require("helpers")
local witness = require("witness")
local proc = require("gt.proc")
local sys = require("gt.sys")
local _ -- discarded results
local json = { null = require("dkjson").null }
function json.decode(s) return require("dkjson").decode(s, 1, json.null) end

--- Whether process `pid` runs: it exists and is not a zombie (this container's init reaps
--- orphans only now and then; a zombie has exited).
local function running(pid)
  return sys.pid_alive(pid) and sys.proc_start(pid) ~= nil
end

local function eventually(check, ms)
  local deadline = sys.clock_ms() + (ms or 5000)
  while not check() and sys.clock_ms() < deadline do sys.sleep_ms(20) end
  return check()
end

--- The sessions of polecat `name`, oldest first (plain SQL).
local function sessions(fx, name)
  return witness.query(fx, "SELECT * FROM sessions WHERE agent = ? ORDER BY id", fx.name .. "/" .. name)
end

--- The row of polecat `name` in `gt polecat list --json`.
local function listed(fx, name)
  local code, out, err = helpers.gt_rig(fx, { "polecat", "list", "--json" })
  assert.equal(0, code, err)
  for _, row in ipairs(json.decode(out)) do
    if row.name == name then return row end
  end
end

--- The SESSION and STATE cells of polecat `name` in `gt polecat list`.
local function cells(fx, name)
  local code, out, err = helpers.gt_rig(fx, { "polecat", "list" })
  assert.equal(0, code, err)
  local lines = helpers.lines(out)
  -- Columns are aligned under their titles.
  local from, to = lines[1]:find("SESSION%s+"), lines[1]:find("ISSUE")
  for _, line in ipairs(lines) do
    local n, state = line:match("^(%S+)%s+(%S+)")
    if n == name then return state, (line:sub(from, to - 1):gsub("%s+$", "")) end
  end
end

local function add(fx, name, ...)
  local code, _, err = helpers.gt_rig(fx, { "polecat", "add", name, "--no-fetch", ... })
  assert.equal(0, code, err)
end

--- Starts `script` (sh -c) detached in polecat `name`; returns the session's pid.
local function detach(fx, name, script)
  local code, out, err = helpers.gt_rig(fx, { "polecat", "run", name, "--detach", "--", "sh", "-c", script })
  assert.equal(0, code, err)
  return assert(math.tointeger(tonumber(out:match("^(%d+)\n$"))), out)
end

--- Waits for the pid the program wrote to `file`.
local function pid_in(file)
  assert(eventually(function() return (helpers.read(file) or ""):match("%d+\n") ~= nil end))
  return math.tointeger(tonumber(helpers.read(file):match("%d+")))
end

describe("polecat sessions", function()
  local fx, dir
  lazy_setup(function()
    fx = helpers.fixture()
    dir = helpers.tmpdir("session")
  end)

  -- A test that failed half-way leaves no session running.
  lazy_teardown(function()
    for _, s in ipairs(witness.query(fx, "SELECT * FROM sessions WHERE ended_at IS NULL")) do
      if s.detached == 1 and s.pid ~= sys.pid() and sys.proc_start(s.pid) == s.pid_start then
        sys.kill(-s.pid, 9)
      end
    end
  end)

  it("run in the foreground: cwd is the worktree, GT_* set, its exit status is gt's", function()
    add(fx, "fg")
    local wt = fx.rig .. "/polecats/fg/demo"
    local code, out, err = helpers.gt_rig(fx, { "polecat", "run", "fg", "--", "sh", "-c",
      'pwd; echo "$GT_TOWN|$GT_RIG|$GT_POLECAT|$GT_BRANCH|${GT_ISSUE-unset}"; echo oops >&2; exit 3' })
    assert.equal(3, code)
    assert.equal("oops\n", err)
    local branch = witness.agent(fx, "fg").branch
    assert.equal(wt .. "\n" .. table.concat({ fx.town, "demo", "fg", branch, "unset" }, "|") .. "\n", out)
    local s = sessions(fx, "fg")
    assert.equal(1, #s)
    assert.equal(0, s[1].detached)
    assert.equal(3, s[1].exit_status)
    assert.is_number(s[1].ended_at)
    assert.same({ "sh", "-c" }, { table.unpack(require("gt.json").decode(s[1].command), 1, 2) })
    -- A death by signal is 128 + the signal, as a shell reports it.
    code = helpers.gt_rig(fx, { "polecat", "run", "fg", "--", "sh", "-c", "kill -KILL $$" })
    assert.equal(137, code)
    assert.equal(137, sessions(fx, "fg")[2].exit_status)
    local state, session = cells(fx, "fg")
    assert.equal("stalled", state) -- working, its last session ended without gt done
    assert.equal("exited 137", session)
    -- From the command's first word on, every word is the command's, -d included.
    code, out, err = helpers.gt_rig(fx, { "polecat", "run", "fg", "sh", "-c", 'echo "$1"', "sh", "-d" })
    assert.equal(0, code, err)
    assert.equal("-d\n", out)
    assert.equal(0, sessions(fx, "fg")[3].detached)
  end)

  it("run in the foreground passes a SIGTERM sent to gt on to the program", function()
    add(fx, "term")
    local gt_pid, sent = nil, false
    local argv = { gt.executable, "--town", fx.town, "--rig", "demo", "polecat", "run", "term", "--",
      "sh", "-c", "trap 'echo got TERM; exit 9' TERM; echo ready; while :; do sleep 0.05; done" }
    local r = assert(proc.run({ argv = argv, env = helpers.env(), timeout_ms = 20000,
      started = function(pid) gt_pid = pid end,
      stdout = function(chunk)
        if not sent and chunk:find("ready") then sent = assert(sys.kill(gt_pid, 15)) end
      end }))
    assert.is_true(sent)
    assert.equal(9, r.code, r.stderr)
    assert.equal(9, sessions(fx, "term")[1].exit_status)
  end)

  it("--detach: pid and start time recorded, output in the log, running then exited N", function()
    add(fx, "bg")
    local go = dir .. "/bg.go"
    local pid = detach(fx, "bg",
      ("echo started; echo err >&2; while [ ! -e %q ]; do sleep 0.02; done; exit 4"):format(go))
    local s = sessions(fx, "bg")[1]
    assert.equal(pid, s.pid)
    assert.equal(sys.proc_start(pid), s.pid_start)
    assert.equal(1, s.detached)
    assert.equal(fx.rig .. "/.gt/logs/bg.log", s.log)
    local row = listed(fx, "bg")
    assert.equal("running", row.session.state)
    assert.equal(pid, row.session.pid)
    assert.equal(json.null, row.session.exit_status)
    assert.equal("working", row.state)
    local _, session = cells(fx, "bg")
    assert.equal(("running (pid %d)"):format(pid), session)
    -- The session's own session and process group.
    local stat = helpers.read("/proc/" .. pid .. "/stat"):match("%) (.*)$")
    local pgrp, sid = stat:match("^%a %d+ (%d+) (%d+)")
    assert.equal(pid, tonumber(pgrp))
    assert.equal(pid, tonumber(sid))
    -- A second one is refused while it runs.
    local code, _, err = helpers.gt_rig(fx, { "polecat", "run", "bg", "--", "true" })
    assert.equal(1, code)
    assert.matches("polecat bg already has a session running: pid " .. pid, err, 1, true)
    helpers.write(go, "")
    assert(eventually(function() return listed(fx, "bg").session.state == "exited" end))
    row = listed(fx, "bg")
    assert.equal(4, row.session.exit_status)
    assert.equal("stalled", row.state)
    assert.equal("started\nerr\n", helpers.read(s.log))
    assert.equal(4, sessions(fx, "bg")[1].exit_status)
  end)

  it("stop: SIGTERM, then SIGKILL after --timeout for a program that ignores it", function()
    add(fx, "stubborn")
    local pidfile = dir .. "/stubborn.pid"
    local pid = detach(fx, "stubborn", ("trap '' TERM; echo $$ > %q; while :; do sleep 0.1; done"):format(pidfile))
    local program = pid_in(pidfile)
    local code, out, err = helpers.gt_rig(fx, { "polecat", "stop", "stubborn", "--timeout", "1", "--json" })
    assert.equal(0, code, err)
    local r = json.decode(out)
    assert.equal("KILL", r.signal)
    assert.equal(pid, r.pid)
    assert.equal("gone", r.session.state) -- SIGKILL took its supervisor too: status unknown
    assert.is_false(running(pid))
    assert.is_false(running(program))
    assert.is_number(sessions(fx, "stubborn")[1].ended_at)
    code, _, err = helpers.gt_rig(fx, { "polecat", "stop", "stubborn" })
    assert.equal(1, code)
    assert.equal("gt: polecat stop: polecat stubborn: no session running\n", err)
  end)

  it("stop of a program that ends on SIGTERM records its status", function()
    add(fx, "polite")
    local pid = detach(fx, "polite", "while :; do sleep 0.05; done")
    local code, out, err = helpers.gt_rig(fx, { "polecat", "stop", "polite" })
    assert.equal(0, code, err)
    assert.equal(("stopped the session of polecat polite (pid %d, SIGTERM): exited 143\n"):format(pid), out)
    assert.is_false(running(pid))
  end)

  it("a session killed from outside shows as stalled, its session gone", function()
    add(fx, "victim")
    local pid = detach(fx, "victim", "while :; do sleep 0.05; done")
    assert.equal("running", listed(fx, "victim").session.state)
    assert(sys.kill(-pid, 9))
    assert(eventually(function() return not running(pid) end))
    local state, session = cells(fx, "victim")
    assert.equal("stalled", state)
    assert.equal("gone", session)
    local row = listed(fx, "victim")
    assert.equal("gone", row.session.state)
    assert.equal(json.null, row.session.exit_status)
    assert.is_number(row.session.ended_at)
  end)

  it("remove refuses while a session runs; --force stops it first", function()
    add(fx, "busy")
    local pidfile = dir .. "/busy.pid"
    local pid = detach(fx, "busy", ("echo $$ > %q; while :; do sleep 0.05; done"):format(pidfile))
    local program = pid_in(pidfile)
    local code, out, err = helpers.gt_rig(fx, { "polecat", "remove", "busy" })
    assert.equal(3, code)
    assert.equal("", out)
    assert.matches("polecat busy has a session running %(pid " .. pid .. "%)", err)
    assert.is_true(running(pid) and running(program))
    assert.equal("working", witness.agent(fx, "busy").state)
    assert.is_true(helpers.exists(fx.rig .. "/polecats/busy/demo"))
    code, out = helpers.gt_rig(fx, { "polecat", "remove", "busy", "--force", "--dry-run" })
    assert.equal(0, code)
    assert.matches("stop the session %(pid " .. pid .. "%)", out)
    assert.is_true(running(pid))
    code, out, err = helpers.gt_rig(fx, { "polecat", "remove", "busy", "--force" })
    assert.equal(0, code, err)
    assert.equal("removed polecat busy\n", out)
    assert.is_false(sys.pid_alive(program) and running(program))
    assert.is_false(running(pid))
    assert.equal("removed", witness.agent(fx, "busy").state)
    assert.is_number(sessions(fx, "busy")[1].ended_at)
    -- The name again: a new polecat, which has had no session.
    add(fx, "busy")
    local row = listed(fx, "busy")
    assert.equal("working", row.state)
    assert.equal("none", row.session.state)
  end)

  it("logs prints the log; -f follows it until the session ends", function()
    add(fx, "chatty")
    local go = dir .. "/chatty.go"
    detach(fx, "chatty", ("echo one; while [ ! -e %q ]; do sleep 0.02; done; echo two; exit 0"):format(go))
    local seen = ""
    local argv = { gt.executable, "--town", fx.town, "--rig", "demo", "polecat", "logs", "-f", "chatty" }
    local r = assert(proc.run({ argv = argv, env = helpers.env(), timeout_ms = 20000,
      stdout = function(chunk)
        seen = seen .. chunk
        if seen == "one\n" then helpers.write(go, "") end
      end }))
    assert.equal(0, r.code, r.stderr)
    assert.equal("one\ntwo\n", seen)
    local code, out = helpers.gt_rig(fx, { "polecat", "logs", "chatty" })
    assert.equal(0, code)
    assert.equal("one\ntwo\n", out)
    local err
    code, _, err = helpers.gt_rig(fx, { "polecat", "logs", "fg" })
    assert.equal(4, code)
    assert.matches("polecat fg has no log", err, 1, true)
  end)

  it("add --run spawns the polecat and starts the command (sh -c) detached", function()
    local go = dir .. "/spawned.go"
    local code, out, err = helpers.gt_rig(fx, { "polecat", "add", "spawned", "--no-fetch", "--json",
      "--run", ("echo $GT_POLECAT; while [ ! -e %q ]; do sleep 0.02; done"):format(go) })
    assert.equal(0, code, err)
    local p = json.decode(out)
    assert.equal("spawned", p.name)
    assert.equal(sessions(fx, "spawned")[1].pid, p.session.pid)
    assert.equal("running", listed(fx, "spawned").session.state)
    helpers.write(go, "")
    assert(eventually(function() return listed(fx, "spawned").session.state == "exited" end))
    assert.equal(0, listed(fx, "spawned").session.exit_status)
    assert.equal("spawned\n", helpers.read(p.session.log))
    -- The program cannot start (no sh on PATH): the polecat stays, the error is said.
    code, out, err = helpers.gt_rig(fx, { "polecat", "add", "nosh", "--no-fetch", "--run", "true" },
      { env = { PATH = dir .. "/empty" } })
    assert.equal(1, code)
    assert.matches("polecat nosh spawned", out, 1, true)
    assert.matches("nosh was made, but its command did not start: .*sh: No such file", err)
    local row = listed(fx, "nosh")
    assert.equal("working", row.state)
    assert.equal("none", row.session.state)
  end)

  it("a reused pid with another start time is not taken for the session", function()
    add(fx, "reused")
    local store = require("gt.store")
    local db = store.open(witness.ledger_target(fx.town))
    -- This process's own pid, but not its start time: some earlier process that had the pid.
    local id
    store.tx(db, function()
      id = store.session_begin(db, { agent = "demo/reused", pid = sys.pid(), pid_start = "1",
        command = { "old" }, detached = true })
    end)
    db:close()
    local row = listed(fx, "reused")
    assert.equal("gone", row.session.state)
    assert.equal("stalled", row.state)
    assert.is_number(sessions(fx, "reused")[1].ended_at)
    assert.is_true(running(sys.pid()))
    -- With its real start time it is running (and not touched).
    db = store.open(witness.ledger_target(fx.town))
    store.tx(db, function()
      id = store.session_begin(db, { agent = "demo/reused", pid = sys.pid(),
        pid_start = sys.proc_start(sys.pid()), command = { "this" }, detached = true })
    end)
    assert.equal("running", listed(fx, "reused").session.state)
    store.tx(db, function() store.session_end(db, id, 0) end)
    db:close()
    assert.equal("exited", listed(fx, "reused").session.state)
  end)

  it("only a working or idle polecat runs a command", function()
    add(fx, "odd")
    local db = witness.ledger(fx.town)
    assert(db:exec("UPDATE agents SET state = 'zombie' WHERE id = 'demo/odd'"))
    local code, _, err = helpers.gt_rig(fx, { "polecat", "run", "odd", "--", "true" })
    assert.equal(1, code)
    assert.matches("polecat odd is zombie: only a working or idle polecat can run a command", err, 1, true)
    assert(db:exec("UPDATE agents SET state = 'idle' WHERE id = 'demo/odd'"))
    code, _, err = helpers.gt_rig(fx, { "polecat", "run", "odd", "--", "true" })
    assert.equal(0, code, err)
    db:close()
    code, _, err = helpers.gt_rig(fx, { "polecat", "run", "nobody", "--", "true" })
    assert.equal(4, code)
    assert.matches("no polecat nobody", err, 1, true)
    assert.equal(0, #sessions(fx, "odd") - 1)
  end)
end)
