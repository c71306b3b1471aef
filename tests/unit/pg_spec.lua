-- gt.pg against a real PostgreSQL server: GT_TEST_PG is the conninfo (keyword=value form) of a
-- database the tests may CREATE DATABASE from, such as "host=/tmp/x user=gt dbname=postgres"
-- (scripts/pg-tmp start DIR prints one). Without it every test here is pending.
local pg = require("gt.pg")
local sys = require("gt.sys")
local helpers = require("helpers")

local admin_info = os.getenv("GT_TEST_PG")
if admin_info == "" then admin_info = nil end

-- `it` when there is a server to test against, else a pending test.
local function pg_it(name, fn)
  if admin_info then it(name, fn) else pending(name) end
end

local serial = 0

-- Creates a database of its own; returns its conninfo and a function that drops it.
local function new_database()
  serial = serial + 1
  local name = ("gt_pg_spec_%d_%d"):format(sys.pid(), serial)
  local admin <close> = assert(pg.open(admin_info))
  assert(admin:exec("DROP DATABASE IF EXISTS " .. name .. " WITH (FORCE)"))
  assert(admin:exec("CREATE DATABASE " .. name))
  return admin_info .. " dbname=" .. name, function()
    local a <close> = assert(pg.open(admin_info))
    assert(a:exec("DROP DATABASE IF EXISTS " .. name .. " WITH (FORCE)"))
  end
end

local function collect(iter, ...)
  local out = {}
  for row in iter, ... do out[#out + 1] = row end
  return out
end

describe("gt.pg", function()
  describe("redact", function()
    it("drops the password of a URL, in its userinfo and in its query", function()
      assert.equal("postgresql://gt@db.example:5432/town?sslmode=require",
        pg.redact("postgresql://gt:s3cret@db.example:5432/town?password=other&sslmode=require"))
      assert.equal("postgres://gt@h/db", pg.redact("postgres://gt:pw@h/db?pass%77ord=x"))
      assert.equal("postgresql://h/db?sslmode=disable", pg.redact("postgresql://h/db?sslmode=disable"))
      assert.equal("postgresql://u@h/db", pg.redact("postgresql://u@h/db"))
    end)

    it("drops password=... of the keyword form, quoted or not", function()
      assert.equal("host=/tmp user=gt dbname=x", pg.redact("host=/tmp password=s3cret user=gt dbname=x"))
      assert.equal("host=h user=gt", pg.redact("host=h password = 'a \\' b' user=gt"))
      assert.equal("mydb", pg.redact("mydb"))
    end)

    it("cuts a keyword form that does not parse", function()
      assert.equal("host=h ...", pg.redact("host=h oops password=s3cret"))
      assert.equal("host=h ...", pg.redact("host=h password='s3cret"))
    end)
  end)

  describe("open", function()
    pg_it("connects, names the versions, closes", function()
      local conninfo, drop = new_database()
      finally(drop)
      local db = assert(pg.open(conninfo))
      assert.equal(conninfo, db:path())
      assert.equal("gt.Pg (" .. conninfo .. ")", tostring(db))
      assert.matches("^%d+%.%d+", db:server_version())
      assert.matches("^%d+%.%d+", pg.libpq_version())
      assert.equal("gt", db:row("SELECT current_setting('application_name') AS a").a)
      assert.equal("5s", db:row("SELECT current_setting('lock_timeout') AS t").t)
      assert.equal("warning", db:row("SELECT current_setting('client_min_messages') AS m").m)
      assert.is_true(db:close())
      assert.equal("gt.Pg (closed)", tostring(db))
      assert.has_error(function() db:exec("SELECT 1") end, "attempt to use a closed ledger")
    end)

    pg_it("sets lock_timeout from busy_timeout_ms and keeps the conninfo's application_name", function()
      local db <close> = assert(pg.open(admin_info .. " application_name=mine", { busy_timeout_ms = 250 }))
      assert.equal("250ms", db:row("SELECT current_setting('lock_timeout') AS t").t)
      assert.equal("mine", db:row("SELECT current_setting('application_name') AS a").a)
    end)

    it("fails with ECONN at once, on one line, when no server listens", function()
      local dir = helpers.tmpdir("pg-down")
      local db, err, code = pg.open("host=" .. dir .. " user=gt dbname=postgres")
      assert.is_nil(db)
      assert.equal("ECONN", code)
      assert.matches("^host=" .. dir:gsub("%p", "%%%0") .. " user=gt dbname=postgres: ", err)
      assert.is_nil(err:find("\n"))
    end)

    it("never shows the password of a conninfo that fails", function()
      local dir = helpers.tmpdir("pg-down")
      local db, err, code = pg.open("postgresql://gt:s3cretpw@/postgres?host=" .. dir)
      assert.is_nil(db)
      assert.equal("ECONN", code)
      assert.is_nil(err:find("s3cretpw", 1, true))
      assert.truthy(err:find("postgresql://gt@/postgres?host=" .. dir, 1, true))
      -- libpq quotes a malformed token back: it is scrubbed
      db, err, code = pg.open("postgresql://gt:pa%zzword@/postgres?host=" .. dir)
      assert.is_nil(db)
      assert.equal("EINVALID", code)
      assert.is_nil(err:find("pa%zzword", 1, true))
      db, err = pg.open("host=" .. dir .. " password=s3cretpw user=gt")
      assert.is_nil(db)
      assert.is_nil(err:find("s3cretpw", 1, true))
    end)

    it("refuses a conninfo that does not parse with EINVALID", function()
      local db, err, code = pg.open("host=/nowhere nosuchoption=1")
      assert.is_nil(db)
      assert.equal("EINVALID", code)
      assert.equal('host=/nowhere nosuchoption=1: invalid connection option "nosuchoption"', err)
    end)

    pg_it("keeps the password out of path() once connected", function()
      local db <close> = assert(pg.open(admin_info .. " password=s3cretpw"))
      assert.is_nil(db:path():find("s3cretpw", 1, true))
      assert.is_nil(tostring(db):find("s3cretpw", 1, true))
    end)

    pg_it("fails with ENOTFOUND for a database that does not exist", function()
      local db, err, code = pg.open(admin_info .. " dbname=gt_pg_spec_no_such_db")
      assert.is_nil(db)
      assert.equal("ENOTFOUND", code)
      assert.matches('database "gt_pg_spec_no_such_db" does not exist', err)
    end)

    pg_it("fails with EACCES for a role that does not exist", function()
      local db, _, code = pg.open(admin_info .. " user=gt_pg_spec_no_such_role")
      assert.is_nil(db)
      assert.equal("EACCES", code)
    end)

    it("raises on bad options", function()
      assert.has_error(function() pg.open("x", { busy_timeout_ms = -1 }) end)
    end)
  end)

  describe("a connection", function()
    local conninfo, drop, db
    setup(function()
      if admin_info then conninfo, drop = new_database() end
    end)
    teardown(function()
      if drop then drop() end
    end)
    before_each(function()
      if admin_info then
        db = assert(pg.open(conninfo))
        assert(db:exec("DROP TABLE IF EXISTS t; DROP TABLE IF EXISTS gt_schema"))
      end
    end)
    after_each(function()
      if db then db:close() end
      db = nil
    end)

    pg_it("runs several statements in one exec, and reports failures with codes", function()
      assert.is_true(db:exec([[
        CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
        INSERT INTO t VALUES (1, 'a'); -- a comment with a ? in it
        INSERT INTO t VALUES (2, 'b')]]))
      assert.equal(2, db:row("SELECT count(*) AS n FROM t").n)
      local ok, err, code = db:exec("INSERT INTO t VALUES (1, 'dup')")
      assert.is_nil(ok)
      assert.equal("ECONSTRAINT", code)
      assert.equal(conninfo .. ': duplicate key value violates unique constraint "t_pkey"', err)
      ok, err, code = db:exec("SELEC 1")
      assert.is_nil(ok)
      assert.equal("ESQL", code)
      assert.is_nil(err:find("\n"))
      assert.same({ nil, conninfo .. ': relation "nope" does not exist', "ESQL" },
        { db:row("SELECT * FROM nope") })
    end)

    pg_it("binds ?, ?NNN and a table of values, as gt.ledger does", function()
      assert(db:exec("CREATE TABLE t (id BIGINT, f DOUBLE PRECISION, s TEXT, b BOOLEAN, i BIGINT)"))
      assert(db:exec("INSERT INTO t VALUES (?, ?, ?, ?, ?)", 2 ^ 40 | 0, 0.1, "it's a '?' \"x\"", true, nil))
      assert.same({ id = 1099511627776, f = 0.1, s = "it's a '?' \"x\"", b = true },
        db:row("SELECT * FROM t"))
      assert(db:exec("DELETE FROM t"))
      assert(db:exec("INSERT INTO t (id, s, i) VALUES (?2, ?1, ?2)", "x", 7))
      assert(db:exec("INSERT INTO t (id, s, b) VALUES (?, ?, ?)", { 8, "y", false }))
      assert.same({ { id = 7, s = "x", i = 7 }, { id = 8, s = "y", b = false } },
        collect(db:rows("SELECT id, s, b, i FROM t WHERE s <> '?' ORDER BY id")))
      -- a mark given no value is NULL; booleans are 1 and 0
      assert.same({ one = 1 }, db:row("SELECT ?::int AS one, ?::text AS none", true))
      assert.same({ n = -9007199254740993 }, db:row("SELECT ?::bigint AS n", -9007199254740993))
      -- marks in literals, identifiers, comments and $$ strings are left alone
      assert.same({ a = "?", ["?b"] = "x", c = "?", e = "$?", d = "it''s ?" },
        db:row([[SELECT '?' AS a, ? AS "?b", $q$?$q$ AS c, $$$?$$ AS e, E'it\'\'s ?' AS d /* ? */]], "x"))
    end)

    pg_it("raises on misuse of parameters", function()
      assert.has_error(function() db:row("SELECT :name", { name = 1 }) end,
        "gt.pg: named parameters are not supported")
      assert.has_error(function() db:row("SELECT ?", 1, 2) end)
      assert.has_error(function() db:row("SELECT ?::text", "a\0b") end)
      assert.has_error(function() db:row("SELECT ?0") end)
      -- a cast is not a named parameter
      assert.same({ x = 5 }, db:row("SELECT '5'::int AS x"))
    end)

    pg_it("types the columns of a row", function()
      local row = db:row([[SELECT 1::int2 AS a, 2::int4 AS b, 3000000000::int8 AS c, 1.5::float4 AS d,
        2.25::float8 AS e, 12::numeric AS f, 1.5::numeric AS g, true AS h, false AS i, 'x'::text AS j,
        NULL::text AS k, 'NaN'::float8 AS l, 99999999999999999999::numeric AS m, '{1,2}'::int[] AS n]])
      assert.equal(1, row.a); assert.equal("integer", math.type(row.a))
      assert.equal(2, row.b); assert.equal(3000000000, row.c); assert.equal("integer", math.type(row.c))
      assert.equal(1.5, row.d); assert.equal("float", math.type(row.d))
      assert.equal(2.25, row.e)
      assert.equal(12, row.f); assert.equal("integer", math.type(row.f))
      assert.equal(1.5, row.g); assert.equal("float", math.type(row.g))
      assert.is_true(row.h); assert.is_false(row.i)
      assert.equal("x", row.j)
      assert.is_nil(row.k)
      assert.is_true(row.l ~= row.l)
      assert.equal(1e20, row.m); assert.equal("float", math.type(row.m))
      assert.equal("{1,2}", row.n)
      assert.is_nil(db:row("SELECT 1 AS x WHERE false"))
    end)

    pg_it("iterates over rows, and leaves a loop early", function()
      assert(db:exec("CREATE TABLE t (id INTEGER); INSERT INTO t SELECT generate_series(1, 5)"))
      local seen = {}
      for row in db:rows("SELECT id FROM t ORDER BY id") do
        seen[#seen + 1] = row.id
        if row.id == 2 then break end
      end
      assert.same({ 1, 2 }, seen)
      assert.equal(5, #collect(db:rows("SELECT id FROM t")))
      assert.equal(3, #collect(db:rows("SELECT id FROM t WHERE id > ?", 2)))
      assert.has_error(function() for _ in db:rows("SELECT nope FROM t") do end end,
        "ledger: " .. conninfo .. ': column "nope" does not exist')
    end)

    pg_it("counts the rows changed by the latest INSERT, UPDATE or DELETE", function()
      assert(db:exec("CREATE TABLE t (id INTEGER)"))
      assert(db:exec("INSERT INTO t SELECT generate_series(1, 4)"))
      assert.equal(4, db:changes())
      assert(db:exec("UPDATE t SET id = id + 10 WHERE id > ?", 1))
      assert.equal(3, db:changes())
      assert.same({ n = 4 }, db:row("SELECT count(*) AS n FROM t"))
      assert.equal(3, db:changes())
      assert.same({ id = 12 }, db:row("DELETE FROM t WHERE id = ? RETURNING id", 12))
      assert.equal(1, db:changes())
    end)

    describe("tx", function()
      pg_it("commits what fn did and returns what it returned", function()
        assert(db:exec("CREATE TABLE t (id INTEGER)"))
        assert.same({ 1, "two" }, { db:tx(function(tx, a)
          assert.equal(db, tx)
          assert(tx:exec("INSERT INTO t VALUES (?)", a))
          return 1, "two"
        end, 5) })
        assert.is_true(db:tx(function() end))
        assert.same({ id = 5 }, db:row("SELECT id FROM t"))
        assert.equal("SERIALIZABLE", db:tx(function(tx)
          return tx:row("SELECT current_setting('transaction_isolation') AS i").i:upper()
        end))
      end)

      pg_it("rolls back and raises the very same error value when fn raises", function()
        assert(db:exec("CREATE TABLE t (id INTEGER)"))
        local e = setmetatable({}, { __name = "my error" })
        local ok, got = pcall(db.tx, db, function(tx)
          assert(tx:exec("INSERT INTO t VALUES (1)"))
          error(e)
        end)
        assert.is_false(ok)
        assert.equal(e, got)
        assert.equal(0, db:row("SELECT count(*) AS n FROM t").n)
      end)

      pg_it("returns the failure fn ignored, rolled back", function()
        assert(db:exec("CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1)"))
        local ok, err, code = db:tx(function(tx)
          assert(tx:exec("INSERT INTO t VALUES (2)"))
          tx:exec("INSERT INTO t VALUES (1)") -- fails, ignored
          tx:exec("INSERT INTO t VALUES (3)") -- "current transaction is aborted"
        end)
        assert.is_nil(ok)
        assert.equal("ECONSTRAINT", code)
        assert.matches("duplicate key", err)
        assert.equal(1, db:row("SELECT count(*) AS n FROM t").n)
      end)

      pg_it("refuses nesting and a transaction ended inside", function()
        assert.has_error(function()
          db:tx(function(tx) tx:tx(function() end) end)
        end, "ledger: transaction already open")
        assert.has_error(function()
          db:tx(function(tx) assert(tx:exec("COMMIT")) end)
        end, "ledger: the transaction ended inside tx")
        assert.is_true(db:tx(function() end))
      end)

      pg_it("runs fn again after a serialization failure", function()
        assert(db:exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER); INSERT INTO t VALUES (1, 0)"))
        local other <close> = assert(pg.open(conninfo))
        local tries = 0
        assert.equal("done", db:tx(function(tx)
          tries = tries + 1
          assert(tx:row("SELECT v FROM t WHERE id = 1"))
          if tries == 1 then assert(other:exec("UPDATE t SET v = v + 100 WHERE id = 1")) end
          assert(tx:exec("UPDATE t SET v = v + 1 WHERE id = 1")) -- 40001 on the first try
          return "done"
        end))
        assert.equal(2, tries)
        assert.equal(101, db:row("SELECT v FROM t WHERE id = 1").v)
      end)

      pg_it("runs fn again when COMMIT fails with a serialization failure (write skew)", function()
        assert(db:exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER); INSERT INTO t VALUES (1, 0), (2, 0)"))
        local other <close> = assert(pg.open(conninfo))
        local tries = 0
        assert.is_true(db:tx(function(tx)
          tries = tries + 1
          local sum = tx:row("SELECT sum(v) AS s FROM t").s
          if tries == 1 then
            assert(other:tx(function(o)
              local s = o:row("SELECT sum(v) AS s FROM t").s
              assert(o:exec("UPDATE t SET v = ? WHERE id = 1", s + 1))
            end))
          end
          -- the failure comes here or at COMMIT; ignoring it must retry too
          tx:exec("UPDATE t SET v = ? WHERE id = 2", sum + 1)
        end))
        assert.equal(2, tries)
        assert.same({ { id = 1, v = 1 }, { id = 2, v = 2 } }, collect(db:rows("SELECT * FROM t ORDER BY id")))
      end)

      pg_it("gives up with EBUSY after twice busy_timeout_ms", function()
        assert(db:exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER); INSERT INTO t VALUES (1, 0)"))
        local quick <close> = assert(pg.open(conninfo, { busy_timeout_ms = 20 }))
        local other <close> = assert(pg.open(conninfo))
        local tries = 0
        local ok, err, code = quick:tx(function(tx)
          tries = tries + 1
          assert(tx:row("SELECT v FROM t WHERE id = 1"))
          assert(other:exec("UPDATE t SET v = v + 1 WHERE id = 1"))
          assert(tx:exec("UPDATE t SET v = 0 WHERE id = 1"))
        end)
        assert.is_nil(ok)
        assert.equal("EBUSY", code)
        assert.matches("could not serialize access .* %(gave up after %d+ tries%)$", err)
        assert.truthy(tries >= 2)
        assert.equal(tries, db:row("SELECT v FROM t WHERE id = 1").v)
      end)
    end)

    describe("migrate", function()
      local schema = {
        "CREATE TABLE t (id INTEGER PRIMARY KEY)",
        function(m) assert(m:exec("ALTER TABLE t ADD COLUMN name TEXT")) end,
      }

      pg_it("brings a new database up to #migrations, once", function()
        assert.equal(0, db:user_version())
        assert.is_true(db:migrate(schema))
        assert.equal(2, db:user_version())
        assert(db:exec("INSERT INTO t (id, name) VALUES (1, 'a')"))
        assert.is_true(db:migrate(schema))
        assert.equal(2, db:user_version())
        assert.equal(1, db:row("SELECT count(*) AS n FROM gt_schema").n)
      end)

      pg_it("refuses a database newer than this gt with ENEWER", function()
        assert(db:migrate(schema))
        local ok, err, code = db:migrate({ schema[1] })
        assert.is_nil(ok)
        assert.equal("ENEWER", code)
        assert.equal(conninfo .. ": schema version 2 is newer than this gt knows (1)", err)
      end)

      pg_it("leaves the version of the last good migration when one fails", function()
        local ok, err, code = db:migrate({ schema[1], "ALTER TABLE nope ADD COLUMN x INTEGER", schema[2] })
        assert.is_nil(ok)
        assert.equal("ESQL", code)
        assert.equal(conninfo .. ': migration 2: relation "nope" does not exist', err)
        assert.equal(1, db:user_version())
        local e = {}
        assert.equal(e, select(2, pcall(db.migrate, db, { schema[1], function() error(e) end })))
        assert.equal(1, db:user_version())
        assert.is_true(db:migrate(schema))
        assert.equal(2, db:user_version())
      end)
    end)

    describe("prepared statements", function()
      before_each(function()
        if db then assert(db:exec("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")) end
      end)

      -- The statements this session has prepared on the server.
      local function prepared()
        return db:row("SELECT count(*) AS n FROM pg_prepared_statements").n
      end

      pg_it("bind, exec, step and rows", function()
        local ins <close> = assert(db:prepare("INSERT INTO t VALUES (?, ?)"))
        assert.equal("gt.PgStatement (INSERT INTO t VALUES (?, ?))", tostring(ins))
        assert.equal(ins, ins:bind("a", 1))
        assert.is_true(ins:exec())           -- the bound values
        assert.equal(1, db:changes())
        assert.is_true(ins:exec("b", 2))      -- new values
        assert.is_true(ins:exec({ "c", 3 }))
        local ok, err, code = ins:exec("a", 9)
        assert.is_nil(ok)
        assert.equal("ECONSTRAINT", code)
        assert.equal(conninfo .. ': duplicate key value violates unique constraint "t_pkey"', err)

        local sel <close> = assert(db:prepare("SELECT k, v FROM t WHERE v >= ? ORDER BY k"))
        sel:bind({ 2 })
        assert.same({ k = "b", v = 2 }, sel:step())
        assert.same({ k = "c", v = 3 }, sel:step())
        assert.is_false(sel:step())
        assert.same({ k = "b", v = 2 }, sel:step()) -- starts over
        assert.same({ { k = "a", v = 1 }, { k = "b", v = 2 }, { k = "c", v = 3 } },
          collect(sel:rows(0)))
        assert.same({ { k = "c", v = 3 } }, collect(sel:rows({ 3 })))
        assert.same({ { k = "c", v = 3 } }, collect(sel:rows())) -- keeps the bound values
        sel:bind()                                                -- all NULL
        assert.is_false(sel:step())
      end)

      pg_it("the first step runs the statement, later ones walk its result", function()
        local ins <close> = assert(db:prepare("INSERT INTO t VALUES (?, ?)"))
        ins:bind("a", 1)
        assert.is_false(ins:step()) -- ran, no rows
        assert.equal(1, db:row("SELECT count(*) AS n FROM t").n)
        local sel <close> = assert(db:prepare("SELECT k FROM t ORDER BY k"))
        assert.same({ k = "a" }, sel:step())
        assert(db:exec("INSERT INTO t VALUES ('b', 2)"))
        assert.is_false(sel:step())   -- the result of the first run
        assert.same({ k = "a" }, sel:step())
        assert.same({ k = "b" }, sel:step())
        assert.is_false(sel:step())
      end)

      pg_it("stmt:rows resets the statement on break instead of finalizing it", function()
        for i = 1, 3 do assert(db:exec("INSERT INTO t VALUES (?, ?)", "k" .. i, i)) end
        local sel <close> = assert(db:prepare("SELECT k FROM t ORDER BY k"))
        local seen = {}
        for row in sel:rows() do
          seen[#seen + 1] = row.k
          if #seen == 1 then break end
        end
        assert.same({ "k1" }, seen)
        assert.is_true(db:exec("INSERT INTO t VALUES ('k0', 0)")) -- sorts first
        assert.same({ k = "k0" }, sel:step())
        assert.equal(sel, sel:reset())
        assert.same({ k = "k0" }, sel:step())
        assert.has_error(function() for _ in sel:rows() do error("in the loop") end end)
        assert.same({ k = "k0" }, sel:step()) -- reset by the error too
      end)

      pg_it("step returns nil, err, code on failure, and rows raises", function()
        local st <close> = assert(db:prepare("SELECT abs(?::bigint) AS x"))
        st:bind(math.mininteger)
        local ok, err, code = st:step()
        assert.is_nil(ok)
        assert.equal("ESQL", code)
        assert.equal(conninfo .. ": bigint out of range", err)
        assert.has_error(function() for _ in st:rows() do end end,
          "ledger: " .. conninfo .. ": bigint out of range")
        st:bind(-3)
        assert.same({ x = 3 }, st:step())
      end)

      pg_it("prepare returns nil, err, code when the server refuses the SQL", function()
        local st, err, code = db:prepare("SELECT * FROM nope")
        assert.is_nil(st)
        assert.equal("ESQL", code)
        assert.equal(conninfo .. ': relation "nope" does not exist', err)
        assert.equal("ESQL", select(3, db:prepare("SELECT 1; SELECT 2")))
        assert.has_error(function() db:prepare("SELECT :name") end,
          "gt.pg: named parameters are not supported")
      end)

      pg_it("finalize deallocates it, and is allowed after the connection is closed", function()
        local before = prepared()
        local st = assert(db:prepare("SELECT 1 AS one"))
        assert.equal(before + 1, prepared())
        assert.is_true(st:finalize())
        assert.equal(before, prepared())
        assert.equal("gt.PgStatement (finalized)", tostring(st))
        assert.error_matches(function() st:step() end, "attempt to use a finalized statement")
        assert.error_matches(function() st:finalize() end, "attempt to use a finalized statement")
        do
          local _ <close> = assert(db:prepare("SELECT 2 AS two"))
          assert.equal(before + 1, prepared())
        end
        assert.equal(before, prepared())
        local conn = assert(pg.open(conninfo))
        local other = assert(conn:prepare("SELECT 1 AS one"))
        assert.is_true(conn:close())
        assert.error_matches(function() other:step() end, "attempt to use a closed ledger")
        assert.error_matches(function() other:exec() end, "attempt to use a closed ledger")
        assert.is_true(other:finalize())
      end)

      pg_it("keeps its connection alive", function()
        local st = assert(assert(pg.open(conninfo)):prepare("SELECT 1 AS one"))
        collectgarbage()
        collectgarbage()
        assert.same({ one = 1 }, st:step())
        assert.is_true(st:finalize())
      end)

      pg_it("stays valid when the transaction it was prepared in rolls back", function()
        local st
        local e = {}
        assert.equal(e, select(2, pcall(db.tx, db, function(tx)
          st = assert(tx:prepare("INSERT INTO t VALUES (?, ?) RETURNING k"))
          assert.same({ k = "a" }, st:bind("a", 1):step())
          error(e)
        end)))
        assert.equal(0, db:row("SELECT count(*) AS n FROM t").n)
        assert.same({ k = "b" }, st:bind("b", 2):step())
        assert.is_true(st:exec("c", 3))
        assert.same({ { k = "b" }, { k = "c" } }, collect(db:rows("SELECT k FROM t ORDER BY k")))
        assert.is_true(st:finalize())
      end)

      pg_it("a serialization failure in step or exec makes tx run fn again", function()
        assert(db:exec("INSERT INTO t VALUES ('x', 0)"))
        local get <close> = assert(db:prepare("SELECT v FROM t WHERE k = ?"))
        local add <close> = assert(db:prepare("UPDATE t SET v = v + ? WHERE k = ?"))
        local other <close> = assert(pg.open(conninfo))
        local tries = 0
        assert.equal("done", db:tx(function()
          tries = tries + 1
          assert(get:bind("x"):step())
          if tries == 1 then assert(other:exec("UPDATE t SET v = v + 100 WHERE k = 'x'")) end
          add:exec(1, "x") -- 40001 on the first try, ignored: tx must still retry
          return "done"
        end))
        assert.equal(2, tries)
        assert.equal(101, db:row("SELECT v FROM t WHERE k = 'x'").v)
        tries = 0
        assert.is_true(db:tx(function()
          tries = tries + 1
          assert(get:bind("x"):step())
          get:reset()
          if tries == 1 then assert(other:exec("UPDATE t SET v = v + 100 WHERE k = 'x'")) end
          local ok, _, code = add:bind(1, "x"):step()
          if tries == 1 then assert.is_nil(ok); assert.equal("ESERIAL", code) end
        end))
        assert.equal(2, tries)
        assert.equal(202, db:row("SELECT v FROM t WHERE k = 'x'").v)
      end)

      pg_it("raises on misuse", function()
        local st <close> = assert(db:prepare("INSERT INTO t VALUES (?, ?)"))
        assert.error_matches(function() st:exec(1, print) end,
          "bad argument #2 to 'exec' (unsupported parameter type: function for ?2)", nil, true)
        assert.error_matches(function() st:bind({ "a", {} }) end,
          "bad argument #1 to 'bind' (unsupported parameter type: table for ?2)", nil, true)
        assert.error_matches(function() st:exec("a", 1, 2) end,
          "bad argument #3 to 'exec' (more values than the statement's 2 parameters)", nil, true)
        assert.error_matches(function() st.step(db) end, "gt.PgStatement expected, got gt.Pg")
        assert.error_matches(function() db.prepare(st, "SELECT 1") end, "gt.Pg expected, got gt.PgStatement")
        assert.error_matches(function() db:prepare({}) end,
          "bad argument #1 to 'prepare' (string expected, got table)", nil, true)
        assert.equal(0, db:row("SELECT count(*) AS n FROM t").n) -- nothing was inserted
      end)
    end)

    pg_it("fails with ECONN, and stays failed, once the server drops the connection", function()
      local pid = db:row("SELECT pg_backend_pid() AS pid").pid
      local admin <close> = assert(pg.open(admin_info))
      assert.is_true(admin:row("SELECT pg_terminate_backend(?, 5000) AS ok", pid).ok)
      local ok, err, code = db:exec("SELECT 1")
      assert.is_nil(ok)
      assert.equal("ECONN", code)
      assert.matches("^" .. conninfo:gsub("%p", "%%%0") .. ": lost the connection to the ledger server %(", err)
      assert.is_nil(err:find("\n"))
      assert.equal("ECONN", select(3, db:row("SELECT 1")))
      assert.equal("ECONN", select(3, db:tx(function() end)))
    end)
  end)
end)
