-- A model-based random test: rounds of up to 4 processes at once, each doing one operation on
-- one of a few polecats (add, write a file, commit, stash, remove, remove --force, or a gt command killed
-- with SIGKILL at a random moment), 200 operations in all. After every round and gt doctor
-- --fix (and, where doctor leaves a refusal, the remove --force a user is told to run), gt's
-- invariant is checked: every byte written is in a worktree or in a git object gt keeps, and
-- ledger, folders, worktree records and branches agree.
--
-- The seed is random and printed when the test fails; GT_MODEL_SEED=<seed> replays a run, and
-- GT_MODEL_OPS=<n> changes its length.
local helpers = require("helpers")
local witness = require("witness")

local NAMES = { "p1", "p2", "p3", "p4", "p5" }
local KINDS = { "add", "add", "write", "write", "write", "commit", "stash", "remove", "force", "kill" }

--- A shell fragment for one random operation on polecat `name` of rig `fx`; `tag` makes
--- written content unique.
local function operation(fx, rng, name, tag, log)
  local kind = KINDS[rng(#KINDS)]
  local gtc = ("%q --town %q --rig demo"):format(gt.executable, fx.town)
  local wt = ("%s/polecats/%s/demo"):format(fx.rig, name)
  if kind == "add" then
    return ("%s polecat add %s"):format(gtc, name), kind .. " " .. name
  elseif kind == "write" then
    local content = "model " .. tag
    return ("[ -d %q ] && echo %q > %q && echo %q >> %q"):format(wt, content, wt .. "/f-" .. tag .. ".txt",
      content, log), kind .. " " .. name
  elseif kind == "commit" then
    return ("git -C %q add -A && git -C %q commit -qm %q"):format(wt, wt, "commit " .. tag), kind .. " " .. name
  elseif kind == "stash" then
    return ("git -C %q stash push -q -u -m %q"):format(wt, "stash " .. tag), kind .. " " .. name
  elseif kind == "remove" then
    return ("%s polecat remove %s"):format(gtc, name), kind .. " " .. name
  elseif kind == "force" then
    return ("%s polecat remove --force %s"):format(gtc, name), "remove --force " .. name
  end
  local victim = rng(2) == 1 and ("polecat add " .. name) or ("polecat remove --force " .. name)
  local delay = ("0.%03d"):format(rng(120))
  return ("%s %s & k=$!; sleep %s; kill -9 $k"):format(gtc, victim, delay),
    ("kill %s after %ss"):format(victim, delay)
end

--- gt doctor --fix, then what a user does about what it could not fix (remove --force, which
--- saves before it deletes); returns doctor's last report.
local function recover(fx)
  local code, out = helpers.gt_rig(fx, { "doctor", "--fix" })
  if code == 0 then return out end
  if out:find("failed to lock file", 1, true) then
    -- A gt killed while git's lock file was open left it: gt removes such a file once nothing
    -- has touched it for 10 s (it might be a git command's until then). The user waits.
    require("gt.sys").sleep_ms(10500)
  end
  for name in out:gmatch("problem demo/([%w._-]+):") do
    helpers.gt_rig(fx, { "polecat", "remove", "--force", name })
  end
  local err
  code, out, err = helpers.gt_rig(fx, { "doctor", "--fix" })
  assert(code == 0, "doctor --fix after remove --force: " .. out .. err)
  return out
end

describe("a random run of 200 operations from 4 processes at once", function()
  it("keeps every byte written, and gt's records agree with the disk, after every round", function()
    local seed = tonumber(os.getenv("GT_MODEL_SEED") or "") or (os.time() % 100000)
    local total = tonumber(os.getenv("GT_MODEL_OPS") or "") or 200
    math.randomseed(seed)
    local rng = math.random
    local fx = helpers.fixture()
    local log = fx.dir .. "/written.log"
    local history = {}
    local ok, err = pcall(function()
      local done, round = 0, 0
      while done < total do
        round = round + 1
        local fragments, names = {}, {}
        -- A polecat has one process at a time: a git command of the user's that runs on while
        -- gt removes its worktree writes what git pleases (a stash's git clean deletes a file
        -- written meanwhile), which no tool can keep.
        local free = { table.unpack(NAMES) }
        for slot = 1, math.min(4, total - done) do
          local name = table.remove(free, rng(#free))
          local frag, what = operation(fx, rng, name, ("%d-%d-%d"):format(seed, round, slot), log)
          fragments[#fragments + 1] = "( " .. frag .. " ) >/dev/null 2>>" .. fx.dir .. "/stderr &"
          names[#names + 1] = what
          done = done + 1
        end
        history[#history + 1] = ("round %d: %s"):format(round, table.concat(names, ", "))
        helpers.run({ "sh", "-c", table.concat(fragments, "\n") .. "\nwait\n" })
        -- Under the sanitizers, a memory error in any of them fails the run.
        local stderr = helpers.read(fx.dir .. "/stderr") or ""
        assert(not stderr:find("Sanitizer", 1, true) and not stderr:find("runtime error:", 1, true),
          ("round %d: %s"):format(round, stderr))
        local report = recover(fx)
        local lost = witness.lost(fx, witness.logged(log))
        assert(#lost == 0, ("round %d: lost %s (doctor: %s)"):format(round, table.concat(lost, ", "), report))
        local wrong = witness.disagreements(fx)
        assert(#wrong == 0, ("round %d: %s"):format(round, table.concat(wrong, "; ")))
      end
    end)
    if not ok then
      error(("GT_MODEL_SEED=%d: %s\n%s"):format(seed, tostring(err),
        table.concat(history, "\n", math.max(1, #history - 5))), 0)
    end
  end)
end)
