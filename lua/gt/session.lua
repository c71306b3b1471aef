--- gt.session: a command run in a polecat's worktree (docs/design.md §4.9).
--
-- A session is a program gt started for a polecat: in the foreground (`gt polecat run NAME --
-- CMD`, gt waits, its exit status is gt's) or detached (`--detach`: a supervisor in a session
-- and process group of its own, output appended to <rig>/.gt/logs/<name>.log). The ledger's
-- `sessions` table records each one: pid, the process's start time, command, log, times, exit
-- status. A session runs while a process with that pid *and* that start time exists (a reused
-- pid is never taken for it); one found gone is recorded ended where it is looked at, with the
-- exit status its supervisor wrote (<rig>/.gt/logs/<name>.exit), or none (unknown) when the
-- supervisor was killed too. A polecat has at most one running session.
local fs = require("gt.fs")
local proc = require("gt.proc")
local sys = require("gt.sys")
local errors = require("gt.errors")
local layout = require("gt.layout")
local names = require("gt.names")
local branch = require("gt.branch")
local store = require("gt.store")

local session = {}

--- Agent states in which a polecat may run a command.
session.RUNNABLE = { working = true, idle = true }

--- How long `stop` waits after SIGTERM before SIGKILL, unless told (the rig's
--- `stop_timeout_ms` option for remove --force).
session.STOP_TIMEOUT_MS = 10000

local SIGKILL, SIGTERM = 9, 15


--- Whether session row `s` runs: not recorded ended, and its process (its pid with its start
--- time) exists. A session of another host counts as running until it is recorded ended (gt
--- cannot see that host's processes).
function session.alive(s)
  if s.ended_at then return false end
  if not s.here then return true end
  local start = sys.proc_start(s.pid)
  return start ~= nil and start == s.pid_start
end

--- The exit status the supervisor of detached session `s` wrote, or nil.
local function supervisor_status(town_root, s)
  if s.detached ~= 1 then return nil end
  local rig_name, name = layout.split_id(s.agent)
  if not rig_name then return nil end
  local f = io.open(layout.session_exit(layout.rig_root(town_root, rig_name), name), "r")
  if not f then return nil end
  local data = f:read(64) or ""
  f:close()
  local pid, status = data:match("^(%d+) (%d+)\n")
  if tonumber(pid) == s.pid then return math.tointeger(tonumber(status)) end
  return nil
end

--- Records session row `s` ended if it is open and its process is gone (updating the row).
--- Returns `s`.
local function refresh(db, town_root, s)
  if s and not s.ended_at and not session.alive(s) then
    local status = supervisor_status(town_root, s)
    store.tx(db, function() store.session_end(db, s.id, status) end)
    local row = store.session_last(db, s.agent)
    if row and row.id == s.id then return row end
    s.ended_at, s.exit_status = sys.now_ms(), status
  end
  return s
end

--- What a session row says, for listings: { state = "running"|"exited"|"gone"|"none", pid,
--- exit_status, started_at, ended_at, detached, command, log, id } ("gone": it ended with no
--- known exit status). `s` nil gives state "none", and so does an ended session of an earlier
--- polecat of the name when `agent` (its ledger row) is given: one that started before the
--- polecat's branch was made (the branch name holds that time, gt.branch).
function session.info(s, agent)
  -- The branch is parsed only for an ended session (gt polecat list calls this for every row).
  local spawned = s and s.ended_at and agent and select(3, branch.parse(agent.branch))
  if spawned and s.started_at < spawned then s = nil end
  if not s then return { state = "none" } end
  local state = "running"
  if s.ended_at then state = s.exit_status and "exited" or "gone" end
  return { state = state, pid = s.pid, exit_status = s.exit_status, started_at = s.started_at,
    ended_at = s.ended_at, detached = s.detached == 1, command = s.command, log = s.log, id = s.id }
end

--- One word or two for a session's info: "running (pid N)", "exited N", "gone", "-".
function session.describe(info)
  if info.state == "running" then return ("running (pid %d)"):format(info.pid) end
  if info.state == "exited" then return ("exited %d"):format(info.exit_status) end
  if info.state == "gone" then return "gone" end
  return "-"
end

--- A polecat's state as shown (Gas Town's effective state): `working` whose last session
--- ended (or died) without `gt done` is `stalled`; one that never had a session stays working.
function session.effective_state(state, info)
  if state == "working" and info.state ~= "none" and info.state ~= "running" then return "stalled" end
  return state
end

--- The last session of polecat `name` of `rig` (refreshed: recorded ended if found gone), or
--- nil.
function session.last(rig, name)
  local db = rig.town:ledger()
  return refresh(db, rig.town.root, store.session_last(db, layout.id(rig.name, name)))
end

--- The running session of polecat `name` of `rig`, or nil.
function session.current(rig, name)
  local s = session.last(rig, name)
  if s and not s.ended_at then return s end
  return nil
end

--- The last sessions of the polecats of rig `rig_name` of `town` (of every rig when nil), by
--- polecat id; refreshed. session.info(map[id], agent) says what each is.
function session.all_last(town, rig_name)
  local db = town:ledger()
  local map = {}
  for id, s in pairs(store.sessions_last(db, rig_name)) do map[id] = refresh(db, town.root, s) end
  return map
end

--- The path of polecat `name`'s log (its detached sessions' output).
function session.log_path(rig, name)
  names.check(name, "polecat name")
  return layout.log(rig.root, name)
end

-- Starting ----------------------------------------------------------------------------------

--- Checks that polecat `name` may start a session now (under its lock): live, working or
--- idle, its worktree there, no session running. Returns the agent and the program's
--- environment.
local function prepare(rig, name, argv)
  names.check(name, "polecat name")
  if type(argv) ~= "table" or #argv == 0 then
    errors.raise("usage", "polecat %s: no command to run", name)
  end
  for i, a in ipairs(argv) do
    if type(a) ~= "string" or (i == 1 and a == "") then
      errors.raise("usage", "polecat %s: bad command word %s", name, errors.quote(tostring(a)))
    end
  end
  local agent = store.agent_get(rig.town:ledger(), layout.id(rig.name, name))
  if not agent or not store.LIVE[agent.state] then
    errors.raise("notfound", "no polecat %s in rig %s", name, rig.name)
  end
  store.check_local(rig.town:ledger(), agent)
  if not session.RUNNABLE[agent.state] then
    errors.raise("failure", "polecat %s is %s: only a working or idle polecat can run a command",
      name, agent.state)
  end
  if not agent.worktree or not fs.stat(agent.worktree) then
    errors.raise("failure", "polecat %s: its worktree %s is missing", name, tostring(agent.worktree))
  end
  local running = session.current(rig, name)
  if running then
    errors.raise("failure", "polecat %s already has a session running: pid %d (%s); stop it first " ..
      "(gt polecat stop %s)", name, running.pid, table.concat(running.command, " "), name)
  end
  local env = { GT_TOWN = rig.town.root, GT_RIG = rig.name, GT_POLECAT = name,
    GT_BRANCH = agent.branch or false, GT_ISSUE = agent.issue or false }
  return agent, env
end

--- Starts `argv` (a list: program and arguments, no shell) detached in the worktree of polecat
--- `name` of `rig`: its own session and process group, stdin /dev/null, stdout and stderr
--- appended to the polecat's log. Returns { id, pid (the session's, and its process group's),
--- log, command }. Raises when the polecat may not run a command or the program cannot start;
--- nothing is left running or recorded then.
function session.start(rig, name, argv)
  local lk <close> = rig:lock(layout.polecat_lock(name), "gt polecat run " .. name)
  local agent, env = prepare(rig, name, argv)
  local db = rig.town:ledger()
  local dir = layout.logs(rig.root)
  errors.check_doing("creating " .. dir, fs.mkdir_p(dir))
  local log = layout.log(rig.root, name)
  local pid = errors.check_doing(("polecat %s: starting %s"):format(name, argv[1]), proc.start({
    argv = argv, cwd = agent.worktree, env = env, log = log,
    status = layout.session_exit(rig.root, name) }))
  local id
  local ok, err = xpcall(function()
    -- A program that ended at once has a supervisor already gone: "" matches no process.
    local start = sys.proc_start(pid) or ""
    store.tx(db, function()
      id = store.session_begin(db, { agent = agent.id, pid = pid, pid_start = start, command = argv,
        log = log, detached = true })
    end)
  end, errors.handler)
  if not ok then
    sys.kill(-pid, SIGKILL) -- not recorded, so not left running
    errors.rethrow(err, "polecat " .. name)
  end
  return { id = id, pid = pid, log = log, command = argv }
end

--- Runs `argv` in the foreground in the worktree of polecat `name` of `rig`: stdin, stdout and
--- stderr are gt's, the program stays in gt's process group (it can read the terminal, and
--- Ctrl-C reaches it), and SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to gt are passed on to it
--- (gt.proc). Returns its exit status, 128 + the signal that killed it.
function session.run(rig, name, argv)
  local lk <close> = rig:lock(layout.polecat_lock(name), "gt polecat run " .. name)
  local agent, env = prepare(rig, name, argv)
  local db = rig.town:ledger()
  local id
  local r, err, code = proc.run({ argv = argv, cwd = agent.worktree, env = env, stdin = "inherit",
    stdout = "inherit", stderr = "inherit", foreground = true,
    started = function(pid)
      store.tx(db, function()
        id = store.session_begin(db, { agent = agent.id, pid = pid,
          pid_start = sys.proc_start(pid) or "", command = argv, detached = false })
      end)
      lk:release() -- the session is recorded: other commands on the polecat may go on
    end })
  errors.check_doing(("polecat %s: running %s"):format(name, argv[1]), r, err, code)
  local status = r.code or 128 + r.signal
  store.tx(db, function() store.session_exit(db, id, status) end)
  return status
end

-- Stopping ----------------------------------------------------------------------------------

--- Signals session `s`: a detached one's process group, a foreground one's program (it is in
--- the process group of the gt that waits for it).
local function signal(s, sig)
  sys.kill(s.detached == 1 and -s.pid or s.pid, sig) -- a failure: it is gone, seen next
end

local function wait_gone(s, ms)
  local deadline = sys.clock_ms() + ms
  while session.alive(s) and sys.clock_ms() < deadline do sys.sleep_ms(20) end
  return not session.alive(s)
end

--- Stops running session `s` of `rig`: SIGTERM, then SIGKILL after `timeout_ms` (default
--- session.STOP_TIMEOUT_MS); a detached session's whole process group. Records its end and
--- returns { pid, signal = 15|9, info = session.info of the ended session }.
function session.stop_session(rig, s, timeout_ms)
  local db = rig.town:ledger()
  if not s.here then
    errors.raise("notfound", "the session (pid %d) runs on host %s, not this one (%s): stop it there",
      s.pid, s.host, store.host())
  end
  local sent = SIGTERM
  if session.alive(s) then
    signal(s, SIGTERM)
    if not wait_gone(s, timeout_ms or session.STOP_TIMEOUT_MS) then
      sent = SIGKILL
      signal(s, SIGKILL)
      if not wait_gone(s, 5000) then
        errors.raise("failure", "pid %d is still there after SIGKILL", s.pid)
      end
    end
    -- What its program left in the group (the leader is gone, the group may not be).
    if s.detached == 1 then sys.kill(-s.pid, SIGKILL) end
    -- A foreground session's gt records the exit status it reaps: give it a moment.
    local deadline = sys.clock_ms() + 1000
    while s.detached ~= 1 and sys.clock_ms() < deadline do
      local row = store.session_last(db, s.agent)
      if not row or row.id ~= s.id or row.ended_at then
        if row and row.id == s.id then s = row end
        break
      end
      sys.sleep_ms(20)
    end
  end
  return { pid = s.pid, signal = sent, info = session.info(refresh(db, rig.town.root, s)) }
end

--- Stops the running session of polecat `name` of `rig` (session.stop_session). Raises
--- (exit 1) when none runs.
function session.stop(rig, name, timeout_ms)
  names.check(name, "polecat name")
  local s = session.current(rig, name)
  if not s then errors.raise("failure", "polecat %s: no session running", name) end
  return session.stop_session(rig, s, timeout_ms)
end

--- The rig's stop timeout (its `stop_timeout_ms` option, else session.STOP_TIMEOUT_MS).
function session.stop_timeout(rig)
  return rig:option("stop_timeout_ms") or session.STOP_TIMEOUT_MS
end

-- Logs -------------------------------------------------------------------------------------

--- Passes the log of polecat `name` of `rig` to `write(chunk)`; with `follow`, goes on passing
--- what is appended while the session that runs now runs (polling), then what it left. Raises
--- (exit 4) when the polecat has no log.
function session.logs(rig, name, write, follow)
  local path = session.log_path(rig, name)
  local f <close> = io.open(path, "rb")
  if not f then errors.raise("notfound", "polecat %s has no log (%s)", name, path) end
  local function drain()
    while true do
      local chunk = f:read(65536)
      if not chunk then return end
      write(chunk)
    end
  end
  drain()
  local s = follow and session.current(rig, name)
  while s and session.alive(s) do
    sys.sleep_ms(100)
    drain()
  end
  drain()
  if s then refresh(rig.town:ledger(), rig.town.root, s) end
end

return session
