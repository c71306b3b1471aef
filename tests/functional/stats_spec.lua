-- gt polecat stats: how long adds and removes took, from the journal.
local helpers = require("helpers")
local json = require("gt.json")

describe("gt polecat stats", function()
  it("counts the finished adds and removes per rig, with median and worst durations", function()
    local fx = helpers.fixture()
    local code, out, err = helpers.gt_rig(fx, { "polecat", "stats" })
    assert.equal(0, code, err)
    assert.equal("no finished adds, reuses or removes yet\n", out)
    for _, name in ipairs({ "a", "b", "c" }) do
      code, _, err = helpers.gt_rig(fx, { "polecat", "add", name, "--no-fetch" })
      assert.equal(0, code, err)
    end
    code, _, err = helpers.gt_rig(fx, { "polecat", "remove", "b" })
    assert.equal(0, code, err)
    -- A refused remove is no finished remove.
    helpers.write(fx.rig .. "/polecats/c/demo/new.txt", "work\n")
    code = helpers.gt_rig(fx, { "polecat", "remove", "c" })
    assert.equal(3, code)

    code, out, err = helpers.gt_rig(fx, { "polecat", "stats", "--json" })
    assert.equal(0, code, err)
    local rows = json.decode(out)
    assert.equal(2, #rows)
    assert.same({ "demo", "add", 3 }, { rows[1].rig, rows[1].kind, rows[1].count })
    assert.same({ "demo", "remove", 1 }, { rows[2].rig, rows[2].kind, rows[2].count })
    for _, r in ipairs(rows) do
      assert.is_true(r.median_ms >= 0 and r.median_ms <= r.worst_ms)
    end
    code, out = helpers.gt_rig(fx, { "polecat", "stats" })
    assert.equal(0, code)
    assert.matches("^RIG%s+COMMAND%s+COUNT%s+MEDIAN%s+WORST\ndemo%s+add%s+3%s+%d+ ms%s+%d+ ms\n" ..
      "demo%s+remove%s+1%s+%d+ ms%s+%d+ ms\n$", out)
  end)
end)
