-- Fault injection: every step of add, remove and recovery (every point of gt.fault.POINTS) ×
-- {an error raised there, a kill -9 there}, while a writer adds files to the polecat's
-- worktree during the step. After the next command and gt doctor --fix, gt's invariant must
-- hold: every byte the user wrote is in a worktree or in a git object gt keeps (a salvage,
-- a branch), and the ledger, the folders, git's worktree records and the branches agree.
local helpers = require("helpers")
local witness = require("witness")
local fault = require("gt.fault")
local luafile = require("gt.luafile")

--- A shell command that, in the background, acts as an agent at work in polecat folder `home`:
--- it goes into its worktree (or the folder, before the worktree is made) as soon as there is
--- one, waits there until gt reaches the fault point (the file `signal` appears), then adds `n`
--- files, logging to `log` the content of each file it wrote. Being in the folder, it follows it
--- where gt moves it.
local function writer(home, signal, log, n)
  return ([[
( home=%q; i=0
  while [ $i -lt 1000 ] && [ ! -e %q ]; do
    if [ -d "$home/demo" ]; then cd "$home/demo"; break; fi
    sleep 0.002; i=$((i+1))
  done
  if [ "$PWD" != "$home/demo" ]; then cd "$home" 2>/dev/null || exit 0; fi
  while [ $i -lt 2000 ] && [ ! -e %q ]; do sleep 0.002; i=$((i+1)); done
  n=0; while [ $n -lt %d ]; do c="w$n-$$"; if echo "$c" > "w$n.txt" 2>/dev/null; then echo "$c" >> %q; fi
    n=$((n+1)); sleep 0.002; done ) &
]]):format(home, signal, signal, n, log)
end

--- Runs gt `args` in rig `fx` with the fault `spec` armed and the writer at work; returns the
--- exit code as the shell says it (137 for a SIGKILL) and stderr.
local function faulted(fx, spec, args, log)
  local signal = fx.dir .. "/at-the-fault"
  local cmd = { ("%q --town %q --rig demo"):format(gt.executable, fx.town) }
  for _, a in ipairs(args) do cmd[#cmd + 1] = ("%q"):format(a) end
  local script = writer(fx.rig .. "/polecats/a", signal, log, 10) ..
    ("GT_FAULT=%q GT_FAULT_SIGNAL=%q GT_FAULT_PAUSE_MS=30 %s; echo \"exit=$?\"\nwait\n"):format(spec,
      signal, table.concat(cmd, " "))
  local r = helpers.run({ "sh", "-c", script })
  -- Under the sanitizers, a memory error fails the test, whatever the fault.
  assert(not r.stderr:find("Sanitizer", 1, true) and not r.stderr:find("runtime error:", 1, true), r.stderr)
  return tonumber(r.stdout:match("exit=(%d+)")), r.stderr
end

--- Checks gt's invariant on fixture `fx`, for the contents a user wrote.
local function assert_invariant(fx, contents, context)
  local lost = witness.lost(fx, contents)
  assert(#lost == 0, context .. ": lost " .. table.concat(lost, ", "))
  local wrong = witness.disagreements(fx)
  assert(#wrong == 0, context .. ": " .. table.concat(wrong, "; "))
  local code, out, err = helpers.gt_rig(fx, { "doctor" })
  assert(code == 0, context .. ": gt doctor: " .. out .. err)
end

--- A polecat "a" holding unsaved work: a changed tracked file and an untracked one.
local function polecat_with_work(fx)
  assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "a" })))
  local wt = fx.rig .. "/polecats/a/demo"
  helpers.write(wt .. "/a.txt", "changed by the user\n")
  helpers.write(wt .. "/mine.txt", "the user's own file\n")
  return { "changed by the user\n", "the user's own file\n" }
end

--- An idle polecat "a" (gt polecat done) into whose worktree the user then wrote a file.
local function idle_with_work(fx)
  assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "a" })))
  assert.equal(0, (helpers.gt_rig(fx, { "polecat", "done", "a" })))
  helpers.write(fx.rig .. "/polecats/a/demo/mine.txt", "the user's own file\n")
  return { "the user's own file\n" }
end

--- What each point's scenario runs: the command the fault hits, after what preparation.
local function scenario(point)
  if point == "add.named" then -- a nameless add, given the name a by the rig's pool
    return { prepare = function(fx)
      local config = assert(luafile.read(fx.rig .. "/.gt/rig.lua"))
      config.names = { list = { "a" } }
      assert(luafile.write(fx.rig .. "/.gt/rig.lua", config))
      return {}
    end, args = { "polecat", "add" } }
  elseif point:match("^add%.") then
    return { prepare = function() return {} end, args = { "polecat", "add", "a" } }
  elseif point:match("^restore%.") then -- gt salvage restore of a's salvage into a new a
    local args = { "salvage", "restore" }
    return { prepare = function(fx)
      local contents = polecat_with_work(fx)
      local code, out, err = helpers.gt_rig(fx, { "polecat", "remove", "--force", "a" })
      assert.equal(0, code, err)
      args[3] = out:match("saved to refs/gt/salvage/demo/(%S+)")
      return contents
    end, args = args }
  elseif point:match("^done%.") then -- gt polecat done making a idle
    return { prepare = function(fx)
      assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "a" })))
      return {}
    end, args = { "polecat", "done", "a" } }
  elseif point:match("^reuse%.") then -- gt polecat add b taking a's idle worktree
    return { prepare = idle_with_work, args = { "polecat", "add", "b" } }
  elseif point == "recover.reuse" then -- a reuse killed after the move, finished from a's side
    return { prepare = function(fx)
      local contents = idle_with_work(fx)
      local r = helpers.gt_fault(fx, "reuse.moved=kill", { "polecat", "add", "b" })
      assert.equal(9, r.signal, r.stderr)
      return contents
    end, args = { "polecat", "remove", "--force", "a" } }
  elseif point == "recover.add" then
    return { prepare = function(fx)
      local r = helpers.gt_fault(fx, "add.checkout=kill", { "polecat", "add", "a" })
      assert.equal(9, r.signal, r.stderr)
      helpers.write(fx.rig .. "/polecats/a/demo/mine.txt", "the user's own file\n")
      return { "the user's own file\n" }
    end, args = { "polecat", "remove", "--force", "a" } }
  elseif point == "recover.remove" then
    return { prepare = function(fx)
      local contents = polecat_with_work(fx)
      local r = helpers.gt_fault(fx, "reap.delete=kill", { "polecat", "remove", "--wait", "--force", "a" })
      assert.equal(9, r.signal, r.stderr)
      return contents
    end, args = { "polecat", "remove", "--force", "a" } }
  elseif point:match("^rig_add%.") or point:match("^trash%.") then
    return nil -- see below; the background deleter's: tests/functional/trash_spec.lua
  elseif point:match("^reap%.") then -- a remove that deletes before it returns
    return { prepare = polecat_with_work, args = { "polecat", "remove", "--wait", "--force", "a" } }
  end
  return { prepare = polecat_with_work, args = { "polecat", "remove", "--force", "a" } }
end

-- The points where the polecat's folder is there, so that the writer writes during the step.
local FOLDER_AT = {}
for _, p in ipairs({ "add.folder", "add.worktree", "add.checkout", "add.repo_hooks", "add.working",
  "add.post_spawn", "remove.classified", "remove.salvaged", "remove.journaled", "reap.move", "remove.moved",
  "reap.delete", "recover.add", "done.journaled", "done.detached", "reuse.journaled", "reuse.branch",
  "reuse.moved", "reuse.checkout", "restore.files", "restore.stashes" }) do
  FOLDER_AT[p] = true
end

describe("fault injection", function()
  for _, point in ipairs(fault.POINTS) do
    local s = scenario(point)
    for _, action in ipairs(s and { "error", "kill" } or {}) do
      it(("at %s (%s) loses nothing, and doctor --fix makes all agree"):format(point, action), function()
        local fx = helpers.fixture()
        local log = fx.dir .. "/written.log"
        local contents = s.prepare(fx)
        local code, err = faulted(fx, point .. "=" .. action, s.args, log)
        if action == "kill" then
          assert.equal(128 + 9, code, err) -- as the shell says a SIGKILL
        else
          assert.is_true(code ~= 0, err)
          assert.matches("injected fault at " .. point:gsub("%p", "%%%0"), err)
        end
        local wrote = witness.logged(log)
        if FOLDER_AT[point] then
          assert(#wrote > 0, "the writer found no folder to write into at " .. point)
        end
        for _, c in ipairs(wrote) do contents[#contents + 1] = c end
        -- The next command on the polecat, then doctor --fix.
        helpers.gt_rig(fx, { "polecat", "remove", "--force", "a" })
        local fcode, fout, ferr = helpers.gt_rig(fx, { "doctor", "--fix" })
        assert(fcode == 0, "doctor --fix: " .. fout .. ferr)
        assert_invariant(fx, contents, point .. "=" .. action)
      end)
    end
  end

  -- The steps of a recovery: a remove killed before it moved the folder aside is finished by
  -- the next command, which the fault hits at each of gt.reap's steps.
  for _, point in ipairs({ "reap.move", "reap.delete", "reap.prune", "reap.branch" }) do
    for _, action in ipairs({ "error", "kill" }) do
      it(("at %s of a recovery (%s) loses nothing, and doctor --fix makes all agree"):format(point, action), function()
        local fx = helpers.fixture()
        local log = fx.dir .. "/written.log"
        local contents = polecat_with_work(fx)
        local r = helpers.gt_fault(fx, "remove.journaled=kill", { "polecat", "remove", "--force", "a" })
        assert.equal(9, r.signal, r.stderr)
        local code, err = faulted(fx, point .. "=" .. action, { "polecat", "remove", "--force", "a" }, log)
        if action == "kill" then
          assert.equal(128 + 9, code, err)
        else
          assert.equal(1, code)
          assert.matches("injected fault at " .. point:gsub("%p", "%%%0"), err)
        end
        for _, c in ipairs(witness.logged(log)) do contents[#contents + 1] = c end
        helpers.gt_rig(fx, { "polecat", "remove", "--force", "a" })
        local fcode, fout, ferr = helpers.gt_rig(fx, { "doctor", "--fix" })
        assert(fcode == 0, "doctor --fix: " .. fout .. ferr)
        assert_invariant(fx, contents, "recovery " .. point .. "=" .. action)
      end)
    end
  end

  for _, point in ipairs({ "rig_add.folder", "rig_add.clone" }) do
    for _, action in ipairs({ "error", "kill" }) do
      it(("at %s (%s) leaves a name that doctor --fix, or the next rig add, frees"):format(point, action), function()
        local fx = helpers.fixture()
        local o = helpers.origin(helpers.tmpdir("other"))
        local r = helpers.run({ gt.executable, "--town", fx.town, "rig", "add", "web", o.origin },
          { env = { GT_FAULT = point .. "=" .. action } })
        assert.is_true(r.code ~= 0, r.stderr)
        local code, out, err = helpers.gt({ "--town", fx.town, "doctor", "--fix" })
        assert(code == 0, out .. err)
        assert.is_false(helpers.exists(fx.town .. "/web"))
        code, _, err = helpers.gt({ "--town", fx.town, "rig", "add", "web", o.origin })
        assert.equal(0, code, err)
      end)
    end
  end
end)
