-- Every command that shows something has --json: the ones that make or change things, too.
local helpers = require("helpers")
local json = require("gt.json")

describe("--json", function()
  it("of gt init, rig add, rig set-default and trust says what was made or changed", function()
    local dir = helpers.tmpdir("json")
    local o = helpers.origin(dir)
    local town = dir .. "/town"
    local code, out, err = helpers.gt({ "init", town, "--json" })
    assert.equal(0, code, err)
    local real = require("gt.fs").realpath(town)
    assert.same({ path = real, existed = false, owned = true, ledger = real .. "/.gt/ledger.db" }, json.decode(out))
    code, out = helpers.gt({ "init", town, "--json" })
    assert.equal(0, code)
    assert.is_true(json.decode(out).existed)

    code, out, err = helpers.gt({ "--town", town, "rig", "add", "demo", o.origin, "--json" })
    assert.equal(0, code, err)
    assert.same({ name = "demo", path = real .. "/demo", url = o.origin, default_branch = "main" },
      json.decode(out))

    helpers.git(o.work, "push", "-q", "origin", "main:trunk")
    code, out, err = helpers.gt({ "--town", town, "rig", "set-default", "demo", "trunk", "--json" })
    assert.equal(0, code, err)
    assert.same({ name = "demo", default_branch = "trunk", was = "main" }, json.decode(out))

    local file = dir .. "/hooks.lua"
    helpers.write(file, "-- hooks\n")
    code, out, err = helpers.gt({ "trust", file, "--json" })
    assert.equal(0, code, err)
    local trusted = json.decode(out)
    assert.equal(file, trusted.path)
    assert.equal(64, #trusted.sha256)
    assert.is_false(trusted.owned)
    code, out, err = helpers.gt({ "trust", "--revoke", file, "--json" })
    assert.equal(0, code, err)
    assert.same({ path = file, revoked = 1 }, json.decode(out))
  end)
end)
