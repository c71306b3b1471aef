-- gt.store on real ledgers: sqlite files in temporary folders, or, with GT_TEST_BACKEND=postgresql
-- (scripts/test), the throwaway PostgreSQL server's: opening (and refusing to start afresh),
-- the schema's migrations, rigs, agents and their events, the journal of operations, the tree
-- cache, transactions, hosts and copies between backends. What it wrote is read back with plain
-- SQL where the API alone could not tell. The specs of sqlite's files run on sqlite only.
local store = require("gt.store")
local ledger = require("gt.ledger")
local errors = require("gt.errors")
local sys = require("gt.sys")
local helpers = require("helpers")

--- Calls fn(...) and returns the gt error it raised; fails the test if it raised none or
--- something else.
local function gt_error(fn, ...)
  local ok, e = pcall(fn, ...)
  assert.is_false(ok, "no error was raised")
  assert.is_true(errors.is(e), "not a gt error: " .. tostring(e))
  return e
end

--- Rows of one query, read with plain SQL.
local function query(db, sql, ...)
  local rows = {}
  for row in db:rows(sql, ...) do rows[#rows + 1] = row end
  return rows
end

local function kinds(events)
  local list = {}
  for i, e in ipairs(events) do list[i] = e.kind end
  return list
end

local function names_of(agents)
  local list = {}
  for i, a in ipairs(agents) do list[i] = a.id end
  return list
end

local function claim(db, rig, name, extra)
  local a = { id = rig .. "/" .. name, rig = rig, name = name, branch = "polecat/" .. name,
    worktree = "/w/" .. rig .. "/" .. name }
  for k, v in pairs(extra or {}) do a[k] = v end
  return store.tx(db, store.agent_claim, a)
end

local on_sqlite = helpers.backend == "sqlite"
local sqlite_it = on_sqlite and it or pending
local server_it = on_sqlite and pending or it

--- The ledger's message for a second rig of one name, after "ledger: <where>: ".
local DUPLICATE_RIG = on_sqlite and "UNIQUE constraint failed: rigs.name" or
  'duplicate key value violates unique constraint "rigs_pkey"'

describe("gt.store", function()
  local dir

  before_each(function()
    dir = helpers.tmpdir("store")
  end)

  describe("open", function()
    sqlite_it("creates a new ledger only when asked, at the latest schema version", function()
      local path = dir .. "/ledger.db"
      local db <close> = store.open(path, { create = true })
      assert.is_true(helpers.exists(path))
      assert.equal(#store.migrations, db:user_version())
      local tables = {}
      for _, row in ipairs(query(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")) do
        tables[#tables + 1] = row.name
      end
      assert.same({ "agents", "events", "name_counters", "operations", "rigs", "sessions", "tree_facts" }, tables)
    end)

    sqlite_it("reopens an existing ledger with or without create, keeping what it holds", function()
      local path = dir .. "/ledger.db"
      local db = store.open(path, { create = true })
      store.rig_add(db, { name = "demo", url = "/o.git", default_branch = "main", path = "/t/demo" })
      db:close()
      local again <close> = store.open(path)
      assert.equal("/o.git", store.rig_get(again, "demo").url)
      local created <close> = store.open(path, { create = true })
      assert.equal(1, #store.rigs(created))
      assert.equal(#store.migrations, created:user_version())
    end)

    sqlite_it("refuses a missing ledger without create, and makes no file", function()
      local path = dir .. "/missing.db"
      local e = gt_error(store.open, path)
      assert.equal("failure", e.kind)
      assert.equal(1, e.exit)
      assert.equal("the town's ledger " .. path .. " is missing; restore it from a backup " ..
        "(gt doctor lists what is on disk)", e.message)
      assert.is_false(helpers.exists(path))
      e = gt_error(store.open, path, { create = false })
      assert.equal("the town's ledger " .. path .. " is missing; restore it from a backup " ..
        "(gt doctor lists what is on disk)", e.message)
      assert.is_false(helpers.exists(path))
    end)

    sqlite_it("refuses an empty (0 byte) file instead of starting afresh, leaving it as it was", function()
      local path = dir .. "/ledger.db"
      helpers.write(path, "")
      local e = gt_error(store.open, path)
      assert.equal("failure", e.kind)
      assert.equal("the town's ledger " .. path .. " is empty (0 bytes); restore it from a backup " ..
        "(gt doctor lists what is on disk)", e.message)
      assert.equal("", helpers.read(path))
    end)

    sqlite_it("refuses a file that is not a database, leaving it as it was", function()
      local path = dir .. "/ledger.db"
      local junk = string.rep("not a ledger ", 100)
      helpers.write(path, junk)
      local e = gt_error(store.open, path)
      assert.equal("failure", e.kind)
      assert.equal("the town's ledger " .. path .. " is not a database (" .. path ..
        ": file is not a database); restore it from a backup", e.message)
      assert.equal(junk, helpers.read(path))
    end)

    sqlite_it("refuses a database that never had the schema (user_version 0) without create", function()
      local path = dir .. "/ledger.db"
      local raw = assert(ledger.open(path))
      assert(raw:exec("CREATE TABLE unrelated (x)"))
      raw:close()
      local e = gt_error(store.open, path)
      assert.equal("failure", e.kind)
      assert.equal("the town's ledger " .. path .. " is empty; restore it from a backup " ..
        "(gt doctor lists what is on disk)", e.message)
      local check <close> = assert(ledger.open(path))
      assert.equal(0, check:user_version())
      assert.is_nil(check:row("SELECT name FROM sqlite_master WHERE name = 'agents'"))
    end)

    sqlite_it("refuses a ledger made by a newer gt (a schema version it does not know)", function()
      local path = dir .. "/ledger.db"
      local db = store.open(path, { create = true })
      local newer = #store.migrations + 5
      assert(db:exec("PRAGMA user_version = " .. newer))
      db:close()
      local e = gt_error(store.open, path)
      assert.equal("failure", e.kind)
      assert.equal(("ledger: %s: schema version %d is newer than this gt knows (%d)"):format(path,
        newer, #store.migrations), e.message)
    end)

    sqlite_it("applies the migrations a ledger has not seen, once, on open", function()
      local path = dir .. "/ledger.db"
      local db = store.open(path, { create = true })
      store.rig_add(db, { name = "demo", url = "/o.git", default_branch = "main", path = "/t/demo" })
      db:close()
      local n = #store.migrations
      store.migrations[n + 1] = "ALTER TABLE rigs ADD COLUMN note TEXT; UPDATE rigs SET note = 'migrated';"
      local ok, err = pcall(function()
        local a <close> = store.open(path)
        assert.equal(n + 1, a:user_version())
        assert.equal("migrated", store.rig_get(a, "demo").note)
        assert(a:exec("UPDATE rigs SET note = 'kept'"))
        local b <close> = store.open(path) -- already applied: not run again
        assert.equal("kept", store.rig_get(b, "demo").note)
      end)
      store.migrations[n + 1] = nil
      assert(ok, err)
    end)
  end)

  describe("with a ledger", function()
    local path, db

    before_each(function()
      path = helpers.ledger_target(dir)
      db = store.open(path, { create = true })
    end)

    after_each(function()
      db:close()
    end)

    describe("rigs", function()
      it("registers rigs, lists them by name and gets one", function()
        local before = sys.now_ms()
        store.rig_add(db, { name = "zeta", url = "/z.git", default_branch = "trunk", path = "/t/zeta" })
        store.rig_add(db, { name = "alpha", url = "/a.git", default_branch = "main", path = "/t/alpha" })
        local rigs = store.rigs(db)
        assert.equal(2, #rigs)
        assert.equal("alpha", rigs[1].name)
        assert.equal("zeta", rigs[2].name)
        local z = store.rig_get(db, "zeta")
        assert.equal("/z.git", z.url)
        assert.equal("trunk", z.default_branch)
        assert.equal("/t/zeta", z.path)
        assert.is_true(z.added_at >= before and z.added_at <= sys.now_ms())
        assert.is_nil(z.fetched_at)
        assert.is_nil(store.rig_get(db, "nope"))
      end)

      it("has no rigs in a new ledger", function()
        assert.same({}, store.rigs(db))
      end)

      it("refuses a rig name twice, with the ledger's message", function()
        store.rig_add(db, { name = "demo", url = "/a.git", default_branch = "main", path = "/t/demo" })
        local e = gt_error(store.rig_add, db, { name = "demo", url = "/b.git", default_branch = "main",
          path = "/t/demo" })
        assert.equal("failure", e.kind)
        assert.equal("ledger: " .. store.describe(path) .. ": " .. DUPLICATE_RIG, e.message)
        assert.equal("/a.git", store.rig_get(db, "demo").url)
      end)

      it("sets the default branch and the time of the last fetch of one rig", function()
        store.rig_add(db, { name = "a", url = "/a.git", default_branch = "main", path = "/t/a" })
        store.rig_add(db, { name = "b", url = "/b.git", default_branch = "main", path = "/t/b" })
        store.rig_set_default(db, "a", "trunk")
        store.rig_fetched(db, "a", 1234567)
        local a, b = store.rig_get(db, "a"), store.rig_get(db, "b")
        assert.equal("trunk", a.default_branch)
        assert.equal(1234567, a.fetched_at)
        assert.equal("main", b.default_branch)
        assert.is_nil(b.fetched_at)
      end)
    end)

    describe("agents", function()
      it("claims a new name: a spawning polecat row and a spawning event", function()
        local before = sys.now_ms()
        assert.is_true(claim(db, "demo", "a", { issue = "GT-1" }))
        local a = store.agent_get(db, "demo/a")
        assert.equal("demo/a", a.id)
        assert.equal("demo", a.rig)
        assert.equal("a", a.name)
        assert.equal("polecat", a.role)
        assert.equal("spawning", a.state)
        assert.equal("polecat/a", a.branch)
        assert.equal("/w/demo/a", a.worktree)
        assert.equal("GT-1", a.issue)
        assert.same({}, a.meta)
        assert.is_true(a.created_at >= before and a.created_at <= sys.now_ms())
        assert.equal(a.created_at, a.updated_at)
        assert.is_nil(a.removed_at)
        local events = store.events(db, "demo/a")
        assert.equal(1, #events)
        assert.equal("spawning", events[1].kind)
        assert.equal("demo/a", events[1].agent)
        assert.same({ branch = "polecat/a", worktree = "/w/demo/a", issue = "GT-1" }, events[1].data)
      end)

      it("gets an agent by its id, <rig>/<name>, not by its name alone", function()
        claim(db, "demo", "a")
        assert.is_nil(store.agent_get(db, "a"))
        assert.is_nil(store.agent_get(db, "other/a"))
        assert.is_nil(store.agent_get(db, "demo/b"))
        assert.equal("a", store.agent_get(db, "demo/a").name)
      end)

      it("keeps the same name apart in two rigs", function()
        assert.is_true(claim(db, "one", "a", { branch = "b1" }))
        assert.is_true(claim(db, "two", "a", { branch = "b2" }))
        assert.equal("b1", store.agent_get(db, "one/a").branch)
        assert.equal("b2", store.agent_get(db, "two/a").branch)
      end)

      it("refuses a name held by a live agent, returning its row and changing nothing", function()
        assert.is_true(claim(db, "demo", "a"))
        for _, state in ipairs({ "spawning", "working", "idle", "removing", "stalled", "zombie" }) do
          assert.is_true(store.LIVE[state])
          if state ~= "spawning" then store.agent_set_state(db, "demo/a", state) end
          local before = store.agent_get(db, "demo/a")
          local nevents = #store.events(db, "demo/a")
          local ok, row = claim(db, "demo", "a", { branch = "other", worktree = "/elsewhere" })
          assert.is_false(ok)
          assert.equal(state, row.state)
          assert.equal("polecat/a", row.branch)
          assert.same(before, store.agent_get(db, "demo/a"))
          assert.equal(nevents, #store.events(db, "demo/a"))
        end
      end)

      it("reuses a removed identity, keeping its history and creation time", function()
        claim(db, "demo", "a", { issue = "GT-1" })
        store.agent_set_state(db, "demo/a", "working", "spawned")
        store.agent_set_state(db, "demo/a", "removed")
        local removed = store.agent_get(db, "demo/a")
        assert.equal("removed", removed.state)
        assert.is_number(removed.removed_at)
        assert.equal(removed.updated_at, removed.removed_at)
        assert.is_true(claim(db, "demo", "a", { branch = "polecat/a2", worktree = "/w2" }))
        local again = store.agent_get(db, "demo/a")
        assert.equal("spawning", again.state)
        assert.equal("polecat/a2", again.branch)
        assert.equal("/w2", again.worktree)
        assert.is_nil(again.issue)
        assert.is_nil(again.removed_at)
        assert.equal(removed.created_at, again.created_at)
        assert.same({ "spawning", "spawned", "removed", "spawning" }, kinds(store.events(db, "demo/a")))
        assert.equal(1, query(db, "SELECT count(*) AS n FROM agents")[1].n)
      end)

      it("reuses a failed identity", function()
        claim(db, "demo", "a")
        store.agent_set_state(db, "demo/a", "failed", "add_failed", { reason = "disk full" })
        assert.is_nil(store.LIVE.failed)
        assert.is_nil(store.agent_get(db, "demo/a").removed_at)
        assert.is_true(claim(db, "demo", "a"))
        assert.equal("spawning", store.agent_get(db, "demo/a").state)
        local events = store.events(db, "demo/a")
        assert.same({ "spawning", "add_failed", "spawning" }, kinds(events))
        assert.same({ reason = "disk full" }, events[2].data)
      end)

      it("moves an agent to a state, with an event of its own kind and data", function()
        claim(db, "demo", "a")
        local created = store.agent_get(db, "demo/a")
        store.agent_set_state(db, "demo/a", "working", "spawned", { head = "abc", n = 2 })
        store.agent_set_state(db, "demo/a", "idle")
        local a = store.agent_get(db, "demo/a")
        assert.equal("idle", a.state)
        assert.is_true(a.updated_at >= created.updated_at)
        assert.is_nil(a.removed_at)
        local events = store.events(db, "demo/a")
        assert.same({ "spawning", "spawned", "idle" }, kinds(events))
        assert.same({ head = "abc", n = 2 }, events[2].data)
        assert.same({}, events[3].data)
      end)

      it("lists the live agents of one rig or of all, by rig then name, or every state", function()
        claim(db, "zrig", "b")
        claim(db, "demo", "c")
        claim(db, "demo", "a")
        claim(db, "demo", "gone")
        claim(db, "demo", "broken")
        claim(db, "other", "x")
        store.agent_set_state(db, "demo/a", "working")
        store.agent_set_state(db, "demo/c", "zombie")
        store.agent_set_state(db, "demo/gone", "removed")
        store.agent_set_state(db, "demo/broken", "failed")
        assert.same({ "demo/a", "demo/c" }, names_of(store.agents(db, "demo")))
        assert.same({ "demo/a", "demo/broken", "demo/c", "demo/gone" }, names_of(store.agents(db, "demo", true)))
        assert.same({ "demo/a", "demo/c", "other/x", "zrig/b" }, names_of(store.agents(db)))
        assert.same({ "demo/a", "demo/broken", "demo/c", "demo/gone", "other/x", "zrig/b" },
          names_of(store.agents(db, nil, true)))
        assert.same({}, store.agents(db, "nope", true))
        -- The same live agents, counted by rig (gt rig list).
        assert.same({ demo = 2, other = 1, zrig = 1 }, store.agent_counts(db))
        local listed = store.agents(db, "other")[1]
        assert.same({}, listed.meta)
        assert.equal("spawning", listed.state)
      end)
    end)

    describe("events", function()
      it("returns an agent's events oldest first, only its own, the last `limit` with one", function()
        for i = 1, 5 do
          store.event(db, "demo/a", "e" .. i, { i = i })
          store.event(db, "demo/b", "other" .. i)
        end
        local all = store.events(db, "demo/a")
        assert.same({ "e1", "e2", "e3", "e4", "e5" }, kinds(all))
        for i, e in ipairs(all) do
          assert.equal("demo/a", e.agent)
          assert.same({ i = i }, e.data)
          assert.is_number(e.at)
          if i > 1 then assert.is_true(e.seq > all[i - 1].seq) end
        end
        assert.same({ "e4", "e5" }, kinds(store.events(db, "demo/a", 2)))
        assert.same({ "e5" }, kinds(store.events(db, "demo/a", 1)))
        assert.same({ "e1", "e2", "e3", "e4", "e5" }, kinds(store.events(db, "demo/a", 50)))
        assert.same({}, store.events(db, "demo/none"))
      end)

      it("keeps nested data through JSON", function()
        store.event(db, "demo/a", "saved", { ref = "refs/gt/salvage/x", files = { "a", "b" },
          ignored = { files = 3, kept = {} }, ok = true })
        local data = store.events(db, "demo/a")[1].data
        assert.equal("refs/gt/salvage/x", data.ref)
        assert.same({ "a", "b" }, data.files)
        assert.equal(3, data.ignored.files)
        assert.is_true(data.ok)
      end)
    end)

    describe("the journal", function()
      it("begins an operation, running, with its planned steps and data", function()
        local before = sys.now_ms()
        local id = store.op_begin(db, "add", "demo/a", { "branch", "worktree", "ledger" }, { branch = "b" })
        assert.equal("integer", math.type(id))
        local ops = store.ops_running(db, "demo/a")
        assert.equal(1, #ops)
        local op = ops[1]
        assert.equal(id, op.id)
        assert.equal("add", op.kind)
        assert.equal("demo/a", op.agent)
        assert.equal("running", op.status)
        assert.equal(sys.pid(), op.pid)
        assert.equal(store.host(), op.host)
        assert.is_true(op.started_at >= before and op.started_at <= sys.now_ms())
        assert.is_nil(op.finished_at)
        assert.same({ "branch", "worktree", "ledger" }, op.steps_planned)
        assert.same({}, op.steps_done)
        assert.same({ branch = "b" }, op.data)
      end)

      it("records steps in order, merging their facts into the data", function()
        local id = store.op_begin(db, "remove", "demo/a", { "lock", "salvage", "delete" },
          { keep = "me", over = "old" })
        store.op_step(db, id, "lock")
        store.op_step(db, id, "salvage", { ref = "refs/gt/salvage/1", over = "new" })
        store.op_step(db, id, "delete", { files = { "x", "y" } })
        local op = store.ops_running(db, "demo/a")[1]
        assert.same({ "lock", "salvage", "delete" }, op.steps_done)
        assert.same({ keep = "me", over = "new", ref = "refs/gt/salvage/1", files = { "x", "y" } }, op.data)
      end)

      it("replaces the data with op_update", function()
        local id = store.op_begin(db, "add", "demo/a", { "one" }, { a = 1, b = 2 })
        store.op_step(db, id, "one", { c = 3 })
        store.op_update(db, id, { d = 4 })
        local op = store.ops_running(db, "demo/a")[1]
        assert.same({ d = 4 }, op.data)
        assert.same({ "one" }, op.steps_done)
      end)

      it("finishes operations: no longer running, with their status and end time", function()
        local a = store.op_begin(db, "add", "demo/a", { "x" })
        local b = store.op_begin(db, "remove", "demo/a", { "y" })
        local c = store.op_begin(db, "add", "demo/c", { "z" })
        store.op_finish(db, a, "done")
        store.op_finish(db, c, "rolled_back")
        local running = store.ops_running(db, "demo/a")
        assert.equal(1, #running)
        assert.equal(b, running[1].id)
        assert.same({}, store.ops_running(db, "demo/c"))
        local rows = query(db, "SELECT id, status, finished_at, started_at FROM operations ORDER BY id")
        assert.equal("done", rows[1].status)
        assert.equal("running", rows[2].status)
        assert.equal("rolled_back", rows[3].status)
        assert.is_true(rows[1].finished_at >= rows[1].started_at)
        assert.is_nil(rows[2].finished_at)
      end)

      it("lists the running operations of every key, oldest first, when given none", function()
        local r = store.op_begin(db, "rig_add", "demo", { "clone" }, { url = "/o.git" })
        local a = store.op_begin(db, "add", "demo/a", { "x" })
        local done = store.op_begin(db, "add", "demo/b", { "x" })
        local c = store.op_begin(db, "remove", "other/c", { "y" })
        store.op_finish(db, done, "done")
        local ids, keys = {}, {}
        for i, op in ipairs(store.ops_running(db)) do ids[i], keys[i] = op.id, op.agent end
        assert.same({ r, a, c }, ids)
        assert.same({ "demo", "demo/a", "other/c" }, keys)
        assert.equal(1, #store.ops_running(db, "demo")) -- a rig's key is not a prefix match
        assert.equal("rig_add", store.ops_running(db, "demo")[1].kind)
        assert.same({}, store.ops_running(db, "demo/none"))
      end)
    end)

    describe("tree cache", function()
      local tree = string.rep("ab", 20)

      it("knows nothing of a tree until told, then answers true or false", function()
        assert.is_nil(store.tree_needs_filters(db, tree))
        store.set_tree_needs_filters(db, tree, true)
        store.set_tree_needs_filters(db, string.rep("cd", 20), false)
        assert.is_true(store.tree_needs_filters(db, tree))
        assert.is_false(store.tree_needs_filters(db, string.rep("cd", 20)))
        assert.is_nil(store.tree_needs_filters(db, string.rep("ef", 20)))
      end)

      it("keeps the first answer when a second one arrives, without an error", function()
        store.set_tree_needs_filters(db, tree, false)
        store.set_tree_needs_filters(db, tree, true)
        assert.is_false(store.tree_needs_filters(db, tree))
        assert.equal(1, query(db, "SELECT count(*) AS n FROM tree_facts")[1].n)
      end)
    end)

    describe("tx", function()
      it("commits what fn did and returns what it returned", function()
        local a, b = store.tx(db, function(tx, x)
          assert.equal(db, tx)
          store.event(tx, "demo/a", x)
          return "r1", 2
        end, "first")
        assert.equal("r1", a)
        assert.equal(2, b)
        assert.same({ "first" }, kinds(store.events(db, "demo/a")))
        local other <close> = store.open(path) -- another connection sees it: committed
        assert.same({ "first" }, kinds(store.events(other, "demo/a")))
      end)

      it("rolls back everything fn did when it raises, and raises the same error", function()
        claim(db, "demo", "keep")
        local e = errors.new("refused", "stop here")
        local ok, err = pcall(store.tx, db, function(tx)
          assert.is_true(store.agent_claim(tx, { id = "demo/a", rig = "demo", name = "a", branch = "b" }))
          store.agent_set_state(tx, "demo/keep", "removed")
          store.op_begin(tx, "add", "demo/a", { "x" })
          store.rig_add(tx, { name = "demo", url = "/o", default_branch = "main", path = "/p" })
          error(e)
        end)
        assert.is_false(ok)
        assert.is_true(rawequal(e, err))
        assert.is_nil(store.agent_get(db, "demo/a"))
        assert.same({}, store.events(db, "demo/a"))
        assert.equal("spawning", store.agent_get(db, "demo/keep").state)
        assert.same({ "spawning" }, kinds(store.events(db, "demo/keep")))
        assert.same({}, store.ops_running(db))
        assert.same({}, store.rigs(db))
        assert.is_true(store.tx(db, function() end)) -- no transaction was left open
      end)

      it("rolls back when a statement inside fails, raising the ledger's error", function()
        store.rig_add(db, { name = "demo", url = "/o", default_branch = "main", path = "/p" })
        local e = gt_error(store.tx, db, function(tx)
          store.event(tx, "demo/a", "before")
          store.rig_add(tx, { name = "demo", url = "/o2", default_branch = "main", path = "/p" })
        end)
        assert.equal("ledger: " .. store.describe(path) .. ": " .. DUPLICATE_RIG, e.message)
        assert.same({}, store.events(db, "demo/a"))
      end)

      server_it("runs fn again after a conflict with another connection, not half of it", function()
        local other <close> = store.open(path)
        claim(db, "demo", "a")
        local runs = 0
        store.tx(db, function(tx)
          runs = runs + 1
          local row = store.agent_get(tx, "demo/a")
          if runs == 1 then -- another host changes the same row meanwhile, and commits first
            store.tx(other, function(o) store.agent_set_state(o, "demo/a", "working") end)
          end
          store.agent_set_state(tx, "demo/a", row.state == "working" and "idle" or "stalled")
        end)
        assert.equal(2, runs)
        assert.equal("idle", store.agent_get(db, "demo/a").state)
        assert.same({ "spawning", "working", "idle" }, kinds(store.events(db, "demo/a")))
      end)

      sqlite_it("says who holds the ledger when it stays busy (exit 5)", function()
        local holder = dir .. "/hold.lua"
        helpers.write(holder, ([[
          local ledger = require("gt.ledger")
          local sys = require("gt.sys")
          local db = assert(ledger.open(%q))
          assert(db:exec("BEGIN IMMEDIATE"))
          assert(db:exec("INSERT INTO events (at, agent, kind) VALUES (1, 'demo/h', 'held')"))
          local f = assert(io.open(%q, "w")); f:write("held\n"); f:close()
          local deadline = sys.clock_ms() + 60000
          while not io.open(%q) and sys.clock_ms() < deadline do sys.sleep_ms(10) end
          assert(db:exec("COMMIT"))
        ]]):format(path, dir .. "/held", dir .. "/release"))
        local writer = dir .. "/write.lua"
        helpers.write(writer, ([[
          local store = require("gt.store")
          local db = store.open(%q)
          local ok, e = pcall(store.tx, db, function(tx) store.event(tx, "demo/w", "mine") end)
          io.write(tostring(ok), "\n", e.kind, "\n", e.message, "\n")
        ]]):format(path))
        local child = assert(io.popen(("exec %q -l %q"):format(gt.executable, holder), "r"))
        local deadline = sys.clock_ms() + 60000
        while helpers.read(dir .. "/held") ~= "held\n" and sys.clock_ms() < deadline do sys.sleep_ms(5) end
        local code, out, err
        local ok, perr = pcall(function()
          assert.equal("held\n", helpers.read(dir .. "/held"))
          code, out, err = helpers.gt({ "-l", writer }, { env = { GT_LOCK_TIMEOUT_MS = "50" } })
        end)
        helpers.write(dir .. "/release", "")
        assert.is_true(child:close())
        assert(ok, perr)
        assert.equal(0, code, err)
        local lines = helpers.lines(out)
        assert.equal("false", lines[1])
        assert.equal("busy", lines[2])
        assert.equal(("ledger: %s: database is locked (held by pid N: %s -l %s); try again when it is done")
          :format(path, gt.executable, holder), (lines[3]:gsub("pid %d+", "pid N")))
        assert.same({ "held" }, kinds(store.events(db, "demo/h")))
        assert.same({}, store.events(db, "demo/w"))
      end)
    end)

    describe("hosts", function()
      it("records the host that claims a name, GT_HOST or the host name", function()
        claim(db, "demo", "a")
        assert.equal(store.host(), store.agent_get(db, "demo/a").host)
        local r = helpers.in_child([[
          local store = require("gt.store")
          local db <close> = store.open(...)
          store.tx(db, store.agent_claim, { id = "demo/b", rig = "demo", name = "b" })
          return store.agent_get(db, "demo/b").host, store.host()
        ]], { path }, { env = { GT_HOST = "build-7" } })
        assert.equal("build-7", r)
        assert.equal("build-7", store.agent_get(db, "demo/b").host)
        -- On a server a host acts on its own rows; sqlite's ledger is one machine's: all are.
        assert.equal(not on_sqlite, not store.is_local(db, store.agent_get(db, "demo/b")))
        assert.is_true(store.is_local(db, store.agent_get(db, "demo/a")))
        assert.is_true(store.is_local(db, { host = nil })) -- a row from before hosts
      end)

      it("lists the agents of one host, and counts the live ones of each", function()
        claim(db, "demo", "a")
        assert(db:exec("UPDATE agents SET host = 'far' WHERE id = 'demo/a'"))
        claim(db, "demo", "b")
        claim(db, "demo", "c")
        store.tx(db, store.agent_set_state, "demo/c", "removed")
        assert.same({ "demo/a" }, names_of(store.agents(db, "demo", false, "far")))
        assert.same({ "demo/b" }, names_of(store.agents(db, "demo", false, store.host())))
        assert.same(on_sqlite and { "demo/a", "demo/b" } or { "demo/b" },
          names_of(store.agents(db, "demo", false, true)))
        assert.same({ "demo/a", "demo/b" }, names_of(store.agents(db, "demo", false)))
        assert.same({ far = 1, [store.host()] = 1 }, store.hosts(db))
      end)

      it("refuses a bad GT_HOST in one line", function()
        local res = helpers.lua_child([[return require("gt.store").host()]], {}, { env = { GT_HOST = "a b" } })
        assert.is_false(res.ok)
        assert.equal("usage", res.kind)
        assert.equal('GT_HOST "a b" is not a host name (no spaces, at most 255 bytes)', res.message)
      end)
    end)

    describe("name locks", function()
      sqlite_it("are the lock files' alone on sqlite: always granted", function()
        assert.is_true(store.name_lock(db, "demo/a", 0))
        assert.is_true(store.name_lock(db, "demo/a", 0))
        store.name_unlock(db, "demo/a")
      end)

      server_it("keep a name to one connection of the server until it lets go", function()
        local other <close> = store.open(path)
        assert.is_nil(store.name_lock_holder(other, "demo/a"))
        assert.is_true(store.name_lock(db, "demo/a", 0))
        assert.is_false(store.name_lock(other, "demo/a", 0))
        -- Who holds it: the connection's application name (gt's host and pid).
        assert.equal(("gt %s pid %d"):format(store.host(), sys.pid()), store.name_lock_holder(other, "demo/a"))
        assert.is_nil(store.name_lock_holder(other, "demo/b"))
        local t0 = sys.clock_ms()
        assert.is_false(store.name_lock(other, "demo/a", 60))
        assert.is_true(sys.clock_ms() - t0 >= 55)
        assert.is_true(store.name_lock(other, "demo/b", 0)) -- another name is free
        store.name_unlock(db, "demo/a")
        assert.is_true(store.name_lock(other, "demo/a", 0))
      end)

      server_it("are let go when the connection that held them closes (a host that died)", function()
        local holder = store.open(path)
        assert.is_true(store.name_lock(holder, "demo/a", 0))
        assert.is_false(store.name_lock(db, "demo/a", 0))
        holder:close()
        assert.is_true(store.name_lock(db, "demo/a", 2000))
      end)
    end)

    describe("copy", function()
      it("copies every table with its ids, checked by count and digest, and numbers on", function()
        store.rig_add(db, { name = "demo", url = "/o.git", default_branch = "main", path = "/t/demo" })
        claim(db, "demo", "a", { issue = "GT-1" })
        claim(db, "demo", "b")
        store.tx(db, store.agent_set_state, "demo/b", "removed")
        local op = store.op_begin(db, "add", "demo/a", { "x", "y" }, { branch = "polecat/a", n = 3 })
        store.op_step(db, op, "x", { ["quote's"] = "\"it\"" })
        store.session_begin(db, { agent = "demo/a", pid = 42, pid_start = "99", command = { "sh", "-c", "x" },
          detached = true })
        store.tx(db, store.name_overflow_next, "demo", 7)
        store.set_tree_needs_filters(db, string.rep("ab", 20), true)
        -- The copy goes to the other backend where there is one (a server runs), else to sqlite.
        local to = (on_sqlite and helpers.pg_ledger()) or (dir .. "/copy.db")
        local dst <close> = store.open(to, { create = true })
        local copied = store.tx(dst, function() return store.copy(db, dst) end)
        local expected = {}
        for _, t in ipairs(store.TABLES) do expected[#expected + 1] = t.name end
        local got = {}
        for i, c in ipairs(copied) do
          got[i] = c.table
          local n, digest = store.table_digest(db, store.TABLES[i])
          assert.equal(n, c.rows)
          assert.equal(digest, c.digest)
        end
        assert.same(expected, got)
        assert.same(store.counts(db), store.counts(dst))
        assert.equal("GT-1", store.agent_get(dst, "demo/a").issue)
        assert.same(store.events(db, "demo/b"), store.events(dst, "demo/b"))
        assert.same(store.ops_running(db), store.ops_running(dst))
        assert.equal(8, store.tx(dst, store.name_overflow_next, "demo", 1))
        -- New rows are numbered after the copied ones.
        local next_op = store.op_begin(dst, "remove", "demo/a", { "z" })
        assert.is_true(next_op > op)
      end)

      it("refuses a copy whose rows differ, naming the table", function()
        claim(db, "demo", "a")
        local to = dir .. "/copy.db"
        local dst <close> = store.open(to, { create = true })
        assert(dst:exec([[CREATE TRIGGER meddle AFTER INSERT ON agents BEGIN
          UPDATE agents SET issue = 'changed' WHERE id = NEW.id; END]]))
        local e = gt_error(store.tx, dst, function() return store.copy(db, dst) end)
        assert.equal("failure", e.kind)
        assert.truthy(e.message:find("^the copy of table agents differs %(1 rows"), e.message)
        assert.same({}, store.agents(dst, nil, true)) -- rolled back
      end)

      it("seals a ledger: every change refused with where it went, reading still works", function()
        local to = dir .. "/sealed.db"
        local src <close> = store.open(to, { create = true })
        claim(src, "demo", "a")
        store.tx(src, store.seal, "postgresql://gt@db/town")
        local e = gt_error(claim, src, "demo", "b")
        assert.truthy(e.message:find("this ledger moved to postgresql://gt@db/town (gt ledger migrate): " ..
          "run the command again", 1, true), e.message)
        assert.equal("spawning", store.agent_get(src, "demo/a").state)
      end)
    end)
  end)
end)
