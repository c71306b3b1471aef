-- A failure at any step of `polecat add` undoes the steps before it, and the step itself: the
-- failures are injected through the Lua layer, by a script run with `gt -l` that replaces a
-- step of gt.polecat.spawn_steps (or registers a post_spawn hook) before adding a polecat.
local helpers = require("helpers")
local witness = require("witness")

-- arg: town, polecat name, step, mode. Mode "before" fails before the step does anything;
-- "after" fails once the step has done its work, as a step that fails half-way does.
local INJECT = [[
local town = require("gt.town").open(arg[1])
local rig = town:find_rig("demo")
local polecat = require("gt.polecat")
local name, failing, mode = arg[2], arg[3], arg[4]
if mode == "hook" then
  require("gt.hooks").on("post_spawn", function(ctx)
    error("hook refuses " .. ctx.name)
  end)
else
  for _, step in ipairs(polecat.spawn_steps) do
    if step.name == failing then
      local run = step.run
      step.run = function(ctx)
        if mode == "after" then run(ctx) end
        error("injected failure in " .. failing)
      end
    end
  end
end
local ok, err = pcall(polecat.add, rig, name, {})
io.stdout:write(ok and "added" or tostring(err), "\n")
return ok and 0 or 1
]]

local STEPS = { "fetch", "branch", "folder", "worktree", "checkout", "repo_hooks", "working",
  "post_spawn" }

--- Checks that the failed add of `name` left nothing but its history.
local function assert_rolled_back(fx, name, step)
  assert.is_false(helpers.exists(fx.rig .. "/polecats/" .. name))
  assert.same({}, witness.ls(fx.rig .. "/polecats"))
  assert.same({}, witness.branches(fx, "polecat/"))
  assert.same({}, witness.records(fx))
  assert.same({}, witness.worktrees(fx))
  local agent = witness.agent(fx, name)
  assert.equal("failed", agent.state)
  local events = witness.events(fx, name)
  local last = events[#events]
  assert.equal("failed", last.kind)
  assert.equal(step, last.data.step)
  assert.same({}, last.data.undo_problems)
  local ops = witness.operations(fx, name)
  assert.equal(1, #ops)
  assert.equal("add", ops[1].kind)
  assert.equal("rolled_back", ops[1].status)
end

--- Adds `name` with the CLI and checks that it is a working polecat again.
local function assert_adds_again(fx, name)
  local code, _, err = helpers.gt_rig(fx, { "polecat", "add", name })
  assert.equal(0, code, err)
  assert.equal("", err)
  assert.equal("working", witness.agent(fx, name).state)
  assert.equal(1, #witness.branches(fx, "polecat/"))
  assert.same({ name }, witness.records(fx))
  assert.equal("", helpers.git(fx.rig .. "/polecats/" .. name .. "/demo", "status", "--porcelain"))
end

describe("gt polecat add rolls back", function()
  it("(these specs know every spawn step)", function()
    local names = {}
    for i, step in ipairs(require("gt.polecat").spawn_steps) do names[i] = step.name end
    assert.same(STEPS, names)
  end)

  for _, step in ipairs(STEPS) do
    for _, mode in ipairs({ "before", "after" }) do
      it(("when step %s fails %s doing its work"):format(step, mode), function()
        local fx = helpers.fixture()
        local code, out, err = witness.script(INJECT, { fx.town, "a", step, mode })
        assert.equal(1, code, err)
        assert.equal("", err)
        assert.matches("^a: " .. step .. ": [^\n]*injected failure in " .. step .. "\n", out)
        assert_rolled_back(fx, "a", step)
        assert_adds_again(fx, "a")
      end)
    end
  end

  it("when a post_spawn hook fails", function()
    local fx = helpers.fixture()
    local code, out, err = witness.script(INJECT, { fx.town, "a", "post_spawn", "hook" })
    assert.equal(1, code, err)
    assert.equal("", err)
    assert.matches("^a: post_spawn hook %(.-script%.lua:%d+%): hook refuses a\n$", out)
    assert_rolled_back(fx, "a", "post_spawn")
    local kinds = witness.event_kinds(fx, "a")
    assert.same({ "spawning", "spawned", "failed" }, kinds)
    assert_adds_again(fx, "a")
  end)

  it("or rather makes nothing when git has a record of that name it cannot read, saying why", function()
    local fx = helpers.fixture()
    -- A stray admin folder of git's, not a worktree git knows about.
    helpers.write(fx.rig .. "/.repo.git/worktrees/a/junk", "")
    local before = witness.snapshot(fx, { "/.gt/locks/polecat-a.lock" })
    local code, out, err = helpers.gt_rig(fx, { "polecat", "add", "a" })
    assert.equal(1, code)
    assert.equal("", out)
    assert.equal("gt: polecat add: git has a worktree record named a that it cannot read (" .. fx.rig ..
      "/.repo.git/worktrees/a); move it away first\n", err)
    assert.same(before, witness.snapshot(fx, { "/.gt/locks/polecat-a.lock" }))
    assert.is_nil(witness.agent(fx, "a"))
  end)

  it("when gt is told to stop (SIGTERM) in the middle of a step", function()
    local fx = helpers.fixture()
    local code, out, err = witness.script([[
      local rig = require("gt.town").open(arg[1]):find_rig("demo")
      local polecat = require("gt.polecat")
      for _, step in ipairs(polecat.spawn_steps) do
        if step.name == "checkout" then
          local run = step.run
          step.run = function(ctx)
            run(ctx)
            os.execute("kill -TERM $PPID") -- the shell's parent: this gt
          end
        end
      end
      local ok, e = pcall(polecat.add, rig, "a", {})
      io.stdout:write(tostring(e), "\n")
    ]], { fx.town })
    assert.equal(0, code, err)
    assert.matches("^a: checkout: [^\n]*interrupted\n", out)
    assert_rolled_back(fx, "a", "checkout")
    assert_adds_again(fx, "a")
  end)

  it("or rather makes nothing when a pre_spawn hook fails", function()
    local fx = helpers.fixture()
    local before = witness.snapshot(fx)
    local code, out, err = witness.script([[
      local rig = require("gt.town").open(arg[1]):find_rig("demo")
      require("gt.hooks").on("pre_spawn", function(ctx) error("not today, " .. ctx.name) end)
      local ok, e = pcall(require("gt.polecat").add, rig, "a", {})
      print(ok, e)
    ]], { fx.town })
    assert.equal(0, code, err)
    assert.matches("^false\ta: pre_spawn hook %(.-script%.lua:2%): not today, a\n$", out)
    -- The hook runs under the polecat's lock: its file is all that is left.
    assert.same(before, witness.snapshot(fx, { "/.gt/locks/polecat-a.lock" }))
    assert.is_nil(witness.agent(fx, "a"))
  end)

  it("keeping the history of every attempt", function()
    local fx = helpers.fixture()
    assert.equal(1, (witness.script(INJECT, { fx.town, "a", "checkout", "after" })))
    assert.equal(1, (witness.script(INJECT, { fx.town, "a", "worktree", "after" })))
    assert_adds_again(fx, "a")
    assert.same({ "spawning", "failed", "spawning", "failed", "spawning", "spawned" },
      witness.event_kinds(fx, "a"))
    local statuses = {}
    for i, op in ipairs(witness.operations(fx, "a")) do statuses[i] = op.status end
    assert.same({ "rolled_back", "rolled_back", "done" }, statuses)
  end)
end)
