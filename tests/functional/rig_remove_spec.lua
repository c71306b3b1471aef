-- gt rig remove: every polecat through remove's gate, then the folder, kept when it holds work.
local helpers = require("helpers")
local json = require("gt.json")
local fs = require("gt.fs")

local gt_rig = helpers.gt_rig

local function remove_rig(fx, ...)
  return helpers.gt({ "--town", fx.town, "rig", "remove", fx.name, ... })
end

--- The steps of a plan, the archive's stamp made neutral (a dry run and a run differ in it).
local function steps(list)
  local out = {}
  for i, s in ipairs(list) do out[i] = s:gsub("/%.gt/removed/demo%-%w+", "/.gt/removed/demo-<stamp>") end
  return out
end

describe("gt rig remove", function()
  local fx
  before_each(function()
    fx = helpers.fixture()
    for _, name in ipairs({ "a", "b" }) do
      local code, _, err = gt_rig(fx, { "polecat", "add", name, "--no-fetch" })
      assert.equal(0, code, err)
    end
  end)

  it("removes the polecats and the folder, and the ledger forgets the rig; --dry-run is its plan", function()
    local code, out, err = remove_rig(fx, "--dry-run", "--json")
    assert.equal(0, code, err)
    local planned = json.decode(out)
    assert.same({ "a", "b" }, planned.polecats)
    assert.is_true(helpers.exists(fx.rig .. "/polecats/a/demo"))
    code, out, err = remove_rig(fx, "--json")
    assert.equal(0, code, err)
    local done = json.decode(out)
    assert.same(steps(planned.steps), steps(done.steps))
    assert.is_nil(done.kept)
    assert.is_false(helpers.exists(fx.rig))
    assert.same({}, fs.dir(fx.town .. "/.gt/removed"))
    code, out = helpers.gt({ "--town", fx.town, "rig", "list", "--json" })
    assert.equal(0, code)
    assert.same({}, json.decode(out))
    -- The name can be used again.
    code, _, err = helpers.gt({ "--town", fx.town, "rig", "add", "demo", fx.origin })
    assert.equal(0, code, err)
  end)

  it("refuses (exit 3) while a polecat holds unsaved work, changing nothing", function()
    helpers.write(fx.rig .. "/polecats/b/demo/notes.txt", "unsaved\n")
    local code, out, err = remove_rig(fx)
    assert.equal(3, code)
    assert.equal("", out)
    assert.matches("polecat b holds work that exists nowhere else", err)
    assert.is_true(helpers.exists(fx.rig .. "/polecats/a/demo"))
    assert.equal("unsaved\n", helpers.read(fx.rig .. "/polecats/b/demo/notes.txt"))
    code, out = gt_rig(fx, { "polecat", "list", "--json" })
    assert.equal(2, #json.decode(out))
  end)

  it("with --force saves the work, and keeps the folder whose repository holds it", function()
    helpers.write(fx.rig .. "/polecats/b/demo/notes.txt", "unsaved\n")
    local code, out, err = remove_rig(fx, "--force")
    assert.equal(0, code, err)
    local kept = out:match("its folder is kept at (%S+): ")
    assert.is_truthy(kept, out)
    assert.is_false(helpers.exists(fx.rig))
    local ref = helpers.git(kept .. "/.repo.git", "for-each-ref", "--format=%(refname)", "refs/gt/salvage/demo/b/")
    assert.equal("unsaved\n", helpers.git(kept .. "/.repo.git", "show", ref .. ":notes.txt") .. "\n")
  end)

  it("finishes a remove whose folder is already gone, and says an unknown rig is not found", function()
    assert(fs.rename(fx.rig, fx.dir .. "/elsewhere"))
    local code, out, err = remove_rig(fx)
    assert.equal(0, code, err)
    assert.equal("removed rig demo\n", out)
    code, _, err = remove_rig(fx)
    assert.equal(4, code)
    assert.matches("no rig 'demo'", err)
  end)
end)
