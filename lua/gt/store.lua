--- gt.store: every access to the town's ledger (docs/design.md §3). The SQL is kept portable
--- (standard types, `?` parameters, no sqlite-only functions) so that a second backend is a
--- new C module, not a rewrite; nothing outside this module writes SQL.
---
--- Words: the ledger records *agents* (a row of the agents table, role 'polecat'); the product
--- above it speaks of *polecats*. One key names an agent everywhere here: its id, "<rig>/<name>"
--- (gt.layout.id), in the agents, events and operations tables alike.
local ledger = require("gt.ledger")
local json = require("gt.json")
local sys = require("gt.sys")
local errors = require("gt.errors")
local fs = require("gt.fs")

local store = {}

--- States of an agent. Live states hold the name; `removed` and `failed` free it.
store.LIVE = { spawning = true, working = true, idle = true, removing = true, stalled = true,
  zombie = true }

--- Forward migrations; the ledger's user_version is the number applied.
store.migrations = {
  [[
  CREATE TABLE rigs (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    default_branch TEXT NOT NULL,
    path TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    fetched_at BIGINT
  );
  CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    rig TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'polecat',
    state TEXT NOT NULL,
    branch TEXT,
    worktree TEXT,
    issue TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    removed_at BIGINT,
    meta TEXT NOT NULL DEFAULT '{}',
    UNIQUE (rig, name)
  );
  CREATE INDEX agents_rig_state ON agents (rig, state);
  CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    at BIGINT NOT NULL,
    agent TEXT NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}'
  );
  CREATE INDEX events_agent ON events (agent, seq);
  CREATE TABLE operations (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    agent TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    status TEXT NOT NULL,
    steps_planned TEXT NOT NULL,
    steps_done TEXT NOT NULL DEFAULT '[]',
    data TEXT NOT NULL DEFAULT '{}'
  );
  CREATE INDEX operations_agent ON operations (agent, status);
  CREATE TABLE tree_facts (
    tree TEXT PRIMARY KEY,
    needs_filters INTEGER NOT NULL
  );
  ]],
  -- 2: sessions (gt polecat run) and the name pool's overflow counters.
  [[
  CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    agent TEXT NOT NULL,
    pid INTEGER NOT NULL,
    pid_start TEXT NOT NULL,
    host TEXT NOT NULL,
    command TEXT NOT NULL,
    log TEXT,
    detached INTEGER NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    exit_status INTEGER
  );
  CREATE INDEX sessions_agent ON sessions (agent, id);
  CREATE TABLE name_counters (
    rig TEXT PRIMARY KEY,
    next_overflow INTEGER NOT NULL
  );
  ]],
}

--- Who holds a write lock on the ledger at `path`, from the kernel's table of file locks
--- (sqlite locks ranges of the database and of its -shm file): " (held by pid 123: gt polecat
--- add a)", or "" when it cannot tell.
local function holders(path)
  local inodes = {}
  for _, p in ipairs({ path, path .. "-shm", path .. "-wal" }) do
    local st = fs.stat(p)
    if st then inodes[st.ino] = true end
  end
  local f = io.open("/proc/locks", "r")
  if not f then return "" end
  local pids, seen = {}, {}
  for line in f:lines() do
    local kind, pid, ino = line:match("^%d+: %S+%s+%S+%s+(%u+)%s+(%d+)%s+%x+:%x+:(%d+)")
    pid, ino = tonumber(pid), tonumber(ino)
    if kind == "WRITE" and pid and ino and inodes[ino] and pid ~= sys.pid() and not seen[pid] then
      seen[pid] = true
      local cf = io.open("/proc/" .. pid .. "/cmdline", "rb")
      local cmd = cf and cf:read(200) or ""
      if cf then cf:close() end
      cmd = cmd:gsub("%z$", ""):gsub("%z", " ")
      pids[#pids + 1] = cmd ~= "" and ("pid %d: %s"):format(pid, cmd) or ("pid %d"):format(pid)
    end
  end
  f:close()
  if #pids == 0 then return "" end
  return " (held by " .. table.concat(pids, "; ") .. ")"
end

local ledger_path -- of the ledger opened last, for the messages of a busy one

local function check(ok, err, code)
  if not ok and code == "EBUSY" and ledger_path then
    err = tostring(err) .. holders(ledger_path) .. "; try again when it is done"
  elseif not ok and code == "ENOSPC" then
    err = tostring(err) .. " (free some space on its disk, then run the command again)"
  end
  return errors.check_doing("ledger", ok, err, code)
end

--- Returns the first row of a query, or nil; raises a gt error on failure.
local function first_row(db, sql, ...)
  local row, err, code = db:row(sql, ...)
  if row == nil and err then check(nil, err, code) end
  return row
end

--- How long a ledger statement waits for another process's write: 10 s, or GT_LOCK_TIMEOUT_MS
--- (for scripts and tests, as for gt's lock files).
local function busy_timeout_ms()
  local env = math.tointeger(tonumber(os.getenv("GT_LOCK_TIMEOUT_MS") or ""))
  return env and env >= 0 and env or 10000
end

--- Opens the ledger at `path` and brings its schema up to date; raises a gt error on failure.
--- Only `opts.create` (gt init) makes a new one: a town whose ledger is missing, empty or not a
--- database is an error, never a fresh start that would forget every rig.
---@return gt.Ledger
function store.open(path, opts)
  local create = opts ~= nil and opts.create == true
  ledger_path = path
  local st = fs.stat(path)
  if st and st.size == 0 and not create then
    -- sqlite would take it for a new database and start afresh.
    errors.raise("failure", "the town's ledger %s is empty (0 bytes); restore it from a backup " ..
      "(gt doctor lists what is on disk)", path)
  end
  local db, err, code = ledger.open(path, { busy_timeout_ms = busy_timeout_ms(), create = create })
  if not db and code == "ENOTFOUND" then
    errors.raise("failure", "the town's ledger %s is missing; restore it from a backup (gt doctor " ..
      "lists what is on disk)", path)
  elseif not db and code == "ECORRUPT" then
    errors.raise("failure", "the town's ledger %s is not a database (%s); restore it from a backup",
      path, err)
  end
  check(db, err, code)
  local version = check(db:user_version())
  if version == 0 and not create then
    db:close()
    errors.raise("failure", "the town's ledger %s is empty; restore it from a backup (gt doctor " ..
      "lists what is on disk)", path)
  end
  check(db:migrate(store.migrations))
  return db
end

--- Runs fn(db) in a write transaction (BEGIN IMMEDIATE, retried when busy).
function store.tx(db, fn, ...)
  local results = table.pack(db:tx(fn, ...))
  if results[1] == nil and results.n >= 3 then check(nil, results[2], results[3]) end
  return table.unpack(results, 1, results.n)
end

local function decode(s)
  if s == nil or s == "{}" or s == "[]" then return {} end -- most rows: skip the parser
  local v = json.decode(s)
  return type(v) == "table" and v or {}
end

local function agent_row(row)
  if not row then return nil end
  row.meta = decode(row.meta)
  return row
end

-- Rigs ----------------------------------------------------------------------------------

--- Registers a rig.
function store.rig_add(db, rig)
  check(db:exec("INSERT INTO rigs (name, url, default_branch, path, added_at) VALUES (?, ?, ?, ?, ?)",
    rig.name, rig.url, rig.default_branch, rig.path, sys.now_ms()))
end

--- Returns the registered rig `name`, or nil.
function store.rig_get(db, name)
  return first_row(db, "SELECT * FROM rigs WHERE name = ?", name)
end

--- Returns every registered rig, by name.
function store.rigs(db)
  local list = {}
  for row in db:rows("SELECT * FROM rigs ORDER BY name") do list[#list + 1] = row end
  return list
end

--- Forgets rig `name` (its agents' rows and history stay).
function store.rig_delete(db, name)
  check(db:exec("DELETE FROM rigs WHERE name = ?", name))
end

--- Sets the default branch of rig `name`.
function store.rig_set_default(db, name, branch)
  check(db:exec("UPDATE rigs SET default_branch = ? WHERE name = ?", branch, name))
end

--- Records that rig `name` fetched from origin at `ms`.
function store.rig_fetched(db, name, ms)
  check(db:exec("UPDATE rigs SET fetched_at = ? WHERE name = ?", ms, name))
end

-- Agents --------------------------------------------------------------------------------

--- Returns agent `id` ("<rig>/<name>", any state), or nil.
function store.agent_get(db, id)
  return agent_row(first_row(db, "SELECT * FROM agents WHERE id = ?", id))
end

--- Lists agents: of one rig (or all rigs when rig is nil); live ones unless `all_states`.
function store.agents(db, rig, all_states)
  local list = {}
  local sql = "SELECT * FROM agents"
  local where, params = {}, {}
  if rig then where[#where + 1] = "rig = ?"; params[#params + 1] = rig end
  if not all_states then where[#where + 1] = "state NOT IN ('removed', 'failed')" end
  if #where > 0 then sql = sql .. " WHERE " .. table.concat(where, " AND ") end
  sql = sql .. " ORDER BY rig, name"
  for row in db:rows(sql, params) do list[#list + 1] = agent_row(row) end
  return list
end

--- Counts the live agents of each rig: { [rig] = n } (rigs without any are absent).
function store.agent_counts(db)
  local counts = {}
  for row in db:rows([[SELECT rig, COUNT(*) AS n FROM agents
    WHERE state NOT IN ('removed', 'failed') GROUP BY rig]], {}) do
    counts[row.rig] = row.n
  end
  return counts
end

--- Appends an event to the history of agent `id`.
function store.event(db, id, kind, data)
  check(db:exec("INSERT INTO events (at, agent, kind, data) VALUES (?, ?, ?, ?)",
    sys.now_ms(), id, kind, json.encode(data or {})))
end

--- Returns the events of agent `id`, oldest first (the last `limit` when given).
function store.events(db, id, limit)
  local list = {}
  local sql = "SELECT * FROM events WHERE agent = ? ORDER BY seq DESC"
  local params = { id }
  if limit then sql = sql .. " LIMIT ?"; params[2] = limit end
  for row in db:rows(sql, params) do
    row.data = decode(row.data)
    table.insert(list, 1, row)
  end
  return list
end

--- Claims the name for a new incarnation of agent `a` (fields: id, rig, name, branch, worktree,
--- issue) in state `spawning`. Must run inside a transaction. Returns true, or false and the
--- live row when the name is taken. A removed or failed identity is reused, keeping its history.
function store.agent_claim(db, a)
  local now = sys.now_ms()
  local row = store.agent_get(db, a.id)
  if row and store.LIVE[row.state] then return false, row end
  if row then
    check(db:exec([[UPDATE agents SET state = 'spawning', branch = ?, worktree = ?, issue = ?,
      updated_at = ?, removed_at = NULL WHERE id = ?]], a.branch, a.worktree, a.issue, now, a.id))
  else
    check(db:exec([[INSERT INTO agents (id, rig, name, role, state, branch, worktree, issue,
      created_at, updated_at) VALUES (?, ?, ?, 'polecat', 'spawning', ?, ?, ?, ?, ?)]],
      a.id, a.rig, a.name, a.branch, a.worktree, a.issue, now, now))
  end
  store.event(db, a.id, "spawning", { branch = a.branch, worktree = a.worktree, issue = a.issue })
  return true
end

--- Moves agent `id` to `state`, recording an event of kind `event` (default: the state).
function store.agent_set_state(db, id, state, event, data)
  local now = sys.now_ms()
  if state == "removed" then
    check(db:exec("UPDATE agents SET state = ?, updated_at = ?, removed_at = ? WHERE id = ?",
      state, now, now, id))
  else
    check(db:exec("UPDATE agents SET state = ?, updated_at = ? WHERE id = ?", state, now, id))
  end
  store.event(db, id, event or state, data)
end

--- Records the branch agent `id` is on (nil: none, as for an idle polecat whose branch was
--- deleted: gt.polecat.idle).
function store.agent_set_branch(db, id, branch)
  check(db:exec("UPDATE agents SET branch = ? WHERE id = ?", branch, id))
end

-- Operations (the journal of multi-step commands) ----------------------------------------

--- Starts an operation: kind ("add", "remove", "rig_add"), key (the agent id; the rig name for
--- rig_add), planned steps, data needed to undo or finish it. Returns the operation id.
function store.op_begin(db, kind, key, steps, data)
  check(db:exec([[INSERT INTO operations (kind, agent, pid, host, started_at, status,
    steps_planned, data) VALUES (?, ?, ?, ?, ?, 'running', ?, ?)]], kind, key, sys.pid(),
    sys.hostname() or "?", sys.now_ms(), json.encode(steps), json.encode(data or {})))
  return db:last_insert_id()
end

--- Records that step `name` of operation `id` is done; the fields of `facts` (optional) are
--- added to its data.
function store.op_step(db, id, name, facts)
  local row = first_row(db, "SELECT steps_done, data FROM operations WHERE id = ?", id)
  local done = decode(row and row.steps_done)
  done[#done + 1] = name
  if facts then
    local data = decode(row and row.data)
    for k, v in pairs(facts) do data[k] = v end
    check(db:exec("UPDATE operations SET steps_done = ?, data = ? WHERE id = ?", json.encode(done),
      json.encode(data), id))
  else
    check(db:exec("UPDATE operations SET steps_done = ? WHERE id = ?", json.encode(done), id))
  end
end

--- Replaces the data of operation `id` (what is needed to finish or undo it).
function store.op_update(db, id, data)
  check(db:exec("UPDATE operations SET data = ? WHERE id = ?", json.encode(data), id))
end

--- Ends operation `id` with `status` ("done", "rolled_back", "failed").
function store.op_finish(db, id, status)
  check(db:exec("UPDATE operations SET status = ?, finished_at = ? WHERE id = ?", status,
    sys.now_ms(), id))
end

--- Returns the operations still marked running: on `key` (an agent id, or a rig name for
--- rig_add), or all of them when nil. Each row's `agent` field is its key.
function store.ops_running(db, key)
  local list = {}
  local sql = "SELECT * FROM operations WHERE status = 'running'" ..
    (key and " AND agent = ?" or "") .. " ORDER BY id"
  for row in db:rows(sql, key and { key } or {}) do
    row.steps_planned = decode(row.steps_planned)
    row.steps_done = decode(row.steps_done)
    row.data = decode(row.data)
    list[#list + 1] = row
  end
  return list
end

--- The operations of `kinds` (a list: "add", "remove", ...) that finished with status "done":
--- { kind, agent (the key), started_at, finished_at }, oldest first.
function store.ops_done(db, kinds)
  local marks = {}
  for i = 1, #kinds do marks[i] = "?" end
  local list = {}
  local sql = "SELECT kind, agent, started_at, finished_at FROM operations WHERE status = 'done' " ..
    "AND kind IN (" .. table.concat(marks, ", ") .. ") ORDER BY id"
  for row in db:rows(sql, kinds) do list[#list + 1] = row end
  return list
end

-- Sessions (a command run in a polecat's worktree) ----------------------------------------

local function session_row(row)
  if row then row.command = decode(row.command) end
  return row
end

--- Records a session of agent `s.agent`: { agent, pid, pid_start (the process's start time, so
--- that a reused pid is never taken for it), command (argv), log (path or nil), detached }.
--- Returns its id.
function store.session_begin(db, s)
  check(db:exec([[INSERT INTO sessions (agent, pid, pid_start, host, command, log, detached,
    started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)]], s.agent, s.pid, s.pid_start,
    sys.hostname() or "?", json.encode(s.command), s.log, s.detached and 1 or 0, sys.now_ms()))
  return db:last_insert_id()
end

--- Records the end of session `id`: its exit status (nil when it is unknown: the process was
--- found gone).
function store.session_end(db, id, exit_status)
  check(db:exec("UPDATE sessions SET ended_at = ?, exit_status = ? WHERE id = ? AND ended_at IS NULL",
    sys.now_ms(), exit_status, id))
end

--- Records the exit status of session `id` as the gt that waited for it learnt it (a
--- foreground run): it stands even where another process, finding the program gone first,
--- recorded the end with an unknown status.
function store.session_exit(db, id, exit_status)
  check(db:exec("UPDATE sessions SET ended_at = COALESCE(ended_at, ?), exit_status = ? WHERE id = ?",
    sys.now_ms(), exit_status, id))
end

--- The last session of each agent of rig `rig` (of every rig when nil), by agent id.
function store.sessions_last(db, rig)
  local map = {}
  local sql = "SELECT s.* FROM sessions s WHERE s.id IN (SELECT MAX(id) FROM sessions GROUP BY agent)"
  if rig then
    sql = sql .. " AND s.agent IN (SELECT id FROM agents WHERE rig = ?)"
  end
  for row in db:rows(sql, rig and { rig } or {}) do map[row.agent] = session_row(row) end
  return map
end

--- The last session of agent `id`, or nil.
function store.session_last(db, id)
  return session_row(first_row(db, "SELECT * FROM sessions WHERE agent = ? ORDER BY id DESC LIMIT 1", id))
end

--- The sessions not recorded as ended (of agent `id`, or all of them when nil), oldest first.
function store.sessions_open(db, id)
  local list = {}
  local sql = "SELECT * FROM sessions WHERE ended_at IS NULL" .. (id and " AND agent = ?" or "") ..
    " ORDER BY id"
  for row in db:rows(sql, id and { id } or {}) do list[#list + 1] = session_row(row) end
  return list
end

-- The name pool ----------------------------------------------------------------------------

--- Takes the next overflow number of rig `rig`'s name pool (never given twice), starting at
--- `first`. Must run inside a transaction.
function store.name_overflow_next(db, rig, first)
  local row = first_row(db, "SELECT next_overflow FROM name_counters WHERE rig = ?", rig)
  local n = row and row.next_overflow or first
  if row then
    check(db:exec("UPDATE name_counters SET next_overflow = ? WHERE rig = ?", n + 1, rig))
  else
    check(db:exec("INSERT INTO name_counters (rig, next_overflow) VALUES (?, ?)", rig, n + 1))
  end
  return n
end

-- Cached facts about trees ----------------------------------------------------------------

--- Returns the cached "checkout needs filters" answer for `tree` (true/false), or nil.
function store.tree_needs_filters(db, tree)
  local row = first_row(db, "SELECT needs_filters FROM tree_facts WHERE tree = ?", tree)
  if row then return row.needs_filters ~= 0 end
  return nil
end

--- Caches the "checkout needs filters" answer for `tree`.
function store.set_tree_needs_filters(db, tree, needs)
  -- Two spawns may compute the same answer at once: only the first insert counts.
  local ok, err, code = db:exec("INSERT INTO tree_facts (tree, needs_filters) VALUES (?, ?)", tree,
    needs and 1 or 0)
  if not ok and code ~= "ECONSTRAINT" then check(nil, err, code) end
end

return store
