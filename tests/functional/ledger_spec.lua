-- gt ledger status and gt ledger migrate: a town's sqlite ledger moved to the throwaway
-- PostgreSQL server (scripts/test), checked table by table, switched only when complete; and
-- libpq's environment as psql users know it. Pending without a server (GT_TEST_PG unset),
-- except what sqlite alone shows.
local helpers = require("helpers")
local witness = require("witness")
local ledger = require("gt.ledger")
local luafile = require("gt.luafile")
local json = require("gt.json")

local server_it = helpers.pg_admin and it or pending

--- A town on sqlite, whatever GT_TEST_BACKEND says: rig demo, polecats a (with a commit and an
--- unsaved file) and b, and a removed one (history).
local function sqlite_town()
  local dir = helpers.tmpdir("mig")
  local o = helpers.origin(dir)
  local town = dir .. "/town"
  local run = helpers.run({ gt.executable, "init", town })
  assert(run.code == 0, run.stderr)
  local fx = { town = town, rig = town .. "/demo", name = "demo", origin = o.origin, dir = dir }
  for _, args in ipairs({ { "rig", "add", "demo", o.origin } }) do
    local code, _, err = helpers.gt({ "--town", town, table.unpack(args) })
    assert(code == 0, err)
  end
  for _, args in ipairs({ { "polecat", "add", "a" }, { "polecat", "add", "b" }, { "polecat", "add", "gone" },
      { "polecat", "remove", "gone" } }) do
    local code, _, err = helpers.gt_rig(fx, args)
    assert(code == 0, err)
  end
  helpers.write(fx.rig .. "/polecats/a/demo/new.txt", "unsaved\n")
  return fx
end

local function gt_json(fx, args)
  local code, out, err = helpers.gt_rig(fx, args)
  assert(code == 0, err)
  return json.decode(out)
end

describe("gt ledger", function()
  it("status shows the backend, where, the schema version and a round trip's time", function()
    local fx = sqlite_town()
    local st = gt_json(fx, { "ledger", "status", "--json" })
    assert.equal("sqlite", st.backend)
    assert.equal(fx.town .. "/.gt/ledger.db", st.ledger)
    assert.equal(st.schema_latest, st.schema_version)
    assert.is_true(st.latency_ms > 0 and st.latency_ms < 1000)
    assert.equal(3, st.counts.agents) -- a, b and the removed one
    local code, out = helpers.gt_rig(fx, { "ledger", "status" })
    assert.equal(0, code)
    assert.matches("backend   sqlite\n", out)
    assert.matches("latency   [%d.]+ ms a round trip", out)
  end)

  server_it("migrate --dry-run counts and changes nothing; migrate moves every row, checked", function()
    local fx = sqlite_town()
    local url = helpers.pg_ledger()
    local before = witness.snapshot(fx)
    local dry = gt_json(fx, { "ledger", "migrate", "--to", url, "--dry-run", "--json" })
    assert.is_true(dry.dry_run)
    assert.is_nil(luafile.read(fx.town .. "/.gt/town.lua").ledger)
    assert.same(before, witness.snapshot(fx))
    local rows = {}
    for _, t in ipairs(dry.tables) do rows[t.table] = t.rows end
    assert.equal(3, rows.agents)
    assert.equal(1, rows.rigs)

    local code, out, err = helpers.gt_rig(fx, { "ledger", "migrate", "--to", url })
    assert.equal(0, code, err)
    assert.matches("every table checked; the town now uses the server", out)
    assert.equal(url, luafile.read(fx.town .. "/.gt/town.lua").ledger)
    -- The same polecats, history and journal, now read from the server.
    local st = gt_json(fx, { "ledger", "status", "--json" })
    assert.equal("postgresql", st.backend)
    assert.equal(3, st.counts.agents)
    local list = gt_json(fx, { "polecat", "list", "--json" })
    assert.equal(2, #list)
    assert.equal("a", list[1].name)
    assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "c" })))
    -- What a remove refuses to lose is still refused; the history goes on.
    code = helpers.gt_rig(fx, { "polecat", "remove", "a" })
    assert.equal(3, code)
    assert.equal(0, (helpers.gt_rig(fx, { "polecat", "remove", "b" })))
    local history = gt_json(fx, { "polecat", "history", "gone", "--json" })
    assert.is_true(#history >= 2)
    -- The sqlite file stays as a backup, and refuses every change.
    local old <close> = assert(ledger.open(fx.town .. "/.gt/ledger.db"))
    assert.equal(3, old:row("SELECT COUNT(*) AS n FROM agents").n)
    local ok, merr = old:exec("UPDATE agents SET state = 'idle'")
    assert.is_nil(ok)
    assert.matches("this ledger moved to", merr)
    assert.is_nil(merr:find("password", 1, true))
  end)

  server_it("migrate refuses a server that holds a ledger already, changing nothing", function()
    local fx = sqlite_town()
    local url = helpers.pg_ledger()
    local other = helpers.tmpdir("other") .. "/town"
    assert.equal(0, (helpers.gt({ "init", "--ledger", url, other })))
    assert.equal(0, (helpers.gt({ "--town", other, "rig", "add", "demo", fx.origin })))
    local code, out, err = helpers.gt_rig(fx, { "ledger", "migrate", "--to", url })
    assert.equal(1, code)
    assert.equal("", out)
    assert.matches("holds 1 rigs already: gt ledger migrate copies into an empty one; nothing was changed", err)
    assert.is_nil(luafile.read(fx.town .. "/.gt/town.lua").ledger)
    assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "c" }))) -- still on sqlite, writable
  end)

  it("migrate refuses what is not a server's URL", function()
    local fx = sqlite_town()
    local code, _, err = helpers.gt_rig(fx, { "ledger", "migrate", "--to", "/tmp/x.db" })
    assert.equal(2, code)
    assert.matches("%-%-to /tmp/x.db is not a PostgreSQL URL", err)
  end)

  server_it("a password in the ledger's URL appears in no output, and its place is warned of", function()
    local url = helpers.pg_ledger() .. " password=s3cr3t-pw" -- the test server trusts: unused
    local dir = helpers.tmpdir("pw")
    local o = helpers.origin(dir)
    local town = dir .. "/town"
    local said = {}
    local function run(args)
      local code, out, err = helpers.gt(args)
      assert.equal(0, code, err)
      said[#said + 1] = out .. err
      return out, err
    end
    local _, err = run({ "init", "--ledger", url, town })
    assert.matches("gt: warning: " .. town:gsub("%p", "%%%0") .. "/.gt/town.lua holds the ledger's password", err)
    run({ "--town", town, "rig", "add", "demo", o.origin })
    run({ "--town", town, "--rig", "demo", "polecat", "add", "a" })
    run({ "--town", town, "--rig", "demo", "polecat", "list", "--json" })
    run({ "--town", town, "ledger", "status" })
    run({ "--town", town, "ledger", "status", "--json" })
    run({ "--town", town, "doctor" })
    for _, text in ipairs(said) do assert.is_nil(text:find("s3cr3t", 1, true), text) end
    -- Nor in the ledger.
    local db <close> = witness.ledger(town)
    for _, t in ipairs({ "agents", "events", "operations", "rigs" }) do
      for row in db:rows("SELECT * FROM " .. t) do
        for _, v in pairs(row) do assert.is_nil(tostring(v):find("s3cr3t", 1, true)) end
      end
    end
  end)

  server_it("a town's ledger URL takes libpq's environment, as psql does", function()
    local host = helpers.pg_admin:match("host=(%S+)")
    local user = helpers.pg_admin:match("user=(%S+)")
    local url = helpers.pg_ledger()
    local db = url:match("dbname=(%S+)")
    local schema = url:match("search_path=(%w+)")
    local dir = helpers.tmpdir("env")
    local o = helpers.origin(dir)
    local env = { PGHOST = host, PGUSER = user, PGDATABASE = db, PGOPTIONS = "-c search_path=" .. schema }
    local code, _, err = helpers.gt({ "init", "--ledger", "postgresql://", dir .. "/town" }, { env = env })
    assert.equal(0, code, err)
    code, _, err = helpers.gt({ "--town", dir .. "/town", "rig", "add", "demo", o.origin }, { env = env })
    assert.equal(0, code, err)
    -- GT_LEDGER names the ledger for a command (over the town's own).
    code, _, err = helpers.gt({ "--town", dir .. "/town", "rig", "list" }, { env = { GT_LEDGER = url } })
    assert.equal(0, code, err)
    code = helpers.gt({ "--town", dir .. "/town", "rig", "list" }) -- without the environment: no server
    assert.equal(1, code)
  end)
end)
