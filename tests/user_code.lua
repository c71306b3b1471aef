-- Helpers for the specs of user code (init files, hooks, commands, module overrides, trust): a
-- fixture whose gt runs with a config and a state folder of its own, so that no test sees
-- another's init files or trust, and the places gt reads user code from.
local helpers = require("helpers")

local user_code = {}

--- helpers.fixture(), plus fx.config and fx.state: the XDG_CONFIG_HOME and XDG_STATE_HOME of
--- this test only, and fx.log: a file hooks append to. With opts.fetch_always the rig fetches
--- origin on every add (fetch_ttl_ms = 0), so that the next add sees what a test pushes.
function user_code.fixture(opts)
  local fx = helpers.fixture()
  fx.config, fx.state, fx.log = fx.dir .. "/config", fx.dir .. "/state", fx.dir .. "/log"
  -- This user did not make the town (the fixture did, as another): it says the town and the
  -- rig are its own, or their init files and module overrides would not run (gt.trust).
  for _, dir in ipairs({ fx.town, fx.rig }) do
    local code, _, err = helpers.gt({ "trust", dir }, { env = user_code.env(fx) })
    assert(code == 0, err)
  end
  if opts and opts.fetch_always then
    local path = fx.rig .. "/.gt/rig.lua"
    local config, n = helpers.read(path):gsub("\nreturn {\n", "\nreturn {\n  fetch_ttl_ms = 0,\n")
    assert(n == 1, "unexpected rig.lua")
    helpers.write(path, config)
  end
  return fx
end

--- Where the init file of `level` ("user", "town" or "rig") of fixture `fx` is.
function user_code.init_path(fx, level)
  if level == "user" then return fx.config .. "/gt/init.lua" end
  if level == "town" then return fx.town .. "/.gt/init.lua" end
  assert(level == "rig", level)
  return fx.rig .. "/.gt/init.lua"
end

--- Where module overrides of `level` go: `<that folder>/gt/commands/polecat.lua` replaces
--- gt.commands.polecat.
function user_code.lua_dir(fx, level)
  return user_code.init_path(fx, level):gsub("/init%.lua$", "/lua")
end

--- Writes `source` as the init file of `level`, with @LOG@ replaced by the quoted path of
--- fx.log; returns the file's path.
function user_code.init(fx, level, source)
  local path = user_code.init_path(fx, level)
  helpers.write(path, (source:gsub("@LOG@", function() return ("%q"):format(fx.log) end)))
  return path
end

--- The lines hooks appended to fx.log ({} if none).
function user_code.log(fx)
  return helpers.lines(helpers.read(fx.log) or "")
end

--- The environment that gives gt fixture `fx`'s own user folders (plus `extra`).
function user_code.env(fx, extra)
  local env = { XDG_CONFIG_HOME = fx.config, XDG_STATE_HOME = fx.state }
  for k, v in pairs(extra or {}) do env[k] = v end
  return env
end

--- Runs gt in rig `fx` (--town, --rig) with its own user folders; returns code, stdout, stderr.
--- opts.env: more variables; opts.cwd: where it runs.
function user_code.gt(fx, args, opts)
  opts = opts or {}
  return helpers.gt_rig(fx, args, { env = user_code.env(fx, opts.env), cwd = opts.cwd })
end

--- Escapes the magic characters of `s` for a Lua pattern.
function user_code.pat(s)
  return (s:gsub("%p", "%%%0"))
end

--- What gt hooks list prints for hooks `rows` ({event, where} pairs, in order, none scoped to a
--- polecat): a table with a header, its columns two spaces apart.
function user_code.hooks_table(rows)
  local ew, ww = #"EVENT", #"WHERE"
  for _, r in ipairs(rows) do ew, ww = math.max(ew, #r[1]), math.max(ww, #r[2]) end
  local lines = { ("%s  %s  ONLY"):format("EVENT" .. (" "):rep(ew - 5), "WHERE" .. (" "):rep(ww - 5)) }
  for _, r in ipairs(rows) do lines[#lines + 1] = r[1] .. (" "):rep(ew - #r[1]) .. "  " .. r[2] end
  return table.concat(lines, "\n") .. "\n"
end

return user_code
