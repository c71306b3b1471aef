-- gt.doctor's reporter and its registry of the user's checks, on a real town made by gt init:
-- what a check reports comes back from doctor.run with its severity and section, a fix runs
-- only with opts.fix (and may mend, say something else, or raise), a check that raises is a
-- problem of its own. Registered checks and the problems of user code are module state, so
-- each doctor.run is in a fresh gt process (helpers.lua_child), given the town's path.
local doctor = require("gt.doctor")
local helpers = require("helpers")

describe("gt.doctor", function()
  local dir, town, state
  before_each(function()
    dir = helpers.tmpdir("doctor")
    town, state = dir .. "/town", dir .. "/state"
    local code, _, err = helpers.gt({ "init", town }, { env = { XDG_STATE_HOME = state } })
    assert.equal(0, code, err)
  end)

  --- Runs doctor.run in a fresh gt after `setup` (Lua: registers checks; `log` is a table it
  --- may fill), on the town (or none when `where` is "none"); returns problems, oks, log.
  local function run(setup, opts)
    opts = opts or {}
    local res = helpers.lua_child(([[
local doctor = require("gt.doctor")
local errors = require("gt.errors")
local town_root, fix_flag = ...
local log = {}
%s
local town = town_root ~= "" and require("gt.town").open(town_root) or nil
local problems, oks = doctor.run(town, { fix = fix_flag == "fix" })
if town then town:close() end
return problems, oks, log
]]):format(setup), { opts.no_town and "" or town, opts.fix and "fix" or "" },
      { env = { XDG_STATE_HOME = state }, cwd = dir })
    assert(res.ok, tostring(res.message) .. "\n" .. res.stderr)
    return res[1], res[2], res[3]
  end

  local BUILT_IN_OKS = { { section = "user code", message = "user code loaded" },
    { section = "ledger", message = "the ledger opens" } }

  --- The oks of the built-in checks of an empty town, then `more`.
  local function oks_with(more)
    local all = { table.unpack(BUILT_IN_OKS) }
    for _, o in ipairs(more or {}) do all[#all + 1] = o end
    return all
  end

  describe("register", function()
    it("needs a name and a function, and says so at the caller's line", function()
      for _, args in ipairs({ "nil, function() end", "'x', nil", "42, function() end", "'x', 'f'" }) do
        local chunk = assert(load("local doctor = ...\n\ndoctor.register(" .. args .. ")\n", "@/u/init.lua"))
        local ok, e = pcall(chunk, doctor)
        assert.is_false(ok)
        assert.equal("/u/init.lua:3: doctor.register needs a name and a function", e)
      end
    end)
  end)

  describe("run", function()
    it("finds nothing wrong in a new town", function()
      local problems, oks = run("")
      assert.same({}, problems)
      assert.same(BUILT_IN_OKS, oks)
    end)

    it("gives what a registered check reports, with its severity and its section, after the built-ins", function()
      local problems, oks, log = run([[
doctor.register("my policy", function(report, town)
  log.town = town.root
  report:ok("every rig has a README")
  report:warn("no-readme", "rig x has no README", { rig = "x", name = "a", path = "/p/README" })
  report:error("bad", "the town is wrong")
end)
doctor.register("second", function(report)
  report:ok("fine too")
  report:error("also", "second problem")
end)
]])
      assert.same({ town = town }, log)
      assert.same(oks_with({ { section = "my policy", message = "every rig has a README" },
        { section = "second", message = "fine too" } }), oks)
      assert.same({
        { kind = "no-readme", severity = "warn", rig = "x", name = "a", path = "/p/README",
          message = "rig x has no README", fixed = false },
        { kind = "bad", severity = "error", message = "the town is wrong", fixed = false },
        { kind = "also", severity = "error", message = "second problem", fixed = false },
      }, problems)
    end)

    it("runs no fix without opts.fix", function()
      local problems, _, log = run([[
doctor.register("fixable", function(report)
  report:error("broken", "it is broken", { fix = function() log.fixed = true return true, "mended" end })
end)
]])
      assert.same({}, log)
      assert.same({ { kind = "broken", severity = "error", message = "it is broken", fixed = false } }, problems)
    end)

    it("with opts.fix, runs each fix: it may mend, say what it did, or fail to", function()
      local problems, _, log = run([[
local function fix(name, ...)
  local results = table.pack(...)
  return function() log[#log + 1] = name return table.unpack(results, 1, results.n) end
end
doctor.register("fixes", function(report)
  report:error("a", "a is broken", { fix = fix("a", true, "a was mended") })
  report:warn("b", "b is odd", { fix = fix("b", true) })
  report:error("c", "c is broken", { fix = fix("c", false, "c could not be mended") })
  report:error("d", "d is broken", { fix = fix("d") })
  report:error("e", "e is broken", { fix = fix("e", "yes") })
  report:error("f", "f is broken")
end)
]], { fix = true })
      assert.same({ "a", "b", "c", "d", "e" }, log)
      assert.same({
        { kind = "a", severity = "error", message = "a was mended", fixed = true },
        { kind = "b", severity = "warn", message = "b is odd", fixed = true },
        { kind = "c", severity = "error", message = "c could not be mended", fixed = false },
        { kind = "d", severity = "error", message = "d is broken", fixed = false },
        -- Only true is fixed.
        { kind = "e", severity = "error", message = "e is broken", fixed = false },
        { kind = "f", severity = "error", message = "f is broken", fixed = false },
      }, problems)
    end)

    it("leaves open a problem whose fix raises, the error after its message", function()
      local problems = run([[
doctor.register("raising fixes", function(report)
  report:error("a", "a is broken", { fix = function() error("disk full", 0) end })
  report:error("b", "b is broken", { fix = function() errors.raise("busy", "%s holds the lock", "pid 7") end })
  report:ok("after them")
end)
]], { fix = true })
      assert.same({
        { kind = "a", severity = "error", message = "a is broken: disk full", fixed = false },
        { kind = "b", severity = "error", message = "b is broken: pid 7 holds the lock", fixed = false },
      }, problems)
    end)

    it("makes a check that raises a problem of its own; what it reported stays, later checks run", function()
      local problems, oks = run([[
doctor.register("fragile", function(report)
  report:warn("seen", "found before the error")
  error("cannot read the thing", 0)
end)
doctor.register("gt error", function(report)
  errors.raise("notfound", "no such %s", "README")
end)
doctor.register("sturdy", function(report) report:ok("ran") end)
]])
      assert.same({
        { kind = "seen", severity = "warn", message = "found before the error", fixed = false },
        { kind = "check-failed", severity = "error", message = "check fragile failed: cannot read the thing",
          fixed = false },
        { kind = "check-failed", severity = "error", message = "check gt error failed: no such README", fixed = false },
      }, problems)
      assert.same(oks_with({ { section = "sturdy", message = "ran" } }), oks)
    end)

    it("without a town, checks only user code: no registered check runs", function()
      local problems, oks, log = run([[
doctor.register("town only", function(report) log.ran = true report:error("x", "x") end)
]], { no_town = true })
      assert.same({}, problems)
      assert.same({ { section = "user code", message = "user code loaded" } }, oks)
      assert.same({}, log)
    end)

    it("lists the user code that failed to load", function()
      local init = dir .. "/init.lua"
      helpers.write(init, "local x = 1\nerror('broken init')\n")
      local problems, oks = run(([[
require("gt.usercode").load_init(%q, true)
]]):format(init), { no_town = true })
      assert.same({ { kind = "init", severity = "error", path = init, message = init .. ":2: broken init",
        fixed = false } }, problems)
      assert.same({}, oks)
    end)

    it("stops at a ledger that cannot be opened: the user's checks do not run", function()
      for _, suffix in ipairs({ "-wal", "-shm" }) do os.remove(town .. "/.gt/ledger.db" .. suffix) end
      helpers.write(town .. "/.gt/ledger.db", ("not a database\n"):rep(100))
      local problems, oks, log = run([[
doctor.register("mine", function(report) log.ran = true end)
]])
      assert.same({}, log)
      assert.same({ { section = "user code", message = "user code loaded" } }, oks)
      local db = town .. "/.gt/ledger.db"
      assert.same({ { kind = "ledger", severity = "error", fixed = false, message = ("the town's ledger %s is not " ..
        "a database (%s: file is not a database); restore it from a backup"):format(db, db) } }, problems)
    end)
  end)
end)
