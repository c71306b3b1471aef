local ledger = require("gt.ledger")
local sys = require("gt.sys")
local helpers = require("helpers")

-- Starts `gt -l <script> args...` in the background; io.popen's close waits for it.
local function spawn(dir, name, source, ...)
  local script = dir .. "/" .. name .. ".lua"
  helpers.write(script, source)
  return assert(io.popen(table.concat({ gt.executable, "-l", script, ... }, " "), "r"))
end

local function wait_for_file(path, content)
  local deadline = sys.clock_ms() + 5000
  while helpers.read(path) ~= content and sys.clock_ms() < deadline do sys.sleep_ms(5) end
  assert.equal(content, helpers.read(path))
end

local function collect(iter, ...)
  local out = {}
  for row in iter, ... do out[#out + 1] = row end
  return out
end

describe("gt.ledger", function()
  local dir, path, db
  before_each(function()
    dir = helpers.tmpdir("ledger")
    path = dir .. "/ledger.db"
    db = assert(ledger.open(path))
  end)
  after_each(function()
    if tostring(db) ~= "gt.Ledger (closed)" then db:close() end
  end)

  describe("open", function()
    it("creates a WAL database with foreign keys on and synchronous FULL", function()
      assert.is_true(helpers.exists(path))
      assert.equal("wal", db:row("PRAGMA journal_mode").journal_mode)
      assert.equal(1, db:row("PRAGMA foreign_keys").foreign_keys)
      assert.equal(2, db:row("PRAGMA synchronous").synchronous)
      assert.equal("gt.Ledger (" .. path .. ")", tostring(db))
      assert.equal(path, db:path())
      assert.is_true(db:close())
      assert.equal("gt.Ledger (closed)", tostring(db))
    end)

    it("names the sqlite version it runs with", function()
      assert.matches("^3%.%d+%.%d+$", ledger.sqlite_version())
      assert.equal(ledger.sqlite_version(), db:row("SELECT sqlite_version() AS v").v)
    end)

    it("sets synchronous NORMAL when asked", function()
      local other <close> = assert(ledger.open(path, { synchronous = "NORMAL" }))
      assert.equal(1, other:row("PRAGMA synchronous").synchronous)
    end)

    it("opens read-only: reads work, writes fail with EACCES", function()
      assert(db:exec("CREATE TABLE t (x); INSERT INTO t VALUES (1)"))
      local ro <close> = assert(ledger.open(path, { readonly = true }))
      assert.same({ x = 1 }, ro:row("SELECT x FROM t"))
      local ok, err, code = ro:exec("INSERT INTO t VALUES (2)")
      assert.is_nil(ok)
      assert.equal("EACCES", code)
      assert.equal(path .. ": attempt to write a readonly database", err)
    end)

    it("fails read-only on a missing file with ENOTFOUND, creating nothing", function()
      local ok, err, code = ledger.open(dir .. "/missing.db", { readonly = true })
      assert.is_nil(ok)
      assert.equal("ENOTFOUND", code)
      assert.equal(dir .. "/missing.db: unable to open database file", err)
      assert.is_false(helpers.exists(dir .. "/missing.db"))
    end)

    it("fails in a missing folder with ENOTFOUND", function()
      local ok, err, code = ledger.open(dir .. "/nope/x.db")
      assert.is_nil(ok)
      assert.equal("ENOTFOUND", code)
      assert.equal(dir .. "/nope/x.db: unable to open database file", err)
    end)

    it("fails on a file that is not a database with ECORRUPT", function()
      helpers.write(dir .. "/junk.db", string.rep("not sqlite ", 200))
      local ok, err, code = ledger.open(dir .. "/junk.db")
      assert.is_nil(ok)
      assert.equal("ECORRUPT", code)
      assert.equal(dir .. "/junk.db: file is not a database", err)
    end)

    it("refuses a database that cannot use WAL", function()
      local ok, err, code = ledger.open(":memory:")
      assert.is_nil(ok)
      assert.equal("EIO", code)
      assert.equal(":memory:: cannot use WAL (journal_mode is memory)", err)
    end)
  end)

  describe("exec", function()
    before_each(function()
      assert.is_true(db:exec([[
        CREATE TABLE kv (k TEXT PRIMARY KEY, v);
        CREATE TABLE log (msg TEXT);
      ]]))
    end)

    it("runs every statement of a script without parameters", function()
      assert.is_true(db:exec("INSERT INTO kv VALUES ('a', 1); INSERT INTO kv VALUES ('b', 2);"))
      assert.equal(2, db:row("SELECT count(*) AS n FROM kv").n)
    end)

    it("binds positional parameters, ? and ?NNN", function()
      assert.is_true(db:exec("INSERT INTO kv VALUES (?, ?)", "a", 1))
      assert.is_true(db:exec("INSERT INTO kv VALUES (?2, ?1)", 2, "b"))
      assert.is_true(db:exec("INSERT INTO kv VALUES (?, ?)", { "c", 3 }))
      assert.same({ { k = "a", v = 1 }, { k = "b", v = 2 }, { k = "c", v = 3 } },
        collect(db:rows("SELECT k, v FROM kv ORDER BY k")))
    end)

    it("binds named parameters :name, @name and $name from a table", function()
      assert.is_true(db:exec("INSERT INTO kv VALUES (:k, :v)", { k = "a", v = 1 }))
      assert.is_true(db:exec("INSERT INTO kv VALUES (@k, $v)", { k = "b", v = 2, extra = "ignored" }))
      assert.is_true(db:exec("INSERT INTO kv VALUES (:k, :v)", { k = "c" })) -- absent: NULL
      assert.same({ { k = "a", v = 1 }, { k = "b", v = 2 }, { k = "c" } },
        collect(db:rows("SELECT k, v FROM kv ORDER BY k")))
    end)

    it("binds missing positional values as NULL", function()
      assert.is_true(db:exec("INSERT INTO kv VALUES (?, ?)", "a"))
      assert.same({ k = "a" }, db:row("SELECT k, v FROM kv"))
    end)

    it("steps statements that return rows to completion", function()
      assert.is_true(db:exec("INSERT INTO kv VALUES ('a', 1), ('b', 2)"))
      assert.is_true(db:exec("SELECT * FROM kv WHERE v > ?", 0))
      assert.is_true(db:exec("UPDATE kv SET v = v + ? RETURNING k", 10))
      assert.same({ { v = 11 }, { v = 12 } }, collect(db:rows("SELECT v FROM kv ORDER BY v")))
    end)

    it("reports changes and the last inserted rowid", function()
      assert.is_true(db:exec("INSERT INTO log VALUES ('x'), ('y'), ('z')"))
      assert.equal(3, db:changes())
      assert.equal(3, db:last_insert_id())
      assert.is_true(db:exec("DELETE FROM log WHERE msg <> ?", "x"))
      assert.equal(2, db:changes())
      assert.equal("integer", math.type(db:changes()))
    end)

    it("returns ECONSTRAINT on a constraint violation", function()
      assert.is_true(db:exec("INSERT INTO kv VALUES (?, ?)", "a", 1))
      local ok, err, code = db:exec("INSERT INTO kv VALUES (?, ?)", "a", 2)
      assert.is_nil(ok)
      assert.equal("ECONSTRAINT", code)
      assert.equal(path .. ": UNIQUE constraint failed: kv.k", err)
      ok, err, code = db:exec("INSERT INTO kv VALUES ('a', 3)")
      assert.is_nil(ok)
      assert.equal("ECONSTRAINT", code)
      assert.equal(path .. ": UNIQUE constraint failed: kv.k", err)
    end)

    it("returns ESQL on a syntax error, with or without parameters", function()
      local ok, err, code = db:exec("SELEKT 1")
      assert.is_nil(ok)
      assert.equal("ESQL", code)
      assert.equal(path .. ': near "SELEKT": syntax error', err)
      ok, err, code = db:exec("SELEKT ?", 1)
      assert.is_nil(ok)
      assert.equal("ESQL", code)
      assert.equal(path .. ': near "SELEKT": syntax error', err)
    end)

    it("enforces foreign keys", function()
      assert(db:exec([[
        CREATE TABLE parent (id INTEGER PRIMARY KEY);
        CREATE TABLE child (parent_id INTEGER REFERENCES parent (id));
      ]]))
      local ok, err, code = db:exec("INSERT INTO child VALUES (?)", 7)
      assert.is_nil(ok)
      assert.equal("ECONSTRAINT", code)
      assert.equal(path .. ": FOREIGN KEY constraint failed", err)
    end)
  end)

  describe("values", function()
    before_each(function()
      assert(db:exec("CREATE TABLE v (a, b, c, d, e)")) -- no affinity: values keep their type
    end)

    it("round-trip integers, floats, strings with zero bytes, booleans and NULL", function()
      assert(db:exec("INSERT INTO v VALUES (?, ?, ?, ?, ?)", 42, 2.5, "a\0b", true, nil))
      assert(db:exec("INSERT INTO v VALUES (?, ?, ?, ?, ?)", math.maxinteger, 3.0, "", false,
        math.mininteger))
      local rows = collect(db:rows("SELECT * FROM v ORDER BY rowid"))
      assert.same({ a = 42, b = 2.5, c = "a\0b", d = 1 }, rows[1])
      assert.equal("integer", math.type(rows[1].a))
      assert.equal("float", math.type(rows[1].b))
      assert.equal(3, #rows[1].c)
      assert.is_nil(rows[1].e)
      assert.equal(math.maxinteger, rows[2].a)
      assert.equal("float", math.type(rows[2].b))
      assert.equal(3.0, rows[2].b)
      assert.equal("", rows[2].c)
      assert.equal(0, rows[2].d)
      assert.equal(math.mininteger, rows[2].e)
    end)

    it("returns text and blobs as strings, and types computed in SQL", function()
      local row = db:row("SELECT X'00FF' AS blob, 'é' AS text, 1 + 1 AS int, 1 / 2.0 AS real, NULL AS n")
      assert.same({ blob = "\0\255", text = "é", int = 2, real = 0.5 }, row)
    end)
  end)

  describe("row and rows", function()
    before_each(function()
      assert(db:exec("CREATE TABLE t (n INTEGER)"))
      for i = 1, 5 do assert(db:exec("INSERT INTO t VALUES (?)", i)) end
    end)

    it("row returns the first row, or nil when there is none", function()
      assert.same({ n = 2 }, db:row("SELECT n FROM t WHERE n > ? ORDER BY n", 1))
      local row, err = db:row("SELECT n FROM t WHERE n > ?", 99)
      assert.is_nil(row)
      assert.is_nil(err)
      local ok, msg, code = db:row("SELECT nope FROM t")
      assert.is_nil(ok)
      assert.equal("ESQL", code)
      assert.equal(path .. ": no such column: nope", msg)
    end)

    it("rows iterates in order with parameters", function()
      local seen = {}
      for row in db:rows("SELECT n FROM t WHERE n >= :min ORDER BY n", { min = 3 }) do
        seen[#seen + 1] = row.n
      end
      assert.same({ 3, 4, 5 }, seen)
    end)

    it("a live statement keeps the table locked (what the next test relies on)", function()
      local st <close> = assert(db:prepare("SELECT n FROM t"))
      assert.truthy(st:step())
      local ok, err, code = db:exec("DROP TABLE t")
      assert.is_nil(ok)
      assert.equal("EBUSY", code)
      assert.equal(path .. ": database table is locked", err)
    end)

    it("break finalizes the statement of a rows loop", function()
      for _ in db:rows("SELECT n FROM t") do break end
      assert.is_true(db:exec("DROP TABLE t"))
      assert.is_true(db:close())
    end)

    it("an error in the loop body finalizes the statement too", function()
      local marker = {}
      local ok, err = pcall(function()
        for _ in db:rows("SELECT n FROM t") do error(marker) end
      end)
      assert.is_false(ok)
      assert.is_true(rawequal(marker, err))
      assert.is_true(db:exec("DROP TABLE t"))
    end)

    it("rows raises 'ledger: <message>' on any sqlite failure", function()
      assert.error_matches(function()
        for _ in db:rows("SELECT * FROM nope") do end
      end, "ledger: no such table: nope$")
      assert.error_matches(function()
        for _ in db:rows("SELECT abs(-9223372036854775807 - 1) AS x FROM t") do end
      end, "ledger: integer overflow$")
      assert.is_true(db:exec("DROP TABLE t")) -- the failed statement is gone
    end)
  end)

  describe("tx", function()
    before_each(function()
      assert(db:exec("CREATE TABLE t (s TEXT UNIQUE)"))
    end)

    it("commits when fn returns, and returns what it returns", function()
      local a, b = db:tx(function(tx, x, y)
        assert.equal(db, tx)
        assert(tx:exec("INSERT INTO t VALUES (?)", x))
        return x .. y, 7
      end, "p", "q")
      assert.equal("pq", a)
      assert.equal(7, b)
      assert.is_true(db:tx(function() end))
      assert.same({ s = "p" }, db:row("SELECT s FROM t"))
    end)

    it("rolls back and raises the very same error value", function()
      local e = { reason = "boom" }
      local ok, err = pcall(db.tx, db, function(tx)
        assert(tx:exec("INSERT INTO t VALUES ('gone')"))
        error(e)
      end)
      assert.is_false(ok)
      assert.is_true(rawequal(e, err))
      ok, err = pcall(db.tx, db, function() error("plain", 0) end)
      assert.is_false(ok)
      assert.equal("plain", err)
      assert.is_nil(db:row("SELECT s FROM t"))
      assert.is_true(db:tx(function() end)) -- no transaction was left open
    end)

    it("raises on a nested transaction, rolling back the outer one", function()
      assert.error_matches(function()
        db:tx(function(tx)
          assert(tx:exec("INSERT INTO t VALUES ('outer')"))
          tx:tx(function() end)
        end)
      end, "ledger: transaction already open")
      assert.is_nil(db:row("SELECT s FROM t"))
    end)

    it("returns the COMMIT failure and rolls back", function()
      assert(db:exec([[
        CREATE TABLE parent (id INTEGER PRIMARY KEY);
        CREATE TABLE child (parent_id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
      ]]))
      local ok, err, code = db:tx(function(tx)
        assert(tx:exec("INSERT INTO child VALUES (?)", 7)) -- checked at COMMIT
        assert(tx:exec("INSERT INTO t VALUES ('gone')"))
      end)
      assert.is_nil(ok)
      assert.equal("ECONSTRAINT", code)
      assert.equal(path .. ": FOREIGN KEY constraint failed", err)
      assert.is_nil(db:row("SELECT * FROM child"))
      assert.is_nil(db:row("SELECT s FROM t"))
      assert.is_true(db:tx(function() end))
    end)

    it("gives up with EBUSY after 2 x busy_timeout, and waits with a longer one", function()
      local child = spawn(dir, "hold", ([[
        local db = assert(require("gt.ledger").open(%q))
        assert(db:exec("BEGIN IMMEDIATE"))
        assert(db:exec("INSERT INTO t VALUES ('child')"))
        local f = assert(io.open(%q, "w")); f:write("held\n"); f:close()
        require("gt.sys").sleep_ms(1500)
        assert(db:exec("COMMIT"))
      ]]):format(path, dir .. "/held"))
      wait_for_file(dir .. "/held", "held\n")

      local impatient <close> = assert(ledger.open(path, { busy_timeout_ms = 100 }))
      local t0 = sys.clock_ms()
      local ok, err, code = impatient:tx(function(tx) assert(tx:exec("INSERT INTO t VALUES ('a')")) end)
      local waited = sys.clock_ms() - t0
      assert.is_nil(ok)
      assert.equal("EBUSY", code)
      assert.equal(path .. ": database is locked", err)
      assert.is_true(waited >= 190 and waited < 1000, "waited " .. waited .. " ms")

      local patient <close> = assert(ledger.open(path, { busy_timeout_ms = 10000 }))
      assert.is_true(patient:tx(function(tx) assert(tx:exec("INSERT INTO t VALUES ('b')")) end))
      assert.is_true(sys.clock_ms() - t0 >= 1000, "the writer did not wait for the holder")
      assert.is_true(child:close())
      assert.same({ { s = "b" }, { s = "child" } }, collect(db:rows("SELECT s FROM t ORDER BY s")))
    end)

    it("4 processes x 200 transactions with the default timeout all succeed", function()
      assert(db:exec("CREATE TABLE w (worker INTEGER, i INTEGER, UNIQUE (worker, i))"))
      local source = ([[
        local db = assert(require("gt.ledger").open(%q))
        local worker, failures = tonumber(arg[1]), 0
        for i = 1, 200 do
          local ok, err = db:tx(function(tx)
            assert(tx:exec("INSERT INTO w VALUES (?, ?)", worker, i))
          end)
          if not ok then failures = failures + 1; io.stderr:write(err, "\n") end
        end
        io.write(failures)
      ]]):format(path)
      local children = {}
      -- One script file per worker: rewriting a shared one could truncate it under a starting child.
      for worker = 1, 4 do children[worker] = spawn(dir, "writer" .. worker, source, worker) end
      for worker = 1, 4 do
        assert.equal("0", children[worker]:read("a"))
        assert.is_true(children[worker]:close())
      end
      assert.equal(800, db:row("SELECT count(*) AS n FROM w").n)
      assert.equal(4, db:row("SELECT count(DISTINCT worker) AS n FROM w").n)
    end)
  end)

  describe("migrate", function()
    local migrations
    before_each(function()
      migrations = {
        "CREATE TABLE a (x INTEGER); CREATE TABLE b (y TEXT);",
        function(tx) assert(tx:exec("INSERT INTO a VALUES (?)", 1)) end,
        "INSERT INTO a VALUES (2)",
      }
    end)

    local function tables()
      local names = {}
      for row in db:rows("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name") do
        names[#names + 1] = row.name
      end
      return names
    end

    it("applies migrations in order and sets user_version", function()
      assert.equal(0, db:user_version())
      assert.is_true(db:migrate(migrations))
      assert.equal(3, db:user_version())
      assert.same({ { x = 1 }, { x = 2 } }, collect(db:rows("SELECT x FROM a ORDER BY rowid")))
    end)

    it("is idempotent and applies only the new ones", function()
      assert.is_true(db:migrate({ migrations[1] }))
      assert.equal(1, db:user_version())
      assert.is_true(db:migrate(migrations))
      assert.is_true(db:migrate(migrations))
      assert.equal(3, db:user_version())
      assert.equal(2, db:row("SELECT count(*) AS n FROM a").n)
    end)

    it("stops at a failing migration, leaving the last good version", function()
      migrations[4] = "CREATE TABLE c (z); INSERT INTO nope VALUES (1);"
      migrations[5] = "CREATE TABLE d (z)"
      local ok, err, code = db:migrate(migrations)
      assert.is_nil(ok)
      assert.equal("ESQL", code)
      assert.equal(path .. ": migration 4: no such table: nope", err)
      assert.equal(3, db:user_version())
      assert.same({ "a", "b" }, tables()) -- c was rolled back with its migration
    end)

    it("rolls back a migration function that raises and raises its error", function()
      local e = {}
      migrations[4] = function(tx)
        assert(tx:exec("CREATE TABLE c (z)"))
        error(e)
      end
      local ok, err = pcall(db.migrate, db, migrations)
      assert.is_false(ok)
      assert.is_true(rawequal(e, err))
      assert.equal(3, db:user_version())
      assert.same({ "a", "b" }, tables())
      assert.is_true(db:tx(function() end))
    end)

    it("refuses a newer schema with ENEWER", function()
      assert.is_true(db:migrate(migrations))
      local ok, err, code = db:migrate({ migrations[1], migrations[2] })
      assert.is_nil(ok)
      assert.equal("ENEWER", code)
      assert.equal(path .. ": schema version 3 is newer than this gt knows (2)", err)
      assert.equal(3, db:user_version())
    end)

    it("raises on migrations that are neither SQL nor functions", function()
      assert.error_matches(function() db:migrate({ "CREATE TABLE a (x)", 42 }) end,
        "bad argument #1 to 'migrate' (migration 2 is a number, expected string or function)", nil, true)
      assert.equal(0, db:user_version())
      assert.error_matches(function() db:migrate("CREATE TABLE a (x)") end,
        "bad argument #1 to 'migrate' (table expected, got string)", nil, true)
    end)
  end)

  describe("prepared statements", function()
    before_each(function()
      assert(db:exec("CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER)"))
    end)

    it("bind, exec, step and rows", function()
      local ins <close> = assert(db:prepare("INSERT INTO kv VALUES (?, ?)"))
      assert.equal("gt.Statement (INSERT INTO kv VALUES (?, ?))", tostring(ins))
      assert.equal(ins, ins:bind("a", 1))
      assert.is_true(ins:exec())          -- the bound values
      assert.is_true(ins:exec("b", 2))     -- new values
      assert.is_true(ins:exec({ "c", 3 }))
      local ok, err, code = ins:exec("a", 9)
      assert.is_nil(ok)
      assert.equal("ECONSTRAINT", code)
      assert.equal(path .. ": UNIQUE constraint failed: kv.k", err)

      local sel <close> = assert(db:prepare("SELECT k, v FROM kv WHERE v >= :min ORDER BY k"))
      sel:bind({ min = 2 })
      assert.same({ k = "b", v = 2 }, sel:step())
      assert.same({ k = "c", v = 3 }, sel:step())
      assert.is_false(sel:step())
      assert.same({ { k = "a", v = 1 }, { k = "b", v = 2 }, { k = "c", v = 3 } },
        collect(sel:rows({ min = 0 })))
      assert.same({ { k = "c", v = 3 } }, collect(sel:rows({ min = 3 })))
      assert.same({ { k = "c", v = 3 } }, collect(sel:rows())) -- keeps the bound values
    end)

    it("stmt:rows resets the statement on break instead of finalizing it", function()
      for i = 1, 3 do assert(db:exec("INSERT INTO kv VALUES (?, ?)", "k" .. i, i)) end
      local sel <close> = assert(db:prepare("SELECT k FROM kv ORDER BY k"))
      for row in sel:rows() do
        assert.equal("k1", row.k)
        break
      end
      assert.is_true(db:exec("INSERT INTO kv VALUES ('k0', 0)")) -- sorts first
      assert.same({ k = "k0" }, sel:step())
      assert.equal(sel, sel:reset())
      assert.same({ k = "k0" }, sel:step())
    end)

    it("step returns nil, err, code on failure", function()
      local st <close> = assert(db:prepare("SELECT abs(?) AS x"))
      st:bind(math.mininteger)
      local ok, err, code = st:step()
      assert.is_nil(ok)
      assert.equal("ESQL", code)
      assert.equal(path .. ": integer overflow", err)
      st:bind(-3)
      assert.same({ x = 3 }, st:step())
    end)

    it("prepare returns nil, err, code on bad SQL", function()
      local st, err, code = db:prepare("SELECT * FROM nope")
      assert.is_nil(st)
      assert.equal("ESQL", code)
      assert.equal(path .. ": no such table: nope", err)
    end)

    it("finalize ends it, and is allowed after the ledger is closed", function()
      local st = assert(db:prepare("SELECT 1 AS one"))
      assert.is_true(st:finalize())
      assert.equal("gt.Statement (finalized)", tostring(st))
      assert.error_matches(function() st:step() end, "attempt to use a finalized statement")
      assert.error_matches(function() st:finalize() end, "attempt to use a finalized statement")
      local other = assert(db:prepare("SELECT 1 AS one"))
      assert.is_true(db:close())
      assert.error_matches(function() other:step() end, "attempt to use a closed ledger")
      assert.is_true(other:finalize())
    end)

    it("keeps its ledger alive", function()
      local st = assert(assert(ledger.open(path)):prepare("SELECT 1 AS one"))
      collectgarbage()
      collectgarbage()
      assert.same({ one = 1 }, st:step())
    end)
  end)

  describe("misuse", function()
    before_each(function()
      assert(db:exec("CREATE TABLE t (a, b)"))
    end)

    it("raises on bad open arguments", function()
      assert.error_matches(function() ledger.open({}) end,
        "bad argument #1 to 'open' (string expected, got table)", nil, true)
      assert.error_matches(function() ledger.open(path, { busy_timeout_ms = -1 }) end,
        "busy_timeout_ms must be >= 0")
      assert.error_matches(function() ledger.open(path, { busy_timeout_ms = "long" }) end,
        "bad option 'busy_timeout_ms'")
      assert.error_matches(function() ledger.open(path, { synchronous = "OFF" }) end,
        'synchronous must be "FULL" or "NORMAL"', nil, true)
      assert.error_matches(function() ledger.open(path, { readonly = "yes" }) end,
        "bad option 'readonly'")
    end)

    it("raises on unsupported parameter types", function()
      assert.error_matches(function() db:exec("INSERT INTO t VALUES (?, ?)", 1, print) end,
        "bad argument #3 to 'exec' (unsupported parameter type: function)", nil, true)
      assert.error_matches(function() db:exec("INSERT INTO t VALUES (?, ?)", {}, 1) end,
        "bad argument #2 to 'exec' (unsupported parameter type: table)", nil, true)
      assert.error_matches(function() db:exec("INSERT INTO t VALUES (:a, :b)", { a = {} }) end,
        "bad argument #2 to 'exec' (unsupported parameter type: table for :a)", nil, true)
      assert.error_matches(function() db:row("SELECT ?", { io.stdout }) end,
        "bad argument #2 to 'row' (unsupported parameter type: userdata for ?1)", nil, true)
      assert.error_matches(function() for _ in db:rows("SELECT ?", coroutine.create(print)) do end end,
        "bad argument #2 to 'rows' (unsupported parameter type: thread)", nil, true)
      assert.is_nil(db:row("SELECT * FROM t")) -- nothing was inserted
    end)

    it("raises on too many values and on more or less than one statement", function()
      assert.error_matches(function() db:exec("INSERT INTO t VALUES (?, ?)", 1, 2, 3) end,
        "bad argument #4 to 'exec' (more values than the statement's 2 parameters)", nil, true)
      assert.error_matches(function() db:exec("SELECT 1; SELECT 2", 1) end,
        "bad argument #1 to 'exec' (more than one SQL statement)", nil, true)
      assert.error_matches(function() db:row("SELECT 1; DROP TABLE t") end,
        "bad argument #1 to 'row' (more than one SQL statement)", nil, true)
      assert.error_matches(function() db:prepare("  -- nothing") end,
        "bad argument #1 to 'prepare' (no SQL statement)", nil, true)
      assert.is_true(db:exec("SELECT 1;  \n")) -- trailing blanks are fine
      assert.same({ one = 1 }, db:row("SELECT 1 AS one; \t"))
      assert.error_matches(function() db:exec({}) end,
        "bad argument #1 to 'exec' (string expected, got table)", nil, true)
      assert.error_matches(function() db:tx(42) end,
        "bad argument #1 to 'tx' (function expected, got number)", nil, true)
    end)

    it("raises on a closed ledger and on the wrong self", function()
      assert.is_true(db:close())
      assert.error_matches(function() db:exec("SELECT 1") end, "attempt to use a closed ledger")
      assert.error_matches(function() db:row("SELECT 1") end, "attempt to use a closed ledger")
      assert.error_matches(function() db:tx(function() end) end, "attempt to use a closed ledger")
      assert.error_matches(function() db:close() end, "attempt to use a closed ledger")
      assert.error_matches(function() db.close(nil) end, "gt.Ledger expected, got nil")
      local other <close> = assert(ledger.open(path))
      local st <close> = assert(other:prepare("SELECT 1"))
      assert.error_matches(function() st.step(other) end, "gt.Statement expected, got gt.Ledger")
    end)

    it("raises when a migration or tx closes the ledger or ends the transaction", function()
      assert.error_matches(function()
        db:migrate({ function(tx) assert(tx:exec("COMMIT")) end })
      end, "ledger: migration 1 ended its transaction")
      assert.error_matches(function() db:tx(function(tx) assert(tx:exec("ROLLBACK")) end) end,
        "ledger: the transaction ended inside tx")
      assert.error_matches(function() db:tx(function(tx) tx:close() end) end,
        "attempt to use a closed ledger")
    end)
  end)
end)
