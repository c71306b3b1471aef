-- Progress of long work (gt.progress) on a terminal made by script(1): a fetch and the checkout
-- of a new polecat, a removal that waits, gt doctor's sweep; cleared before any other line,
-- silenced by --quiet, and never drawn when stderr is not a terminal.
local helpers = require("helpers")
local proc = require("gt.proc")
local _ -- discarded results

--- Runs gt with `args` in rig `fx` on a terminal of 80 columns: exit status, what it showed.
local function on_tty(fx, args)
  if not proc.which("script") then pending("script(1) is not installed") end
  local words = { "stty cols 80 &&", "'" .. gt.executable .. "'", "--town", "'" .. fx.town .. "'",
    "--rig", fx.name }
  for _, a in ipairs(args) do words[#words + 1] = a end
  local r = helpers.run({ "script", "-qec", table.concat(words, " "), "/dev/null" })
  return r.code, (r.stdout:gsub("\r\n", "\n"))
end

--- The lines a terminal keeps of `shown`: each line as it reads once every "\r" redrew it.
local function kept(shown)
  local out = {}
  for line in (shown .. "\n"):gmatch("([^\n]*)\n") do
    out[#out + 1] = (line:gsub("\27%[K", ""):match("[^\r]*$"))
  end
  if out[#out] == "" then out[#out] = nil end
  return out
end

--- helpers.fixture, with origin as a file:// URL: libgit2's smart protocol reports the
--- transfer's progress (its local transport copies objects without a count).
local function fixture()
  local dir = helpers.tmpdir("progress")
  local o = helpers.origin(dir)
  local town = dir .. "/town"
  assert.equal(0, (helpers.gt({ "init", town })))
  local code, _, err = helpers.gt({ "--town", town, "rig", "add", "demo", "file://" .. o.origin })
  assert.equal(0, code, err)
  return { town = town, rig = town .. "/demo", name = "demo", origin = o.origin, work = o.work, dir = dir }
end

describe("progress on a terminal", function()
  local fx
  before_each(function() fx = fixture() end)

  it("shows the fetch and the checkout of polecat add, cleared before its own lines", function()
    helpers.push_commit(fx, "new.txt", "new\n")
    local code, shown = on_tty(fx, { "polecat", "add", "p" })
    assert.equal(0, code, shown)
    assert.matches("\rFetching origin 100%% %(%d+/%d+%), %d[^\r]*/s %[#+%]\27%[K", shown)
    assert.matches("\rWriting files 100%% %((%d+)/%1%) %[#+%]\27%[K\r\27%[Kpolecat p spawned in rig demo\n", shown)
    -- what stays on the terminal is the command's own output
    assert.same({ "polecat p spawned in rig demo", "  branch  " .. helpers.git(fx.rig .. "/polecats/p/demo",
      "branch", "--show-current"), "  path    " .. fx.rig .. "/polecats/p/demo" }, kept(shown))
  end)

  it("draws nothing with --quiet (-q), before or after the command", function()
    for i, args in ipairs({ { "--quiet", "polecat", "add", "q1" }, { "-q", "polecat", "add", "q2" },
      { "polecat", "add", "q3", "--quiet" } }) do
      if i == 1 then helpers.push_commit(fx, "new.txt", "new\n") end
      local code, shown = on_tty(fx, args)
      assert.equal(0, code, shown)
      assert.is_nil(shown:find("\27[K", 1, true), shown)
      assert.matches("^polecat q%d spawned in rig demo\n", shown)
    end
  end)

  it("shows the deletion of a removal that waits, and gt doctor's sweep", function()
    assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "r" })))
    local code, shown = on_tty(fx, { "polecat", "remove", "r", "--wait" })
    assert.equal(0, code, shown)
    assert.matches("\rReading the files of polecat r\27%[K\r\27%[K", shown)
    assert.matches("\rDeleting files: 2\27%[K\r\27%[K", shown) -- a.txt, src/b.txt
    assert.same({ "removed polecat r" }, kept(shown))
    assert.is_false(helpers.exists(fx.rig .. "/polecats/r"))

    -- user code, the ledger, rig adds, then the rigs once the ledger lists them
    code, shown = on_tty(fx, { "doctor" })
    assert.equal(0, code, shown)
    assert.matches("^\rChecking   0%% %(0/3%), user code [^\r]*\27%[K", shown)
    assert.matches("\rChecking 100%% %(4/4%) [^\r]*\27%[K\r\27%[Kno problems found\n$", shown)
    assert.same({ "no problems found" }, kept(shown))
  end)

  it("is never drawn when stderr is not a terminal", function()
    helpers.push_commit(fx, "new.txt", "new\n")
    local code, out, err = helpers.gt_rig(fx, { "polecat", "add", "p" })
    assert.equal(0, code, err)
    assert.equal("", err)
    assert.is_nil(out:find("\r", 1, true))
    code, _, err = helpers.gt_rig(fx, { "polecat", "remove", "p", "--wait" })
    assert.equal(0, code, err)
    assert.equal("", err)
    code, _, err = helpers.gt_rig(fx, { "doctor" })
    assert.equal(0, code, err)
    assert.equal("", err)
  end)
end)
