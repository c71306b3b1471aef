-- gt.layout: every path, lock name and ref name gt uses, written out as docs/design.md §2.1
-- lists them; polecat ids; trash folders; the scope of trust. Only string functions: the paths
-- are compared exactly, and the module is checked to load nothing else.
local layout = require("gt.layout")
local helpers = require("helpers")

local TOWN, RIG = "/home/ana/gt", "/home/ana/gt/web"

describe("gt.layout", function()
  it("places a town's files", function()
    assert.equal(TOWN .. "/.gt", layout.dotgt(TOWN))
    assert.equal(TOWN .. "/.gt/town.lua", layout.town_config(TOWN))
    assert.equal(TOWN .. "/.gt/ledger.db", layout.ledger(TOWN))
    assert.equal(TOWN .. "/.gt/locks", layout.town_locks(TOWN))
    assert.equal(TOWN .. "/.gt/locks/rig-web.lock", layout.rig_add_lock(TOWN, "web"))
    assert.equal(RIG, layout.rig_root(TOWN, "web"))
    assert.equal(TOWN .. "/.gt/removed/web-1a2b", layout.removed_rig(TOWN, "web", "1a2b"))
  end)

  it("places a rig's files", function()
    assert.equal(RIG .. "/.gt/rig.lua", layout.rig_config(RIG))
    assert.equal(RIG .. "/.repo.git", layout.repo(RIG))
    assert.equal(RIG .. "/.gt/locks", layout.locks(RIG))
    assert.equal(RIG .. "/.gt/locks/git.lock", layout.lock(RIG, "git"))
    assert.equal(RIG .. "/.gt/locks/fetch.lock", layout.lock(RIG, "fetch"))
    assert.equal("polecat-fixer", layout.polecat_lock("fixer"))
    assert.equal("fixer", layout.polecat_of_lock(layout.polecat_lock("fixer")))
    assert.equal("a-b", layout.polecat_of_lock("polecat-a-b"))
    assert.is_nil(layout.polecat_of_lock("git"))
    assert.is_nil(layout.polecat_of_lock("fetch"))
    assert.equal(RIG .. "/.gt/locks/polecat-fixer.lock", layout.lock(RIG, layout.polecat_lock("fixer")))
    assert.equal(RIG .. "/polecats", layout.polecats(RIG))
    assert.equal(RIG .. "/polecats/fixer", layout.home(RIG, "fixer"))
    assert.equal(RIG .. "/polecats/fixer/web", layout.worktree(RIG, "web", "fixer"))
    assert.equal("/home/ana/gt/web/.repo.git/worktrees/fixer",
      layout.worktree_admin(layout.repo(RIG) .. "/", "fixer"))
    assert.equal(RIG .. "/polecats/.trash-fixer-1a2b", layout.trash(RIG, "fixer", "1a2b"))
    assert.equal(RIG .. "/.gt/trash", layout.trash_root(RIG))
    assert.equal(RIG .. "/.gt/trash/fixer-1a2b", layout.trash_entry(RIG, "fixer", "1a2b"))
    assert.equal("web/.trash/fixer-1a2b", layout.trash_key("web", "fixer-1a2b"))
    assert.equal("/home/ana/gt/.gt/logs/trash.log", layout.trash_log("/home/ana/gt"))
    assert.equal(RIG .. "/.gt/logs", layout.logs(RIG))
    assert.equal(RIG .. "/.gt/logs/fixer.log", layout.log(RIG, "fixer"))
    assert.equal(RIG .. "/.gt/logs/fixer.exit", layout.session_exit(RIG, "fixer"))
  end)

  it("places user code in a .gt folder, and names the hook file of a project", function()
    assert.equal(".gt/hooks.lua", layout.HOOKS_FILE)
    assert.equal(TOWN .. "/.gt/init.lua", layout.init_file(layout.dotgt(TOWN)))
    assert.equal(RIG .. "/.gt/lua", layout.module_root(layout.dotgt(RIG)))
    assert.equal("/home/ana/.config/gt/init.lua", layout.init_file("/home/ana/.config/gt"))
  end)

  it("names the salvages of a polecat", function()
    assert.equal("refs/gt/salvage/web/fixer", layout.salvage_prefix("web", "fixer"))
    assert.equal("refs/gt/salvage/web", layout.salvages("web"))
  end)

  describe("id and split_id", function()
    it("make a polecat's id and take it apart again", function()
      assert.equal("web/fixer", layout.id("web", "fixer"))
      assert.same({ "web", "fixer" }, { layout.split_id("web/fixer") })
      for _, pair in ipairs({ { "web", "fixer-bot" }, { "a.b_c", "x.y" }, { "r", "n" } }) do
        assert.same(pair, { layout.split_id(layout.id(pair[1], pair[2])) })
      end
    end)

    it("split a rig id (no slash), or a slash at either end, into nothing", function()
      for _, id in ipairs({ "web", "", "/fixer", "web/" }) do
        assert.is_nil(layout.split_id(id), id)
      end
      -- The rig is what comes before the first slash.
      assert.same({ "web", "a/b" }, { layout.split_id("web/a/b") })
    end)
  end)

  describe("is_trash", function()
    it("knows a removal's trash folder by its name", function()
      assert.is_true(layout.is_trash(".trash-fixer-1a2b"))
      assert.is_true(layout.is_trash(layout.trash(RIG, "fixer", "x"):match("[^/]+$")))
      for _, name in ipairs({ "fixer", "trash-fixer", "..trash-x", ".trashy", "a.trash-x", "" }) do
        assert.is_false(layout.is_trash(name), name)
      end
    end)
  end)

  describe("trust_scope", function()
    it("stands a polecat's worktree file for that file in every polecat of the rig", function()
      assert.equal(RIG .. "/polecats/*/web/.gt/hooks.lua",
        layout.trust_scope(layout.worktree(RIG, "web", "fixer") .. "/" .. layout.HOOKS_FILE))
      assert.equal(layout.trust_scope(RIG .. "/polecats/a/web/.gt/hooks.lua"),
        layout.trust_scope(RIG .. "/polecats/b/web/.gt/hooks.lua"))
      assert.equal(RIG .. "/polecats/*/web/deep/er/file.lua",
        layout.trust_scope(RIG .. "/polecats/fixer/web/deep/er/file.lua"))
    end)

    it("differs between rigs and between files", function()
      assert.not_equal(layout.trust_scope(TOWN .. "/api/polecats/a/api/.gt/hooks.lua"),
        layout.trust_scope(RIG .. "/polecats/a/web/.gt/hooks.lua"))
      assert.not_equal(layout.trust_scope(RIG .. "/polecats/a/web/.gt/hooks.lua"),
        layout.trust_scope(RIG .. "/polecats/a/web/.gt/other.lua"))
    end)

    it("leaves any other path as it is", function()
      for _, path in ipairs({
        "/home/ana/.config/gt/init.lua",
        TOWN .. "/.gt/init.lua",
        RIG .. "/polecats/fixer", -- the polecat's folder
        RIG .. "/polecats/fixer/web", -- its worktree, not a file in it
        RIG .. "/polecat/fixer/web/.gt/hooks.lua",
        "polecats/a/web/x.lua", -- relative: no folder before polecats
      }) do
        assert.equal(path, layout.trust_scope(path))
      end
    end)
  end)

  it("loads no other module (gt.locate uses it before any user code runs)", function()
    local required, functions = helpers.in_child([[
package.loaded["gt.layout"] = nil
local real, required = require, {}
_G.require = function(name) required[#required + 1] = name return real(name) end
local ok, layout = pcall(real, "gt.layout")
_G.require = real
assert(ok, layout)
local functions = {}
for k, v in pairs(layout) do if type(v) == "function" then functions[#functions + 1] = k end end
table.sort(functions)
return required, functions
]])
    assert.same({}, required)
    -- The functions exercised above are all there are.
    assert.same({ "dotgt", "home", "id", "init_file", "is_trash", "ledger", "lock", "locks", "log", "logs", "module_root",
      "polecat_lock", "polecat_of_lock", "polecats", "removed_rig", "repo", "rig_add_lock", "rig_config",
      "rig_root", "salvage_prefix", "salvages",
      "session_exit", "split_id", "town_config", "town_locks", "trash", "trash_entry", "trash_key", "trash_log",
      "trash_root", "trust_scope", "worktree", "worktree_admin" }, functions)
  end)
end)
