-- gt init, and how a command finds its town: --town, GT_TOWN, or the outermost town holding the
-- current directory.
local helpers = require("helpers")
local fs = require("gt.fs")
local json = require("gt.json")
local ledger = require("gt.ledger")
local luafile = require("gt.luafile")
local sys = require("gt.sys")
local _ -- discarded results (code, _, err = ...)

local function sorted(list)
  table.sort(list)
  return list
end

-- Names of the rigs `gt rig list --json` shows, run with `args` and `opts`.
local function rig_names(args, opts)
  local full = { "rig", "list", "--json" }
  for _, a in ipairs(args) do table.insert(full, #full - 2, a) end
  local code, out, err = helpers.gt(full, opts)
  assert(code == 0, err)
  local list = {}
  for i, r in ipairs(assert(json.decode(out))) do list[i] = r.name end
  return list
end

-- A fingerprint of every file under `dir`: path, type, size, mtime and content.
local function snapshot(dir)
  local out = {}
  local function walk(d)
    for _, name in ipairs(sorted(assert(fs.dir(d)))) do
      local p = d .. "/" .. name
      local st = assert(fs.lstat(p))
      out[#out + 1] = ("%s %s %d %d"):format(p, st.type, st.size, st.mtime_ms)
      if st.type == "directory" then walk(p) else out[#out + 1] = helpers.read(p) end
    end
  end
  walk(dir)
  return out
end

describe("gt init", function()
  local dir
  before_each(function() dir = helpers.tmpdir("town") end)

  it("creates .gt/town.lua and the ledger, a WAL sqlite database at the latest user_version", function()
    local code, out, err = helpers.gt({ "init", dir .. "/t" })
    assert.equal(0, code, err)
    assert.equal("created town at " .. dir .. "/t\n", out)
    assert.equal("next: gt --town " .. dir .. "/t rig add NAME URL-OR-PATH\n", err)
    local config = assert(luafile.read(dir .. "/t/.gt/town.lua"))
    assert.equal(1, config.version)
    assert.equal("integer", math.type(config.created_at))
    assert.is_true(math.abs(sys.now_ms() - config.created_at) < 60000)
    -- the file header says WAL (read and write versions 2) ...
    local header = helpers.read(dir .. "/t/.gt/ledger.db"):sub(1, 20)
    assert.equal("SQLite format 3\0", header:sub(1, 16))
    assert.equal("\2\2", header:sub(19, 20))
    -- ... and so does sqlite, with the schema migrated
    local db <close> = assert(ledger.open(dir .. "/t/.gt/ledger.db", { readonly = true }))
    assert.equal("wal", db:row("PRAGMA journal_mode").journal_mode)
    assert.equal(#require("gt.store").migrations, db:row("PRAGMA user_version").user_version)
    local tables = {}
    for row in db:rows("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name") do
      tables[#tables + 1] = row.name
    end
    for _, t in ipairs({ "agents", "events", "operations", "rigs" }) do
      assert.truthy(table.concat(tables, " "):find(t, 1, true), t)
    end
  end)

  it("changes nothing when run again, and says so", function()
    assert.equal(0, (helpers.gt({ "init", dir .. "/t" })))
    local before = snapshot(dir)
    sys.sleep_ms(20) -- a rewrite would show in the mtimes
    local code, out, err = helpers.gt({ "init", dir .. "/t" })
    assert.equal(0, code, err)
    assert.equal("town already exists at " .. dir .. "/t\n", out)
    assert.equal("", err)
    assert.same(before, snapshot(dir))
  end)

  it("makes missing parents and resolves a relative folder", function()
    local code, out, err = helpers.gt({ "init", "a/b/../c" }, { cwd = dir })
    assert.equal(0, code, err)
    assert.equal("created town at " .. dir .. "/a/c\n", out)
    assert.equal("file", fs.stat(dir .. "/a/c/.gt/town.lua").type)
  end)

  it("defaults to $GT_TOWN, else ~/gt", function()
    local code, out, err = helpers.gt({ "init" }, { env = { GT_TOWN = dir .. "/env-town", HOME = dir } })
    assert.equal(0, code, err)
    assert.equal("created town at " .. dir .. "/env-town\n", out)
    code, out, err = helpers.gt({ "init" }, { env = { HOME = dir } })
    assert.equal(0, code, err)
    assert.equal("created town at " .. dir .. "/gt\n", out)
    assert.equal("file", fs.stat(dir .. "/gt/.gt/town.lua").type)
    code, out = helpers.gt({ "init" }, { env = { GT_TOWN = "", HOME = dir } })
    assert.equal(0, code)
    assert.equal("town already exists at " .. dir .. "/gt\n", out)
  end)

  it("reports why it cannot create the town", function()
    helpers.write(dir .. "/file", "")
    local code, out, err = helpers.gt({ "init", dir .. "/file/t" })
    assert.equal(1, code)
    assert.equal("", out)
    assert.equal("gt: init: " .. dir .. "/file/t: Not a directory\n", err)
    code, _, err = helpers.gt({ "init", dir .. "/file" })
    assert.equal(1, code)
    assert.equal("gt: init: " .. dir .. "/file/.gt: Not a directory\n", err)
    assert.equal("file", fs.lstat(dir .. "/file").type)
  end)
end)

describe("the town of a command", function()
  local dir, a, b, origin
  setup(function()
    dir = helpers.tmpdir("towns")
    assert(fs.mkdir(dir .. "/o"))
    origin = helpers.origin(dir .. "/o").origin
    a, b = dir .. "/a", dir .. "/b"
    for town, rig in pairs({ [a] = "ra", [b] = "rb" }) do
      assert(helpers.gt({ "init", town }) == 0)
      local code, _, err = helpers.gt({ "--town", town, "rig", "add", rig, origin })
      assert(code == 0, err)
    end
  end)

  it("is an error outside any town (exit 4)", function()
    local code, out, err = helpers.gt({ "rig", "list" }, { cwd = dir })
    assert.equal(4, code)
    assert.equal("", out)
    assert.equal("gt: not inside a town (use --town DIR or GT_TOWN, or create one with gt init)\n", err)
    code, out, err = helpers.gt({ "--town", dir .. "/o", "rig", "list" })
    assert.equal(4, code)
    assert.equal("gt: " .. dir .. "/o is not a town (run gt init " .. dir .. "/o)\n", err)
    code, out, err = helpers.gt({ "rig", "list" }, { env = { GT_TOWN = dir .. "/missing" } })
    assert.equal(4, code)
    assert.equal("gt: " .. dir .. "/missing is not a town (run gt init " .. dir .. "/missing)\n", err)
  end)

  it("is --town, else $GT_TOWN, else the town holding the current directory", function()
    assert.same({ "ra" }, rig_names({ "--town", a }))
    assert.same({ "rb" }, rig_names({}, { env = { GT_TOWN = b } }))
    assert.same({ "ra" }, rig_names({}, { cwd = a }))
    assert.same({ "rb" }, rig_names({}, { cwd = b .. "/rb/.repo.git/refs" }))
    assert.same({ "ra" }, rig_names({ "--town", a }, { env = { GT_TOWN = b }, cwd = b }))
    assert.same({ "rb" }, rig_names({}, { env = { GT_TOWN = b }, cwd = a }))
    assert.same({ "rb" }, rig_names({ "--town", "b" }, { cwd = dir })) -- relative
  end)

  it("is the outermost town: a town-like folder inside a polecat's worktree is not one", function()
    local code, _, err = helpers.gt({ "--town", a, "--rig", "ra", "polecat", "add", "p" })
    assert.equal(0, code, err)
    local wt = a .. "/ra/polecats/p/ra"
    assert.equal("directory", fs.stat(wt).type)
    helpers.write(wt .. "/.gt/town.lua", "return { version = 1 }\n")
    helpers.write(wt .. "/src/deep/.gt/town.lua", "return { version = 1 }\n")
    assert.same({ "ra" }, rig_names({}, { cwd = wt .. "/src/deep" }))
    assert.same({ "ra" }, rig_names({}, { cwd = wt }))
    -- nothing was made in the fake towns
    assert.is_nil(fs.lstat(wt .. "/.gt/ledger.db"))
    assert.is_nil(fs.lstat(wt .. "/src/deep/.gt/ledger.db"))
  end)
end)
