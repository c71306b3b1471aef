-- gt polecat add without a name: the next free name of the rig's pool (a built-in theme, or the
-- rig's own list), reserved words never given, names in use skipped, the overflow <theme>-N
-- never given twice, a failed add giving its name back, and processes adding at once each
-- getting a name of their own.
local helpers = require("helpers")
local witness = require("witness")
local luafile = require("gt.luafile")
local namepool = require("gt.namepool")

--- Sets `names` in the rig's .gt/rig.lua.
local function set_names(fx, names)
  local path = fx.rig .. "/.gt/rig.lua"
  local config = assert(luafile.read(path))
  config.names = names
  assert(luafile.write(path, config))
end

--- `gt polecat add --no-fetch` without a name: returns the name it says it spawned.
local function add(fx)
  local code, out, err = helpers.gt_rig(fx, { "polecat", "add", "--no-fetch" })
  assert(code == 0, err)
  return assert(out:match("^polecat (%S+) spawned in rig demo\n"), out)
end

local function remove(fx, name)
  local code, _, err = helpers.gt_rig(fx, { "polecat", "remove", name })
  assert(code == 0, err)
end

local run_all = helpers.run_all

describe("the name pool", function()
  describe("its themes", function()
    it("are mad-max, minerals and wasteland, 50 names each, valid, in their order", function()
      assert.same({ "mad-max", "minerals", "wasteland" }, namepool.THEME_NAMES)
      for _, theme in ipairs(namepool.THEME_NAMES) do
        local list = namepool.THEMES[theme]
        assert.equal(50, #list, theme)
        local seen = {}
        for _, n in ipairs(list) do
          assert.is_nil(require("gt.names").problem(n), n)
          assert.is_nil(seen[n], n)
          seen[n] = true
        end
      end
      assert.equal("furiosa", namepool.THEMES["mad-max"][1])
      assert.equal("obsidian", namepool.THEMES.minerals[1])
      assert.equal("rust", namepool.THEMES.wasteland[1])
    end)

    it("give no reserved word: mad-max and wasteland have 49 names to give", function()
      assert.equal(49, #namepool.pool("r", { theme = "mad-max" }).names)
      assert.equal(50, #namepool.pool("r", { theme = "minerals" }).names)
      assert.equal(49, #namepool.pool("r", { theme = "wasteland" }).names)
      for _, theme in ipairs(namepool.THEME_NAMES) do
        for _, n in ipairs(namepool.pool("r", { theme = theme }).names) do
          assert.is_nil(({ witness = 1, mayor = 1, deacon = 1, refinery = 1, crew = 1, polecats = 1 })[n], n)
        end
      end
    end)

    it("are chosen by a stable hash of the rig's name when the rig sets none", function()
      -- h = h * 31 + byte on 32 bits, an index into the sorted themes (computed here apart).
      local function expected(s)
        local h = 0
        for i = 1, #s do h = (h * 31 + s:byte(i)) % 4294967296 end
        return ({ "mad-max", "minerals", "wasteland" })[h % 3 + 1]
      end
      local seen = {}
      for _, rig in ipairs({ "demo", "a", "b", "c", "gastown", "a-very-long-rig-name-indeed" }) do
        assert.equal(expected(rig), namepool.theme_for(rig), rig)
        assert.equal(expected(rig), namepool.pool(rig, nil).theme)
        seen[expected(rig)] = true
      end
      assert.equal("minerals", namepool.theme_for("demo"))
      assert.is_true(seen["mad-max"] and seen.minerals and seen.wasteland)
    end)
  end)

  describe("gt polecat add without a name", function()
    it("gives the first name of the rig's theme, and says it", function()
      local fx = helpers.fixture()
      local code, out, err = helpers.gt_rig(fx, { "polecat", "add", "--no-fetch", "--json" })
      assert.equal(0, code, err)
      local p = require("gt.json").decode(out)
      assert.equal("obsidian", p.name) -- rig demo: minerals
      assert.equal("working", witness.agent(fx, "obsidian").state)
      assert.same({ "obsidian" }, witness.ls(fx.rig .. "/polecats"))
      assert.equal(p.branch, witness.agent(fx, "obsidian").branch)
      assert.matches("^polecat/obsidian%-[0-9a-z]+$", p.branch)
      set_names(fx, { theme = "mad-max" })
      assert.equal("furiosa", add(fx))
    end)

    it("skips names in use: a live polecat's, a folder's, a git record's", function()
      local fx = helpers.fixture()
      set_names(fx, { theme = "minerals" })
      assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "--no-fetch", "obsidian" })))
      helpers.write(fx.rig .. "/polecats/quartz/notes.txt", "someone's\n")
      helpers.write(fx.rig .. "/.repo.git/worktrees/jasper/gitdir", "/nowhere/.git\n")
      assert.equal("onyx", add(fx))
      assert.equal("opal", add(fx))
      -- A removed polecat's name is given again.
      remove(fx, "obsidian")
      assert.equal("obsidian", add(fx))
      assert.equal("someone's\n", helpers.read(fx.rig .. "/polecats/quartz/notes.txt"))
    end)

    it("never gives a reserved word, even from the rig's own list", function()
      local fx = helpers.fixture()
      set_names(fx, { theme = "wasteland", list = { "witness", "Mayor", "ada", "crew", "polecats" } })
      assert.equal("ada", add(fx))
      assert.equal("wasteland-51", add(fx))
      for _, n in ipairs({ "witness", "Mayor", "mayor", "crew", "polecats" }) do
        assert.is_nil(witness.agent(fx, n), n)
      end
    end)

    it("gives the rig's own list in its order, then <theme>-N, never the same N twice", function()
      local fx = helpers.fixture()
      set_names(fx, { theme = "minerals", list = { "ada", "grace", "ada" } })
      assert.equal("ada", add(fx))
      assert.equal("grace", add(fx))
      assert.equal("minerals-51", add(fx))
      assert.equal("minerals-52", add(fx))
      remove(fx, "minerals-51")
      remove(fx, "grace")
      assert.equal("grace", add(fx))
      assert.equal("minerals-53", add(fx))
      assert.same({ "ada", "grace", "minerals-52", "minerals-53" }, witness.ls(fx.rig .. "/polecats"))
      local rows = witness.query(fx, "SELECT next_overflow FROM name_counters WHERE rig = 'demo'")
      assert.same({ { next_overflow = 54 } }, rows)
    end)

    it("with a theme's names all in use, goes on with <theme>-51", function()
      local fx = helpers.fixture()
      set_names(fx, { theme = "mad-max" })
      -- Every name of the theme in use (folders put there by hand are enough).
      for _, n in ipairs(namepool.THEMES["mad-max"]) do helpers.write(fx.rig .. "/polecats/" .. n .. "/x", "") end
      assert.equal("mad-max-51", add(fx))
    end)

    it("refuses a names setting that is not one (exit 2), changing nothing", function()
      local fx = helpers.fixture()
      for _, case in ipairs({
        { names = { theme = "dune" }, says = "unknown theme 'dune' %(themes: mad%-max, minerals, wasteland%)" },
        { names = { list = { "ok", "not ok" } }, says = "list%[2%] 'not ok' is not a valid name: must contain only" },
        { names = { list = {} }, says = "list is not a list of names" },
        { names = "minerals", says = "must be a table, got string" },
        { names = { themes = "minerals" }, says = "unknown key 'themes' %(keys: theme, list%)" },
      }) do
        set_names(fx, case.names)
        local before = witness.snapshot(fx)
        local code, out, err = helpers.gt_rig(fx, { "polecat", "add", "--no-fetch" })
        assert.equal(2, code, err)
        assert.equal("", out)
        assert.matches("^gt: polecat add: rig demo: names in %.gt/rig%.lua: " .. case.says, err)
        assert.same(before, witness.snapshot(fx))
      end
    end)

    it("gives the name back when the add fails before anything is made", function()
      local fx = helpers.fixture()
      helpers.write(fx.rig .. "/.gt/init.lua", 'gt.hooks.on("pre_spawn", function() error("not today") end)\n')
      local code, _, err = helpers.gt_rig(fx, { "polecat", "add", "--no-fetch" })
      assert.equal(1, code)
      assert.matches("obsidian: pre_spawn hook", err)
      assert.equal("failed", witness.agent(fx, "obsidian").state)
      assert.same({ "spawning", "failed" }, witness.event_kinds(fx, "obsidian"))
      assert.same({}, witness.ls(fx.rig .. "/polecats"))
      assert.same({}, witness.branches(fx, "polecat/"))
      os.remove(fx.rig .. "/.gt/init.lua")
      assert.equal("obsidian", add(fx))
      assert.same({}, witness.disagreements(fx))
    end)

    it("takes over a name whose add was killed after it claimed it, before it made anything", function()
      local fx = helpers.fixture()
      local r = helpers.gt_fault(fx, "add.named=kill", { "polecat", "add", "--no-fetch" })
      assert.equal(9, r.signal, r.stderr)
      assert.equal("spawning", witness.agent(fx, "obsidian").state)
      assert.equal("obsidian", add(fx))
      assert.same({ "spawning", "recovered", "spawning", "spawned" }, witness.event_kinds(fx, "obsidian"))
      assert.same({}, witness.disagreements(fx))
    end)

    it("run 8 times at once, gives 8 names, all spawned", function()
      local fx = helpers.fixture()
      local commands = {}
      for i = 1, 8 do
        commands[i] = { "--town", fx.town, "--rig", fx.name, "polecat", "add", "--no-fetch" }
      end
      local got = {}
      for _, r in ipairs(run_all(commands)) do
        assert.equal(0, r.code, r.stderr)
        assert.equal("", r.stderr)
        got[#got + 1] = assert(r.stdout:match("^polecat (%S+) spawned in rig demo\n"), r.stdout)
      end
      table.sort(got)
      local first8 = { table.unpack(namepool.THEMES.minerals, 1, 8) }
      table.sort(first8)
      assert.same(first8, got)
      assert.same(first8, witness.ls(fx.rig .. "/polecats"))
      assert.same(first8, witness.records(fx))
      assert.equal(8, #witness.branches(fx, "polecat/"))
      for _, n in ipairs(got) do assert.equal("working", witness.agent(fx, n).state) end
      assert.same({}, witness.disagreements(fx))
    end)
  end)
end)
