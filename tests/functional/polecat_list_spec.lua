-- gt polecat list: JSON for programs (every field on every row), a table for people, --all
-- across rigs, and worktrees deleted by hand shown as missing.
local helpers = require("helpers")
local sys = require("gt.sys")
-- dkjson itself, to decode JSON null as a value (json.null) rather than as a missing key.
local json = { null = require("dkjson").null }
function json.decode(s) return require("dkjson").decode(s, 1, json.null) end

local FIELDS = { "branch", "created_at", "here", "host", "issue", "missing", "name", "path", "rig", "session", "state",
  "updated_at" }

local function keys(t)
  local list = {}
  for k in pairs(t) do list[#list + 1] = k end
  table.sort(list)
  return list
end

local function list(fx, ...)
  return helpers.gt_rig(fx, { "polecat", "list", ... })
end

describe("gt polecat list", function()
  it("of a rig without polecats prints [] and 'no polecats'", function()
    local fx = helpers.fixture()
    local code, out, err = list(fx, "--json")
    assert.equal(0, code, err)
    assert.equal("", err)
    assert.equal("[]\n", out)
    code, out, err = list(fx)
    assert.equal(0, code, err)
    assert.equal("no polecats\n", out)
    code, out = list(fx, "--all", "--json")
    assert.equal(0, code)
    assert.equal("[]\n", out)
  end)

  describe("with polecats in two rigs", function()
    local fx, other, t0, t1
    lazy_setup(function()
      fx = helpers.fixture()
      assert.equal(0, (helpers.gt({ "--town", fx.town, "rig", "add", "other", fx.origin })))
      other = { town = fx.town, rig = fx.town .. "/other", name = "other", origin = fx.origin }
      t0 = sys.now_ms()
      assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "b" })))
      assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "a", "--issue", "GT-7" })))
      assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "gone" })))
      assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "removed" })))
      assert.equal(0, (helpers.gt_rig(fx, { "polecat", "remove", "removed" })))
      assert.equal(0, (helpers.gt_rig(other, { "polecat", "add", "c" })))
      t1 = sys.now_ms()
      assert(require("gt.fs").remove_tree(fx.rig .. "/polecats/gone"))
    end)

    it("--json gives an array of the rig's live polecats by name, with every field", function()
      local code, out, err = list(fx, "--json")
      assert.equal(0, code, err)
      assert.equal("", err)
      local rows = json.decode(out)
      assert.equal(3, #rows)
      local names = {}
      for i, row in ipairs(rows) do
        names[i] = row.name
        assert.same(FIELDS, keys(row))
        assert.equal("demo", row.rig)
        assert.equal("working", row.state)
        assert.same({ state = "none", pid = json.null, exit_status = json.null, started_at = json.null,
          ended_at = json.null }, row.session)
        assert.equal(fx.rig .. "/polecats/" .. row.name .. "/demo", row.path)
        assert.is_true(row.created_at >= t0 and row.created_at <= t1)
        assert.is_true(row.updated_at >= row.created_at and row.updated_at <= t1)
      end
      assert.same({ "a", "b", "gone" }, names)
      assert.equal("GT-7", rows[1].issue)
      assert.matches("^polecat/a/GT%-7@[0-9a-z]+$", rows[1].branch)
      assert.equal(json.null, rows[2].issue)
      assert.matches("^polecat/b%-[0-9a-z]+$", rows[2].branch)
      assert.is_false(rows[1].missing)
      assert.is_false(rows[2].missing)
      assert.is_true(rows[3].missing)
    end)

    it("--all --json lists the polecats of every rig", function()
      local code, out, err = list(fx, "--all", "--json")
      assert.equal(0, code, err)
      local seen = {}
      for i, row in ipairs(json.decode(out)) do
        assert.same(FIELDS, keys(row))
        seen[i] = row.rig .. "/" .. row.name
      end
      assert.same({ "demo/a", "demo/b", "demo/gone", "other/c" }, seen)
      code, out = list(other, "--json")
      assert.equal(0, code)
      assert.equal(1, #json.decode(out))
    end)

    it("prints a table for people, headed NAME STATE SINCE SESSION ISSUE BRANCH", function()
      local code, out, err = list(fx)
      assert.equal(0, code, err)
      local lines = helpers.lines(out)
      assert.equal(4, #lines)
      assert.matches("^NAME%s+STATE%s+SINCE%s+SESSION%s+ISSUE%s+BRANCH$", lines[1])
      assert.matches("^a%s+working%s+%d+[smhd]%s+%-%s+GT%-7%s+polecat/a/GT%-7@[0-9a-z]+$", lines[2])
      assert.matches("^b%s+working%s+%d+[smhd]%s+%-%s+polecat/b%-[0-9a-z]+$", lines[3])
      assert.matches("^gone%s+working %(missing%)%s+%d+[smhd]%s+%-%s+polecat/gone%-[0-9a-z]+$", lines[4])
      -- Columns line up: each starts where its title does.
      local branch_col = lines[1]:find("BRANCH", 1, true)
      for i = 2, 4 do assert.equal(branch_col, lines[i]:find("polecat/", 1, true)) end
    end)

    it("with --all adds a RIG column", function()
      local code, out = list(fx, "--all")
      assert.equal(0, code)
      local lines = helpers.lines(out)
      assert.equal(5, #lines)
      assert.matches("^RIG%s+NAME%s+STATE%s+SINCE%s+SESSION%s+ISSUE%s+BRANCH$", lines[1])
      assert.matches("^demo%s+a%s", lines[2])
      assert.matches("^other%s+c%s+working%s", lines[5])
    end)
  end)
end)
